using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace P2V.Netboot.Dhcp;

/// <summary>
/// The sockets of DHCP: receives on port 67 (and 4011 in proxy mode), hands each parsed request to the
/// <see cref="DhcpResponder"/> and sends its reply. It also runs the address probes the responder asks for — after
/// the offer has gone out and outside any lock — and holds back a DHCPREQUEST for an address whose probe is
/// still running until its answer is in, so that nobody waits for a ping but the client that needs its result.
/// </summary>
public sealed class DhcpServer : IAsyncDisposable
{
    private const int SolSocket = 1, SoBindToDevice = 25; // <asm-generic/socket.h>
    private readonly DhcpServerOptions _options;
    private readonly NetbootLog _log;
    private readonly DhcpResponder _responder;
    private readonly IAddressProbe _probe;
    private readonly ConcurrentDictionary<IPAddress, Task> _probing = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Socket, Task Loop)> _listeners = [];

    private DhcpServer(DhcpServerOptions options, NetbootLog log)
    {
        _options = options;
        _log = log;
        _probe = options.Probe ?? IcmpEchoProbe.Default;
        if (!options.Proxy)
        {
            if (options.RangeStart == null || options.RangeEnd == null) throw new ArgumentException("full-mode DHCP needs an address range");
            Pool = new AddressPool(options.RangeStart, options.RangeEnd,
                options.Router is { } router ? [options.ServerAddress, router] : [options.ServerAddress],
                new LeaseStore(options.LeaseFile));
        }
        _responder = new DhcpResponder(options, Pool, log);
        var ports = options.Proxy && options.ProxyPort != 0 ? new[] { options.Port, options.ProxyPort } : [options.Port];
        try
        {
            foreach (var port in ports) _listeners.Add((Bind(port), Task.CompletedTask));
        }
        catch
        {
            foreach (var (s, _) in _listeners) s.Dispose();
            throw;
        }
        for (int i = 0; i < _listeners.Count; i++)
        {
            var socket = _listeners[i].Socket;
            int port = ((IPEndPoint)socket.LocalEndPoint!).Port;
            _listeners[i] = (socket, Task.Run(() => ReceiveLoopAsync(socket, port)));
        }
    }

    public static DhcpServer Start(DhcpServerOptions options, NetbootLog log) => new(options, log);

    /// <summary>Full mode's addresses; null in proxy mode.</summary>
    public AddressPool? Pool { get; }

    /// <summary>The bound ports (useful when 0 asked for an ephemeral one in tests).</summary>
    public IReadOnlyList<int> Ports => _listeners.Select(l => ((IPEndPoint)l.Socket.LocalEndPoint!).Port).ToList();

    private Socket Bind(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { EnableBroadcast = true };
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (_options.InterfaceName != null)
            {
                socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(_options.InterfaceName + "\0"));
                socket.Bind(new IPEndPoint(IPAddress.Any, port));
            }
            else socket.Bind(new IPEndPoint(_options.ServerAddress, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task ReceiveLoopAsync(Socket socket, int localPort)
    {
        var buffer = new byte[4096];
        var from = new SocketAddress(AddressFamily.InterNetwork);
        bool onProxyPort = _options.Proxy && localPort == _options.ProxyPort && localPort != _options.Port;
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try { n = await socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) { continue; }
            var source = (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(from);
            DhcpPacket request;
            try { request = DhcpPacket.Parse(buffer.AsSpan(0, n)); }
            catch (DhcpPacketException e)
            {
                _log.Write("dhcp", source.ToString(), $"malformed: {e.Message}");
                continue;
            }
            if (request.MessageType == DhcpMessageType.Request
                && (request.AddressOption(DhcpOption.RequestedAddress) ?? request.ClientAddress) is var asked
                && _probing.TryGetValue(asked, out var probe))
            {
                // Only this client waits for the probe of its address; the loop goes on serving the others.
                _ = AnswerAfterAsync(probe, socket, request, source, onProxyPort);
                continue;
            }
            Answer(socket, request, source, onProxyPort);
        }
    }

    private async Task AnswerAfterAsync(Task probe, Socket socket, DhcpPacket request, IPEndPoint source, bool onProxyPort)
    {
        await probe.ConfigureAwait(false);
        if (!_stop.IsCancellationRequested) Answer(socket, request, source, onProxyPort);
    }

    private void Answer(Socket socket, DhcpPacket request, IPEndPoint source, bool onProxyPort)
    {
        try
        {
            var response = _responder.Respond(request, source, onProxyPort, DateTimeOffset.UtcNow);
            if (response == null) return;
            Span<byte> packet = stackalloc byte[1500];
            int n = response.Packet.Write(packet);
            socket.SendTo(packet[..n], response.Destination);
            if (response.Probe is { } address && Pool != null) StartProbe(address, Boot.IpxeScript.FormatMac(request.MacAddress));
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            // One bad exchange (a full disk under the lease file, an unreachable relay) must not stop the service.
            _log.Write("dhcp", source.ToString(), $"error: {e.Message}");
        }
    }


    private void StartProbe(IPAddress address, string mac)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_probing.TryAdd(address, done.Task)) return; // already being probed
        _ = Task.Run(async () =>
        {
            try
            {
                bool answered = await _probe.AnswersAsync(address, _stop.Token).ConfigureAwait(false);
                Pool!.RecordProbe(address, answered, DateTimeOffset.UtcNow);
                if (answered) _log.Write("dhcp", mac, $"{address} answers a probe: withdrawn, kept out for {AddressPool.ConflictHold.TotalMinutes:0} minutes");
            }
            catch (OperationCanceledException) { }
            finally
            {
                _probing.TryRemove(address, out _);
                done.SetResult();
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var (socket, _) in _listeners) socket.Dispose();
        foreach (var (_, loop) in _listeners)
            try { await loop; } catch (OperationCanceledException) { }
        foreach (var probe in _probing.Values)
            try { await probe; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
