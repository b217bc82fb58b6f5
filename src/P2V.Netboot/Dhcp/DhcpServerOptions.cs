using System.Net;
using P2V.Netboot.Boot;

namespace P2V.Netboot.Dhcp;

public sealed class DhcpServerOptions
{
    /// <summary>Our address on the boot network: server identifier (54), siaddr and TFTP server (66).</summary>
    public required IPAddress ServerAddress { get; init; }
    /// <summary>
    /// The interface to serve. Set, the sockets bind to 0.0.0.0 on that device (SO_BINDTODEVICE) and so receive
    /// broadcasts from clients that have no address yet; unset, they bind to <see cref="ServerAddress"/> (unicast only).
    /// </summary>
    public string? InterfaceName { get; init; }
    /// <summary>Proxy DHCP (PXE spec §2.2.5): answer PXE clients with boot information only, never addresses.</summary>
    public bool Proxy { get; init; }
    public int Port { get; init; } = 67;
    /// <summary>The PXE boot-server port some clients unicast their proxy REQUEST to; 0 = not served.</summary>
    public int ProxyPort { get; init; } = 4011;
    public int ClientPort { get; init; } = 68;
    public IPAddress? RangeStart { get; init; }
    public IPAddress? RangeEnd { get; init; }
    public IPAddress SubnetMask { get; init; } = IPAddress.Parse("255.255.255.0");
    public IPAddress? Router { get; init; }
    public IReadOnlyList<IPAddress> Dns { get; init; } = [];
    public TimeSpan LeaseTime { get; init; } = TimeSpan.FromHours(1);
    /// <summary>Where full-mode leases persist (JSON); null keeps them in memory.</summary>
    public string? LeaseFile { get; init; }
    /// <summary>
    /// Check that an address is not used by a host configured by hand before the client gets it: probed right
    /// after it is first offered (never before: the offer goes out at once), the DHCPACK waiting for the answer.
    /// </summary>
    public bool ProbeAddresses { get; init; } = true;
    /// <summary>How to probe; null is an ICMP echo request with a 300 ms wait.</summary>
    public IAddressProbe? Probe { get; init; }
    public required IBootPolicy Policy { get; init; }
    public required BootFiles Boot { get; init; }
}

/// <summary>The file each kind of client boots, and where iPXE clients find their script.</summary>
public sealed class BootFiles
{
    /// <summary>iPXE for BIOS PXE ROMs, chained over TFTP (Debian's ipxe package: undionly.kpxe).</summary>
    public string Bios { get; init; } = "undionly.kpxe";
    /// <summary>iPXE for UEFI x64 (Debian's ipxe package: ipxe.efi).</summary>
    public string UefiX64 { get; init; } = "ipxe.efi";
    /// <summary>http://address:port of the boot-file web server.</summary>
    public required string HttpBase { get; init; }

    public string ScriptUrl(System.Net.NetworkInformation.PhysicalAddress mac) =>
        $"{HttpBase}/ipxe/{IpxeScript.FormatMac(mac).Replace(':', '-')}.ipxe";
}
