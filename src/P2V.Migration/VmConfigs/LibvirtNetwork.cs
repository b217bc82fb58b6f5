using System.Xml.Linq;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A libvirt virtual network (https://libvirt.org/formatnetwork.html): a bridge of its own and no &lt;forward&gt;, so an
/// isolated network with no DHCP or address of the host's — the migrated server keeps its addresses and P2V's DHCP
/// answers the deploy boot. Forwarding to the physical network is the administrator's choice (virsh net-edit:
/// &lt;forward mode='nat'/&gt; or a host bridge). The domain's &lt;interface type='network'&gt; names it.
/// </summary>
public static class LibvirtNetwork
{
    public static string Write(PlannedNetwork network) =>
        // network.rng has no <description>: the subnet goes into a comment.
        new XDocument(new XComment(network.Subnet is { } s ? $" P2V.Boot: the source subnet {s} " : " P2V.Boot: migrated servers "), new XElement("network",
            new XElement("name", network.Name),
            new XElement("bridge", new XAttribute("name", network.Bridge), new XAttribute("stp", "on"), new XAttribute("delay", "0")))).ToString() + "\n";
}
