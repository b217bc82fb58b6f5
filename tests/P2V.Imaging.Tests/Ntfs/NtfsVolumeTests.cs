using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// Volumes of every cluster size mkntfs makes, filled by wimapply, read by our reader and checked against
/// ntfs-3g's own tools (ntfscat, ntfsls, ntfsinfo, ntfsfix) and blkid.
/// </summary>
public sealed class NtfsVolumeTests(NtfsVolumeTests.Volumes volumes) : IClassFixture<NtfsVolumeTests.Volumes>
{
    /// <summary>Each layout's filled volume, made once and shared by the tests that only read it.</summary>
    public sealed class Volumes : IDisposable
    {
        private readonly TempDirectory _tmp = new();
        private readonly Dictionary<string, NtfsFixture> _made = [];

        public NtfsFixture Get(Layout l)
        {
            lock (_made)
            {
                if (!_made.TryGetValue(l.Name, out var fx))
                    _made[l.Name] = fx = NtfsFixture.Make(_tmp, l.Name + ".img", l.MiB << 20, l.ClusterSize, l.SectorSize, l.SmallFiles, l.WideFiles, l.BigFiles, l.Holey);
                return fx;
            }
        }

        public void Dispose() => _tmp.Dispose();
    }

    public sealed record Layout(string Name, int ClusterSize, int SectorSize, long MiB, int SmallFiles, int WideFiles, int BigFiles, bool Holey)
    {
        public override string ToString() => Name;
    }

    public static TheoryData<Layout> Layouts() =>
    [
        new Layout("c512", 512, 512, 32, 300, 600, 2, true),
        new Layout("c4096", 4096, 512, 32, 400, 1500, 2, true),
        new Layout("c65536", 65536, 512, 64, 300, 300, 2, false),
        new Layout("s4096-c4096", 4096, 4096, 32, 200, 300, 1, true),
        new Layout("c128K", 128 * 1024, 512, 64, 100, 100, 1, false),
        new Layout("c2M", 2 * 1024 * 1024, 512, 128, 10, 50, 1, false),
    ];

    private NtfsFixture Make(TempDirectory tmp, Layout l) => volumes.Get(l);

    [Theory]
    [MemberData(nameof(Layouts))]
    public void EveryFileReadsAsNtfscatAndTheSourceHaveIt(Layout layout)
    {
        using var tmp = new TempDirectory();
        var fx = Make(tmp, layout);
        using var disk = RawDisk.OpenRead(fx.VolumePath, layout.SectorSize);
        Assert.True(NtfsVolume.Probe(disk));
        var volume = NtfsVolume.Open(disk);
        Assert.Equal(layout.ClusterSize, volume.ClusterSize);

        // ntfscat for a spread of files on every layout, for every file on the 4 KiB one; the source tree for all.
        int i = 0;
        foreach (var (path, host) in fx.Files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            Assert.True(volume.FileExists(path), path);
            var ours = volume.ReadFile(path);
            Assert.True(File.ReadAllBytes(host).AsSpan().SequenceEqual(ours), $"{path} differs from the source");
            if (layout.Name == "c4096" || i++ % 10 == 0 || path is NtfsFixture.HoleyFile or NtfsFixture.SparseFile)
                Assert.True(ExternalTool.RunBytes("ntfscat", fx.VolumePath, path).AsSpan().SequenceEqual(ours), $"{path} differs from ntfscat");
        }
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void DirectoriesListAsNtfslsListsThem(Layout layout)
    {
        using var tmp = new TempDirectory();
        var fx = Make(tmp, layout);
        using var disk = RawDisk.OpenRead(fx.VolumePath, layout.SectorSize);
        var volume = NtfsVolume.Open(disk);
        foreach (var dir in new[] { "/", "/wide", "/dir3/sub0", "/Ünïcødé", NtfsFixture.DeepDirectory, "/big" })
        {
            var expected = NtfsFixture.NtfsLs(fx.VolumePath, dir).Where(e => !(dir == "/" && e.Name.StartsWith('$'))).ToList();
            var ours = volume.ListDirectory(dir).Where(e => !(dir == "/" && e.Name.StartsWith('$'))).ToList();
            // ntfsls walks the index root, then the INDX records in VCN order; we walk the B+ tree in order.
            Assert.Equal(expected.OrderBy(e => e.Name, StringComparer.Ordinal), ours.Select(e => (e.Name, e.Size)).OrderBy(e => e.Name, StringComparer.Ordinal));
            var upper = ours.Select(e => e.Name.ToUpperInvariant()).ToList();
            Assert.Equal(upper.Order(StringComparer.Ordinal), upper); // collation order: upcased names
            foreach (var e in ours)
            {
                Assert.Equal(e.IsDirectory, (e.Attributes & FileAttributes.Directory) != 0);
                Assert.Equal(e.IsDirectory, volume.DirectoryExists(dir + "/" + e.Name));
            }
        }
        // The root holds the system files, which ntfsls -s shows.
        var root = volume.ListDirectory("\\").Select(e => e.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "$MFT", "$MFTMirr", "$LogFile", "$Volume", "$AttrDef", "$Bitmap", "$Boot", "$BadClus", "$Secure", "$UpCase", "$Extend" }, root);
    }

    [Fact]
    public void LookupIsCaseInsensitiveTakesBothSeparatorsAndRejectsWhatIsNotThere()
    {
        using var tmp = new TempDirectory();
        var fx = NtfsFixture.Make(tmp, "v.img", 32 << 20, 4096, smallFiles: 20, wideDirectoryFiles: 1500, bigFiles: 0, holey: false);
        using var disk = RawDisk.OpenRead(fx.VolumePath);
        var volume = NtfsVolume.Open(disk);
        var readme = File.ReadAllBytes(fx.Files["/MixedCase Folder/ReadMe.TXT"]);
        foreach (var spelling in new[] { "/MixedCase Folder/ReadMe.TXT", "\\mixedcase folder\\readme.txt", "MIXEDCASE FOLDER/README.TXT", "//MixedCase Folder\\\\ReadMe.txt" })
            Assert.Equal(readme, volume.ReadFile(spelling));
        Assert.Equal(File.ReadAllBytes(fx.Files["/Ünïcødé/Ελληνικά κείμενο.doc"]), volume.ReadFile("/üNÏCØDÉ/ΕΛΛΗΝΙΚΆ ΚΕΊΜΕΝΟ.DOC"));
        Assert.True(volume.FileExists("\\BOOT.INI"));
        Assert.True(volume.FileExists("/wide/ENTRY-01499-R.TXT"));
        Assert.True(volume.FileExists("/wide/entry-00000-a.txt"));
        Assert.False(volume.FileExists("/wide/entry-01500-s.txt"));
        Assert.False(volume.FileExists("/wide/entry-00000-a.tx"));
        Assert.False(volume.FileExists("/wide")); // a directory
        Assert.True(volume.DirectoryExists("/WIDE"));
        Assert.False(volume.FileExists("/boot.ini/x"));
        Assert.False(volume.FileExists("/nope/boot.ini"));
        Assert.True(volume.FileExists(NtfsFixture.DeepDirectory.ToUpperInvariant() + "\\LEAF.BIN"));
        var missing = Assert.Throws<FileNotFoundException>(() => volume.OpenFile("/no/such/file.txt"));
        Assert.Contains("/no/such/file.txt", missing.Message);
        Assert.Throws<FileNotFoundException>(() => volume.OpenFile("/wide"));
        Assert.Throws<DirectoryNotFoundException>(() => volume.ListDirectory("/boot.ini"));
        Assert.Throws<IOException>(() => volume.ReadFile(NtfsFixture.SparseFile, maxBytes: 1 << 20));
    }

    [Fact]
    public void StreamsSeekAndReadZerosInHolesAndPastValidData()
    {
        using var tmp = new TempDirectory();
        var fx = NtfsFixture.Make(tmp, "v.img", 32 << 20, 4096, smallFiles: 5, wideDirectoryFiles: 5, bigFiles: 1);
        using var disk = RawDisk.OpenRead(fx.VolumePath);
        var volume = NtfsVolume.Open(disk);
        var expected = File.ReadAllBytes(fx.Files[NtfsFixture.SparseFile]);
        using var s = volume.OpenFile(NtfsFixture.SparseFile);
        Assert.True(s.CanSeek);
        Assert.False(s.CanWrite);
        Assert.Equal(expected.Length, s.Length);
        var buffer = new byte[10_000];
        foreach (long at in new long[] { 0, 300 * 4096 - 5000, 300 * 4096 + 123, expected.Length - 10_000 })
        {
            s.Position = at;
            s.ReadExactly(buffer);
            Assert.True(expected.AsSpan((int)at, buffer.Length).SequenceEqual(buffer), $"at {at}");
        }
        s.Seek(-3, SeekOrigin.End);
        Assert.Equal(3, s.Read(buffer));
        Assert.Equal(0, s.Read(buffer));
        Assert.Throws<NotSupportedException>(() => s.Write(buffer, 0, 1));

        // ntfsinfo reports the sparse flag that made this a sparse read rather than a read of zeros on disk.
        Assert.Contains("SPARSE_FILE", ExternalTool.Run("ntfsinfo", "-F", NtfsFixture.SparseFile, fx.VolumePath));
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public void FileWithAnAttributeListReads(int clusterSize)
    {
        using var tmp = new TempDirectory();
        var fx = NtfsFixture.Make(tmp, "v.img", 32 << 20, clusterSize, smallFiles: 5, wideDirectoryFiles: 5, bigFiles: 0);
        var dump = ExternalTool.Run("ntfsinfo", "-F", NtfsFixture.HoleyFile, fx.VolumePath);
        Assert.Contains("$ATTRIBUTE_LIST", dump); // the precondition: its runlist did not fit one record
        Assert.True(dump.Split('\n').Count(l => l.StartsWith("Dumping attribute $DATA")) >= 3, "expected $DATA in several records");
        using var disk = RawDisk.OpenRead(fx.VolumePath);
        var volume = NtfsVolume.Open(disk);
        Assert.Equal(ExternalTool.RunBytes("ntfscat", fx.VolumePath, NtfsFixture.HoleyFile), volume.ReadFile(NtfsFixture.HoleyFile));
    }

    [Fact]
    public void FragmentedMftIsFollowed()
    {
        // A data file takes the space after the MFT zone, so the MFT, growing for thousands of files, must jump it.
        using var tmp = new TempDirectory();
        var tree = Directory.CreateDirectory(tmp.File("tree")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "many"));
        for (int i = 0; i < 2600; i++) File.WriteAllText(Path.Combine(tree, "many", $"f{i:D5}"), $"file {i}");
        File.WriteAllBytes(Path.Combine(tree, "aaa_filler"), new byte[9 << 20]);
        var image = tmp.File("v.img");
        NtfsFixture.Format(image, 16 << 20, 4096);
        ExternalTool.Run("wimcapture", tree, tmp.File("x.wim"), "--compress=none");
        ExternalTool.Run("wimapply", tmp.File("x.wim"), "1", image);
        var dump = ExternalTool.Run("ntfsinfo", "-v", "-i", "0", image);
        var mftData = dump[dump.IndexOf("Dumping attribute $DATA", StringComparison.Ordinal)..];
        mftData = mftData[..mftData.IndexOf("Dumping attribute", 10, StringComparison.Ordinal)];
        Assert.True(mftData.Split('\n').Count(l => l.TrimStart().StartsWith("0x")) >= 2, "precondition: $MFT in two or more runs\n" + mftData);

        using var disk = RawDisk.OpenRead(image);
        var volume = NtfsVolume.Open(disk);
        var names = volume.ListDirectory("/many").Select(e => e.Name).ToList();
        Assert.Equal(2600, names.Count);
        for (int i = 0; i < 2600; i++)
            Assert.Equal($"file {i}", System.Text.Encoding.ASCII.GetString(volume.ReadFile($"/many/f{i:D5}")));
        for (int i = 2599; i >= 0; i -= 97)
            Assert.Equal(ExternalTool.RunBytes("ntfscat", image, $"/many/f{i:D5}"), volume.ReadFile($"/many/f{i:D5}"));
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void InfoMatchesNtfsinfoAndBlkid(Layout layout)
    {
        using var tmp = new TempDirectory();
        var path = tmp.File("v.img");
        NtfsFixture.Format(path, layout.MiB << 20, layout.ClusterSize, layout.SectorSize, label: "FirstLabel");
        ExternalTool.Run("ntfslabel", "--force", path, "Système P2V");
        var info = NtfsFixture.NtfsInfo(path);
        using var disk = RawDisk.OpenRead(path, layout.SectorSize);
        var volume = NtfsVolume.Open(disk);
        var ours = volume.Info;
        Assert.Equal("Système P2V", ours.Label);
        Assert.Equal(info["Volume Name"], ours.Label);
        Assert.Equal(info["Volume Version"], ours.Version.ToString());
        Assert.Equal(int.Parse(info["Cluster Size"]), ours.ClusterSize);
        Assert.Equal(int.Parse(info["Sector Size"]), volume.BootSector.BytesPerSector);
        Assert.Equal(int.Parse(info["MFT Record Size"]), volume.BootSector.FileRecordSize);
        Assert.Equal(int.Parse(info["Index Block Size"]), volume.BootSector.IndexRecordSize);
        Assert.Equal(long.Parse(info["Volume Size in Clusters"]), volume.TotalClusters);
        Assert.Equal(Convert.ToInt32(info["Volume Flags"], 16), (int)ours.Flags);
        Assert.False(ours.IsDirty);
        long free = long.Parse(info["Free Clusters"].Split(' ')[0]);
        Assert.Equal(volume.TotalClusters - free, volume.BitmapUsedClusters);
        Assert.Equal(volume.BitmapUsedClusters * layout.ClusterSize, ours.UsedBytes);
        Assert.Equal(volume.TotalClusters * layout.ClusterSize, ours.TotalBytes);
        var uuid = ExternalTool.Run("blkid", "-p", "-o", "value", "-s", "UUID", path).Trim();
        Assert.Equal(uuid, ours.SerialNumber.ToString("X16"));
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void UsedExtentsAreTheBitmapPlusTheBackupBootSectorAndSufficeToRebuildTheVolume(Layout layout)
    {
        using var tmp = new TempDirectory();
        var fx = Make(tmp, layout);
        var info = NtfsFixture.NtfsInfo(fx.VolumePath);
        UsedExtentMap map;
        long used, volumeLength;
        using (var disk = RawDisk.OpenRead(fx.VolumePath, layout.SectorSize))
        {
            var volume = NtfsVolume.Open(disk);
            map = volume.GetUsedExtents();
            used = volume.BitmapUsedClusters;
            volumeLength = disk.Length;
            long clustersEnd = volume.TotalClusters * layout.ClusterSize;
            Assert.Equal(volume.TotalClusters - long.Parse(info["Free Clusters"].Split(' ')[0]), used);
            Assert.Equal(used * layout.ClusterSize + (volumeLength - clustersEnd), map.UsedBytes);
            Assert.True(map.Covers(volumeLength - layout.SectorSize, layout.SectorSize), "the backup boot sector");
            Assert.True(map.Covers(0, layout.SectorSize), "the boot sector");
            Assert.All(map.Extents.Where(e => e.End <= clustersEnd), e => Assert.Equal(0, e.Offset % layout.ClusterSize));

            // The same runs as a plain bit-by-bit walk of the $Bitmap that ntfscat extracts.
            var bitmap = ExternalTool.RunBytes("ntfscat", "-i", "6", fx.VolumePath);
            var naive = new List<Extent>();
            for (long c = 0; c < volume.TotalClusters; c++)
                if ((bitmap[c >> 3] & (1 << (int)(c & 7))) != 0) naive.Add(new Extent(c * layout.ClusterSize, layout.ClusterSize));
            naive.Add(new Extent(clustersEnd, volumeLength - clustersEnd));
            Assert.Equal(UsedExtentMap.From(naive).Extents, map.Extents);
        }

        // Copy only the used extents into an empty sparse file: ntfs-3g must read every file from it.
        var copy = tmp.File("copy.img");
        using (var source = RawDisk.OpenRead(fx.VolumePath, layout.SectorSize))
        using (var target = RawDisk.Create(copy, volumeLength, layout.SectorSize))
        {
            var buffer = new byte[1 << 20];
            foreach (var e in map.Extents)
            {
                for (long at = e.Offset; at < e.End; at += buffer.Length)
                {
                    var piece = buffer.AsSpan(0, (int)Math.Min(buffer.Length, e.End - at));
                    source.ReadAt(at, piece);
                    target.WriteAt(at, piece);
                }
            }
        }
        var fix = ExternalTool.Try("ntfsfix", "-n", copy);
        Assert.True(fix.ExitCode == 0, fix.StdOut + fix.StdErr);
        Assert.Contains("processed successfully", fix.StdOut);
        int i = 0;
        foreach (var (path, host) in fx.Files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            if (layout.Name != "c4096" && i++ % 5 != 0) continue;
            Assert.True(File.ReadAllBytes(host).AsSpan().SequenceEqual(ExternalTool.RunBytes("ntfscat", copy, path)), $"{path} differs in the copy");
        }
    }
}
