using System.Text.RegularExpressions;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// NTFS volumes made by real tools: mkntfs formats a plain file, wimcapture packs a generated tree and
/// wimapply writes it into the volume through libntfs-3g. The tree has deep and wide directories (a $I30
/// index with several levels), mixed-case and Unicode names, multi-MiB files, a sparse file made by
/// truncate, and a file with so many sparse holes that its runlist needs an $ATTRIBUTE_LIST.
/// <see cref="Files"/> maps each file's path ('/'-separated) to the bytes written.
/// </summary>
public sealed partial class NtfsFixture
{
    public required string VolumePath { get; init; }
    public required string TreePath { get; init; }
    public required IReadOnlyDictionary<string, string> Files { get; init; } // volume path → host file

    public const string DeepDirectory = "/deep/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10/l11/l12/l13/l14/l15";

    /// <summary>A path far beyond Win32's MAX_PATH of 260: 30 levels of 40-character names.</summary>
    public static readonly string LongPath = string.Concat(Enumerable.Range(0, 30).Select(i => $"/level {i:D2} of a path longer than MAX_PATH")) + "/end.txt";
    public const string HoleyFile = "/holey.bin";
    public const string SparseFile = "/sparse.vhd";

    public static void Format(string path, long bytes, int clusterSize, int sectorSize = 512, string? label = null)
    {
        using (var f = File.Create(path)) f.SetLength(bytes);
        var args = new List<string> { "-F", "-Q", "-q", "-c", clusterSize.ToString(), "-s", sectorSize.ToString() };
        if (label != null) args.AddRange(["-L", label]);
        args.Add(path);
        ExternalTool.RunWith("mkntfs", args, stdin: null);
    }

    /// <summary>Formats a volume and fills it with a tree of <paramref name="smallFiles"/> small files plus the special ones.</summary>
    public static NtfsFixture Make(TempDirectory tmp, string name, long bytes, int clusterSize, int sectorSize = 512,
        int smallFiles = 400, int wideDirectoryFiles = 300, int bigFiles = 2, bool holey = true, int seed = 1)
    {
        var tree = Directory.CreateDirectory(tmp.File(name + ".tree")).FullName;
        var files = new Dictionary<string, string>(StringComparer.Ordinal);
        var random = new Random(seed);

        void Put(string path, int size)
        {
            var host = Path.Combine(tree, path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(host)!);
            var data = new byte[size];
            random.NextBytes(data);
            File.WriteAllBytes(host, data);
            files[path] = host;
        }

        for (int i = 0; i < smallFiles; i++) Put($"/dir{i % 12}/sub{i % 3}/file{i}.dat", random.Next(0, 6000));
        for (int i = 0; i < wideDirectoryFiles; i++) Put($"/wide/entry-{i:D5}-{(char)('a' + i % 26)}.txt", random.Next(0, 300));
        for (int i = 0; i < bigFiles; i++) Put($"/big/blob{i}.bin", (2 << 20) + random.Next(0, 1 << 20));
        Put("/boot.ini", 200);
        Put("/MixedCase Folder/ReadMe.TXT", 1234);
        Put("/Ünïcødé/日本語のファイル.txt", 777);
        Put("/Ünïcødé/Ελληνικά κείμενο.doc", 5000);
        Put(DeepDirectory + "/leaf.bin", 9000);
        Put("/empty.txt", 0);
        Put(LongPath, 321);

        // A sparse file as truncate and a seeking dd make it: a hole, data, a hole to the end.
        var sparse = Path.Combine(tree, SparseFile.TrimStart('/'));
        ExternalTool.Run("truncate", "-s", "6M", sparse);
        ExternalTool.Run("dd", "if=/dev/urandom", $"of={sparse}", "bs=4096", "seek=300", "count=8", "conv=notrunc", "status=none");
        files[SparseFile] = sparse;

        if (holey)
        {
            // Data and holes alternating, cluster-sized: thousands of runs, more than one MFT record holds.
            var holeyHost = Path.Combine(tree, HoleyFile.TrimStart('/'));
            using (var f = File.Create(holeyHost))
            {
                int unit = Math.Max(clusterSize, 4096);
                var chunk = new byte[unit];
                for (int i = 0; i < 1200; i++)
                {
                    random.NextBytes(chunk);
                    f.Position = (long)i * 2 * unit;
                    f.Write(chunk);
                }
            }
            files[HoleyFile] = holeyHost;
        }

        var volume = tmp.File(name);
        Format(volume, bytes, clusterSize, sectorSize);
        var wim = tmp.File(name + ".wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", volume);
        File.Delete(wim);
        return new NtfsFixture { VolumePath = volume, TreePath = tree, Files = files };
    }

    /// <summary>Names in a directory as `ntfsls -a -l` lists them, in its order, without "." and "..": (name, size).</summary>
    public static List<(string Name, long Size)> NtfsLs(string volume, string directory)
    {
        var result = new List<(string, long)>();
        foreach (var line in ExternalTool.Run("ntfsls", "-a", "-l", "-p", directory, volume).Split('\n'))
        {
            var m = LsLine().Match(line);
            if (!m.Success) continue;
            var name = m.Groups[2].Value;
            if (name is "." or "..") continue;
            result.Add((name, long.Parse(m.Groups[1].Value)));
        }
        return result;
    }

    /// <summary>Names `ntfsls -a` lists in a directory (with -x: the DOS names instead of the long ones), without "." and "..".</summary>
    public static List<string> NtfsLsNames(string volume, string directory, bool dos)
    {
        var args = new List<string> { "-a", "-p", directory, volume };
        if (dos) args.Insert(0, "-x");
        return ExternalTool.RunWith("ntfsls", args, stdin: null).StdOut.Split('\n')
            .Where(n => n.Length > 0 && n is not "." and not "..").ToList();
    }

    /// <summary>`ntfsinfo -m` as key → value.</summary>
    public static Dictionary<string, string> NtfsInfo(string volume)
    {
        var d = new Dictionary<string, string>();
        foreach (var line in ExternalTool.Run("ntfsinfo", "-m", volume).Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) d.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
        }
        return d;
    }

    [GeneratedRegex(@"^\s*(\d+)\s+\w{3}\s+\d+\s+\d\d:\d\d\s+\d{4}\s(.*)$")]
    private static partial Regex LsLine();
}
