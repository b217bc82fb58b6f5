using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>What <c>p2v disk convert</c> does: copy allocated ranges, skip zero 4 KiB pieces, and qemu-img agrees with the result.</summary>
public sealed class VirtualDiskCopierTests
{
    [Theory]
    [InlineData(VirtualDiskFormat.Vhdx, "vhdx")]
    [InlineData(VirtualDiskFormat.VhdDynamic, "vpc")]
    [InlineData(VirtualDiskFormat.VhdFixed, "vpc")]
    [InlineData(VirtualDiskFormat.Raw, "raw")]
    public void CopiesDataAndSkipsZeros(VirtualDiskFormat format, string qemuFormat)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw"), output = dir.File("out.img");
        MakeRaw(raw, 40 * MiB);
        // 64 KiB of explicit zeros inside the first data region: present in the file, but not worth writing.
        using (var f = new FileStream(raw, FileMode.Open, FileAccess.Write)) { f.Position = MiB; f.Write(new byte[64 * 1024]); }

        long written;
        using (var source = VirtualDisk.Open(raw))
        using (var target = VirtualDisk.Create(output, format, source.Length))
            written = VirtualDiskCopier.Copy(source, target);
        long data = Regions(40 * MiB).Sum(r => (long)r.Count) - 64 * 1024;
        Assert.InRange(written, data, data + 8 * 4096); // unaligned regions round out to whole 4 KiB pieces

        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qemuFormat, raw, output);
        using var disk = VirtualDisk.Open(output);
        if (format != VirtualDiskFormat.Raw && format != VirtualDiskFormat.VhdFixed) return;
        var map = UsedExtentMap.From(disk.AllocatedExtents(), disk.Length);
        Assert.False(map.Covers(MiB, 64 * 1024), "the zero piece was written");
    }

    [Fact]
    public void RawPreallocationOptions()
    {
        using var dir = new TempDirectory();
        foreach (var how in new[] { Preallocation.Allocate, Preallocation.ZeroFill })
        {
            string path = dir.File($"{how}.raw");
            using (var d = VirtualDisk.Create(path, VirtualDiskFormat.Raw, 8 * MiB, new VirtualDiskCreateOptions { Preallocation = how }))
                Assert.Equal(8 * MiB, d.Length);
            Assert.Equal(8 * MiB, new FileInfo(path).Length);
            Assert.True(HostAllocated(path) >= 8 * MiB, $"{how}: {HostAllocated(path)} bytes allocated");
        }
    }

    [Fact]
    public void RefusesASmallerTarget()
    {
        using var dir = new TempDirectory();
        using var source = VirtualDisk.Create(dir.File("a.raw"), VirtualDiskFormat.Raw, 8 * MiB);
        using var target = VirtualDisk.Create(dir.File("b.raw"), VirtualDiskFormat.Raw, 4 * MiB);
        Assert.Throws<ArgumentException>(() => VirtualDiskCopier.Copy(source, target));
    }
}
