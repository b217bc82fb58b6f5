using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using P2V.Netboot.Boot;
using P2V.Netboot.Dhcp;
using P2V.Netboot.Http;
using P2V.Netboot.Tftp;

namespace P2V.Netboot;

/// <summary>What <c>p2v netboot serve</c> runs: DHCP (proxy, full or none), TFTP and HTTP on one address.</summary>
public sealed class NetbootServerOptions
{
    public required string Root { get; init; }
    public required IPAddress Listen { get; init; }
    public DhcpMode Dhcp { get; init; } = DhcpMode.None;
    public IPAddress? RangeStart { get; init; }
    public IPAddress? RangeEnd { get; init; }
    public IPAddress? Router { get; init; }
    public IReadOnlyList<IPAddress> Dns { get; init; } = [];
    public int HttpPort { get; init; } = 8080;
    public int TftpPort { get; init; } = 69;
    public int DhcpPort { get; init; } = 67;
    public int ProxyPort { get; init; } = 4011;
    /// <summary>Boot decision file; absent, every client boots from local disk unless <see cref="Policy"/> says otherwise.</summary>
    public string? BootConfig { get; init; }
    public IBootPolicy? Policy { get; init; }
    public string? LeaseFile { get; init; }
    public bool ProbeAddresses { get; init; } = true;
}

public enum DhcpMode { None, Proxy, Full }

public sealed class NetbootServer : IAsyncDisposable
{
    private NetbootServer(TftpServer tftp, BootHttpServer http, DhcpServer? dhcp)
    {
        Tftp = tftp;
        Http = http;
        Dhcp = dhcp;
    }

    public TftpServer Tftp { get; }
    public BootHttpServer Http { get; }
    public DhcpServer? Dhcp { get; }

    public static async Task<NetbootServer> StartAsync(NetbootServerOptions o, NetbootLog log, CancellationToken cancel = default)
    {
        var root = new BootFileRoot(o.Root);
        var policy = o.Policy ?? (o.BootConfig != null ? new BootConfigFile(o.BootConfig) : new FixedBootPolicy(BootAction.LocalDisk));
        var tftp = TftpServer.Start(new TftpServerOptions { Listen = new IPEndPoint(o.Listen, o.TftpPort), Root = root }, log);
        BootHttpServer? http = null;
        DhcpServer? dhcp = null;
        try
        {
            http = await BootHttpServer.StartAsync(new IPEndPoint(o.Listen, o.HttpPort), root, policy, o.Listen.ToString(), log, cancel);
            if (o.Dhcp != DhcpMode.None)
            {
                var (name, mask) = FindInterface(o.Listen);
                dhcp = DhcpServer.Start(new DhcpServerOptions
                {
                    ServerAddress = o.Listen,
                    InterfaceName = name,
                    Proxy = o.Dhcp == DhcpMode.Proxy,
                    Port = o.DhcpPort,
                    ProxyPort = o.ProxyPort,
                    RangeStart = o.RangeStart,
                    RangeEnd = o.RangeEnd,
                    SubnetMask = mask,
                    Router = o.Router,
                    Dns = o.Dns,
                    LeaseFile = o.LeaseFile ?? root.FullPath + ".leases.json", // beside the root, never served from it
                    ProbeAddresses = o.ProbeAddresses,
                    Policy = policy,
                    Boot = new BootFiles { HttpBase = $"http://{o.Listen}:{http.Port}" },
                }, log);
            }
            log.Write("netboot", o.Listen.ToString(), $"serving {root.FullPath}: tftp port {tftp.LocalEndPoint.Port}, http port {http.Port}, dhcp {o.Dhcp.ToString().ToLowerInvariant()}");
            return new NetbootServer(tftp, http, dhcp);
        }
        catch
        {
            if (http != null) await http.DisposeAsync();
            await tftp.DisposeAsync();
            throw;
        }
    }

    /// <summary>The interface holding the address: DHCP binds to it to hear broadcasts; its prefix gives option 1.</summary>
    public static (string Name, IPAddress Mask) FindInterface(IPAddress address)
    {
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                if (ua.Address.Equals(address) && ua.Address.AddressFamily == AddressFamily.InterNetwork)
                    return (nic.Name, ua.IPv4Mask);
        throw new InvalidOperationException($"no network interface has the address {address}");
    }

    public async ValueTask DisposeAsync()
    {
        if (Dhcp != null) await Dhcp.DisposeAsync();
        await Http.DisposeAsync();
        await Tftp.DisposeAsync();
    }
}
