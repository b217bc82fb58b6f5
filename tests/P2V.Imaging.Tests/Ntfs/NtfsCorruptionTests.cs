using System.Buffers.Binary;
using System.Text.RegularExpressions;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// Damaged volumes: a real volume with chosen bytes changed. Where a structure lives is taken from
/// ntfs-3g's tools (ntfsls -i for record numbers, ntfsinfo -v for runlists), not from our reader.
/// </summary>
public sealed partial class NtfsCorruptionTests(NtfsCorruptionTests.BaseVolume baseVolume) : IClassFixture<NtfsCorruptionTests.BaseVolume>
{
    private const int ClusterSize = 4096, RecordSize = 1024;
    private static readonly int Rounds = int.TryParse(Environment.GetEnvironmentVariable("P2V_NTFS_DAMAGE_ROUNDS"), out var r) ? r : 400;
    private const string VictimDirectory = "/Ünïcødé", VictimName = "Ελληνικά κείμενο.doc", Victim = VictimDirectory + "/" + VictimName;

    /// <summary>One undamaged volume for all the tests; each damages its own copy.</summary>
    public sealed class BaseVolume : IDisposable
    {
        private readonly TempDirectory _tmp = new();

        public BaseVolume()
        {
            Fixture = NtfsFixture.Make(_tmp, "base.img", 16 << 20, ClusterSize, smallFiles: 30, wideDirectoryFiles: 200, bigFiles: 0);
            Image = File.ReadAllBytes(Fixture.VolumePath);
            MftRuns = Runlist(ExternalTool.Run("ntfsinfo", "-v", "-i", "0", Fixture.VolumePath), "$DATA");
        }

        public NtfsFixture Fixture { get; }
        public byte[] Image { get; }
        public List<(long Vcn, long Lcn, long Length)> MftRuns { get; }

        public void Dispose() => _tmp.Dispose();
    }

    private readonly NtfsFixture _fx = baseVolume.Fixture;
    private readonly byte[] _image = baseVolume.Image;
    private readonly List<(long Vcn, long Lcn, long Length)> _mftRuns = baseVolume.MftRuns;

    private NtfsVolume OpenCopy(byte[] image) => NtfsVolume.Open(new MemoryDisk(image));

    private byte[] Copy() => (byte[])_image.Clone();

    /// <summary>Volume offset of an MFT record, from $MFT's runlist as ntfsinfo prints it.</summary>
    private long RecordOffset(long record)
    {
        long vcn = record * RecordSize / ClusterSize;
        var run = _mftRuns.Single(r => vcn >= r.Vcn && vcn < r.Vcn + r.Length);
        return (run.Lcn + vcn - run.Vcn) * ClusterSize + record * RecordSize % ClusterSize;
    }

    private long Inode(string directory, string name)
    {
        foreach (var line in ExternalTool.Run("ntfsls", "-i", "-a", "-p", directory, _fx.VolumePath).Split('\n'))
        {
            var m = InodeLine().Match(line);
            if (m.Success && m.Groups[2].Value == name) return long.Parse(m.Groups[1].Value);
        }
        throw new InvalidOperationException($"ntfsls does not list {name} in {directory}");
    }

    private static List<(long, long, long)> Runlist(string ntfsinfo, string attribute)
    {
        var runs = new List<(long, long, long)>();
        bool inside = false;
        foreach (var line in ntfsinfo.Split('\n'))
        {
            if (line.StartsWith("Dumping attribute")) inside = line.StartsWith($"Dumping attribute {attribute} ");
            var m = RunLine().Match(line);
            if (inside && m.Success)
                runs.Add((Convert.ToInt64(m.Groups[1].Value, 16), Convert.ToInt64(m.Groups[2].Value, 16), Convert.ToInt64(m.Groups[3].Value, 16)));
        }
        return runs;
    }

    public static TheoryData<int, byte[], int, string> BootSectorDamage() => new()
    {
        { 3, "XTFS"u8.ToArray(), 3, "OEM id" },
        { 0x0B, [0x00, 0x03], 0x0B, "bytes per sector" },
        { 0x0D, [3], 0x0D, "sectors per cluster" },
        { 0x0D, [0xE0], 0x0D, "sectors per cluster" },
        { 0x0E, [1], 0x0E, "reserved sectors" },
        { 0x30, [0, 0, 0, 0, 0, 0, 0, 0x40], 0x30, "$MFT cluster" },
        { 0x40, [0], 0x40, "clusters per MFT record" },
        { 0x40, [0xEF], 0x40, "clusters per MFT record" },
        { 0x28, [0xFF, 0xFF, 0xFF, 0x00], 0x28, "do not fit" },
    };

    [Theory]
    [MemberData(nameof(BootSectorDamage))]
    public void DamagedBootSectorIsRejectedNamingTheField(int at, byte[] bytes, int expectedOffset, string expected)
    {
        var image = Copy();
        bytes.CopyTo(image, at);
        var disk = new MemoryDisk(image);
        Assert.False(NtfsVolume.Probe(disk));
        var e = Assert.Throws<NtfsException>(() => NtfsVolume.Open(disk));
        Assert.Equal(expectedOffset, e.Offset);
        Assert.Contains("boot sector", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void TheUndamagedCopyOpens()
    {
        var volume = OpenCopy(Copy());
        Assert.Equal(File.ReadAllBytes(_fx.Files[Victim]), volume.ReadFile(Victim));
    }

    [Fact]
    public void BadMagicOfMftRecordZeroFailsOpen()
    {
        var image = Copy();
        long at = RecordOffset(0);
        "FILX"u8.CopyTo(image.AsSpan((int)at));
        var e = Assert.Throws<NtfsException>(() => OpenCopy(image));
        Assert.Equal(at, e.Offset);
        Assert.Contains("MFT record 0", e.Message);
        Assert.Contains("expected \"FILE\"", e.Message);
    }

    [Fact]
    public void BadMagicOfAFileRecordFailsThatFileOnly()
    {
        var image = Copy();
        long record = Inode(VictimDirectory, VictimName), at = RecordOffset(record);
        Assert.Equal("FILE"u8.ToArray(), image.AsSpan((int)at, 4).ToArray());
        image[(int)at + 1] ^= 0x20;
        var volume = OpenCopy(image);
        var e = Assert.Throws<NtfsException>(() => volume.ReadFile(Victim));
        Assert.Equal(at, e.Offset);
        Assert.Contains($"MFT record {record}", e.Message);
        Assert.Throws<NtfsException>(() => volume.ListDirectory(VictimDirectory).ToList());
        Assert.Equal(File.ReadAllBytes(_fx.Files["/boot.ini"]), volume.ReadFile("/boot.ini"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void UpdateSequenceMismatchIsATornRecord(int sector)
    {
        var image = Copy();
        long record = Inode(VictimDirectory, VictimName), at = RecordOffset(record) + sector * 512 + 510;
        image[(int)at] ^= 0x5A;
        var volume = OpenCopy(image);
        var e = Assert.Throws<NtfsException>(() => volume.OpenFile(Victim));
        Assert.Equal(at, e.Offset);
        Assert.Contains($"MFT record {record}", e.Message);
        Assert.Contains($"update sequence mismatch at the end of sector {sector}", e.Message);
    }

    private NtfsVolume WithDataFlags(ushort flags)
    {
        var image = Copy();
        long record = Inode(VictimDirectory, VictimName), at = RecordOffset(record);
        int pos = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)at + 0x14));
        while (BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)at + pos)) != 0x80)
            pos += BinaryPrimitives.ReadInt32LittleEndian(image.AsSpan((int)at + pos + 4));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan((int)at + pos + 0x0C), flags);
        return OpenCopy(image);
    }

    [Fact]
    public void EncryptedFilesAreReportedAsSuch()
    {
        var volume = WithDataFlags(0x4000);
        var e = Assert.Throws<NotSupportedException>(() => volume.OpenFile(Victim));
        Assert.Contains("encrypted", e.Message);
        Assert.Contains(VictimName, e.Message);
        Assert.True(volume.FileExists(Victim));
    }

    [Fact]
    public void CompressedFlagWithoutACompressionUnitIsRejected()
    {
        var volume = WithDataFlags(0x0001);
        var e = Assert.Throws<NtfsException>(() => volume.ReadFile(Victim));
        Assert.Contains("compression unit of 2^0", e.Message);
    }

    [Fact]
    public void RunlistPointingPastTheVolumeIsRejected()
    {
        var image = Copy();
        long record = Inode(VictimDirectory, VictimName), at = RecordOffset(record);
        // Find the $DATA attribute record by walking the attribute headers (type, length) as laid out on disk.
        int pos = BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)at + 0x14));
        while (BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan((int)at + pos)) != 0x80)
            pos += BinaryPrimitives.ReadInt32LittleEndian(image.AsSpan((int)at + pos + 4));
        Assert.Equal(1, image[at + pos + 8]); // non-resident
        int pairs = pos + BinaryPrimitives.ReadUInt16LittleEndian(image.AsSpan((int)at + pos + 0x20));
        long pairsAt = at + pairs;
        Assert.True(pairs % 512 < 500, "the mapping pairs must not straddle a fix-up position");
        // One run of one cluster at LCN 0x7FFFFF, far past the 4095-cluster volume.
        new byte[] { 0x31, 0x01, 0xFF, 0xFF, 0x7F, 0x00 }.CopyTo(image, pairsAt);
        var volume = OpenCopy(image);
        var e = Assert.Throws<NtfsException>(() => volume.ReadFile(Victim));
        Assert.Equal(pairsAt, e.Offset);
        Assert.Contains("past the end of the 4095-cluster volume", e.Message);
    }

    /// <summary>The entries of the holey file's attribute list: (volume offset of the entry, its length).</summary>
    private List<(long At, int Length)> AttributeListEntries(out long record)
    {
        record = Inode("/", NtfsFixture.HoleyFile.TrimStart('/'));
        var dump = ExternalTool.Run("ntfsinfo", "-v", "-F", NtfsFixture.HoleyFile, _fx.VolumePath);
        long valueAt;
        var runs = Runlist(dump, "$ATTRIBUTE_LIST");
        if (runs.Count > 0)
        {
            valueAt = runs[0].Item2 * ClusterSize; // non-resident: no fix-ups inside
        }
        else
        {
            long at = RecordOffset(record);
            int pos = BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan((int)at + 0x14));
            while (BinaryPrimitives.ReadUInt32LittleEndian(_image.AsSpan((int)at + pos)) != 0x20)
                pos += BinaryPrimitives.ReadInt32LittleEndian(_image.AsSpan((int)at + pos + 4));
            valueAt = at + pos + BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan((int)at + pos + 0x14));
        }
        var entries = new List<(long, int)>();
        for (long e = valueAt; ; )
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(_image.AsSpan((int)e));
            int length = BinaryPrimitives.ReadUInt16LittleEndian(_image.AsSpan((int)e + 4));
            if (type == 0 || type > 0x100 || length < 0x1A) break;
            entries.Add((e, length));
            e += length;
        }
        Assert.True(entries.Count > 4, "the holey file's attribute list");
        return entries;
    }

    [Fact]
    public void AttributeListNamingAnotherFilesRecordIsRejected()
    {
        var image = Copy();
        var entries = AttributeListEntries(out _);
        // Point the last entry (a $DATA fragment in an extension record) at the root directory's record 5.
        BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan((int)entries[^1].At + 0x10), 5);
        var volume = OpenCopy(image);
        var e = Assert.Throws<NtfsException>(() => volume.ReadFile(NtfsFixture.HoleyFile));
        Assert.Contains("names MFT record 5", e.Message);
    }

    [Fact]
    public void AttributeListNamingTheBaseRecordItselfDoesNotLoop()
    {
        var image = Copy();
        var entries = AttributeListEntries(out long record);
        foreach (var (at, _) in entries) BinaryPrimitives.WriteUInt64LittleEndian(image.AsSpan((int)at + 0x10), (ulong)record);
        var volume = OpenCopy(image);
        // The extension records are no longer reached, so $DATA misses VCNs: an error, not a hang.
        var e = Assert.Throws<NtfsException>(() => volume.ReadFile(NtfsFixture.HoleyFile));
        Assert.Contains("not mapped", e.Message);
    }

    [Fact]
    public void BadIndexRecordMagicFailsTheListing()
    {
        var image = Copy();
        var runs = Runlist(ExternalTool.Run("ntfsinfo", "-v", "-F", "/wide", _fx.VolumePath), "$INDEX_ALLOCATION");
        long at = runs[0].Item2 * ClusterSize;
        Assert.Equal("INDX"u8.ToArray(), image.AsSpan((int)at, 4).ToArray());
        image[at] = (byte)'J';
        var volume = OpenCopy(image);
        var e = Assert.Throws<NtfsException>(() => volume.ListDirectory("/wide").ToList());
        Assert.Equal(at, e.Offset);
        Assert.Contains("expected \"INDX\"", e.Message);
    }

    /// <summary>Random damage to the MFT and the index records: every outcome is a result or a clean, typed error.</summary>
    [Fact]
    public void RandomDamageNeverCrashesOrHangs()
    {
        var image = Copy();
        var disk = new MemoryDisk(image);
        var random = new Random(7);
        long mftStart = RecordOffset(0);
        var wideIndex = Runlist(ExternalTool.Run("ntfsinfo", "-v", "-F", "/wide", _fx.VolumePath), "$INDEX_ALLOCATION");
        var targets = new List<(long Start, long Length)> { (mftStart, 100 * RecordSize), (0, 512) };
        targets.AddRange(wideIndex.Select(r => (r.Item2 * ClusterSize, r.Item3 * ClusterSize)));
        int clean = 0, typed = 0;
        for (int round = 0; round < Rounds; round++)
        {
            var changed = new List<(long, byte)>();
            for (int k = random.Next(1, 6); k > 0; k--)
            {
                var (start, length) = targets[random.Next(targets.Count)];
                long at = start + random.NextInt64(length);
                changed.Add((at, image[at]));
                image[at] = (byte)random.Next(256);
            }
            try
            {
                var volume = NtfsVolume.Open(disk);
                _ = volume.GetUsedExtents();
                _ = volume.Info;
                Walk(volume, "/", 0);
                clean++;
            }
            catch (Exception e) when (e is NtfsException or NotSupportedException or FileNotFoundException or DirectoryNotFoundException
                                      || (e is IOException && e.Message.Contains("limit")))
            {
                typed++;
            }
            for (int k = changed.Count - 1; k >= 0; k--) image[changed[k].Item1] = changed[k].Item2;
        }
        Assert.Equal(Rounds, clean + typed);
        Assert.True(typed > 0);
    }

    private static void Walk(NtfsVolume volume, string dir, int depth)
    {
        if (depth > 20) return;
        foreach (var e in volume.ListDirectory(dir).Take(5000))
        {
            if (e.Name.StartsWith('$') || e.Name == ".") continue;
            var path = dir.TrimEnd('/') + "/" + e.Name;
            if (e.IsDirectory) Walk(volume, path, depth + 1);
            else _ = volume.ReadFile(path, maxBytes: 16 << 20);
        }
    }

    [GeneratedRegex(@"^\s*(\d+)\s(.*)$")]
    private static partial Regex InodeLine();

    [GeneratedRegex(@"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s*$")]
    private static partial Regex RunLine();
}

/// <summary>A volume held in memory, so damage can be applied and undone without files.</summary>
internal sealed class MemoryDisk(byte[] bytes) : IVirtualDisk
{
    public long Length => bytes.Length;
    public int SectorSize => 512;
    public bool CanWrite => false;
    public void ReadAt(long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset + buffer.Length > bytes.Length) throw new VirtualDiskException("memory", offset, "read past the end");
        bytes.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
    }
    public void WriteAt(long offset, ReadOnlySpan<byte> data) => throw new NotSupportedException();
    public IEnumerable<Extent> AllocatedExtents() => [new Extent(0, bytes.Length)];
    public void Flush() { }
    public void Dispose() { }
}
