using System.Text.RegularExpressions;

namespace P2V.Imaging.Tests.Fat;

/// <summary>
/// A FAT volume made by mkfs.fat and filled by mtools: nested directories, long names, empty and multi-cluster
/// files, some deleted again (mdel, mdeltree) so that the FAT has holes, and a late file that is written into
/// those holes and so is fragmented. <see cref="Files"/> holds what must read back afterwards.
/// </summary>
public sealed partial class FatFixture
{
    public required string ImagePath { get; init; }
    public required Dictionary<string, byte[]> Files { get; init; }

    public static FatFixture Make(TempDirectory dir, string name, string mkfsOptions, long kib, string label, int seed)
    {
        var image = dir.File(name);
        ExternalTool.RunWith("mkfs.fat", [.. mkfsOptions.Split(' ', StringSplitOptions.RemoveEmptyEntries), "-n", label, "-C", image, kib.ToString()], stdin: null);
        var random = new Random(seed);
        var files = new Dictionary<string, byte[]>();
        var host = Directory.CreateDirectory(dir.File(name + ".src")).FullName;
        int n = 0;

        void Put(string path, int size)
        {
            var data = new byte[size];
            random.NextBytes(data);
            var local = Path.Combine(host, $"f{n++}");
            File.WriteAllBytes(local, data);
            ExternalTool.Run("mcopy", "-i", image, local, "::" + path);
            files[path] = data;
        }
        void Delete(string path)
        {
            ExternalTool.Run("mdel", "-i", image, "::" + path);
            files.Remove(path);
        }

        ExternalTool.Run("mmd", "-i", image, "::/Documents", "::/Documents/Nested Folder", "::/tmp", "::/tmp/deep");
        Put("/empty.txt", 0);
        Put("/one.bin", 1);
        Put("/A file with a long name.dat", 5_000);
        Put("/Documents/report.doc", 70_000);
        Put("/Documents/Nested Folder/photo.jpg", 150_000);
        Put("/tmp/scratch1.bin", 40_000);
        Put("/tmp/deep/scratch2.bin", 20_000);
        Put("/hole1.bin", 30_000);
        Put("/keep.bin", 10_000);
        Put("/hole2.bin", 25_000);
        for (int i = 0; i < 40; i++) Put($"/Documents/small{i:D2}.txt", random.Next(10, 3_000)); // grows the directory past one cluster
        Delete("/hole1.bin");
        Delete("/hole2.bin");
        for (int i = 0; i < 40; i += 3) Delete($"/Documents/small{i:D2}.txt");
        ExternalTool.Run("mdeltree", "-i", image, "::/tmp");
        foreach (var key in files.Keys.Where(k => k.StartsWith("/tmp/")).ToList()) files.Remove(key);
        Put("/late fragmented.bin", 120_000);
        return new FatFixture { ImagePath = image, Files = files };
    }

    public sealed record FsckFigures(int BytesPerCluster, long DataClusters, long Files, long UsedClusters);

    /// <summary>dosfstools' own reading of the volume: "N files, U/T clusters", counting bad clusters as used.</summary>
    public static FsckFigures Fsck(string image)
    {
        var r = ExternalTool.Try("fsck.fat", "-n", "-v", image);
        Assert.True(r.ExitCode == 0, $"fsck.fat -n found errors:\n{r.StdOut}{r.StdErr}");
        var summary = Summary().Match(r.StdOut);
        Assert.True(summary.Success, r.StdOut);
        return new FsckFigures(
            int.Parse(BytesPerCluster().Match(r.StdOut).Groups[1].Value),
            long.Parse(summary.Groups[3].Value),
            long.Parse(summary.Groups[1].Value),
            long.Parse(summary.Groups[2].Value));
    }

    [GeneratedRegex(@"(\d+) files?, (\d+)/(\d+) clusters")]
    private static partial Regex Summary();

    [GeneratedRegex(@"(\d+) bytes per cluster")]
    private static partial Regex BytesPerCluster();
}
