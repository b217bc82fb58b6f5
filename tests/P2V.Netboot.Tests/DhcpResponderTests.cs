using System.Buffers.Binary;
using System.Net;
using P2V.Netboot;
using P2V.Netboot.Boot;
using P2V.Netboot.Dhcp;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>
/// The DHCP responder as the function it is: request + arrival + time + pool → reply. Every path of RFC 2131
/// (section cited per test) and of PXE/RFC 4578, without sockets or root. The replies go through our encoder and
/// parser, as they would on the wire.
/// </summary>
public sealed class DhcpResponderTests(ITestOutputHelper output) : IDisposable
{
    private static readonly IPAddress Server = IPAddress.Parse("10.9.8.1");
    private static readonly IPAddress Router = IPAddress.Parse("10.9.8.254");
    private static readonly IPAddress Dns = IPAddress.Parse("10.9.8.53");
    private static readonly IPAddress A100 = IPAddress.Parse("10.9.8.100"), A101 = IPAddress.Parse("10.9.8.101"), A102 = IPAddress.Parse("10.9.8.102");
    private static readonly IPEndPoint Unconfigured = new(IPAddress.Any, 68);
    private static readonly IPEndPoint Broadcast = new(IPAddress.Broadcast, 68);
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    private readonly List<string> _log = [];
    private readonly TempDirectory _dir = new();

    public void Dispose()
    {
        foreach (var l in _log) output.WriteLine(l);
        _dir.Dispose();
    }

    private (DhcpResponder Responder, AddressPool Pool) Full(BootAction action = BootAction.Capture, bool probe = true)
    {
        var options = Options(proxy: false, action, probe);
        var pool = new AddressPool(A100, A102, [Server, Router], new LeaseStore(_dir.File("leases.json")));
        return (new DhcpResponder(options, pool, new NetbootLog(_log.Add)), pool);
    }

    private DhcpResponder Proxy(BootAction action = BootAction.Capture) =>
        new(Options(proxy: true, action, probe: false), null, new NetbootLog(_log.Add));

    private static DhcpServerOptions Options(bool proxy, BootAction action, bool probe) => new()
    {
        ServerAddress = Server,
        Proxy = proxy,
        RangeStart = proxy ? null : A100,
        RangeEnd = proxy ? null : A102,
        Router = Router,
        Dns = [Dns],
        ProbeAddresses = probe,
        Policy = new FixedBootPolicy(action),
        Boot = new BootFiles { HttpBase = "http://10.9.8.1:8080" },
    };

    private static DhcpPacket Message(byte client, DhcpMessageType type, IPAddress? requested = null, IPAddress? serverId = null,
        IPAddress? ciaddr = null, IPAddress? giaddr = null, ushort flags = 0)
    {
        var p = new DhcpPacket
        {
            TransactionId = 0x1000u * client + (uint)type,
            Flags = flags,
            ClientAddress = ciaddr ?? IPAddress.Any,
            RelayAddress = giaddr ?? IPAddress.Any,
        };
        new byte[] { 0x02, 0, 0, 0, 0, client }.CopyTo(p.ClientHardwareAddress, 0);
        p.SetOption(DhcpOption.MessageType, [(byte)type]);
        if (requested != null) p.SetOption(DhcpOption.RequestedAddress, requested);
        if (serverId != null) p.SetOption(DhcpOption.ServerIdentifier, serverId);
        return p;
    }

    private static DhcpPacket Pxe(DhcpPacket p, ushort arch, bool ipxe = false, byte[]? guid = null)
    {
        p.SetOption(DhcpOption.VendorClass, $"PXEClient:Arch:{arch:D5}:UNDI:002001");
        var a = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(a, arch);
        p.SetOption(DhcpOption.ClientArchitecture, a);
        if (ipxe) p.SetOption(DhcpOption.UserClass, "iPXE");
        if (guid != null) p.SetOption(DhcpOption.ClientMachineId, guid);
        return p;
    }

    /// <summary>Encodes and parses the reply, as the client would see it.</summary>
    private static (DhcpPacket Reply, DhcpResponse Response)? Wire(DhcpResponse? response)
    {
        if (response == null) return null;
        var buffer = new byte[1500];
        return (DhcpPacket.Parse(buffer.AsSpan(0, response.Packet.Write(buffer))), response);
    }

    private static uint U32(DhcpPacket p, DhcpOption o) => BinaryPrimitives.ReadUInt32BigEndian(p.Option(o));

    private static (DhcpPacket Reply, DhcpResponse Response) Answer(DhcpResponder r, DhcpPacket request, DateTimeOffset at, IPEndPoint? from = null, bool port4011 = false) =>
        Wire(r.Respond(request, from ?? Unconfigured, port4011, at)) ?? throw new Xunit.Sdk.XunitException($"no answer to {request.MessageType}");

    private static void Silent(DhcpResponder r, DhcpPacket request, DateTimeOffset at, IPEndPoint? from = null, bool port4011 = false) =>
        Assert.Null(r.Respond(request, from ?? Unconfigured, port4011, at));

    [Fact]
    public void A_discover_gets_an_offer_laid_out_as_table_3_says()
    {
        // RFC 2131 §4.3.1 and table 3: ciaddr 0, yiaddr the offer, xid/flags/giaddr/chaddr from the client,
        // options 53, 54, 51 (MUST), T1/T2 (§4.4.5: 0.5 and 0.875 of the lease), never 50, 55 or 61.
        var (r, _) = Full();
        var discover = Message(1, DhcpMessageType.Discover, flags: DhcpPacket.BroadcastFlag);
        var (offer, response) = Answer(r, discover, T0);
        Assert.Equal(DhcpPacket.BootReply, offer.Op);
        Assert.Equal(DhcpMessageType.Offer, offer.MessageType);
        Assert.Equal(discover.TransactionId, offer.TransactionId);
        Assert.Equal(DhcpPacket.BroadcastFlag, offer.Flags);
        Assert.Equal(discover.ClientHardwareAddress, offer.ClientHardwareAddress);
        Assert.Equal(IPAddress.Any, offer.ClientAddress);
        Assert.Equal(A100, offer.YourAddress);
        Assert.Equal(IPAddress.Any, offer.RelayAddress);
        Assert.Equal(Server, offer.AddressOption(DhcpOption.ServerIdentifier));
        Assert.Equal(3600u, U32(offer, DhcpOption.LeaseTime));
        Assert.Equal(1800u, U32(offer, DhcpOption.RenewalTime));
        Assert.Equal(3150u, U32(offer, DhcpOption.RebindingTime));
        Assert.Equal(IPAddress.Parse("255.255.255.0"), offer.AddressOption(DhcpOption.SubnetMask));
        Assert.Equal(Router, offer.AddressOption(DhcpOption.Router));
        Assert.Equal(Dns, offer.AddressOption(DhcpOption.DomainNameServer));
        Assert.Null(offer.Option(DhcpOption.RequestedAddress));
        Assert.Null(offer.Option(DhcpOption.ParameterRequestList));
        Assert.Null(offer.Option(DhcpOption.ClientIdentifier));
        Assert.Equal("", offer.BootFile); // not a PXE client: no boot file
        Assert.Null(offer.Option(DhcpOption.IpxeEncapsulated));
        // §4.1: no relay, no client address: broadcast to port 68.
        Assert.Equal(Broadcast, response.Destination);
        // Never probed before the offer: the listener probes the address after sending it.
        Assert.Equal(A100, response.Probe);
    }

    [Fact]
    public void The_offered_address_follows_the_order_of_section_4_3_1()
    {
        var (r, pool) = Full();
        // (4) a new address from the range: the lowest free one; the router and our own address are never offered.
        var first = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Assert.Equal(A100, first.YourAddress);
        // An offer is held for its client: the next client gets the next address.
        Assert.Equal(A101, Answer(r, Message(2, DhcpMessageType.Discover), T0).Reply.YourAddress);
        // (3) the address the client asks for (option 50), when valid and free.
        Assert.Equal(A102, Answer(r, Message(3, DhcpMessageType.Discover, requested: A102), T0).Reply.YourAddress);
        // A pending offer is made again to the same client, whatever it asks for now.
        Assert.Equal(A101, Answer(r, Message(2, DhcpMessageType.Discover, requested: A100), T0).Reply.YourAddress);
        // (1) the client's current binding, and it is not probed (the client itself would answer).
        Answer(r, Message(1, DhcpMessageType.Request, requested: A100, serverId: Server), T0);
        var again = Answer(r, Message(1, DhcpMessageType.Discover, requested: A102), T0.AddMinutes(1));
        Assert.Equal(A100, again.Reply.YourAddress);
        Assert.Null(again.Response.Probe);
        // An address outside the range is not valid: a new one is chosen instead.
        Assert.True(pool.InRange(A102));
        Assert.NotEqual(IPAddress.Parse("10.9.8.7"), Answer(r, Message(4, DhcpMessageType.Discover, requested: IPAddress.Parse("10.9.8.7")), T0.AddMinutes(2)).Reply.YourAddress);
    }

    [Fact]
    public void A_full_range_stays_silent_and_unclaimed_offers_and_expired_leases_come_back()
    {
        var (r, _) = Full();
        for (byte c = 1; c <= 3; c++) Answer(r, Message(c, DhcpMessageType.Discover), T0);
        Silent(r, Message(4, DhcpMessageType.Discover), T0.AddSeconds(30));
        Assert.Contains(_log, l => l.Contains("no free address in the range"));
        // An offer nobody claims is held 60 s, then it may go to someone else.
        Assert.Equal(A100, Answer(r, Message(4, DhcpMessageType.Discover), T0 + AddressPool.OfferHold + TimeSpan.FromSeconds(1)).Reply.YourAddress);

        // Leases: all three bound; a fourth client waits for one to expire and then gets the oldest expired one.
        var (r2, _) = Full();
        for (byte c = 1; c <= 3; c++)
        {
            var offer = Answer(r2, Message(c, DhcpMessageType.Discover), T0.AddMinutes(c)).Reply;
            Answer(r2, Message(c, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server), T0.AddMinutes(c));
        }
        Silent(r2, Message(9, DhcpMessageType.Discover), T0.AddMinutes(30));
        Assert.Equal(A100, Answer(r2, Message(9, DhcpMessageType.Discover), T0.AddHours(1).AddMinutes(2).AddSeconds(30)).Reply.YourAddress);
    }

    [Fact]
    public void A_selecting_request_is_acknowledged_and_bound()
    {
        // §4.3.2 SELECTING: server identifier = ours, option 50 = the offer, ciaddr 0 → DHCPACK, the binding committed.
        var (r, pool) = Full();
        var offer = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        var request = Message(1, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server);
        request.SetOption(DhcpOption.HostName, "srv01");
        var (ack, response) = Answer(r, request, T0.AddSeconds(1));
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal(A100, ack.YourAddress);
        Assert.Equal(IPAddress.Any, ack.ClientAddress);
        Assert.Equal(3600u, U32(ack, DhcpOption.LeaseTime));
        Assert.Equal("srv01"u8.ToArray(), ack.Option(DhcpOption.HostName));
        Assert.Equal(Broadcast, response.Destination);
        Assert.Null(response.Probe);
        var lease = pool.LeaseOf("02:00:00:00:00:01", T0.AddSeconds(2))!;
        Assert.Equal("10.9.8.100", lease.Address);
        Assert.Equal(T0.AddSeconds(1).AddHours(1), lease.Expires);
        Assert.Equal("srv01", lease.HostName);
        // The lease file is what a restarted server reads back.
        Assert.Equal("10.9.8.100", new LeaseStore(_dir.File("leases.json")).ForMac("02:00:00:00:00:01")!.Address);
    }

    [Fact]
    public void A_request_naming_another_server_withdraws_our_offer_silently()
    {
        // §4.3.2: "If the DHCPREQUEST names another server, the client has declined our offer."
        var (r, _) = Full();
        Assert.Equal(A100, Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply.YourAddress);
        Silent(r, Message(1, DhcpMessageType.Request, requested: IPAddress.Parse("192.168.0.5"), serverId: IPAddress.Parse("10.9.8.2")), T0);
        Assert.Equal(A100, Answer(r, Message(2, DhcpMessageType.Discover), T0.AddSeconds(1)).Reply.YourAddress);
    }

    [Fact]
    public void A_request_for_an_address_that_is_not_the_clients_gets_a_broadcast_nak()
    {
        // §4.3.2 and table 3: DHCPNAK with ciaddr, yiaddr and siaddr 0, option 54, option 56 (SHOULD), no lease
        // or network options; §4.1: a NAK without a relay is always broadcast, even to a client that has an address.
        var (r, _) = Full();
        var offerA = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Answer(r, Message(1, DhcpMessageType.Request, requested: offerA.YourAddress, serverId: Server), T0);
        var from = new IPEndPoint(IPAddress.Parse("10.9.8.77"), 68);
        var request = Message(2, DhcpMessageType.Request, requested: A100, serverId: Server);
        var (nak, response) = Answer(r, request, T0.AddSeconds(1), from);
        Assert.Equal(DhcpMessageType.Nak, nak.MessageType);
        Assert.Equal(IPAddress.Any, nak.YourAddress);
        Assert.Equal(IPAddress.Any, nak.ClientAddress);
        Assert.Equal(IPAddress.Any, nak.ServerAddress);
        Assert.Equal("", nak.BootFile);
        Assert.Equal(Server, nak.AddressOption(DhcpOption.ServerIdentifier));
        Assert.NotNull(nak.Option(DhcpOption.Message));
        foreach (var o in new[] { DhcpOption.LeaseTime, DhcpOption.RenewalTime, DhcpOption.SubnetMask, DhcpOption.Router })
            Assert.Null(nak.Option(o));
        Assert.Equal(Broadcast, response.Destination);
        // An address outside the range, asked for in SELECTING from us, is refused the same way.
        Assert.Equal(DhcpMessageType.Nak, Answer(r, Message(3, DhcpMessageType.Request, requested: IPAddress.Parse("10.9.8.7"), serverId: Server), T0).Reply.MessageType);
    }

    [Fact]
    public void Init_reboot_is_acknowledged_refused_or_ignored_by_what_we_know_of_the_client()
    {
        // §4.3.2 INIT-REBOOT: no server identifier, option 50 filled, ciaddr 0.
        var (r, _) = Full();
        var offer = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Answer(r, Message(1, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server), T0);
        // Its own address: ACK.
        Assert.Equal(DhcpMessageType.Ack, Answer(r, Message(1, DhcpMessageType.Request, requested: A100), T0.AddMinutes(5)).Reply.MessageType);
        // "incorrect" (not its binding): NAK.
        Assert.Equal(DhcpMessageType.Nak, Answer(r, Message(1, DhcpMessageType.Request, requested: A102), T0.AddMinutes(5)).Reply.MessageType);
        // A client we have no record of asking for a free address: "MUST remain silent".
        Silent(r, Message(2, DhcpMessageType.Request, requested: A101), T0.AddMinutes(5));
        Silent(r, Message(2, DhcpMessageType.Request, requested: IPAddress.Parse("172.16.0.9")), T0.AddMinutes(5));
        // … but an address another client holds is refused.
        Assert.Equal(DhcpMessageType.Nak, Answer(r, Message(2, DhcpMessageType.Request, requested: A100), T0.AddMinutes(5)).Reply.MessageType);
    }

    [Fact]
    public void Renewing_extends_the_lease_and_is_unicast_back()
    {
        // §4.3.2 RENEWING: ciaddr filled, no option 50, no server identifier, unicast from the client's address.
        var (r, pool) = Full();
        var offer = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Answer(r, Message(1, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server), T0);
        var from = new IPEndPoint(A100, 68);
        var (ack, response) = Answer(r, Message(1, DhcpMessageType.Request, ciaddr: A100), T0.AddMinutes(30), from);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal(A100, ack.YourAddress);
        Assert.Equal(A100, ack.ClientAddress);
        Assert.Equal(from, response.Destination);
        Assert.Equal(T0.AddMinutes(90), pool.LeaseOf("02:00:00:00:00:01", T0.AddMinutes(31))!.Expires);
        // Renewing an address it does not hold: NAK.
        Assert.Equal(DhcpMessageType.Nak, Answer(r, Message(1, DhcpMessageType.Request, ciaddr: A101), T0.AddMinutes(31), new IPEndPoint(A101, 68)).Reply.MessageType);
    }

    [Fact]
    public void A_declined_address_is_kept_out_for_a_while_and_its_lease_dropped()
    {
        // §4.3.3: the client found the address in use (ARP); the server "MUST mark the network address as not available".
        var (r, pool) = Full();
        var offer = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Answer(r, Message(1, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server), T0);
        Silent(r, Message(1, DhcpMessageType.Decline, requested: A100, serverId: Server), T0.AddSeconds(1));
        Assert.Null(pool.LeaseOf("02:00:00:00:00:01", T0.AddSeconds(2)));
        Assert.Equal(A101, Answer(r, Message(1, DhcpMessageType.Discover), T0.AddSeconds(2)).Reply.YourAddress);
        Assert.Equal(A102, Answer(r, Message(2, DhcpMessageType.Discover, requested: A100), T0.AddSeconds(3)).Reply.YourAddress);
        // Once the hold is over, the address is offered again.
        Assert.Equal(A100, Answer(r, Message(3, DhcpMessageType.Discover), T0 + AddressPool.ConflictHold + TimeSpan.FromSeconds(5)).Reply.YourAddress);
        // A decline of an address outside the range changes nothing.
        Silent(r, Message(4, DhcpMessageType.Decline, requested: IPAddress.Parse("10.9.9.1")), T0);
        Assert.Contains(_log, l => l.Contains("declined 10.9.8.100"));
    }

    [Fact]
    public void A_release_frees_only_the_senders_own_address()
    {
        // §4.3.4: DHCPRELEASE carries the address in ciaddr; never answered.
        var (r, pool) = Full();
        var offer = Answer(r, Message(1, DhcpMessageType.Discover), T0).Reply;
        Answer(r, Message(1, DhcpMessageType.Request, requested: offer.YourAddress, serverId: Server), T0);
        Silent(r, Message(2, DhcpMessageType.Release, ciaddr: A100, serverId: Server), T0.AddMinutes(1));
        Assert.NotNull(pool.LeaseOf("02:00:00:00:00:01", T0.AddMinutes(1)));
        Silent(r, Message(1, DhcpMessageType.Release, ciaddr: A100, serverId: Server), T0.AddMinutes(1));
        Assert.Null(pool.LeaseOf("02:00:00:00:00:01", T0.AddMinutes(1)));
        Assert.Equal(A100, Answer(r, Message(2, DhcpMessageType.Discover), T0.AddMinutes(2)).Reply.YourAddress);
    }

    [Fact]
    public void Inform_gets_configuration_without_an_address_or_lease()
    {
        // §4.3.5: DHCPACK, yiaddr not filled, no lease time, sent to ciaddr.
        var (r, _) = Full();
        var (ack, response) = Answer(r, Message(1, DhcpMessageType.Inform, ciaddr: IPAddress.Parse("10.9.8.40")), T0);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal(IPAddress.Any, ack.YourAddress);
        Assert.Equal(IPAddress.Parse("10.9.8.40"), ack.ClientAddress);
        Assert.Null(ack.Option(DhcpOption.LeaseTime));
        Assert.Equal(Router, ack.AddressOption(DhcpOption.Router));
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.8.40"), 68), response.Destination);
    }

    [Fact]
    public void Relayed_requests_are_answered_through_the_relay()
    {
        // §4.1: giaddr non-zero → to the relay's server port (67), giaddr copied into the reply.
        var (r, _) = Full();
        var giaddr = IPAddress.Parse("10.9.8.250");
        var (offer, response) = Answer(r, Message(1, DhcpMessageType.Discover, giaddr: giaddr), T0, new IPEndPoint(giaddr, 67));
        Assert.Equal(giaddr, offer.RelayAddress);
        Assert.Equal(new IPEndPoint(giaddr, 67), response.Destination);
        var (nak, nakResponse) = Answer(r, Message(2, DhcpMessageType.Request, requested: IPAddress.Parse("10.9.8.7"), serverId: Server, giaddr: giaddr), T0, new IPEndPoint(giaddr, 67));
        Assert.Equal(DhcpMessageType.Nak, nak.MessageType);
        Assert.Equal(new IPEndPoint(giaddr, 67), nakResponse.Destination);
    }

    [Fact]
    public void An_address_found_in_use_by_the_probe_is_withdrawn_and_refused()
    {
        // §3.1 step 2: servers SHOULD check an address is not in use. The offer goes out unprobed; the probe's
        // result reaches the pool before the client's DHCPREQUEST is answered (the listener sees to that).
        var (r, pool) = Full();
        var first = Answer(r, Message(1, DhcpMessageType.Discover), T0);
        Assert.Equal(A100, first.Response.Probe);
        pool.RecordProbe(A100, answered: true, T0.AddMilliseconds(300));
        Assert.Equal(DhcpMessageType.Nak, Answer(r, Message(1, DhcpMessageType.Request, requested: A100, serverId: Server), T0.AddSeconds(1)).Reply.MessageType);
        var next = Answer(r, Message(1, DhcpMessageType.Discover), T0.AddSeconds(2));
        Assert.Equal(A101, next.Reply.YourAddress);
        // A silent address is trusted for a while: not probed again when re-offered.
        pool.RecordProbe(A101, answered: false, T0.AddSeconds(3));
        Assert.Null(Answer(r, Message(1, DhcpMessageType.Discover), T0.AddSeconds(4)).Response.Probe);
        // With probing off nothing is asked for.
        var (quiet, _) = Full(probe: false);
        Assert.Null(Answer(quiet, Message(1, DhcpMessageType.Discover), T0).Response.Probe);
    }

    [Theory]
    [InlineData((ushort)0, "undionly.kpxe")] // RFC 4578 §2.1: 0 = Intel x86PC (BIOS)
    [InlineData((ushort)7, "ipxe.efi")]      // EFI BC
    [InlineData((ushort)9, "ipxe.efi")]      // EFI x86-64
    [InlineData((ushort)6, null)]            // EFI IA32: nothing to serve
    public void A_pxe_rom_gets_the_file_for_its_architecture(ushort arch, string? file)
    {
        var (r, _) = Full();
        var guid = Enumerable.Range(0, 17).Select(i => (byte)i).ToArray();
        var (offer, _) = Answer(r, Pxe(Message(1, DhcpMessageType.Discover), arch, guid: guid), T0);
        Assert.Equal(A100, offer.YourAddress);
        if (file == null)
        {
            Assert.Equal("", offer.BootFile);
            Assert.Null(offer.Option(DhcpOption.BootFileName));
            return;
        }
        Assert.Equal(file, offer.BootFile);
        Assert.Equal(file, System.Text.Encoding.ASCII.GetString(offer.Option(DhcpOption.BootFileName)!));
        Assert.Equal(Server, offer.ServerAddress);                                   // siaddr: the TFTP server
        Assert.Equal("10.9.8.1"u8.ToArray(), offer.Option(DhcpOption.TftpServerName));
        Assert.Equal("PXEClient"u8.ToArray(), offer.Option(DhcpOption.VendorClass)); // PXE 2.1 §2.2
        Assert.Equal(guid, offer.Option(DhcpOption.ClientMachineId));                // RFC 4578 §2.3, echoed
        Assert.Null(offer.Option(DhcpOption.VendorSpecific));                        // full mode: no discovery control
        Assert.Null(offer.Option(DhcpOption.IpxeEncapsulated));                      // not iPXE
    }

    [Fact]
    public void Ipxe_gets_its_script_url_and_is_told_not_to_wait_for_proxy_dhcp()
    {
        var (r, _) = Full(BootAction.LocalDisk);
        var discover = Pxe(Message(1, DhcpMessageType.Discover), 0, ipxe: true);
        var (offer, _) = Answer(r, discover, T0);
        Assert.Equal("http://10.9.8.1:8080/ipxe/02-00-00-00-00-01.ipxe", offer.BootFile); // the script says "local disk"
        // iPXE's include/ipxe/dhcp.h: 175 encapsulates iPXE's options; 176 = no-pxedhcp.
        Assert.Equal(new byte[] { 176, 1, 1 }, offer.Option(DhcpOption.IpxeEncapsulated));
        var (ack, _) = Answer(r, Pxe(Message(1, DhcpMessageType.Request, requested: A100, serverId: Server), 0, ipxe: true), T0);
        Assert.Equal(new byte[] { 176, 1, 1 }, ack.Option(DhcpOption.IpxeEncapsulated));
        // Option 175 alone (without the user class) also marks iPXE.
        var bare = Pxe(Message(2, DhcpMessageType.Discover), 0);
        bare.SetOption(DhcpOption.IpxeEncapsulated, [19, 1, 1]);
        Assert.EndsWith("02-00-00-00-00-02.ipxe", Answer(r, bare, T0).Reply.BootFile);
    }

    [Fact]
    public void A_pxe_rom_with_nothing_to_do_gets_an_address_and_no_file()
    {
        var (r, _) = Full(BootAction.LocalDisk);
        var (offer, _) = Answer(r, Pxe(Message(1, DhcpMessageType.Discover), 0), T0);
        Assert.Equal(A100, offer.YourAddress);
        Assert.Equal("", offer.BootFile);
        Assert.Equal(IPAddress.Any, offer.ServerAddress);
    }

    [Fact]
    public void Proxy_mode_answers_pxe_clients_with_boot_information_only()
    {
        // PXE 2.1 §2.2.5: a proxy offer has yiaddr 0, no lease, option 60 "PXEClient", siaddr/file, and (§2.4.2)
        // discovery control 6 = 8: boot the file named here without boot-server discovery.
        var r = Proxy();
        var guid = Enumerable.Range(0, 17).Select(i => (byte)(i * 3)).ToArray();
        var (offer, response) = Answer(r, Pxe(Message(1, DhcpMessageType.Discover, flags: DhcpPacket.BroadcastFlag), 0, guid: guid), T0);
        Assert.Equal(DhcpMessageType.Offer, offer.MessageType);
        Assert.Equal(IPAddress.Any, offer.YourAddress);
        Assert.Equal("undionly.kpxe", offer.BootFile);
        Assert.Equal(Server, offer.ServerAddress);
        Assert.Equal("PXEClient"u8.ToArray(), offer.Option(DhcpOption.VendorClass));
        Assert.Equal(new byte[] { 6, 1, 8, 255 }, offer.Option(DhcpOption.VendorSpecific));
        Assert.Equal(guid, offer.Option(DhcpOption.ClientMachineId));
        Assert.Null(offer.Option(DhcpOption.LeaseTime));
        Assert.Null(offer.Option(DhcpOption.SubnetMask));
        Assert.Null(offer.Option(DhcpOption.IpxeEncapsulated)); // proxy mode is the ProxyDHCP iPXE waits for
        Assert.Equal(Broadcast, response.Destination);
        Assert.Null(response.Probe);

        // Port 4011: REQUEST and INFORM get an ACK, unicast back to where they came from.
        var from = new IPEndPoint(IPAddress.Parse("10.9.8.150"), 68);
        var (ack, ackResponse) = Answer(r, Pxe(Message(1, DhcpMessageType.Request, ciaddr: from.Address), 7), T0, from, port4011: true);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal("ipxe.efi", ack.BootFile);
        Assert.Equal(from, ackResponse.Destination);
        Assert.Equal(DhcpMessageType.Ack, Answer(r, Pxe(Message(1, DhcpMessageType.Inform, ciaddr: from.Address), 0), T0, from, port4011: true).Reply.MessageType);

        // iPXE gets its script URL and no discovery control.
        var ipxe = Answer(r, Pxe(Message(2, DhcpMessageType.Discover), 0, ipxe: true), T0).Reply;
        Assert.EndsWith("/ipxe/02-00-00-00-00-02.ipxe", ipxe.BootFile);
        Assert.Null(ipxe.Option(DhcpOption.VendorSpecific));

        // Not ours to answer: plain clients, a DISCOVER on 4011, a REQUEST on 67, DECLINE and RELEASE.
        Silent(r, Message(3, DhcpMessageType.Discover), T0);
        Silent(r, Pxe(Message(3, DhcpMessageType.Discover), 0), T0, from, port4011: true);
        Silent(r, Pxe(Message(3, DhcpMessageType.Request, requested: A100, serverId: IPAddress.Parse("10.9.8.2")), 0), T0);
        Silent(r, Pxe(Message(3, DhcpMessageType.Decline, requested: A100), 0), T0);
        Silent(r, Pxe(Message(3, DhcpMessageType.Release, ciaddr: A100), 0), T0);
    }

    [Fact]
    public void Proxy_mode_stays_silent_for_a_machine_that_boots_its_own_disk()
    {
        var r = Proxy(BootAction.LocalDisk);
        Silent(r, Pxe(Message(1, DhcpMessageType.Discover), 0), T0);
        Assert.Contains(_log, l => l.Contains("local disk: no proxy answer"));
        // iPXE still gets its script, which boots the local disk.
        Assert.NotNull(r.Respond(Pxe(Message(1, DhcpMessageType.Discover), 0, ipxe: true), Unconfigured, false, T0));
    }

    [Fact]
    public void Replies_bootp_and_unknown_types_are_ignored()
    {
        var (r, _) = Full();
        var reply = Message(1, DhcpMessageType.Offer);
        reply.Op = DhcpPacket.BootReply;
        Silent(r, reply, T0);
        var bootp = Message(1, DhcpMessageType.Discover);
        bootp.Options.Clear(); // RFC 1542 BOOTP: no option 53 — not served
        Silent(r, bootp, T0);
        foreach (var t in new[] { DhcpMessageType.Offer, DhcpMessageType.Ack, DhcpMessageType.Nak, (DhcpMessageType)200 })
            Silent(r, Message(1, t), T0);
    }
}
