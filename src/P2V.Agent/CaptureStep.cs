using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;

namespace P2V.Agent;

/// <summary>
/// The "capture" step (the source document's Capture): each local disk, its used clusters only, chunked, hashed
/// and compressed, into the job's image store, described by the inventory the gather step sent. A network or
/// store failure starts the disk again; the store keeps the chunks it has, so the repeat sends only what is missing.
/// </summary>
internal sealed class CaptureStep(JobContext context)
{
    public async Task RunAsync(CancellationToken cancel)
    {
        using var store = StoreImages.Open(context);
        var disks = context.LocalDisks();
        for (int i = 0; i < disks.Count; i++)
        {
            string name = DiskImageNames.Of(context.Job.Image!, i + 1);
            bool tried = false;
            await context.RetryAsync($"capture {disks[i]}", async () =>
            {
                try { return await CaptureAsync(store, disks[i], name, cancel); }
                catch (StoreConflictException) when (tried)
                {
                    // The commit of the try before may have reached the store while its answer did not.
                    if (!await IsCommittedAsync(store, name, cancel)) throw;
                    context.Log.Write($"capture: {name} was committed by the previous try");
                    return true;
                }
                finally { tried = true; }
            }, cancel);
        }
    }

    private static async Task<bool> IsCommittedAsync(StoreClient store, string name, CancellationToken cancel)
    {
        try { await store.GetManifestAsync(name, cancel); return true; }
        catch (ImageNotFoundException) { return false; }
    }

    private async Task<bool> CaptureAsync(StoreClient store, string device, string name, CancellationToken cancel)
    {
        using var disk = VirtualDisk.Open(device);
        var plan = CapturePlanner.Plan(disk, raw: false, context.InventoryXml, "p2v-agent " + SelfTest.Version, rawOnDamage: false);
        foreach (var warning in plan.Warnings) context.Log.Write($"capture: {device}: warning: {warning}");
        context.Log.Write($"capture: {device} ({disk.Length >> 20} MiB, {plan.Header.TableKind}) to {name}: {plan.BytesToRead >> 20} MiB to read in "
            + string.Join(", ", plan.Header.Volumes.Select(v => $"{v.Kind} {v.Length >> 20} MiB")));
        var progress = new ProgressReporter(context.Controller, context.Log, context.Job.Id, "capture " + name, cancel);
        using var sink = await StoreCaptureSink.OpenAsync(store, name, plan.Header, cancel);
        var result = await new CapturePipeline { Progress = progress.Report }.RunAsync(disk, plan, sink, cancel);
        await progress.FinishAsync(result.BytesRead, plan.BytesToRead,
            $"{result.Chunks} chunks, {sink.ChunksSent} sent ({sink.BytesWritten >> 20} MiB), {sink.ChunksDeduplicated} already in the store");
        return true;
    }
}
