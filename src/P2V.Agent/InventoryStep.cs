using P2V.Migration.Inventory;

namespace P2V.Agent;

/// <summary>
/// The "gather" step (the source document's GatherHW, run in the boot environment): the hardware from sysfs,
/// procfs and DMI, each local disk's partitions and the offline Windows facts, sent to the controller as the
/// device's inventory XML. The capture step describes its images with the same inventory.
/// </summary>
internal sealed class InventoryStep(JobContext context)
{
    public async Task<SourceInventory> RunAsync(CancellationToken cancel)
    {
        var gatherer = new InventoryGatherer { Root = context.Root, Tool = "p2v-agent " + SelfTest.Version };
        var inv = gatherer.Gather();
        foreach (var note in gatherer.Notes) context.Log.Write("gather: " + note);
        context.Log.Write($"gather: {inv.System.Vendor} {inv.System.Model}: {inv.Processors.Threads} CPU(s), {inv.MemoryBytes >> 20} MiB, "
            + $"{inv.Disks.Count} disk(s), {inv.NetworkAdapters.Count} NIC(s)"
            + (inv.Windows is { } w ? $", Windows at {w.Disk} partition {w.Partition} {w.Facts.SystemRoot}" : ", no Windows found"));
        context.Inventory = inv;
        context.InventoryXml = InventoryXml.ToXml(inv).ToString();
        await context.Controller.PutInventoryAsync(context.Job.Id, context.InventoryXml, cancel);
        return inv;
    }
}
