using P2V.Imaging.VirtualDisks;
using P2V.Migration.Inventory;
using P2V.Migration.Validation;
using P2V.Windows;

namespace P2V.Migration.Planning;

public sealed record PlanOptions
{
    public required string Name { get; init; }
    public required TargetKind Target { get; init; }
    public required string VmConfigPath { get; init; }
    public required string VirtualDiskPath { get; init; }
    public required string DestHost { get; init; }
    public VirtualDiskFormat? DiskFormat { get; init; }
    /// <summary>The controller every disk goes on; null: IDE, then SCSI when IDE is full (<see cref="DiskPlacement"/>).</summary>
    public VmDiskBus? DiskBus { get; init; }
    public long? MemoryMB { get; init; }
    /// <summary>
    /// Virtual networks: "NIC=NAME" puts a NIC on NAME, a bare "NAME" every other NIC; the rest join one network per
    /// source subnet, else "VM0" (<see cref="NetworkPlanning"/>).
    /// </summary>
    public IReadOnlyList<string> Networks { get; init; } = [];
    public string? Controller { get; init; }
    /// <summary>A folder of Windows driver packages the deploy's fix-up installs from (the target's paravirtual drivers).</summary>
    public string? Drivers { get; init; }
    /// <summary>Scripts the migrated system runs once at its first start, in this order.</summary>
    public IReadOnlyList<string> FirstBoot { get; init; } = [];
}

/// <summary>
/// The seed's VMScript /hwgeneratep2v: turns an inventory into a plan — same RAM, the source NICs' MACs, one disk
/// per source disk of the same size, the deploy boot floppy, and the vCPU count the HAL decision allows.
/// </summary>
public static class MigrationPlanner
{
    public static (MigrationPlan Plan, IReadOnlyList<Finding> Findings) Plan(SourceInventory inv, PlanOptions o)
    {
        if (o.Name.Length == 0 || o.Name.IndexOfAny(['/', '\\', ':', '"', '\'', '*', '?', '<', '>', '|', '$', '`', ' ']) >= 0)
            throw new ArgumentException($"VM name '{o.Name}' must be non-empty, without spaces, quotes or path characters");
        var limits = TargetHypervisor.For(o.Target);
        var format = o.DiskFormat ?? limits.DefaultDiskFormat;
        if (!limits.DiskFormats.Contains(format))
            throw new ArgumentException($"{limits.DisplayName} cannot use {VirtualDisk.FormatName(format)} disks ({string.Join(", ", limits.DiskFormats.Select(VirtualDisk.FormatName))})");
        if (o.DiskBus is { } bus) DiskBusSupport.CheckTarget(limits, bus);
        var context = ValidationContext.For(inv, o.Target, format, o.DiskBus);
        var (drivers, firstBoot, extra) = DriversAndFirstBoot.Check(o.Drivers, o.FirstBoot, inv, o.Target);
        var findings = InventoryValidator.Validate(context).Concat(extra).ToList();

        // The memory installed (SMBIOS), or where the firmware does not say, MemTotal, a little below it: round up to 32 MB.
        long sourceMB = (inv.MemoryBytes + (32L << 20) - 1) / (32L << 20) * 32;
        long memory = Math.Min(o.MemoryMB ?? Math.Max(sourceMB, 128), limits.MaxMemoryMB);

        var windows = inv.Windows?.Facts;
        var guest = new PlannedGuest(windows?.ProductName, windows?.Version, windows?.ServicePack,
            Acpi: windows?.HalName is null || windows.HalType.IsAcpi());
        var sourceNics = inv.NetworkAdapters.Take(ValidationRules.NicLimit(context)).ToList();
        var names = NetworkPlanning.Assign(inv.NetworkAdapters, o.Networks).Take(sourceNics.Count).ToList();
        var nics = sourceNics.Select((n, i) => new PlannedNic(n.Name, n.Mac, limits.NicModel(guest.IsBefore), names[i])).ToList();

        var (slots, _) = DiskPlacement.Place(DiskPlacement.MigratedDisks(inv), limits, o.DiskBus);
        var disks = slots.Select((s, i) => new PlannedDisk(s.Disk.Name, s.Disk.SizeBytes,
            s.Disk.LogicalSectorSize == 4096 && format is VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed ? 4096 : 512,
            HostPath.Join(o.VirtualDiskPath, $"{o.Name}_{s.Disk.Name}{VirtualDisk.Extension(format)}"), format, s.Bus, s.Controller, s.Unit)).ToList();

        var plan = new MigrationPlan
        {
            Name = o.Name,
            Target = o.Target,
            VmConfigPath = o.VmConfigPath,
            VirtualDiskPath = o.VirtualDiskPath,
            DestHost = o.DestHost,
            MemoryMB = memory,
            Vcpus = context.Hal.Vcpus,
            Hal = new PlannedHal(context.Hal.Action, windows?.HalName, context.Hal.Reason),
            Guest = guest,
            Disks = disks,
            Nics = nics,
            Networks = NetworkPlanning.Networks(sourceNics, names, o.Target, o.VmConfigPath),
            Floppy = HostPath.Join(o.VmConfigPath, $"{o.Name}_boot.vfd"),
            ConfigFile = HostPath.Join(o.VmConfigPath, o.Name + ConfigExtension(o.Target)),
            Controller = o.Controller,
            Drivers = drivers,
            FirstBoot = firstBoot,
            Findings = findings.Select(f => new PlannedFinding(f.RuleId, f.Severity, f.Subject, f.Message)).ToList(),
        };
        return (plan, findings);
    }

    /// <summary>
    /// The plan with every disk moved onto <paramref name="bus"/> (createvm --disk-bus), with the guest's findings for it.
    /// </summary>
    /// <exception cref="ArgumentException">The target has no such controller, the disks do not fit on it, or the guest has no driver for it.</exception>
    public static (MigrationPlan Plan, IReadOnlyList<Finding> Findings) WithDiskBus(MigrationPlan plan, VmDiskBus bus)
    {
        var limits = TargetHypervisor.For(plan.Target);
        DiskBusSupport.CheckTarget(limits, bus);
        var slots = DiskPlacement.Slots([.. plan.Disks.Select(d => d.SizeBytes)], limits, bus);
        if (slots.Any(s => s is null))
            throw new ArgumentException($"--disk-bus {bus.ToString().ToLowerInvariant()}: {plan.Disks.Count} disk(s) do not all fit on {limits.DisplayName}'s {bus.ToString().ToLowerInvariant()} controllers");
        var findings = DiskBusSupport.Check(limits, plan.Guest.Version, bus).ToList();
        if (findings.FirstOrDefault(f => f.Severity == Severity.Error) is { } error)
            throw new ArgumentException($"--disk-bus {bus.ToString().ToLowerInvariant()}: {error.Message}; {error.Fix}");
        return (plan with { Disks = [.. plan.Disks.Select((d, i) => d with { Bus = slots[i]!.Value.Bus, Controller = slots[i]!.Value.Controller, Unit = slots[i]!.Value.Unit })] }, findings);
    }

    public static string ConfigExtension(TargetKind target) => target switch
    {
        TargetKind.VirtualServer => ".vmc",
        TargetKind.HyperV => ".hyperv.ps1",
        TargetKind.Libvirt => ".xml",
        TargetKind.Qemu => ".qemu.sh",
        TargetKind.Vmware => ".vmx",
        _ => throw new ArgumentOutOfRangeException(nameof(target)),
    };
}

/// <summary>Paths on the destination host, which may be Windows ("D:\VMs") or POSIX ("/srv/vms").</summary>
public static class HostPath
{
    public static bool IsWindows(string path) => path.Contains('\\') || path.Length >= 2 && path[1] == ':';

    public static string Join(string dir, string name)
    {
        char sep = IsWindows(dir) ? '\\' : '/';
        return dir.Length == 0 ? name : dir.TrimEnd('/', '\\') + sep + name;
    }

    public static string FileName(string path) => path[(path.LastIndexOfAny(['/', '\\']) + 1)..];
}
