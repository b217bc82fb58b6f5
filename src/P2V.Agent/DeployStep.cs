using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Migration.Inventory;
using P2V.Store;

namespace P2V.Agent;

/// <summary>
/// The "deploy" step (the source document's DeployVM, first half): the job's image onto the VM's first local
/// disk, IMAGE.disk2 onto the second and so on, all checked before the first write. Only captured ranges are written; each
/// chunk's BLAKE3 is checked before it is. A network or store failure writes the disk again from the start (the
/// same bytes land at the same places, so a repeat is safe).
/// </summary>
internal sealed class DeployStep(JobContext context)
{
    public async Task RunAsync(CancellationToken cancel)
    {
        using var store = context.OpenStore();
        var disks = context.LocalDisks();
        // Every image of the machine, and a disk for each, before anything is written. The capture commits IMAGE
        // last, so IMAGE present means IMAGE.disk2 … are too; the first missing name ends the list.
        var images = new List<StoreImageSource>();
        long batch = context.TransferBatchBytes(StoreImageSource.DefaultBatchBytes);
        for (int n = 1; n <= disks.Count + 1; n++)
        {
            string name = DiskImageNames.Of(context.Job.Image!, n);
            try { images.Add(await context.RetryAsync($"image {name}", () => StoreImageSource.OpenAsync(store, name, cancel, batch), cancel)); }
            catch (ImageNotFoundException) when (n > 1) { break; }
        }
        if (images.Count > disks.Count)
            throw new IOException($"the source had more disks than this VM's {disks.Count}: give it one disk per source disk ({images[^1].Image} has none)");
        RefuseTheSource(images[0].Header.SourceDescription);
        for (int i = 0; i < images.Count; i++)
        {
            using var disk = VirtualDisk.Open(disks[i]);
            if (disk.Length < images[i].Header.DiskLength)
                throw new IOException($"{disks[i]} holds {disk.Length >> 20} MiB but the image {images[i].Image} is of a {images[i].Header.DiskLength >> 20} MiB disk: give the VM a larger disk");
        }
        for (int i = 0; i < images.Count; i++)
        {
            await context.RetryAsync($"deploy {images[i].Image}", () => DeployAsync(images[i], disks[i], cancel), cancel);
            context.DeployedDisks.Add(disks[i]);
        }
    }

    /// <summary>
    /// The source machine shares its MAC with its VM, so a source that network-boots again would get the VM's deploy
    /// job and have its own disks overwritten. The image's inventory names the source's DMI UUID: a machine with the
    /// same one is refused before anything is written. (An unset UUID, all zeros or empty, as in plain QEMU, says nothing.)
    /// </summary>
    private void RefuseTheSource(string description)
    {
        string here = new HardwareGatherer(new SysfsTree(context.Root)).System().Uuid;
        if (!IsKnownUuid(here) || description.Length == 0) return;
        string source;
        try { source = InventoryXml.FromXml(System.Xml.Linq.XDocument.Parse(description)).System.Uuid; }
        catch (Exception e) when (e is System.Xml.XmlException or InvalidDataException or FormatException) { return; }
        if (IsKnownUuid(source) && string.Equals(here.Trim(), source.Trim(), StringComparison.OrdinalIgnoreCase))
            throw new IOException($"this machine (DMI UUID {here.Trim()}) is the source the image was captured from: a deploy would overwrite it; "
                + "power it off and boot the VM, or release this device");
    }

    private static bool IsKnownUuid(string uuid) => uuid.Trim().Trim('0', '-').Length > 0;

    private async Task<bool> DeployAsync(StoreImageSource image, string device, CancellationToken cancel)
    {
        using var disk = VirtualDisk.Open(device, writable: true);
        context.Log.Write($"deploy: {image.Image} ({image.Header.DiskLength >> 20} MiB disk, {image.Trailer.TotalUncompressed >> 20} MiB captured) onto {device}");
        var progress = new ProgressReporter(context.Controller, context.Log, context.Job.Id, "deploy " + image.Image, cancel);
        var result = await new RestorePipeline { Progress = progress.Report }.RunAsync(image, disk, cancel);
        disk.Flush();
        await progress.FinishAsync(result.BytesWritten + result.ZeroBytesSkipped, image.Trailer.TotalUncompressed, $"{result.Chunks} chunks verified and written");
        return true;
    }
}
