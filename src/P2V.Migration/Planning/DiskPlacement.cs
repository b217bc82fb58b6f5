using P2V.Migration.Inventory;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>The VM's disk controllers: emulated IDE (PIIX), emulated SCSI (the target's adapter), paravirtual virtio-blk (QEMU, libvirt).</summary>
public enum VmDiskBus { Ide, Scsi, Virtio }

/// <summary>
/// Where a source disk goes in the VM: IDE channel/unit (controller 0–1, unit 0–1), SCSI adapter/target, or a
/// virtio-blk device of its own (controller = its index, unit 0).
/// </summary>
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
    /// <remarks>
    /// With <paramref name="bus"/> every disk goes on that bus, and what does not fit there is unplaced: IDE holds 4
    /// disks (within the target's IDE size limit), SCSI the target's adapters × targets, virtio one PCI device per disk.
    /// </remarks>
    public static (IReadOnlyList<DiskSlot> Placed, IReadOnlyList<DiskInfo> Unplaced) Place(IReadOnlyList<DiskInfo> disks, TargetHypervisor limits, VmDiskBus? bus = null)
    {
        var slots = Slots([.. disks.Select(d => d.SizeBytes)], limits, bus);
        var placed = new List<DiskSlot>();
        var unplaced = new List<DiskInfo>();
        for (int i = 0; i < disks.Count; i++)
        {
            if (slots[i] is { } s) placed.Add(new DiskSlot(disks[i], s.Bus, s.Controller, s.Unit));
            else unplaced.Add(disks[i]);
        }
        return (placed, unplaced);
    }

    /// <summary>QEMU's "pc" machine has 32 PCI slots; the host bridge, ISA bridge, VGA and the NICs take some of them.</summary>
    public const int MaxVirtioDisks = 16;

    /// <summary>The slot of each disk by size, in order; null where it does not fit.</summary>
    internal static IReadOnlyList<(VmDiskBus Bus, int Controller, int Unit)?> Slots(IReadOnlyList<long> sizes, TargetHypervisor limits, VmDiskBus? bus)
    {
        var slots = new List<(VmDiskBus, int, int)?>();
        int ide = 0, scsi = 0, virtio = 0;
        foreach (var size in sizes)
        {
            bool ideOk = bus is null or VmDiskBus.Ide && ide < limits.IdeSlots && (limits.MaxIdeDiskBytes is not { } max || size <= max);
            if (ideOk) { slots.Add((VmDiskBus.Ide, ide / 2, ide % 2)); ide++; }
            else if (bus is null or VmDiskBus.Scsi && scsi < limits.ScsiAdapters * limits.DisksPerScsiAdapter)
            {
                slots.Add((VmDiskBus.Scsi, scsi / limits.DisksPerScsiAdapter, scsi % limits.DisksPerScsiAdapter));
                scsi++;
            }
            else if (bus is VmDiskBus.Virtio && virtio < MaxVirtioDisks) slots.Add((VmDiskBus.Virtio, virtio++, 0));
            else slots.Add(null);
        }
        return slots;
    }
}
