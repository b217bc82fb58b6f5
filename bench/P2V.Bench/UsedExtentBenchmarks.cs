using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Bench;

/// <summary>
/// Building the used-extent map of an 8 GiB NTFS volume from its $Bitmap (256 KiB at 4 KiB clusters),
/// the first thing every capture does.
/// </summary>
public class UsedExtentBenchmarks
{
    private string _path = "";
    private RawDisk? _disk;
    private NtfsVolume? _volume;

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"p2v-bench-{Environment.ProcessId}.vol");
        using (var f = File.Create(_path)) f.SetLength(8L << 30);
        using var mkntfs = Process.Start("mkntfs", ["-F", "-Q", "-q", "-s", "512", "-c", "4096", _path])!;
        mkntfs.WaitForExit();
        _disk = RawDisk.OpenRead(_path);
        _volume = NtfsVolume.Open(_disk);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _disk?.Dispose();
        File.Delete(_path);
    }

    [Benchmark]
    public long UsedExtents() => _volume!.GetUsedExtents().UsedBytes;
}
