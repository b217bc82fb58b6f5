using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using P2V.Imaging;
using P2V.Imaging.VirtualDisks;

namespace P2V.Cli.Commands;

/// <summary>disk create, disk info, disk convert: virtual disk files (raw, VHD, VHDX).</summary>
public static class DiskCommands
{
    public static void AddTo(RootCommand root)
    {
        var disk = CliHost.Group(root, "disk", "Virtual disk files: raw, VHD (fixed, dynamic, differencing) and VHDX");
        disk.Add(Create());
        disk.Add(Info());
        disk.Add(Repair());
        disk.Add(Convert());
    }

    /// <summary>The options that shape a new disk file, shared by create and convert.</summary>
    private sealed class LayoutOptions
    {
        public readonly Option<int?> SectorSize = CliOptions.SectorSize("Logical sector size (VHD: 512 only)");
        public readonly Option<long?> BlockSize = CliOptions.Size("--block-size", "Allocation block of a dynamic VHD or VHDX (e.g. 2M, 32M)");
        public readonly Option<bool> Preallocate = new("--preallocate") { Description = "Allocate every block now (a fixed VHDX's or raw file's space)" };
        public readonly Option<bool> ZeroFill = new("--zero-fill") { Description = "Allocate and write zeros to every block now" };

        public void AddTo(Command command)
        {
            command.Add(SectorSize);
            command.Add(BlockSize);
            command.Add(Preallocate);
            command.Add(ZeroFill);
            command.Validators.Add(r =>
            {
                if (r.GetValue(Preallocate) && r.GetValue(ZeroFill)) r.AddError("--preallocate and --zero-fill exclude each other");
                if (r.GetValue(BlockSize) is > 256L << 20) r.AddError("--block-size is at most 256M");
            });
        }

        public VirtualDiskCreateOptions Read(ParseResult r, int sourceSectorSize, VirtualDiskFormat format) => new()
        {
            SectorSize = VirtualDisk.SectorSizeFor(format, sourceSectorSize, r.GetValue(SectorSize)),
            BlockSize = (int?)r.GetValue(BlockSize),
            Preallocation = r.GetValue(ZeroFill) ? Preallocation.ZeroFill : r.GetValue(Preallocate) ? Preallocation.Allocate : Preallocation.Sparse,
        };
    }

    private static Command Create()
    {
        var file = new Argument<string>("file") { Description = "The disk file to create" };
        var size = CliOptions.Size("--size", "Virtual size (e.g. 512M, 40G)");
        size.Required = true;
        var format = CliOptions.DiskFormat("Disk format", required: true);
        var layout = new LayoutOptions();
        var command = new Command("create", "Create an empty raw, VHD or VHDX disk") { file, size, format };
        layout.AddTo(command);
        command.SetAction(r =>
        {
            var f = r.GetValue(format)!.Value;
            return CreateDisk(r.GetValue(file)!, r.GetValue(size)!.Value, f, layout.Read(r, 512, f));
        });
        return command;
    }

    private static Command Info()
    {
        var file = new Argument<string>("file") { Description = "A raw, VHD or VHDX file" };
        var json = CliOptions.Json();
        var command = new Command("info", "Show a disk file's format, size and allocation") { file, json };
        command.SetAction(r => ShowInfo(r.GetValue(file)!, r.GetValue(json)));
        return command;
    }

    private static Command Repair()
    {
        var file = new Argument<string>("file") { Description = "A VHD or VHDX file" };
        var command = new Command("repair", "Replay a VHDX log, or restore a VHD's damaged footer from its copy") { file };
        command.SetAction(r => RepairDisk(r.GetValue(file)!));
        return command;
    }

    private static Command Convert()
    {
        var input = new Argument<string>("in") { Description = "The disk to copy (raw, VHD, VHDX)" };
        var output = new Argument<string>("out") { Description = "The new disk file" };
        var format = CliOptions.DiskFormat("Format of the new disk", required: true);
        var sync = new Option<bool>("--sync") { Description = "Flush the new disk to stable storage before exiting" };
        var layout = new LayoutOptions();
        var command = new Command("convert", "Copy a disk into another format, only its allocated, non-zero ranges") { input, output, format, sync };
        layout.AddTo(command);
        command.SetAction((r, ct) => ConvertDisk(r.GetValue(input)!, r.GetValue(output)!, r.GetValue(format)!.Value,
            sectorSize => layout.Read(r, sectorSize, r.GetValue(format)!.Value), r.GetValue(sync), ct));
        return command;
    }

    private static int CreateDisk(string path, long size, VirtualDiskFormat format, VirtualDiskCreateOptions options)
    {
        // Made under NAME.partial and renamed: a kill or a full disk leaves no half-made disk under its real name.
        var (length, sectorSize) = AtomicFile.Create(path, partial =>
        {
            using var disk = VirtualDisk.Create(partial, format, size, options);
            disk.Flush();
            return (disk.Length, disk.SectorSize);
        });
        Console.WriteLine($"{path}: {VirtualDisk.FormatName(format)}, {length:N0} bytes, {sectorSize}-byte sectors");
        return 0;
    }

    private static int ShowInfo(string path, bool json)
    {
        using var disk = VirtualDisk.Open(path);
        var i = VirtualDisk.Describe(disk, path);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new DiskSummary(path, i.Format, i.Length, i.LogicalSectorSize, i.PhysicalSectorSize, i.BlockSize,
                i.FileSize, i.AllocatedBytes, i.AllocatedExtents, i.Creator, i.DiskId, i.Parent, i.Geometry), CliJsonContext.Default.DiskSummary));
            return 0;
        }
        Console.WriteLine($"file:           {path}");
        Console.WriteLine($"format:         {i.Format}");
        Console.WriteLine($"virtual size:   {i.Length:N0} bytes ({ByteSize.Format(i.Length)})");
        Console.WriteLine($"sector size:    {i.LogicalSectorSize} logical, {i.PhysicalSectorSize} physical");
        if (i.BlockSize is { } bs) Console.WriteLine($"block size:     {ByteSize.Format(bs)}");
        if (i.Geometry != null) Console.WriteLine($"geometry (CHS): {i.Geometry}");
        Console.WriteLine($"file size:      {i.FileSize:N0} bytes");
        Console.WriteLine($"allocated:      {i.AllocatedBytes:N0} bytes in {i.AllocatedExtents} extents");
        if (i.Creator != null) Console.WriteLine($"creator:        {i.Creator}");
        if (i.DiskId != null) Console.WriteLine($"disk id:        {i.DiskId}");
        if (i.Parent != null) Console.WriteLine($"parent:         {i.Parent}");
        return 0;
    }

    private static int RepairDisk(string path)
    {
        // Opening writable is the repair: VHDX replays its log, VHD rewrites its end footer from the copy at offset 0.
        using (var disk = VirtualDisk.Open(path, writable: true)) disk.Flush();
        using (var disk = VirtualDisk.Open(path))
            Console.WriteLine($"{path}: {VirtualDisk.Describe(disk, path).Format}, {disk.Length:N0} bytes, consistent");
        return 0;
    }

    private static Task<int> ConvertDisk(string input, string output, VirtualDiskFormat format, Func<int, VirtualDiskCreateOptions> layout, bool sync,
        CancellationToken ct)
    {
        if (FileStatus.Of(input).IsSameFileAs(FileStatus.Of(output))) throw new UsageException("<in> and <out> are the same file");
        AtomicFile.CheckTarget(output);
        var sw = Stopwatch.StartNew();
        using var source = VirtualDisk.Open(input);
        var options = layout(source.SectorSize);
        // Like qemu-img convert (cache=unsafe), the data is left to the page cache unless --sync asks for it on disk;
        // either way the copy is made under NAME.partial and only a complete one gets the real name.
        long written = AtomicFile.Create(output, partial =>
        {
            using var target = VirtualDisk.Create(partial, format, source.Length, options);
            long n = VirtualDiskCopier.Copy(source, target, ct);
            if (sync) target.Flush();
            return n;
        }, durable: sync);
        Console.WriteLine($"{output}: {VirtualDisk.FormatName(format)}, {source.Length:N0} bytes; copied {written:N0} bytes of data in {sw.Elapsed.TotalSeconds:F1} s");
        return Task.FromResult(0);
    }
}
