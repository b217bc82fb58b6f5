using System.Buffers.Binary;
using System.Text;

namespace P2V.Netboot.Tftp;

/// <summary>
/// The fixed-layout TFTP packets a read transfer exchanges (RFC 1350 §5): DATA (3, block, ≤ blksize bytes),
/// ACK (4, block), ERROR (5, code, message NUL), and RFC 2347's OACK (6, name NUL value NUL …).
/// Writers fill a caller's buffer so the transfer loop allocates nothing.
/// </summary>
public static class TftpPacket
{
    public const int HeaderSize = 4;

    public static TftpOpcode ReadOpcode(ReadOnlySpan<byte> packet) =>
        packet.Length >= 2 ? (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet) : throw new TftpPacketException(0, "a 2-byte opcode");

    /// <summary>The block number of an ACK; anything else is an error.</summary>
    public static ushort ParseAck(ReadOnlySpan<byte> packet)
    {
        if (ReadOpcode(packet) != TftpOpcode.Ack) throw new TftpPacketException(0, "opcode 4 (ACK)");
        if (packet.Length < 4) throw new TftpPacketException(2, "a 2-byte block number");
        return BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
    }

    /// <summary>An ERROR packet's code and message (message may lack its NUL when truncated; we accept that).</summary>
    public static (TftpErrorCode Code, string Message) ParseError(ReadOnlySpan<byte> packet)
    {
        if (ReadOpcode(packet) != TftpOpcode.Error) throw new TftpPacketException(0, "opcode 5 (ERROR)");
        if (packet.Length < 4) throw new TftpPacketException(2, "a 2-byte error code");
        var text = packet[4..];
        int nul = text.IndexOf((byte)0);
        if (nul >= 0) text = text[..nul];
        if (text.Length > 512) text = text[..512];
        return ((TftpErrorCode)BinaryPrimitives.ReadUInt16BigEndian(packet[2..]), Encoding.ASCII.GetString(text));
    }

    public static void WriteDataHeader(Span<byte> destination, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Data);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
    }

    public static int WriteAck(Span<byte> destination, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Ack);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], block);
        return 4;
    }

    public static int WriteError(Span<byte> destination, TftpErrorCode code, string message)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.Error);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)code);
        return 4 + TftpRequest.WriteString(destination[4..], message);
    }

    public static int WriteOptionAck(Span<byte> destination, IEnumerable<KeyValuePair<string, string>> options)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)TftpOpcode.OptionAck);
        int pos = 2;
        foreach (var kv in options)
        {
            pos += TftpRequest.WriteString(destination[pos..], kv.Key);
            pos += TftpRequest.WriteString(destination[pos..], kv.Value);
        }
        return pos;
    }
}
