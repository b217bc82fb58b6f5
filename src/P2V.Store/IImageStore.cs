using P2V.Imaging.Images;

namespace P2V.Store;

/// <summary>An open ingest: the image it will commit, and the lease that keeps garbage collection away meanwhile.</summary>
public sealed record IngestSession(string Id, string Image);

/// <summary>A chunk to send: its hash and its stored form.</summary>
public readonly record struct ChunkUpload(ChunkHash Hash, ChunkBlob Blob)
{
    /// <summary>
    /// When not empty: room for the wire record's prefix followed by <see cref="ChunkBlob.Stored"/> (docs/store-protocol.md,
    /// "Endpoints"), so that an HTTP sender writes the whole record at once instead of a 44-byte write and then the payload.
    /// </summary>
    public Memory<byte> Record { get; init; }
}

/// <summary>
/// How the store holds a chunk: the codec and stored length (payload bytes) of its chunk object, the one source of
/// truth for what a manifest records about the chunk; or <see cref="Missing"/> when the store lacks it.
/// </summary>
public readonly record struct HeldChunk(ChunkCodec Codec, int StoredLength)
{
    public static readonly HeldChunk Missing = new(ChunkCodec.Stored, -1);
    public bool IsMissing => StoredLength < 0;
}

/// <summary>A committed image and what it costs the store.</summary>
/// <param name="StoredBytes">What its distinct chunks occupy (as if it were alone in the store).</param>
/// <param name="UniqueBytes">What only this image's chunks occupy: what removing it (and collecting garbage) frees.</param>
public sealed record ImageSummary(string Name, DateTimeOffset Created, long DiskBytes, int Chunks, long UncompressedBytes,
    long StoredBytes, long UniqueBytes)
{
    /// <summary>The share of its stored bytes this image shares with others (0..1).</summary>
    public double DedupSavings => StoredBytes == 0 ? 0 : 1.0 - (double)UniqueBytes / StoredBytes;
}

/// <summary>What a garbage collection found and removed.</summary>
public sealed record GcReport(int Images, int ChunksKept, int ChunksRemoved, long BytesRemoved);

/// <summary>
/// The image store as its users see it: the store itself (<see cref="ImageStore"/>, over a folder or S3) or a
/// controller's store over HTTP (<see cref="StoreClient"/>). Capture and restore work against either.
/// </summary>
public interface IImageStore
{
    Task<IngestSession> BeginIngestAsync(string image, CancellationToken cancel);

    /// <summary>For each hash, how the store holds the chunk (codec and stored length), or <see cref="HeldChunk.Missing"/> when it must be sent.</summary>
    Task<HeldChunk[]> FindMissingAsync(IngestSession session, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel);

    /// <summary>Sends chunks; answers, per chunk, how the store holds it: as sent, or as another sender's copy that got there first.</summary>
    Task<HeldChunk[]> PutChunksAsync(IngestSession session, IReadOnlyList<ChunkUpload> chunks, CancellationToken cancel);

    /// <summary>Makes the image visible, atomically, once every chunk its manifest names is in the store.</summary>
    Task CommitAsync(IngestSession session, byte[] manifest, CancellationToken cancel);

    Task AbortAsync(IngestSession session, CancellationToken cancel);

    Task<ImageManifest> GetManifestAsync(string image, CancellationToken cancel);

    /// <summary>The chunks, in the order asked, each checked only for form; the reader verifies the hash as it decodes.</summary>
    Task<ChunkBlob[]> ReadChunksAsync(string image, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel);

    Task<IReadOnlyList<ImageSummary>> ListAsync(CancellationToken cancel);

    Task DeleteAsync(string image, CancellationToken cancel);

    Task<GcReport> CollectGarbageAsync(CancellationToken cancel);
}
