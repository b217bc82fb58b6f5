namespace P2V.Migration.Planning;

/// <summary>The hypervisors a plan can be made for.</summary>
public enum TargetKind { VirtualServer, HyperV, Libvirt, Qemu, Vmware }

/// <summary>The container a target VM's disk is created in.</summary>
public enum DiskFileFormat { Vhd, VhdFixed, Vhdx, VhdxFixed, Raw, Vmdk }

/// <summary>
/// What a target's VMs can have. Virtual Server 2005 R2's figures are the seed's; the others are those of
/// Hyper-V generation 1 (Windows Server 2016+), QEMU's i440FX "pc" machine (which libvirt drives) and VMware
/// Workstation (hardware version 19). Legacy Windows needs emulated devices, so these are the emulated limits.
/// </summary>
public sealed record TargetLimits(
    TargetKind Kind,
    string DisplayName,
    long MaxMemoryMB,
    int MaxVcpus,
    int MaxNics,
    int IdeSlots,
    long? MaxIdeDiskBytes,
    int ScsiAdapters,
    int DisksPerScsiAdapter,
    DiskFileFormat DefaultDiskFormat,
    IReadOnlyList<DiskFileFormat> DiskFormats)
{
    public int MaxDisks => IdeSlots + ScsiAdapters * DisksPerScsiAdapter;

    public static TargetLimits For(TargetKind kind) => kind switch
    {
        // Virtual Server 2005 R2: 3.6 GB of RAM, 4 NICs, one CPU, IDE disks up to 127 GB, 4 SCSI adapters × 7 disks, VHD only.
        TargetKind.VirtualServer => new(kind, "Virtual Server 2005", 3686, 1, 4, 4, 127_000_000_000L, 4, 7, DiskFileFormat.Vhd,
            [DiskFileFormat.Vhd, DiskFileFormat.VhdFixed]),
        // Hyper-V generation 1: boots from IDE (2 controllers × 2), 4 SCSI controllers × 64, 1 TB RAM, 64 vCPUs,
        // 4 legacy network adapters (the only kind a pre-Vista guest can drive) + 8 synthetic.
        TargetKind.HyperV => new(kind, "Hyper-V (generation 1)", 1 << 20, 64, 12, 4, null, 4, 64, DiskFileFormat.Vhdx,
            [DiskFileFormat.Vhdx, DiskFileFormat.VhdxFixed, DiskFileFormat.Vhd, DiskFileFormat.VhdFixed]),
        // QEMU "pc": 4 IDE devices, LSI 53C895A adapters with 7 targets each, NICs in the free PCI slots.
        TargetKind.Libvirt => new(kind, "libvirt (QEMU/KVM)", 1 << 20, 255, 16, 4, null, 4, 7, DiskFileFormat.Raw,
            [DiskFileFormat.Raw, DiskFileFormat.Vhd, DiskFileFormat.VhdFixed, DiskFileFormat.Vhdx, DiskFileFormat.VhdxFixed]),
        TargetKind.Qemu => new(kind, "QEMU", 1 << 20, 255, 16, 4, null, 4, 7, DiskFileFormat.Raw,
            [DiskFileFormat.Raw, DiskFileFormat.Vhd, DiskFileFormat.VhdFixed, DiskFileFormat.Vhdx, DiskFileFormat.VhdxFixed]),
        // VMware Workstation 17: 128 GB, 32 vCPUs, 10 NICs, IDE 2×2, 4 SCSI adapters × 15 disks.
        TargetKind.Vmware => new(kind, "VMware Workstation", 128 << 10, 32, 10, 4, null, 4, 15, DiskFileFormat.Vmdk, [DiskFileFormat.Vmdk]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The largest disk a container holds: VHD 2040 GiB (its 32-bit sector count less the CHS rounding), VHDX 64 TiB, VMDK 62 TiB.</summary>
    public static long MaxDiskBytes(DiskFileFormat format) => format switch
    {
        DiskFileFormat.Vhd or DiskFileFormat.VhdFixed => 2040L << 30,
        DiskFileFormat.Vhdx or DiskFileFormat.VhdxFixed => 64L << 40,
        DiskFileFormat.Vmdk => 62L << 40,
        _ => long.MaxValue,
    };

    public static TargetKind ParseTarget(string name) => name.ToLowerInvariant() switch
    {
        "virtualserver" or "vs" or "vs2005" => TargetKind.VirtualServer,
        "hyperv" or "hyper-v" => TargetKind.HyperV,
        "libvirt" => TargetKind.Libvirt,
        "qemu" => TargetKind.Qemu,
        "vmware" => TargetKind.Vmware,
        _ => throw new ArgumentException($"unknown target '{name}' (virtualserver, hyperv, libvirt, qemu, vmware)"),
    };

    public static string TargetName(TargetKind kind) => kind.ToString().ToLowerInvariant();

    public static DiskFileFormat ParseDiskFormat(string name) => name.ToLowerInvariant() switch
    {
        "vhd" => DiskFileFormat.Vhd,
        "vhd-fixed" => DiskFileFormat.VhdFixed,
        "vhdx" => DiskFileFormat.Vhdx,
        "vhdx-fixed" => DiskFileFormat.VhdxFixed,
        "raw" or "img" => DiskFileFormat.Raw,
        "vmdk" => DiskFileFormat.Vmdk,
        _ => throw new ArgumentException($"unknown disk format '{name}' (vhd, vhd-fixed, vhdx, vhdx-fixed, raw, vmdk)"),
    };

    public static string DiskFormatName(DiskFileFormat f) => f switch
    {
        DiskFileFormat.VhdFixed => "vhd-fixed",
        DiskFileFormat.VhdxFixed => "vhdx-fixed",
        _ => f.ToString().ToLowerInvariant(),
    };

    public static string Extension(DiskFileFormat f) => f switch
    {
        DiskFileFormat.Vhd or DiskFileFormat.VhdFixed => ".vhd",
        DiskFileFormat.Vhdx or DiskFileFormat.VhdxFixed => ".vhdx",
        DiskFileFormat.Vmdk => ".vmdk",
        _ => ".img",
    };
}
