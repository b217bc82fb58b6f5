using System.Buffers;
using P2V.Imaging.Images;

namespace P2V.Store;

/// <summary>
/// An image in the store as a restore source: its manifest, and its chunks fetched in batches (the next
/// batch on its way while this one is decoded). The restore pipeline verifies every chunk's BLAKE3.
/// </summary>
public sealed class StoreImageSource : IImageSource
{
    private const int BatchChunks = 64;
    public const long DefaultBatchBytes = 32L << 20;
    private readonly IImageStore _store;
    // A batch ends at 64 chunks or at this many stored bytes, whichever comes first: two batches are in memory at once.
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
        long batchBytes = DefaultBatchBytes) =>
        new(store, image, await store.GetManifestAsync(image, cancel).ConfigureAwait(false), batchBytes);

    public string Image { get; }
    public ImageHeader Header { get; }
    public ImageTrailer Trailer { get; }

    public IEnumerable<ChunkFrame> ReadFrames(CancellationToken cancel = default)
    {
        var chunks = Trailer.Chunks;
        int BatchEnd(int start)
        {
            int end = start;
            for (long bytes = 0; end < chunks.Count && end - start < BatchChunks && (end == start || bytes + chunks[end].StoredLength <= _batchBytes); end++)
                bytes += chunks[end].StoredLength;
            return end;
        }
        Task<ChunkBlob[]> Fetch(int start, int end) => _store.ReadChunksAsync(Image,
            chunks.Skip(start).Take(end - start).Select(c => ChunkHash.From(c.Hash)).ToList(), cancel);
        int end = BatchEnd(0);
        var next = chunks.Count > 0 ? Fetch(0, end) : null;
        for (int start = 0; start < chunks.Count; start = end, end = BatchEnd(end))
        {
            var blobs = next!.GetAwaiter().GetResult();
            next = end < chunks.Count ? Fetch(end, BatchEnd(end)) : null;
            for (int i = 0; i < blobs.Length; i++)
            {
                var entry = chunks[start + i];
                var blob = blobs[i];
                if (blob.UncompressedLength != entry.UncompressedLength)
                    throw new StoreException($"image '{Image}': chunk {i + start} ({ChunkHash.From(entry.Hash)}) holds {blob.UncompressedLength} bytes, the manifest says {entry.UncompressedLength}");
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
}
