using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// NtfsVolume.CreateDirectory and Delete (what the fix-ups create, and what their undo removes), checked with ntfs-3g:
/// ntfsfix -n, ntfsls, ntfscat, ntfsinfo, and $Bitmap as ntfscat reads it.
/// </summary>
public sealed class NtfsCreateDirectoryAndDeleteTests(NtfsWriteFixture fx) : IClassFixture<NtfsWriteFixture>
{
    private static byte[] Bytes(int size, int seed)
    {
        var b = new byte[size];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static byte[] ClusterBitmap(string volume) => ExternalTool.RunBytes("ntfscat", "-i", "6", volume); // $Bitmap

    [Fact]
    public void NestedDirectoriesWithFilesAreCreatedAndDeletedBackToTheSameBitmap()
    {
        var path = fx.Copy(nameof(NestedDirectoriesWithFilesAreCreatedAndDeletedBackToTheSameBitmap));
        var bitmapBefore = ClusterBitmap(path);
        var expected = new Dictionary<string, byte[]>(fx.Files)
        {
            ["/WINDOWS/P2V/FirstBoot/firstboot.cmd"] = Bytes(300, 1),
            ["/WINDOWS/P2V/FirstBoot/01-big script.cmd"] = Bytes(50_000, 2), // non-resident: clusters to give back
        };
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            volume.CreateDirectory("/WINDOWS/P2V");
            volume.CreateDirectory("/WINDOWS/P2V/FirstBoot");
            foreach (var (name, data) in expected.Where(e => e.Key.StartsWith("/WINDOWS/P2V/"))) volume.CreateFile(name, data);
            Assert.Throws<IOException>(() => volume.CreateDirectory("/WINDOWS/p2v"));
            Assert.Equal("'/WINDOWS/P2V' is a directory that is not empty", volume.CheckDelete("/WINDOWS/P2V"));
        }
        NtfsWriteFixture.AssertHealthy(path, expected);
        Assert.Equal(["01-big script.cmd", "firstboot.cmd"], NtfsFixture.NtfsLsNames(path, "/WINDOWS/P2V/FirstBoot", dos: false).Order(StringComparer.Ordinal));
        var info = ExternalTool.Run("ntfsinfo", "-F", "/WINDOWS/P2V/FirstBoot", path);
        Assert.Contains("IN_USE DIRECTORY", info);
        Assert.Contains("$INDEX_ROOT", info);
        Assert.NotEqual(bitmapBefore, ClusterBitmap(path));

        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            foreach (var name in new[] { "/WINDOWS/P2V/FirstBoot/01-big script.cmd", "/WINDOWS/P2V/FirstBoot/firstboot.cmd", "/WINDOWS/P2V/FirstBoot", "/WINDOWS/P2V" })
            {
                Assert.Null(volume.CheckDelete(name));
                volume.Delete(name);
            }
            Assert.False(volume.DirectoryExists("/WINDOWS/P2V"));
        }
        NtfsWriteFixture.AssertHealthy(path, fx.Files);
        Assert.DoesNotContain("P2V", NtfsFixture.NtfsLsNames(path, "/WINDOWS", dos: false));
        Assert.Equal(bitmapBefore, ClusterBitmap(path)); // every cluster given back
    }

    [Fact]
    public void DeletingFromALargeDirectoryRemovesLeafEntriesAndRefusesInnerOnesWithNothingWritten()
    {
        var path = fx.Copy(nameof(DeletingFromALargeDirectoryRemovesLeafEntriesAndRefusesInnerOnesWithNothingWritten));
        var expected = new Dictionary<string, byte[]>(fx.Files);
        var deleted = new List<string>();
        string? inner = null;
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            // /wide holds 300 files (INDX blocks under the root): delete every 7th that sits in a leaf.
            for (int i = 0; i < 300; i += 7)
            {
                var name = $"/wide/entry-{i:D5}.txt";
                if (volume.CheckDelete(name) is { } why)
                {
                    Assert.Contains("inner node", why);
                    inner ??= name;
                    continue;
                }
                volume.Delete(name);
                expected.Remove(name);
                deleted.Add(name);
            }
            inner ??= Enumerable.Range(0, 300).Select(i => $"/wide/entry-{i:D5}.txt").FirstOrDefault(n => volume.CheckDelete(n) is not null);
        }
        Assert.True(deleted.Count > 30, $"{deleted.Count} deleted");
        NtfsWriteFixture.AssertHealthy(path, expected);
        var listed = NtfsFixture.NtfsLsNames(path, "/wide", dos: false);
        Assert.Equal(300 - deleted.Count, listed.Count);
        foreach (var name in deleted) Assert.DoesNotContain(name["/wide/".Length..], listed);

        Assert.NotNull(inner); // an entry that went up into the root when a block split
        var before = File.ReadAllBytes(path);
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var e = Assert.Throws<NotSupportedException>(() => NtfsVolume.Open(disk).Delete(inner!));
            Assert.Contains("inner node of the index", e.Message);
        }
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [SkippableFact]
    public void Ntfs3gFillsAndEmptiesADirectoryWeCreatedAndWeDeleteWhatItLeft()
    {
        Requires.Fuse();
        var path = fx.Copy(nameof(Ntfs3gFillsAndEmptiesADirectoryWeCreatedAndWeDeleteWhatItLeft));
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            volume.CreateDirectory("/made");
            volume.CreateFile("/made/OURS.TXT", Bytes(5000, 3));
        }
        // The kernel's view through ntfs-3g: our directory takes 60 new files (its root moves into INDX blocks), lists, and gives them up.
        Ntfs3gMount.With(path, path + ".mnt", mnt =>
        {
            var dir = Path.Combine(mnt, "made");
            Assert.Equal(Bytes(5000, 3), File.ReadAllBytes(Path.Combine(dir, "OURS.TXT")));
            for (int i = 0; i < 60; i++) File.WriteAllBytes(Path.Combine(dir, $"ntfs-3g file {i:D3}.bin"), Bytes(100 + i, i));
            Assert.Equal(61, Directory.GetFiles(dir).Length);
            for (int i = 0; i < 60; i++) File.Delete(Path.Combine(dir, $"ntfs-3g file {i:D3}.bin"));
        });
        NtfsWriteFixture.AssertHealthy(path, new Dictionary<string, byte[]>(fx.Files) { ["/made/OURS.TXT"] = Bytes(5000, 3) });
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            volume.Delete("/made/OURS.TXT"); // the last entry of the root's only block: the index becomes small again
        }
        NtfsWriteFixture.AssertHealthy(path, fx.Files);
        Assert.Empty(NtfsFixture.NtfsLsNames(path, "/made", dos: false));
        Ntfs3gMount.With(path, path + ".mnt2", mnt =>
        {
            var dir = Path.Combine(mnt, "made");
            Assert.Empty(Directory.GetFiles(dir));
            File.WriteAllBytes(Path.Combine(dir, "again.bin"), Bytes(10, 4));
            Assert.Single(Directory.GetFiles(dir));
            File.Delete(Path.Combine(dir, "again.bin"));
        });
        using (var disk = RawDisk.OpenReadWrite(path))
        {
            var volume = NtfsVolume.Open(disk);
            Assert.Null(volume.CheckDelete("/made"));
            volume.Delete("/made");
        }
        NtfsWriteFixture.AssertHealthy(path, fx.Files);
        Assert.DoesNotContain("made", NtfsFixture.NtfsLsNames(path, "/", dos: false));
    }
}
