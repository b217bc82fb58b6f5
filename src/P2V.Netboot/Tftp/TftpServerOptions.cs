using System.Net;

namespace P2V.Netboot.Tftp;

public sealed class TftpServerOptions
{
    /// <summary>Address and port of the request socket (port 69 by RFC 1350; tests use a high loopback port).</summary>
    public required IPEndPoint Listen { get; init; }
    public required BootFileRoot Root { get; init; }
    /// <summary>Transfers beyond this get an error instead of a session, so a flood cannot exhaust sockets.</summary>
    public int MaxTransfers { get; init; } = 256;
    /// <summary>
    /// Transfers one client address may run at once. A boot client fetches one file at a time; the bound keeps a
    /// flood of requests from one address (each from a new port) from taking every session.
    /// </summary>
    public int MaxTransfersPerClient { get; init; } = 8;
    /// <summary>Retransmission timeout when the client sends no "timeout" option (RFC 2349).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>
    /// The longest "timeout" option accepted (RFC 2349 allows 1–255 s; a larger wish is declined by leaving it out
    /// of the OACK, and our own <see cref="Timeout"/> applies).
    /// </summary>
    public TimeSpan MaxClientTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// A transfer without progress (no new block acknowledged) for this long is dropped, whatever timeout the
    /// client asked for: the server's own schedule bounds what a silent client can hold.
    /// </summary>
    public TimeSpan IdleLimit { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>Retransmissions of one window before the transfer is given up.</summary>
    public int MaxRetries { get; init; } = 5;
    /// <summary>RFC 2348's upper bound.</summary>
    public int MaxBlockSize { get; init; } = 65464;
    /// <summary>Windows beyond this buy nothing on loopback or a LAN and cost memory per transfer.</summary>
    public int MaxWindowSize { get; init; } = 64;
}
