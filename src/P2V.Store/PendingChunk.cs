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

    /// <summary>The stored form, after <see cref="Compress"/>; valid until <see cref="Release"/>.</summary>
    public ReadOnlyMemory<byte> Stored => _stored.AsMemory(0, StoredLength);

    /// <summary>As the capture pipeline does it: nothing for an all-zero chunk, else LZ4 or zstd as <paramref name="codecs"/> picks, or the bytes as they are.</summary>
    public void Compress(CodecChooser codecs)
    {
        var data = _data.AsSpan(0, UncompressedLength);
        if (!data.ContainsAnyExcept((byte)0))
        {
            (Codec, StoredLength) = (ChunkCodec.Zero, 0);
            return;
        }
        _stored = _pool.Rent(ChunkEncoder.MaxStoredLength(UncompressedLength));
        (Codec, StoredLength) = codecs.Compress(data, _stored);
    }

    public void Release()
    {
        if (_data.Length > 0) _pool.Return(_data);
        if (_stored.Length > 0) _pool.Return(_stored);
        _data = _stored = [];
    }
}
