using System.Buffers;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;

namespace P2V.Store;

/// <summary>
/// A captured chunk waiting in a store capture's batch: its bytes copied out of the pipeline's buffer into the
/// capture's own pool, so the pipeline gets its buffer back at once. Holding the pipeline's buffers for two batches
/// (hundreds of chunks) overflowed the shared array pool, and every chunk then cost fresh large-object-heap arrays:
/// the client's memory grew to ~600-700 MB. The capture's pool keeps what two batches need and reuses it.
/// </summary>
internal sealed class PendingChunk
{
    private readonly ArrayPool<byte> _pool;
    private byte[] _data;
    private byte[] _stored = [];

    public PendingChunk(CapturedChunk chunk, ArrayPool<byte> pool)
    {
        _pool = pool;
        UncompressedLength = chunk.UncompressedLength;
        _data = pool.Rent(UncompressedLength);
        chunk.Bytes.CopyTo(_data);
        Hash = chunk.Hash.ToArray();
        Runs = chunk.DiskRuns.ToArray();
    }

    public int UncompressedLength { get; }
    public byte[] Hash { get; }
    public ChunkRun[] Runs { get; }
    public ChunkCodec Codec { get; private set; }
    public int StoredLength { get; private set; }

    /// <summary>Room left in front of the stored form, for the chunk record's prefix (docs/store-protocol.md, "Endpoints").</summary>
    private const int Headroom = Http.ChunkRecord.PrefixLength;

    /// <summary>The stored form, after <see cref="Compress"/>; valid until <see cref="Release"/>.</summary>
    public ReadOnlyMemory<byte> Stored => _stored.Length == 0 ? default : _stored.AsMemory(Headroom, StoredLength);

    /// <summary>The record's prefix room and the stored form behind it, so that the record goes out in one write; empty when nothing is stored.</summary>
    public Memory<byte> Record => _stored.Length == 0 ? default : _stored.AsMemory(0, Headroom + StoredLength);

    /// <summary>As the capture pipeline does it: nothing for an all-zero chunk, else LZ4 or zstd as <paramref name="codecs"/> picks, or the bytes as they are.</summary>
    public void Compress(CodecChooser codecs)
    {
        var data = _data.AsSpan(0, UncompressedLength);
        if (!data.ContainsAnyExcept((byte)0))
        {
            (Codec, StoredLength) = (ChunkCodec.Zero, 0);
            return;
        }
        // Compressed again after a broken send: the same buffer.
        if (_stored.Length == 0) _stored = _pool.Rent(Headroom + ChunkEncoder.MaxStoredLength(UncompressedLength));
        (Codec, StoredLength) = codecs.Compress(data, _stored.AsSpan(Headroom));
    }

    public void Release()
    {
        if (_data.Length > 0) _pool.Return(_data);
        if (_stored.Length > 0) _pool.Return(_stored);
        _data = _stored = [];
    }
}
