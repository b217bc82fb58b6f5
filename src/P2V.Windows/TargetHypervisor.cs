using P2V.Imaging.VirtualDisks;

namespace P2V.Windows;

/// <summary>The hypervisors a migrated installation can be planned for and fixed up for.</summary>
public enum TargetKind { VirtualServer, HyperV, Libvirt, Qemu, Vmware }

/// <summary>
/// One hypervisor as a migrated Windows sees it, and as validation, planning, the VM configurations and the
/// fix-ups all read it: its limits (emulated devices only — a pre-Vista guest has no drivers for synthetic ones),
/// its IDE controller, its network adapters and the HAL that fits its interrupt controller.
/// </summary>
/// <param name="IdeControllerDeviceKey">The emulated IDE controller's PCI id as a CriticalDeviceDatabase key ('\' becomes '#').</param>
/// <param name="EmulatesApic">Whether the VM has a local APIC: without one only "ACPI PC" (halacpi.dll) boots.</param>
public sealed record TargetHypervisor(
    TargetKind Kind,
    string DisplayName,
    long MaxMemoryMB,
    int MaxVcpus,
    int MaxNics,
    int IdeSlots,
    long? MaxIdeDiskBytes,
    int ScsiAdapters,
    int DisksPerScsiAdapter,
    string IdeControllerDeviceKey,
    bool EmulatesApic,
    VirtualDiskFormat DefaultDiskFormat,
    IReadOnlyList<VirtualDiskFormat> DiskFormats)
{
    public string Name => Kind.ToString().ToLowerInvariant();

    public int MaxDisks => IdeSlots + ScsiAdapters * DisksPerScsiAdapter;

    private const string Piix4Ide = "pci#ven_8086&dev_7111", Piix3Ide = "pci#ven_8086&dev_7010";

    private static readonly VirtualDiskFormat[] QemuFormats = [VirtualDiskFormat.Raw, VirtualDiskFormat.Vhd, VirtualDiskFormat.VhdFixed, VirtualDiskFormat.Vhdx, VirtualDiskFormat.VhdxFixed];

    public static TargetHypervisor For(TargetKind kind) => kind switch
    {
        // Virtual Server 2005 R2 (its Administrator's Guide, and the seed): 3.6 GB of RAM, one processor, 4 NICs
        // (DEC 21140), Intel 440BX with a PIIX4 IDE controller (4 devices, disks up to 127 GB), 4 SCSI adapters × 7
        // disks, VHD only; ACPI without an APIC.
        TargetKind.VirtualServer => new(kind, "Virtual Server 2005", 3686, 1, 4, 4, 127_000_000_000L, 4, 7, Piix4Ide, EmulatesApic: false,
            VirtualDiskFormat.Vhd, [VirtualDiskFormat.Vhd, VirtualDiskFormat.VhdFixed]),
        // Hyper-V generation 1 ("Plan for Hyper-V scalability in Windows Server", Microsoft Learn): 1 TB of RAM and 64
        // virtual processors for generation 1; 12 network adapters (8 synthetic + 4 legacy, a DEC 21140, the only kind
        // a pre-Vista guest can drive); boots from IDE (2 controllers × 2, PIIX4); 4 SCSI controllers × 64 disks.
        TargetKind.HyperV => new(kind, "Hyper-V (generation 1)", 1 << 20, 64, 12, 4, null, 4, 64, Piix4Ide, EmulatesApic: true,
            VirtualDiskFormat.Vhdx, [VirtualDiskFormat.Vhdx, VirtualDiskFormat.VhdxFixed, VirtualDiskFormat.Vhd, VirtualDiskFormat.VhdFixed]),
        // QEMU's "pc" machine (i440FX + PIIX3), which libvirt drives too: `qemu-system-x86_64 -machine pc -smp 300`
        // answers "The max CPUs supported by machine 'pc-i440fx-7.2' is 255"; 4 IDE devices; LSI 53C895A SCSI adapters
        // with 7 targets each; NICs in the free PCI slots.
        TargetKind.Libvirt => new(kind, "libvirt (QEMU/KVM)", 1 << 20, 255, 16, 4, null, 4, 7, Piix3Ide, EmulatesApic: true, VirtualDiskFormat.Raw, QemuFormats),
        TargetKind.Qemu => new(kind, "QEMU", 1 << 20, 255, 16, 4, null, 4, 7, Piix3Ide, EmulatesApic: true, VirtualDiskFormat.Raw, QemuFormats),
        // VMware Workstation 17 ("Virtual machine hardware versions", VMware docs; hardware version 19+): 128 GB of
        // RAM, 32 vCPUs, 10 NICs; Intel 440BX with a PIIX4 IDE controller (2 × 2), 4 SCSI adapters × 15 disks.
        TargetKind.Vmware => new(kind, "VMware Workstation", 128 << 10, 32, 10, 4, null, 4, 15, Piix4Ide, EmulatesApic: true,
            VirtualDiskFormat.Vmdk, [VirtualDiskFormat.Vmdk]),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    public static TargetHypervisor Parse(string name) => For(ParseKind(name));

    public static TargetKind ParseKind(string name) => name.ToLowerInvariant() switch
    {
        "virtualserver" or "virtual-server" or "vs" or "vs2005" => TargetKind.VirtualServer,
        "hyperv" or "hyper-v" => TargetKind.HyperV,
        "libvirt" => TargetKind.Libvirt,
        "qemu" or "kvm" => TargetKind.Qemu,
        "vmware" => TargetKind.Vmware,
        _ => throw new ArgumentException($"unknown target '{name}' (virtualserver, hyperv, libvirt, qemu, vmware)"),
    };

    /// <summary>
    /// The HAL Windows setup would pick on this VM: ACPI everywhere; for one vCPU "ACPI Uniprocessor PC"
    /// (halaacpi.dll), or "ACPI PC" (halacpi.dll, PIC only) where no APIC is emulated; "ACPI Multiprocessor PC"
    /// (halmacpi.dll) for several.
    /// </summary>
    public HalType Hal(int vcpus) =>
        vcpus > 1 ? HalType.AcpiMultiprocessor : EmulatesApic ? HalType.AcpiUniprocessor : HalType.AcpiPc;

    /// <summary>
    /// An adapter the guest has an inbox driver for (<paramref name="before"/> says whether its Windows is older than a
    /// version): NT 4.0 knows NE2000 (QEMU) and PCnet (VMware); 2000–2003 the Realtek 8139; Vista and later the Intel
    /// PRO/1000. Hyper-V's legacy adapter (a DEC 21140) serves every pre-6.0 guest, as Virtual Server's does.
    /// </summary>
    public string NicModel(Func<int, int, bool> before) => Kind switch
    {
        TargetKind.VirtualServer => "dec21140",
        TargetKind.HyperV => before(6, 0) ? "legacy" : "synthetic",
        TargetKind.Vmware => before(6, 0) ? "vlance" : "e1000",
        _ => before(5, 0) ? "ne2k_pci" : before(6, 0) ? "rtl8139" : "e1000",
    };
}
