using System.Buffers.Binary;
using System.Text.Json;
using P2V.Imaging.Disks;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Disks;

public class DiskLayoutTests
{
    private const long DiskBytes = 64 << 20;

    private const string MbrScript = """
        label: dos
        label-id: 0x12345678
        size=8MiB, type=83, bootable
        size=8MiB, type=7
        type=5
        size=8MiB, type=83
        size=4MiB, type=b
        size=8MiB, type=82
        size=2MiB, type=c

        """;

    private const string GptScript = """
        label: gpt
        label-id: 01234567-89AB-CDEF-0123-456789ABCDEF
        size=8MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
        size=16MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="data two", attrs=LegacyBIOSBootable
        size=4MiB, type=E3C9E316-0B5C-4DB8-817D-F92DF00215AE, name="Microsoft reserved"
        size=8MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4

        """;

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public void Mbr_with_logical_partitions_matches_util_linux(int sectorSize)
    {
        using var dir = new TempDirectory();
        var path = dir.File("mbr.img");
        PartitionFixture.Make(path, DiskBytes, MbrScript, sectorSize);
        var expected = PartitionFixture.Read(path, sectorSize);

        using var disk = RawDisk.OpenRead(path, sectorSize);
        var layout = DiskLayout.Read(disk);

        Assert.Equal(PartitionTableKind.Mbr, layout.Kind);
        Assert.Equal(sectorSize, layout.SectorSize);
        Assert.Equal(0x12345678u, layout.MbrSignature);
        Assert.Null(layout.DiskGuid);
        Assert.Empty(layout.Warnings);
        var ext = Assert.Single(expected.Partitions, p => p.Type == "5");
        Assert.NotNull(layout.ExtendedPartition);
        Assert.Equal((ext.Number, ext.Start * sectorSize, ext.Size * sectorSize),
            (layout.ExtendedPartition.Number, layout.ExtendedPartition.Offset, layout.ExtendedPartition.Length));

        var data = expected.Partitions.Where(p => p.Type != "5").ToList();
        Assert.Equal([1, 2, 5, 6, 7, 8], data.Select(p => p.Number));
        Assert.Equal(data.Count, layout.Partitions.Count);
        foreach (var (want, got) in data.Zip(layout.Partitions))
        {
            Assert.Equal(want.Number, got.Number);
            Assert.Equal(want.Start * sectorSize, got.Offset);
            Assert.Equal(want.Size * sectorSize, got.Length);
            Assert.Equal(Convert.ToByte(want.Type, 16), got.MbrType);
            Assert.Equal(want.Bootable, got.Bootable);
            Assert.Equal(want.Number >= 5, got.IsLogical);
            Assert.Equal(Guid.Empty, got.GptType);
        }
        // Sector 0 plus one EBR per logical partition, each inside the extended partition and outside every logical.
        Assert.Equal(new Extent(0, sectorSize), layout.TableRegions[0]);
        var ebrs = layout.TableRegions.Skip(1).ToList();
        Assert.Equal(4, ebrs.Count);
        Assert.All(ebrs, r => Assert.True(r.Offset >= layout.ExtendedPartition.Offset && r.End <= layout.ExtendedPartition.End));
        Assert.Equal(layout.ExtendedPartition.Offset, ebrs[0].Offset);
        AssertCoversDiskExactly(layout);
    }

    [Fact]
    public void Mbr_matches_sfdisk_json()
    {
        using var dir = new TempDirectory();
        var path = dir.File("mbr.img");
        PartitionFixture.Make(path, DiskBytes, MbrScript);
        using var json = JsonDocument.Parse(ExternalTool.Run("sfdisk", "--json", path));
        var table = json.RootElement.GetProperty("partitiontable");
        using var disk = RawDisk.OpenRead(path);
        var layout = DiskLayout.Read(disk);

        Assert.Equal("dos", table.GetProperty("label").GetString());
        Assert.Equal($"0x{layout.MbrSignature:x8}", table.GetProperty("id").GetString());
        var parts = table.GetProperty("partitions").EnumerateArray()
            .Where(p => p.GetProperty("type").GetString() != "5").ToList();
        Assert.Equal(parts.Count, layout.Partitions.Count);
        foreach (var (want, got) in parts.Zip(layout.Partitions))
        {
            Assert.EndsWith(got.Number.ToString(), want.GetProperty("node").GetString());
            Assert.Equal(want.GetProperty("start").GetInt64() * 512, got.Offset);
            Assert.Equal(want.GetProperty("size").GetInt64() * 512, got.Length);
            Assert.Equal(want.GetProperty("type").GetString(), got.MbrType.ToString("x"));
            Assert.Equal(want.TryGetProperty("bootable", out var b) && b.GetBoolean(), got.Bootable);
        }
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public void Gpt_matches_util_linux(int sectorSize)
    {
        using var dir = new TempDirectory();
        var path = dir.File("gpt.img");
        PartitionFixture.Make(path, DiskBytes, GptScript, sectorSize);
        var expected = PartitionFixture.Read(path, sectorSize);

        using var disk = RawDisk.OpenRead(path, sectorSize);
        var layout = DiskLayout.Read(disk);

        Assert.Equal(PartitionTableKind.Gpt, layout.Kind);
        Assert.Empty(layout.Warnings);
        Assert.Equal(Guid.Parse("01234567-89AB-CDEF-0123-456789ABCDEF"), layout.DiskGuid);
        Assert.Equal(Guid.Parse(expected.LabelId!), layout.DiskGuid);
        Assert.NotNull(layout.MbrSignature);
        AssertGptMatches(expected, layout, sectorSize);

        // Protective MBR, primary header + 16 KiB entry array; backup entry array + backup header at the end.
        long arrayBytes = 128 * 128, sectors = DiskBytes / sectorSize;
        long arraySectors = arrayBytes / sectorSize + (arrayBytes % sectorSize == 0 ? 0 : 1);
        Assert.Equal(
            [new Extent(0, (2 + arraySectors) * sectorSize), new Extent((sectors - 1 - arraySectors) * sectorSize, (1 + arraySectors) * sectorSize)],
            layout.TableRegions);
        AssertCoversDiskExactly(layout);
    }

    [Fact]
    public void Gpt_matches_sfdisk_json()
    {
        using var dir = new TempDirectory();
        var path = dir.File("gpt.img");
        PartitionFixture.Make(path, DiskBytes, GptScript);
        using var json = JsonDocument.Parse(ExternalTool.Run("sfdisk", "--json", path));
        var table = json.RootElement.GetProperty("partitiontable");
        using var disk = RawDisk.OpenRead(path);
        var layout = DiskLayout.Read(disk);

        Assert.Equal(Guid.Parse(table.GetProperty("id").GetString()!), layout.DiskGuid);
        var parts = table.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(parts.Count, layout.Partitions.Count);
        foreach (var (want, got) in parts.Zip(layout.Partitions))
        {
            Assert.EndsWith(got.Number.ToString(), want.GetProperty("node").GetString());
            Assert.Equal(want.GetProperty("start").GetInt64() * 512, got.Offset);
            Assert.Equal(want.GetProperty("size").GetInt64() * 512, got.Length);
            Assert.Equal(Guid.Parse(want.GetProperty("type").GetString()!), got.GptType);
            Assert.Equal(Guid.Parse(want.GetProperty("uuid").GetString()!), got.GptId);
            Assert.Equal(want.TryGetProperty("name", out var n) ? n.GetString() : "", got.Name);
            Assert.Equal(want.TryGetProperty("attrs", out var a) && a.GetString()!.Contains("LegacyBIOSBootable"), got.Bootable);
        }
    }

    [Theory]
    [InlineData(512, 0)]    // primary header: a CRC-covered field changed
    [InlineData(512, 1)]    // primary entry array: its CRC no longer matches
    [InlineData(4096, 0)]
    public void Corrupt_primary_gpt_falls_back_to_the_backup_with_a_warning(int sectorSize, int what)
    {
        using var dir = new TempDirectory();
        var path = dir.File("gpt.img");
        PartitionFixture.Make(path, DiskBytes, GptScript, sectorSize);
        var expected = PartitionFixture.Read(path, sectorSize);
        long at = what == 0 ? sectorSize + 40 : 2L * sectorSize + 130;
        FlipByte(path, at);

        using var disk = RawDisk.OpenRead(path, sectorSize);
        var layout = DiskLayout.Read(disk);
        Assert.Equal(PartitionTableKind.Gpt, layout.Kind);
        var warning = Assert.Single(layout.Warnings);
        Assert.Contains("primary GPT is corrupt", warning);
        Assert.Contains(what == 0 ? "header CRC32" : "entry array CRC32", warning);
        AssertGptMatches(expected, layout, sectorSize);
        // The primary copy is still a region to restore, even though it was unreadable.
        Assert.True(layout.TableRegions[0].End >= (2 + 16384 / sectorSize) * sectorSize);
    }

    [Fact]
    public void Both_gpt_headers_corrupt_is_an_error()
    {
        using var dir = new TempDirectory();
        var path = dir.File("gpt.img");
        PartitionFixture.Make(path, DiskBytes, GptScript);
        FlipByte(path, 512 + 40);
        FlipByte(path, DiskBytes - 512 + 40);

        using var disk = RawDisk.OpenRead(path);
        var ex = Assert.Throws<PartitionTableException>(() => DiskLayout.Read(disk));
        Assert.Contains("both GPT headers", ex.Message);
        Assert.Equal(512, ex.Offset);
    }

    [Fact]
    public void Backup_gpt_corrupt_keeps_the_primary_and_warns()
    {
        using var dir = new TempDirectory();
        var path = dir.File("gpt.img");
        PartitionFixture.Make(path, DiskBytes, GptScript);
        var expected = PartitionFixture.Read(path);
        FlipByte(path, DiskBytes - 512 + 40);
        using var disk = RawDisk.OpenRead(path);
        var layout = DiskLayout.Read(disk);
        Assert.Contains("backup GPT is unusable", Assert.Single(layout.Warnings));
        AssertGptMatches(expected, layout, 512);
    }

    [Theory]
    [InlineData("label: dos\nsize=8MiB, type=83\nsize=16MiB, type=42\n", 512)]
    [InlineData("label: dos\nsize=8MiB, type=83\ntype=5\nsize=8MiB, type=7\nsize=8MiB, type=42\n", 512)]
    [InlineData("label: gpt\nsize=1MiB, type=5808C8AA-7E8F-42E0-85D2-E1E90434CFB3\nsize=16MiB, type=AF9B60A0-1431-4F62-BC68-3311714A69AD\n", 512)]
    [InlineData("label: gpt\nsize=8MiB, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7\nsize=16MiB, type=AF9B60A0-1431-4F62-BC68-3311714A69AD\n", 4096)]
    public void Dynamic_disks_are_refused_with_the_fix(string script, int sectorSize)
    {
        using var dir = new TempDirectory();
        var path = dir.File("ldm.img");
        PartitionFixture.Make(path, DiskBytes, script, sectorSize);
        using var disk = RawDisk.OpenRead(path, sectorSize);
        var ex = Assert.Throws<DynamicDiskException>(() => DiskLayout.Read(disk));
        Assert.Contains("dynamic partitions cannot be migrated", ex.Message);
        Assert.Contains("basic disk", ex.Message);
        Assert.IsAssignableFrom<PartitionTableException>(ex);
    }

    [Fact]
    public void Ebr_chain_that_loops_is_an_error()
    {
        using var dir = new TempDirectory();
        var path = dir.File("loop.img");
        PartitionFixture.Make(path, DiskBytes, MbrScript);
        long extStart = PartitionFixture.Read(path).Partitions.Single(p => p.Type == "5").Start;
        // Follow the chain EBR1 → EBR2 → … → last, then point the last EBR's link back at EBR2.
        var links = new List<uint>();
        long ebr = extStart;
        while (true)
        {
            uint next = ReadUInt32(path, ebr * 512 + 446 + 16 + 8);
            if (next == 0) break;
            links.Add(next);
            ebr = extStart + next;
        }
        Assert.Equal(3, links.Count);
        WriteBytes(path, ebr * 512 + 446 + 16 + 4, [0x05]);
        WriteUInt32(path, ebr * 512 + 446 + 16 + 8, links[0]);
        WriteUInt32(path, ebr * 512 + 446 + 16 + 12, 2048);

        using var disk = RawDisk.OpenRead(path);
        var ex = Assert.Throws<PartitionTableException>(() => DiskLayout.Read(disk));
        Assert.Contains("the EBR chain loops", ex.Message);
        Assert.Equal(ebr * 512 + 446 + 16, ex.Offset); // the link that points back
    }

    [Fact]
    public void Ebr_link_outside_the_extended_partition_is_an_error()
    {
        using var dir = new TempDirectory();
        var path = dir.File("wild.img");
        PartitionFixture.Make(path, DiskBytes, MbrScript);
        long extStart = PartitionFixture.Read(path).Partitions.Single(p => p.Type == "5").Start;
        WriteUInt32(path, extStart * 512 + 446 + 16 + 8, 0x7FFFFFF0);
        using var disk = RawDisk.OpenRead(path);
        var ex = Assert.Throws<PartitionTableException>(() => DiskLayout.Read(disk));
        Assert.Contains("outside the extended partition", ex.Message);
    }

    [Fact]
    public void Overlapping_partitions_are_an_error_naming_the_entry()
    {
        using var dir = new TempDirectory();
        var path = dir.File("overlap.img");
        PartitionFixture.Make(path, DiskBytes, "label: dos\nstart=2048, size=8MiB, type=83\nsize=8MiB, type=7\n");
        WriteUInt32(path, 446 + 16 + 8, 4096); // partition 2 now starts inside partition 1
        using var disk = RawDisk.OpenRead(path);
        var ex = Assert.Throws<PartitionTableException>(() => DiskLayout.Read(disk));
        Assert.Contains("partition 2", ex.Message);
        Assert.Contains("overlaps partition 1", ex.Message);
        Assert.Equal(4096 * 512, ex.Offset);
    }

    [Theory]
    [InlineData("label: dos\nsize=8MiB, type=83\nsize=40MiB, type=7\n", "MBR partition 2")]
    [InlineData(GptScript, "GPT")]
    public void Partitions_past_the_end_of_the_disk_are_an_error(string script, string names)
    {
        using var dir = new TempDirectory();
        var path = dir.File("short.img");
        PartitionFixture.Make(path, DiskBytes, script);
        using (var f = new FileStream(path, FileMode.Open)) f.SetLength(32 << 20); // the disk lost its second half
        using var disk = RawDisk.OpenRead(path);
        var ex = Assert.Throws<PartitionTableException>(() => DiskLayout.Read(disk));
        Assert.Contains(names, ex.Message);
    }

    [Fact]
    public void Bare_volume_and_blank_disk_have_no_table()
    {
        using var dir = new TempDirectory();
        var fat = dir.File("superfloppy.img");
        ExternalTool.Run("mkfs.fat", "-F", "32", "-C", fat, "40960");
        var blank = dir.File("blank.img");
        using (var f = File.Create(blank)) f.SetLength(DiskBytes);
        var ntfs = dir.File("ntfs.img");
        using (var f = File.Create(ntfs)) f.SetLength(8 << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", ntfs);
        var fat12 = dir.File("floppy.img");
        ExternalTool.Run("mkfs.fat", "-F", "12", "-C", fat12, "1440");

        foreach (var path in new[] { fat, blank, ntfs, fat12 })
        {
            using var disk = RawDisk.OpenRead(path);
            var layout = DiskLayout.Read(disk);
            Assert.Equal(PartitionTableKind.None, layout.Kind);
            Assert.Empty(layout.Partitions);
            Assert.Empty(layout.TableRegions);
            Assert.Empty(layout.Warnings);
            Assert.Equal([new Extent(0, disk.Length)], layout.UnpartitionedSpace().Extents);
        }
    }

    [Fact]
    public void Fat_volume_with_a_fake_mbr_is_a_bare_volume()
    {
        using var dir = new TempDirectory();
        var path = dir.File("fakembr.img");
        ExternalTool.Run("mkfs.fat", "-F", "32", "--mbr=y", "-C", path, "40960");
        Assert.Equal(0, PartitionFixture.Read(path).Partitions.Single().Start); // util-linux sees partition 1 at sector 0
        using var disk = RawDisk.OpenRead(path);
        var layout = DiskLayout.Read(disk);
        Assert.Equal(PartitionTableKind.None, layout.Kind);
        Assert.Contains("fake MBR", Assert.Single(layout.Warnings));
        Assert.Equal(P2V.Imaging.FileSystems.FileSystemKind.Fat32, P2V.Imaging.FileSystems.VolumeProbe.Detect(disk));
    }

    [Fact]
    public void Empty_mbr_has_a_table_and_no_partitions()
    {
        using var dir = new TempDirectory();
        var path = dir.File("empty.img");
        PartitionFixture.Make(path, DiskBytes, "label: dos\nlabel-id: 0xcafe0001\n");
        using var disk = RawDisk.OpenRead(path);
        var layout = DiskLayout.Read(disk);
        Assert.Equal(PartitionTableKind.Mbr, layout.Kind);
        Assert.Equal(0xcafe0001u, layout.MbrSignature);
        Assert.Empty(layout.Partitions);
        Assert.Equal([new Extent(512, DiskBytes - 512)], layout.UnpartitionedSpace().Extents);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Mutated_tables_fail_only_with_partition_table_exceptions(bool gpt)
    {
        using var dir = new TempDirectory();
        var path = dir.File("fuzz.img");
        PartitionFixture.Make(path, 4 << 20, gpt
            ? "label: gpt\nsize=1MiB\nsize=1MiB\n"
            : "label: dos\nsize=1MiB, type=83\ntype=5\nsize=512KiB\nsize=512KiB\n");
        var pristine = File.ReadAllBytes(path);
        long extStart = gpt ? 0 : PartitionFixture.Read(path).Partitions.Single(p => p.Type == "5").Start * 512;
        var random = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            var bytes = (byte[])pristine.Clone();
            for (int k = random.Next(1, 6); k > 0; k--)
            {
                // Hit the MBR entries, the GPT header and its first entries, or the first EBR.
                long at = random.Next(3) switch
                {
                    0 => 446 + random.Next(66),
                    1 => gpt ? 512 + random.Next(92) : extStart + 446 + random.Next(32),
                    _ => gpt ? 1024 + random.Next(256) : extStart + 446 + random.Next(32),
                };
                bytes[at] = (byte)random.Next(256);
            }
            File.WriteAllBytes(path, bytes);
            using var disk = RawDisk.OpenRead(path);
            try
            {
                var layout = DiskLayout.Read(disk);
                AssertCoversDiskExactly(layout);
            }
            catch (PartitionTableException)
            {
            }
        }
    }

    private static void AssertGptMatches(PartitionFixture.Dump expected, DiskLayout layout, int sectorSize)
    {
        Assert.Equal(expected.Partitions.Count, layout.Partitions.Count);
        foreach (var (want, got) in expected.Partitions.Zip(layout.Partitions))
        {
            Assert.Equal(want.Number, got.Number);
            Assert.Equal(want.Start * sectorSize, got.Offset);
            Assert.Equal(want.Size * sectorSize, got.Length);
            Assert.Equal(Guid.Parse(want.Type), got.GptType);
            Assert.Equal(Guid.Parse(want.Uuid!), got.GptId);
            Assert.Equal(want.Name ?? "", got.Name);
            Assert.Equal(want.Attrs?.Contains("LegacyBIOSBootable") == true, got.Bootable);
            Assert.Equal(0, got.MbrType);
            Assert.False(got.IsLogical);
        }
    }

    /// <summary>Partitions, table regions and unpartitioned space tile the disk with no overlap.</summary>
    private static void AssertCoversDiskExactly(DiskLayout layout)
    {
        var pieces = layout.Partitions.Select(p => p.Extent).Concat(layout.TableRegions).Concat(layout.UnpartitionedSpace().Extents)
            .OrderBy(e => e.Offset).ToList();
        long pos = 0;
        foreach (var e in pieces)
        {
            Assert.Equal(pos, e.Offset);
            pos = e.End;
        }
        Assert.Equal(layout.DiskLength, pos);
    }

    private static void FlipByte(string path, long at)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = at;
        int b = f.ReadByte();
        f.Position = at;
        f.WriteByte((byte)(b ^ 0x5A));
    }

    private static uint ReadUInt32(string path, long at)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read);
        var buf = new byte[4];
        f.Position = at;
        f.ReadExactly(buf);
        return BinaryPrimitives.ReadUInt32LittleEndian(buf);
    }

    private static void WriteUInt32(string path, long at, uint value)
    {
        var buf = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(buf, value);
        WriteBytes(path, at, buf);
    }

    private static void WriteBytes(string path, long at, byte[] data)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = at;
        f.Write(data);
    }
}
