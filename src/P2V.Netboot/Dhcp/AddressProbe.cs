using System.Net;
using System.Net.NetworkInformation;

namespace P2V.Netboot.Dhcp;

/// <summary>Asks the network whether an address is already used by some host (RFC 2131 §3.1 step 2).</summary>
public interface IAddressProbe
{
    /// <summary>True when something answers on <paramref name="address"/>.</summary>
    Task<bool> AnswersAsync(IPAddress address, CancellationToken cancel);
}

/// <summary>
/// An ICMP echo request with a short wait, as RFC 2131 suggests. A host that does not answer echo requests is
/// not found; the client's own ARP check and DHCPDECLINE (§4.4.1, §4.3.3) are the second line.
/// </summary>
public sealed class IcmpEchoProbe(TimeSpan wait) : IAddressProbe
{
    public static IcmpEchoProbe Default { get; } = new(TimeSpan.FromMilliseconds(300));

    public async Task<bool> AnswersAsync(IPAddress address, CancellationToken cancel)
    {
        try
        {
            using var ping = new Ping();
            var reply = await ping.SendPingAsync(address, wait, cancellationToken: cancel);
            return reply.Status == IPStatus.Success;
        }
        catch (Exception e) when (e is PingException or InvalidOperationException or NotSupportedException) { return false; }
    }
}
