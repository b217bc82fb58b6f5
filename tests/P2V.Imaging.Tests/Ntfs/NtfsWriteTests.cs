using System.Text.RegularExpressions;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

public sealed class NtfsWriteTests(NtfsWriteFixture fx) : IClassFixture<NtfsWriteFixture>
{
    private static byte[] Bytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static long FreeClusters(string volume) =>
        long.Parse(Regex.Match(ExternalTool.Run("ntfsinfo", "-m", volume), @"Free Clusters:\s*(\d+)").Groups[1].Value);

    [Fact]
    public void ReplaceGrowsAndShrinksThroughResidentAndNonResident()
    {
        var path = fx.Copy(nameof(ReplaceGrowsAndShrinksThroughResidentAndNonResident));
        var expected = new Dictionary<string, byte[]>(fx.Files);
        long freeBefore = FreeClusters(path);
        foreach (var (size, seed) in new[] { (100_000, 1), (3_500_000, 2), (700, 3), (0, 4), (4096, 5), (210, 6) })
        {
            var content = Bytes(size, seed);
            using (var disk = RawDisk.OpenReadWrite(path))
                NtfsVolume.Open(disk).ReplaceFile("/boot.ini", content);
            expected["/boot.ini"] = content;
            NtfsWriteFixture.AssertHealthy(path, expected);
            Assert.Matches($@"\b{size}\s+\w{{3}}.*boot\.ini", ExternalTool.Run("ntfsls", "-l", path));
        }
        // Back at the original size, resident again: every cluster taken on the way was given back.
        Assert.Equal(freeBefore, FreeClusters(path));

        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            var bigger = Bytes(2_500_000, 7);
            volume.ReplaceFile("/WINDOWS/system32/ntoskrnl.exe", bigger);
            expected["/WINDOWS/system32/ntoskrnl.exe"] = bigger;
            var smaller = Bytes(50_000, 8);
            volume.ReplaceFile("WINDOWS\\SYSTEM32\\HAL.DLL", smaller);
            expected["/WINDOWS/system32/hal.dll"] = smaller;
        }
        NtfsWriteFixture.AssertHealthy(path, expected);
        Assert.Contains("50000", ExternalTool.Run("ntfsinfo", "-F", "/WINDOWS/system32/hal.dll", path));
    }

    [Fact]
    public void AttributesAreSetAndClearedInStandardInformationAndTheIndex()
    {
        var path = fx.Copy(nameof(AttributesAreSetAndClearedInStandardInformationAndTheIndex));
        using (var disk = RawDisk.OpenReadWrite(path))
            NtfsVolume.Open(disk).SetFileAttributes("/boot.ini", FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly, 0);
        var info = ExternalTool.Run("ntfsinfo", "-F", "/boot.ini", path);
        Assert.Contains("READONLY HIDDEN SYSTEM", info);
        NtfsWriteFixture.AssertHealthy(path, fx.Files);

        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            var before = volume.SetFileAttributes("/boot.ini", 0, FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly);
            Assert.Equal(FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly, before & (FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly));
            Assert.Equal(0, (int)(volume.GetFileAttributes("/boot.ini") & (FileAttributes.System | FileAttributes.Hidden | FileAttributes.ReadOnly)));
        }
        Assert.DoesNotContain("HIDDEN", ExternalTool.Run("ntfsinfo", "-F", "/boot.ini", path));
        NtfsWriteFixture.AssertHealthy(path, fx.Files);
    }

    [Fact]
    public void CreatedFilesAreListedAndReadByNtfs3g()
    {
        var path = fx.Copy(nameof(CreatedFilesAreListedAndReadByNtfs3g));
        var expected = new Dictionary<string, byte[]>(fx.Files)
        {
            ["/small/new resident.txt"] = Bytes(300, 1),
            ["/small/NEWFILE.SYS"] = Bytes(70_000, 2),
            ["/wide/entry-00150-new.txt"] = Bytes(5, 3),
            ["/WINDOWS/system32/drivers/intelide.sys"] = Bytes(5_000, 4),
            ["/new in root.bin"] = Bytes(1, 5),
            ["/empty/zero.txt"] = [],
        };
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            foreach (var (name, data) in expected.Where(e => !fx.Files.ContainsKey(e.Key))) volume.CreateFile(name, data);
            Assert.Throws<IOException>(() => volume.CreateFile("/small/A.TXT", [1]));
        }
        NtfsWriteFixture.AssertHealthy(path, expected);
        var small = NtfsFixture.NtfsLsNames(path, "/small", dos: false);
        Assert.Equal(["a.txt", "new resident.txt", "NEWFILE.SYS"], small);
        Assert.Contains("entry-00150-new.txt", NtfsFixture.NtfsLsNames(path, "/wide", dos: false));
        Assert.Equal(301, NtfsFixture.NtfsLsNames(path, "/wide", dos: false).Count);
    }

    [Fact]
    public void ManyCreatedFilesSplitIndexNodesAndMoveTheRoot()
    {
        var path = fx.Copy(nameof(ManyCreatedFilesSplitIndexNodesAndMoveTheRoot));
        var expected = new Dictionary<string, byte[]>(fx.Files);
        var random = new Random(9);
        // Shuffled long names: inserts land all over the tree, so leaves split, then the root's block does.
        var names = Enumerable.Range(0, 400).Select(i => $"a rather long file name to fill index blocks quickly {i * 7919 % 400:D4}.dat").ToList();
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            foreach (var name in names)
            {
                var data = Bytes(random.Next(0, 2000), name.Length + name[^5]);
                volume.CreateFile("/empty/" + name, data);
                expected["/empty/" + name] = data;
            }
        }
        NtfsWriteFixture.AssertHealthy(path, expected);
        // ntfsls walks the blocks in allocation order (ntfs_readdir), so compare as sets; our reader walks the tree in order.
        var listed = NtfsFixture.NtfsLsNames(path, "/empty", dos: false);
        Assert.Equal(names.Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        using var readDisk = RawDisk.OpenRead(path);
        var reader = NtfsVolume.Open(readDisk);
        Assert.Equal(names.OrderBy(n => n, StringComparer.OrdinalIgnoreCase), reader.ListDirectory("/empty").Select(e => e.Name));
        Assert.Contains("$INDEX_ALLOCATION", ExternalTool.Run("ntfsinfo", "-v", "-F", "/empty", path), StringComparison.OrdinalIgnoreCase);
        foreach (var name in names.Take(40)) Assert.Equal(expected["/empty/" + name], reader.ReadFile("/empty/" + name));
    }

    [Fact]
    public void ATornRecordStopsTheWriteWithAPreciseErrorAndNothingWritten()
    {
        var path = fx.Copy(nameof(ATornRecordStopsTheWriteWithAPreciseErrorAndNothingWritten));
        long record = long.Parse(ExternalTool.Run("ntfsls", "-i", "-p", "/small", path).Split('\n').First(l => l.EndsWith(" a.txt")).Trim().Split(' ')[0]);
        long mftLcn = long.Parse(Regex.Match(ExternalTool.Run("ntfsinfo", "-m", path), @"LCN of Data Attribute for FILE_MFT:\s*(\d+)").Groups[1].Value);
        long offset = mftLcn * 4096 + record * 1024 + 510; // the end of the record's first sector, where the update sequence number goes
        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write)) { f.Position = offset; f.Write([0xEE, 0xEE]); }
        var before = File.ReadAllBytes(path);
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            var e = Assert.Throws<NtfsException>(() => volume.ReplaceFile("/small/a.txt", [1, 2, 3]));
            Assert.Contains($"MFT record {record}: update sequence mismatch at the end of sector 0 (found 0xEEEE", e.Message);
            Assert.Equal(offset, e.Offset);
            Assert.Throws<NtfsException>(() => volume.SetFileAttributes("/small/a.txt", FileAttributes.Hidden, 0));
        }
        Assert.Equal(before, File.ReadAllBytes(path));
    }
}
