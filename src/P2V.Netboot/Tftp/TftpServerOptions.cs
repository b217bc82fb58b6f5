using System.Net;

namespace P2V.Netboot.Tftp;

public sealed class TftpServerOptions
{
    /// <summary>Address and port of the request socket (port 69 by RFC 1350; tests use a high loopback port).</summary>
    public required IPEndPoint Listen { get; init; }
    public required BootFileRoot Root { get; init; }
    /// <summary>Transfers beyond this get an error instead of a session, so a flood cannot exhaust sockets.</summary>
    public int MaxTransfers { get; init; } = 256;
    /// <summary>Retransmission timeout when the client sends no "timeout" option (RFC 2349).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Retransmissions of one window before the transfer is given up.</summary>
    public int MaxRetries { get; init; } = 5;
    /// <summary>RFC 2348's upper bound.</summary>
    public int MaxBlockSize { get; init; } = 65464;
    /// <summary>Windows beyond this buy nothing on loopback or a LAN and cost memory per transfer.</summary>
    public int MaxWindowSize { get; init; } = 64;
}
