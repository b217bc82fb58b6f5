using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;

namespace P2V.Netboot.Dhcp;

/// <summary>
/// A BOOTP/DHCP message, RFC 2131 §2 figure 1: op, htype, hlen, hops, xid, secs, flags, ciaddr, yiaddr, siaddr,
/// giaddr, chaddr[16], sname[64], file[128], then the magic cookie 99.130.83.99 and the options (RFC 2132 §2:
/// code, length, value; 0 pads, 255 ends). Repeated options are concatenated (RFC 3396); option 52 moves more
/// options into the file and sname fields (RFC 2132 §9.3).
/// </summary>
public sealed class DhcpPacket
{
    public const int FixedSize = 236;
    public const int OptionsOffset = 240;
    /// <summary>RFC 1542 §3.1.1: some relays and ROMs drop BOOTP messages shorter than 300 bytes.</summary>
    public const int MinimumSize = 300;
    public const uint MagicCookie = 0x63825363;
    public const byte BootRequest = 1, BootReply = 2;
    public const ushort BroadcastFlag = 0x8000;

    public byte Op { get; set; } = BootRequest;
    public byte HardwareType { get; set; } = 1;
    public byte HardwareLength { get; set; } = 6;
    public byte Hops { get; set; }
    public uint TransactionId { get; set; }
    public ushort Seconds { get; set; }
    public ushort Flags { get; set; }
    public IPAddress ClientAddress { get; set; } = IPAddress.Any;
    public IPAddress YourAddress { get; set; } = IPAddress.Any;
    public IPAddress ServerAddress { get; set; } = IPAddress.Any;
    public IPAddress RelayAddress { get; set; } = IPAddress.Any;
    /// <summary>All 16 bytes of chaddr; the first <see cref="HardwareLength"/> are the address.</summary>
    public byte[] ClientHardwareAddress { get; set; } = new byte[16];
    public string ServerName { get; set; } = "";
    public string BootFile { get; set; } = "";
    /// <summary>Options in first-seen order; each code once, values already concatenated.</summary>
    public List<KeyValuePair<DhcpOption, byte[]>> Options { get; } = [];

    public PhysicalAddress MacAddress => new(ClientHardwareAddress.AsSpan(0, Math.Min((int)HardwareLength, 16)).ToArray());

    public DhcpMessageType? MessageType =>
        Option(DhcpOption.MessageType) is [var t] ? (DhcpMessageType)t : null;

    public byte[]? Option(DhcpOption code)
    {
        foreach (var kv in Options)
            if (kv.Key == code) return kv.Value;
        return null;
    }

    public void SetOption(DhcpOption code, byte[] value)
    {
        for (int i = 0; i < Options.Count; i++)
            if (Options[i].Key == code) { Options[i] = new(code, value); return; }
        Options.Add(new(code, value));
    }

    public void SetOption(DhcpOption code, IPAddress address) => SetOption(code, address.GetAddressBytes());
    public void SetOption(DhcpOption code, string ascii) => SetOption(code, Encoding.ASCII.GetBytes(ascii));
    public void SetOption(DhcpOption code, uint value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, value);
        SetOption(code, b);
    }

    public IPAddress? AddressOption(DhcpOption code) => Option(code) is { Length: 4 } b ? new IPAddress(b) : null;

    public static DhcpPacket Parse(ReadOnlySpan<byte> data)
    {
        if (data.Length < OptionsOffset) throw new DhcpPacketException(data.Length, $"at least {OptionsOffset} bytes (fixed header and magic cookie)");
        var p = new DhcpPacket
        {
            Op = data[0],
            HardwareType = data[1],
            HardwareLength = data[2],
            Hops = data[3],
            TransactionId = BinaryPrimitives.ReadUInt32BigEndian(data[4..]),
            Seconds = BinaryPrimitives.ReadUInt16BigEndian(data[8..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(data[10..]),
            ClientAddress = new IPAddress(data.Slice(12, 4)),
            YourAddress = new IPAddress(data.Slice(16, 4)),
            ServerAddress = new IPAddress(data.Slice(20, 4)),
            RelayAddress = new IPAddress(data.Slice(24, 4)),
            ClientHardwareAddress = data.Slice(28, 16).ToArray(),
        };
        if (p.Op is not (BootRequest or BootReply)) throw new DhcpPacketException(0, "op 1 (BOOTREQUEST) or 2 (BOOTREPLY)");
        if (p.HardwareLength > 16) throw new DhcpPacketException(2, "a hardware address length of at most 16");
        if (BinaryPrimitives.ReadUInt32BigEndian(data[FixedSize..]) != MagicCookie) throw new DhcpPacketException(FixedSize, "the magic cookie 99.130.83.99");

        var chunks = new List<(DhcpOption, int Offset, int Length)>();
        ReadOptions(data, OptionsOffset, data.Length, chunks);
        // Overload (RFC 2132 §9.3): 1 = file holds options, 2 = sname, 3 = both; file is read first.
        byte overload = 0;
        foreach (var (code, off, len) in chunks)
            if (code == DhcpOption.Overload)
                overload = len == 1 && data[off] is >= 1 and <= 3 ? data[off] : throw new DhcpPacketException(off, "option 52 value 1, 2 or 3");
        if ((overload & 1) != 0) ReadOptions(data, 108, 236, chunks);
        if ((overload & 2) != 0) ReadOptions(data, 44, 108, chunks);
        p.ServerName = (overload & 2) != 0 ? "" : ReadCString(data.Slice(44, 64));
        p.BootFile = (overload & 1) != 0 ? "" : ReadCString(data.Slice(108, 128));

        foreach (var group in chunks.GroupBy(c => c.Item1))
        {
            var value = new byte[group.Sum(c => c.Length)];
            int at = 0;
            foreach (var (_, off, len) in group) { data.Slice(off, len).CopyTo(value.AsSpan(at)); at += len; }
            p.Options.Add(new(group.Key, value));
        }
        return p;
    }

    private static void ReadOptions(ReadOnlySpan<byte> data, int start, int end, List<(DhcpOption, int, int)> into)
    {
        int pos = start;
        while (pos < end)
        {
            var code = (DhcpOption)data[pos];
            if (code == DhcpOption.Pad) { pos++; continue; }
            if (code == DhcpOption.End) return;
            if (pos + 1 >= end) throw new DhcpPacketException(pos + 1, $"a length byte for option {(byte)code}");
            int len = data[pos + 1];
            if (pos + 2 + len > end) throw new DhcpPacketException(pos + 1, $"option {(byte)code} of {len} bytes to fit before offset {end}");
            into.Add((code, pos + 2, len));
            pos += 2 + len;
        }
        // A missing End option is tolerated: several PXE ROMs stop at the end of the datagram.
    }

    private static string ReadCString(ReadOnlySpan<byte> field)
    {
        int nul = field.IndexOf((byte)0);
        var s = nul >= 0 ? field[..nul] : field;
        var chars = new char[s.Length];
        for (int i = 0; i < s.Length; i++) chars[i] = s[i] is >= 0x20 and < 0x7F ? (char)s[i] : '?';
        return new string(chars);
    }

    /// <summary>Encodes the message; returns its length (at least <see cref="MinimumSize"/>).</summary>
    public int Write(Span<byte> destination)
    {
        int needed = OptionsOffset + 1 + Options.Sum(o => o.Value.Length + 2 * ((o.Value.Length + 254) / 255 + (o.Value.Length == 0 ? 1 : 0)));
        if (destination.Length < Math.Max(needed, MinimumSize)) throw new ArgumentException($"DHCP message needs {needed} bytes", nameof(destination));
        destination[..Math.Max(needed, MinimumSize)].Clear();
        destination[0] = Op;
        destination[1] = HardwareType;
        destination[2] = HardwareLength;
        destination[3] = Hops;
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[8..], Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(destination[10..], Flags);
        ClientAddress.TryWriteBytes(destination.Slice(12, 4), out _);
        YourAddress.TryWriteBytes(destination.Slice(16, 4), out _);
        ServerAddress.TryWriteBytes(destination.Slice(20, 4), out _);
        RelayAddress.TryWriteBytes(destination.Slice(24, 4), out _);
        ClientHardwareAddress.AsSpan(0, Math.Min(16, ClientHardwareAddress.Length)).CopyTo(destination[28..]);
        WriteCString(destination.Slice(44, 64), ServerName);
        WriteCString(destination.Slice(108, 128), BootFile);
        BinaryPrimitives.WriteUInt32BigEndian(destination[FixedSize..], MagicCookie);
        int pos = OptionsOffset;
        foreach (var (code, value) in Options)
        {
            // Values over 255 bytes go out as consecutive instances of the same code (RFC 3396).
            int at = 0;
            do
            {
                int len = Math.Min(255, value.Length - at);
                destination[pos++] = (byte)code;
                destination[pos++] = (byte)len;
                value.AsSpan(at, len).CopyTo(destination[pos..]);
                pos += len;
                at += len;
            } while (at < value.Length);
        }
        destination[pos++] = (byte)DhcpOption.End;
        return Math.Max(pos, MinimumSize);
    }

    private static void WriteCString(Span<byte> field, string s)
    {
        // The field must keep its NUL; a name that does not fit is left to option 67/66 alone.
        if (s.Length >= field.Length) return;
        Encoding.ASCII.GetBytes(s, field);
    }
}
