namespace P2V.Netboot.Dhcp;

/// <summary>A DHCP/BOOTP packet that does not follow RFC 2131/2132: carries the byte offset and what was expected there.</summary>
public sealed class DhcpPacketException(int offset, string expected)
    : Exception($"DHCP packet malformed at offset {offset}: expected {expected}")
{
    public int Offset { get; } = offset;
    public string Expected { get; } = expected;
}
