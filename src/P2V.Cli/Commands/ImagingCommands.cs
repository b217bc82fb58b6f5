using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using P2V.Imaging;
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
        var source = new Option<string>("--source") { Description = "A description of the source (e.g. its inventory XML, at most 4 MiB) stored in the image", HelpName = "FILE" };
        var workers = CliOptions.Workers();
        var codec = CliOptions.Parsed("--codec",
            "Chunk compression: lz4 (fastest, the default), zstd (level 1: smaller, for slow links), or auto (per chunk, LZ4 or zstd at level 1 to 9, from how fast the destination takes bytes)",
            ParseCodec, "lz4|zstd|auto", "lz4", "zstd", "auto");
        var json = CliOptions.Json("Print the result as JSON instead of the summary (on standard error with -o -)");
        var jsonFile = new Option<string>("--json-file") { Description = "Also write the result as JSON to this file", HelpName = "FILE" };
        // Diagnostic, for bench/compare's device limit: the disk ranges a capture would read, one "offset length" a line.
        var printPlan = new Option<bool>("--print-plan") { Hidden = true };
        // Diagnostic, for bench/compare's warm-cache row: the CPU limit (LZ4 + BLAKE3 of the same bytes on every worker, no I/O).
        var codecLimit = new Option<bool>("--codec-limit") { Hidden = true };
        // Diagnostic, for bench/compare cold: read through the page cache instead of O_DIRECT.
        var bufferedReads = new Option<bool>("--buffered-reads") { Hidden = true };
        var command = new Command("capture", "Capture a disk's used data (block device, raw image, VHD, VHDX) into a P2V image")
            { disk, output, store, name, token, raw, rawOnDamage, sectorSize, source, workers, codec, json, jsonFile, printPlan, codecLimit, bufferedReads };
        command.SetAction((r, ct) =>
        {
            if (r.GetValue(codecLimit)) return Task.FromResult(PrintCodecLimit(r.GetValue(disk)!, r.GetValue(sectorSize) ?? 512, r.GetValue(workers), ct));
            if (r.GetValue(printPlan)) return Task.FromResult(PrintPlan(r.GetValue(disk)!, r.GetValue(raw), r.GetValue(rawOnDamage), r.GetValue(sectorSize) ?? 512));
            var codecChoice = r.GetValue(codec) ?? CodecChoice.Lz4;
            if ((r.GetValue(output) is null) == (r.GetValue(store) is null)) throw new UsageException(r.GetValue(output) is null ? "missing option --output (or --store URL --name NAME)" : "give -o IMAGE or --store URL, not both");
            if (r.GetValue(store) is not null && r.GetValue(name) is null) throw new UsageException("--store needs --name NAME");
            var target = r.GetValue(store) is { } url ? new CaptureTarget(null, url, r.GetValue(name), r.GetValue(token)) : new CaptureTarget(r.GetValue(output), null, null, null);
            return CaptureAsync(r.GetValue(disk)!, target, r.GetValue(raw), r.GetValue(rawOnDamage), r.GetValue(sectorSize) ?? 512,
                r.GetValue(source), r.GetValue(workers), codecChoice, r.GetValue(json), r.GetValue(jsonFile), !r.GetValue(bufferedReads), ct);
        });
        return command;
    }

    private static int PrintPlan(string source, bool raw, bool rawOnDamage, int sectorSize)
    {
        using var disk = VirtualDisk.Open(source, sectorSize: sectorSize);
        var plan = CapturePlanner.Plan(disk, raw, "", ToolVersion, rawOnDamage);
        var text = new System.Text.StringBuilder();
        foreach (var region in plan.Regions) text.Append(region.Range.Offset).Append(' ').Append(region.Range.Length).Append('\n');
        Console.Out.Write(text.ToString());
        return 0;
    }

    private static int PrintCodecLimit(string source, int sectorSize, int workers, CancellationToken cancel)
    {
        using var disk = VirtualDisk.Open(source, sectorSize: sectorSize);
        var plan = CapturePlanner.Plan(disk, toolVersion: ToolVersion);
        var (bytes, seconds, cpu) = CodecLimit.Measure(disk, plan, workers, cancel);
        Console.Out.WriteLine($"{bytes} {seconds:F3} {cpu:F3}");
        return 0;
    }

    private static CodecChoice ParseCodec(string value) => value switch
    {
        "lz4" => CodecChoice.Lz4,
        "zstd" => CodecChoice.Zstd,
        "auto" => CodecChoice.Auto,
        _ => throw new ArgumentException($"--codec '{value}' is not one of lz4, zstd, auto"),
    };

    private static Command Restore()
    {
        var image = new Argument<string>("image") { Description = "The P2V image to restore: an image file, or STORE/images/NAME (STORE a controller's URL or a store folder)" };
        var target = new Argument<string>("target") { Description = "A new disk file, or an existing disk file or block device to write in place" };
        var token = StoreCommands.TokenOption();
        var format = CliOptions.DiskFormat("Format of a new target (default: from its extension, .vhd, .vhdx, else raw)");
        var workers = CliOptions.Workers();
        var json = CliOptions.Json();
        // Past the page cache into a new file too, or through it onto a disk with data too: for measuring (bench/compare restore-vdisk).
        var directWrites = new Option<bool>("--direct-writes") { Hidden = true };
        var bufferedWrites = new Option<bool>("--buffered-writes") { Hidden = true };
        var command = new Command("restore", "Restore a P2V image (a file, or from a store) onto a disk file or block device")
            { image, target, format, token, workers, json, directWrites, bufferedWrites };
        command.Validators.Add(r =>
        {
            if (r.GetValue(directWrites) && r.GetValue(bufferedWrites)) r.AddError("--direct-writes and --buffered-writes exclude each other");
        });
        command.SetAction((r, ct) => RestoreAsync(r.GetValue(image)!, r.GetValue(target)!, r.GetValue(format), r.GetValue(token), r.GetValue(workers),
            r.GetValue(json), r.GetValue(directWrites) ? true : r.GetValue(bufferedWrites) ? false : null, ct));
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
        var image = new Argument<string>("image") { Description = "The P2V image: a file, or STORE/images/NAME (a URL or a folder)" };
        var token = StoreCommands.TokenOption();
        var workers = CliOptions.Workers();
        var json = CliOptions.Json();
        var command = new Command("verify", "Decompress and hash-check every chunk of an image") { image, token, workers, json };
        command.SetAction((r, ct) => VerifyAsync(r.GetValue(image)!, r.GetValue(token), r.GetValue(workers), r.GetValue(json), ct));
        return command;
    }

    internal static string ToolVersion =>
        "p2v " + (typeof(ImagingCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0");

    /// <summary>Where a capture goes: an image file (or -), or an image in a store.</summary>
    private sealed record CaptureTarget(string? Output, string? Store, string? Name, string? Token);

    private static async Task<int> CaptureAsync(string source, CaptureTarget target, bool raw, bool rawOnDamage, int sectorSize, string? sourceFile, int workers, CodecChoice codec, bool json,
        string? jsonFile, bool directReads, CancellationToken cancel)
    {
        // Everything that can be refused is refused before the first read: where the image goes, the description, the disk.
        bool toStdout = target.Output == "-";
        if (toStdout) CheckStandardOutput();
        else if (target.Output is { } file) AtomicFile.CheckTarget(file);
        if (jsonFile is not null) AtomicFile.CheckTarget(jsonFile, overwrite: true);
        string description = sourceFile is { } f ? await ReadDescriptionAsync(f, cancel) : "";
        using var disk = VirtualDisk.Open(source, sectorSize: sectorSize);
        var plan = CapturePlanner.Plan(disk, raw, description, ToolVersion, rawOnDamage);
        foreach (var warning in plan.Warnings) Console.Error.WriteLine($"capture: warning: {warning}");
        if (!json)
        {
            Console.Error.WriteLine($"capture: {source}: {ByteSize.Format(disk.Length)}, {plan.Header.TableKind} partition table, {ByteSize.Format(plan.BytesToRead)} to read");
            foreach (var v in plan.Header.Volumes)
                Console.Error.WriteLine($"  volume {v.Index}: {v.Kind}{(v.PartitionNumber > 0 ? $" (partition {v.PartitionNumber})" : "")} {ByteSize.Format(v.Length)}, {ByteSize.Format(v.DeclaredUsedBytes)} used{(v.Label.Length > 0 ? $", \"{v.Label}\"" : "")}");
        }

        var pipeline = (Action<PipelineProgress> progress) => new CapturePipeline { Workers = workers, Progress = progress, DirectReads = directReads };
        CaptureResult result;
        StoreCaptureSink? sink = null;
        string output = target.Output ?? $"{target.Store}/images/{target.Name}";
        if (target.Store is not null)
        {
            (result, sink) = await StoreCommands.CaptureAsync(disk, plan, target.Store, target.Name!, target.Token, workers, codec, json, cancel, directReads);
        }
        else if (toStdout)
        {
            // Not Console.OpenStandardOutput: it pretends a write to a closed pipe succeeded (EPIPE ignored), and a
            // capture whose reader went away must fail. Writes to descriptor 1 itself report every error.
            await using var stdout = new FileStream(new SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
            await using var buffered = new BufferedStream(stdout, 1 << 20);
            result = await ProgressDisplay.RunAsync("capture", json, p => pipeline(p).RunAsync(disk, plan, buffered, cancel, codec));
            await buffered.FlushAsync(cancel);
        }
        else
        {
            // One write(2) per MiB, not two per chunk (the file is opened unbuffered); the image's Finish flushes it.
            result = await AtomicFile.WriteAsync(output, async stream =>
            {
                await using var buffered = new BufferedStream(stream, 1 << 20);
                return await ProgressDisplay.RunAsync("capture", json, p => pipeline(p).RunAsync(disk, plan, buffered, cancel, codec));
            });
        }

        var summary = new CaptureSummary(output, result.BytesRead, result.BytesCaptured, result.ZeroBytesSkipped,
            result.ImageBytes, result.Chunks, result.Elapsed.TotalSeconds, result.CpuTime.TotalSeconds,
            [.. result.Volumes.Select(v => new CapturedVolume(v.VolumeIndex, v.DeclaredUsedBytes, v.BytesRead, v.BytesCaptured, v.ZeroBytesSkipped))],
            sink?.BytesWritten, sink?.ChunksSent, sink?.ChunksDeduplicated, sink?.StoredBytes, plan.Warnings);
        if (jsonFile is not null) AtomicFile.WriteAllText(jsonFile, JsonSerializer.Serialize(summary, CliJsonContext.Default.CaptureSummary) + "\n");
        if (json)
        {
            // With -o - standard output carries the image and nothing else.
            var writer = toStdout ? Console.Error : Console.Out;
            writer.WriteLine(JsonSerializer.Serialize(summary, CliJsonContext.Default.CaptureSummary));
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

    /// <summary>-o - needs a standard output that is open and not a terminal (an image on a terminal is only noise).</summary>
    private static void CheckStandardOutput()
    {
        if (!FileStatus.IsOpenForWriting(1)) throw new IOException("standard output is closed: -o - needs it open, or name an image file");
        if (!Console.IsOutputRedirected) throw new IOException("standard output is a terminal: redirect it to a file or pipe, or name an image file with -o");
    }

    /// <summary>The image keeps a description of its source (the inventory XML), a few MiB at most: read bounded, never a whole stream.</summary>
    internal const int MaxDescriptionBytes = 4 << 20;

    private static async Task<string> ReadDescriptionAsync(string path, CancellationToken cancel)
    {
        var status = FileStatus.Of(path);
        if (!status.Exists) throw new FileNotFoundException($"--source {path}: no such file", path);
        if (status.Kind == FileKind.Directory) throw new IOException($"--source {path} is a folder; name the inventory file");
        if (status.Kind == FileKind.Regular && status.Size > MaxDescriptionBytes)
            throw new InvalidDataException($"--source {path} holds {ByteSize.Format(status.Size)}; a source description is at most {ByteSize.Format(MaxDescriptionBytes)}");
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
        var buffer = new byte[MaxDescriptionBytes + 1];
        int n = 0, read;
        while (n < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(n), cancel)) > 0) n += read;
        if (n > MaxDescriptionBytes)
            throw new InvalidDataException($"--source {path} is longer than {ByteSize.Format(MaxDescriptionBytes)}; a source description is at most that");
        return System.Text.Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>An image to read is a file: a folder, a FIFO or a device is refused by name before anything opens it.</summary>
    private static void CheckImage(string path)
    {
        var status = FileStatus.Of(path);
        if (!status.Exists) throw new FileNotFoundException($"{path}: no such image", path);
        if (status.Kind != FileKind.Regular) throw new IOException($"{path} is {status.Describe()}, not an image file");
    }

    private static async Task<int> RestoreAsync(string imagePath, string targetPath, VirtualDiskFormat? askedFormat, string? token, int workers, bool json,
        bool? directWrites, CancellationToken cancel)
    {
        bool fromStore = StoreLocation.IsImageReference(imagePath);
        if (!fromStore) CheckImage(imagePath);
        var target = FileStatus.Of(targetPath);
        if (!fromStore && target.IsSameFileAs(FileStatus.Of(imagePath)))
            throw new IOException($"{targetPath} is the image {imagePath} itself: restore onto another file or device");
        IImageSource image;
        IDisposable? owner;
        if (fromStore)
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
        VirtualDiskFormat format;
        if (target.Exists)
        {
            // An existing disk or device is written in place (zero chunks too), once all of it has been checked read-only:
            // a refused restore leaves the target as it was, not even a VHDX header touched.
            VirtualDisk.CheckIsDisk(targetPath);
            format = VirtualDisk.Detect(targetPath);
            if (askedFormat is { } asked && !VirtualDisk.SameContainer(format, asked))
                throw new IOException($"{targetPath} exists and is a {VirtualDisk.FormatName(format)} disk, not {VirtualDisk.FormatName(asked)}: "
                    + "drop --format to restore onto it as it is, or remove it to get a new file");
            using (var probe = VirtualDisk.Open(targetPath))
                if (probe.Length < h.DiskLength)
                    throw new IOException($"{targetPath} holds {probe.Length:N0} bytes but the image's disk is {h.DiskLength:N0} bytes");
            using var disk = VirtualDisk.Open(targetPath, writable: true);
            result = await ProgressDisplay.RunAsync("restore", json, p =>
                new RestorePipeline { Workers = workers, Progress = p, DirectWrites = directWrites }.RunAsync(image, disk, cancel));
        }
        else
        {
            format = askedFormat ?? VirtualDisk.FormatFromExtension(targetPath);
            result = await AtomicFile.CreateAsync(targetPath, async partial =>
            {
                using var disk = VirtualDisk.Create(partial, format, h.DiskLength, h.SectorSize);
                var r = await ProgressDisplay.RunAsync("restore", json, p =>
                    new RestorePipeline { Workers = workers, Progress = p, TargetIsBlank = true, DirectWrites = directWrites }.RunAsync(image, disk, cancel));
                disk.Flush();
                return r;
            });
        }

        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new RestoreSummary(targetPath, format.ToString(), result.BytesWritten, result.ZeroBytesSkipped,
                result.Chunks, result.Elapsed.TotalSeconds, result.CpuTime.TotalSeconds), CliJsonContext.Default.RestoreSummary));
        else
            Console.Error.WriteLine($"restore: done: {ByteSize.Format(result.BytesWritten)} written to {targetPath} in {result.Elapsed.TotalSeconds:F1} s ({ByteSize.Rate(result.BytesWritten + result.ZeroBytesSkipped, result.Elapsed)}), {result.Chunks} chunks verified");
        return 0;
    }

    private static int ShowInfo(string path, bool json)
    {
        CheckImage(path);
        using var image = ImageReader.Open(path);
        var h = image.Header;
        var t = image.Trailer;
        // What each codec holds: after `--codec auto`, what it chose.
        var codecs = t.Chunks.GroupBy(c => c.Codec).OrderBy(g => g.Key)
            .Select(g => new ImageCodec(g.Key.ToString().ToLowerInvariant(), g.Count(), g.Sum(c => (long)c.UncompressedLength), g.Sum(c => (long)c.StoredLength))).ToList();
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new ImageSummary(h.DiskLength, h.SectorSize, h.TableKind.ToString(), h.Created.ToString("O"),
                h.ToolVersion, t.Chunks.Count, t.TotalUncompressed, t.TotalStored, image.FileLength, codecs,
                [.. h.Volumes.Select(v =>
                {
                    var s = t.Volumes.FirstOrDefault(x => x.VolumeIndex == v.Index);
                    return new ImageVolume(v.Index, v.Kind.ToString(), v.PartitionNumber, v.Offset, v.Length, v.ClusterSize, v.Label, v.Extents.Count,
                        v.DeclaredUsedBytes, s?.BytesRead, s?.BytesCaptured, s?.ZeroBytesSkipped);
                })], h.SourceDescription), CliJsonContext.Default.ImageSummary));
            return 0;
        }
        Console.WriteLine($"image:      {path} ({ByteSize.Format(image.FileLength)})");
        Console.WriteLine($"created:    {h.Created:u} by {h.ToolVersion}");
        Console.WriteLine($"disk:       {ByteSize.Format(h.DiskLength)} ({h.DiskLength} bytes), {h.SectorSize}-byte sectors, {h.TableKind} partition table");
        Console.WriteLine($"chunks:     {t.Chunks.Count}, {ByteSize.Format(t.TotalUncompressed)} of data stored in {ByteSize.Format(t.TotalStored)} ({100.0 * t.TotalStored / Math.Max(1, t.TotalUncompressed):F0}%)");
        if (codecs.Count > 0)
            Console.WriteLine($"codecs:     {string.Join(", ", codecs.Select(c => $"{c.Codec} {c.Chunks} ({ByteSize.Format(c.UncompressedBytes)} in {ByteSize.Format(c.StoredBytes)})"))}");
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

    private static async Task<int> VerifyAsync(string path, string? token, int workers, bool json, CancellationToken cancel)
    {
        IImageSource image;
        IDisposable? owner;
        if (StoreLocation.IsImageReference(path))
        {
            // A store's image: every chunk hash-checked, and the manifest's record of each (codec, stored length) checked against the store's chunk object.
            var (source, store) = await StoreCommands.OpenImageAsync(path, token, cancel, checkRecordedForms: true);
            (image, owner) = (source, store);
        }
        else
        {
            CheckImage(path);
            var reader = ImageReader.Open(path);
            (image, owner) = (reader, reader);
        }
        using var _ = owner;
        var result = await ProgressDisplay.RunAsync("verify", json, p =>
            new RestorePipeline { Workers = workers, Progress = p, VerifyOnly = true }.RunAsync(image, null, cancel));
        int legacy = (image as StoreImageSource)?.LegacyRecords ?? 0;
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new VerifySummary(path, true, result.Chunks, image.Trailer.TotalUncompressed, legacy), CliJsonContext.Default.VerifySummary));
        else
        {
            Console.WriteLine($"verify: ok: {result.Chunks} chunks, {ByteSize.Format(image.Trailer.TotalUncompressed)} checked against their BLAKE3 hashes");
            // The data is intact and restores; only the manifest's codec bytes are of the old form (docs/store-protocol.md, "Codecs").
            if (legacy > 0)
                Console.WriteLine($"verify: note: the manifest records {legacy} chunks as codec 1 (LZ4) or 0 where the store holds them otherwise (zstd): it was written before the codec fix of 1 December 2026; restores decode by the store's codec, and a re-capture under a new name records them as held");
        }
        return 0;
    }
}
