using System.CommandLine;
using System.Net;
using P2V.Netboot;

namespace P2V.Cli.Commands;

/// <summary>netboot serve: PXE DHCP (proxy or full), TFTP and HTTP boot files from one folder.</summary>
public static class NetbootCommands
{
    public static void AddTo(RootCommand root)
    {
        var rootDir = new Option<string>("--root") { Description = "The folder of boot files served over TFTP and HTTP", Required = true, HelpName = "DIR" };
        var listen = Address("--listen", "The IPv4 address to serve on");
        listen.Required = true;
        var proxy = new Option<bool>("--proxy-dhcp") { Description = "Answer PXE clients only, beside the network's own DHCP server" };
        var range = DhcpRange();
        var router = Address("--router", "The router a full DHCP server hands out");
        var dns = CliOptions.ParsedRef("--dns", "DNS servers a full DHCP server hands out", ParseDns, "D[,D]");
        var leases = new Option<string>("--leases") { Description = "The file that keeps leases across restarts", HelpName = "FILE" };
        var bootConfig = new Option<string>("--boot-config") { Description = "Per-MAC boot actions", HelpName = "FILE" };
        var httpPort = Port("--http-port", 8080);
        var tftpPort = Port("--tftp-port", 69);
        var dhcpPort = Port("--dhcp-port", 67);
        var proxyPort = Port("--proxy-port", 4011);
        var noProbe = new Option<bool>("--no-probe") { Description = "Give out addresses without pinging them first" };
        var routerAdvertisements = new Option<string>("--router-advertisements")
        {
            Description = "Answer IPv6 router solicitations with \"no router here\", so iPXE does not wait ~13 s for one (auto: with --dhcp-range)",
            DefaultValueFactory = _ => "auto",
            HelpName = "auto|on|off",
        };
        routerAdvertisements.AcceptOnlyFromAmong("auto", "on", "off");
        var serve = new Command("serve", "Serve PXE DHCP (proxy or full), TFTP and HTTP boot files until Ctrl-C")
            { rootDir, listen, proxy, range, router, dns, leases, bootConfig, httpPort, tftpPort, dhcpPort, proxyPort, noProbe, routerAdvertisements };
        serve.Validators.Add(r =>
        {
            if (r.GetValue(proxy) && r.GetResult(range) is not null) r.AddError("--proxy-dhcp and --dhcp-range exclude each other");
        });
        serve.SetAction((r, ct) =>
        {
            var (from, to) = (r.GetValue(range)?.Item1, r.GetValue(range)?.Item2);
            return ServeAsync(new NetbootServerOptions
            {
                Root = r.GetValue(rootDir)!,
                Listen = r.GetValue(listen)!,
                Dhcp = r.GetValue(proxy) ? DhcpMode.Proxy : from != null ? DhcpMode.Full : DhcpMode.None,
                RangeStart = from,
                RangeEnd = to,
                Router = r.GetValue(router),
                Dns = r.GetValue(dns)?.ToList() ?? [],
                HttpPort = r.GetValue(httpPort),
                TftpPort = r.GetValue(tftpPort),
                DhcpPort = r.GetValue(dhcpPort),
                ProxyPort = r.GetValue(proxyPort),
                BootConfig = r.GetValue(bootConfig),
                LeaseFile = r.GetValue(leases),
                ProbeAddresses = !r.GetValue(noProbe),
                AnswerRouterSolicitations = r.GetValue(routerAdvertisements) switch { "on" => true, "off" => false, _ => null },
            }, ct);
        });
        CliHost.Group(root, "netboot", "Network boot services").Add(serve);
    }

    private static Option<int> Port(string name, int defaultPort)
    {
        var option = CliOptions.Int(name, $"Port (default: {defaultPort})", min: 1, max: 65535, helpName: "PORT");
        option.DefaultValueFactory = _ => defaultPort;
        return option;
    }

    private static Option<IPAddress> Address(string name, string description) =>
        CliOptions.ParsedRef(name, description, s => ParseAddress(s, name), "ADDRESS");

    /// <summary>--dhcp-range FROM-TO: be the network's DHCP server (a boot network of our own), leasing these addresses.</summary>
    internal static Option<Tuple<IPAddress, IPAddress>> DhcpRange() =>
        CliOptions.ParsedRef("--dhcp-range", "Be the DHCP server, leasing these addresses", ParseRange, "FROM-TO");

    private static Tuple<IPAddress, IPAddress> ParseRange(string text)
    {
        var parts = text.Split('-', 2);
        if (parts.Length != 2) throw new ArgumentException("--dhcp-range expects FROM-TO, e.g. 10.0.0.100-10.0.0.199");
        return Tuple.Create(ParseAddress(parts[0], "--dhcp-range"), ParseAddress(parts[1], "--dhcp-range"));
    }

    private static IPAddress[] ParseDns(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(d => ParseAddress(d, "--dns"))];

    private static IPAddress ParseAddress(string text, string option) =>
        IPAddress.TryParse(text.Trim(), out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? a : throw new ArgumentException($"{option}: '{text}' is not an IPv4 address");

    private static async Task<int> ServeAsync(NetbootServerOptions options, CancellationToken cancel)
    {
        var listen = options.Listen;
        var log = new NetbootLog(line => Console.Out.WriteLine(line));
        // A service manager (or the benchmark) stops us with SIGTERM: shut down as on Ctrl-C.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        NetbootServer server;
        try { server = await NetbootServer.StartAsync(options, log, stop.Token); }
        catch (System.Net.Sockets.SocketException e)
        {
            // Port 67/69 taken by another daemon, or not root: say which, not a stack trace.
            throw new IOException($"cannot listen on {listen}: {e.Message} (ports: tftp {options.TftpPort}, http {options.HttpPort}, dhcp {options.DhcpPort})", e);
        }
        await using var _ = server;
        try { await Task.Delay(Timeout.Infinite, stop.Token); }
        catch (OperationCanceledException) { }
        log.Write("netboot", listen.ToString(), "stopping");
        return 0;
    }
}
