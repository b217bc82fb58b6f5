using System.Buffers.Binary;
using System.Text;

namespace P2V.Netboot.Tftp;

/// <summary>
/// A read or write request. RFC 1350 §5: opcode, filename NUL, mode NUL; RFC 2347 §2 appends
/// option-name NUL value NUL pairs (names case-insensitive). The whole packet must fit one datagram (512 bytes by
/// RFC 2347, but clients send more; we accept what arrived and bound the option count instead).
/// </summary>
public sealed class TftpRequest
{
    /// <summary>A request carrying more pairs than this is hostile, not a boot client.</summary>
    public const int MaxOptions = 16;

    public required TftpOpcode Opcode { get; init; }
    public required string FileName { get; init; }
    /// <summary>"octet" or "netascii", lower-cased ("mail" is obsolete and refused).</summary>
    public required string Mode { get; init; }
    /// <summary>Options in the order sent, names lower-cased, each name once (the first of repeats).</summary>
    public required IReadOnlyList<KeyValuePair<string, string>> Options { get; init; }

    public string? Option(string name)
    {
        foreach (var kv in Options)
            if (kv.Key == name) return kv.Value;
        return null;
    }

    public static TftpRequest Parse(ReadOnlySpan<byte> packet)
    {
        if (packet.Length < 2) throw new TftpPacketException(0, "a 2-byte opcode");
        var op = (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet);
        if (op is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
            throw new TftpPacketException(0, "opcode 1 (RRQ) or 2 (WRQ)");
        int pos = 2;
        string file = ReadString(packet, ref pos, "a NUL-terminated file name");
        if (file.Length == 0) throw new TftpPacketException(2, "a non-empty file name");
        int modeAt = pos;
        string mode = ReadString(packet, ref pos, "a NUL-terminated mode").ToLowerInvariant();
        if (mode is not ("octet" or "netascii")) throw new TftpPacketException(modeAt, "mode \"octet\" or \"netascii\"");
        var options = new List<KeyValuePair<string, string>>();
        int pairs = 0;
        while (pos < packet.Length)
        {
            // Some clients pad the request with trailing NULs; those end the option list.
            if (packet[pos] == 0 && packet[pos..].IndexOfAnyExcept((byte)0) < 0) break;
            if (pairs++ == MaxOptions) throw new TftpPacketException(pos, $"at most {MaxOptions} options");
            int nameAt = pos;
            string name = ReadString(packet, ref pos, "a NUL-terminated option name").ToLowerInvariant();
            if (name.Length == 0) throw new TftpPacketException(nameAt, "a non-empty option name");
            string value = ReadString(packet, ref pos, $"a NUL-terminated value for option {name}");
            // RFC 2347 names each option once and its OACK acknowledges each once; a name sent again
            // (in any letter case: names are case-insensitive) is ignored, so the first value counts.
            if (!options.Exists(o => o.Key == name)) options.Add(new(name, value));
        }
        return new TftpRequest { Opcode = op, FileName = file, Mode = mode, Options = options };
    }

    /// <summary>Encodes a request (used by tests and the fuzz corpus).</summary>
    public int Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)Opcode);
        int pos = 2;
        pos += WriteString(destination[pos..], FileName);
        pos += WriteString(destination[pos..], Mode);
        foreach (var kv in Options)
        {
            pos += WriteString(destination[pos..], kv.Key);
            pos += WriteString(destination[pos..], kv.Value);
        }
        return pos;
    }

    internal static int WriteString(Span<byte> destination, string s)
    {
        int n = Encoding.ASCII.GetBytes(s, destination);
        destination[n] = 0;
        return n + 1;
    }

    private static string ReadString(ReadOnlySpan<byte> packet, ref int pos, string expected)
    {
        int end = packet[pos..].IndexOf((byte)0);
        if (end < 0) throw new TftpPacketException(pos, expected);
        var bytes = packet.Slice(pos, end);
        // Names and modes are netascii (RFC 1350): printable 7-bit only.
        foreach (var b in bytes)
            if (b < 0x20 || b > 0x7E) throw new TftpPacketException(pos, expected + " in printable ASCII");
        pos += end + 1;
        return Encoding.ASCII.GetString(bytes);
    }
}
