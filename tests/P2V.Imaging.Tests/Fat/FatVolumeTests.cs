using System.Buffers.Binary;
using P2V.Imaging.FileSystems;
using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Fat;

public class FatVolumeTests
{
    public static TheoryData<string, long, FileSystemKind, int> Volumes => new()
    {
        // mkfs.fat options, size in KiB, the type the cluster count makes, sector size
        { "-F 12", 4096, FileSystemKind.Fat12, 512 },
        { "-F 16 -s 4", 32768, FileSystemKind.Fat16, 512 },
        { "-F 16 -S 4096 -s 1", 32768, FileSystemKind.Fat16, 4096 },
        { "-F 32 -s 1", 40960, FileSystemKind.Fat32, 512 },
        { "-F 32 -S 4096 -s 1", 300000, FileSystemKind.Fat32, 4096 },
    };

    [Theory]
    [MemberData(nameof(Volumes))]
    public void Used_extents_alone_rebuild_a_volume_that_dosfstools_and_mtools_accept(string options, long kib, FileSystemKind kind, int sectorSize)
    {
        using var dir = new TempDirectory();
        var fixture = FatFixture.Make(dir, "vol.img", options, kib, "P2V TEST", seed: (int)kib);
        var fsck = FatFixture.Fsck(fixture.ImagePath);

        using var source = RawDisk.OpenRead(fixture.ImagePath, sectorSize);
        Assert.Equal(kind, FatVolume.Probe(source));
        Assert.Equal(kind, VolumeProbe.Detect(source));
        var volume = FatVolume.Open(source);
        Assert.Equal(kind, volume.Kind);
        Assert.Equal(sectorSize, volume.BootSector.BytesPerSector);
        Assert.Equal(fsck.BytesPerCluster, volume.ClusterSize);
        Assert.Equal(fsck.DataClusters, volume.ClusterCount);
        Assert.Equal(fsck.UsedClusters, volume.UsedClusters);
        Assert.Equal(0, volume.BadClusters);
        Assert.Equal("P2V TEST", volume.Label);

        var used = volume.GetUsedExtents();
        Assert.True(used.UsedBytes < source.Length / 2, $"{used.UsedBytes} of {source.Length} bytes marked used");
        long metadata = volume.BootSector.FirstDataSector * sectorSize;
        Assert.Equal(metadata + volume.UsedClusters * volume.ClusterSize, used.UsedBytes);

        // Copy only those extents into an empty sparse file of the same size; the independent tools must find it whole.
        var copyPath = Path.Combine(dir.Path, "copy.img");
        using (var copy = RawDisk.Create(copyPath, source.Length, sectorSize))
        {
            var buffer = new byte[1 << 20];
            foreach (var e in used.Extents)
            {
                for (long pos = e.Offset; pos < e.End; pos += buffer.Length)
                {
                    var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, e.End - pos));
                    source.ReadAt(pos, chunk);
                    copy.WriteAt(pos, chunk);
                }
            }
        }
        var copyFsck = FatFixture.Fsck(copyPath);
        Assert.Equal(fsck, copyFsck);
        Assert.Equal(ExternalTool.Run("mdir", "-/", "-a", "-i", fixture.ImagePath, "::"), ExternalTool.Run("mdir", "-/", "-a", "-i", copyPath, "::"));
        // fsck.fat counts files, directories and the volume-label entry alike.
        Assert.Equal(fixture.Files.Count + CountDirectories(copyPath) + 1, fsck.Files);
        foreach (var (path, data) in fixture.Files)
            Assert.True(data.AsSpan().SequenceEqual(ExternalTool.RunBytes("mtype", "-i", copyPath, "::" + path)), $"{path} reads back different");
        Assert.Contains("P2V TEST", ExternalTool.Run("mlabel", "-s", "-i", copyPath, "::"));
    }

    [Fact]
    public void Bad_clusters_are_counted_and_left_out()
    {
        using var dir = new TempDirectory();
        var badList = dir.File("bad.txt");
        File.WriteAllText(badList, "400\n401\n900\n");
        var image = dir.File("bad.img");
        ExternalTool.Run("mkfs.fat", "-F", "12", "-s", "2", "-l", badList, "-C", image, "2048");
        var data = new byte[300_000];
        new Random(7).NextBytes(data);
        File.WriteAllBytes(dir.File("big.bin"), data);
        ExternalTool.Run("mcopy", "-i", image, dir.File("big.bin"), "::/big.bin");
        var fsck = FatFixture.Fsck(image);

        using var disk = RawDisk.OpenRead(image);
        var volume = FatVolume.Open(disk);
        Assert.Equal(FileSystemKind.Fat12, volume.Kind);
        // mkfs.fat marks every 1 KiB cluster that a bad 1 KiB block touches; the data area starts off a 1 KiB boundary.
        Assert.InRange(volume.BadClusters, 3, 6);
        Assert.Equal(fsck.UsedClusters, volume.UsedClusters + volume.BadClusters); // fsck.fat counts bad clusters as used
        var used = volume.GetUsedExtents();
        foreach (long block in new long[] { 400, 401, 900 })
            Assert.DoesNotContain(used.Extents, e => e.Offset < block * 1024 + 1024 && block * 1024 < e.End);
        Assert.Equal(volume.BootSector.FirstDataSector * 512 + volume.UsedClusters * 1024, used.UsedBytes);
    }

    [Fact]
    public void Label_falls_back_to_the_boot_sector_and_no_name_is_empty()
    {
        using var dir = new TempDirectory();
        var unnamed = dir.File("unnamed.img");
        ExternalTool.Run("mkfs.fat", "-F", "16", "-s", "1", "-C", unnamed, "8192");
        using (var disk = RawDisk.OpenRead(unnamed))
            Assert.Equal("", FatVolume.Open(disk).Label);

        // mlabel rewrites the root directory entry; it wins over the boot sector's copy.
        var named = dir.File("named.img");
        ExternalTool.Run("mkfs.fat", "-F", "32", "-n", "OLDNAME", "-C", named, "40960");
        ExternalTool.Run("mlabel", "-i", named, "::NEW LABEL");
        using (var disk = RawDisk.OpenRead(named))
            Assert.Equal("NEW LABEL", FatVolume.Open(disk).Label);
    }

    [Theory]
    [InlineData(11, 0, 0, 11)]      // bytes per sector 0
    [InlineData(11, 0x00, 0x03, 11)] // bytes per sector 768
    [InlineData(13, 3, null, 13)]   // sectors per cluster 3
    [InlineData(14, 0, 0, 14)]      // no reserved sectors
    [InlineData(16, 0, null, 16)]   // no FATs
    [InlineData(510, 0, null, 510)] // no 0x55AA signature
    [InlineData(0, 0, null, 0)]     // no jump instruction
    [InlineData(32, 0xFF, 0xFF, 19)] // 32-bit sector count far beyond the volume
    public void Corrupt_boot_sector_throws_fat_exception_with_offset(int at, int b0, int? b1, long expectedOffset)
    {
        using var dir = new TempDirectory();
        var image = dir.File("corrupt.img");
        ExternalTool.Run("mkfs.fat", "-F", "32", "-C", image, "40960");
        using (var f = new FileStream(image, FileMode.Open))
        {
            f.Position = at;
            f.WriteByte((byte)b0);
            if (b1 is int second) f.WriteByte((byte)second);
            if (at == 32) { f.WriteByte(0xFF); f.WriteByte(0x7F); }
        }
        using var disk = RawDisk.OpenRead(image);
        var ex = Assert.Throws<FatException>(() => FatVolume.Open(disk));
        Assert.Equal(expectedOffset, ex.Offset);
        Assert.Null(FatVolume.Probe(disk));
        Assert.Equal(FileSystemKind.Raw, VolumeProbe.Detect(disk));
    }

    [Fact]
    public void Mutated_boot_sectors_and_fats_fail_only_with_fat_exceptions()
    {
        using var dir = new TempDirectory();
        var image = dir.File("fuzz.img");
        ExternalTool.Run("mkfs.fat", "-F", "12", "-C", image, "1024");
        ExternalTool.Run("mmd", "-i", image, "::/d");
        var pristine = File.ReadAllBytes(image);
        var random = new Random(99);
        for (int round = 0; round < 400; round++)
        {
            var bytes = (byte[])pristine.Clone();
            for (int k = random.Next(1, 5); k > 0; k--)
                bytes[random.Next(2) == 0 ? random.Next(11, 62) : 512 + random.Next(64)] = (byte)random.Next(256);
            File.WriteAllBytes(image, bytes);
            using var disk = RawDisk.OpenRead(image);
            try
            {
                var volume = FatVolume.Open(disk);
                var used = volume.GetUsedExtents();
                Assert.True(used.Extents.Count == 0 || used.Extents[^1].End <= disk.Length);
                _ = volume.Label;
            }
            catch (FatException)
            {
            }
        }
    }

    [Fact]
    public void Fat_inside_a_partition_is_probed_through_a_slice()
    {
        using var dir = new TempDirectory();
        var image = dir.File("disk.img");
        using (var f = File.Create(image)) f.SetLength(32 << 20);
        ExternalTool.RunWith("sfdisk", ["-q", image], "label: dos\nstart=2048, size=16MiB, type=6\nsize=8MiB, type=7\n");
        ExternalTool.Run("mkfs.fat", "-F", "16", "--offset=2048", "-n", "INSIDE", image, "16384");
        using var disk = RawDisk.OpenRead(image);
        var layout = P2V.Imaging.Disks.DiskLayout.Read(disk);
        var first = layout.Partitions[0];
        using var slice = new DiskSlice(disk, first.Offset, first.Length);
        Assert.Equal(FileSystemKind.Fat16, VolumeProbe.Detect(slice));
        Assert.Equal("INSIDE", FatVolume.Open(slice).Label);
        var second = layout.Partitions[1];
        using var raw = new DiskSlice(disk, second.Offset, second.Length);
        Assert.Equal(FileSystemKind.Raw, VolumeProbe.Detect(raw));
    }

    [Fact]
    public void Ntfs_is_detected_by_its_oem_id()
    {
        using var dir = new TempDirectory();
        var image = dir.File("ntfs.img");
        using (var f = File.Create(image)) f.SetLength(8 << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", image);
        using var disk = RawDisk.OpenRead(image);
        Assert.Equal(FileSystemKind.Ntfs, VolumeProbe.Detect(disk));
        Assert.Null(FatVolume.Probe(disk));
    }

    private static long CountDirectories(string image) =>
        ExternalTool.Run("mdir", "-/", "-a", "-i", image, "::").Split('\n').Count(l => l.Contains("<DIR>") && !l.StartsWith(".  ") && !l.StartsWith(".. "));
}
