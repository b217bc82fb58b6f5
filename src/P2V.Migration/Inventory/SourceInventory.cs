using P2V.Windows;

namespace P2V.Migration.Inventory;

/// <summary>
/// Everything known about a source machine before anything is copied: what the seed's GatherHW wrote to XML,
/// gathered here from sysfs/procfs/DMI and from the disks themselves. Serialized by <see cref="InventoryXml"/>
/// to the schema in docs/inventory.xsd.
/// </summary>
public sealed record SourceInventory(
    DateTimeOffset Gathered,
    string Tool,
    SystemInfo System,
    ProcessorInfo Processors,
    long MemoryBytes,
    IReadOnlyList<DiskInfo> Disks,
    IReadOnlyList<NetworkAdapterInfo> NetworkAdapters,
    IReadOnlyList<PciDeviceInfo> PciDevices,
    IReadOnlyList<UsbDeviceInfo> UsbDevices,
    IReadOnlyList<PortInfo> Ports,
    SourceWindows? Windows)
{
    /// <summary>The volume Windows is installed on, with the disk that holds it; null when no Windows was found.</summary>
    public (DiskInfo Disk, PartitionInfo Partition)? SystemVolume =>
        Windows is { } w && Disks.FirstOrDefault(d => d.Name == w.Disk) is { } disk
            && disk.Table?.Partitions.FirstOrDefault(p => p.Number == w.Partition) is { } part
            ? (disk, part) : null;
}

/// <summary>The Windows installation on a source disk: which disk and partition hold it, and what P2V.Windows read there.</summary>
public sealed record SourceWindows(string Disk, int Partition, WindowsFacts Facts);

/// <summary>DMI: who made the machine and its firmware (/sys/class/dmi/id).</summary>
public sealed record SystemInfo(string Vendor, string Model, string Serial, string Uuid, string BiosVendor, string BiosVersion, string BiosDate);

/// <summary>CPU topology from /proc/cpuinfo: distinct physical ids, distinct (physical id, core id) pairs, logical processors.</summary>
public sealed record ProcessorInfo(int Sockets, int Cores, int Threads, string Model);

/// <summary>How a disk is attached, as far as migration cares: which need a driver change or cannot be carried over.</summary>
public enum DiskBus { Unknown, Ide, Sata, Scsi, Sas, Raid, FibreChannel, Usb, Nvme, Virtio, Mmc, File }

public sealed record DiskInfo(
    string Name,
    long SizeBytes,
    int LogicalSectorSize,
    int PhysicalSectorSize,
    DiskBus Bus,
    string Model,
    string Driver,
    bool Removable,
    string? Source,
    PartitionTableInfo? Table)
{
    public bool IsDynamic => Table?.Style == PartitionStyle.Dynamic;
}

/// <summary>The partitioning style; Dynamic is a Windows LDM disk, whose volumes cannot be migrated.</summary>
public enum PartitionStyle { None, Mbr, Gpt, Dynamic }

public sealed record PartitionTableInfo(PartitionStyle Style, string? Identifier, IReadOnlyList<PartitionInfo> Partitions);

/// <summary>A partition; <paramref name="Type"/> is the MBR type byte as two hex digits, or the GPT type GUID.</summary>
public sealed record PartitionInfo(int Number, long OffsetBytes, long LengthBytes, string Type, bool Bootable, VolumeInfo? Volume);

public enum VolumeFileSystem { Raw, Ntfs, Fat12, Fat16, Fat32, BitLocker }

/// <summary>
/// A volume's facts from its own metadata: file system, label, space in use (NTFS $Bitmap / FAT table), whether
/// hiberfil.sys holds a hibernated session, and whether it is BitLocker-encrypted (and so unreadable offline).
/// </summary>
public sealed record VolumeInfo(VolumeFileSystem FileSystem, string Label, long TotalBytes, long? UsedBytes, bool Hibernated, bool Dirty)
{
    public long? FreeBytes => UsedBytes is { } u ? TotalBytes - u : null;
}

/// <summary>
/// A network adapter: what sysfs says of it, its PCI address ("0000:02:00.0", "" when not on PCI), and the IPv4
/// configuration the Windows installation holds for it (<see cref="NicMatcher"/>); null when none was found.
/// </summary>
public sealed record NetworkAdapterInfo(string Name, string Mac, string Driver, string VendorId, string DeviceId, int? SpeedMbps,
    string PciAddress = "", IpConfiguration? Ip = null);

/// <summary>What a PCI function is, from its class code: the storage and network controllers migration must reason about.</summary>
public enum PciDeviceKind { Other, Ide, Sata, Scsi, Sas, Raid, Nvme, FibreChannel, Ethernet, Usb, Display, Serial, Parallel, Encryption, Bridge }

public sealed record PciDeviceInfo(string Address, string ClassCode, string VendorId, string DeviceId, string Driver, PciDeviceKind Kind);

/// <summary>A USB device; <paramref name="DeviceClass"/> and interface classes are two hex digits as sysfs shows them.</summary>
public sealed record UsbDeviceInfo(
    string Address, string VendorId, string ProductId, string DeviceClass, IReadOnlyList<string> InterfaceClasses, string Product, string Manufacturer)
{
    public bool IsHub => DeviceClass == "09";
}

public enum PortKind { Parallel, Serial }

public sealed record PortInfo(PortKind Kind, string Name, string Driver);
