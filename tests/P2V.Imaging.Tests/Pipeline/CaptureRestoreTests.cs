using P2V.Imaging.Disks;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.Pipeline.DiskFixtures;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>Capture → image → restore round trips, checked with sfdisk, qemu-img, ntfs-3g and mtools.</summary>
public sealed class CaptureRestoreTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private const string MbrScript = """
        label: dos
        start=2048, size=98304, type=7, bootable
        start=100352, size=81920, type=c
        start=182272, type=5
        start=184320, size=30720, type=7
        start=217088, size=20480, type=83
        """;

    /// <summary>An MBR disk: NTFS system volume (4K clusters), FAT32, and logical NTFS (512-byte clusters) plus an unknown-type partition with random data.</summary>
    private string MakeMbrDisk()
    {
        var disk = _tmp.File("mbr.img");
        Partition(disk, 128 * MiB, MbrScript);
        var parts = Partitions(disk);
        MakeNtfsVolume(_tmp, _tmp.File("p1.vol"), parts[0].Size, 4096, seed: 1, partitionStartSector: parts[0].Start / 512);
        Place(_tmp.File("p1.vol"), disk, parts[0].Start);
        MakeFatVolume(_tmp, _tmp.File("p2.vol"), parts[1].Size, 32, seed: 2);
        Place(_tmp.File("p2.vol"), disk, parts[1].Start);
        MakeNtfsVolume(_tmp, _tmp.File("p5.vol"), parts[3].Size, 512, seed: 5, partitionStartSector: parts[3].Start / 512);
        Place(_tmp.File("p5.vol"), disk, parts[3].Start);
        // Partition 6: no file system we know; random blocks with all-zero gaps between them.
        var rng = new Random(6);
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var block = new byte[4096];
            for (long off = parts[4].Start; off < parts[4].Start + parts[4].Size; off += 3 * 4096)
            {
                rng.NextBytes(block);
                d.WriteAt(off, block);
            }
        }
        // Boot code in the gap after the MBR, as boot loaders leave it.
        using (var d = RawDisk.OpenReadWrite(disk)) d.WriteAt(512 * 5, "GRUB stage 1.5 stand-in"u8);
        return disk;
    }

    private static async Task<CaptureResult> Capture(string disk, string image, bool raw = false)
    {
        using var source = RawDisk.OpenRead(disk);
        var plan = CapturePlanner.Plan(source, raw, "test source", "test");
        await using var output = File.Create(image);
        return await new CapturePipeline().RunAsync(source, plan, output);
    }

    private static async Task<RestoreResult> Restore(string image, string target)
    {
        using var reader = ImageReader.Open(image);
        using var disk = RawDisk.Create(target, reader.Header.DiskLength, reader.Header.SectorSize);
        return await new RestorePipeline { TargetIsBlank = true }.RunAsync(reader, disk);
    }

    [Fact]
    public async Task MbrDiskRoundTripsIdenticallyThroughIndependentTools()
    {
        var disk = MakeMbrDisk();
        var image = _tmp.File("mbr.p2v");
        var captured = await Capture(disk, image);
        var restored = _tmp.File("restored.img");
        await Restore(image, restored);

        // The free space of the fixture is zero, so a restore of only the used data equals the source disk.
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, restored));
        Assert.Equal(ExternalTool.Run("sfdisk", "--dump", disk).Replace(disk, "X"), ExternalTool.Run("sfdisk", "--dump", restored).Replace(restored, "X"));

        var parts = Partitions(restored);
        foreach (var (index, seed) in new[] { (0, 1), (3, 5) })
        {
            var vol = _tmp.File($"check{seed}.vol");
            Extract(restored, parts[index].Start, parts[index].Size, vol);
            Assert.Equal(File.ReadAllBytes(Path.Combine(_tmp.Path, $"tree{seed}", "random.dat")), ExternalTool.RunBytes("ntfscat", vol, "random.dat"));
            Assert.Equal(File.ReadAllBytes(Path.Combine(_tmp.Path, $"tree{seed}", "boot.ini")), ExternalTool.RunBytes("ntfscat", vol, "boot.ini"));
            Assert.Contains("file0007.bin", ExternalTool.Run("ntfsls", "-R", vol) + ExternalTool.Run("ntfsls", vol, "-p", "/Dir0_a"), StringComparison.OrdinalIgnoreCase);
        }
        var fat = _tmp.File("checkfat.vol");
        Extract(restored, parts[1].Start, parts[1].Size, fat);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_tmp.Path, "fat2", "F7.BIN")), ExternalTool.RunBytes("mtype", "-i", fat, "::/DATA/F7.BIN"));

        // The raw partition holds one random 4 KiB block in three: only those are captured; the rest was
        // either a hole of the sparse disk file (not read) or read and skipped as zeros.
        using var reader = ImageReader.Open(image);
        var rawRecord = reader.Header.Volumes.Single(v => v.Kind == VolumeKind.Raw);
        Assert.Equal(6, rawRecord.PartitionNumber);
        var rawVolume = captured.Volumes.Single(v => v.VolumeIndex == rawRecord.Index);
        Assert.Equal((parts[4].Size / 4096 + 2) / 3 * 4096, rawVolume.BytesCaptured);
        Assert.All(captured.Volumes, v => Assert.Equal(v.DeclaredUsedBytes, v.BytesRead));
    }

    [Fact]
    public async Task NtfsVolumeReadsExactlyItsUsedClustersPlusTheBackupBootSector()
    {
        var disk = MakeMbrDisk();
        var image = _tmp.File("mbr.p2v");
        var captured = await Capture(disk, image);
        var parts = Partitions(disk);
        var vol = _tmp.File("p1-copy.vol");
        Extract(disk, parts[0].Start, parts[0].Size, vol);
        // ntfsinfo -m: "Cluster Size", "Volume Size in Clusters", "Free Clusters".
        var info = ExternalTool.Run("ntfsinfo", "-m", vol);
        long Field(string name) => long.Parse(info.Split('\n').First(l => l.Trim().StartsWith(name)).Split(':')[1].Trim().Split(' ')[0]);
        long clusterSize = Field("Cluster Size"), clusters = Field("Volume Size in Clusters"), free = Field("Free Clusters");
        long expected = (clusters - free) * clusterSize;
        var ntfs = captured.Volumes.Single(v => v.VolumeIndex == 1);
        // Used clusters, plus the backup boot sector in the volume's last sector (outside the cluster map when the size is not a whole number of clusters).
        Assert.InRange(ntfs.BytesRead, expected, expected + clusterSize + 512);
        Assert.Equal(ntfs.BytesRead, ntfs.BytesCaptured + ntfs.ZeroBytesSkipped);
    }

    [Fact]
    public async Task GptDiskRoundTripsWithBothTables()
    {
        var disk = _tmp.File("gpt.img");
        Partition(disk, 96 * MiB, """
            label: gpt
            start=2048, size=65536, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="system"
            start=67584, size=40960, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="data"
            """);
        var parts = Partitions(disk);
        MakeNtfsVolume(_tmp, _tmp.File("g1.vol"), parts[0].Size, 4096, seed: 11);
        Place(_tmp.File("g1.vol"), disk, parts[0].Start);
        MakeFatVolume(_tmp, _tmp.File("g2.vol"), parts[1].Size, 16, seed: 12);
        Place(_tmp.File("g2.vol"), disk, parts[1].Start);

        var image = _tmp.File("gpt.p2v");
        await Capture(disk, image);
        var restored = _tmp.File("gpt-restored.img");
        await Restore(image, restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, restored));
        var check = ExternalTool.Try("sfdisk", "--verify", restored);
        Assert.Equal(0, check.ExitCode);
        Assert.DoesNotContain("corrupt", check.StdOut + check.StdErr, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task RawCaptureCopiesTheWholeDiskSectorForSector()
    {
        var disk = MakeMbrDisk();
        var image = _tmp.File("raw.p2v");
        var result = await Capture(disk, image, raw: true);
        Assert.Equal(new FileInfo(disk).Length, result.BytesRead);
        var restored = _tmp.File("raw-restored.img");
        await Restore(image, restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, restored));
    }

    [Theory]
    [InlineData("42")]
    [InlineData("5808C8AA-7E8F-42E0-85D2-E1E90434CFB3")]
    public void DynamicDisksAreRefused(string type)
    {
        var disk = _tmp.File("ldm.img");
        Partition(disk, 32 * MiB, $"label: {(type.Length == 2 ? "dos" : "gpt")}\nstart=2048, size=20480, type={type}\n");
        using var source = RawDisk.OpenRead(disk);
        var e = Assert.Throws<DynamicDiskException>(() => CapturePlanner.Plan(source));
        Assert.Contains("dynamic", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(VirtualDiskFormat.Vhdx, "vhdx")]
    [InlineData(VirtualDiskFormat.Vhd, "vpc")]
    [InlineData(VirtualDiskFormat.VhdFixed, "vpc")]
    public async Task RestoresIntoVirtualDisksAndCapturesFromThem(VirtualDiskFormat format, string qemuFormat)
    {
        var disk = MakeMbrDisk();
        var image = _tmp.File("mbr.p2v");
        await Capture(disk, image);

        var vdisk = _tmp.File($"target.{qemuFormat}");
        using (var reader = ImageReader.Open(image))
        using (var target = VirtualDisk.Create(vdisk, format, reader.Header.DiskLength))
            await new RestorePipeline { TargetIsBlank = true, Workers = 4 }.RunAsync(reader, target);
        // The workers write concurrently, but a dynamic disk's blocks still lie in the file in disk order.
        if (format != VirtualDiskFormat.VhdFixed) VirtualDisks.VirtualDiskFixture.AssertDataInDiskOrder(vdisk, qemuFormat);
        // qemu-img checks VHDX; for VHD (vpc) it has no check, so its info must at least see a valid file.
        if (qemuFormat == "vhdx") Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", "-f", qemuFormat, vdisk));
        Assert.Contains($"file format: {qemuFormat}", ExternalTool.Run("qemu-img", "info", "-f", qemuFormat, vdisk));
        // A VHD's size is rounded up to whole CHS cylinders; compare the source's bytes and require zeros beyond.
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qemuFormat, disk, vdisk));

        // V2V: the virtual disk is itself a capture source; only its allocated data is read.
        var again = _tmp.File("again.p2v");
        using (var source = VirtualDisk.Open(vdisk))
        {
            Assert.Equal(format, VirtualDisk.Detect(vdisk));
            var plan = CapturePlanner.Plan(source);
            await using var output = File.Create(again);
            await new CapturePipeline().RunAsync(source, plan, output);
        }
        var restored = _tmp.File("again.img");
        await Restore(again, restored);
        ExternalTool.Run("truncate", "-s", new FileInfo(disk).Length.ToString(), restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", disk, restored));
    }
}
