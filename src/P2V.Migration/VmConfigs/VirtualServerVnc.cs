using System.Text;
using System.Xml;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A Virtual Server 2005 virtual network configuration (.vnc): the same UTF-16, typed-value &lt;preferences&gt; layout as
/// the .vmc (<see cref="VirtualServerVmc"/>), holding one virtual_network with its id (16 bytes as 32 hex digits), name
/// and notes, and its DHCP server disabled — the migrated server keeps its own addresses, and P2V's DHCP answers the
/// deploy boot. No host adapter is bound: a guests-only network until the administrator binds one (Administration
/// Website, Virtual Networks, Network Settings), as the seed's Createvirtualnetwork.vbs left "VM0".
/// The CreateVM script registers the file (IVMVirtualServer::RegisterVirtualNetwork) when FindVirtualNetwork finds no
/// network of that name.
/// </summary>
public static class VirtualServerVnc
{
    public static byte[] Write(PlannedNetwork network)
    {
        var text = new StringBuilder();
        var settings = new XmlWriterSettings { Indent = true, IndentChars = "\t", NewLineChars = "\r\n", OmitXmlDeclaration = true };
        using (var w = XmlWriter.Create(text, settings))
        {
            w.WriteStartElement("preferences");
            Value(w, "version", "string", "2.0");
            w.WriteStartElement("virtual_network");
            Value(w, "id", "bytes", Id(network.Name));
            Value(w, "name", "string", network.Name);
            Value(w, "notes", "string", network.Subnet is { } s ? $"P2V.Boot: the source subnet {s}" : "P2V.Boot: migrated servers");
            w.WriteStartElement("dhcp_server");
            Value(w, "enabled", "boolean", "false");
            w.WriteEndElement();
            w.WriteEndElement();
            w.WriteEndElement();
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n" + text + "\r\n";
        return [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(xml)];
    }

    /// <summary>A stable id from the name (its SHA-256's first 16 bytes): every plan writes the same file for a network.</summary>
    internal static string Id(string name) => Convert.ToHexString(P2V.Imaging.Sha256.HashData(Encoding.UTF8.GetBytes(name.ToUpperInvariant())).AsSpan(0, 16));

    private static void Value(XmlWriter w, string name, string type, string value)
    {
        w.WriteStartElement(name);
        w.WriteAttributeString("type", type);
        w.WriteString(value);
        w.WriteEndElement();
    }
}
