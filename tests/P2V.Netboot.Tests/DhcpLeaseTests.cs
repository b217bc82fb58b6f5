using System.Net;
using System.Net.Sockets;
using P2V.Netboot;
using P2V.Netboot.Boot;
using P2V.Netboot.Dhcp;
using Xunit.Abstractions;

namespace P2V.Netboot.Tests;

/// <summary>Full-mode address bookkeeping, driven over loopback with hand-made requests (replies go back to the sender).</summary>
public sealed class DhcpLeaseTests(ITestOutputHelper output) : IDisposable
{
    private readonly List<string> _log = [];
    private readonly TempDirectory _dir = new();

    public void Dispose()
    {
        lock (_log) foreach (var l in _log) output.WriteLine(l);
        _dir.Dispose();
    }

    private DhcpServer Start(int port, bool probe) => DhcpServer.Start(new DhcpServerOptions
    {
        ServerAddress = IPAddress.Loopback,
        Port = port,
        RangeStart = IPAddress.Parse("127.0.0.100"),
        RangeEnd = IPAddress.Parse("127.0.0.110"),
        LeaseFile = _dir.File("leases.json"),
        ProbeBeforeOffer = probe,
        Policy = new FixedBootPolicy(BootAction.LocalDisk),
        Boot = new BootFiles { HttpBase = "http://127.0.0.1:8080" },
    }, new NetbootLog(l => { lock (_log) _log.Add(l); }));

    private static DhcpPacket? Exchange(Socket s, int port, byte mac, DhcpMessageType type, IPAddress? requested = null, IPAddress? serverId = null)
    {
        var p = new DhcpPacket { TransactionId = (uint)(mac << 8 | (byte)type) };
        new byte[] { 0x02, 0, 0, 0, 0, mac }.CopyTo(p.ClientHardwareAddress, 0);
        p.SetOption(DhcpOption.MessageType, [(byte)type]);
        if (requested != null) p.SetOption(DhcpOption.RequestedAddress, requested);
        if (type is DhcpMessageType.Request or DhcpMessageType.Decline) p.SetOption(DhcpOption.ServerIdentifier, serverId ?? IPAddress.Loopback);
        s.SendTo(DhcpServerTests.Encode(p), new IPEndPoint(IPAddress.Loopback, port));
        if (type is DhcpMessageType.Decline or DhcpMessageType.Release) return null;
        var buf = new byte[2048];
        try
        {
            while (true)
            {
                int n = s.Receive(buf);
                var r = DhcpPacket.Parse(buf.AsSpan(0, n));
                if (r.TransactionId == p.TransactionId) return r;
            }
        }
        catch (SocketException) { return null; }
    }

    private static Socket Client()
    {
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 3000 };
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return s;
    }

    [Fact]
    public async Task Offers_and_leases_never_collide_and_declined_addresses_are_skipped()
    {
        int port = DhcpServerTests.FreeUdpPort();
        await using var server = Start(port, probe: false);
        using var a = Client();
        using var b = Client();
        var offerA = Exchange(a, port, 0xA, DhcpMessageType.Discover)!;
        var offerB = Exchange(b, port, 0xB, DhcpMessageType.Discover)!;
        Assert.Equal(IPAddress.Parse("127.0.0.100"), offerA.YourAddress);
        Assert.Equal(IPAddress.Parse("127.0.0.101"), offerB.YourAddress);
        Assert.Equal(3600u, (uint)System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(offerA.Option(DhcpOption.LeaseTime)));

        var ackA = Exchange(a, port, 0xA, DhcpMessageType.Request, offerA.YourAddress)!;
        Assert.Equal(DhcpMessageType.Ack, ackA.MessageType);
        // B asks for A's address: refused.
        Assert.Equal(DhcpMessageType.Nak, Exchange(b, port, 0xB, DhcpMessageType.Request, offerA.YourAddress)!.MessageType);
        // A finds the address in use (ARP answered) and declines it: the next offer avoids it and B's pending one.
        Exchange(a, port, 0xA, DhcpMessageType.Decline, offerA.YourAddress);
        Assert.Equal(IPAddress.Parse("127.0.0.102"), Exchange(a, port, 0xA, DhcpMessageType.Discover)!.YourAddress);
        // B takes another server's offer (its REQUEST names that server): we stay silent and .101 is free again.
        Assert.Null(Exchange(b, port, 0xB, DhcpMessageType.Request, IPAddress.Parse("127.0.0.101"), serverId: IPAddress.Parse("127.0.0.9")));
        using var c = Client();
        Assert.Equal(IPAddress.Parse("127.0.0.101"), Exchange(c, port, 0xD, DhcpMessageType.Discover)!.YourAddress);
    }

    [Fact]
    public async Task An_address_that_answers_ping_is_not_offered()
    {
        // Every 127.0.0.x answers ICMP echo, so with probing on no address in the range is free.
        int port = DhcpServerTests.FreeUdpPort();
        await using var server = Start(port, probe: true);
        using var a = Client();
        Assert.Null(Exchange(a, port, 0xC, DhcpMessageType.Discover));
        lock (_log)
        {
            Assert.Contains(_log, l => l.Contains("127.0.0.100 answers ping: skipped"));
            Assert.Contains(_log, l => l.Contains("no free address in the range"));
        }
    }
}
