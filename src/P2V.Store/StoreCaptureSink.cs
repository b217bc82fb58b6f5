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
    // Batches sent at once, while one more fills: each round trip (query, compress, send, the store's verify and
    // write) overlaps the others and the reading and hashing of the next batch, instead of one batch at a time.
    private const int InFlight = 3;
    private const int BatchChunks = 128;
    /// <summary>The memory budget: the batches in flight and the one filling hold about 2 × this (each also compressed).</summary>
    public const long DefaultBatchBytes = 16L << 20;
    /// <summary>The least budget: a boot agent with little memory free sends batches of a few chunks (more round trips, no more memory).</summary>
    public const long MinBatchBytes = 256L << 10;
    private const int SendAttempts = 5;

    private readonly IImageStore _store;
    private readonly IngestSession _session;
    private readonly byte[] _headerBytes;
    private readonly ImageTrailerWriter _trailer = new();
    private List<PendingChunk> _batch = [];
    // Buffers for the chunks of the batches in memory (data, and stored form), reused batch after batch.
    private readonly ArrayPool<byte> _buffers = ArrayPool<byte>.Create(Http.ChunkRecord.PrefixLength + ChunkEncoder.MaxStoredLength(ImageFormat.MaxChunkSize), 2 * (InFlight + 1) * BatchChunks);
    // The sends under way, oldest first; their chunks enter the manifest in this order, as the disk holds them.
    private readonly Queue<(List<PendingChunk> Batch, Task<HeldChunk[]> Send)> _sending = new();
    // Chunks this capture already knows the store holds, as the store holds them (repeats, e.g. zero chunks, are asked about once).
    private readonly Dictionary<ChunkHash, HeldChunk> _known = [];
    private long _batchBytes, _framePosition, _sent;
    private int _chunksSent, _putsUnderWay;
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
        ArgumentOutOfRangeException.ThrowIfLessThan(batchBytes, MinBatchBytes);
        var session = await store.BeginIngestAsync(image, cancel).ConfigureAwait(false);
        return new StoreCaptureSink(store, session, header.ToBytes()) { BatchBytes = batchBytes, Codecs = codecs ?? new CodecChooser(CodecChoice.Lz4, Environment.ProcessorCount) };
    }

    /// <summary>The memory budget: the batches in memory (sending, and filling) hold about twice this, each also in its compressed form.</summary>
    public long BatchBytes { get; private init; } = DefaultBatchBytes;

    // Each of the InFlight + 1 batches in memory gets its share of 2 × BatchBytes.
    private long BatchLimit => Math.Max(MinBatchBytes, 2 * BatchBytes / (InFlight + 1));

    public override bool WantsEveryChunkCompressed => false;

    /// <summary>Chunk payload bytes sent to the store (the chunks it lacked, compressed).</summary>
    public override long BytesWritten => Interlocked.Read(ref _sent);

    public override int ChunkCount => _trailer.ChunkCount;

    /// <summary>Chunks the store already held (not sent), and chunks sent.</summary>
    public int ChunksDeduplicated => ChunkCount - ChunksSent;
    public int ChunksSent => Volatile.Read(ref _chunksSent);

    /// <summary>Bytes the manifest says the image's chunks occupy (stored form).</summary>
    public long StoredBytes => _trailer.TotalStored;

    public override async ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel)
    {
        _batch.Add(new PendingChunk(chunk, _buffers));
        _batchBytes += chunk.UncompressedLength;
        if (_batch.Count >= BatchChunks || _batchBytes >= BatchLimit) await StartSendAsync(cancel).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands the batch to a send of its own; when <see cref="InFlight"/> sends are under way, waits for the oldest and
    /// adds its chunks to the manifest. Sends overlap; the manifest still lists the chunks in the order they came.
    /// </summary>
    private async Task StartSendAsync(CancellationToken cancel)
    {
        while (_sending.Count >= InFlight) await RetireOldestAsync().ConfigureAwait(false);
        if (_batch.Count == 0) return;
        var batch = _batch;
        _batch = [];
        _batchBytes = 0;
        _sending.Enqueue((batch, Task.Run(() => SendAsync(batch, cancel), CancellationToken.None)));
    }

    /// <summary>Waits for the oldest send and records its chunks in the manifest, each as the store holds it.</summary>
    private async Task RetireOldestAsync()
    {
        var (batch, send) = _sending.Dequeue();
        var held = await send.ConfigureAwait(false);
        for (int i = 0; i < batch.Count; i++)
        {
            var c = batch[i];
            // As the store holds it, whoever sent it and with whatever codec: the store checks this at commit.
            // Where the frame would be in the equivalent image file (docs/image-format.md, "Manifest").
            _trailer.Add(_framePosition, held[i].Codec, c.UncompressedLength, held[i].StoredLength, c.Hash, c.Runs);
            _framePosition += ChunkFrameHeader.LengthFor(c.Runs.Length) + held[i].StoredLength;
        }
    }

    private bool TryKnown(ChunkHash h, out HeldChunk held) { lock (_known) return _known.TryGetValue(h, out held); }

    private void Learn(ChunkHash h, HeldChunk held) { lock (_known) _known[h] = held; }

    /// <summary>Asks which of the batch's chunks the store lacks, compresses and sends those; answers how the store holds each chunk of the batch.</summary>
    private async Task<HeldChunk[]> SendAsync(List<PendingChunk> batch, CancellationToken cancel)
    {
        try
        {
            var hashes = batch.Select(c => ChunkHash.From(c.Hash)).ToArray();
            var ask = hashes.Where(h => !TryKnown(h, out _)).Distinct().ToList();
            var missing = new HashSet<ChunkHash>();
            for (int attempt = 1; ask.Count > 0; attempt++)
            {
                try
                {
                    var held = await _store.FindMissingAsync(_session, ask, cancel).ConfigureAwait(false);
                    missing.Clear();
                    for (int i = 0; i < ask.Count; i++)
                        if (held[i].IsMissing) missing.Add(ask[i]);
                        else Learn(ask[i], held[i]);
                    if (missing.Count == 0) break;
                    var send = Enumerable.Range(0, batch.Count).Where(i => missing.Remove(hashes[i])).Select(i => batch[i]).ToList();
                    Parallel.ForEach(send, new ParallelOptions { MaxDegreeOfParallelism = Codecs.Workers, CancellationToken = cancel }, c => c.Compress(Codecs));
                    // The pooled buffers go out as they are: the batch holds them until it is released below.
                    var uploads = send.Select(c => new ChunkUpload(ChunkHash.From(c.Hash), new ChunkBlob(c.Codec, c.UncompressedLength, c.Stored)) { Record = c.Record }).ToList();
                    ask = uploads.Select(u => u.Hash).ToList();
                    long start = Stopwatch.GetTimestamp();
                    int together = Interlocked.Increment(ref _putsUnderWay);
                    HeldChunk[] kept;
                    try { kept = await _store.PutChunksAsync(_session, uploads, cancel).ConfigureAwait(false); }
                    finally { Interlocked.Decrement(ref _putsUnderWay); }
                    long bytes = uploads.Sum(u => (long)u.Blob.Stored.Length);
                    // How fast the link and the store took the batch (sharing it with the sends beside it): what an
                    // automatic codec choice weighs compression against.
                    Codecs.Drained(bytes, Stopwatch.GetElapsedTime(start).TotalSeconds / together);
                    Interlocked.Add(ref _sent, bytes);
                    for (int i = 0; i < uploads.Count; i++) Learn(uploads[i].Hash, kept[i]);
                    Interlocked.Add(ref _chunksSent, uploads.Count);
                    break;
                }
                catch (StoreConnectionException) when (attempt < SendAttempts && !cancel.IsCancellationRequested)
                {
                    // The connection broke: the chunks that got through are kept; ask again and send the rest.
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancel).ConfigureAwait(false);
                }
            }
            var result = new HeldChunk[batch.Count];
            for (int i = 0; i < batch.Count; i++)
                if (!TryKnown(hashes[i], out result[i])) throw new StoreException($"the store did not say how it holds chunk {hashes[i]}");
            return result;
        }
        finally
        {
            // The data and compressed buffers go back at once; the chunks' hashes and runs stay for the manifest.
            foreach (var c in batch) c.Release();
        }
    }

    public override async ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel)
    {
        await StartSendAsync(cancel).ConfigureAwait(false);
        while (_sending.Count > 0) await RetireOldestAsync().ConfigureAwait(false);
        using var manifest = new MemoryStream();
        ImageManifest.Write(manifest, _headerBytes, _trailer, volumes);
        await _store.CommitAsync(_session, manifest.ToArray(), cancel).ConfigureAwait(false);
        _committed = true;
    }

    public override void Dispose()
    {
        // Sends still under way (the capture failed elsewhere) release their own batches; let them end first.
        foreach (var (_, send) in _sending)
            try { send.Wait(TimeSpan.FromSeconds(30)); }
            catch (Exception) { }
        _sending.Clear();
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
