using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Ntfs;

/// <summary>
/// A 32 MiB volume made by mkntfs and filled by wimapply with a Windows-like tree (small and wide directories,
/// resident and non-resident files); each test writes to its own copy and checks it with ntfs-3g's tools.
/// </summary>
public sealed class NtfsWriteFixture : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public NtfsWriteFixture()
    {
        var tree = Directory.CreateDirectory(_tmp.File("tree")).FullName;
        var random = new Random(5);
        void Put(string path, int size)
        {
            var host = Path.Combine(tree, path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(host)!);
            var data = new byte[size];
            random.NextBytes(data);
            File.WriteAllBytes(host, data);
            Files[path] = data;
        }
        Put("/boot.ini", 210);
        Put("/WINDOWS/system32/hal.dll", 81_000);
        Put("/WINDOWS/system32/ntoskrnl.exe", 2_100_000);
        for (int i = 0; i < 12; i++) Put($"/WINDOWS/system32/drivers/drv{i:D2}.sys", 3000 + 500 * i);
        for (int i = 0; i < 300; i++) Put($"/wide/entry-{i:D5}.txt", random.Next(0, 400));
        Put("/small/a.txt", 10);
        Directory.CreateDirectory(Path.Combine(tree, "empty"));

        BaseVolume = _tmp.File("base.img");
        using (var f = File.Create(BaseVolume)) f.SetLength(32L << 20);
        ExternalTool.RunWith("mkntfs", ["-F", "-Q", "-q", "-c", "4096", BaseVolume], stdin: null);
        var wim = _tmp.File("tree.wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", BaseVolume);
    }

    public string BaseVolume { get; }
    public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

    /// <summary>A fresh copy of the volume for one test.</summary>
    public string Copy(string name)
    {
        var path = _tmp.File(name + ".img");
        File.Copy(BaseVolume, path, overwrite: true);
        return path;
    }

    public static NtfsVolume OpenWritable(string path, out IVirtualDisk disk)
    {
        disk = RawDisk.OpenReadWrite(path);
        return NtfsVolume.Open(disk);
    }

    /// <summary>ntfs-3g's own checks: ntfsfix -n finds nothing to fix, and every file of the tree still reads byte for byte.</summary>
    public static void AssertHealthy(string volume, IReadOnlyDictionary<string, byte[]> expected)
    {
        var fix = ExternalTool.Try("ntfsfix", "-n", volume);
        Assert.True(fix.ExitCode == 0, $"ntfsfix -n failed: {fix.StdOut}{fix.StdErr}");
        Assert.DoesNotContain("fix", fix.StdOut.Replace("was processed successfully", ""), StringComparison.OrdinalIgnoreCase);
        foreach (var (path, data) in expected)
            Assert.True(data.AsSpan().SequenceEqual(ExternalTool.RunBytes("ntfscat", volume, path)), $"ntfscat {path} differs");
    }

    public void Dispose() => _tmp.Dispose();
}
