namespace P2V.Netboot.Tftp;

/// <summary>A TFTP packet that does not follow RFC 1350/2347: carries the byte offset and what was expected there.</summary>
public sealed class TftpPacketException(int offset, string expected)
    : Exception($"TFTP packet malformed at offset {offset}: expected {expected}")
{
    public int Offset { get; } = offset;
    public string Expected { get; } = expected;
}
