using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;

namespace P2V.Cli.Commands;

/// <summary>capture, restore, image info, image verify.</summary>
public static class ImagingCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Add(Capture());
        root.Add(Restore());
        var image = CliHost.Group(root, "image", "Inspect and check P2V images");
        image.Add(Info());
        image.Add(Verify());
    }

    private static Command Capture()
    {
        var disk = new Argument<string>("disk") { Description = "Block device, raw disk image, VHD or VHDX to capture" };
        var output = CliOptions.Output("The image file to write, or - for standard output (or --store)", helpName: "IMAGE|-");
        var store = StoreCommands.StoreOption(required: false);
        var name = new Option<string>("--name") { Description = "The image's name in the store (with --store)", HelpName = "NAME" };
        var token = StoreCommands.TokenOption();
        var raw = new Option<bool>("--raw") { Description = "Copy every sector, not only the used clusters" };
        var rawOnDamage = new Option<bool>("--raw-on-damage")
        {
            Description = "Capture a volume whose file system is damaged (an NTFS $Bitmap that contradicts its MFT) raw, with a warning, instead of failing",
        };
        var sectorSize = CliOptions.SectorSize("Sector size of a raw disk image (default: 512)");
        var source = new Option<string>("--source") { Description = "A description of the source (e.g. its inventory XML) stored in the image", HelpName = "FILE" };
        var workers = CliOptions.Workers();
        var json = CliOptions.Json();
        var command = new Command("capture", "Capture a disk's used data (block device, raw image, VHD, VHDX) into a P2V image")
            { disk, output, store, name, token, raw, rawOnDamage, sectorSize, source, workers, json };
        command.SetAction((r, ct) =>
        {
            if ((r.GetValue(output) is null) == (r.GetValue(store) is null)) throw new UsageException(r.GetValue(output) is null ? "missing option --output (or --store URL --name NAME)" : "give -o IMAGE or --store URL, not both");
            if (r.GetValue(store) is not null && r.GetValue(name) is null) throw new UsageException("--store needs --name NAME");
            var target = r.GetValue(store) is { } url ? new CaptureTarget(null, url, r.GetValue(name), r.GetValue(token)) : new CaptureTarget(r.GetValue(output), null, null, null);
            return CaptureAsync(r.GetValue(disk)!, target, r.GetValue(raw), r.GetValue(rawOnDamage), r.GetValue(sectorSize) ?? 512,
                r.GetValue(source), r.GetValue(workers), r.GetValue(json), ct);
        });
        return command;
    }

    private static Command Restore()
    {
        var image = new Argument<string>("image") { Description = "The P2V image to restore: an image file, or STORE/images/NAME (STORE a controller's URL or a store folder)" };
        var target = new Argument<string>("target") { Description = "A new disk file, or an existing disk file or block device to write in place" };
        var token = StoreCommands.TokenOption();
        var format = CliOptions.DiskFormat("Format of a new target (default: from its extension, .vhd, .vhdx, else raw)");
        var workers = CliOptions.Workers();
        var json = CliOptions.Json();
        var command = new Command("restore", "Restore a P2V image (a file, or from a store) onto a disk file or block device") { image, target, format, token, workers, json };
        command.SetAction((r, ct) => RestoreAsync(r.GetValue(image)!, r.GetValue(target)!, r.GetValue(format), r.GetValue(token), r.GetValue(workers), r.GetValue(json), ct));
        return command;
    }

    private static Command Info()
    {
        var image = new Argument<string>("image") { Description = "The P2V image" };
        var json = CliOptions.Json();
        var command = new Command("info", "Show what an image holds: disk, partitions, volumes, chunks") { image, json };
        command.SetAction(r => ShowInfo(r.GetValue(image)!, r.GetValue(json)));
        return command;
    }

    private static Command Verify()
    {
        var image = new Argument<string>("image") { Description = "The P2V image" };
        var workers = CliOptions.Workers();
        var json = CliOptions.Json();
        var command = new Command("verify", "Decompress and hash-check every chunk of an image") { image, workers, json };
        command.SetAction((r, ct) => VerifyAsync(r.GetValue(image)!, r.GetValue(workers), r.GetValue(json), ct));
        return command;
    }

    internal static string ToolVersion =>
        "p2v " + (typeof(ImagingCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0");

    /// <summary>Where a capture goes: an image file (or -), or an image in a store.</summary>
    private sealed record CaptureTarget(string? Output, string? Store, string? Name, string? Token);

    private static async Task<int> CaptureAsync(string source, CaptureTarget target, bool raw, bool rawOnDamage, int sectorSize, string? sourceFile, int workers, bool json,
        CancellationToken cancel)
    {
        string description = sourceFile is { } f ? await File.ReadAllTextAsync(f, cancel) : "";

        using var disk = VirtualDisk.Open(source, sectorSize: sectorSize);
        var plan = CapturePlanner.Plan(disk, raw, description, ToolVersion, rawOnDamage);
        foreach (var warning in plan.Warnings) Console.Error.WriteLine($"capture: warning: {warning}");
        if (!json)
        {
            Console.Error.WriteLine($"capture: {source}: {ByteSize.Format(disk.Length)}, {plan.Header.TableKind} partition table, {ByteSize.Format(plan.BytesToRead)} to read");
            foreach (var v in plan.Header.Volumes)
                Console.Error.WriteLine($"  volume {v.Index}: {v.Kind}{(v.PartitionNumber > 0 ? $" (partition {v.PartitionNumber})" : "")} {ByteSize.Format(v.Length)}, {ByteSize.Format(v.DeclaredUsedBytes)} used{(v.Label.Length > 0 ? $", \"{v.Label}\"" : "")}");
        }

        var pipeline = (Action<PipelineProgress> progress) => new CapturePipeline { Workers = workers, Progress = progress };
        CaptureResult result;
        StoreCaptureSink? sink = null;
        string output = target.Output ?? $"{target.Store}/images/{target.Name}";
        if (target.Store is not null)
        {
            (result, sink) = await StoreCommands.CaptureAsync(disk, plan, target.Store, target.Name!, target.Token, workers, json, cancel);
        }
        else if (output == "-")
        {
            using var stdout = Console.OpenStandardOutput();
            using var buffered = new BufferedStream(stdout, 1 << 20);
            result = await ProgressDisplay.RunAsync("capture", json, p => pipeline(p).RunAsync(disk, plan, buffered, cancel));
        }
        else
        {
            result = await AtomicFile.WriteAsync(output, async stream =>
                await ProgressDisplay.RunAsync("capture", json, p => pipeline(p).RunAsync(disk, plan, stream, cancel)));
        }

        if (json)
        {
            var o = new JsonObject
            {
                ["image"] = output,
                ["bytesRead"] = result.BytesRead,
                ["bytesCaptured"] = result.BytesCaptured,
                ["zeroBytesSkipped"] = result.ZeroBytesSkipped,
                ["imageBytes"] = result.ImageBytes,
                ["chunks"] = result.Chunks,
                ["seconds"] = result.Elapsed.TotalSeconds,
                ["cpuSeconds"] = result.CpuTime.TotalSeconds,
                ["bytesSent"] = sink?.BytesWritten,
                ["chunksSent"] = sink?.ChunksSent,
                ["chunksDeduplicated"] = sink?.ChunksDeduplicated,
                ["storedBytes"] = sink?.StoredBytes,
                ["warnings"] = new JsonArray(plan.Warnings.Select(w => (JsonNode)w).ToArray()),
                ["volumes"] = new JsonArray(result.Volumes.Select(v => (JsonNode)new JsonObject
                {
                    ["index"] = v.VolumeIndex, ["declaredUsedBytes"] = v.DeclaredUsedBytes, ["bytesRead"] = v.BytesRead,
                    ["bytesCaptured"] = v.BytesCaptured, ["zeroBytesSkipped"] = v.ZeroBytesSkipped,
                }).ToArray()),
            };
            Console.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else if (sink is not null)
        {
            Console.Error.WriteLine($"capture: done: {ByteSize.Format(result.BytesRead)} read in {result.Elapsed.TotalSeconds:F1} s ({ByteSize.Rate(result.BytesRead, result.Elapsed)}), " +
                $"{result.Chunks} chunks: {sink.ChunksSent} sent ({ByteSize.Format(sink.BytesWritten)}), {sink.ChunksDeduplicated} already in the store; committed as {output}");
        }
        else
        {
            Console.Error.WriteLine($"capture: done: {ByteSize.Format(result.BytesRead)} read in {result.Elapsed.TotalSeconds:F1} s ({ByteSize.Rate(result.BytesRead, result.Elapsed)}), " +
                $"{result.Chunks} chunks, image {ByteSize.Format(result.ImageBytes)} ({100.0 * result.ImageBytes / Math.Max(1, result.BytesRead):F0}% of used), {ByteSize.Format(result.ZeroBytesSkipped)} zero blocks skipped");
        }
        return 0;
    }

    private static async Task<int> RestoreAsync(string imagePath, string targetPath, VirtualDiskFormat? askedFormat, string? token, int workers, bool json,
        CancellationToken cancel)
    {
        var format = askedFormat ?? FormatFromExtension(targetPath);

        IImageSource image;
        IDisposable? owner;
        if (P2V.Store.StoreLocation.IsImageReference(imagePath))
        {
            var (source, store) = await StoreCommands.OpenImageAsync(imagePath, token, cancel);
            (image, owner) = (source, store);
        }
        else
        {
            var reader = ImageReader.Open(imagePath);
            (image, owner) = (reader, reader);
        }
        using var _ = owner;
        var h = image.Header;
        RestoreResult result;
        if (File.Exists(targetPath)) // a block device exists too
        {
            // An existing disk or device is written in place; zero chunks are written too.
            using var target = VirtualDisk.Open(targetPath, writable: true);
            result = await ProgressDisplay.RunAsync("restore", json, p =>
                new RestorePipeline { Workers = workers, Progress = p }.RunAsync(image, target, cancel));
        }
        else
        {
            result = await AtomicFile.CreateAsync(targetPath, async partial =>
            {
                using var target = VirtualDisk.Create(partial, format, h.DiskLength, h.SectorSize);
                return await ProgressDisplay.RunAsync("restore", json, p =>
                    new RestorePipeline { Workers = workers, Progress = p, TargetIsBlank = true }.RunAsync(image, target, cancel));
            });
        }

        if (json)
            Console.WriteLine(new JsonObject
            {
                ["target"] = targetPath, ["format"] = format.ToString(), ["bytesWritten"] = result.BytesWritten,
                ["zeroBytesSkipped"] = result.ZeroBytesSkipped, ["chunks"] = result.Chunks,
                ["seconds"] = result.Elapsed.TotalSeconds, ["cpuSeconds"] = result.CpuTime.TotalSeconds,
            }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        else
            Console.Error.WriteLine($"restore: done: {ByteSize.Format(result.BytesWritten)} written to {targetPath} in {result.Elapsed.TotalSeconds:F1} s ({ByteSize.Rate(result.BytesWritten + result.ZeroBytesSkipped, result.Elapsed)}), {result.Chunks} chunks verified");
        return 0;
    }

    private static VirtualDiskFormat FormatFromExtension(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".vhd" => VirtualDiskFormat.VhdDynamic,
        ".vhdx" => VirtualDiskFormat.Vhdx,
        _ => VirtualDiskFormat.Raw,
    };

    private static int ShowInfo(string path, bool json)
    {
        using var image = ImageReader.Open(path);
        var h = image.Header;
        var t = image.Trailer;
        if (json)
        {
            var o = new JsonObject
            {
                ["diskBytes"] = h.DiskLength, ["sectorSize"] = h.SectorSize, ["partitionTable"] = h.TableKind.ToString(),
                ["created"] = h.Created.ToString("O"), ["tool"] = h.ToolVersion, ["chunks"] = t.Chunks.Count,
                ["uncompressedBytes"] = t.TotalUncompressed, ["storedBytes"] = t.TotalStored, ["fileBytes"] = image.FileLength,
                ["volumes"] = new JsonArray(h.Volumes.Select(v =>
                {
                    var s = t.Volumes.FirstOrDefault(x => x.VolumeIndex == v.Index);
                    return (JsonNode)new JsonObject
                    {
                        ["index"] = v.Index, ["kind"] = v.Kind.ToString(), ["partition"] = v.PartitionNumber, ["offset"] = v.Offset,
                        ["length"] = v.Length, ["clusterSize"] = v.ClusterSize, ["label"] = v.Label, ["extents"] = v.Extents.Count,
                        ["declaredUsedBytes"] = v.DeclaredUsedBytes, ["bytesRead"] = s?.BytesRead, ["bytesCaptured"] = s?.BytesCaptured,
                        ["zeroBytesSkipped"] = s?.ZeroBytesSkipped,
                    };
                }).ToArray()),
                ["source"] = h.SourceDescription,
            };
            Console.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine($"image:      {path} ({ByteSize.Format(image.FileLength)})");
        Console.WriteLine($"created:    {h.Created:u} by {h.ToolVersion}");
        Console.WriteLine($"disk:       {ByteSize.Format(h.DiskLength)} ({h.DiskLength} bytes), {h.SectorSize}-byte sectors, {h.TableKind} partition table");
        Console.WriteLine($"chunks:     {t.Chunks.Count}, {ByteSize.Format(t.TotalUncompressed)} of data stored in {ByteSize.Format(t.TotalStored)} ({100.0 * t.TotalStored / Math.Max(1, t.TotalUncompressed):F0}%)");
        Console.WriteLine("volumes:");
        foreach (var v in h.Volumes)
        {
            var s = t.Volumes.FirstOrDefault(x => x.VolumeIndex == v.Index);
            Console.WriteLine($"  {v.Index}: {v.Kind,-12} {(v.PartitionNumber > 0 ? $"partition {v.PartitionNumber}" : ""),-12} at {v.Offset,14:N0}  {ByteSize.Format(v.Length),10}  " +
                $"cluster {v.ClusterSize,6}  declared {ByteSize.Format(v.DeclaredUsedBytes),10}  captured {ByteSize.Format(s?.BytesCaptured ?? 0),10}  zero-skipped {ByteSize.Format(s?.ZeroBytesSkipped ?? 0),10}  {v.Label}");
        }
        if (h.SourceDescription.Length > 0) Console.WriteLine($"source:     {h.SourceDescription.Length} characters of description");
        return 0;
    }

    private static async Task<int> VerifyAsync(string path, int workers, bool json, CancellationToken cancel)
    {
        using var image = ImageReader.Open(path);
        var result = await ProgressDisplay.RunAsync("verify", json, p =>
            new RestorePipeline { Workers = workers, Progress = p, VerifyOnly = true }.RunAsync(image, null, cancel));
        if (json)
            Console.WriteLine(new JsonObject { ["image"] = path, ["ok"] = true, ["chunks"] = result.Chunks, ["bytes"] = image.Trailer.TotalUncompressed }.ToJsonString());
        else
            Console.WriteLine($"verify: ok: {result.Chunks} chunks, {ByteSize.Format(image.Trailer.TotalUncompressed)} checked against their BLAKE3 hashes");
        return 0;
    }
}
