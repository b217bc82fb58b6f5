using System.Globalization;
using System.Xml.Linq;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A libvirt domain (https://libvirt.org/formatdomain.html) on QEMU's i440FX "pc" machine: BIOS boot from the
/// floppy, then the first hard disk; IDE disks, an LSI 53C895A ("lsilogic") SCSI controller or virtio disks; NICs of a model
/// the guest has an inbox driver for, with the source MACs; local-time RTC as Windows expects.
/// </summary>
public static class LibvirtDomain
{
    public static string Write(MigrationPlan plan, string domainType = "kvm")
    {
        var devices = new XElement("devices");
        foreach (var d in plan.Disks)
        {
            devices.Add(new XElement("disk", new XAttribute("type", "file"), new XAttribute("device", "disk"),
                new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", QemuCommandLine.QemuFormat(d.Format))),
                new XElement("source", new XAttribute("file", d.File)),
                new XElement("target", new XAttribute("dev", DeviceName(d)), new XAttribute("bus", d.Bus.ToString().ToLowerInvariant())),
                // a virtio disk is a PCI device of its own: libvirt gives it a slot
                d.Bus switch
                {
                    VmDiskBus.Ide => Address(0, d.Controller, 0, d.Unit),
                    VmDiskBus.Scsi => Address(d.Controller, 0, d.Unit, 0),
                    _ => null,
                }));
        }
        devices.Add(new XElement("disk", new XAttribute("type", "file"), new XAttribute("device", "floppy"),
            new XElement("driver", new XAttribute("name", "qemu"), new XAttribute("type", "raw")),
            new XElement("source", new XAttribute("file", plan.Floppy)),
            new XElement("target", new XAttribute("dev", "fda"), new XAttribute("bus", "fdc"))));
        devices.Add(new XElement("controller", new XAttribute("type", "ide"), new XAttribute("index", "0")));
        devices.Add(new XElement("controller", new XAttribute("type", "fdc"), new XAttribute("index", "0")));
        foreach (var c in plan.Disks.Where(d => d.Bus == VmDiskBus.Scsi).Select(d => d.Controller).Distinct().Order())
            devices.Add(new XElement("controller", new XAttribute("type", "scsi"), new XAttribute("index", c), new XAttribute("model", "lsilogic")));
        foreach (var n in plan.Nics)
            devices.Add(new XElement("interface", new XAttribute("type", "network"),
                new XElement("mac", new XAttribute("address", n.Mac)),
                new XElement("source", new XAttribute("network", n.Network)),
                new XElement("model", new XAttribute("type", n.Model))));
        devices.Add(new XElement("serial", new XAttribute("type", "pty"), new XElement("target", new XAttribute("port", "0"))));
        devices.Add(new XElement("input", new XAttribute("type", "tablet"), new XAttribute("bus", "usb")));
        devices.Add(new XElement("graphics", new XAttribute("type", "vnc"), new XAttribute("port", "-1"), new XAttribute("autoport", "yes")));
        devices.Add(new XElement("video", new XElement("model", new XAttribute("type", "cirrus"))));

        var domain = new XElement("domain", new XAttribute("type", domainType),
            new XElement("name", plan.Name),
            new XElement("description", $"migrated by P2V.Boot from {string.Join(", ", plan.Disks.Select(d => d.Source))}; HAL: {plan.Hal.Reason}"),
            new XElement("memory", new XAttribute("unit", "MiB"), plan.MemoryMB.ToString(CultureInfo.InvariantCulture)),
            new XElement("vcpu", new XAttribute("placement", "static"), plan.Vcpus.ToString(CultureInfo.InvariantCulture)),
            new XElement("os",
                new XElement("type", new XAttribute("arch", "x86_64"), new XAttribute("machine", "pc"), "hvm"),
                new XElement("boot", new XAttribute("dev", "fd")),
                new XElement("boot", new XAttribute("dev", "hd"))),
            plan.Guest.Acpi ? new XElement("features", new XElement("acpi"), new XElement("apic")) : new XElement("features", new XElement("pae")),
            new XElement("clock", new XAttribute("offset", "localtime")),
            new XElement("on_poweroff", "destroy"),
            new XElement("on_reboot", "restart"),
            new XElement("on_crash", "destroy"),
            devices);
        return new XDocument(domain).ToString() + "\n";
    }

    private static XElement Address(int controller, int bus, int target, int unit) => new("address",
        new XAttribute("type", "drive"), new XAttribute("controller", controller), new XAttribute("bus", bus),
        new XAttribute("target", target), new XAttribute("unit", unit));

    /// <summary>hda–hdd by IDE channel and unit; sda, sdb, … for SCSI disks in order; vda, vdb, … for virtio.</summary>
    private static string DeviceName(PlannedDisk d) => d.Bus switch
    {
        VmDiskBus.Ide => "hd" + (char)('a' + d.Controller * 2 + d.Unit),
        VmDiskBus.Scsi => "sd" + (char)('a' + d.Controller * 7 + d.Unit),
        _ => "vd" + (char)('a' + d.Controller),
    };
}
