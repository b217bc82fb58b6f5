using System.Globalization;
using System.Xml;
using System.Xml.Linq;
using P2V.Windows;
using P2V.Windows.Boot;
using P2V.Windows.Pe;

namespace P2V.Migration.Inventory;

/// <summary>
/// The inventory file: XML in the namespace <see cref="Namespace"/>, its schema published as docs/inventory.xsd.
/// Element and attribute names are stable; a reader ignores what it does not know, so later versions may add.
/// </summary>
public static class InventoryXml
{
    public static readonly XNamespace Namespace = "urn:p2v-boot:inventory:1";
    private static XName N(string local) => Namespace + local;

    public static void Save(SourceInventory inv, string path)
    {
        var settings = new XmlWriterSettings { Indent = true, Encoding = new System.Text.UTF8Encoding(false) };
        using (var writer = XmlWriter.Create(path, settings))
            ToXml(inv).Save(writer);
        File.AppendAllText(path, "\n");
    }

    public static XDocument ToXml(SourceInventory inv)
    {
        var root = new XElement(N("inventory"),
            new XAttribute("version", "1"),
            new XAttribute("gathered", inv.Gathered.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)),
            new XAttribute("tool", inv.Tool),
            new XElement(N("system"),
                new XAttribute("vendor", inv.System.Vendor), new XAttribute("model", inv.System.Model),
                new XAttribute("serial", inv.System.Serial), new XAttribute("uuid", inv.System.Uuid),
                new XElement(N("bios"), new XAttribute("vendor", inv.System.BiosVendor), new XAttribute("version", inv.System.BiosVersion),
                    new XAttribute("date", inv.System.BiosDate))),
            new XElement(N("processors"), new XAttribute("sockets", inv.Processors.Sockets), new XAttribute("cores", inv.Processors.Cores),
                new XAttribute("threads", inv.Processors.Threads), new XAttribute("model", inv.Processors.Model)),
            new XElement(N("memory"), new XAttribute("bytes", inv.MemoryBytes)),
            new XElement(N("disks"), inv.Disks.Select(DiskXml)),
            new XElement(N("networkAdapters"), inv.NetworkAdapters.Select(n => new XElement(N("networkAdapter"),
                new XAttribute("name", n.Name), new XAttribute("mac", n.Mac), new XAttribute("driver", n.Driver),
                new XAttribute("vendorId", n.VendorId), new XAttribute("deviceId", n.DeviceId),
                n.SpeedMbps is { } s ? new XAttribute("speedMbps", s) : null, n.PciAddress.Length > 0 ? new XAttribute("pciAddress", n.PciAddress) : null,
                n.Ip is { } ip ? new XElement(N("ip"), new XAttribute("dhcp", ip.Dhcp),
                    ip.Addresses.Select(a => new XElement(N("address"), new XAttribute("ip", a.Address), new XAttribute("mask", a.Mask)))) : null))),
            new XElement(N("pciDevices"), inv.PciDevices.Select(p => new XElement(N("pciDevice"),
                new XAttribute("address", p.Address), new XAttribute("class", p.ClassCode), new XAttribute("vendorId", p.VendorId),
                new XAttribute("deviceId", p.DeviceId), new XAttribute("driver", p.Driver), new XAttribute("kind", Name(p.Kind))))),
            new XElement(N("usbDevices"), inv.UsbDevices.Select(u => new XElement(N("usbDevice"),
                new XAttribute("address", u.Address), new XAttribute("vendorId", u.VendorId), new XAttribute("productId", u.ProductId),
                new XAttribute("class", u.DeviceClass), new XAttribute("product", u.Product), new XAttribute("manufacturer", u.Manufacturer),
                u.InterfaceClasses.Select(c => new XElement(N("interface"), new XAttribute("class", c)))))),
            new XElement(N("ports"), inv.Ports.Select(p => new XElement(N(p.Kind == PortKind.Parallel ? "parallelPort" : "serialPort"),
                new XAttribute("name", p.Name), new XAttribute("driver", p.Driver)))),
            inv.Windows is { } w ? WindowsXml(w) : null);
        return new XDocument(new XDeclaration("1.0", "utf-8", null), root);
    }

    private static XElement DiskXml(DiskInfo d) => new(N("disk"),
        new XAttribute("name", d.Name), new XAttribute("sizeBytes", d.SizeBytes),
        new XAttribute("logicalSectorSize", d.LogicalSectorSize), new XAttribute("physicalSectorSize", d.PhysicalSectorSize),
        new XAttribute("bus", Name(d.Bus)), new XAttribute("model", d.Model), new XAttribute("driver", d.Driver),
        new XAttribute("removable", d.Removable), d.Source is { } src ? new XAttribute("source", src) : null,
        d.Table is { } t ? new XElement(N("partitionTable"), new XAttribute("style", Name(t.Style)),
            t.Identifier is { } id ? new XAttribute("identifier", id) : null,
            t.Partitions.Select(p => new XElement(N("partition"),
                new XAttribute("number", p.Number), new XAttribute("offsetBytes", p.OffsetBytes), new XAttribute("lengthBytes", p.LengthBytes),
                new XAttribute("type", p.Type), new XAttribute("bootable", p.Bootable),
                p.Volume is { } v ? new XElement(N("volume"), new XAttribute("fileSystem", Name(v.FileSystem)), new XAttribute("label", v.Label),
                    new XAttribute("totalBytes", v.TotalBytes), v.UsedBytes is { } u ? new XAttribute("usedBytes", u) : null,
                    new XAttribute("hibernated", v.Hibernated), new XAttribute("dirty", v.Dirty)) : null))) : null);

    /// <summary>The installation's facts, flattened: the HAL by its file name, services by name, start (-1: none) and image.</summary>
    private static XElement WindowsXml(SourceWindows w)
    {
        var f = w.Facts;
        return new(N("windows"),
            new XAttribute("disk", w.Disk), new XAttribute("partition", w.Partition), new XAttribute("systemRoot", f.SystemRoot),
            Opt("product", f.ProductName), Opt("version", f.Version), Opt("servicePack", f.ServicePack), Opt("hal", f.HalName),
            Opt("computerName", f.ComputerName),
            new XAttribute("hasHal", f.Hal is not null), new XAttribute("hasKernel", f.Kernel is not null), new XAttribute("hasSystemHive", f.HasSystemHive),
            f.BootIni is { } b ? new XElement(N("bootIni"), b.ToString()) : null,
            new XElement(N("services"), f.Services.Select(s => new XElement(N("service"), new XAttribute("name", s.Name),
                new XAttribute("start", s.Start is { } start ? (long)start : -1), Opt("imagePath", s.ImagePath)))));
    }

    private static SourceWindows WindowsFromXml(XElement w)
    {
        string S(string a) => w.Attribute(a)?.Value ?? "";
        string? O(XElement e, string a) => e.Attribute(a)?.Value;
        bool B(string a) => w.Attribute(a)?.Value is "true" or "1";
        var root = S("systemRoot");
        return new SourceWindows(S("disk"), int.TryParse(S("partition"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : 0, new WindowsFacts
        {
            SystemRoot = root,
            ProductName = O(w, "product"),
            Version = O(w, "version"),
            ServicePack = O(w, "servicePack"),
            ComputerName = O(w, "computerName"),
            HasSystemHive = B("hasSystemHive"),
            Hal = B("hasHal") ? new SystemFile(root + @"\system32\hal.dll", O(w, "hal"), null, PeMachine.Unknown) : null,
            Kernel = B("hasKernel") ? new SystemFile(root + @"\system32\ntoskrnl.exe", null, null, PeMachine.Unknown) : null,
            BootIni = w.Element(N("bootIni"))?.Value is { } text ? BootIni.Parse(text) : null,
            Services = w.Element(N("services"))?.Elements(N("service")).Select(s => new WindowsService(O(s, "name") ?? "",
                long.TryParse(O(s, "start"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var start) && start is >= 0 and <= uint.MaxValue ? (uint)start : null,
                ImagePath: O(s, "imagePath"))).ToList() ?? [],
        });
    }

    private static XAttribute? Opt(string name, string? value) => value is null ? null : new XAttribute(name, value);

    /// <summary>Enum values as the schema spells them: camelCase of the C# name.</summary>
    internal static string Name<T>(T value) where T : struct, Enum
    {
        var s = value.ToString();
        return char.ToLowerInvariant(s[0]) + s[1..];
    }

    private static T Parse<T>(string? value, T fallback) where T : struct, Enum =>
        value != null && Enum.TryParse<T>(value, ignoreCase: true, out var v) ? v : fallback;

    public static SourceInventory Load(string path)
    {
        XDocument doc;
        try { doc = XDocument.Load(path); }
        catch (XmlException e) { throw new InvalidDataException($"{path}: not an inventory: {e.Message}", e); }
        return FromXml(doc, path);
    }

    public static SourceInventory FromXml(XDocument doc, string source = "inventory")
    {
        var root = doc.Root;
        if (root == null || root.Name != N("inventory"))
            throw new InvalidDataException($"{source}: not an inventory: expected root element {{{Namespace}}}inventory, found {root?.Name}");
        string S(XElement? e, string a) => e?.Attribute(a)?.Value ?? "";
        long L(XElement? e, string a) => long.TryParse(e?.Attribute(a)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
        long? LN(XElement? e, string a) => long.TryParse(e?.Attribute(a)?.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : null;
        bool B(XElement? e, string a) => e?.Attribute(a)?.Value is "true" or "1";
        string? O(XElement? e, string a) => e?.Attribute(a)?.Value;

        var sys = root.Element(N("system"));
        var bios = sys?.Element(N("bios"));
        var cpu = root.Element(N("processors"));
        var disks = root.Element(N("disks"))?.Elements(N("disk")).Select(d =>
        {
            var t = d.Element(N("partitionTable"));
            var table = t == null ? null : new PartitionTableInfo(Parse(O(t, "style"), PartitionStyle.None), O(t, "identifier"),
                t.Elements(N("partition")).Select(p =>
                {
                    var v = p.Element(N("volume"));
                    return new PartitionInfo((int)L(p, "number"), L(p, "offsetBytes"), L(p, "lengthBytes"), S(p, "type"), B(p, "bootable"),
                        v == null ? null : new VolumeInfo(Parse(O(v, "fileSystem"), VolumeFileSystem.Raw), S(v, "label"), L(v, "totalBytes"),
                            LN(v, "usedBytes"), B(v, "hibernated"), B(v, "dirty")));
                }).ToList());
            return new DiskInfo(S(d, "name"), L(d, "sizeBytes"), (int)L(d, "logicalSectorSize"), (int)L(d, "physicalSectorSize"),
                Parse(O(d, "bus"), DiskBus.Unknown), S(d, "model"), S(d, "driver"), B(d, "removable"), O(d, "source"), table);
        }).ToList() ?? [];
        var w = root.Element(N("windows"));
        return new SourceInventory(
            DateTimeOffset.TryParse(S(root, "gathered"), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var g) ? g : default,
            S(root, "tool"),
            new SystemInfo(S(sys, "vendor"), S(sys, "model"), S(sys, "serial"), S(sys, "uuid"), S(bios, "vendor"), S(bios, "version"), S(bios, "date")),
            new ProcessorInfo((int)L(cpu, "sockets"), (int)L(cpu, "cores"), (int)L(cpu, "threads"), S(cpu, "model")),
            L(root.Element(N("memory")), "bytes"),
            disks,
            root.Element(N("networkAdapters"))?.Elements(N("networkAdapter")).Select(n => new NetworkAdapterInfo(S(n, "name"), S(n, "mac"),
                S(n, "driver"), S(n, "vendorId"), S(n, "deviceId"), (int?)LN(n, "speedMbps"), S(n, "pciAddress"),
                n.Element(N("ip")) is { } ip ? new IpConfiguration(B(ip, "dhcp"),
                    ip.Elements(N("address")).Select(a => new IpAddressWithMask(S(a, "ip"), S(a, "mask"))).ToList()) : null)).ToList() ?? [],
            root.Element(N("pciDevices"))?.Elements(N("pciDevice")).Select(p => new PciDeviceInfo(S(p, "address"), S(p, "class"),
                S(p, "vendorId"), S(p, "deviceId"), S(p, "driver"), Parse(O(p, "kind"), PciDeviceKind.Other))).ToList() ?? [],
            root.Element(N("usbDevices"))?.Elements(N("usbDevice")).Select(u => new UsbDeviceInfo(S(u, "address"), S(u, "vendorId"),
                S(u, "productId"), S(u, "class"), u.Elements(N("interface")).Select(i => S(i, "class")).ToList(), S(u, "product"),
                S(u, "manufacturer"))).ToList() ?? [],
            root.Element(N("ports"))?.Elements().Select(p => new PortInfo(p.Name.LocalName == "parallelPort" ? PortKind.Parallel : PortKind.Serial,
                S(p, "name"), S(p, "driver"))).ToList() ?? [],
            w == null ? null : WindowsFromXml(w));
    }
}
