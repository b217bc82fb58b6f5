using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// ReplaceFile on files the fix-ups meet on old servers, made by the ntfs-3g FUSE driver: an NTFS-compressed file
/// (a directory marked compressed, as \WINDOWS often was on NT 4.0 and 2000), a sparse file, a file whose 40 hard
/// links push its $FILE_NAMEs into extension records ($ATTRIBUTE_LIST), and a file of alternating data and holes
/// whose $DATA is split over several MFT records. After our write, ntfs-3g's tools and its driver must read the new
/// content, find nothing to fix, and account every cluster: deleting the file through the driver frees exactly what
/// deleting the original frees.
/// </summary>
public sealed partial class NtfsReplaceSpecialFilesTests : IClassFixture<NtfsReplaceSpecialFilesTests.Volume>
{
    public const string Compressed = "/WINDOWS/system32/hal.dll";
    public const string Sparse = "/WINDOWS/system32/config/SYSTEM";
    public const string Linked = "/WINDOWS/system32/config/SOFTWARE";
    public const string Split = "/WINDOWS/system32/config/SECURITY";
    public const string Bystander = "/WINDOWS/system32/ntoskrnl.exe";

    /// <summary>One volume for the class, written through the FUSE driver; each test replaces files in its own copy.</summary>
    public sealed class Volume : IDisposable
    {
        private readonly TempDirectory _tmp = new();

        public Volume()
        {
            if (!Requires.CanMountNtfs) return;
            Path = _tmp.File("base.img");
            NtfsFixture.Format(Path, 48 << 20, 4096);
            var random = new Random(11);
            Ntfs3gMount.With(Path, _tmp.File("mnt"), mnt =>
            {
                var system32 = Directory.CreateDirectory(mnt + "/WINDOWS/system32/config").Parent!.FullName;
                var config = system32 + "/config";
                MarkCompressed(system32);
                Put(mnt, Compressed, System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(i => $"HAL routine {i}\r\n"))));
                var kernel = new byte[700_000];
                random.NextBytes(kernel);
                Put(mnt, Bystander, kernel);

                // Sparse: a hole, 40 KiB of data, a hole to 6 MiB.
                var sparse = new byte[6 << 20];
                random.NextBytes(sparse.AsSpan(1 << 20, 40_960));
                using (var f = File.Create(mnt + Sparse))
                {
                    f.SetLength(sparse.Length);
                    f.Position = 1 << 20;
                    f.Write(sparse, 1 << 20, 40_960);
                }
                Files[Sparse] = sparse;

                var software = new byte[300_000];
                random.NextBytes(software);
                Put(mnt, Linked, software);
                for (int i = 0; i < 40; i++) Link(mnt + Linked, config + $"/SOFTWARE.hardlink-{i:D2}-with-a-long-name");

                // Alternating data and holes, a cluster each: more runs than one MFT record holds.
                var split = new byte[1199 * 8192 + 4096]; // ends with data
                using (var f = File.Create(mnt + Split))
                {
                    var chunk = new byte[4096];
                    for (int i = 0; i < 1200; i++)
                    {
                        random.NextBytes(chunk);
                        f.Position = i * 8192L;
                        f.Write(chunk);
                        chunk.CopyTo(split, i * 8192);
                    }
                }
                Files[Split] = split;
            }, "no_detach,compression");
        }

        public string? Path { get; }
        public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

        private void Put(string mnt, string path, byte[] data)
        {
            File.WriteAllBytes(mnt + path, data);
            Files[path] = data;
        }

        public string Copy(string name)
        {
            var path = _tmp.File(name + ".img");
            File.Copy(Path!, path, overwrite: true);
            return path;
        }

        public string Mount(string name) => _tmp.File(name);

        public void Dispose() => _tmp.Dispose();
    }

    private readonly Volume _volume;

    public NtfsReplaceSpecialFilesTests(Volume volume) => _volume = volume;

    [LibraryImport("libc", EntryPoint = "setxattr", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SetXattr(string path, string name, byte[] value, nuint size, int flags);

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LinkNative(string existing, string created);

    private static void Link(string existing, string created)
    {
        if (LinkNative(existing, created) != 0) throw new IOException($"link {created} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>ntfs-3g exposes the Windows file attributes as the big-endian xattr system.ntfs_attrib_be.</summary>
    private static void MarkCompressed(string directory)
    {
        byte[] value = [0x00, 0x00, 0x08, 0x00]; // FILE_ATTRIBUTE_COMPRESSED
        if (SetXattr(directory, "system.ntfs_attrib_be", value, (nuint)value.Length, 0) != 0)
            throw new IOException($"setxattr on {directory} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [GeneratedRegex(@"Free Clusters:\s+(\d+)")]
    private static partial Regex FreeClusters();

    private static long Free(string image) => long.Parse(FreeClusters().Match(ExternalTool.Run("ntfsinfo", "-m", image)).Groups[1].Value);

    /// <summary>Deletes <paramref name="path"/> (and its hard links) through the ntfs-3g driver and returns the free clusters after.</summary>
    private long FreeAfterDeleting(string image, string path, string mountName)
    {
        Ntfs3gMount.With(image, _volume.Mount(mountName), mnt =>
        {
            foreach (var f in Directory.GetFiles(Path.GetDirectoryName(mnt + path)!, Path.GetFileName(path) + "*")) File.Delete(f);
        });
        var fix = ExternalTool.Try("ntfsfix", "-n", image);
        Assert.True(fix.ExitCode == 0, $"ntfsfix -n after deleting {path}: {fix.StdOut}{fix.StdErr}");
        return Free(image);
    }

    [GeneratedRegex(@"Dumping attribute \$DATA \(0x80\) from mft record (\d+)")]
    private static partial Regex DataRecord();

    private static void Preconditions(string image, string path, string expect)
    {
        var info = ExternalTool.Run("ntfsinfo", "-v", "-F", path, image);
        Assert.Contains(expect, info);
        if (path == Split)
        {
            int records = DataRecord().Matches(info).Select(m => m.Groups[1].Value).Distinct().Count();
            Assert.True(records >= 2, $"precondition: $DATA spread over several MFT records, ntfsinfo shows {records}");
        }
    }

    public static TheoryData<string, string, int> Cases() => new()
    {
        { Compressed, "COMPRESSED", 200_000 },
        { Compressed, "COMPRESSED", 100 },
        { Sparse, "SPARSE_FILE", 3_000_000 },
        { Sparse, "SPARSE_FILE", 300 },
        { Linked, "$ATTRIBUTE_LIST", 500_000 },
        { Linked, "$ATTRIBUTE_LIST", 50 },
        { Split, "$ATTRIBUTE_LIST", 1_000_000 },
        { Split, "$ATTRIBUTE_LIST", 700 },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ReplacedFileReadsEverywhereAndLeaksNothing(string path, string precondition, int size)
    {
        Requires.Fuse();
        string name = $"{Path.GetFileName(path)}-{size}";
        var image = _volume.Copy(name);
        var reference = _volume.Copy(name + "-reference");
        Preconditions(image, path, precondition);
        var content = new byte[size];
        new Random(size).NextBytes(content);

        using (var disk = RawDisk.OpenReadWrite(image))
        {
            var volume = NtfsVolume.Open(disk);
            Assert.Null(volume.CheckReplaceFile(path, size));
            Assert.True(_volume.Files[path].AsSpan().SequenceEqual(volume.ReadFile(path)), "our reader reads the original");
            volume.ReplaceFile(path, content);
        }

        // ntfs-3g's tools: the new content, the untouched neighbours, nothing to fix, no sparse or compressed bit left.
        var expected = new Dictionary<string, byte[]>(_volume.Files) { [path] = content };
        NtfsWriteFixture.AssertHealthy(image, expected);
        var info = ExternalTool.Run("ntfsinfo", "-v", "-F", path, image);
        Assert.DoesNotContain("COMPRESSED", info);
        Assert.DoesNotContain("SPARSE", info);
        if (path == Linked) Assert.Equal(41, Regex.Matches(info, @"Dumping attribute \$FILE_NAME").Count);
        using (var disk = RawDisk.OpenRead(image))
            Assert.True(content.AsSpan().SequenceEqual(NtfsVolume.Open(disk).ReadFile(path)));

        // The driver reads it, and deleting it frees exactly the clusters that deleting the original frees.
        Ntfs3gMount.With(image, _volume.Mount(name + "-read"), mnt =>
            Assert.True(content.AsSpan().SequenceEqual(File.ReadAllBytes(mnt + path)), "the ntfs-3g driver reads the new content"));
        long freeOriginal = FreeAfterDeleting(reference, path, name + "-del-ref");
        long freeOurs = FreeAfterDeleting(image, path, name + "-del");
        Assert.Equal(freeOriginal, freeOurs);
    }
}
