using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;

namespace P2V.Agent;

/// <summary>
/// The "capture" step (the source document's Capture): each local disk, its used clusters only, chunked, hashed
/// and compressed, into the job's image store, described by the inventory the gather step sent. A network or
/// store failure starts the disk again; the store keeps the chunks it has, so the repeat sends only what is missing.
/// Disks are in the kernel's order (sda, sdb …), which is the order the deploy writes them back.
/// </summary>
internal sealed class CaptureStep(JobContext context)
{
    public async Task RunAsync(CancellationToken cancel)
    {
        using var store = context.OpenStore();
        var disks = context.LocalDisks();
        // The last disk first and the job's own image last: when IMAGE exists, so do all its IMAGE.diskN, so a capture
        // that failed half-way never leaves a deployable image behind.
        for (int i = disks.Count - 1; i >= 0; i--)
        {
            string name = DiskImageNames.Of(context.Job.Image!, i + 1);
            // A commit whose answer was lost makes the next try fail on the existing name: the job fails, honestly,
            // rather than take an image of that name it cannot tell from its own.
            await context.RetryAsync($"capture {disks[i]}", () => CaptureAsync(store, disks[i], name, cancel), cancel);
        }
    }

    private async Task<bool> CaptureAsync(StoreClient store, string device, string name, CancellationToken cancel)
    {
        using var disk = VirtualDisk.Open(device);
        var plan = CapturePlanner.Plan(disk, raw: false, context.InventoryXml, "p2v-agent " + SelfTest.Version, rawOnDamage: false);
        foreach (var warning in plan.Warnings) context.Log.Write($"capture: {device}: warning: {warning}");
        context.Log.Write($"capture: {device} ({disk.Length >> 20} MiB, {plan.Header.TableKind}) to {name}: {plan.BytesToRead >> 20} MiB to read in "
            + string.Join(", ", plan.Header.Volumes.Select(v => $"{v.Kind} {v.Length >> 20} MiB")));
        var progress = new ProgressReporter(context.Controller, context.Log, context.Job.Id, "capture " + name, cancel);
        var shape = context.CaptureShape();
        context.Log.Write($"capture: {name}: {shape}");
        // The agent sends over the network: auto weighs LZ4's speed against zstd's smaller output, at a level as high as
        // the shape allows, by how fast the link and the store take the batches (docs/capture-and-restore.md, "Codecs").
        using var sink = await StoreCaptureSink.OpenAsync(store, name, plan.Header, cancel, shape.BatchBytes,
            new CodecChooser(CodecChoice.Auto, shape.Workers, shape.MaxZstdLevel));
        var pipeline = new CapturePipeline
        {
            Progress = progress.Report, Workers = shape.Workers, Window = shape.Window, ReadAheadPieces = shape.ReadAheadPieces,
        };
        var result = await pipeline.RunAsync(disk, plan, sink, cancel);
        await progress.FinishAsync(result.BytesRead, plan.BytesToRead,
            $"{result.Chunks} chunks, {sink.ChunksSent} sent ({sink.BytesWritten >> 20} MiB), {sink.ChunksDeduplicated} already in the store");
        // Each volume's used-cluster check: what its allocation bitmap declares used against what was read.
        foreach (var v in result.Volumes)
            context.Log.Write($"capture: {name} volume {v.VolumeIndex}: {v.DeclaredUsedBytes >> 20} MiB used per the file system, {v.BytesRead >> 20} MiB read, "
                + $"{v.BytesCaptured >> 20} MiB captured, {v.ZeroBytesSkipped >> 20} MiB of zero blocks skipped");
        await context.Controller.ReportAsync(context.Job.Id, "capture " + name,
            System.Text.Json.JsonSerializer.Serialize(result.Volumes, AgentJson.Default.IReadOnlyListVolumeStats), cancel);
        return true;
    }
}
