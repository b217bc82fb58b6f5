using System.Buffers.Binary;
using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>Our lh hashes and lf hints (§ Fast leaf, § Hash leaf) equal the ones hivex wrote into the lists it grew.</summary>
public class SubkeyListFormatTests
{
    [Theory]
    [InlineData(5)]
    [InlineData(3)]
    public void HashesAndHintsMatchHivexsLists(int minor)
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg(), minor);
        var file = File.ReadAllBytes(path);
        var hive = RegistryHive.Open(path);
        int lists = 0;
        foreach (var key in new[] { hive.Root, hive.Root.OpenSubkey(@"ControlSet001\Services")!, hive.Root.OpenSubkey("ControlSet002")! })
        {
            uint listOffset = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(4096 + (int)key.Offset + 4 + 28));
            var cell = file.AsSpan(4096 + (int)listOffset + 4);
            string sig = System.Text.Encoding.ASCII.GetString(cell[..2]);
            Assert.Contains(sig, new[] { "lh", "lf" }); // hivex keeps whichever leaf kind the key's list already has
            int count = BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]);
            var names = key.SubkeyNames.ToList();
            Assert.Equal(names.Count, count);
            for (int i = 0; i < count; i++)
            {
                uint nk = BinaryPrimitives.ReadUInt32LittleEndian(cell[(4 + i * 8)..]);
                uint stored = BinaryPrimitives.ReadUInt32LittleEndian(cell[(8 + i * 8)..]);
                var name = names.Single(n => Name(file, nk) == n);
                Assert.Equal(sig == "lh" ? CellName.Hash(name) : CellName.Hint(name), stored);
            }
            lists++;
        }
        Assert.Equal(3, lists);
    }

    private static string Name(byte[] file, uint nk)
    {
        var cell = file.AsSpan(4096 + (int)nk + 4);
        int length = BinaryPrimitives.ReadUInt16LittleEndian(cell[72..]);
        bool compressed = (BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]) & 0x20) != 0;
        return compressed ? System.Text.Encoding.Latin1.GetString(cell.Slice(76, length)) : System.Text.Encoding.Unicode.GetString(cell.Slice(76, length));
    }
}
