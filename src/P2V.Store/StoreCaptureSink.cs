using System.Diagnostics;
using System.Buffers;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;

namespace P2V.Store;

/// <summary>
/// A capture into the image store (docs/store-protocol.md, "Ingest"): chunks arrive hashed but not
/// compressed; per batch the sink asks which hashes the store lacks, compresses only those (in parallel)
/// and sends them; the manifest is committed last. A send that breaks off is resumed: the sink asks again
/// which of the batch's chunks are still missing and sends only those.
/// </summary>
public sealed class StoreCaptureSink : CaptureSink
{
    // Two batches are held at once (one sent while the next fills): 2 × BatchBytes of chunks in flight.
    private const int BatchChunks = 256;
    public const long DefaultBatchBytes = 16L << 20;
    private const int SendAttempts = 5;

    private readonly IImageStore _store;
    private readonly IngestSession _session;
    private readonly byte[] _headerBytes;
    private readonly ImageTrailerWriter _trailer = new();
    private List<PendingChunk> _batch = [];
    // Buffers for the chunks of the two batches in flight (data, and stored form), reused batch after batch.
    private readonly ArrayPool<byte> _buffers = ArrayPool<byte>.Create(ChunkEncoder.MaxStoredLength(ImageFormat.MaxChunkSize), 4 * BatchChunks);
    // The previous batch's send, still under way while the pipeline reads and hashes the next batch.
    private Task? _sending;
    // Chunks this capture already knows the store holds, with their stored lengths (repeats, e.g. zero chunks, are asked about once).
    private readonly Dictionary<ChunkHash, int> _known = [];
    // The codecs of the chunks this capture sent.
    private readonly Dictionary<ChunkHash, ChunkCodec> _sentCodecs = [];
    private long _batchBytes, _framePosition, _sent;
    private bool _committed;

    private StoreCaptureSink(IImageStore store, IngestSession session, byte[] headerBytes)
    {
        _store = store;
        _session = session;
        _headerBytes = headerBytes;
        _framePosition = headerBytes.Length;
    }

    public static async Task<StoreCaptureSink> OpenAsync(IImageStore store, string image, ImageHeader header, CancellationToken cancel,
        long batchBytes = DefaultBatchBytes, CodecChooser? codecs = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchBytes, 1L << 20);
        var session = await store.BeginIngestAsync(image, cancel).ConfigureAwait(false);
        return new StoreCaptureSink(store, session, header.ToBytes()) { BatchBytes = batchBytes, Codecs = codecs ?? CodecChooser.Lz4 };
    }

    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>The chunk bytes sent per request; two batches are in memory at once, each with its compressed form.</summary>
    public long BatchBytes { get; private init; } = DefaultBatchBytes;

    public override bool WantsEveryChunkCompressed => false;

    /// <summary>Chunk payload bytes sent to the store (the chunks it lacked, compressed).</summary>
    public override long BytesWritten => _sent;

    public override int ChunkCount => _trailer.ChunkCount;

    /// <summary>Chunks the store already held (not sent), and chunks sent.</summary>
    public int ChunksDeduplicated => ChunkCount - ChunksSent;
    public int ChunksSent { get; private set; }

    /// <summary>Bytes the manifest says the image's chunks occupy (stored form).</summary>
    public long StoredBytes => _trailer.TotalStored;

    public override async ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel)
    {
        _batch.Add(new PendingChunk(chunk, _buffers));
        _batchBytes += chunk.UncompressedLength;
        if (_batch.Count >= BatchChunks || _batchBytes >= BatchBytes) await StartSendAsync(cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands the batch to a send of its own and returns once the previous send has finished: one batch travels
    /// while the next is read and hashed, instead of the capture standing still for every round trip. Sends stay
    /// in order (each waits for the one before), so the manifest lists the chunks as the disk holds them.
    /// </summary>
    private async Task StartSendAsync(CancellationToken cancel)
    {
        if (_sending is { } previous)
        {
            _sending = null;
            await previous.ConfigureAwait(false);
        }
        var batch = _batch;
        _batch = [];
        _batchBytes = 0;
        _sending = Task.Run(() => SendAsync(batch, cancel), CancellationToken.None);
    }

    private async Task SendAsync(List<PendingChunk> batch, CancellationToken cancel)
    {
        try
        {
            var hashes = batch.Select(c => ChunkHash.From(c.Hash)).ToArray();
            var ask = hashes.Where(h => !_known.ContainsKey(h)).Distinct().ToList();
            var missing = new HashSet<ChunkHash>();
            for (int attempt = 1; ask.Count > 0; attempt++)
            {
                try
                {
                    var stored = await _store.FindMissingAsync(_session, ask, cancel).ConfigureAwait(false);
                    missing.Clear();
                    for (int i = 0; i < ask.Count; i++)
                        if (stored[i] < 0) missing.Add(ask[i]);
                        else _known[ask[i]] = stored[i];
                    if (missing.Count == 0) break;
                    var send = Enumerable.Range(0, batch.Count).Where(i => missing.Remove(hashes[i])).Select(i => batch[i]).ToList();
                    Parallel.ForEach(send, new ParallelOptions { MaxDegreeOfParallelism = Workers, CancellationToken = cancel }, c => c.Compress(Codecs));
                    // The pooled buffers go out as they are: the batch holds them until it is released below.
                    var uploads = send.Select(c => new ChunkUpload(ChunkHash.From(c.Hash), new ChunkBlob(c.Codec, c.UncompressedLength, c.Stored))).ToList();
                    ask = uploads.Select(u => u.Hash).ToList();
                    long start = Stopwatch.GetTimestamp();
                    await _store.PutChunksAsync(_session, uploads, cancel).ConfigureAwait(false);
                    long bytes = uploads.Sum(u => (long)u.Blob.Stored.Length);
                    // How fast the link and the store took the batch: what an automatic codec choice weighs compression against.
                    Codecs.Drained(bytes, Stopwatch.GetElapsedTime(start).TotalSeconds);
                    _sent += bytes;
                    foreach (var u in uploads)
                    {
                        _known[u.Hash] = u.Blob.Stored.Length;
                        _sentCodecs[u.Hash] = u.Blob.Codec;
                    }
                    ChunksSent += uploads.Count;
                    break;
                }
                catch (StoreConnectionException) when (attempt < SendAttempts && !cancel.IsCancellationRequested)
                {
                    // The connection broke: the chunks that got through are kept; ask again and send the rest.
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancel).ConfigureAwait(false);
                }
            }
            for (int i = 0; i < batch.Count; i++)
            {
                var c = batch[i];
                int storedLength = _known[hashes[i]];
                // A chunk this capture sent has the codec it was sent with. Of one the store held already, the missing-query
                // tells only the stored length: a compressed one is recorded as LZ4, meaning "compressed", and the chunk
                // object's own prefix names its codec; readers take it from there (docs/store-protocol.md, "Codecs").
                var codec = storedLength == 0 ? ChunkCodec.Zero : storedLength == c.UncompressedLength ? ChunkCodec.Stored
                    : _sentCodecs.TryGetValue(hashes[i], out var sentCodec) ? sentCodec : ChunkCodec.Lz4;
                // Where the frame would be in the equivalent image file (docs/image-format.md, "Manifest").
                _trailer.Add(_framePosition, codec, c.UncompressedLength, storedLength, c.Hash, c.Runs);
                _framePosition += ChunkFrameHeader.LengthFor(c.Runs.Length) + storedLength;
            }
        }
        finally
        {
            foreach (var c in batch) c.Release();
            batch.Clear();
        }
    }

    public override async ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel)
    {
        await StartSendAsync(cancel).ConfigureAwait(false);
        var last = _sending!;
        _sending = null;
        await last.ConfigureAwait(false);
        using var manifest = new MemoryStream();
        ImageManifest.Write(manifest, _headerBytes, _trailer, volumes);
        await _store.CommitAsync(_session, manifest.ToArray(), cancel).ConfigureAwait(false);
        _committed = true;
    }

    public override void Dispose()
    {
        // A send still under way (the capture failed elsewhere) releases its own batch; let it end first.
        if (_sending is { } sending)
            try { sending.Wait(TimeSpan.FromSeconds(30)); }
            catch (Exception) { }
        foreach (var c in _batch) c.Release();
        _batch.Clear();
        _trailer.Dispose();
        if (!_committed)
        {
            // Best effort: the lease ends now rather than when it expires. Nothing was committed either way.
            try { _store.AbortAsync(_session, CancellationToken.None).Wait(TimeSpan.FromSeconds(5)); }
            catch (Exception) { }
        }
    }
}
