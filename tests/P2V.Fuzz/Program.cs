using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;
using SharpFuzz;

// One fuzz target per on-disk structure, plus "open", which writes the input to a file and opens it as a disk.
// Corrupt input must end in VirtualDiskException; anything else (or a hang) is a finding.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: P2V.Fuzz vhd-footer|vhd-header|vhdx-header|vhdx-regions|vhdx-metadata|vhdx-log|open [input-file]");
    return 2;
}
Action<byte[]> target = args[0] switch
{
    "vhd-footer" => b => VhdFooter.Parse(b, "fuzz", 0),
    "vhd-header" => b =>
    {
        var h = VhdDynamicHeader.Parse(b, "fuzz", 0);
        foreach (var l in h.ParentLocators) l.DecodePath(b.AsSpan(0, (int)Math.Min(l.DataLength, (uint)b.Length)));
    },
    "vhdx-header" => b => VhdxHeader.Parse(b, "fuzz", 0),
    "vhdx-regions" => b => VhdxRegionTable.Parse(b, "fuzz", 0),
    "vhdx-metadata" => b =>
    {
        var table = VhdxMetadataTable.Parse(b, b.Length, "fuzz", 0);
        if (VhdxMetadata.NeededLength(table) <= b.Length) VhdxMetadata.Parse(table, b, "fuzz", 0);
    },
    "vhdx-log" => b =>
    {
        // The log GUID is taken from where the first entry keeps it, so valid entries can be found and mutated.
        if (b.Length >= 4096) VhdxLog.ActiveSequence(b.AsSpan(0, b.Length / 4096 * 4096), new Guid(b.AsSpan(32, 16)));
    },
    "open" => OpenAsDisk,
    _ => throw new ArgumentException($"unknown target {args[0]}"),
};

if (args.Length > 1)
{
    // Replays one input (a crash AFL saved) outside AFL.
    Run(File.ReadAllBytes(args[1]));
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    Run(ms.ToArray());
});
return 0;

void Run(byte[] input)
{
    try
    {
        target(input);
    }
    catch (VirtualDiskException)
    {
    }
}

static void OpenAsDisk(byte[] input)
{
    string path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"p2v-fuzz-{Environment.ProcessId}.img");
    File.WriteAllBytes(path, input);
    try
    {
        using var disk = VirtualDisk.Open(path);
        if (disk is RawDisk) return;
        var buf = new byte[64 * 1024];
        foreach (var e in disk.AllocatedExtents().Take(16))
            disk.ReadAt(e.Offset, buf.AsSpan(0, (int)Math.Min(buf.Length, e.Length)));
        disk.ReadAt(0, buf.AsSpan(0, (int)Math.Min(buf.Length, disk.Length)));
    }
    finally
    {
        File.Delete(path);
    }
}
