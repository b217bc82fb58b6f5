using P2V.Migration.Inventory;
using P2V.Windows;

namespace P2V.Migration.Planning;

public enum VmDiskBus { Ide, Scsi }

/// <summary>Where a source disk goes in the VM: IDE channel/unit (controller 0–1, unit 0–1) or SCSI adapter/target.</summary>
public sealed record DiskSlot(DiskInfo Disk, VmDiskBus Bus, int Controller, int Unit);

public static class DiskPlacement
{
    /// <summary>
    /// The disks that become VM disks: not SAN LUNs behind a Fibre Channel HBA (re-attached on the host instead),
    /// not USB or removable media. The system disk comes first: it must be the BIOS boot disk.
    /// </summary>
    public static IReadOnlyList<DiskInfo> MigratedDisks(SourceInventory inv)
    {
        var system = inv.Windows?.Disk;
        return inv.Disks.Where(d => d.Bus is not (DiskBus.FibreChannel or DiskBus.Usb) && !d.Removable)
            .OrderBy(d => d.Name == system ? 0 : 1).ToList();
    }

    /// <summary>
    /// Fills IDE first (the boot disk always on IDE 0:0, which every legacy Windows can boot from), then SCSI
    /// adapters; a disk above the target's IDE size limit goes to SCSI. Returns what did not fit as well.
    /// </summary>
    public static (IReadOnlyList<DiskSlot> Placed, IReadOnlyList<DiskInfo> Unplaced) Place(IReadOnlyList<DiskInfo> disks, TargetHypervisor limits)
    {
        var placed = new List<DiskSlot>();
        var unplaced = new List<DiskInfo>();
        int ide = 0, scsi = 0;
        foreach (var d in disks)
        {
            bool ideOk = ide < limits.IdeSlots && (limits.MaxIdeDiskBytes is not { } max || d.SizeBytes <= max);
            if (ideOk) { placed.Add(new DiskSlot(d, VmDiskBus.Ide, ide / 2, ide % 2)); ide++; }
            else if (scsi < limits.ScsiAdapters * limits.DisksPerScsiAdapter)
            {
                placed.Add(new DiskSlot(d, VmDiskBus.Scsi, scsi / limits.DisksPerScsiAdapter, scsi % limits.DisksPerScsiAdapter));
                scsi++;
            }
            else unplaced.Add(d);
        }
        return (placed, unplaced);
    }
}
