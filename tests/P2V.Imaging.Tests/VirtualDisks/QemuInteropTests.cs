using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>Files qemu-img makes read byte-identical in our reader; files we make pass qemu-img check, info and compare.</summary>
public sealed class QemuInteropTests
{
    private const long SourceLength = 70 * MiB + 3 * 512;

    [Theory]
    [InlineData("vpc", "subformat=dynamic", "vhd")]
    [InlineData("vpc", "subformat=fixed", "vhd-fixed")]
    [InlineData("vpc", "subformat=dynamic,force_size=on", "vhd")]
    [InlineData("vhdx", "block_size=1M", "vhdx")]
    [InlineData("vhdx", "block_size=8M", "vhdx")]
    [InlineData("vhdx", "block_size=32M,log_size=2M", "vhdx")]
    [InlineData("vhdx", "block_size=256M", "vhdx")]
    [InlineData("vhdx", "block_size=2M,block_state_zero=off", "vhdx")]
    [InlineData("vhdx", "subformat=fixed,block_size=16M", "vhdx-fixed")]
    public void FilesMadeByQemuReadByteIdentical(string qemuFormat, string options, string expectedFormat)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("source.raw"), file = dir.File("disk." + qemuFormat);
        MakeRaw(raw, SourceLength);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", qemuFormat, "-o", options, raw, file);

        using var disk = VirtualDisk.Open(file);
        Assert.Equal(expectedFormat, VirtualDisk.Describe(disk, file).Format);
        Assert.Equal(QemuInfo(file, qemuFormat).VirtualSize, disk.Length);
        Assert.False(disk.CanWrite);
        AssertSameData(raw, disk);
        AssertExtentsCoverData(raw, disk);
    }

    [Theory]
    [InlineData(VirtualDiskFormat.Vhd, 512, 0)]
    [InlineData(VirtualDiskFormat.Vhd, 512, 512 * 1024)]
    [InlineData(VirtualDiskFormat.VhdFixed, 512, 0)]
    [InlineData(VirtualDiskFormat.Vhdx, 512, 1 << 20)]
    [InlineData(VirtualDiskFormat.Vhdx, 512, 0)]
    [InlineData(VirtualDiskFormat.Vhdx, 4096, 8 << 20)]
    [InlineData(VirtualDiskFormat.Vhdx, 4096, 256 << 20)]
    [InlineData(VirtualDiskFormat.VhdxFixed, 512, 4 << 20)]
    [InlineData(VirtualDiskFormat.VhdxFixed, 4096, 0)]
    [InlineData(VirtualDiskFormat.Raw, 512, 0)]
    public void FilesWeWritePassQemu(VirtualDiskFormat format, int sectorSize, int blockSize)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("source.raw"), file = dir.File("disk.img");
        MakeRaw(raw, SourceLength);
        var options = new VirtualDiskCreateOptions { SectorSize = sectorSize, BlockSize = blockSize == 0 ? null : blockSize };

        // Restore's pattern: 1 MiB writes in order, all-zero pieces skipped.
        using (var disk = VirtualDisk.Create(file, format, SourceLength, options))
        {
            Assert.True(disk.Length >= SourceLength);
            Assert.Equal(sectorSize, disk.SectorSize);
            using var source = File.OpenRead(raw);
            var buf = new byte[MiB];
            for (long at = 0; at < SourceLength; at += MiB)
            {
                int n = (int)Math.Min(MiB, SourceLength - at);
                source.ReadExactly(buf, 0, n);
                if (buf.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0) disk.WriteAt(at, buf.AsSpan(0, n));
            }
        }
        string qf = QemuFormat(format);
        // qemu (7.2) opens VHDX files with 512-byte logical sectors only; 4096-byte ones are checked by our reader.
        bool qemuReads = sectorSize == 512;
        if (qf == "vhdx" && qemuReads) Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", "-f", qf, file));
        if (qemuReads)
        {
            var (qemuFormat, virtualSize) = QemuInfo(file, qf);
            Assert.Equal(qf, qemuFormat);
            using var d = VirtualDisk.Open(file);
            Assert.Equal(virtualSize, d.Length);
        }
        using (var disk = VirtualDisk.Open(file))
        {
            Assert.Equal(sectorSize, disk.SectorSize);
            AssertSameData(raw, disk);
            AssertExtentsCoverData(raw, disk);
            if (format is VirtualDiskFormat.Vhdx or VirtualDiskFormat.Vhd)
                // Unwritten blocks stay unallocated: far less than the disk in the file, and no zeros written.
                Assert.True(HostAllocated(file) < 20 * MiB, $"{HostAllocated(file)} bytes allocated on the host");
        }
        if (qemuReads) ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qf, raw, file);

        // Reopened for writing: a new block far out and an update inside an existing one.
        var more = new byte[3000];
        new Random(7).NextBytes(more);
        using (var disk = VirtualDisk.Open(file, writable: true))
        {
            disk.WriteAt(50 * MiB + 1024, more);
            disk.WriteAt(5 * MiB + 4096 + 100, more);
            disk.Flush();
        }
        using (var f = new FileStream(raw, FileMode.Open, FileAccess.Write))
        {
            f.Position = 50 * MiB + 1024; f.Write(more);
            f.Position = 5 * MiB + 4096 + 100; f.Write(more);
        }
        if (qf == "vhdx" && qemuReads) Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", "-f", qf, file));
        if (qemuReads) ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qf, raw, file);
        using (var disk = VirtualDisk.Open(file)) AssertSameData(raw, disk);
    }

    [Fact]
    public void QemuWritesIntoOurFilesAndWeReadIt()
    {
        using var dir = new TempDirectory();
        foreach (var format in new[] { VirtualDiskFormat.Vhd, VirtualDiskFormat.Vhdx })
        {
            string file = dir.File($"d.{format}");
            using (var disk = VirtualDisk.Create(file, format, 20 * MiB)) disk.WriteAt(MiB, new byte[4096].Select(_ => (byte)0x11).ToArray());
            string qf = QemuFormat(format);
            ExternalTool.Run("qemu-io", "-f", qf, "-c", "write -P 0x5a 7340032 1048576", file);
            using var d = VirtualDisk.Open(file);
            var buf = new byte[MiB];
            d.ReadAt(7 * MiB, buf);
            Assert.All(buf, b => Assert.Equal(0x5a, b));
            d.ReadAt(MiB, buf.AsSpan(0, 4096));
            Assert.All(buf.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0x11, b));
        }
    }

    [Fact]
    public void FixedVhdIsCreatedWithoutWritingZerosUnlessAsked()
    {
        using var dir = new TempDirectory();
        string sparse = dir.File("sparse.vhd"), zeroed = dir.File("zeroed.vhd"), reserved = dir.File("reserved.vhd");
        using (var d = VirtualDisk.Create(sparse, VirtualDiskFormat.VhdFixed, 4L << 30)) Assert.True(d.Length >= 4L << 30);
        Assert.Equal(QemuInfo(sparse, "vpc").VirtualSize + 512, new FileInfo(sparse).Length);
        Assert.True(HostAllocated(sparse) < MiB, "a sparse fixed VHD should hold only its footer");

        var opts = new VirtualDiskCreateOptions { Preallocation = Preallocation.ZeroFill };
        using (VirtualDisk.Create(zeroed, VirtualDiskFormat.VhdFixed, 16 * MiB, opts)) { }
        Assert.True(HostAllocated(zeroed) >= 16 * MiB);
        using (VirtualDisk.Create(reserved, VirtualDiskFormat.VhdFixed, 16 * MiB, opts with { Preallocation = Preallocation.Allocate })) { }
        Assert.True(HostAllocated(reserved) >= 16 * MiB);
        foreach (var f in new[] { sparse, zeroed, reserved })
        {
            Assert.Equal("vpc", QemuInfo(f, "vpc").Format);
            using var d = VhdDisk.Open(f);
            Assert.Equal(VhdDiskType.Fixed, d.DiskType);
            if (f == sparse) Assert.Empty(d.AllocatedExtents());
            var buf = new byte[MiB];
            d.ReadAt(d.Length - MiB, buf);
            Assert.True(buf.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        }
    }

    [Fact]
    public void VhdSizeIsRoundedToGeometryAndCapped()
    {
        Assert.Equal(new VhdGeometry(8323, 16, 63), VhdGeometry.Covering((4L << 30) / 512));
        Assert.Equal(VhdGeometry.MaxSectors, VhdGeometry.Covering(VhdGeometry.MaxSectors + 100).Sectors);
        using var dir = new TempDirectory();
        Assert.Throws<ArgumentException>(() => VirtualDisk.Create(dir.File("big.vhd"), VirtualDiskFormat.Vhd, 2041L << 30));
        Assert.Throws<ArgumentException>(() => VirtualDisk.Create(dir.File("4k.vhd"), VirtualDiskFormat.Vhd, MiB, 4096));
        // 2000 GiB: past the largest geometry, the footer's current size carries the exact size and qemu uses it.
        string big = dir.File("2000g.vhd");
        using (var d = VirtualDisk.Create(big, VirtualDiskFormat.Vhd, 2000L << 30)) Assert.Equal(2000L << 30, d.Length);
        Assert.Equal(2000L << 30, QemuInfo(big, "vpc").VirtualSize);
        // 64 TiB VHDX: the largest the format allows.
        string huge = dir.File("64t.vhdx");
        using (var d = VirtualDisk.Create(huge, VirtualDiskFormat.Vhdx, 64L << 40, new VirtualDiskCreateOptions { BlockSize = 256 << 20 })) Assert.Equal(64L << 40, d.Length);
        Assert.Equal(64L << 40, QemuInfo(huge, "vhdx").VirtualSize);
        Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", huge));
    }
}
