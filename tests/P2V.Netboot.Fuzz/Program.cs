using System.Net;
using P2V.Netboot.Dhcp;
using P2V.Netboot.Tftp;
using SharpFuzz;

// Fuzz targets over the packet parsers a network client can reach. Malformed input must end in the area's one
// exception type (DhcpPacketException, TftpPacketException); anything else, or a hang, is a finding.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: P2V.Netboot.Fuzz dhcp|tftp-request|tftp-packet [input-file] | seeds DIR");
    return 2;
}
if (args[0] == "seeds")
{
    WriteSeeds(args[1]);
    return 0;
}
Action<byte[]> target = args[0] switch
{
    "dhcp" => Dhcp,
    "tftp-request" => b => TftpRequest.Parse(b),
    "tftp-packet" => b =>
    {
        switch (TftpPacket.ReadOpcode(b))
        {
            case TftpOpcode.Ack: TftpPacket.ParseAck(b); break;
            case TftpOpcode.Error: TftpPacket.ParseError(b); break;
            default: TftpRequest.Parse(b); break;
        }
    },
    _ => throw new ArgumentException($"unknown target {args[0]}"),
};

if (args.Length > 1)
{
    Run(File.ReadAllBytes(args[1])); // replays one saved input outside AFL
    return 0;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    Run(ms.ToArray());
});
return 0;

void Run(byte[] input)
{
    try { target(input); }
    catch (DhcpPacketException) { }
    catch (TftpPacketException) { }
}

// What the server does with a request: parse, classify, and encode a reply carrying the same options.
static void Dhcp(byte[] b)
{
    var p = DhcpPacket.Parse(b);
    _ = PxeClient.From(p);
    _ = p.MessageType;
    _ = p.MacAddress;
    var buffer = new byte[64 * 1024];
    int n = p.Write(buffer);
    DhcpPacket.Parse(buffer.AsSpan(0, n));
}

static void WriteSeeds(string dir)
{
    Directory.CreateDirectory(dir);
    var discover = new DhcpPacket { TransactionId = 0x1234, Flags = DhcpPacket.BroadcastFlag };
    new byte[] { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }.CopyTo(discover.ClientHardwareAddress, 0);
    discover.SetOption(DhcpOption.MessageType, [(byte)DhcpMessageType.Discover]);
    discover.SetOption(DhcpOption.VendorClass, "PXEClient:Arch:00000:UNDI:002001");
    discover.SetOption(DhcpOption.ClientArchitecture, [0, 0]);
    discover.SetOption(DhcpOption.ClientMachineId, new byte[17]);
    discover.SetOption(DhcpOption.UserClass, "iPXE");
    discover.SetOption(DhcpOption.RequestedAddress, IPAddress.Parse("10.0.0.5"));
    var buffer = new byte[1500];
    File.WriteAllBytes(Path.Combine(dir, "dhcp-discover"), buffer[..discover.Write(buffer)]);
    var rrq = new TftpRequest
    {
        Opcode = TftpOpcode.ReadRequest, FileName = "capture/vmlinuz", Mode = "octet",
        Options = [new("blksize", "1468"), new("tsize", "0"), new("windowsize", "16"), new("timeout", "3")],
    };
    File.WriteAllBytes(Path.Combine(dir, "tftp-rrq"), buffer[..rrq.Write(buffer)]);
    File.WriteAllBytes(Path.Combine(dir, "tftp-ack"), buffer[..TftpPacket.WriteAck(buffer, 7)]);
    File.WriteAllBytes(Path.Combine(dir, "tftp-error"), buffer[..TftpPacket.WriteError(buffer, TftpErrorCode.OptionsRefused, "no")]);
}
