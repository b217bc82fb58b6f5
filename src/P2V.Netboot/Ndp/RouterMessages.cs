using System.Buffers.Binary;
using System.Net.NetworkInformation;

namespace P2V.Netboot.Ndp;

/// <summary>
/// The two Neighbor Discovery messages a boot network needs (RFC 4861): the Router Solicitation a host sends
/// when its interface comes up (§4.1: type 133, code 0, checksum, 4 reserved bytes, options) and the Router
/// Advertisement that answers it (§4.2: type 134, code 0, checksum, cur hop limit, M/O flags, router lifetime,
/// reachable time, retrans timer, options). The checksum is the kernel's: a raw ICMPv6 socket fills it in
/// (RFC 3542 §3.1).
/// </summary>
public static class RouterMessages
{
    public const byte SolicitationType = 133, AdvertisementType = 134;
    /// <summary>RFC 4861 §4.6.1: option 1, Source Link-Layer Address, length in units of 8 bytes.</summary>
    private const byte SourceLinkLayerOption = 1;
    public const int SolicitationHeaderSize = 8, AdvertisementHeaderSize = 16;

    /// <summary>
    /// True for a well-formed Router Solicitation (§6.1.1's checks that the ICMPv6 body allows: code 0, at least 8
    /// bytes, every option of non-zero length and inside the message).
    /// </summary>
    public static bool IsSolicitation(ReadOnlySpan<byte> icmp)
    {
        if (icmp.Length < SolicitationHeaderSize || icmp[0] != SolicitationType || icmp[1] != 0) return false;
        int pos = SolicitationHeaderSize;
        while (pos < icmp.Length)
        {
            if (pos + 2 > icmp.Length || icmp[pos + 1] == 0) return false; // §6.1.1: "all included options have a length that is greater than zero"
            pos += icmp[pos + 1] * 8;
        }
        return pos == icmp.Length;
    }

    /// <summary>
    /// An advertisement that configures nothing: no prefixes, M and O clear (no DHCPv6), router lifetime 0 (§4.2:
    /// "not a default router"), hop limit, reachable time and retrans timer unspecified (0). A host that waits for
    /// a router before it goes on — iPXE waits up to about 13 s — learns at once that there is none to wait for.
    /// </summary>
    public static int WriteEmptyAdvertisement(Span<byte> destination, PhysicalAddress? source)
    {
        var mac = source?.GetAddressBytes() ?? [];
        int optionLength = mac.Length == 0 ? 0 : (2 + mac.Length + 7) / 8 * 8;
        int length = AdvertisementHeaderSize + optionLength;
        destination[..length].Clear();
        destination[0] = AdvertisementType;
        // [1] code 0, [2..4] checksum (kernel), [4] cur hop limit 0, [5] flags 0 (M = 0x80, O = 0x40),
        // [6..8] router lifetime 0, [8..12] reachable time 0, [12..16] retrans timer 0.
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], 0);
        if (optionLength > 0)
        {
            destination[16] = SourceLinkLayerOption;
            destination[17] = (byte)(optionLength / 8);
            mac.CopyTo(destination[18..]);
        }
        return length;
    }
}
