namespace P2V.Windows.Drivers;

public enum DeviceRole { Storage, Network }

/// <summary>
/// A paravirtual device a target VM can present, with the hardware IDs Windows enumerates for it (most specific
/// first): virtio's PCI IDs (vendor 1AF4; transitional devices 1000–103F with subsystem id = the virtio device
/// type, modern ones 1040 + type with QEMU's subsystem 1100 and revision 01 — "Virtual I/O Device (VIRTIO) Version
/// 1.1", 4.1.2 "PCI Device Discovery", and QEMU's docs/specs/pci-ids), VMware's (vendor 15AD: PVSCSI 07C0, VMXNET3
/// 07B0) and Hyper-V's VMBus channels, whose class GUID is the hardware ID (Linux include/linux/hyperv.h
/// HV_SCSI_GUID ba6163d9-…, HV_NIC_GUID f8615163-…).
/// </summary>
public sealed record VirtualDevice(string Name, DeviceRole Role, IReadOnlyList<string> HardwareIds)
{
    private static VirtualDevice Pci(string name, DeviceRole role, string vendor, string device, string subsystem, string revision) =>
        new(name, role, [
            $@"PCI\VEN_{vendor}&DEV_{device}&SUBSYS_{subsystem}&REV_{revision}",
            $@"PCI\VEN_{vendor}&DEV_{device}&SUBSYS_{subsystem}",
            $@"PCI\VEN_{vendor}&DEV_{device}",
        ]);

    public static readonly VirtualDevice VirtioBlock = Pci("virtio-blk (transitional)", DeviceRole.Storage, "1AF4", "1001", "00021AF4", "00");
    public static readonly VirtualDevice VirtioBlockModern = Pci("virtio-blk (modern)", DeviceRole.Storage, "1AF4", "1042", "11001AF4", "01");
    public static readonly VirtualDevice VirtioScsi = Pci("virtio-scsi (transitional)", DeviceRole.Storage, "1AF4", "1004", "00081AF4", "00");
    public static readonly VirtualDevice VirtioScsiModern = Pci("virtio-scsi (modern)", DeviceRole.Storage, "1AF4", "1048", "11001AF4", "01");
    public static readonly VirtualDevice VirtioNet = Pci("virtio-net (transitional)", DeviceRole.Network, "1AF4", "1000", "00011AF4", "00");
    public static readonly VirtualDevice VirtioNetModern = Pci("virtio-net (modern)", DeviceRole.Network, "1AF4", "1041", "11001AF4", "01");
    public static readonly VirtualDevice VmwarePvscsi = Pci("VMware PVSCSI", DeviceRole.Storage, "15AD", "07C0", "07C015AD", "02");
    public static readonly VirtualDevice VmwareVmxnet3 = Pci("VMware VMXNET3", DeviceRole.Network, "15AD", "07B0", "07B015AD", "01");
    public static readonly VirtualDevice HyperVStorage = new("Hyper-V storvsc", DeviceRole.Storage, [@"VMBUS\{ba6163d9-04a1-4d29-b605-72e2ffb1dc7f}"]);
    public static readonly VirtualDevice HyperVNetwork = new("Hyper-V netvsc", DeviceRole.Network, [@"VMBUS\{f8615163-df3e-46c5-913f-f2d2f965ed0e}"]);

    /// <summary>
    /// Every paravirtual device the target can give the VM, whichever bus the plan picks: drivers for all of them are
    /// installed, so the disk boots on any. Virtual Server 2005 has none (its Additions bring no storage or NIC driver).
    /// </summary>
    public static IReadOnlyList<VirtualDevice> For(TargetKind target) => target switch
    {
        TargetKind.Qemu or TargetKind.Libvirt => [VirtioBlock, VirtioBlockModern, VirtioScsi, VirtioScsiModern, VirtioNet, VirtioNetModern],
        TargetKind.Vmware => [VmwarePvscsi, VmwareVmxnet3],
        TargetKind.HyperV => [HyperVStorage, HyperVNetwork],
        _ => [],
    };

    /// <summary>The CriticalDeviceDatabase key of a hardware ID: '\' becomes '#', lower case (as setup writes them).</summary>
    public static string CriticalDeviceKey(string hardwareId) => hardwareId.Replace('\\', '#').ToLowerInvariant();
}
