using System.Globalization;
using System.Net;
using P2V.Migration.Inventory;
using P2V.Windows;

namespace P2V.Migration.Planning;

/// <summary>
/// Which virtual network each NIC joins: by default one network per source subnet, named from it
/// ("net-192.168.10.0-24", from the NIC's first IPv4 address that the installation's Tcpip keys give), else the
/// seed's "VM0"; "--network NIC=NAME" puts one NIC on NAME, a bare "--network NAME" every NIC not named.
/// </summary>
public static class NetworkPlanning
{
    /// <summary>The source document's virtual network (Createvirtualnetwork.vbs made "VM0").</summary>
    public const string DefaultNetwork = "VM0";

    /// <summary>Linux interface names hold 15 characters (IFNAMSIZ 16 with the NUL).</summary>
    private const int MaxBridgeName = 15;

    /// <summary>The network name of each of <paramref name="nics"/>, in order.</summary>
    /// <exception cref="ArgumentException">An override names no NIC of the inventory, a NIC twice, or a name that is not allowed.</exception>
    public static IReadOnlyList<string> Assign(IReadOnlyList<NetworkAdapterInfo> nics, IReadOnlyList<string> overrides)
    {
        string? all = null;
        var byNic = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var spec in overrides)
        {
            int eq = spec.IndexOf('=');
            var (nic, name) = eq < 0 ? ((string?)null, spec) : (spec[..eq], spec[(eq + 1)..]);
            CheckName(name, spec);
            if (nic is null)
            {
                if (all is not null) throw new ArgumentException($"--network {spec}: every NIC is put on {all} already (NIC=NAME puts one NIC on a network)");
                all = name;
            }
            else if (!nics.Any(n => n.Name == nic))
                throw new ArgumentException($"--network {spec}: the inventory has no network adapter '{nic}' ({(nics.Count == 0 ? "it has none" : string.Join(", ", nics.Select(n => n.Name)))})");
            else if (!byNic.TryAdd(nic, name))
                throw new ArgumentException($"--network {spec}: {nic} is put on {byNic[nic]} already");
        }
        return nics.Select(n => byNic.GetValueOrDefault(n.Name) ?? all ?? SubnetName(n) ?? DefaultNetwork).ToList();
    }

    /// <summary>"net-192.168.10.0-24" from the NIC's first address with a valid mask; null when it has none.</summary>
    public static string? SubnetName(NetworkAdapterInfo nic) => Subnet(nic) is { } s ? $"net-{s.Network}-{s.Prefix}" : null;

    private static (string Network, int Prefix)? Subnet(NetworkAdapterInfo nic) =>
        nic.Ip?.Addresses.Select(a => a.Subnet).FirstOrDefault(s => s is not null);

    /// <summary>
    /// A network name goes into file names, XML, PowerShell and sh words, and the hypervisors' own lists: letters,
    /// digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters.
    /// </summary>
    private static void CheckName(string name, string spec)
    {
        if (name.Length is 0 or > 64 || !char.IsAsciiLetterOrDigit(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            throw new ArgumentException($"--network {spec}: a network name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    /// <summary>The networks of <paramref name="nics"/>, each once in the order first used, with their definitions for <paramref name="target"/>.</summary>
    public static IReadOnlyList<PlannedNetwork> Networks(IReadOnlyList<NetworkAdapterInfo> nics, IReadOnlyList<string> names, TargetKind target, string vmConfigPath)
    {
        var networks = new List<PlannedNetwork>();
        for (int i = 0; i < names.Count; i++)
        {
            if (networks.Any(n => n.Name == names[i])) continue;
            var subnet = names[i] == SubnetName(nics[i]) && Subnet(nics[i]) is { } s ? $"{s.Network}/{s.Prefix}" : null;
            networks.Add(new PlannedNetwork(names[i], subnet, Bridge(names[i], subnet), Definition(target, vmConfigPath, names[i])));
        }
        return networks;
    }

    public static string? Definition(TargetKind target, string vmConfigPath, string network) => target switch
    {
        TargetKind.VirtualServer => HostPath.Join(vmConfigPath, network + ".vnc"),
        TargetKind.Libvirt => HostPath.Join(vmConfigPath, network + ".network.xml"),
        TargetKind.Qemu => HostPath.Join(vmConfigPath, network + ".bridge.sh"),
        _ => null,
    };

    /// <summary>
    /// The bridge: the name itself when it fits; for a subnet, "br" + the network address in hex + "-" + prefix
    /// ("brc0a80a00-24"); else "p2vbr" + 8 hex digits of the name's FNV-1a hash — stable, so every plan of a
    /// network names the same bridge.
    /// </summary>
    internal static string Bridge(string name, string? subnet)
    {
        if (name.Length <= MaxBridgeName) return name;
        if (subnet is not null && subnet.Split('/') is [var net, var prefix] && IPAddress.TryParse(net, out var a))
            return "br" + Convert.ToHexStringLower(a.GetAddressBytes()) + "-" + prefix;
        uint hash = 2166136261;
        foreach (char c in name) hash = (hash ^ c) * 16777619;
        return "p2vbr" + hash.ToString("x8", CultureInfo.InvariantCulture);
    }
}
