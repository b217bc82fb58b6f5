using System.Net;
using P2V.Netboot;

namespace P2V.Cli.Commands;

/// <summary>netboot serve: PXE DHCP (proxy or full), TFTP and HTTP boot files from one folder.</summary>
public static class NetbootCommands
{
    public static void Register(CommandTable table)
    {
        table.Add(new Command(
            "netboot serve",
            "serve PXE DHCP (proxy or full), TFTP and HTTP boot files until Ctrl-C",
            "--root DIR --listen ADDRESS [--proxy-dhcp | --dhcp-range FROM-TO [--router R] [--dns D[,D]] [--leases FILE]] " +
            "[--boot-config FILE] [--http-port N] [--tftp-port N] [--dhcp-port N] [--proxy-port N] [--no-probe]",
            ["proxy-dhcp", "no-probe"],
            ServeAsync));
    }

    private static async Task<int> ServeAsync(CommandArgs args, CancellationToken cancel)
    {
        var root = args.Required("root");
        var listen = Address(args.Required("listen"), "listen");
        bool proxy = args.Flag("proxy-dhcp");
        var range = args.Option("dhcp-range");
        if (proxy && range != null) throw new UsageException("--proxy-dhcp and --dhcp-range exclude each other");
        IPAddress? from = null, to = null;
        if (range != null)
        {
            var parts = range.Split('-', 2);
            if (parts.Length != 2) throw new UsageException("--dhcp-range expects FROM-TO, e.g. 10.0.0.100-10.0.0.199");
            from = Address(parts[0], "dhcp-range");
            to = Address(parts[1], "dhcp-range");
        }
        var router = args.Option("router") is { } r ? Address(r, "router") : null;
        var dns = (args.Option("dns") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(d => Address(d, "dns")).ToList();
        var options = new NetbootServerOptions
        {
            Root = root,
            Listen = listen,
            Dhcp = proxy ? DhcpMode.Proxy : range != null ? DhcpMode.Full : DhcpMode.None,
            RangeStart = from,
            RangeEnd = to,
            Router = router,
            Dns = dns,
            HttpPort = args.Int("http-port") ?? 8080,
            TftpPort = args.Int("tftp-port") ?? 69,
            DhcpPort = args.Int("dhcp-port") ?? 67,
            ProxyPort = args.Int("proxy-port") ?? 4011,
            BootConfig = args.Option("boot-config"),
            LeaseFile = args.Option("leases"),
            ProbeAddresses = !args.Flag("no-probe"),
        };
        args.EnsureAllUsed();
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

    private static IPAddress Address(string text, string option) =>
        IPAddress.TryParse(text.Trim(), out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            ? a : throw new UsageException($"--{option}: '{text}' is not an IPv4 address");
}
