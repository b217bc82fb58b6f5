using P2V.Imaging.VirtualDisks;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Migration.Validation;

/// <summary>
/// Every rule, by id. The seed's limitations come first (its memory floor, here our agent's, NT 4.0 SP6a / 2000 SP4, FAT, dynamic disks, USB,
/// parallel-port dongles, hardware authentication, SAN, the uniprocessor HAL), then what today's disks add
/// (VHD size, hibernation, BitLocker, free space for the fix-ups), then each target's own limits.
/// </summary>
public static class ValidationRules
{
    /// <summary>
    /// The least memory installed at which P2V.Boot's capture environment migrates a server (measured: a whole
    /// migration at 120 MiB, the capture OOM-killed at 112: docs/boot-images.md, Footprint); the seed's tools needed 96 MB.
    /// </summary>
    public const long MinimumMemoryBytes = 120L << 20;

    /// <summary>Room the deploy fix-ups need on the system volume: HAL and kernel copies, registry hive growth, logs.</summary>
    public const long FixupFreeBytes = 100L << 20;

    /// <summary>USB vendors whose devices on a server are licence dongles: Aladdin/SafeNet HASP, Rainbow Sentinel, WIBU CodeMeter, Feitian ROCKEY, Marx CrypToken.</summary>
    internal static readonly IReadOnlyDictionary<string, string> DongleVendors = new Dictionary<string, string>
    {
        ["0529"] = "Aladdin HASP", ["04b9"] = "SafeNet Sentinel", ["064f"] = "WIBU-Systems", ["096e"] = "Feitian", ["0a89"] = "Aktiv/Guardant", ["0d7a"] = "Marx CrypToken",
    };

    public static readonly IReadOnlyList<ValidationRule> All =
    [
        new("memory-too-small", Severity.Error, "less than 120 MiB of memory", c =>
            c.Inventory.MemoryBytes is > 0 and < MinimumMemoryBytes
                ? [new("memory-too-small", Severity.Error, "memory", $"the source has {c.Inventory.MemoryBytes >> 20} MiB of memory; the capture environment needs {MinimumMemoryBytes >> 20} MiB",
                    "add memory to the source, or capture its disks from another machine (p2v capture on a disk file)")]
                : []),

        new("os-unsupported", Severity.Error, "Windows version or service pack that cannot be migrated", c => OsUnsupported(c)),

        new("os-unknown", Severity.Warning, "no Windows installation found, or its version unknown", c =>
            c.Inventory.Windows is not { } w
                ? [new("os-unknown", Severity.Warning, "windows", "no Windows installation was found on the disks read: the deploy fix-ups (HAL, drivers, boot.ini) will not run",
                    "gather with --disk naming the system disk, or accept a raw migration without fix-ups")]
                : w.Facts.Version == null
                    ? [new("os-unknown", Severity.Warning, $"windows {w.Facts.SystemRoot}", "the Windows version and service pack could not be read from the registry, so the supported-version check did not run",
                        "check the version by hand: NT 4.0 needs SP6a, 2000 needs SP4")]
                    : []),

        new("fat-volume", Severity.Info, "FAT volume", c => Volumes(c.Inventory)
            .Where(x => x.Volume.FileSystem is VolumeFileSystem.Fat12 or VolumeFileSystem.Fat16 or VolumeFileSystem.Fat32)
            .Select(x => new Finding("fat-volume", Severity.Info, x.Subject, $"{InventoryXml.Name(x.Volume.FileSystem).ToUpperInvariant()} volume: captured as is, through its allocation table",
                "nothing to do; convert it to NTFS (convert X: /fs:ntfs) first if you want NTFS's used-cluster capture and permissions"))),

        new("dynamic-disk", Severity.Error, "dynamic (LDM) disk", c => c.Inventory.Disks.Where(d => d.IsDynamic)
            .Select(d => new Finding("dynamic-disk", Severity.Error, d.Name, "dynamic disk (Logical Disk Manager): dynamic volumes cannot be migrated",
                "convert the disk to basic in Windows (back up, delete the volumes, Convert to Basic Disk, recreate, restore), then gather again"))),

        new("system-volume-on-dynamic-disk", Severity.Error, "Windows on a dynamic disk", c =>
            c.Inventory.Windows is { } w && c.Inventory.Disks.FirstOrDefault(d => d.Name == w.Disk) is { IsDynamic: true }
                ? [new("system-volume-on-dynamic-disk", Severity.Error, $"{w.Disk} partition {w.Partition}", "the Windows system volume is on a dynamic disk: its boot entries and the LDM database cannot be carried into a basic VM disk",
                    "revert the system disk to basic (a Windows reinstall or a backup/restore onto a basic disk), then gather again")]
                : []),

        new("usb-device", Severity.Warning, "USB device", c => c.Inventory.UsbDevices
            .Where(u => !u.IsHub && u.DeviceClass != "03" && !(u.InterfaceClasses.Count > 0 && u.InterfaceClasses.All(i => i == "03")) && !IsDongle(u))
            .Select(u => new Finding("usb-device", Severity.Warning, $"usb {u.Address} {u.VendorId}:{u.ProductId}", $"USB device \"{Describe(u)}\" will not be present in the VM",
                "attach it to the host and pass it through to the VM, or replace what it does"))),

        new("parallel-port", Severity.Warning, "parallel port (dongles)", c => c.Inventory.Ports.Where(p => p.Kind == PortKind.Parallel)
            .Select(p => new Finding("parallel-port", Severity.Warning, p.Name, "parallel port: a licence dongle plugged into it will not work in a VM",
                "check the port for a dongle; ask the software vendor for a network or software licence"))),

        new("hardware-authentication", Severity.Warning, "hardware authentication (dongles, smart cards, crypto cards)", c =>
            c.Inventory.UsbDevices.Where(IsDongle).Select(u => new Finding("hardware-authentication", Severity.Warning, $"usb {u.Address} {u.VendorId}:{u.ProductId}",
                    $"\"{Describe(u)}\" is a hardware key or smart-card reader: software bound to it will not find it in the VM",
                    "move the licence to a network licence server, or pass the device through from the host"))
                .Concat(c.Inventory.PciDevices.Where(p => p.Kind == PciDeviceKind.Encryption).Select(p => new Finding("hardware-authentication", Severity.Warning,
                    $"pci {p.Address}", $"encryption/authentication card {p.VendorId}:{p.DeviceId} ({p.Driver}) will not be present in the VM",
                    "move its keys to software or an HSM reachable over the network")))),

        new("san-fibre-channel", Severity.Warning, "SAN / Fibre Channel storage", c =>
            c.Inventory.PciDevices.Where(p => p.Kind == PciDeviceKind.FibreChannel).Select(p => new Finding("san-fibre-channel", Severity.Warning, $"pci {p.Address}",
                    $"Fibre Channel HBA ({p.Driver}): SAN connectivity is not preserved",
                    "present the LUNs to the host and attach them to the VM as pass-through (linked) disks"))
                .Concat(c.Inventory.Disks.Where(d => d.Bus == DiskBus.FibreChannel).Select(d => new Finding("san-fibre-channel", Severity.Warning, d.Name,
                    $"{d.Name} is a SAN LUN ({d.Driver}): it is not copied into a virtual disk",
                    "attach the LUN to the VM as a pass-through disk after migration")))),

        new("multiprocessor-hal", Severity.Info, "multiprocessor HAL swapped", c =>
            c.Hal.Action == HalAction.SwapToUniprocessor
                ? [new("multiprocessor-hal", Severity.Info, $"hal {c.Inventory.Windows?.Facts.HalName}", c.Hal.Reason, "nothing to do: the deploy fix-up swaps the HAL and kernel")]
                : []),

        new("disk-too-large-for-vhd", Severity.Error, "disk over 2040 GiB for a VHD", c =>
            c.DiskFormat is VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed
                ? DiskPlacement.MigratedDisks(c.Inventory).Where(d => d.SizeBytes > VirtualDisk.MaxLength(VirtualDiskFormat.Vhd))
                    .Select(d => new Finding("disk-too-large-for-vhd", Severity.Error, d.Name, $"{d.Name} is {d.SizeBytes / (1L << 30)} GiB; a VHD holds at most 2040 GiB",
                        "use VHDX (--disk-format vhdx, Hyper-V) or shrink the partitions below 2040 GiB first"))
                : []),

        new("hibernated-volume", Severity.Error, "hibernated Windows", c => Volumes(c.Inventory).Where(x => x.Volume.Hibernated)
            .Select(x => new Finding("hibernated-volume", Severity.Error, x.Subject, "hiberfil.sys holds a hibernated session: the copy would resume stale memory over the migrated disk",
                "start Windows, then shut it down fully (shutdown /s, with hibernation off: powercfg /h off), and gather again"))),

        new("bitlocker-volume", Severity.Error, "BitLocker-encrypted volume", c => Volumes(c.Inventory).Where(x => x.Volume.FileSystem == VolumeFileSystem.BitLocker)
            .Select(x => new Finding("bitlocker-volume", Severity.Error, x.Subject, "the volume is BitLocker-encrypted: its used clusters cannot be read offline and its TPM protector stays behind",
                "decrypt it in Windows (manage-bde -off X:) before capture"))),

        new("system-volume-low-free-space", Severity.Warning, "little free space on the system volume", c =>
            c.Inventory.SystemVolume is { Partition.Volume: { FreeBytes: { } free } } sv && free < FixupFreeBytes
                ? [new("system-volume-low-free-space", Severity.Warning, $"{sv.Disk.Name} partition {sv.Partition.Number}",
                    $"{free >> 20} MB free on the system volume; the deploy fix-ups need about {FixupFreeBytes >> 20} MB",
                    "free space on the system volume (temporary files, old logs) before capture")]
                : []),

        new("raid-controller", Severity.Info, "disks behind a RAID controller", c => c.Inventory.Disks.Where(d => d.Bus == DiskBus.Raid)
            .Select(d => new Finding("raid-controller", Severity.Info, d.Name, $"{d.Name} is a logical drive of a RAID controller ({d.Driver}): the VM gets one plain disk of its size",
                "nothing to do: the deploy fix-ups make the VM's IDE controller the boot device"))),

        new("serial-port", Severity.Info, "serial port", c => c.Inventory.Ports.Where(p => p.Kind == PortKind.Serial)
            .Select(p => new Finding("serial-port", Severity.Info, p.Name, "serial port: the VM gets none unless configured",
                "if a device hangs off it, map a host port or named pipe to the VM's COM port"))),

        new("target-memory", Severity.Warning, "more memory than the target allows", c =>
            c.Target is { } t && c.Inventory.MemoryBytes >> 20 > t.MaxMemoryMB
                ? [new("target-memory", Severity.Warning, "memory", $"the source has {c.Inventory.MemoryBytes >> 20} MB; {t.DisplayName} gives a VM at most {t.MaxMemoryMB} MB, which the plan uses",
                    "check the workload fits, or choose a target with more memory per VM")]
                : []),

        new("target-nics", Severity.Warning, "more network adapters than the target allows", c =>
            c.Target is { } t && c.Inventory.NetworkAdapters.Count > NicLimit(c)
                ? [new("target-nics", Severity.Warning, "network", $"the source has {c.Inventory.NetworkAdapters.Count} network adapters; {t.DisplayName} allows {NicLimit(c)} here, so the last {c.Inventory.NetworkAdapters.Count - NicLimit(c)} are left out",
                    "team or drop adapters on the source, or choose another target")]
                : []),

        new("target-disks", Severity.Error, "more disks than the target can attach", c =>
            c.Target is { } t && DiskPlacement.Place(DiskPlacement.MigratedDisks(c.Inventory), t, c.DiskBus).Unplaced is { Count: > 0 } left
                ? [new("target-disks", Severity.Error, string.Join(' ', left.Select(d => d.Name)), c.DiskBus switch
                    {
                        VmDiskBus.Ide => $"{t.DisplayName} attaches at most {t.IdeSlots} IDE disks{(t.MaxIdeDiskBytes is { } m ? $" of up to {m / 1_000_000_000} GB" : "")}; {left.Count} do not fit",
                        VmDiskBus.Scsi => $"{t.DisplayName} attaches at most {t.ScsiAdapters}×{t.DisksPerScsiAdapter} SCSI disks; {left.Count} do not fit",
                        VmDiskBus.Virtio => $"a VM takes at most {DiskPlacement.MaxVirtioDisks} virtio disks; {left.Count} do not fit",
                        _ => $"{t.DisplayName} attaches at most {t.IdeSlots} IDE and {t.ScsiAdapters}×{t.DisksPerScsiAdapter} SCSI disks; {left.Count} do not fit",
                    },
                    "merge volumes onto fewer disks before capture, or choose another target")]
                : []),

        new("target-disk-size", Severity.Error, "disk larger than the target's disk format", c =>
            c.Target != null && c.DiskFormat is not (VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed)
                ? DiskPlacement.MigratedDisks(c.Inventory).Where(d => d.SizeBytes > VirtualDisk.MaxLength(c.DiskFormat))
                    .Select(d => new Finding("target-disk-size", Severity.Error, d.Name, $"{d.Name} is larger than a {VirtualDisk.FormatName(c.DiskFormat)} disk can be",
                        "shrink the partitions first, or split the data across disks"))
                : []),

        new("target-disk-on-scsi", Severity.Warning, "disk placed on the target's SCSI adapter", c =>
            c.Target is { } t && c.DiskBus is null
                ? DiskPlacement.Place(DiskPlacement.MigratedDisks(c.Inventory), t).Placed.Where(s => s.Bus == VmDiskBus.Scsi)
                    .Select(s => new Finding("target-disk-on-scsi", Severity.Warning, s.Disk.Name,
                        t.MaxIdeDiskBytes is { } max && s.Disk.SizeBytes > max
                            ? $"{s.Disk.Name} is over {max / 1_000_000_000} GB, the largest IDE disk {t.DisplayName} has: it goes on SCSI adapter {s.Controller}"
                            : $"{s.Disk.Name} goes on SCSI adapter {s.Controller} (the IDE slots are full)",
                        s.Disk.Name == c.Inventory.Windows?.Disk
                            ? "the system disk on SCSI needs the emulated adapter's driver in Windows before capture"
                            : "Windows finds the data disk once the SCSI adapter's driver is installed"))
                : []),

        new(DiskBusSupport.RuleId, Severity.Error, "disk bus the guest has no driver for", c =>
            c.Target is { } t && c.DiskBus is { } bus ? DiskBusSupport.Check(t, c.Inventory.Windows?.Facts.Version, bus) : []),

        new("target-vcpus", Severity.Info, "fewer virtual CPUs than the source has", c =>
            c.Target != null && c.Hal.Vcpus < c.Inventory.Processors.Threads
                ? [new("target-vcpus", Severity.Info, "processors", $"the VM gets {c.Hal.Vcpus} vCPU(s) for the source's {c.Inventory.Processors.Threads}: {c.Hal.Reason}",
                    "nothing to do, unless the workload needs more: then choose a target allowing several CPUs")]
                : []),
    ];

    /// <summary>A pre-Vista guest on Hyper-V has drivers only for the emulated (legacy) adapter, of which a VM has four.</summary>
    internal static int NicLimit(ValidationContext c) =>
        c.Target is { Kind: TargetKind.HyperV } && c.Inventory.Windows?.Facts is { HasFixedHal: true } ? 4 : c.Target?.MaxNics ?? int.MaxValue;

    private static IEnumerable<Finding> OsUnsupported(ValidationContext c)
    {
        if (c.Inventory.Windows?.Facts is not { Version: not null } w || w.MajorVersion is not { } major) yield break;
        int minor = w.MinorVersion ?? 0;
        var (sp, letter) = w.ServicePackLevel;
        string? why = (major, minor) switch
        {
            ( < 4, _) => $"Windows NT {w.Version} is older than any supported release",
            (4, _) when sp < 6 || sp == 6 && letter == null => $"Windows NT 4.0 with {(sp == 0 ? "no service pack" : w.ServicePack)} is below Service Pack 6a",
            (5, 0) when sp < 4 => $"Windows 2000 with {(sp == 0 ? "no service pack" : w.ServicePack)} is below Service Pack 4",
            _ => null,
        };
        if (why != null)
            yield return new("os-unsupported", Severity.Error, $"windows {w.ProductName ?? w.Version}", why,
                major == 4 ? "install Service Pack 6a on the source, then gather again" : "install Service Pack 4 on the source, then gather again");
    }

    private static bool IsDongle(UsbDeviceInfo u) =>
        DongleVendors.ContainsKey(u.VendorId.ToLowerInvariant()) || u.DeviceClass == "0b" || u.InterfaceClasses.Contains("0b");

    private static string Describe(UsbDeviceInfo u) =>
        string.Join(' ', new[] { u.Manufacturer, u.Product }.Where(s => s.Length > 0)) is { Length: > 0 } d ? d
            : DongleVendors.TryGetValue(u.VendorId.ToLowerInvariant(), out var v) ? v : $"{u.VendorId}:{u.ProductId}";

    private static IEnumerable<(string Subject, VolumeInfo Volume)> Volumes(SourceInventory inv) =>
        from d in inv.Disks
        where d.Table != null
        from p in d.Table!.Partitions
        where p.Volume != null
        select ($"{d.Name} partition {p.Number}", p.Volume!);
}
