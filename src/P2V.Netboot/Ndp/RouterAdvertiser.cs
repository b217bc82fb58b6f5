using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;

namespace P2V.Netboot.Ndp;

/// <summary>
/// Answers IPv6 Router Solicitations on the boot interface with an advertisement that configures nothing
/// (<see cref="RouterMessages.WriteEmptyAdvertisement"/>). iPXE configures every network device with DHCP and
/// with IPv6 autoconfiguration at once and waits for both (src/usr/ifmgmt.c, ifconf; src/net/ndp.c,
/// ipv6conf): on an IPv4-only boot network its router solicitations go unanswered for about 13 s after the
/// DHCP ACK. The answer follows RFC 4861 §6.2.6: multicast to all-nodes, delayed by a random 0–500 ms
/// (MAX_RA_DELAY_TIME), at most one every 3 s (MIN_DELAY_BETWEEN_RAS), one scheduled answer for any number of
/// solicitations; hop limit 255 (§6.1.2 has hosts drop anything else).
/// </summary>
public sealed class RouterAdvertiser : IAsyncDisposable
{
    private const int SolSocket = 1, SoBindToDevice = 25; // <asm-generic/socket.h>
    private const int IpProtoIcmpV6 = 58, Icmp6Filter = 1; // <netinet/icmp6.h>
    private static readonly TimeSpan MaxRaDelay = TimeSpan.FromMilliseconds(500), MinDelayBetweenRas = TimeSpan.FromSeconds(3);
    private static readonly IPAddress AllNodes = IPAddress.Parse("ff02::1"), AllRouters = IPAddress.Parse("ff02::2");

    private readonly Socket _socket;
    private readonly string _interface;
    private readonly byte[] _advertisement;
    private readonly IPEndPoint _allNodes;
    private readonly NetbootLog _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Lock _lock = new();
    private Task _scheduled = Task.CompletedTask;
    private long _lastSent = long.MinValue;

    private RouterAdvertiser(string interfaceName, NetbootLog log)
    {
        var nic = NetworkInterface.GetAllNetworkInterfaces().FirstOrDefault(n => n.Name == interfaceName)
                  ?? throw new InvalidOperationException($"no network interface {interfaceName}");
        int index = nic.GetIPProperties().GetIPv6Properties()?.Index
                    ?? throw new InvalidOperationException($"{interfaceName} has no IPv6: router solicitations cannot be answered there");
        _interface = interfaceName;
        _log = log;
        var buffer = new byte[64];
        var mac = nic.GetPhysicalAddress();
        _advertisement = buffer[..RouterMessages.WriteEmptyAdvertisement(buffer, mac.GetAddressBytes().Length > 0 ? mac : null)];
        _allNodes = new IPEndPoint(new IPAddress(AllNodes.GetAddressBytes(), index), 0);
        _socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6);
        try
        {
            _socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(interfaceName + "\0"));
            // Only router solicitations reach us (RFC 3542 §3.2: a set bit blocks that type; the kernel's
            // 32-bit words are little-endian here, so bit `type` is bit type % 8 of byte type / 8).
            var filter = new byte[32];
            Array.Fill(filter, (byte)0xFF);
            filter[RouterMessages.SolicitationType / 8] &= unchecked((byte)~(1 << (RouterMessages.SolicitationType % 8)));
            _socket.SetRawSocketOption(IpProtoIcmpV6, Icmp6Filter, filter);
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(AllRouters, index));
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
            _socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, false);
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        _loop = Task.Run(ReceiveLoopAsync);
    }

    /// <summary>Starts answering on <paramref name="interfaceName"/>; needs CAP_NET_RAW (root).</summary>
    public static RouterAdvertiser Start(string interfaceName, NetbootLog log) => new(interfaceName, log);

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1500];
        var from = new SocketAddress(AddressFamily.InterNetworkV6);
        var template = new IPEndPoint(IPAddress.IPv6Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try { n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) { continue; }
            if (!RouterMessages.IsSolicitation(buffer.AsSpan(0, n))) continue;
            var source = ((IPEndPoint)template.Create(from)).Address;
            Schedule(source);
        }
    }

    private void Schedule(IPAddress solicitor)
    {
        lock (_lock)
        {
            if (!_scheduled.IsCompleted) return; // one answer serves every solicitation until it is sent
            var delay = TimeSpan.FromMilliseconds(Random.Shared.Next((int)MaxRaDelay.TotalMilliseconds + 1));
            if (_lastSent != long.MinValue)
            {
                var sinceLast = Stopwatch.GetElapsedTime(_lastSent);
                if (sinceLast + delay < MinDelayBetweenRas) delay = MinDelayBetweenRas - sinceLast;
            }
            _scheduled = SendAfterAsync(delay, solicitor);
        }
    }

    private async Task SendAfterAsync(TimeSpan delay, IPAddress solicitor)
    {
        try
        {
            await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
            for (int attempt = 1; ; attempt++)
            {
                try
                {
                    await _socket.SendToAsync(_advertisement, SocketFlags.None, _allNodes, _stop.Token).ConfigureAwait(false);
                    break;
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable && attempt < 20)
                {
                    // Our link-local address is still tentative (duplicate address detection, about a second
                    // after the interface came up): the answer must come from it (§6.1.2), so wait for it.
                    await Task.Delay(250, _stop.Token).ConfigureAwait(false);
                }
            }
            lock (_lock) _lastSent = Stopwatch.GetTimestamp();
            _log.Write("ndp", solicitor.ToString(), $"router solicitation answered on {_interface}: no router, no prefixes");
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
        catch (SocketException e) { _log.Write("ndp", solicitor.ToString(), $"router advertisement failed: {e.SocketErrorCode}"); }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        try { await _loop; } catch (OperationCanceledException) { }
        try { await _scheduled; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
