using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using P2V.Windows.Registry;

namespace P2V.Windows;

/// <summary>An IPv4 address with its subnet mask, as the Tcpip keys hold them ("192.168.10.20", "255.255.255.0").</summary>
public sealed record IpAddressWithMask(string Address, string Mask)
{
    /// <summary>The mask's prefix length; null when the mask is not a run of ones followed by zeros.</summary>
    public int? PrefixLength
    {
        get
        {
            if (!IPAddress.TryParse(Mask, out var m) || m.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork) return null;
            uint bits = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(m.GetAddressBytes());
            int prefix = System.Numerics.BitOperations.PopCount(bits);
            return bits == (prefix == 0 ? 0u : uint.MaxValue << (32 - prefix)) ? prefix : null;
        }
    }

    /// <summary>The subnet's network address and prefix ("192.168.10.0", 24); null for a malformed address or mask.</summary>
    public (string Network, int Prefix)? Subnet
    {
        get
        {
            if (PrefixLength is not { } prefix || !IPAddress.TryParse(Address, out var a) || a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                return null;
            uint ip = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(a.GetAddressBytes());
            uint net = prefix == 0 ? 0 : ip & (uint.MaxValue << (32 - prefix));
            var bytes = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, net);
            return (new IPAddress(bytes).ToString(), prefix);
        }
    }
}

/// <summary>
/// An adapter's IPv4 configuration: DHCP or static, and its addresses (the static ones, or the lease DHCP last gave).
/// </summary>
public sealed record IpConfiguration(bool Dhcp, IReadOnlyList<IpAddressWithMask> Addresses);

/// <summary>
/// The TCP/IP settings an installation holds for one network adapter, with what identifies the adapter's hardware:
/// its PCI hardware id ("PCI\VEN_14E4&amp;DEV_1677") and PCI location where the registry records them.
/// </summary>
/// <param name="Binding">The adapter's binding name: its NetCfgInstanceId ("{GUID}") on 2000 and later, the adapter's service ("E100B1") on NT 4.0.</param>
/// <param name="Description">DriverDesc of the adapter's class key, or the service's DisplayName; null when not known.</param>
/// <param name="VendorId">The PCI vendor id, four lower-case hex digits; null when the registry does not say.</param>
/// <param name="PciLocation">Bus, device and function; null when the registry does not say.</param>
public sealed record TcpipBinding(string Binding, string? Description, string? VendorId, string? DeviceId, (int Bus, int Device, int Function)? PciLocation, IpConfiguration Ip);

/// <summary>
/// Reads each network adapter's TCP/IP settings from a SYSTEM hive's control set. 2000 and later keep them in
/// Services\Tcpip\Parameters\Interfaces\{NetCfgInstanceId}; the adapter is the Control\Class\{4D36E972-…} (network
/// class) entry with that NetCfgInstanceId, and its device the Enum\PCI instance whose Driver names that entry
/// (LocationInformation "PCI bus 2, device 0, function 0"). NT 4.0 keeps them in Services\&lt;adapter&gt;\Parameters\Tcpip
/// for each adapter service Services\Tcpip\Linkage\Bind lists ("\Device\E100B1"); PCI adapters' drivers record
/// BusNumber and SlotNumber (the device number) in Services\&lt;adapter&gt;\Parameters.
/// Value names and meanings: Microsoft KB 120642 / "TCP/IP and NBT configuration parameters for Windows 2000 / XP".
/// </summary>
public static partial class TcpipBindings
{
    /// <summary>The network adapter device setup class (devguid.h GUID_DEVCLASS_NET).</summary>
    private const string NetClass = "{4D36E972-E325-11CE-BFC1-08002BE10318}";

    [GeneratedRegex(@"VEN_([0-9A-F]{4})&DEV_([0-9A-F]{4})", RegexOptions.IgnoreCase)]
    private static partial Regex PciIds();

    [GeneratedRegex(@"bus\s+(\d+),\s*device\s+(\d+),\s*function\s+(\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex PciLocationText();

    /// <summary>The physical adapters' bindings in <paramref name="controlSet"/> (virtual ones — WAN miniports, loopback — are left out).</summary>
    public static IReadOnlyList<TcpipBinding> Read(RegistryKey controlSet)
    {
        var services = controlSet.OpenSubkey("Services");
        if (services is null) return [];
        var interfaces = services.OpenSubkey(@"Tcpip\Parameters\Interfaces");
        var bindings = new List<TcpipBinding>();
        if (interfaces is not null)
        {
            var devices = PciDevicesByDriver(controlSet);
            var adapters = controlSet.OpenSubkey(@"Control\Class\" + NetClass);
            foreach (var adapter in adapters?.Subkeys ?? [])
            {
                if (adapter.GetString("NetCfgInstanceId") is not { } guid) continue;
                // Only hardware on the PCI bus: "pci\ven_14e4&dev_1677" (root\ and ms_ ids are software adapters).
                var matching = adapter.GetString("MatchingDeviceId") ?? "";
                if (!matching.StartsWith("pci\\", StringComparison.OrdinalIgnoreCase)) continue;
                if (interfaces.OpenSubkey(guid) is not { } tcpip) continue;
                var ids = PciIds().Match(matching);
                devices.TryGetValue(NetClass + "\\" + adapter.Name, out var location);
                bindings.Add(new TcpipBinding(guid, adapter.GetString("DriverDesc"),
                    ids.Success ? ids.Groups[1].Value.ToLowerInvariant() : null, ids.Success ? ids.Groups[2].Value.ToLowerInvariant() : null,
                    location, Configuration(tcpip)));
            }
        }
        if (bindings.Count > 0) return bindings;

        // NT 4.0: no Interfaces key; the adapters are the services TCP/IP binds to.
        foreach (var device in services.OpenSubkey(@"Tcpip\Linkage")?.GetMultiString("Bind") ?? [])
        {
            var name = device[(device.LastIndexOf('\\') + 1)..];
            if (name.Length == 0 || name.StartsWith('{') || services.OpenSubkey(name) is not { } service) continue;
            var parameters = service.OpenSubkey("Parameters");
            if (parameters?.OpenSubkey("Tcpip") is not { } tcpip) continue;
            (int, int, int)? location = parameters.GetDWord("BusNumber") is { } bus && parameters.GetDWord("SlotNumber") is { } slot
                ? ((int)bus, (int)slot, 0) : null;
            bindings.Add(new TcpipBinding(name, service.GetString("DisplayName"), null, null, location, Configuration(tcpip)));
        }
        return bindings;
    }

    /// <summary>EnableDHCP 1: DhcpIPAddress/DhcpSubnetMask (REG_SZ); else IPAddress/SubnetMask (REG_MULTI_SZ, pairwise); 0.0.0.0 is "none".</summary>
    private static IpConfiguration Configuration(RegistryKey tcpip)
    {
        bool dhcp = tcpip.GetDWord("EnableDHCP") == 1;
        var addresses = new List<IpAddressWithMask>();
        if (dhcp)
        {
            if (tcpip.GetString("DhcpIPAddress") is { } a && tcpip.GetString("DhcpSubnetMask") is { } m) addresses.Add(new(a, m));
        }
        else
        {
            var ips = Strings(tcpip, "IPAddress");
            var masks = Strings(tcpip, "SubnetMask");
            for (int i = 0; i < Math.Min(ips.Length, masks.Length); i++) addresses.Add(new(ips[i], masks[i]));
        }
        return new IpConfiguration(dhcp, addresses.Where(x => x.Address.Length > 0 && x.Address != "0.0.0.0").ToList());
    }

    /// <summary>REG_MULTI_SZ as written by setup; some tools write a plain REG_SZ instead.</summary>
    private static string[] Strings(RegistryKey key, string name) =>
        key.GetValue(name) is not { } v ? [] : v.Kind == RegistryValueKind.MultiString ? v.AsMultiString() : [v.AsString()];

    /// <summary>Enum\PCI\&lt;hardware id&gt;\&lt;instance&gt;: its Driver ("{class}\0001") → its LocationInformation's bus, device, function.</summary>
    private static Dictionary<string, (int, int, int)> PciDevicesByDriver(RegistryKey controlSet)
    {
        var map = new Dictionary<string, (int, int, int)>(StringComparer.OrdinalIgnoreCase);
        foreach (var hardware in controlSet.OpenSubkey(@"Enum\PCI")?.Subkeys ?? [])
            foreach (var instance in hardware.Subkeys)
                if (instance.GetString("Driver") is { } driver && PciLocationText().Match(instance.GetString("LocationInformation") ?? "") is { Success: true } m)
                    map[driver] = (Int(m.Groups[1].Value), Int(m.Groups[2].Value), Int(m.Groups[3].Value));
        return map;
    }

    private static int Int(string s) => int.Parse(s, CultureInfo.InvariantCulture);
}
