using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>
/// A small, deterministic cousin of the AFL harness (tests/P2V.Fuzz) that runs with the suite: qemu-made files
/// with random bytes flipped in their metadata, or cut short, either open and read or fail with
/// VirtualDiskException — never another exception, a hang or a huge allocation.
/// </summary>
public sealed class VirtualDiskMutationTests
{
    [Theory]
    [InlineData("vpc", "subformat=dynamic", 0, 8 * 1024)]
    [InlineData("vpc", "subformat=fixed", -512, 512)]
    [InlineData("vhdx", "block_size=1M", 0, 4 << 20)]
    public void MutatedMetadataFailsCleanly(string qemuFormat, string options, long areaStart, int areaLength)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw"), file = dir.File("d.img"), mutant = dir.File("m.img");
        MakeRaw(raw, 8 * MiB);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", qemuFormat, "-o", options, raw, file);
        var original = File.ReadAllBytes(file);
        long start = areaStart < 0 ? original.Length + areaStart : areaStart;
        var rng = new Random(1234);
        var buf = new byte[64 * 1024];
        int opened = 0, rejected = 0;
        for (int i = 0; i < 150; i++)
        {
            var bytes = (byte[])original.Clone();
            int flips = rng.Next(1, 9);
            for (int f = 0; f < flips; f++)
            {
                // Mostly where the structures are: their first bytes, then anywhere in the area.
                long at = start + (rng.Next(3) == 0 ? rng.Next(Math.Min(areaLength, 600)) : rng.Next(areaLength));
                bytes[at] = (byte)rng.Next(256);
            }
            int length = rng.Next(10) == 0 ? rng.Next(bytes.Length) : bytes.Length;
            File.WriteAllBytes(mutant, bytes.AsSpan(0, length).ToArray());
            try
            {
                using var d = VirtualDisk.Open(mutant);
                foreach (var e in d.AllocatedExtents().Take(64))
                    d.ReadAt(e.Offset, buf.AsSpan(0, (int)Math.Min(buf.Length, e.Length)));
                d.ReadAt(0, buf.AsSpan(0, (int)Math.Min(buf.Length, d.Length)));
                opened++;
            }
            catch (VirtualDiskException)
            {
                rejected++;
            }
        }
        Assert.True(rejected > 0 && opened > 0, $"{opened} opened, {rejected} rejected");
    }
}
