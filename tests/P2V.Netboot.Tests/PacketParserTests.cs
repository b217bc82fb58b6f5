using System.Net;
using P2V.Netboot.Dhcp;
using P2V.Netboot.Tftp;

namespace P2V.Netboot.Tests;

/// <summary>The packet parsers alone: round trips, and malformed input ending in the area's one exception type.</summary>
public sealed class PacketParserTests
{
    [Fact]
    public void Dhcp_round_trips_fields_and_options()
    {
        var p = DhcpServerTests.PxeDiscover(0xCAFEBABE, arch: 7, guid: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
        p.ClientAddress = IPAddress.Parse("10.1.2.3");
        p.BootFile = "undionly.kpxe";
        p.SetOption(DhcpOption.ParameterRequestList, Enumerable.Range(1, 300).Select(i => (byte)i).ToArray()); // > 255: split (RFC 3396)
        var bytes = DhcpServerTests.Encode(p);
        Assert.True(bytes.Length >= DhcpPacket.MinimumSize);
        var q = DhcpPacket.Parse(bytes);
        Assert.Equal(0xCAFEBABEu, q.TransactionId);
        Assert.Equal(DhcpMessageType.Discover, q.MessageType);
        Assert.Equal("52:54:00:12:34:56", string.Join(':', q.MacAddress.GetAddressBytes().Select(b => b.ToString("x2"))));
        Assert.Equal(IPAddress.Parse("10.1.2.3"), q.ClientAddress);
        Assert.Equal("undionly.kpxe", q.BootFile);
        Assert.Equal(300, q.Option(DhcpOption.ParameterRequestList)!.Length);
        var client = PxeClient.From(q);
        Assert.True(client.IsPxe);
        Assert.False(client.IsIpxe);
        Assert.Equal(ClientFirmware.UefiX64, client.Firmware);
    }

    [Fact]
    public void Dhcp_reads_options_moved_into_file_and_sname_by_overload()
    {
        var p = DhcpServerTests.PxeDiscover(1, 0, null);
        var bytes = DhcpServerTests.Encode(p);
        // Option 52 = 3: the file field (offset 108) and then sname (offset 44) carry options too.
        bytes[108] = (byte)DhcpOption.HostName; bytes[109] = 3; "abc"u8.CopyTo(bytes.AsSpan(110)); bytes[113] = 255;
        bytes[44] = (byte)DhcpOption.UserClass; bytes[45] = 4; "iPXE"u8.CopyTo(bytes.AsSpan(46)); bytes[50] = 255;
        var withOverload = bytes[..240].Concat(new byte[] { 52, 1, 3 }).Concat(bytes[240..]).ToArray();
        var q = DhcpPacket.Parse(withOverload);
        Assert.Equal("abc"u8.ToArray(), q.Option(DhcpOption.HostName));
        Assert.True(PxeClient.From(q).IsIpxe);
        Assert.Equal("", q.BootFile);
    }

    public static TheoryData<string, byte[]> MalformedDhcp()
    {
        var good = DhcpServerTests.Encode(DhcpServerTests.PxeDiscover(2, 0, null));
        var data = new TheoryData<string, byte[]>();
        var i = 0;
        foreach (var p in DhcpServerTests.HostilePackets(good, new Random(11)))
            if (p.Length < 240 || p[0] is not (1 or 2) || p[2] > 16 || p[236..240].SequenceEqual(good[236..240]) == false || i < 10)
                data.Add($"hostile {i++}", p);
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedDhcp))]
    public void Malformed_dhcp_throws_only_DhcpPacketException(string name, byte[] packet)
    {
        _ = name;
        try { DhcpPacket.Parse(packet); }
        catch (DhcpPacketException e) { Assert.InRange(e.Offset, 0, Math.Max(packet.Length, 240)); }
    }

    [Fact]
    public void Random_dhcp_mutations_never_escape_the_exception_type()
    {
        // Deterministic stand-in for the fuzzer in CI: flips, truncations and option-length lies.
        var good = DhcpServerTests.Encode(DhcpServerTests.PxeDiscover(3, 0, new byte[17]));
        var rng = new Random(2026);
        var buffer = new byte[64 * 1024];
        for (int round = 0; round < 20_000; round++)
        {
            var b = (byte[])good.Clone();
            int flips = rng.Next(1, 12);
            for (int k = 0; k < flips; k++) b[rng.Next(236, b.Length)] = (byte)rng.Next(256);
            if (rng.Next(4) == 0) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            if (rng.Next(3) == 0) b = b[..rng.Next(b.Length + 1)];
            try
            {
                var p = DhcpPacket.Parse(b);
                _ = PxeClient.From(p);
                DhcpPacket.Parse(buffer.AsSpan(0, p.Write(buffer)));
            }
            catch (DhcpPacketException) { }
        }
    }

    [Fact]
    public void Tftp_request_round_trips_and_lower_cases_options()
    {
        var buf = new byte[512];
        int n = new TftpRequest
        {
            Opcode = TftpOpcode.ReadRequest, FileName = "capture/Vmlinuz", Mode = "OCTET",
            Options = [new("BlkSize", "1468"), new("windowsize", "16")],
        }.Write(buf);
        var r = TftpRequest.Parse(buf.AsSpan(0, n));
        Assert.Equal("capture/Vmlinuz", r.FileName);
        Assert.Equal("octet", r.Mode);
        Assert.Equal("1468", r.Option("blksize"));
        Assert.Equal("16", r.Option("windowsize"));
    }

    [Fact]
    public void A_tftp_option_named_twice_keeps_its_first_value()
    {
        // RFC 2347 names each option once; names are case-insensitive, so "BLKSIZE" repeats "blksize".
        var buf = new byte[512];
        int n = new TftpRequest
        {
            Opcode = TftpOpcode.ReadRequest, FileName = "f", Mode = "octet",
            Options = [new("blksize", "1024"), new("tsize", "0"), new("BLKSIZE", "8"), new("blksize", "1468")],
        }.Write(buf);
        var r = TftpRequest.Parse(buf.AsSpan(0, n));
        Assert.Equal([new("blksize", "1024"), new("tsize", "0")], r.Options);
    }

    [Theory]
    [InlineData(new byte[] { }, 0)]
    [InlineData(new byte[] { 0, 3, 0, 1 }, 0)]                          // DATA is no request
    [InlineData(new byte[] { 0, 1, 0, (byte)'o', 0 }, 2)]              // empty file name
    [InlineData(new byte[] { 0, 1, (byte)'f', 0, (byte)'x', 0 }, 4)]   // unknown mode
    [InlineData(new byte[] { 0, 1, (byte)'f', 0, (byte)'o' }, 4)]      // mode without NUL
    [InlineData(new byte[] { 0, 2, (byte)'f', 0, (byte)'o', (byte)'c', (byte)'t', (byte)'e', (byte)'t', 0, (byte)'a', 0 }, 12)] // value missing
    public void Malformed_tftp_request_reports_where(byte[] packet, int offset)
    {
        var e = Assert.Throws<TftpPacketException>(() => TftpRequest.Parse(packet));
        Assert.Equal(offset, e.Offset);
    }

    [Fact]
    public void Too_many_tftp_options_are_refused()
    {
        var options = Enumerable.Range(0, TftpRequest.MaxOptions + 1).Select(i => new KeyValuePair<string, string>($"o{i}", "1")).ToList();
        var buf = new byte[2048];
        int n = new TftpRequest { Opcode = TftpOpcode.ReadRequest, FileName = "f", Mode = "octet", Options = options }.Write(buf);
        Assert.Throws<TftpPacketException>(() => TftpRequest.Parse(buf.AsSpan(0, n)));
    }

    [Fact]
    public void Random_tftp_mutations_never_escape_the_exception_type()
    {
        var buf = new byte[512];
        int n = new TftpRequest
        {
            Opcode = TftpOpcode.ReadRequest, FileName = "a/b", Mode = "netascii",
            Options = [new("blksize", "8"), new("tsize", "0")],
        }.Write(buf);
        var good = buf[..n];
        var rng = new Random(69);
        for (int round = 0; round < 20_000; round++)
        {
            var b = (byte[])good.Clone();
            for (int k = rng.Next(1, 5); k > 0; k--) b[rng.Next(b.Length)] = (byte)rng.Next(256);
            if (rng.Next(3) == 0) b = b[..rng.Next(b.Length + 1)];
            try
            {
                switch (TftpPacket.ReadOpcode(b))
                {
                    case TftpOpcode.Ack: TftpPacket.ParseAck(b); break;
                    case TftpOpcode.Error: TftpPacket.ParseError(b); break;
                    default: TftpRequest.Parse(b); break;
                }
            }
            catch (TftpPacketException) { }
        }
    }
}
