using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using P2V.Netboot.Boot;

namespace P2V.Netboot.Dhcp;

/// <summary>
/// DHCP for network boot, RFC 2131 with the PXE specification's additions. Full mode hands out addresses from a
/// range (leases persisted, declined and answering addresses skipped); proxy mode leaves addresses to the site's
/// server and answers PXE clients only, on port 67 and on 4011. Which file a client boots comes from the
/// <see cref="IBootPolicy"/>: iPXE (user class "iPXE" or option 175) gets its script URL, a PXE ROM gets iPXE
/// for its firmware (option 93) over TFTP.
/// </summary>
public sealed class DhcpServer : IAsyncDisposable
{
    private const int SolSocket = 1, SoBindToDevice = 25; // <asm-generic/socket.h>
    private readonly DhcpServerOptions _options;
    private readonly NetbootLog _log;
    private readonly LeaseStore _leases;
    private readonly Dictionary<uint, (string Mac, DateTime Until)> _offered = [];
    private readonly Dictionary<uint, DateTime> _declined = [];
    private readonly Dictionary<uint, DateTime> _probedFree = [];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Socket, Task Loop)> _listeners = [];

    private DhcpServer(DhcpServerOptions options, NetbootLog log)
    {
        _options = options;
        _log = log;
        if (!options.Proxy && (options.RangeStart == null || options.RangeEnd == null))
            throw new ArgumentException("full-mode DHCP needs an address range");
        _leases = new LeaseStore(options.Proxy ? null : options.LeaseFile);
        var ports = options.Proxy && options.ProxyPort != 0 ? new[] { options.Port, options.ProxyPort } : [options.Port];
        try
        {
            foreach (var port in ports)
            {
                var socket = Bind(port);
                _listeners.Add((socket, Task.CompletedTask));
            }
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

    public LeaseStore Leases => _leases;

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
            await _gate.WaitAsync(_stop.Token).ConfigureAwait(false);
            try
            {
                var reply = await HandleAsync(request, source, isProxyPort: _options.Proxy && localPort == _options.ProxyPort && localPort != _options.Port);
                if (reply != null) Send(socket, reply, request, source);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One bad exchange must not stop the service for everyone else.
                _log.Write("dhcp", source.ToString(), $"error: {e.Message}");
            }
            finally { _gate.Release(); }
        }
    }

    private async Task<DhcpPacket?> HandleAsync(DhcpPacket request, IPEndPoint source, bool isProxyPort)
    {
        if (request.Op != DhcpPacket.BootRequest || request.MessageType is not { } type) return null;
        var mac = request.MacAddress;
        var macText = IpxeScript.FormatMac(mac);
        var client = PxeClient.From(request);
        var asked = request.AddressOption(DhcpOption.RequestedAddress) ?? request.ClientAddress;
        _log.Write("dhcp", macText, $"{type.ToString().ToUpperInvariant()} {client}" + (type is DhcpMessageType.Request && !asked.Equals(IPAddress.Any) ? $" {asked}" : "") + (isProxyPort ? " (port 4011)" : ""));
        return _options.Proxy ? HandleProxy(request, type, client, macText, isProxyPort) : await HandleFullAsync(request, type, client, macText);
    }

    private DhcpPacket? HandleProxy(DhcpPacket request, DhcpMessageType type, PxeClient client, string macText, bool isProxyPort)
    {
        // The site's DHCP server owns addresses; we speak only to PXE clients about boot files.
        if (!client.IsPxe) return null;
        DhcpMessageType answer;
        if (type == DhcpMessageType.Discover && !isProxyPort) answer = DhcpMessageType.Offer;
        else if (type is DhcpMessageType.Request or DhcpMessageType.Inform && isProxyPort) answer = DhcpMessageType.Ack;
        else return null;
        var reply = NewReply(request, answer);
        if (!AddBoot(reply, request, client, macText, proxy: true))
        {
            _log.Write("dhcp", macText, "local disk: no proxy answer");
            return null;
        }
        _log.Write("dhcp", macText, $"proxy {answer.ToString().ToUpperInvariant()} file={reply.BootFile}");
        return reply;
    }

    private async Task<DhcpPacket?> HandleFullAsync(DhcpPacket request, DhcpMessageType type, PxeClient client, string macText)
    {
        var now = DateTime.UtcNow;
        switch (type)
        {
            case DhcpMessageType.Discover:
            {
                var address = await ChooseAddressAsync(macText, request.AddressOption(DhcpOption.RequestedAddress), now);
                if (address == null)
                {
                    _log.Write("dhcp", macText, "no free address in the range");
                    return null;
                }
                _offered[ToUInt(address)] = (macText, now.AddSeconds(60));
                var reply = NewReply(request, DhcpMessageType.Offer);
                reply.YourAddress = address;
                AddLease(reply);
                bool boot = client.IsPxe && AddBoot(reply, request, client, macText, proxy: false);
                _log.Write("dhcp", macText, $"OFFER {address}" + (boot ? $" file={reply.BootFile}" : ""));
                return reply;
            }
            case DhcpMessageType.Request:
            {
                var serverId = request.AddressOption(DhcpOption.ServerIdentifier);
                var asked = request.AddressOption(DhcpOption.RequestedAddress) ?? request.ClientAddress;
                if (serverId != null && !serverId.Equals(_options.ServerAddress))
                {
                    // The client took another server's offer (RFC 2131 §4.3.2): forget ours.
                    foreach (var k in _offered.Where(o => o.Value.Mac == macText).Select(o => o.Key).ToList()) _offered.Remove(k);
                    return null;
                }
                if (asked.Equals(IPAddress.Any)) return null;
                if (!IsAvailableTo(asked, macText, now))
                {
                    // INIT-REBOOT for an address we know nothing of outside our range: stay silent (§4.3.2).
                    if (serverId == null && !InRange(asked)) return null;
                    var nak = NewReply(request, DhcpMessageType.Nak);
                    nak.SetOption(DhcpOption.Message, "address not available");
                    _log.Write("dhcp", macText, $"NAK {asked}");
                    return nak;
                }
                _offered.Remove(ToUInt(asked));
                var hostName = request.Option(DhcpOption.HostName) is { } h ? Encoding.ASCII.GetString(h) : null;
                _leases.Set(new DhcpLease(macText, asked.ToString(), DateTimeOffset.UtcNow + _options.LeaseTime, hostName));
                var ack = NewReply(request, DhcpMessageType.Ack);
                ack.YourAddress = asked;
                AddLease(ack);
                if (hostName != null) ack.SetOption(DhcpOption.HostName, Encoding.ASCII.GetBytes(hostName));
                bool boot = client.IsPxe && AddBoot(ack, request, client, macText, proxy: false);
                _log.Write("dhcp", macText, $"ACK {asked} lease {(int)_options.LeaseTime.TotalSeconds} s" + (boot ? $" file={ack.BootFile}" : ""));
                return ack;
            }
            case DhcpMessageType.Decline:
            {
                if (request.AddressOption(DhcpOption.RequestedAddress) is { } bad && InRange(bad))
                {
                    // Someone else answers on that address (RFC 2131 §3.1.5): keep it out of offers for a while.
                    _declined[ToUInt(bad)] = now.AddMinutes(10);
                    if (_leases.ForMac(macText)?.Address == bad.ToString()) _leases.Remove(macText);
                    _log.Write("dhcp", macText, $"declined {bad}");
                }
                return null;
            }
            case DhcpMessageType.Release:
            {
                if (_leases.ForMac(macText) is { } lease && lease.Address == request.ClientAddress.ToString())
                {
                    _leases.Remove(macText);
                    _log.Write("dhcp", macText, $"released {lease.Address}");
                }
                return null;
            }
            case DhcpMessageType.Inform:
            {
                var ack = NewReply(request, DhcpMessageType.Ack);
                AddNetwork(ack);
                if (client.IsPxe) AddBoot(ack, request, client, macText, proxy: false);
                _log.Write("dhcp", macText, "ACK (inform)");
                return ack;
            }
            default:
                return null;
        }
    }

    private DhcpPacket NewReply(DhcpPacket request, DhcpMessageType type)
    {
        var reply = new DhcpPacket
        {
            Op = DhcpPacket.BootReply,
            HardwareType = request.HardwareType,
            HardwareLength = request.HardwareLength,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            ClientAddress = type == DhcpMessageType.Nak ? IPAddress.Any : request.ClientAddress,
            RelayAddress = request.RelayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
        };
        reply.SetOption(DhcpOption.MessageType, [(byte)type]);
        reply.SetOption(DhcpOption.ServerIdentifier, _options.ServerAddress);
        return reply;
    }

    private void AddLease(DhcpPacket reply)
    {
        uint seconds = (uint)_options.LeaseTime.TotalSeconds;
        reply.SetOption(DhcpOption.LeaseTime, seconds);
        reply.SetOption(DhcpOption.RenewalTime, seconds / 2);
        reply.SetOption(DhcpOption.RebindingTime, seconds / 8 * 7);
        AddNetwork(reply);
    }

    private void AddNetwork(DhcpPacket reply)
    {
        reply.SetOption(DhcpOption.SubnetMask, _options.SubnetMask);
        if (_options.Router != null) reply.SetOption(DhcpOption.Router, _options.Router);
        if (_options.Dns.Count > 0) reply.SetOption(DhcpOption.DomainNameServer, _options.Dns.SelectMany(d => d.GetAddressBytes()).ToArray());
    }

    /// <summary>Adds the boot file for this client; false when it is to boot from its own disk (or cannot be served).</summary>
    private bool AddBoot(DhcpPacket reply, DhcpPacket request, PxeClient client, string macText, bool proxy)
    {
        var action = _options.Policy.Decide(request.MacAddress).Action;
        string? file;
        if (client.IsIpxe) file = _options.Boot.ScriptUrl(request.MacAddress); // the script itself says "local disk"
        else if (action == BootAction.LocalDisk) file = null;
        else file = client.Firmware switch
        {
            ClientFirmware.Bios => _options.Boot.Bios,
            ClientFirmware.UefiX64 => _options.Boot.UefiX64,
            _ => null,
        };
        if (file == null)
        {
            if (action != BootAction.LocalDisk) _log.Write("dhcp", macText, $"no boot file for architecture {client.Architecture}");
            return false;
        }
        reply.ServerAddress = _options.ServerAddress;
        reply.BootFile = file;
        reply.SetOption(DhcpOption.TftpServerName, _options.ServerAddress.ToString());
        reply.SetOption(DhcpOption.BootFileName, file);
        if (request.Option(DhcpOption.VendorClass) is { } vc && vc.AsSpan().StartsWith("PXEClient"u8))
            reply.SetOption(DhcpOption.VendorClass, "PXEClient");
        if (client.MachineId != null) reply.SetOption(DhcpOption.ClientMachineId, client.MachineId);
        // PXE spec §2.4.2: discovery control (sub-option 6) bit 3 = boot the file named in this reply, no boot-server discovery.
        if (proxy && !client.IsIpxe) reply.SetOption(DhcpOption.VendorSpecific, [6, 1, 8, 255]);
        return true;
    }

    private void Send(Socket socket, DhcpPacket reply, DhcpPacket request, IPEndPoint source)
    {
        // RFC 2131 §4.1: via the relay if there is one; to a client with an address, straight back; else broadcast.
        IPEndPoint to;
        if (!request.RelayAddress.Equals(IPAddress.Any)) to = new IPEndPoint(request.RelayAddress, _options.Port);
        else if (!source.Address.Equals(IPAddress.Any)) to = source;
        else to = new IPEndPoint(IPAddress.Broadcast, _options.ClientPort);
        Span<byte> buffer = stackalloc byte[1500];
        int n = reply.Write(buffer);
        socket.SendTo(buffer[..n], to);
    }

    private async Task<IPAddress?> ChooseAddressAsync(string mac, IPAddress? requested, DateTime now)
    {
        if (_leases.ForMac(mac) is { } lease && IPAddress.TryParse(lease.Address, out var mine) && IsAvailableTo(mine, mac, now)) return mine;
        foreach (var o in _offered.Where(o => o.Value.Mac == mac && o.Value.Until > now)) return FromUInt(o.Key);
        if (requested != null && IsAvailableTo(requested, mac, now) && !await AnswersPingAsync(requested)) return requested;
        uint first = ToUInt(_options.RangeStart!), last = ToUInt(_options.RangeEnd!);
        for (uint a = first; a <= last && a >= first; a++)
        {
            var candidate = FromUInt(a);
            if (!IsAvailableTo(candidate, mac, now)) continue;
            if (_leases.ForAddress(candidate) != null) continue; // expired leases are reused last
            if (await AnswersPingAsync(candidate))
            {
                _declined[a] = now.AddMinutes(10);
                _log.Write("dhcp", mac, $"{candidate} answers ping: skipped");
                continue;
            }
            return candidate;
        }
        return _leases.Leases.Where(l => l.Expires < DateTimeOffset.UtcNow && IPAddress.TryParse(l.Address, out var x) && IsAvailableTo(x, mac, now))
            .OrderBy(l => l.Expires).Select(l => IPAddress.Parse(l.Address)).FirstOrDefault();
    }

    private bool InRange(IPAddress address)
    {
        uint a = ToUInt(address);
        return a >= ToUInt(_options.RangeStart!) && a <= ToUInt(_options.RangeEnd!);
    }

    private bool IsAvailableTo(IPAddress address, string mac, DateTime now)
    {
        if (address.AddressFamily != AddressFamily.InterNetwork || !InRange(address)) return false;
        if (address.Equals(_options.ServerAddress) || address.Equals(_options.Router)) return false;
        uint a = ToUInt(address);
        if (_declined.TryGetValue(a, out var until) && until > now) return false;
        if (_offered.TryGetValue(a, out var offer) && offer.Mac != mac && offer.Until > now) return false;
        var lease = _leases.ForAddress(address);
        return lease == null || lease.Mac.Equals(mac, StringComparison.OrdinalIgnoreCase) || lease.Expires < DateTimeOffset.UtcNow;
    }

    private async Task<bool> AnswersPingAsync(IPAddress address)
    {
        if (!_options.ProbeBeforeOffer) return false;
        // One probe per address every few minutes: a flood of DISCOVERs must not turn into a flood of pings
        // (nor stall everyone behind 300 ms waits). The map is bounded by the range.
        uint key = ToUInt(address);
        var now = DateTime.UtcNow;
        if (_probedFree.TryGetValue(key, out var until) && until > now) return false;
        try
        {
            using var ping = new Ping();
            var reply = await ping.SendPingAsync(address, TimeSpan.FromMilliseconds(300), cancellationToken: _stop.Token);
            if (reply.Status == IPStatus.Success) return true;
            _probedFree[key] = now.AddMinutes(5);
            return false;
        }
        catch (Exception e) when (e is PingException or InvalidOperationException or NotSupportedException) { return false; }
    }

    private static uint ToUInt(IPAddress a) => BinaryPrimitives.ReadUInt32BigEndian(a.GetAddressBytes());

    private static IPAddress FromUInt(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return new IPAddress(b);
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        foreach (var (socket, _) in _listeners) socket.Dispose();
        foreach (var (_, loop) in _listeners)
            try { await loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
