using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.Validation;
using P2V.Windows;
using P2V.Windows.Pe;

namespace P2V.Migration.Tests;

/// <summary>Every rule shown to fire on an inventory made to trigger it, and not to fire on the clean one or on a near miss.</summary>
public sealed class ValidationRuleTests
{
    /// <summary>A machine every target takes as it is: 1 GB, one CPU, one SATA disk with Windows Server 2003 SP2 (uniprocessor ACPI HAL), one NIC.</summary>
    internal static SourceInventory Clean()
    {
        var volume = new VolumeInfo(VolumeFileSystem.Ntfs, "SYSTEM", 40L << 30, 10L << 30, false, false);
        var disk = new DiskInfo("sda", 40L << 30, 512, 512, DiskBus.Sata, "ATA WDC", "ahci", false, null,
            new PartitionTableInfo(PartitionStyle.Mbr, "12345678", [new PartitionInfo(1, 1 << 20, (40L << 30) - (1 << 20), "07", true, volume)]));
        return new SourceInventory(DateTimeOffset.UnixEpoch, "test",
            new SystemInfo("HP", "ProLiant", "X1", "", "HP", "1.0", "2008"),
            new ProcessorInfo(1, 1, 1, "Pentium 4"),
            1L << 30,
            [disk],
            [new NetworkAdapterInfo("eth0", "00:11:22:33:44:55", "tg3", "14e4", "1677", 1000)],
            [new PciDeviceInfo("0000:00:1f.2", "010601", "8086", "2922", "ahci", PciDeviceKind.Sata),
             new PciDeviceInfo("0000:02:00.0", "020000", "14e4", "1677", "tg3", PciDeviceKind.Ethernet)],
            [new UsbDeviceInfo("usb1", "1d6b", "0002", "09", ["09"], "EHCI Host Controller", "Linux")],
            [],
            new SourceWindows("sda", 1, new WindowsFacts
            {
                SystemRoot = "\\WINDOWS", ProductName = "Windows Server 2003", Version = "5.2", ServicePack = "Service Pack 2", ComputerName = "SRV1",
                Hal = Hal("halaacpi.dll"), Kernel = new SystemFile(@"\WINDOWS\system32\ntoskrnl.exe", "ntoskrnl.exe", null, PeMachine.I386), HasSystemHive = true,
            }));
    }

    private static SourceInventory SystemVolume(SourceInventory inv, Func<VolumeInfo, VolumeInfo> change) => SystemDisk(inv, d =>
        d with { Table = d.Table! with { Partitions = [d.Table.Partitions[0] with { Volume = change(d.Table.Partitions[0].Volume!) }] } });

    private static SourceInventory SystemDisk(SourceInventory inv, Func<DiskInfo, DiskInfo> change) =>
        inv with { Disks = [change(inv.Disks[0]), .. inv.Disks.Skip(1)] };

    private static SourceInventory Os(SourceInventory inv, string? version, string? sp, string? hal = "halaacpi.dll") =>
        inv with { Windows = inv.Windows! with { Facts = inv.Windows.Facts with { Version = version, ServicePack = sp, Hal = Hal(hal) } } };

    private static SystemFile Hal(string? name) => new(@"\WINDOWS\system32\hal.dll", name, null, PeMachine.I386);

    private static DiskInfo DataDisk(string name, long size, DiskBus bus = DiskBus.Sata) => new(name, size, 512, 512, bus, "", "", false, null, null);

    private static SourceInventory Usb(SourceInventory inv, UsbDeviceInfo u) => inv with { UsbDevices = [.. inv.UsbDevices, u] };

    private static readonly UsbDeviceInfo Keyboard = new("1-2", "413c", "2003", "00", ["03"], "USB Keyboard", "Dell");
    private static readonly UsbDeviceInfo Stick = new("1-3", "0781", "5567", "00", ["08"], "Cruzer Blade", "SanDisk");
    private static readonly UsbDeviceInfo Hasp = new("1-1", "0529", "0001", "00", ["ff"], "HASP HL 3.25", "SafeNet Inc.");
    private static readonly UsbDeviceInfo SmartCardReader = new("1-4", "076b", "3021", "00", ["0b"], "CardMan 3121", "OMNIKEY");

    /// <summary>rule id, target, a change of the clean inventory that makes the rule fire.</summary>
    public static TheoryData<string, string?, Func<SourceInventory, SourceInventory>> Fires => new()
    {
        { "memory-too-small", null, i => i with { MemoryBytes = 112L << 20 } },
        { "os-unsupported", null, i => Os(i, "4.0", "Service Pack 6") },
        { "os-unknown", null, i => i with { Windows = null } },
        { "fat-volume", null, i => SystemVolume(i, v => v with { FileSystem = VolumeFileSystem.Fat32 }) },
        { "dynamic-disk", null, i => i with { Disks = [.. i.Disks, DataDisk("sdb", 10L << 30) with { Table = new PartitionTableInfo(PartitionStyle.Dynamic, null, []) }] } },
        { "system-volume-on-dynamic-disk", null, i => SystemDisk(i, d => d with { Table = d.Table! with { Style = PartitionStyle.Dynamic } }) },
        { "usb-device", null, i => Usb(i, Stick) },
        { "parallel-port", null, i => i with { Ports = [new PortInfo(PortKind.Parallel, "parport0", "parport_pc")] } },
        { "hardware-authentication", null, i => Usb(i, Hasp) },
        { "san-fibre-channel", null, i => i with { PciDevices = [.. i.PciDevices, new PciDeviceInfo("0000:05:00.0", "0c0400", "1077", "2432", "qla2xxx", PciDeviceKind.FibreChannel)] } },
        { "multiprocessor-hal", "virtualserver", i => Os(i, "5.2", "Service Pack 2", "halmacpi.dll") with { Processors = new ProcessorInfo(2, 2, 2, "Xeon") } },
        { "disk-too-large-for-vhd", "virtualserver", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 3L << 40)] } },
        { "hibernated-volume", null, i => SystemVolume(i, v => v with { Hibernated = true }) },
        { "bitlocker-volume", null, i => SystemVolume(i, v => v with { FileSystem = VolumeFileSystem.BitLocker, UsedBytes = null }) },
        { "system-volume-low-free-space", null, i => SystemVolume(i, v => v with { UsedBytes = v.TotalBytes - (10L << 20) }) },
        { "raid-controller", null, i => SystemDisk(i, d => d with { Bus = DiskBus.Raid, Driver = "megaraid_sas" }) },
        { "serial-port", null, i => i with { Ports = [new PortInfo(PortKind.Serial, "ttyS0", "serial8250")] } },
        { "target-memory", "virtualserver", i => i with { MemoryBytes = 8L << 30 } },
        { "target-nics", "virtualserver", i => i with { NetworkAdapters = [.. Enumerable.Range(0, 5).Select(n => new NetworkAdapterInfo($"eth{n}", $"00:11:22:33:44:5{n}", "e1000", "8086", "100e", null))] } },
        { "target-disks", "virtualserver", i => i with { Disks = [.. i.Disks, .. Enumerable.Range(0, 32).Select(n => DataDisk($"sd{n}", 1L << 30))] } },
        { "target-disk-size", "hyperv", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 70L << 40)] } },
        { "target-disk-on-scsi", "virtualserver", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 200_000_000_000L)] } },
        { "target-vcpus", "qemu", i => i with { Processors = new ProcessorInfo(1, 2, 4, "Core") } },
        { "target-disk-bus", "qemu+virtio", i => Os(i, "5.0", "Service Pack 4") },
    };

    /// <summary>rule id, target, a change that comes close to the rule but must not make it fire.</summary>
    public static TheoryData<string, string?, Func<SourceInventory, SourceInventory>> NearMisses => new()
    {
        { "memory-too-small", null, i => i with { MemoryBytes = 120L << 20 } },
        { "os-unsupported", null, i => Os(i, "4.0", "Service Pack 6a") },
        { "os-unknown", null, i => Os(i, "5.0", "Service Pack 4") },
        { "fat-volume", null, i => SystemVolume(i, v => v with { FileSystem = VolumeFileSystem.Raw }) },
        { "dynamic-disk", null, i => i with { Disks = [.. i.Disks, DataDisk("sdb", 10L << 30) with { Table = new PartitionTableInfo(PartitionStyle.Gpt, null, []) }] } },
        { "system-volume-on-dynamic-disk", null, i => i with { Disks = [.. i.Disks, DataDisk("sdb", 10L << 30) with { Table = new PartitionTableInfo(PartitionStyle.Dynamic, null, []) }] } },
        { "usb-device", null, i => Usb(Usb(i, Keyboard), new UsbDeviceInfo("1-5", "05e3", "0608", "09", ["09"], "USB2.0 Hub", "")) },
        { "parallel-port", null, i => i with { Ports = [new PortInfo(PortKind.Serial, "ttyS0", "serial8250")] } },
        { "hardware-authentication", null, i => Usb(i, Stick) },
        { "san-fibre-channel", null, i => SystemDisk(i, d => d with { Bus = DiskBus.Sas, Driver = "mpt3sas" }) },
        { "multiprocessor-hal", "qemu", i => Os(i, "5.2", "Service Pack 2", "halmacpi.dll") with { Processors = new ProcessorInfo(2, 2, 2, "Xeon") } },
        { "disk-too-large-for-vhd", "hyperv", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 3L << 40)] } },
        { "hibernated-volume", null, i => SystemVolume(i, v => v with { Dirty = true }) },
        { "bitlocker-volume", null, i => SystemVolume(i, v => v with { FileSystem = VolumeFileSystem.Raw, UsedBytes = null }) },
        { "system-volume-low-free-space", null, i => SystemVolume(i, v => v with { UsedBytes = v.TotalBytes - (200L << 20) }) },
        { "raid-controller", null, i => i with { PciDevices = [.. i.PciDevices, new PciDeviceInfo("0000:03:00.0", "010400", "1000", "0060", "megaraid_sas", PciDeviceKind.Raid)] } },
        { "serial-port", null, i => i with { Ports = [new PortInfo(PortKind.Parallel, "parport0", "")] } },
        { "target-memory", "virtualserver", i => i with { MemoryBytes = 3686L << 20 } },
        { "target-nics", "virtualserver", i => i with { NetworkAdapters = [.. Enumerable.Range(0, 4).Select(n => new NetworkAdapterInfo($"eth{n}", $"00:11:22:33:44:5{n}", "e1000", "8086", "100e", null))] } },
        { "target-disks", "virtualserver", i => i with { Disks = [.. i.Disks, .. Enumerable.Range(0, 31).Select(n => DataDisk($"sd{n}", 1L << 30))] } },
        { "target-disk-size", "hyperv", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 64L << 40)] } },
        { "target-disk-on-scsi", "virtualserver", i => i with { Disks = [.. i.Disks, DataDisk("sdb", 127_000_000_000L)] } },
        { "target-vcpus", "qemu", i => Os(i, "5.2", "Service Pack 2", "halmacpi.dll") with { Processors = new ProcessorInfo(1, 2, 4, "Core") } },
        { "target-disk-bus", "qemu+ide", i => Os(i, "4.0", "Service Pack 6a") },
    };

    /// <summary>"qemu+virtio": the target, and the disk bus asked for.</summary>
    private static IReadOnlyList<Finding> Run(SourceInventory inv, string? target) =>
        InventoryValidator.Validate(ValidationContext.For(inv, target is null ? null : TargetHypervisor.ParseKind(target.Split('+')[0]),
            diskBus: target?.Split('+') is [_, var bus] ? DiskBusSupport.Parse(bus) : null));

    [Theory]
    [InlineData(null)]
    [InlineData("virtualserver")]
    [InlineData("hyperv")]
    [InlineData("libvirt")]
    [InlineData("qemu")]
    [InlineData("vmware")]
    public void CleanInventory_FiresNothing(string? target) => Assert.Empty(Run(Clean(), target));

    [Theory]
    [MemberData(nameof(Fires))]
    public void RuleFires(string rule, string? target, Func<SourceInventory, SourceInventory> change)
    {
        var findings = Run(change(Clean()), target);
        var rules = ValidationRules.All.Single(r => r.Id == rule);
        var hit = Assert.Single(findings, f => f.RuleId == rule);
        Assert.Equal(rules.Severity, hit.Severity);
        Assert.False(string.IsNullOrWhiteSpace(hit.Message));
        Assert.False(string.IsNullOrWhiteSpace(hit.Fix));
        Assert.Equal(findings.Any(f => f.Severity == Severity.Error), InventoryValidator.HasErrors(findings));
    }

    [Theory]
    [MemberData(nameof(NearMisses))]
    public void RuleDoesNotFireOnNearMiss(string rule, string? target, Func<SourceInventory, SourceInventory> change) =>
        Assert.DoesNotContain(Run(change(Clean()), target), f => f.RuleId == rule);

    [Fact]
    public void EveryRuleHasBothCases()
    {
        var ids = ValidationRules.All.Select(r => r.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids.Order(), Fires.Select(row => (string)row[0]).Order());
        Assert.Equal(ids.Order(), NearMisses.Select(row => (string)row[0]).Order());
    }

    [Theory]
    [InlineData("3.51", "Service Pack 5", true)]
    [InlineData("4.0", "", true)]
    [InlineData("4.0", "Service Pack 6", true)]
    [InlineData("4.0", "Service Pack 6a", false)]
    [InlineData("5.0", "Service Pack 3", true)]
    [InlineData("5.0", "Service Pack 4", false)]
    [InlineData("5.1", "", false)]
    [InlineData("5.2", "", false)]
    [InlineData("6.1", "Service Pack 1", false)]
    public void SupportedVersions(string version, string sp, bool fires) =>
        Assert.Equal(fires, Run(Os(Clean(), version, sp), null).Any(f => f.RuleId == "os-unsupported"));

    [Fact]
    public void GatheredMachines_FireWhatTheirHardwareShows()
    {
        var server = GatherTests.Gather("two-socket-server");
        var ids = Run(server, "virtualserver").Select(f => f.RuleId).ToHashSet();
        Assert.Superset(new HashSet<string> { "hardware-authentication", "parallel-port", "san-fibre-channel", "raid-controller", "serial-port", "target-memory", "target-disk-on-scsi", "os-unknown" }, ids);
        Assert.DoesNotContain("usb-device", ids);   // the keyboard and the root hub are not reported, the dongle is reported once as a dongle

        var small = Run(GatherTests.Gather("small-server"), "hyperv").Select(f => f.RuleId).ToHashSet();
        Assert.DoesNotContain("san-fibre-channel", small);
        Assert.DoesNotContain("hardware-authentication", small);
        Assert.DoesNotContain("memory-too-small", small);
    }
}
