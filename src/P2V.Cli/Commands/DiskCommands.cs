using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2V.Imaging;
using P2V.Imaging.VirtualDisks;

namespace P2V.Cli.Commands;

/// <summary>disk create, disk info, disk convert: virtual disk files (raw, VHD, VHDX).</summary>
public static class DiskCommands
{
    private const string Formats = "raw|vhd|vhd-fixed|vhdx|vhdx-fixed";

    public static void Register(CommandTable table)
    {
        table.Add(new Command("disk create", "Create an empty raw, VHD or VHDX disk",
            $"<file> --size S --format {Formats} [--sector-size 512|4096] [--block-size S] [--preallocate|--zero-fill]",
            ["preallocate", "zero-fill"], Create));
        table.Add(new Command("disk info", "Show a disk file's format, size and allocation",
            "<file> [--json]", ["json"], Info));
        table.Add(new Command("disk repair", "Replay a VHDX log, or restore a VHD's damaged footer from its copy",
            "<file>", [], Repair));
        table.Add(new Command("disk convert", "Copy a disk into another format, only its allocated, non-zero ranges",
            $"<in> <out> --format {Formats} [--sector-size 512|4096] [--block-size S] [--preallocate|--zero-fill] [--sync]",
            ["preallocate", "zero-fill", "sync"], Convert));
    }

    private static VirtualDiskCreateOptions CreateOptions(CommandArgs a, int defaultSectorSize, VirtualDiskFormat format)
    {
        bool vhd = format is VirtualDiskFormat.VhdDynamic or VirtualDiskFormat.VhdFixed;
        int? asked = a.Int("sector-size");
        // A 4096-byte-sector source's partition table counts 4 KiB sectors: a VHD (512 only) would misplace every partition.
        if (vhd && asked == null && defaultSectorSize != 512)
            throw new UsageException($"the source has {defaultSectorSize}-byte sectors and VHD has 512-byte sectors only: use vhdx, or --sector-size 512 to copy the bytes anyway");
        int sector = asked ?? (vhd ? 512 : defaultSectorSize);
        long? block = a.Size("block-size");
        bool zero = a.Flag("zero-fill"), prealloc = a.Flag("preallocate");
        if (zero && prealloc) throw new UsageException("--preallocate and --zero-fill exclude each other");
        if (block is > int.MaxValue) throw new UsageException("--block-size is at most 256M");
        return new VirtualDiskCreateOptions
        {
            SectorSize = sector,
            BlockSize = (int?)block,
            Preallocation = zero ? Preallocation.ZeroFill : prealloc ? Preallocation.Allocate : Preallocation.Sparse,
        };
    }

    private static Task<int> Create(CommandArgs a, CancellationToken ct)
    {
        string path = a.Positional(0, "file");
        long size = a.Size("size") ?? throw new UsageException("missing option --size");
        var format = VirtualDisk.ParseFormat(a.Required("format"));
        var options = CreateOptions(a, 512, format);
        a.EnsureAllUsed();
        using (var disk = VirtualDisk.Create(path, format, size, options))
        {
            disk.Flush();
            Console.WriteLine($"{path}: {VirtualDisk.FormatName(format)}, {disk.Length:N0} bytes, {disk.SectorSize}-byte sectors");
        }
        return Task.FromResult(0);
    }

    private static Task<int> Info(CommandArgs a, CancellationToken ct)
    {
        string path = a.Positional(0, "file");
        bool json = a.Flag("json");
        a.EnsureAllUsed();
        using var disk = VirtualDisk.Open(path);
        var i = VirtualDisk.Describe(disk, path);
        if (json)
        {
            var o = new JsonObject
            {
                ["file"] = path,
                ["format"] = i.Format,
                ["virtualSize"] = i.Length,
                ["logicalSectorSize"] = i.LogicalSectorSize,
                ["physicalSectorSize"] = i.PhysicalSectorSize,
                ["blockSize"] = i.BlockSize,
                ["fileSize"] = i.FileSize,
                ["allocatedBytes"] = i.AllocatedBytes,
                ["allocatedExtents"] = i.AllocatedExtents,
                ["creator"] = i.Creator,
                ["diskId"] = i.DiskId,
                ["parent"] = i.Parent,
                ["geometry"] = i.Geometry,
            };
            Console.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return Task.FromResult(0);
        }
        Console.WriteLine($"file:           {path}");
        Console.WriteLine($"format:         {i.Format}");
        Console.WriteLine($"virtual size:   {i.Length:N0} bytes ({Human(i.Length)})");
        Console.WriteLine($"sector size:    {i.LogicalSectorSize} logical, {i.PhysicalSectorSize} physical");
        if (i.BlockSize is { } bs) Console.WriteLine($"block size:     {Human(bs)}");
        if (i.Geometry != null) Console.WriteLine($"geometry (CHS): {i.Geometry}");
        Console.WriteLine($"file size:      {i.FileSize:N0} bytes");
        Console.WriteLine($"allocated:      {i.AllocatedBytes:N0} bytes in {i.AllocatedExtents} extents");
        if (i.Creator != null) Console.WriteLine($"creator:        {i.Creator}");
        if (i.DiskId != null) Console.WriteLine($"disk id:        {i.DiskId}");
        if (i.Parent != null) Console.WriteLine($"parent:         {i.Parent}");
        return Task.FromResult(0);
    }

    private static Task<int> Repair(CommandArgs a, CancellationToken ct)
    {
        string path = a.Positional(0, "file");
        a.EnsureAllUsed();
        // Opening writable is the repair: VHDX replays its log, VHD rewrites its end footer from the copy at offset 0.
        using (var disk = VirtualDisk.Open(path, writable: true)) disk.Flush();
        using (var disk = VirtualDisk.Open(path))
            Console.WriteLine($"{path}: {VirtualDisk.Describe(disk, path).Format}, {disk.Length:N0} bytes, consistent");
        return Task.FromResult(0);
    }

    private static Task<int> Convert(CommandArgs a, CancellationToken ct)
    {
        string input = a.Positional(0, "in"), output = a.Positional(1, "out");
        var format = VirtualDisk.ParseFormat(a.Required("format"));
        if (Path.GetFullPath(input) == Path.GetFullPath(output)) throw new UsageException("<in> and <out> are the same file");
        var sw = Stopwatch.StartNew();
        using var source = VirtualDisk.Open(input);
        var options = CreateOptions(a, source.SectorSize, format);
        bool sync = a.Flag("sync");
        a.EnsureAllUsed();
        long written = 0;
        using (var target = VirtualDisk.Create(output, format, source.Length, options))
        {
            written = VirtualDiskCopier.Copy(source, target, ct);
            // Like qemu-img convert (cache=unsafe), the data is left to the page cache unless --sync asks for it on disk.
            if (sync) target.Flush();
        }
        Console.WriteLine($"{output}: {VirtualDisk.FormatName(format)}, {source.Length:N0} bytes; copied {written:N0} bytes of data in {sw.Elapsed.TotalSeconds:F1} s");
        return Task.FromResult(0);
    }

    private static string Human(long bytes) => bytes switch
    {
        >= 1L << 40 => $"{bytes / (double)(1L << 40):0.##} TiB",
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.##} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.##} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.##} KiB",
        _ => $"{bytes} bytes",
    };
}
