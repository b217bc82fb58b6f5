using System.Buffers.Binary;
using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>Damaged hives fail with a <see cref="RegistryHiveException"/> naming the offset; none crashes or hangs.</summary>
public class RegistryCorruptionTests : IClassFixture<RegistryCorruptionTests.Hive>
{
    public sealed class Hive : IDisposable
    {
        private readonly TempDirectory _tmp = new();
        public Hive() => Bytes = File.ReadAllBytes(HiveFixtures.Build(_tmp, "system", HiveFixtures.SystemReg(), 5));
        public byte[] Bytes { get; }
        public void Dispose() => _tmp.Dispose();
    }

    private readonly byte[] _good;
    public RegistryCorruptionTests(Hive hive) => _good = hive.Bytes;

    private byte[] Copy() => (byte[])_good.Clone();

    private static void FixChecksum(byte[] b)
    {
        uint x = 0;
        for (int i = 0; i < 508; i += 4) x ^= BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(i));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(508), x);
    }

    private static RegistryHiveException Fails(byte[] b) =>
        Assert.ThrowsAny<RegistryHiveException>(() => RegistryHive.Open(b, "SYSTEM").Verify());

    [Fact]
    public void BadMagic()
    {
        var b = Copy();
        b[0] = (byte)'x';
        var e = Fails(b);
        Assert.Equal(0, e.Offset);
        Assert.Contains("'SYSTEM'", e.Message);
    }

    [Fact]
    public void BadChecksumWithoutLogsIsRefused()
    {
        var b = Copy();
        b[100] ^= 0x55;
        var e = Fails(b);
        Assert.Contains("checksum", e.Message);
        Assert.Contains("no transaction log", e.Message);
    }

    [Fact]
    public void DirtyWithoutLogsIsRefused()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8)) + 1);
        FixChecksum(b);
        var e = Assert.IsType<DirtyHiveException>(Fails(b));
        Assert.Contains("dirty", e.Message);
        Assert.Equal(4, e.Offset);
        Assert.True(e.PrimaryUsable);
    }

    [Fact]
    public void DirtyWithoutLogsOpensAsItStandsWhenAcceptedAndIsWrittenBackClean()
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8)) + 1);
        FixChecksum(b);
        var hive = RegistryHive.Open(b, "SYSTEM", acceptDirty: true);
        Assert.True(hive.OpenedDirty);
        Assert.Equal("SRV-DB01", hive.Root.OpenSubkey(@"ControlSet001\Control\ComputerName\ComputerName")!.GetString("ComputerName"));

        using var tmp = new TempDirectory();
        var path = tmp.File("clean");
        File.WriteAllBytes(path, hive.ToArray());
        var written = File.ReadAllBytes(path);
        Assert.Equal(BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(4)), BinaryPrimitives.ReadUInt32LittleEndian(written.AsSpan(8)));
        Assert.False(RegistryHive.Open(written, "SYSTEM").OpenedDirty);
        // hivex reads the clean copy to the same values as the dirty primary.
        Assert.Equal("SRV-DB01", ExternalTool.Run("hivexget", path, @"\ControlSet001\Control\ComputerName\ComputerName", "ComputerName").Trim());
    }

    [Fact]
    public void ABadChecksumIsNotAcceptedEvenWhenDirtyHivesAre()
    {
        var b = Copy();
        b[100] ^= 0x55;
        var e = Assert.IsType<DirtyHiveException>(Assert.ThrowsAny<RegistryHiveException>(() => RegistryHive.Open(b, "SYSTEM", acceptDirty: true)));
        Assert.False(e.PrimaryUsable);
        Assert.Contains("checksum", e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void NtThreeOneHivesAreRefusedByVersion(int minor)
    {
        var b = Copy();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), (uint)minor);
        FixChecksum(b);
        var e = Fails(b);
        Assert.Contains($"regf version 1.{minor} is not supported", e.Message);
        Assert.Equal(24, e.Offset);
    }

    [Fact]
    public void HiveBinWithTheWrongOffset()
    {
        var b = Copy();
        Assert.True(b.Length > 4096 + 8192, "fixture should have a second bin");
        int second = 4096 + (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4096 + 8));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(second + 4), 0x123000);
        var e = Fails(b);
        Assert.Equal(second - 4096, e.Offset);
        Assert.Contains("0x123000", e.Message);
    }

    [Fact]
    public void TruncatedHive()
    {
        var e = Fails(_good[..(_good.Length - 4096)]);
        Assert.Equal(40, e.Offset);
    }

    [Fact]
    public void CellSizeNotAMultipleOfEight()
    {
        var b = Copy();
        int cell = 4096 + 32;
        int size = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(cell));
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(cell), size - 3);
        var e = Fails(b);
        Assert.Equal(32, e.Offset);
        Assert.Contains("multiple of 8", e.Message);
    }

    [Fact]
    public void SubkeyListCycleIsDetected()
    {
        var b = Copy();
        var hive = RegistryHive.Open(Copy(), "SYSTEM");
        var services = hive.Root.OpenSubkey(@"ControlSet001\Services")!;
        var atapi = services.OpenSubkey("atapi")!;
        // atapi's subkey list now points at its parent's list: a subkey of atapi is atapi itself.
        int nk = 4096 + (int)atapi.Offset + 4, parentNk = 4096 + (int)services.Offset + 4;
        b.AsSpan(parentNk + 20, 4).CopyTo(b.AsSpan(nk + 20));
        b.AsSpan(parentNk + 28, 4).CopyTo(b.AsSpan(nk + 28));
        var e = Fails(b);
        Assert.Contains("parent", e.Message);
    }

    [Fact]
    public void KeyPointingAtAFreeCell()
    {
        var b = Copy();
        var hive = RegistryHive.Open(Copy(), "SYSTEM");
        var select = hive.Root.OpenSubkey("Select")!;
        int nk = 4096 + (int)select.Offset + 4;
        uint list = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(nk + 40));
        int cell = 4096 + (int)list;
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(cell), -BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(cell)));
        var e = Fails(b);
        Assert.Equal(list, e.Offset);
        Assert.Contains("free cell", e.Message);
    }

    [Fact]
    public void RandomDamageNeverEscapesAsAnotherException()
    {
        var rnd = new Random(42);
        for (int round = 0; round < 300; round++)
        {
            var b = Copy();
            int hits = 1 + rnd.Next(8);
            for (int i = 0; i < hits; i++) b[4096 + rnd.Next(b.Length - 4096)] = (byte)rnd.Next(256);
            try { RegistryHive.Open(b, "SYSTEM").Verify(); }
            catch (RegistryHiveException) { }
        }
        RegistryHive.FuzzOnce(new byte[5000]);
    }
}
