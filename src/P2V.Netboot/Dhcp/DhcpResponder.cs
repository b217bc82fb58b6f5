using System.Net;
using System.Text;
using P2V.Netboot.Boot;

namespace P2V.Netboot.Dhcp;

/// <summary>What to send for one request, where (RFC 2131 §4.1), and which address the listener should probe.</summary>
/// <param name="Probe">An address just offered that has not been checked yet: the listener probes it after sending,
/// outside any lock, and reports the result to the pool before it answers that client's DHCPREQUEST.</param>
public sealed record DhcpResponse(DhcpPacket Packet, IPEndPoint Destination, IPAddress? Probe = null);

/// <summary>
/// DHCP for network boot as a function: request + arrival + time + pool → reply. RFC 2131 with the PXE
/// specification's (2.1) additions and RFC 4578's options. Full mode hands out addresses from the
/// <see cref="AddressPool"/>; proxy mode (PXE 2.1 §2.2.5) leaves addresses to the site's server and answers PXE
/// clients only, on port 67 and on 4011. Which file a client boots comes from the <see cref="IBootPolicy"/>:
/// iPXE (user class "iPXE" or option 175) gets its script URL, a PXE ROM gets iPXE for its firmware (option 93)
/// over TFTP. No sockets, no clock, no probing here: the listener (<see cref="DhcpServer"/>) does those.
/// </summary>
public sealed class DhcpResponder
{
    /// <summary>A reply and the address to probe after sending it.</summary>
    private readonly record struct Reply(DhcpPacket Packet, IPAddress? Probe = null);

    private readonly DhcpServerOptions _options;
    private readonly AddressPool? _pool;
    private readonly NetbootLog _log;

    /// <param name="pool">The addresses to hand out; null in proxy mode.</param>
    public DhcpResponder(DhcpServerOptions options, AddressPool? pool, NetbootLog log)
    {
        if (!options.Proxy && pool == null) throw new ArgumentException("full-mode DHCP needs an address pool", nameof(pool));
        _options = options;
        _pool = options.Proxy ? null : pool;
        _log = log;
    }

    /// <param name="source">Where the datagram came from (0.0.0.0:68 for a client without an address).</param>
    /// <param name="onProxyPort">It arrived on the PXE boot-server port (4011), not on 67.</param>
    public DhcpResponse? Respond(DhcpPacket request, IPEndPoint source, bool onProxyPort, DateTimeOffset now)
    {
        if (request.Op != DhcpPacket.BootRequest || request.MessageType is not { } type) return null;
        var mac = IpxeScript.FormatMac(request.MacAddress);
        var client = PxeClient.From(request);
        var asked = request.AddressOption(DhcpOption.RequestedAddress) ?? request.ClientAddress;
        _log.Write("dhcp", mac, $"{type.ToString().ToUpperInvariant()} {client}" +
            (type is DhcpMessageType.Request && !asked.Equals(IPAddress.Any) ? $" {asked}" : "") + (onProxyPort ? " (port 4011)" : ""));
        var reply = _pool == null
            ? Proxy(request, type, client, mac, onProxyPort)
            : Full(_pool, request, type, client, mac, now);
        return reply is { } r ? new DhcpResponse(r.Packet, Destination(r.Packet, request, source), r.Probe) : null;
    }

    /// <summary>PXE 2.1 §2.2.5: the site's DHCP server owns addresses; we speak only to PXE clients about boot files.</summary>
    private Reply? Proxy(DhcpPacket request, DhcpMessageType type, PxeClient client, string mac, bool onProxyPort)
    {
        if (!client.IsPxe) return null;
        DhcpMessageType answer;
        if (type == DhcpMessageType.Discover && !onProxyPort) answer = DhcpMessageType.Offer;
        else if (type is DhcpMessageType.Request or DhcpMessageType.Inform && onProxyPort) answer = DhcpMessageType.Ack;
        else return null;
        var reply = NewReply(request, answer);
        if (!AddBoot(reply, request, client, mac, proxy: true))
        {
            _log.Write("dhcp", mac, "local disk: no proxy answer");
            return null;
        }
        _log.Write("dhcp", mac, $"proxy {answer.ToString().ToUpperInvariant()} file={reply.BootFile}");
        return new Reply(reply, null);
    }

    private Reply? Full(AddressPool pool, DhcpPacket request, DhcpMessageType type, PxeClient client, string mac, DateTimeOffset now) => type switch
    {
        DhcpMessageType.Discover => Discover(pool, request, client, mac, now),
        DhcpMessageType.Request => Request(pool, request, client, mac, now),
        DhcpMessageType.Decline => Decline(pool, request, mac, now),
        DhcpMessageType.Release => Release(pool, request, mac),
        DhcpMessageType.Inform => Inform(request, client, mac),
        _ => null,
    };

    /// <summary>RFC 2131 §4.3.1: DHCPDISCOVER → DHCPOFFER with an address chosen by the pool, or silence when none is free.</summary>
    private Reply? Discover(AddressPool pool, DhcpPacket request, PxeClient client, string mac, DateTimeOffset now)
    {
        var address = pool.Offer(mac, request.AddressOption(DhcpOption.RequestedAddress), now);
        if (address == null)
        {
            _log.Write("dhcp", mac, "no free address in the range");
            return null;
        }
        var reply = NewReply(request, DhcpMessageType.Offer);
        reply.YourAddress = address;
        AddLease(reply, client);
        bool boot = client.IsPxe && AddBoot(reply, request, client, mac, proxy: false);
        _log.Write("dhcp", mac, $"OFFER {address}" + (boot ? $" file={reply.BootFile}" : ""));
        var probe = _options.ProbeAddresses && pool.NeedsProbe(address, mac, now) ? address : null;
        return new Reply(reply, probe);
    }

    /// <summary>
    /// RFC 2131 §4.3.2, by the client's state: SELECTING (server identifier present: ours → ACK or NAK, another's →
    /// our offer is withdrawn, silence); INIT-REBOOT (option 50, no ciaddr) and RENEWING/REBINDING (ciaddr): ACK
    /// what the client may have, NAK an address that is not its own, silence when we have no record of it.
    /// </summary>
    private Reply? Request(AddressPool pool, DhcpPacket request, PxeClient client, string mac, DateTimeOffset now)
    {
        var serverId = request.AddressOption(DhcpOption.ServerIdentifier);
        var requested = request.AddressOption(DhcpOption.RequestedAddress);
        if (serverId != null && !serverId.Equals(_options.ServerAddress))
        {
            pool.Withdraw(mac);
            _log.Write("dhcp", mac, $"took the offer of {serverId}");
            return null;
        }
        var asked = requested ?? request.ClientAddress;
        if (asked.Equals(IPAddress.Any)) return null;
        bool refused = false;
        if (serverId == null)
        {
            // INIT-REBOOT or RENEWING/REBINDING: the client believes it holds `asked`.
            if (pool.LeaseOf(mac, now) is { } lease) refused = lease.Address != asked.ToString();
            else if (pool.InRange(asked) && !pool.IsAvailableTo(asked, mac, now)) refused = true;
            else return null; // no record of this client: "MUST remain silent" (§4.3.2)
        }
        var hostName = request.Option(DhcpOption.HostName) is { } h ? Encoding.ASCII.GetString(h) : null;
        if (refused || !pool.TryBind(mac, asked, hostName, _options.LeaseTime, now, out _))
        {
            var nak = NewReply(request, DhcpMessageType.Nak);
            nak.SetOption(DhcpOption.Message, "address not available");
            _log.Write("dhcp", mac, $"NAK {asked}");
            return new Reply(nak, null);
        }
        var ack = NewReply(request, DhcpMessageType.Ack);
        ack.ClientAddress = request.ClientAddress;
        ack.YourAddress = asked;
        AddLease(ack, client);
        if (hostName != null) ack.SetOption(DhcpOption.HostName, Encoding.ASCII.GetBytes(hostName));
        bool boot = client.IsPxe && AddBoot(ack, request, client, mac, proxy: false);
        _log.Write("dhcp", mac, $"ACK {asked} lease {(int)_options.LeaseTime.TotalSeconds} s" + (boot ? $" file={ack.BootFile}" : ""));
        return new Reply(ack, null);
    }

    /// <summary>RFC 2131 §4.3.3: the address is in use by someone else; never answered.</summary>
    private Reply? Decline(AddressPool pool, DhcpPacket request, string mac, DateTimeOffset now)
    {
        if (request.AddressOption(DhcpOption.RequestedAddress) is { } bad && pool.Decline(mac, bad, now))
            _log.Write("dhcp", mac, $"declined {bad}");
        return null;
    }

    /// <summary>RFC 2131 §4.3.4: the client gives ciaddr back; never answered.</summary>
    private Reply? Release(AddressPool pool, DhcpPacket request, string mac)
    {
        if (pool.Release(mac, request.ClientAddress)) _log.Write("dhcp", mac, $"released {request.ClientAddress}");
        return null;
    }

    /// <summary>RFC 2131 §4.3.5: configuration without an address: no yiaddr, no lease time, sent to ciaddr.</summary>
    private Reply? Inform(DhcpPacket request, PxeClient client, string mac)
    {
        var ack = NewReply(request, DhcpMessageType.Ack);
        ack.ClientAddress = request.ClientAddress;
        AddNetwork(ack);
        if (client.IsPxe) AddBoot(ack, request, client, mac, proxy: false);
        _log.Write("dhcp", mac, "ACK (inform)");
        return new Reply(ack, null);
    }

    /// <summary>
    /// The fields RFC 2131 §4.3.1 table 3 fills the same way in every reply: xid, flags, giaddr and chaddr from the
    /// client; ciaddr, yiaddr and siaddr zero until a message type says otherwise; options 53 and 54.
    /// </summary>
    private DhcpPacket NewReply(DhcpPacket request, DhcpMessageType type)
    {
        var reply = new DhcpPacket
        {
            Op = DhcpPacket.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
        };
        reply.SetOption(DhcpOption.MessageType, [(byte)type]);
        reply.SetOption(DhcpOption.ServerIdentifier, _options.ServerAddress);
        return reply;
    }

    /// <summary>Lease time (51, MUST in OFFER and ACK), T1 (58) = 0.5 and T2 (59) = 0.875 of it (§4.4.5), and the network.</summary>
    private void AddLease(DhcpPacket reply, PxeClient client)
    {
        uint seconds = (uint)_options.LeaseTime.TotalSeconds;
        reply.SetOption(DhcpOption.LeaseTime, seconds);
        reply.SetOption(DhcpOption.RenewalTime, seconds / 2);
        reply.SetOption(DhcpOption.RebindingTime, seconds / 8 * 7);
        AddNetwork(reply);
        // We give the address and the boot file both, so iPXE need not wait for a ProxyDHCP offer (it holds the
        // first offer up to 3 s for one otherwise): iPXE's encapsulated option 175, sub-option 176 "no-pxedhcp" = 1.
        if (client.IsIpxe) reply.SetOption(DhcpOption.IpxeEncapsulated, [IpxeNoPxeDhcp, 1, 1]);
    }

    /// <summary>iPXE's DHCP_EB_NO_PXEDHCP (include/ipxe/dhcp.h), a sub-option of 175.</summary>
    public const byte IpxeNoPxeDhcp = 176;

    private void AddNetwork(DhcpPacket reply)
    {
        reply.SetOption(DhcpOption.SubnetMask, _options.SubnetMask);
        if (_options.Router != null) reply.SetOption(DhcpOption.Router, _options.Router);
        if (_options.Dns.Count > 0) reply.SetOption(DhcpOption.DomainNameServer, _options.Dns.SelectMany(d => d.GetAddressBytes()).ToArray());
    }

    /// <summary>Adds the boot file for this client; false when it is to boot from its own disk (or cannot be served).</summary>
    private bool AddBoot(DhcpPacket reply, DhcpPacket request, PxeClient client, string mac, bool proxy)
    {
        var action = _options.Policy.Decide(request.MacAddress).Action;
        string? file;
        if (client.IsIpxe) file = _options.Boot.ScriptUrl(request.MacAddress); // the script itself says "local disk"
        else if (action == BootAction.LocalDisk) file = null;
        else file = client.Firmware switch // RFC 4578 §2.1: option 93 names the firmware the file must run on
        {
            ClientFirmware.Bios => _options.Boot.Bios,
            ClientFirmware.UefiX64 => _options.Boot.UefiX64,
            _ => null,
        };
        if (file == null)
        {
            if (action != BootAction.LocalDisk) _log.Write("dhcp", mac, $"no boot file for architecture {client.Architecture}");
            return false;
        }
        reply.ServerAddress = _options.ServerAddress;
        reply.BootFile = file;
        reply.SetOption(DhcpOption.TftpServerName, _options.ServerAddress.ToString());
        reply.SetOption(DhcpOption.BootFileName, file);
        // PXE 2.1 §2.2: a reply a PXE ROM acts on carries option 60 "PXEClient" and echoes the machine id (97, RFC 4578 §2.3).
        if (request.Option(DhcpOption.VendorClass) is { } vc && vc.AsSpan().StartsWith("PXEClient"u8))
            reply.SetOption(DhcpOption.VendorClass, "PXEClient");
        if (client.MachineId != null) reply.SetOption(DhcpOption.ClientMachineId, client.MachineId);
        // PXE 2.1 §2.4.2: discovery control (sub-option 6) bit 3 = boot the file named in this reply, no boot-server discovery.
        if (proxy && !client.IsIpxe) reply.SetOption(DhcpOption.VendorSpecific, [6, 1, 8, 255]);
        return true;
    }

    /// <summary>
    /// RFC 2131 §4.1: through the relay (giaddr, server port) if there is one; a DHCPNAK otherwise always broadcast;
    /// a client that already has an address answered where it sent from (ciaddr:68 for a conforming client, its
    /// own port for a PXE client on 4011); everyone else broadcast to 255.255.255.255:68 — we cannot unicast to an
    /// address the client's ARP does not know yet without writing the ARP cache, which the RFC lets us skip.
    /// </summary>
    private IPEndPoint Destination(DhcpPacket reply, DhcpPacket request, IPEndPoint source)
    {
        IPEndPoint to;
        var broadcast = new IPEndPoint(IPAddress.Broadcast, _options.ClientPort);
        if (!request.RelayAddress.Equals(IPAddress.Any)) to = new IPEndPoint(request.RelayAddress, _options.Port);
        else if (reply.MessageType == DhcpMessageType.Nak) to = broadcast;
        else if (!source.Address.Equals(IPAddress.Any)) to = source;
        else if (!request.ClientAddress.Equals(IPAddress.Any)) to = new IPEndPoint(request.ClientAddress, _options.ClientPort);
        else to = broadcast;
        return to;
    }
}
