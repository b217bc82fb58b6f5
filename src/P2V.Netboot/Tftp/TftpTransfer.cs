using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace P2V.Netboot.Tftp;

/// <summary>
/// One read transfer on its own connected socket: option negotiation (RFC 2347 OACK), then DATA in windows of
/// <c>windowsize</c> blocks (RFC 7440; 1 is RFC 1350's lock-step) each answered by one ACK. Blocks sit in a pooled
/// ring of twice the window, so the next window is read from the file while the client acknowledges the current
/// one; the loop sends from that ring and allocates nothing per packet. Block numbers wrap 65535 → 0, as
/// tftp-hpa, curl, atftp and iPXE expect for files over blksize × 65535 bytes.
/// </summary>
internal sealed class TftpTransfer(Socket socket, IPEndPoint client, TftpRequest request, TftpServerOptions options, NetbootLog log, Func<bool> fewTransfers)
{
    private readonly string _client = client.ToString();

    public async Task RunAsync(CancellationToken stop)
    {
        using var _ = socket;
        var refusal = options.Root.TryResolve(request.FileName, out var path);
        if (refusal != BootFileRoot.Refusal.None)
        {
            var (code, text) = refusal == BootFileRoot.Refusal.OutsideRoot
                ? (TftpErrorCode.AccessViolation, "access outside the served root is refused")
                : (TftpErrorCode.FileNotFound, "file not found");
            log.Write("tftp", _client, $"RRQ {request.FileName} refused: {text}");
            TftpServer.SendError(socket, null, code, text);
            return;
        }
        Stream file;
        try
        {
            file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read,
                BufferSize = 256 * 1024, Options = FileOptions.SequentialScan,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Write("tftp", _client, $"RRQ {request.FileName} refused: {e.Message}");
            TftpServer.SendError(socket, null, TftpErrorCode.AccessViolation, "cannot open file");
            return;
        }
        long fileLength = file.Length;
        bool netascii = request.Mode == "netascii";
        if (netascii) file = new NetasciiReader(file);
        await using (file)
        {
            var n = Negotiate(fileLength, netascii);
            log.Write("tftp", _client, $"RRQ {request.FileName} {request.Mode}" + (n.Accepted.Count > 0 ? " " + string.Join(' ', n.Accepted.Select(kv => $"{kv.Key}={kv.Value}")) : ""));
            socket.SendBufferSize = Math.Max(socket.SendBufferSize, Math.Min(4 << 20, n.WindowSize * (n.BlockSize + 32) * 2));
            var clock = Stopwatch.StartNew();
            try
            {
                long sent = await TransferAsync(file, n, stop);
                if (sent >= 0) log.Write("tftp", _client, $"done {request.FileName} {NetbootLog.Rate(sent, clock.Elapsed)}");
            }
            catch (SocketException e)
            {
                log.Write("tftp", _client, $"aborted {request.FileName}: {e.SocketErrorCode}");
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
        }
    }

    private sealed record Negotiation(int BlockSize, int WindowSize, TimeSpan Timeout, List<KeyValuePair<string, string>> Accepted);

    /// <summary>Accepts what it can of the client's options; unknown or out-of-range ones are left out of the OACK.</summary>
    private Negotiation Negotiate(long fileLength, bool netascii)
    {
        int blockSize = 512, window = 1;
        var timeout = options.Timeout;
        var accepted = new List<KeyValuePair<string, string>>();
        foreach (var (name, value) in request.Options)
        {
            if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long v)) continue;
            switch (name)
            {
                case "blksize" when v >= 8: // RFC 2348: 8–65464; a larger wish gets our maximum
                    blockSize = (int)Math.Min(v, options.MaxBlockSize);
                    accepted.Add(new(name, blockSize.ToString(CultureInfo.InvariantCulture)));
                    break;
                case "tsize" when !netascii: // RFC 2349: size in octets; unknown in advance for netascii
                    accepted.Add(new(name, fileLength.ToString(CultureInfo.InvariantCulture)));
                    break;
                case "timeout" when v >= 1 && v <= 255 && v <= options.MaxClientTimeout.TotalSeconds:
                    timeout = TimeSpan.FromSeconds(v);
                    accepted.Add(new(name, value));
                    break;
                case "windowsize" when v is >= 1 and <= 65535:
                    window = (int)Math.Min(v, options.MaxWindowSize);
                    accepted.Add(new(name, window.ToString(CultureInfo.InvariantCulture)));
                    break;
            }
        }
        return new Negotiation(blockSize, window, timeout, accepted);
    }

    /// <summary>Returns the bytes sent, or -1 when the transfer was abandoned.</summary>
    private async Task<long> TransferAsync(Stream file, Negotiation n, CancellationToken stop)
    {
        int blockSize = n.BlockSize, window = n.WindowSize;
        int slotSize = TftpPacket.HeaderSize + blockSize;
        int ringSlots = window * 2;
        // The OACK is built in the ring too, so it is never smaller than the largest request could ask for.
        byte[] ring = ArrayPool<byte>.Shared.Rent(Math.Max(slotSize * ringSlots, 4096));
        byte[] receive = ArrayPool<byte>.Shared.Rent(1024);
        var slotLength = ArrayPool<int>.Shared.Rent(ringSlots);
        var offsets = ArrayPool<int>.Shared.Rent(window);
        var lengths = ArrayPool<int>.Shared.Rent(window);
        _timer = CancellationTokenSource.CreateLinkedTokenSource(stop);
        try
        {
            if (n.Accepted.Count > 0)
            {
                // RFC 2347: the OACK is acknowledged with ACK 0 before DATA 1; an ERROR means options refused.
                int oackLength = TftpPacket.WriteOptionAck(ring, n.Accepted);
                var oack = ring.AsMemory(0, oackLength);
                int tries = 0;
                await socket.SendAsync(oack, SocketFlags.None, stop);
                while (true)
                {
                    var (kind, block) = await ReceiveAsync(receive, n.Timeout, stop);
                    if (kind == Reply.Ack && block == 0) { _progressAt = Stopwatch.GetTimestamp(); break; }
                    if (kind == Reply.Error) return -1;
                    if (kind != Reply.Timeout) continue; // a stray or duplicate packet: answering it would only repeat the OACK (RFC 1350's sorcerer's apprentice)
                    if (++tries > options.MaxRetries || Idle) return GiveUp();
                    await socket.SendAsync(oack, SocketFlags.None, stop);
                }
            }

            // Segmentation offload pays only when a window holds several blocks; the OACK above went out before it.
            int segmentSize = window > 1 && DatagramBatch.TryEnableSegmentation(socket, slotSize) ? slotSize : 0;
            long acked = 0;        // last block the client acknowledged
            long filled = 0;       // last block read into the ring
            long last = -1;        // number of the final (short) block once the file has ended
            long bytes = 0;
            int retries = 0;
            while (true)
            {
                // Read ahead: keep the ring full, up to two windows past what was acknowledged.
                while (last < 0 && filled < acked + ringSlots)
                {
                    long block = filled + 1;
                    int slot = (int)(block % ringSlots);
                    var data = ring.AsSpan(slot * slotSize + TftpPacket.HeaderSize, blockSize);
                    int got = ReadFully(file, data);
                    TftpPacket.WriteDataHeader(ring.AsSpan(slot * slotSize), (ushort)block);
                    slotLength[slot] = TftpPacket.HeaderSize + got;
                    bytes += got;
                    filled = block;
                    if (got < blockSize) last = block;
                }

                long windowEnd = Math.Min(acked + window, filled);
                // A UDP send does not wait for the peer: the whole window goes out synchronously in one batch.
                int sending = (int)(windowEnd - acked);
                for (int i = 0; i < sending; i++)
                {
                    int slot = (int)((acked + 1 + i) % ringSlots);
                    offsets[i] = slot * slotSize;
                    lengths[i] = slotLength[slot];
                }
                if (!DatagramBatch.Send(socket, ring, offsets.AsSpan(0, sending), lengths.AsSpan(0, sending), segmentSize))
                {
                    // The kernel or device refused segmentation offload: plain datagrams from now on.
                    socket.SetRawSocketOption(17, 103, BitConverter.GetBytes(0));
                    segmentSize = 0;
                }

                while (true)
                {
                    var (kind, ack) = await ReceiveAsync(receive, n.Timeout, stop);
                    if (kind == Reply.Error) return -1;
                    if (kind == Reply.Timeout)
                    {
                        if (++retries > options.MaxRetries || Idle) return GiveUp();
                        break; // resend the window from the first unacknowledged block
                    }
                    if (kind != Reply.Ack) continue;
                    // An ACK may acknowledge part of the window (RFC 7440 §4: the client saw a gap); the distance
                    // in 16-bit arithmetic maps the wrapped number back onto our 64-bit block count.
                    int distance = (ushort)(ack - (ushort)acked);
                    if (distance == 0 || distance > windowEnd - acked) continue; // duplicate or stray: never resend on it
                    acked += distance;
                    retries = 0;
                    _progressAt = Stopwatch.GetTimestamp();
                    break;
                }
                if (last >= 0 && acked == last) return bytes;
            }
        }
        finally
        {
            _timer.Dispose();
            ArrayPool<byte>.Shared.Return(ring);
            ArrayPool<byte>.Shared.Return(receive);
            ArrayPool<int>.Shared.Return(slotLength);
            ArrayPool<int>.Shared.Return(offsets);
            ArrayPool<int>.Shared.Return(lengths);
        }
    }

    /// <summary>When the client last made progress (the transfer's start, then each new acknowledgement).</summary>
    private long _progressAt = Stopwatch.GetTimestamp();

    /// <summary>The server's own bound on a silent or stalling client, whatever timeout it negotiated.</summary>
    private bool Idle => Stopwatch.GetElapsedTime(_progressAt) >= options.IdleLimit;

    private long GiveUp()
    {
        log.Write("tftp", _client, Idle
            ? $"aborted {request.FileName}: no progress for {options.IdleLimit.TotalSeconds:0} s"
            : $"aborted {request.FileName}: no answer after {options.MaxRetries} retransmissions");
        TftpServer.SendError(socket, null, TftpErrorCode.NotDefined, "timed out");
        return -1;
    }

    private static int ReadFully(Stream file, Span<byte> data)
    {
        int total = 0;
        while (total < data.Length)
        {
            int n = file.Read(data[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private enum Reply { Ack, Error, Timeout, Other }

    private CancellationTokenSource _timer = new();

    private async ValueTask<(Reply Kind, ushort Block)> ReceiveAsync(byte[] buffer, TimeSpan timeout, CancellationToken stop)
    {
        if (!_timer.TryReset())
        {
            // Only after a timeout fired; the common path reuses the same source and its timer.
            _timer.Dispose();
            _timer = CancellationTokenSource.CreateLinkedTokenSource(stop);
        }
        // Never wait past the idle limit: stray packets each restart the wait, but not the idle clock.
        var left = options.IdleLimit - Stopwatch.GetElapsedTime(_progressAt);
        if (left <= TimeSpan.Zero) return (Reply.Timeout, 0);
        if (left < timeout) timeout = left;
        int n;
        // While few transfers run, wait for the ACK in the kernel for up to a millisecond: the async engine's hop
        // through the thread pool costs more than the client takes to acknowledge a window on a fast network.
        if (fewTransfers() && socket.Poll(1000, SelectMode.SelectRead))
            n = socket.Receive(buffer);
        else
        {
            _timer.CancelAfter(timeout);
            try
            {
                n = await socket.ReceiveAsync(buffer, SocketFlags.None, _timer.Token);
            }
            catch (OperationCanceledException)
            {
                stop.ThrowIfCancellationRequested();
                return (Reply.Timeout, 0);
            }
        }
        var packet = buffer.AsSpan(0, n);
        if (n >= 4 && BinaryPrimitives.ReadUInt16BigEndian(packet) == (ushort)TftpOpcode.Ack)
            return (Reply.Ack, BinaryPrimitives.ReadUInt16BigEndian(packet[2..]));
        if (n >= 2 && BinaryPrimitives.ReadUInt16BigEndian(packet) == (ushort)TftpOpcode.Error)
        {
            var (code, message) = TftpPacket.ParseError(packet);
            log.Write("tftp", _client, $"client error {(int)code} \"{message}\" for {request.FileName}");
            return (Reply.Error, 0);
        }
        return (Reply.Other, 0);
    }
}
