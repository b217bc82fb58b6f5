using System.Globalization;
using System.Text.RegularExpressions;

namespace P2V.Migration.Inventory;

/// <summary>
/// Gathers the hardware part of the inventory from sysfs, procfs and DMI, the way the seed's GatherHW did through WMI.
/// Every fact is optional: a missing file gives an empty string or null, never a failure.
/// </summary>
public sealed partial class HardwareGatherer(SysfsTree tree)
{
    /// <summary>Host drivers of hardware RAID controllers: the disk the OS sees is a logical drive.</summary>
    private static readonly HashSet<string> RaidDrivers = new(StringComparer.Ordinal)
    {
        "megaraid_sas", "megaraid", "megaraid_mbox", "aacraid", "hpsa", "cciss", "smartpqi", "3w-9xxx", "3w-sas", "3w-xxxx",
        "arcmsr", "ips", "gdth", "dpt_i2o", "mptraid", "esas2r",
    };

    /// <summary>Host drivers of Fibre Channel HBAs: the disks behind them are SAN LUNs.</summary>
    private static readonly HashSet<string> FibreChannelDrivers = new(StringComparer.Ordinal)
    {
        "qla2xxx", "lpfc", "bfa", "qedf", "fnic", "zfcp", "csiostor", "qla1280",
    };

    private static readonly HashSet<string> SasDrivers = new(StringComparer.Ordinal) { "mpt3sas", "mpt2sas", "mptsas", "pm80xx", "isci", "mvsas", "hisi_sas_v3_hw" };

    public SystemInfo System() => new(
        Dmi("sys_vendor"), Dmi("product_name"), Dmi("product_serial"), Dmi("product_uuid"),
        Dmi("bios_vendor"), Dmi("bios_version"), Dmi("bios_date"));

    private string Dmi(string name) => tree.Read("/sys/class/dmi/id/" + name) ?? "";

    /// <summary>/proc/cpuinfo: one block per logical processor; "physical id" is the socket, "core id" the core within it.</summary>
    public ProcessorInfo Processors()
    {
        var text = tree.Read("/proc/cpuinfo") ?? "";
        var sockets = new HashSet<string>();
        var cores = new HashSet<(string, string)>();
        int threads = 0;
        string model = "";
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = block.Split('\n').Select(l => l.Split(':', 2)).Where(kv => kv.Length == 2)
                .GroupBy(kv => kv[0].Trim()).ToDictionary(g => g.Key, g => g.First()[1].Trim());
            if (!fields.ContainsKey("processor")) continue;
            threads++;
            var socket = fields.GetValueOrDefault("physical id", "0");
            sockets.Add(socket);
            cores.Add((socket, fields.GetValueOrDefault("core id", threads.ToString(CultureInfo.InvariantCulture))));
            if (model.Length == 0) model = fields.GetValueOrDefault("model name", "");
        }
        return new ProcessorInfo(sockets.Count, cores.Count, threads, model);
    }

    /// <summary>The memory installed (SMBIOS memory devices), else MemTotal from /proc/meminfo, in bytes.</summary>
    public long MemoryBytes()
    {
        var table = tree.ReadBytes("/sys/firmware/dmi/tables/DMI");
        long installed = table is null ? 0 : SmbiosMemory.InstalledBytes(table);
        // The kernel never manages more than is installed: a table that says less left something out.
        return Math.Max(installed, Meminfo("MemTotal"));
    }

    /// <summary>MemAvailable from /proc/meminfo, in bytes: what can be had without swapping (0 where the kernel does not say).</summary>
    public long MemoryAvailableBytes() => Meminfo("MemAvailable");

    // proc(5): "Field:   value kB" lines; kB there means 1024 bytes.
    private long Meminfo(string field)
    {
        foreach (var line in (tree.Read("/proc/meminfo") ?? "").Split('\n'))
        {
            if (!line.StartsWith(field + ":", StringComparison.Ordinal)) continue;
            var number = line[(field.Length + 1)..].Trim().Split(' ')[0];
            if (long.TryParse(number, out var kb)) return kb * 1024;
        }
        return 0;
    }

    [GeneratedRegex(@"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")]
    private static partial Regex PciAddress();

    /// <summary>Whole disks in /sys/block, leaving out loop, RAM, device-mapper, optical and other virtual devices.</summary>
    public IReadOnlyList<DiskInfo> Disks()
    {
        var disks = new List<DiskInfo>();
        foreach (var name in tree.List("/sys/block"))
        {
            if (name.StartsWith("loop", StringComparison.Ordinal) || name.StartsWith("ram", StringComparison.Ordinal)
                || name.StartsWith("dm-", StringComparison.Ordinal) || name.StartsWith("zram", StringComparison.Ordinal)
                || name.StartsWith("sr", StringComparison.Ordinal) || name.StartsWith("md", StringComparison.Ordinal)
                || name.StartsWith("nbd", StringComparison.Ordinal) || name.StartsWith("fd", StringComparison.Ordinal))
                continue;
            var b = "/sys/block/" + name;
            long sectors = tree.ReadLong(b + "/size") ?? 0;   // always in 512-byte units, whatever the sector size
            int logical = (int)(tree.ReadLong(b + "/queue/logical_block_size") ?? 512);
            int physical = (int)(tree.ReadLong(b + "/queue/physical_block_size") ?? logical);
            var model = string.Join(' ', new[] { tree.Read(b + "/device/vendor"), tree.Read(b + "/device/model") }.Where(s => !string.IsNullOrEmpty(s)));
            var (bus, driver) = DiskBusOf(tree.Resolve(b));
            bool removable = tree.Read(b + "/removable") == "1";
            disks.Add(new DiskInfo(name, sectors * 512, logical, physical, bus, model, driver, removable, null, null));
        }
        return disks;
    }

    /// <summary>
    /// The bus from the device path and the driver of the controller it hangs off: ".../0000:03:00.0/host0/..." under
    /// megaraid_sas is RAID; under qla2xxx, Fibre Channel; "/ata" is ATA (ahci: SATA, else IDE); "/usb", "/nvme", "/virtio".
    /// </summary>
    internal (DiskBus, string) DiskBusOf(string devicePath)
    {
        var parts = devicePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string driver = "";
        // The nearest PCI function above the disk is its host controller.
        for (int i = parts.Length - 1; i >= 0; i--)
        {
            if (!PciAddress().IsMatch(parts[i])) continue;
            driver = tree.LinkName("/" + string.Join('/', parts[..(i + 1)]) + "/driver") ?? "";
            break;
        }
        bool Has(string prefix) => parts.Any(p => p.StartsWith(prefix, StringComparison.Ordinal));
        DiskBus bus;
        if (Has("usb")) bus = DiskBus.Usb;
        else if (Has("nvme")) bus = DiskBus.Nvme;
        else if (Has("virtio")) bus = DiskBus.Virtio;
        else if (Has("mmc")) bus = DiskBus.Mmc;
        else if (RaidDrivers.Contains(driver)) bus = DiskBus.Raid;
        else if (FibreChannelDrivers.Contains(driver) || Has("rport-")) bus = DiskBus.FibreChannel;
        else if (SasDrivers.Contains(driver) || Has("port-") && Has("end_device-")) bus = DiskBus.Sas;
        else if (Has("ata")) bus = driver is "ahci" or "sata_nv" or "sata_sil" or "sata_via" or "sata_promise" ? DiskBus.Sata : DiskBus.Ide;
        else if (Has("ide")) bus = DiskBus.Ide;
        else if (Has("host")) bus = DiskBus.Scsi;
        else bus = DiskBus.Unknown;
        return (bus, driver);
    }

    /// <summary>Network interfaces backed by a device (lo, bridges and tunnels have no "device" link).</summary>
    public IReadOnlyList<NetworkAdapterInfo> NetworkAdapters()
    {
        var nics = new List<NetworkAdapterInfo>();
        foreach (var name in tree.List("/sys/class/net"))
        {
            var n = "/sys/class/net/" + name;
            if (!tree.Exists(n + "/device")) continue;
            // speed reads as -1 or fails with EINVAL when the link is down.
            int? speed = tree.ReadLong(n + "/speed") is { } s and > 0 ? (int)s : null;
            nics.Add(new NetworkAdapterInfo(name, (tree.Read(n + "/address") ?? "").ToLowerInvariant(), tree.LinkName(n + "/device/driver") ?? "",
                HexId(tree.Read(n + "/device/vendor")), HexId(tree.Read(n + "/device/device")), speed,
                PciAddress().IsMatch(Path.GetFileName(tree.Resolve(n + "/device"))) ? Path.GetFileName(tree.Resolve(n + "/device")) : ""));
        }
        return nics;
    }

    public IReadOnlyList<PciDeviceInfo> PciDevices()
    {
        var devices = new List<PciDeviceInfo>();
        foreach (var address in tree.List("/sys/bus/pci/devices"))
        {
            var d = "/sys/bus/pci/devices/" + address;
            var cls = tree.Read(d + "/class") ?? "";
            devices.Add(new PciDeviceInfo(address, cls.StartsWith("0x", StringComparison.Ordinal) ? cls[2..] : cls,
                HexId(tree.Read(d + "/vendor")), HexId(tree.Read(d + "/device")), tree.LinkName(d + "/driver") ?? "", PciKind(cls)));
        }
        return devices;
    }

    /// <summary>PCI class code (class, subclass, interface) → the kind of controller (PCI Code and ID Assignment Specification, section 1).</summary>
    internal static PciDeviceKind PciKind(string classCode)
    {
        var c = classCode.StartsWith("0x", StringComparison.Ordinal) ? classCode[2..] : classCode;
        if (c.Length < 4) return PciDeviceKind.Other;
        return c[..4] switch
        {
            "0100" => PciDeviceKind.Scsi,
            "0101" => PciDeviceKind.Ide,
            "0104" => PciDeviceKind.Raid,
            "0106" => PciDeviceKind.Sata,
            "0107" => PciDeviceKind.Sas,
            "0108" => PciDeviceKind.Nvme,
            "0c04" => PciDeviceKind.FibreChannel,
            "0200" => PciDeviceKind.Ethernet,
            "0c03" => PciDeviceKind.Usb,
            "0700" => PciDeviceKind.Serial,
            "0701" => PciDeviceKind.Parallel,
            _ when c.StartsWith("03", StringComparison.Ordinal) => PciDeviceKind.Display,
            _ when c.StartsWith("10", StringComparison.Ordinal) => PciDeviceKind.Encryption,
            _ when c.StartsWith("06", StringComparison.Ordinal) => PciDeviceKind.Bridge,
            _ => PciDeviceKind.Other,
        };
    }

    /// <summary>USB devices (bus-port names like "1-1.2"; "usb1" is a root hub; "1-1:1.0" is an interface, read for its class).</summary>
    public IReadOnlyList<UsbDeviceInfo> UsbDevices()
    {
        var devices = new List<UsbDeviceInfo>();
        var all = tree.List("/sys/bus/usb/devices");
        foreach (var address in all)
        {
            if (address.Contains(':')) continue;
            var d = "/sys/bus/usb/devices/" + address;
            var vendor = tree.Read(d + "/idVendor");
            if (vendor == null) continue;
            var interfaces = all.Where(i => i.StartsWith(address + ":", StringComparison.Ordinal))
                .Select(i => tree.Read("/sys/bus/usb/devices/" + i + "/bInterfaceClass") ?? "").Where(s => s.Length > 0).Distinct().ToList();
            devices.Add(new UsbDeviceInfo(address, vendor, tree.Read(d + "/idProduct") ?? "", tree.Read(d + "/bDeviceClass") ?? "",
                interfaces, tree.Read(d + "/product") ?? "", tree.Read(d + "/manufacturer") ?? ""));
        }
        return devices;
    }

    /// <summary>
    /// Parallel ports from /sys/class/ppdev and /proc/sys/dev/parport; serial ports from /sys/class/tty/ttyS*
    /// that have a device and a known UART (type 0 is "no UART found": the 8250 driver lists four legacy ports regardless).
    /// </summary>
    public IReadOnlyList<PortInfo> Ports()
    {
        var ports = new List<PortInfo>();
        var parallel = new SortedSet<string>(StringComparer.Ordinal);
        // ppdev names its nodes parportN, like the port itself, so both sources agree on names.
        foreach (var p in tree.List("/sys/class/ppdev")) parallel.Add(p);
        foreach (var p in tree.List("/proc/sys/dev/parport")) if (p.StartsWith("parport", StringComparison.Ordinal)) parallel.Add(p);
        foreach (var p in parallel)
            ports.Add(new PortInfo(PortKind.Parallel, p, tree.LinkName("/sys/class/ppdev/" + p + "/device/driver") ?? ""));
        foreach (var t in tree.List("/sys/class/tty"))
        {
            if (!t.StartsWith("ttyS", StringComparison.Ordinal)) continue;
            var d = "/sys/class/tty/" + t;
            if (!tree.Exists(d + "/device")) continue;
            if (tree.Read(d + "/type") == "0") continue;
            ports.Add(new PortInfo(PortKind.Serial, t, tree.LinkName(d + "/device/driver") ?? ""));
        }
        return ports;
    }

    /// <summary>"0x8086" → "8086".</summary>
    private static string HexId(string? value) =>
        value is null ? "" : (value.StartsWith("0x", StringComparison.Ordinal) ? value[2..] : value).ToLowerInvariant();
}
