using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace P2V.Netboot.Tftp;

/// <summary>
/// Read-only TFTP server. The request socket only parses RRQ/WRQ; each accepted request becomes a
/// <see cref="TftpTransfer"/> on its own ephemeral socket (RFC 1350 §4, the server's new TID), so a slow
/// client never holds up another. Sessions are bounded in all and per client address, a request repeated from a
/// port that already has a session is a retransmission and starts nothing, and every session ends on the
/// server's own idle schedule, so a flood of requests that are never acknowledged locks nobody else out.
/// </summary>
public sealed class TftpServer : IAsyncDisposable
{
    private readonly TftpServerOptions _options;
    private readonly NetbootLog _log;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<TftpTransfer, Task> _transfers = new();
    private readonly Task _loop;
    private int _running; // ConcurrentDictionary.Count takes every lock; sessions ask this once per window
    private readonly Lock _clientsLock = new();
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly HashSet<IPEndPoint> _endpoints = [];

    private TftpServer(TftpServerOptions options, NetbootLog log)
    {
        _options = options;
        _log = log;
        _socket = new Socket(options.Listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _socket.Bind(options.Listen);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _loop = Task.Run(ReceiveLoopAsync);
    }

    public static TftpServer Start(TftpServerOptions options, NetbootLog log) => new(options, log);

    public IPEndPoint LocalEndPoint { get; }

    public int ActiveTransfers => Volatile.Read(ref _running);

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[4096];
        var from = new SocketAddress(_socket.AddressFamily);
        var template = new IPEndPoint(_options.Listen.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            int n;
            try { n = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, from, _stop.Token); }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) { continue; } // ICMP errors from earlier sends surface here; keep serving
            var client = (IPEndPoint)template.Create(from);
            try { Accept(buffer.AsSpan(0, n), client); }
            catch (Exception e) when (e is SocketException or IOException)
            {
                _log.Write("tftp", client.ToString(), $"request failed: {e.Message}");
            }
        }
    }

    private void Accept(ReadOnlySpan<byte> packet, IPEndPoint client)
    {
        TftpRequest request;
        try { request = TftpRequest.Parse(packet); }
        catch (TftpPacketException e)
        {
            // An ERROR is never answered with an ERROR (RFC 1350 §7); anything else malformed is told why.
            if (packet.Length >= 2 && packet[0] == 0 && packet[1] == (byte)TftpOpcode.Error) return;
            _log.Write("tftp", client.ToString(), $"malformed request: {e.Message}");
            SendError(_socket, client, TftpErrorCode.IllegalOperation, "malformed request");
            return;
        }
        if (request.Opcode == TftpOpcode.ReadRequest && IsRunning(client))
        {
            // RFC 1350 §4: the client's TID names the transfer; its RRQ again is a retransmission, answered by the session.
            return;
        }
        var local = new IPEndPoint(_options.Listen.Address, 0);
        var socket = new Socket(client.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(local);
            socket.Connect(client);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        if (request.Opcode == TftpOpcode.WriteRequest)
        {
            _log.Write("tftp", client.ToString(), $"WRQ {request.FileName} refused");
            SendError(socket, null, TftpErrorCode.AccessViolation, "write requests are refused");
            socket.Dispose();
            return;
        }
        if (Volatile.Read(ref _running) >= _options.MaxTransfers)
        {
            _log.Write("tftp", client.ToString(), $"RRQ {request.FileName} refused: {_options.MaxTransfers} transfers running");
            SendError(socket, null, TftpErrorCode.NotDefined, "server busy");
            socket.Dispose();
            return;
        }
        if (!TryAdmit(client))
        {
            _log.Write("tftp", client.ToString(), $"RRQ {request.FileName} refused: {_options.MaxTransfersPerClient} transfers running for {client.Address}");
            SendError(socket, null, TftpErrorCode.NotDefined, "too many transfers from this address");
            socket.Dispose();
            return;
        }
        var transfer = new TftpTransfer(socket, client, request, _options, _log, () => Volatile.Read(ref _running) <= Environment.ProcessorCount);
        Interlocked.Increment(ref _running);
        _transfers[transfer] = Task.Run(async () =>
        {
            try { await transfer.RunAsync(_stop.Token); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A bug in one session must not go unnoticed, nor take the server down.
                _log.Write("tftp", client.ToString(), $"transfer of {request.FileName} failed: {e.GetType().Name}: {e.Message}");
            }
            finally
            {
                _transfers.TryRemove(transfer, out _);
                Release(client);
                Interlocked.Decrement(ref _running);
            }
        });
    }

    private bool IsRunning(IPEndPoint client)
    {
        lock (_clientsLock) return _endpoints.Contains(client);
    }

    private bool TryAdmit(IPEndPoint client)
    {
        lock (_clientsLock)
        {
            int count = _perAddress.GetValueOrDefault(client.Address);
            if (count >= _options.MaxTransfersPerClient || !_endpoints.Add(client)) return false;
            _perAddress[client.Address] = count + 1;
            return true;
        }
    }

    private void Release(IPEndPoint client)
    {
        lock (_clientsLock)
        {
            _endpoints.Remove(client);
            if (_perAddress.TryGetValue(client.Address, out int count) && count > 1) _perAddress[client.Address] = count - 1;
            else _perAddress.Remove(client.Address);
        }
    }

    internal static void SendError(Socket socket, IPEndPoint? to, TftpErrorCode code, string message)
    {
        Span<byte> packet = stackalloc byte[128];
        int n = TftpPacket.WriteError(packet, code, message);
        try
        {
            if (to == null) socket.Send(packet[..n]);
            else socket.SendTo(packet[..n], to);
        }
        catch (SocketException) { } // the client is gone; nothing to tell
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _socket.Dispose();
        try { await _loop; } catch (OperationCanceledException) { }
        try { await Task.WhenAll(_transfers.Values); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
