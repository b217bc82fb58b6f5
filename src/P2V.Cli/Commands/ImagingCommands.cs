using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

namespace P2V.Cli.Commands;

/// <summary>capture, restore, image info, image verify.</summary>
public static class ImagingCommands
{
    public static void Register(CommandTable table)
    {
        table.Add(new Command("capture", "Capture a disk's used data (block device, raw image, VHD, VHDX) into a P2V image",
            "<disk> -o <image|-> [--raw] [--sector-size 512|4096] [--source FILE] [--workers N] [--json]",
            ["raw", "json"], CaptureAsync));
        table.Add(new Command("restore", "Restore a P2V image onto a disk file or block device",
            "<image> <target> [--format raw|vhd|vhd-fixed|vhdx|vhdx-fixed] [--workers N] [--json]",
            ["json"], RestoreAsync));
        table.Add(new Command("image info", "Show what an image holds: disk, partitions, volumes, chunks",
            "<image> [--json]", ["json"], InfoAsync));
        table.Add(new Command("image verify", "Decompress and hash-check every chunk of an image",
            "<image> [--workers N] [--json]", ["json"], VerifyAsync));
    }

    internal static string ToolVersion =>
        "p2v " + (typeof(ImagingCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0");

    private static async Task<int> CaptureAsync(CommandArgs a, CancellationToken cancel)
    {
        string source = a.Positional(0, "disk");
        string output = a.Required("output");
        bool raw = a.Flag("raw"), json = a.Flag("json");
        int sectorSize = a.Int("sector-size") ?? 512;
        string description = a.Option("source") is { } f ? await File.ReadAllTextAsync(f, cancel) : "";
        int workers = a.Int("workers") ?? Environment.ProcessorCount;
        a.EnsureAllUsed();

        using var disk = VirtualDisk.Open(source, sectorSize: sectorSize);
        var plan = CapturePlanner.Plan(disk, raw, description, ToolVersion);
        if (!json)
        {
            Console.Error.WriteLine($"capture: {source}: {Format.Bytes(disk.Length)}, {plan.Header.TableKind} partition table, {Format.Bytes(plan.BytesToRead)} to read");
            foreach (var v in plan.Header.Volumes)
                Console.Error.WriteLine($"  volume {v.Index}: {v.Kind}{(v.PartitionNumber > 0 ? $" (partition {v.PartitionNumber})" : "")} {Format.Bytes(v.Length)}, {Format.Bytes(v.DeclaredUsedBytes)} used{(v.Label.Length > 0 ? $", \"{v.Label}\"" : "")}");
        }

        var pipeline = (Action<PipelineProgress> progress) => new CapturePipeline { Workers = workers, Progress = progress };
        CaptureResult result;
        if (output == "-")
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
                ["volumes"] = new JsonArray(result.Volumes.Select(v => (JsonNode)new JsonObject
                {
                    ["index"] = v.VolumeIndex, ["declaredUsedBytes"] = v.DeclaredUsedBytes, ["bytesRead"] = v.BytesRead,
                    ["bytesCaptured"] = v.BytesCaptured, ["zeroBytesSkipped"] = v.ZeroBytesSkipped,
                }).ToArray()),
            };
            Console.WriteLine(o.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Console.Error.WriteLine($"capture: done: {Format.Bytes(result.BytesRead)} read in {result.Elapsed.TotalSeconds:F1} s ({Format.Rate(result.BytesRead, result.Elapsed)}), " +
                $"{result.Chunks} chunks, image {Format.Bytes(result.ImageBytes)} ({100.0 * result.ImageBytes / Math.Max(1, result.BytesRead):F0}% of used), {Format.Bytes(result.ZeroBytesSkipped)} zero blocks skipped");
        }
        return 0;
    }

    private static async Task<int> RestoreAsync(CommandArgs a, CancellationToken cancel)
    {
        string imagePath = a.Positional(0, "image"), targetPath = a.Positional(1, "target");
        var format = a.Option("format") is { } f ? VirtualDisk.ParseFormat(f) : FormatFromExtension(targetPath);
        bool json = a.Flag("json");
        int workers = a.Int("workers") ?? Environment.ProcessorCount;
        a.EnsureAllUsed();

        using var image = ImageReader.Open(imagePath);
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
            Console.Error.WriteLine($"restore: done: {Format.Bytes(result.BytesWritten)} written to {targetPath} in {result.Elapsed.TotalSeconds:F1} s ({Format.Rate(result.BytesWritten + result.ZeroBytesSkipped, result.Elapsed)}), {result.Chunks} chunks verified");
        return 0;
    }

    private static VirtualDiskFormat FormatFromExtension(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".vhd" => VirtualDiskFormat.VhdDynamic,
        ".vhdx" => VirtualDiskFormat.Vhdx,
        _ => VirtualDiskFormat.Raw,
    };

    private static Task<int> InfoAsync(CommandArgs a, CancellationToken cancel)
    {
        string path = a.Positional(0, "image");
        bool json = a.Flag("json");
        a.EnsureAllUsed();
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
            return Task.FromResult(0);
        }
        Console.WriteLine($"image:      {path} ({Format.Bytes(image.FileLength)})");
        Console.WriteLine($"created:    {h.Created:u} by {h.ToolVersion}");
        Console.WriteLine($"disk:       {Format.Bytes(h.DiskLength)} ({h.DiskLength} bytes), {h.SectorSize}-byte sectors, {h.TableKind} partition table");
        Console.WriteLine($"chunks:     {t.Chunks.Count}, {Format.Bytes(t.TotalUncompressed)} of data stored in {Format.Bytes(t.TotalStored)} ({100.0 * t.TotalStored / Math.Max(1, t.TotalUncompressed):F0}%)");
        Console.WriteLine("volumes:");
        foreach (var v in h.Volumes)
        {
            var s = t.Volumes.FirstOrDefault(x => x.VolumeIndex == v.Index);
            Console.WriteLine($"  {v.Index}: {v.Kind,-12} {(v.PartitionNumber > 0 ? $"partition {v.PartitionNumber}" : ""),-12} at {v.Offset,14:N0}  {Format.Bytes(v.Length),10}  " +
                $"cluster {v.ClusterSize,6}  declared {Format.Bytes(v.DeclaredUsedBytes),10}  captured {Format.Bytes(s?.BytesCaptured ?? 0),10}  zero-skipped {Format.Bytes(s?.ZeroBytesSkipped ?? 0),10}  {v.Label}");
        }
        if (h.SourceDescription.Length > 0) Console.WriteLine($"source:     {h.SourceDescription.Length} characters of description");
        return Task.FromResult(0);
    }

    private static async Task<int> VerifyAsync(CommandArgs a, CancellationToken cancel)
    {
        string path = a.Positional(0, "image");
        bool json = a.Flag("json");
        int workers = a.Int("workers") ?? Environment.ProcessorCount;
        a.EnsureAllUsed();
        using var image = ImageReader.Open(path);
        var result = await ProgressDisplay.RunAsync("verify", json, p =>
            new RestorePipeline { Workers = workers, Progress = p, VerifyOnly = true }.RunAsync(image, null, cancel));
        if (json)
            Console.WriteLine(new JsonObject { ["image"] = path, ["ok"] = true, ["chunks"] = result.Chunks, ["bytes"] = image.Trailer.TotalUncompressed }.ToJsonString());
        else
            Console.WriteLine($"verify: ok: {result.Chunks} chunks, {Format.Bytes(image.Trailer.TotalUncompressed)} checked against their BLAKE3 hashes");
        return 0;
    }
}
