using P2V.Migration.Validation;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>
/// Which disk controller --disk-bus may give the VM, by target and by the guest's Windows version. A target without
/// the controller is refused outright; a guest without a driver for it is an error (none exists) or a warning (one
/// exists but is not inbox, or not boot-start in the migrated system: `p2v fixup --drivers` installs it offline).
/// </summary>
public static class DiskBusSupport
{
    public const string RuleId = "target-disk-bus";

    public static VmDiskBus Parse(string name) => name.ToLowerInvariant() switch
    {
        "ide" => VmDiskBus.Ide,
        "scsi" => VmDiskBus.Scsi,
        "virtio" => VmDiskBus.Virtio,
        _ => throw new ArgumentException($"unknown disk bus '{name}' (ide, scsi, virtio)"),
    };

    /// <exception cref="ArgumentException">The target has no such controller, or cannot boot from it.</exception>
    public static void CheckTarget(TargetHypervisor target, VmDiskBus bus)
    {
        if (bus == VmDiskBus.Virtio && target.Kind is not (TargetKind.Qemu or TargetKind.Libvirt))
            throw new ArgumentException($"--disk-bus virtio: {target.DisplayName} has no virtio disks (QEMU and libvirt have; ide or scsi here)");
        // Generation 1's BIOS boots from IDE only (Microsoft Learn, "Should I create a generation 1 or 2 virtual machine in Hyper-V?").
        if (bus == VmDiskBus.Scsi && target.Kind == TargetKind.HyperV)
            throw new ArgumentException($"--disk-bus scsi: {target.DisplayName} boots only from IDE; without --disk-bus the system disk stays on IDE and the others fill SCSI when IDE is full");
    }

    /// <summary>The guest's side: whether the Windows at <paramref name="windowsVersion"/> ("5.2"; null when unknown) can run from the controller.</summary>
    public static IEnumerable<Finding> Check(TargetHypervisor target, string? windowsVersion, VmDiskBus bus)
    {
        var v = Version.TryParse(windowsVersion is { } s && !s.Contains('.') ? s + ".0" : windowsVersion, out var p) ? p : null;
        string os = windowsVersion is null ? "the guest" : $"Windows {windowsVersion}";
        switch (bus)
        {
            case VmDiskBus.Virtio when v is { Major: < 5 } or { Major: 5, Minor: 0 }:
                // virtio-win's viostor has builds for XP/2003 (its older releases) and later, none for NT 4.0 or 2000.
                yield return new(RuleId, Severity.Error, "disk bus", $"no virtio storage driver exists for {os} (virtio-win's viostor starts at Windows XP/2003)",
                    "use --disk-bus ide (every Windows boots from it) or scsi");
                break;
            case VmDiskBus.Virtio:
                yield return new(RuleId, Severity.Warning, "disk bus", $"{os} has no inbox virtio storage driver: the migrated system cannot boot from virtio disks until one is installed",
                    "install virtio-win's viostor offline before the first boot: p2v fixup DISK --target " + target.Name + " --drivers DIR");
                break;
            case VmDiskBus.Scsi:
                yield return new(RuleId, Severity.Warning, "disk bus", $"the system disk on {target.DisplayName}'s emulated SCSI adapter needs that adapter's driver set to start at boot in {os}",
                    "install the adapter's driver offline before the first boot: p2v fixup DISK --target " + target.Name + " --drivers DIR");
                break;
        }
    }
}
