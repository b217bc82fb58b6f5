using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using P2V.Netboot;
using P2V.Netboot.Boot;
using P2V.Netboot.Dhcp;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>Our DHCP server on a veth pair into a namespace the test makes; busybox udhcpc is the client.</summary>
public sealed class DhcpServerTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<string> _log = [];
    private readonly TempDirectory _dir = new();
    private NetbootLog Log => new(l => { lock (_log) _log.Add(l); });

    public void Dispose()
    {
        lock (_log) foreach (var l in _log) output.WriteLine(l);
        _dir.Dispose();
    }

    private DhcpServer StartFull(TestNetwork net, IBootPolicy? policy = null) => DhcpServer.Start(new DhcpServerOptions
    {
        ServerAddress = net.ServerAddress,
        InterfaceName = net.HostInterface,
        RangeStart = net.Address(100),
        RangeEnd = net.Address(110),
        Router = net.ServerAddress,
        Dns = [net.Address(53)],
        LeaseFile = _dir.File("leases.json"),
        Policy = policy ?? new FixedBootPolicy(BootAction.Capture),
        Boot = new BootFiles { HttpBase = $"http://{net.ServerAddress}:8080" },
    }, Log);

    /// <summary>Runs udhcpc once in the namespace; returns the variables its script saw on "bound".</summary>
    private Dictionary<string, string> Udhcpc(TestNetwork net, params string[] extra)
    {
        var script = _dir.File($"udhcpc-{Guid.NewGuid():N}.sh");
        var result = script + ".out";
        File.WriteAllText(script, $"#!/bin/sh\n[ \"$1\" = bound ] && env > {result}\nexit 0\n");
        ExternalTool.Run("chmod", "+x", script);
        var r = net.Exec(60_000, ["busybox", "udhcpc", "-i", net.ClientInterface, "-n", "-q", "-f", "-t", "4", "-T", "2", "-s", script, .. extra]);
        output.WriteLine(r.StdOut + r.StdErr);
        Assert.True(r.ExitCode == 0 && File.Exists(result), $"udhcpc got no lease: {r.StdErr}");
        return File.ReadAllLines(result).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
    }

    [Fact]
    public async Task Udhcpc_gets_a_lease_in_full_mode_and_keeps_it_across_a_restart()
    {
        using var net = new TestNetwork();
        string first;
        await using (var server = StartFull(net))
        {
            var env = Udhcpc(net);
            first = env["ip"];
            Assert.StartsWith($"10.213.{net.Subnet}.1", first);
            Assert.Equal("255.255.255.0", env["subnet"]);
            Assert.Equal(net.ServerAddress.ToString(), env["router"]);
            Assert.Equal(net.Address(53).ToString(), env["dns"].Trim());
            Assert.Equal(net.ServerAddress.ToString(), env["serverid"]);
            Assert.False(env.ContainsKey("boot_file")); // not a PXE client: an address, no boot file
        }
        // The lease file is JSON that a restarted server reads back: same MAC, same address.
        using (var doc = JsonDocument.Parse(File.ReadAllText(_dir.File("leases.json"))))
            Assert.Equal(first, doc.RootElement[0].GetProperty("address").GetString());
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp"));
        await using (var again = StartFull(net))
            Assert.Equal(first, Udhcpc(net)["ip"]);
        lock (_log)
        {
            Assert.Contains(_log, l => l.Contains("DISCOVER plain"));
            Assert.Contains(_log, l => l.Contains($"OFFER {first}"));
            Assert.Contains(_log, l => l.Contains($"ACK {first}"));
        }
    }

    [Fact]
    public async Task A_pxe_client_in_full_mode_gets_the_file_for_its_firmware()
    {
        using var net = new TestNetwork();
        await using var server = StartFull(net);
        var bios = Udhcpc(net, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000");
        Assert.Equal("undionly.kpxe", bios["boot_file"]);
        Assert.Equal(net.ServerAddress.ToString(), bios["siaddr"]);
        var uefi = Udhcpc(net, "-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007");
        Assert.Equal("ipxe.efi", uefi["boot_file"]);
        var ipxe = Udhcpc(net, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x4d:69505845", "-x", "0x5d:0000");
        Assert.Matches(@"^http://10\.213\.\d+\.1:8080/ipxe/([0-9a-f]{2}-){5}[0-9a-f]{2}\.ipxe$", ipxe["boot_file"]);
    }

    [Fact]
    public async Task Local_disk_clients_get_no_boot_file()
    {
        using var net = new TestNetwork();
        await using var server = StartFull(net, new FixedBootPolicy(BootAction.LocalDisk));
        var env = Udhcpc(net, "-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000");
        Assert.False(env.ContainsKey("boot_file"));
        Assert.StartsWith($"10.213.{net.Subnet}.1", env["ip"]);
    }

    [Fact]
    public async Task Proxy_mode_answers_a_broadcast_pxe_discover_and_ignores_plain_clients()
    {
        using var net = new TestNetwork();
        await using var server = DhcpServer.Start(new DhcpServerOptions
        {
            ServerAddress = net.ServerAddress,
            InterfaceName = net.HostInterface,
            Proxy = true,
            Policy = new FixedBootPolicy(BootAction.Deploy),
            Boot = new BootFiles { HttpBase = $"http://{net.ServerAddress}:8080" },
        }, Log);
        using var client = net.CreateUdpSocketInside(s =>
        {
            s.EnableBroadcast = true;
            // No address and no route yet, like a PXE ROM: the device binding lets the broadcast out.
            s.SetRawSocketOption(1, 25, Encoding.ASCII.GetBytes(net.ClientInterface + "\0"));
            s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            s.Bind(new IPEndPoint(IPAddress.Any, 68));
        });
        client.ReceiveTimeout = 5000;
        var guid = Enumerable.Range(0, 17).Select(i => (byte)i).ToArray();
        var discover = PxeDiscover(0x1234, arch: 0, guid);
        client.SendTo(Encode(discover), new IPEndPoint(IPAddress.Broadcast, 67));
        var offer = ReceiveReply(client, 0x1234);
        Assert.Equal(DhcpMessageType.Offer, offer.MessageType);
        Assert.Equal(IPAddress.Any, offer.YourAddress);                       // proxy: no address
        Assert.Equal("undionly.kpxe", offer.BootFile);
        Assert.Equal(net.ServerAddress, offer.ServerAddress);
        Assert.Equal("PXEClient"u8.ToArray(), offer.Option(DhcpOption.VendorClass));
        Assert.Equal(new byte[] { 6, 1, 8, 255 }, offer.Option(DhcpOption.VendorSpecific));
        Assert.Equal(guid, offer.Option(DhcpOption.ClientMachineId));
        Assert.Null(offer.Option(DhcpOption.LeaseTime));

        // A plain DHCP client gets nothing from a proxy.
        var plain = PxeDiscover(0x5678, arch: 0, guid);
        plain.Options.RemoveAll(o => o.Key is DhcpOption.VendorClass or DhcpOption.ClientArchitecture);
        client.SendTo(Encode(plain), new IPEndPoint(IPAddress.Broadcast, 67));
        Assert.Throws<SocketException>(() => { client.ReceiveTimeout = 1500; ReceiveReply(client, 0x5678); });
    }

    [Fact]
    public async Task Proxy_port_4011_acknowledges_a_unicast_request_on_loopback()
    {
        int port = FreeUdpPort(), proxyPort = FreeUdpPort();
        await using var server = DhcpServer.Start(new DhcpServerOptions
        {
            ServerAddress = IPAddress.Loopback,
            Proxy = true,
            Port = port,
            ProxyPort = proxyPort,
            Policy = new FixedBootPolicy(BootAction.Capture),
            Boot = new BootFiles { HttpBase = "http://127.0.0.1:8080" },
        }, Log);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var request = PxeDiscover(0x4011, arch: 7, null);
        request.SetOption(DhcpOption.MessageType, [(byte)DhcpMessageType.Request]);
        request.ClientAddress = IPAddress.Loopback;
        client.SendTo(Encode(request), new IPEndPoint(IPAddress.Loopback, proxyPort));
        var ack = ReceiveReply(client, 0x4011);
        Assert.Equal(DhcpMessageType.Ack, ack.MessageType);
        Assert.Equal("ipxe.efi", ack.BootFile);
    }

    [Fact]
    public async Task Hostile_packets_are_dropped_and_service_goes_on()
    {
        int port = FreeUdpPort();
        await using var server = DhcpServer.Start(new DhcpServerOptions
        {
            ServerAddress = IPAddress.Loopback,
            Proxy = true,
            Port = port,
            ProxyPort = 0,
            Policy = new FixedBootPolicy(BootAction.Capture),
            Boot = new BootFiles { HttpBase = "http://127.0.0.1:8080" },
        }, Log);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var to = new IPEndPoint(IPAddress.Loopback, port);
        var good = Encode(PxeDiscover(0xBEEF, 0, null));
        var rng = new Random(7);
        foreach (var hostile in HostilePackets(good, rng)) client.SendTo(hostile, to);
        client.SendTo(good, to);
        var reply = ReceiveReply(client, 0xBEEF);
        Assert.Equal(DhcpMessageType.Offer, reply.MessageType);
        lock (_log) Assert.Contains(_log, l => l.Contains("malformed"));
    }

    [Fact]
    public async Task The_offer_goes_out_unprobed_and_a_probe_that_finds_the_address_in_use_turns_the_request_into_a_nak()
    {
        // Every 127.0.0.x answers ICMP echo: the real probe finds each offered address in use, after the offer.
        int port = FreeUdpPort();
        await using var server = DhcpServer.Start(new DhcpServerOptions
        {
            ServerAddress = IPAddress.Loopback,
            Port = port,
            RangeStart = IPAddress.Parse("127.0.0.100"),
            RangeEnd = IPAddress.Parse("127.0.0.110"),
            LeaseFile = _dir.File("leases.json"),
            Policy = new FixedBootPolicy(BootAction.LocalDisk),
            Boot = new BootFiles { HttpBase = "http://127.0.0.1:8080" },
        }, Log);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 5000 };
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var to = new IPEndPoint(IPAddress.Loopback, port);
        var discover = PxeDiscover(0xD1, 0, null);
        client.SendTo(Encode(discover), to);
        Assert.Equal(IPAddress.Parse("127.0.0.100"), ReceiveReply(client, 0xD1).YourAddress);
        var request = PxeDiscover(0xD2, 0, null);
        request.SetOption(DhcpOption.MessageType, [(byte)DhcpMessageType.Request]);
        request.SetOption(DhcpOption.RequestedAddress, IPAddress.Parse("127.0.0.100"));
        request.SetOption(DhcpOption.ServerIdentifier, IPAddress.Loopback);
        client.SendTo(Encode(request), to);
        // The NAK is broadcast (RFC 2131 §4.1), which a loopback socket does not hear: the log says what was sent.
        WaitForLog("NAK 127.0.0.100", TimeSpan.FromSeconds(30));
        lock (_log)
        {
            Assert.Contains(_log, l => l.Contains("127.0.0.100 answers a probe"));
            Assert.DoesNotContain(_log, l => l.Contains("ACK 127.0.0.100"));
        }
        client.SendTo(Encode(discover), to);
        Assert.Equal(IPAddress.Parse("127.0.0.101"), ReceiveReply(client, 0xD1).YourAddress);
        Assert.Empty(server.Pool!.Leases.Leases);
    }

    private void WaitForLog(string text, TimeSpan limit)
    {
        var until = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < until)
        {
            lock (_log) if (_log.Any(l => l.Contains(text))) return;
            Thread.Sleep(20);
        }
        Assert.Fail($"no log line with \"{text}\" after {limit.TotalSeconds} s");
    }

    internal static IEnumerable<byte[]> HostilePackets(byte[] good, Random rng)
    {
        yield return [];
        yield return good[..100];
        yield return good[..239];
        var badCookie = (byte[])good.Clone(); badCookie[236] ^= 0xFF; yield return badCookie;
        var badOp = (byte[])good.Clone(); badOp[0] = 9; yield return badOp;
        var longHw = (byte[])good.Clone(); longHw[2] = 200; yield return longHw;
        var overrun = good[..242]; overrun[240] = 60; overrun[241] = 250; yield return overrun;    // option longer than the packet
        var noLength = good[..241]; noLength[240] = 60; yield return noLength;                     // option code without length
        var overload = good[..244]; overload[240] = 52; overload[241] = 1; overload[242] = 3; overload[243] = 255; // overload into garbage fields
        overload.AsSpan(44, 192).Fill(0x2A); yield return overload;
        var wrongType = good[..244]; wrongType[240] = 53; wrongType[241] = 1; wrongType[242] = 200; wrongType[243] = 255; yield return wrongType;
        for (int i = 0; i < 50; i++)
        {
            var b = (byte[])good.Clone();
            for (int k = 0; k < 8; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            yield return b[..rng.Next(b.Length)];
        }
    }

    internal static DhcpPacket PxeDiscover(uint xid, ushort arch, byte[]? guid)
    {
        var p = new DhcpPacket { TransactionId = xid, Flags = DhcpPacket.BroadcastFlag };
        new byte[] { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }.CopyTo(p.ClientHardwareAddress, 0);
        p.SetOption(DhcpOption.MessageType, [(byte)DhcpMessageType.Discover]);
        p.SetOption(DhcpOption.VendorClass, $"PXEClient:Arch:{arch:D5}:UNDI:002001");
        var a = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(a, arch);
        p.SetOption(DhcpOption.ClientArchitecture, a);
        if (guid != null) p.SetOption(DhcpOption.ClientMachineId, guid);
        return p;
    }

    internal static byte[] Encode(DhcpPacket p)
    {
        var b = new byte[1500];
        return b[..p.Write(b)];
    }

    private static DhcpPacket ReceiveReply(Socket s, uint xid)
    {
        var buf = new byte[2048];
        while (true)
        {
            int n = s.Receive(buf);
            var p = DhcpPacket.Parse(buf.AsSpan(0, n));
            if (p.Op == DhcpPacket.BootReply && p.TransactionId == xid) return p;
        }
    }

    internal static int FreeUdpPort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
