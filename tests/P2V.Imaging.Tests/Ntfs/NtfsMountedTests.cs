using System.Runtime.InteropServices;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// Volumes written through the ntfs-3g FUSE driver, for what wimapply cannot make: LZNT1-compressed files
/// (a directory marked compressed) and a file fragmented into the holes left by deleted files (ntfs-3g fills them a few dozen clusters at a time, so this one needs no attribute list; the sparse file of NtfsFixture does). Needs
/// /dev/fuse and root, as the test machine has; without them they are skipped.
/// </summary>
public sealed partial class NtfsMountedTests
{
    private static void WithMount(string image, string mountPoint, Action<string> write) =>
        Ntfs3gMount.With(image, mountPoint, write, "no_detach,compression");

    [System.Text.RegularExpressions.GeneratedRegex(@"^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s*$")]
    private static partial System.Text.RegularExpressions.Regex RunLine();

    [LibraryImport("libc", EntryPoint = "setxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetXattr(string path, string name, byte[] value, nuint size, int flags);

    /// <summary>ntfs-3g exposes the Windows file attributes as the big-endian xattr system.ntfs_attrib_be.</summary>
    private static void MarkCompressed(string directory)
    {
        byte[] value = [0x00, 0x00, 0x08, 0x00]; // FILE_ATTRIBUTE_COMPRESSED
        if (SetXattr(directory, "system.ntfs_attrib_be", value, (nuint)value.Length, 0) != 0)
            throw new IOException($"setxattr on {directory} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [SkippableFact]
    public void CompressedFilesDecompressAsNtfscatReadsThem()
    {
        Requires.Fuse();
        using var tmp = new TempDirectory();
        var image = tmp.File("c.img");
        NtfsFixture.Format(image, 32 << 20, 4096);
        var random = new Random(3);
        var files = new Dictionary<string, byte[]>();
        WithMount(image, tmp.File("mnt"), mnt =>
        {
            var dir = Path.Combine(mnt, "Compressed");
            Directory.CreateDirectory(dir);
            MarkCompressed(dir);
            var text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 40_000).Select(i => $"line {i} of the hive, compressible\r\n")));
            var noise = new byte[300_000];
            random.NextBytes(noise);
            var mixed = new byte[1_000_003];
            text.AsSpan(0, 200_000).CopyTo(mixed);            // compressed units
            noise.AsSpan(0, 150_000).CopyTo(mixed.AsSpan(500_000)); // stored units, zeros before and after: sparse units
            files["/Compressed/system.log"] = text;
            files["/Compressed/noise.bin"] = noise;
            files["/Compressed/mixed.bin"] = mixed;
            files["/Compressed/tiny.txt"] = "tiny"u8.ToArray();
            foreach (var (path, bytes) in files) File.WriteAllBytes(mnt + path, bytes);
        });
        Assert.Contains("COMPRESSED", ExternalTool.Run("ntfsinfo", "-F", "/Compressed/system.log", image));

        using var disk = RawDisk.OpenRead(image);
        var volume = NtfsVolume.Open(disk);
        foreach (var (path, bytes) in files)
        {
            var ours = volume.ReadFile(path);
            Assert.True(bytes.AsSpan().SequenceEqual(ours), $"{path} differs from what was written");
            Assert.True(ExternalTool.RunBytes("ntfscat", image, path).AsSpan().SequenceEqual(ours), $"{path} differs from ntfscat");
        }
        // Reads that start inside a compression unit and cross into the next.
        using var s = volume.OpenFile("/Compressed/mixed.bin");
        var piece = new byte[70_001];
        foreach (long at in new long[] { 65_530, 199_999, 495_000, 640_000, 1_000_003 - 70_001 })
        {
            s.Position = at;
            s.ReadExactly(piece);
            Assert.True(files["/Compressed/mixed.bin"].AsSpan((int)at, piece.Length).SequenceEqual(piece), $"at {at}");
        }
    }

    [SkippableFact]
    public void DosNamesAreNotLookedUpNorListed()
    {
        Requires.Fuse();
        using var tmp = new TempDirectory();
        var image = tmp.File("d.img");
        NtfsFixture.Format(image, 16 << 20, 4096);
        WithMount(image, tmp.File("mnt"), mnt =>
        {
            // Windows gives every long name an 8.3 alias: a second, DOS-namespace entry in the same $I30 index.
            var dir = Directory.CreateDirectory(Path.Combine(mnt, "Program Files")).FullName;
            for (int i = 0; i < 300; i++)
            {
                var file = Path.Combine(dir, $"Long Application Name {i:D3}.dll");
                File.WriteAllText(file, $"dll {i}");
                var alias = System.Text.Encoding.ASCII.GetBytes($"LO{i:D3}~1.DLL");
                if (SetXattr(file, "system.ntfs_dos_name", alias, (nuint)alias.Length, 0) != 0)
                    throw new IOException($"setting the DOS name of {file} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        });
        var dosNames = NtfsFixture.NtfsLsNames(image, "/Program Files", dos: true);
        Assert.Contains("LO123~1.DLL", dosNames); // the precondition: the aliases are on disk

        using var disk = RawDisk.OpenRead(image);
        var volume = NtfsVolume.Open(disk);
        var listed = volume.ListDirectory("/Program Files").Select(e => e.Name).ToList();
        Assert.Equal(NtfsFixture.NtfsLsNames(image, "/Program Files", dos: false).Order(StringComparer.Ordinal), listed.Order(StringComparer.Ordinal));
        Assert.Equal(300, listed.Count);
        Assert.DoesNotContain(listed, n => n.Contains('~'));
        Assert.False(volume.FileExists("/Program Files/LO123~1.DLL"));
        Assert.False(volume.FileExists("/PROGRA~1/Long Application Name 123.dll"));
        for (int i = 0; i < 300; i += 7)
            Assert.Equal($"dll {i}", System.Text.Encoding.ASCII.GetString(volume.ReadFile($"\\program files\\LONG APPLICATION NAME {i:D3}.DLL")));
    }

    [SkippableFact]
    public void FileFragmentedIntoHolesReads()
    {
        Requires.Fuse();
        using var tmp = new TempDirectory();
        var image = tmp.File("f.img");
        NtfsFixture.Format(image, 16 << 20, 4096);
        var random = new Random(5);
        byte[] fragmented = [];
        WithMount(image, tmp.File("mnt"), mnt =>
        {
            Directory.CreateDirectory(Path.Combine(mnt, "small"));
            var small = new byte[8192];
            for (int i = 0; i < 700; i++)
            {
                random.NextBytes(small);
                File.WriteAllBytes(Path.Combine(mnt, "small", $"s{i:D4}"), small);
            }
            // Fill what is left, then free every other small file: the free space is now 2-cluster holes.
            try
            {
                using var filler = File.Create(Path.Combine(mnt, "filler"));
                var block = new byte[1 << 16];
                while (true) filler.Write(block);
            }
            catch (IOException) { } // ENOSPC
            for (int i = 0; i < 700; i += 2) File.Delete(Path.Combine(mnt, "small", $"s{i:D4}"));
            fragmented = new byte[300 * 8192];
            random.NextBytes(fragmented);
            File.WriteAllBytes(Path.Combine(mnt, "fragmented.bin"), fragmented);
        });
        var dump = ExternalTool.Run("ntfsinfo", "-v", "-F", "/fragmented.bin", image);
        int runs = dump.Split('\n').Count(l => RunLine().IsMatch(l));
        Assert.True(runs >= 10, $"precondition: fragmented, but ntfsinfo shows {runs} runs"); // ntfs-3g fills the holes a few dozen clusters at a time

        using var disk = RawDisk.OpenRead(image);
        var volume = NtfsVolume.Open(disk);
        var ours = volume.ReadFile("/fragmented.bin");
        Assert.True(fragmented.AsSpan().SequenceEqual(ours));
        Assert.Equal(ExternalTool.RunBytes("ntfscat", image, "/fragmented.bin"), ours);
        Assert.Equal(350, volume.ListDirectory("/small").Count());
    }
}
