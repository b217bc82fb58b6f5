using System.Globalization;
using System.Text;
using System.Xml;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A Virtual Server 2005 / Virtual PC virtual machine configuration (.vmc): UTF-16 XML, root &lt;preferences&gt;,
/// every value element typed by a "type" attribute (string, integer, boolean, bytes). The layout follows the
/// files Virtual Server writes: hardware/memory/ram_size in MB; pci_bus/ethernet_adapter with one
/// ethernet_controller per NIC holding its virtual_network and ethernet_card_address (the MAC, 12 hex digits);
/// pci_bus/ide_adapter/ide_controller(channel)/location(unit) and scsi_adapter/scsi_controller/location for disks
/// (drive_type 1 = hard disk) with pathname/absolute and pathname/relative; super_io/floppy with its image's pathname.
/// </summary>
public static class VirtualServerVmc
{
    public static byte[] Write(MigrationPlan plan)
    {
        VmConfigGuard.NoVirtio(plan);
        var text = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, IndentChars = "\t", NewLineChars = "\r\n", OmitXmlDeclaration = true };
        using (var w = XmlWriter.Create(text, settings))
        {
            w.WriteStartElement("preferences");
            Value(w, "version", "string", "2.0");
            w.WriteStartElement("hardware");

            w.WriteStartElement("memory");
            Value(w, "ram_size", "integer", plan.MemoryMB.ToString(CultureInfo.InvariantCulture));
            w.WriteEndElement();

            w.WriteStartElement("pci_bus");
            w.WriteStartElement("ethernet_adapter");
            Value(w, "controller_count", "integer", plan.Nics.Count.ToString(CultureInfo.InvariantCulture));
            for (int i = 0; i < plan.Nics.Count; i++)
            {
                w.WriteStartElement("ethernet_controller");
                w.WriteAttributeString("id", i.ToString(CultureInfo.InvariantCulture));
                w.WriteStartElement("virtual_network");
                Value(w, "name", "string", plan.Nics[i].Network);
                w.WriteEndElement();
                Value(w, "ethernet_card_address", "bytes", plan.Nics[i].Mac.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant());
                w.WriteEndElement();
            }
            w.WriteEndElement();

            Adapter(w, plan, VmDiskBus.Ide, "ide_adapter", "ide_controller");
            if (plan.Disks.Any(d => d.Bus == VmDiskBus.Scsi))
                Adapter(w, plan, VmDiskBus.Scsi, "scsi_adapter", "scsi_controller");
            w.WriteEndElement(); // pci_bus

            w.WriteStartElement("super_io");
            w.WriteStartElement("floppy");
            w.WriteAttributeString("id", "0");
            Pathname(w, plan, plan.Floppy);
            w.WriteEndElement();
            w.WriteEndElement();

            w.WriteEndElement(); // hardware
            w.WriteEndElement(); // preferences
        }
        // The declaration is written by hand: an XmlWriter over a StringBuilder would claim UTF-16 too, but
        // Virtual Server's own files carry exactly this line, a BOM, and CRLF line ends.
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n" + text + "\r\n";
        return [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(xml)];
    }

    private static void Adapter(XmlWriter w, MigrationPlan plan, VmDiskBus bus, string adapter, string controller)
    {
        w.WriteStartElement(adapter);
        foreach (var group in plan.Disks.Where(d => d.Bus == bus).GroupBy(d => d.Controller).OrderBy(g => g.Key))
        {
            w.WriteStartElement(controller);
            w.WriteAttributeString("id", group.Key.ToString(CultureInfo.InvariantCulture));
            foreach (var d in group.OrderBy(d => d.Unit))
            {
                w.WriteStartElement("location");
                w.WriteAttributeString("id", d.Unit.ToString(CultureInfo.InvariantCulture));
                Value(w, "drive_type", "integer", "1");
                Pathname(w, plan, d.File);
                w.WriteEndElement();
            }
            w.WriteEndElement();
        }
        w.WriteEndElement();
    }

    /// <summary>Absolute path, and the path relative to the .vmc when the file sits in the same folder (Virtual Server tries both).</summary>
    private static void Pathname(XmlWriter w, MigrationPlan plan, string path)
    {
        w.WriteStartElement("pathname");
        Value(w, "absolute", "string", path);
        if (string.Equals(path[..^HostPath.FileName(path).Length], plan.ConfigFile[..^HostPath.FileName(plan.ConfigFile).Length], StringComparison.OrdinalIgnoreCase))
            Value(w, "relative", "string", ".\\" + HostPath.FileName(path));
        w.WriteEndElement();
    }

    private static void Value(XmlWriter w, string name, string type, string value)
    {
        w.WriteStartElement(name);
        w.WriteAttributeString("type", type);
        w.WriteString(value);
        w.WriteEndElement();
    }
}
