using P2V.Imaging.VirtualDisks;
using System.Text.Json;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>
/// plan.json: everything `p2v createvm` and the scripts need, decided once by <see cref="MigrationPlanner"/>.
/// Paths under <see cref="VmConfigPath"/> and <see cref="VirtualDiskPath"/> are on the destination host.
/// </summary>
public sealed record MigrationPlan
{
    public int Version { get; init; } = 1;
    public required string Name { get; init; }
    public required TargetKind Target { get; init; }
    public required string VmConfigPath { get; init; }
    public required string VirtualDiskPath { get; init; }
    public required string DestHost { get; init; }
    /// <summary>The inventory the plan was made from, relative to the plan folder.</summary>
    public string Inventory { get; init; } = "inventory.xml";
    public required long MemoryMB { get; init; }
    public required int Vcpus { get; init; }
    public required PlannedHal Hal { get; init; }
    public required PlannedGuest Guest { get; init; }
    public required IReadOnlyList<PlannedDisk> Disks { get; init; }
    public required IReadOnlyList<PlannedNic> Nics { get; init; }
    /// <summary>The virtual networks the NICs join, each once (<see cref="NetworkPlanning"/>).</summary>
    public IReadOnlyList<PlannedNetwork> Networks { get; init; } = [];
    /// <summary>The deploy boot floppy as the VM sees it (a 1.44 MB FAT12 image: syslinux + iPXE).</summary>
    public required string Floppy { get; init; }
    /// <summary>The VM configuration file: .vmc, .ps1, .xml, .sh or .vmx by target.</summary>
    public required string ConfigFile { get; init; }
    /// <summary>The P2V controller's URL that createvm registers the target device with; null for none.</summary>
    public string? Controller { get; init; }
    /// <summary>The folder of driver packages the deploy's fix-up installs from (absolute, on the planning host); null for none.</summary>
    public string? Drivers { get; init; }
    /// <summary>The first-boot scripts (absolute, on the planning host), in the order they run.</summary>
    public IReadOnlyList<string> FirstBoot { get; init; } = [];
    public IReadOnlyList<PlannedFinding> Findings { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, MigrationJson.Default.MigrationPlan);

    public static MigrationPlan Load(string path)
    {
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllText(path), MigrationJson.Default.MigrationPlan)
                ?? throw new InvalidDataException($"{path}: empty plan");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a migration plan: {e.Message}", e);
        }
    }
}

public sealed record PlannedHal(HalAction Action, string? Installed, string Reason);

/// <summary>The guest as far as device choices go: its Windows version picks NIC and SCSI models with inbox drivers.</summary>
public sealed record PlannedGuest(string? Product, string? Version, string? ServicePack, bool Acpi)
{
    /// <summary>Whether the guest's Windows is older than <paramref name="major"/>.<paramref name="minor"/>; an unknown version counts as 5.0.</summary>
    public bool IsBefore(int major, int minor)
    {
        var v = System.Version.TryParse(Version is { } s && !s.Contains('.') ? s + ".0" : Version, out var p) ? p : new System.Version(5, 0);
        return v.Major < major || v.Major == major && v.Minor < minor;
    }
}

/// <summary>One VM disk: the source disk it stands for, its size, file and place on the VM's buses.</summary>
public sealed record PlannedDisk(string Source, long SizeBytes, int SectorSize, string File, VirtualDiskFormat Format, VmDiskBus Bus, int Controller, int Unit);

/// <summary>One VM network adapter with the source adapter's MAC address.</summary>
public sealed record PlannedNic(string Source, string Mac, string Model, string Network);

/// <summary>
/// A virtual network on the host: its name, the source subnet it stands for ("192.168.10.0/24"; null when named by
/// hand or from no address), the Linux bridge that carries it (QEMU, libvirt: at most 15 characters, IFNAMSIZ), and
/// its definition file beside the VM configuration — .vnc (Virtual Server), .network.xml (libvirt), .bridge.sh (QEMU);
/// null where the target keeps none (Hyper-V makes its switch in the VM script; VMware's networks are host settings).
/// </summary>
public sealed record PlannedNetwork(string Name, string? Subnet, string Bridge, string? Definition);

public sealed record PlannedFinding(string Rule, Validation.Severity Severity, string Subject, string Message);
