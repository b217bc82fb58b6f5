using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;

namespace P2V.Agent;

/// <summary>
/// The "deploy" step (the source document's DeployVM, first half): the job's image onto the VM's first local
/// disk, IMAGE.disk2 onto the second and so on while the store has them. Only captured ranges are written; each
/// chunk's BLAKE3 is checked before it is. A network or store failure writes the disk again from the start (the
/// same bytes land at the same places, so a repeat is safe).
/// </summary>
internal sealed class DeployStep(JobContext context)
{
    public async Task RunAsync(CancellationToken cancel)
    {
        using var store = StoreImages.Open(context);
        var disks = context.LocalDisks();
        for (int i = 0; i < disks.Count; i++)
        {
            string name = DiskImageNames.Of(context.Job.Image!, i + 1);
            bool written = await context.RetryAsync($"deploy {name}", () => DeployAsync(store, name, disks[i], first: i == 0, cancel), cancel);
            if (!written) return;
            context.DeployedDisks.Add(disks[i]);
        }
        // Every disk got its image: the source must not have had more disks than the VM has.
        string next = DiskImageNames.Of(context.Job.Image!, disks.Count + 1);
        try
        {
            await store.GetManifestAsync(next, cancel);
            throw new IOException($"the store holds {next} but the VM has only {disks.Count} local disk(s): give it one disk per source disk");
        }
        catch (ImageNotFoundException) { }
    }

    /// <summary>False when the store has no image for this disk (and it is not the first: the first must exist).</summary>
    private async Task<bool> DeployAsync(StoreClient store, string name, string device, bool first, CancellationToken cancel)
    {
        StoreImageSource image;
        try { image = await StoreImageSource.OpenAsync(store, name, cancel); }
        catch (ImageNotFoundException) when (!first) { return false; }
        {
            using var disk = VirtualDisk.Open(device, writable: true);
            var h = image.Header;
            if (disk.Length < h.DiskLength)
                throw new IOException($"{device} holds {disk.Length >> 20} MiB but the image {name} is of a {h.DiskLength >> 20} MiB disk: give the VM a larger disk");
            context.Log.Write($"deploy: {name} ({h.DiskLength >> 20} MiB disk, {image.Trailer.TotalUncompressed >> 20} MiB captured) onto {device}");
            var progress = new ProgressReporter(context.Controller, context.Log, context.Job.Id, "deploy " + name, cancel);
            var result = await new RestorePipeline { Progress = progress.Report }.RunAsync(image, disk, cancel);
            disk.Flush();
            await progress.FinishAsync(result.BytesWritten + result.ZeroBytesSkipped, image.Trailer.TotalUncompressed, $"{result.Chunks} chunks verified and written");
        }
        return true;
    }
}
