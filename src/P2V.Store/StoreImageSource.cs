using System.Buffers;
using P2V.Imaging.Images;

namespace P2V.Store;

/// <summary>
/// An image in the store as a restore source: its manifest, and its chunks fetched in batches (the next
/// batch on its way while this one is decoded). The restore pipeline verifies every chunk's BLAKE3.
/// </summary>
public sealed class StoreImageSource : IImageSource
{
    // Small batches, several on their way: the chunks in memory (about (Ahead + 1) × BatchChunks payload buffers from the
    // shared array pool) stay as many as two batches of 64 were, which the pool keeps and reuses; more spilled into fresh
    // large-object-heap arrays (client sys time 4.3-5.6 s against 2.5-3 s).
    private const int BatchChunks = 32;
    // Batches asked for at once, ahead of the one being decoded.
    private const int Ahead = 4;
    public const long DefaultBatchBytes = 32L << 20;
    private readonly IImageStore _store;
    // The memory budget: the batches in memory (on their way, and being decoded) hold about 2 × this many stored bytes.
    private readonly long _batchBytes;

    private StoreImageSource(IImageStore store, string image, ImageManifest manifest, long batchBytes)
    {
        _batchBytes = batchBytes;
        _store = store;
        Image = image;
        Header = manifest.Header;
        Trailer = manifest.Trailer;
    }

    public static async Task<StoreImageSource> OpenAsync(IImageStore store, string image, CancellationToken cancel,
        long batchBytes = DefaultBatchBytes, bool checkRecordedForms = false) =>
        new(store, image, await store.GetManifestAsync(image, cancel).ConfigureAwait(false), batchBytes) { CheckRecordedForms = checkRecordedForms };

    public string Image { get; }
    public ImageHeader Header { get; }
    public ImageTrailer Trailer { get; }

    /// <summary>
    /// Also check that the manifest records each chunk as the store holds it (codec, stored length), as `image verify`
    /// checks an image file's trailer against its frames. A restore decodes by the chunk object's own codec either way.
    /// </summary>
    public bool CheckRecordedForms { get; init; }

    /// <summary>
    /// Records in the form a capture wrote before the store's manifests recorded codecs as held (3e139aa, 1 December 2026),
    /// found by <see cref="CheckRecordedForms"/>: the data is intact (hash-checked like every chunk, and decoded by the chunk
    /// object's own codec), but the manifest does not say how it is held; a re-capture records it right.
    /// </summary>
    public int LegacyRecords { get; private set; }

    /// <summary>
    /// Whether a record that disagrees with its chunk object is one a capture before 3e139aa wrote: the missing-query then
    /// told only the stored length, so for a chunk it did not send the capture recorded codec 1 (LZ4) meaning "compressed,
    /// the chunk object names the codec", or 0 (stored) when the stored length was the chunk's length. The stored length
    /// still agrees; only the codec byte does not.
    /// </summary>
    public static bool IsPreCodecFixRecord(ChunkCodec recorded, int recordedStored, ChunkBlob held) =>
        recordedStored == held.Stored.Length && held.Codec is not (ChunkCodec.Zero or ChunkCodec.Stored) &&
        (recorded == ChunkCodec.Lz4 || (recorded == ChunkCodec.Stored && recordedStored == held.UncompressedLength));

    public IEnumerable<ChunkFrame> ReadFrames(CancellationToken cancel = default)
    {
        var chunks = Trailer.Chunks;
        // Each of the batches in memory (those on their way, and the one being decoded) gets its share of 2 × the budget.
        long batchLimit = Math.Max(1L << 20, 2 * _batchBytes / (Ahead + 1));
        int BatchEnd(int start)
        {
            int end = start;
            for (long bytes = 0; end < chunks.Count && end - start < BatchChunks && (end == start || bytes + chunks[end].StoredLength <= batchLimit); end++)
                bytes += chunks[end].StoredLength;
            return end;
        }
        Task<ChunkBlob[]> Fetch(int start, int end) => _store.ReadChunksAsync(Image,
            chunks.Skip(start).Take(end - start).Select(c => ChunkHash.From(c.Hash)).ToList(), cancel);
        // Several batches on their way at once (the store reads each batch's chunks in parallel too); handed on in disk order.
        var ahead = new Queue<(int Start, Task<ChunkBlob[]> Blobs)>();
        int requested = 0;
        try
        {
            while (true)
            {
                while (ahead.Count < Ahead && requested < chunks.Count)
                {
                    int end = BatchEnd(requested);
                    ahead.Enqueue((requested, Fetch(requested, end)));
                    requested = end;
                }
                if (ahead.Count == 0) yield break;
                var (start, fetch) = ahead.Dequeue();
                var blobs = fetch.GetAwaiter().GetResult();
            for (int i = 0; i < blobs.Length; i++)
            {
                var entry = chunks[start + i];
                var blob = blobs[i];
                if (blob.UncompressedLength != entry.UncompressedLength)
                    throw new StoreException($"image '{Image}': chunk {i + start} ({ChunkHash.From(entry.Hash)}) holds {blob.UncompressedLength} bytes, the manifest says {entry.UncompressedLength}");
                if (CheckRecordedForms && (blob.Codec != entry.Codec || blob.Stored.Length != entry.StoredLength))
                {
                    if (IsPreCodecFixRecord(entry.Codec, entry.StoredLength, blob)) LegacyRecords++;
                    else throw new StoreException($"image '{Image}': chunk {i + start} ({ChunkHash.From(entry.Hash)}) is held as codec {blob.Codec}, {blob.Stored.Length} bytes; the manifest records codec {entry.Codec}, {entry.StoredLength} bytes");
                }
                // A pooled blob (from the store's HTTP client) is handed on as is; the restore returns it to the pool.
                var payload = blob.Rented;
                if (payload is null)
                {
                    payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, blob.Stored.Length));
                    blob.Stored.Span.CopyTo(payload);
                }
                var header = new ChunkFrameHeader
                {
                    Codec = blob.Codec,
                    UncompressedLength = blob.UncompressedLength,
                    StoredLength = blob.Stored.Length,
                    Hash = entry.Hash,
                    Runs = entry.Runs,
                };
                yield return new ChunkFrame(entry.FrameOffset, header, payload);
            }
            }
        }
        finally
        {
            // A restore that stopped early (an error, a cancel): the fetches still on their way end unobserved, not unhandled.
            foreach (var (_, fetch) in ahead) _ = fetch.ContinueWith(static t => t.Exception, TaskScheduler.Default);
        }
    }
}
