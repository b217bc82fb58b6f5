using System.Buffers;
using System.Buffers.Binary;

namespace P2V.Imaging.Images;

/// <summary>
/// Collects the trailer's chunk entries as chunks are written (spilled to a temporary file, so memory
/// stays flat however large the disk) and emits the trailer (docs/image-format.md, "Trailer"). Shared by
/// the image file writer and the image store's manifest writer.
/// </summary>
public sealed class ImageTrailerWriter : IDisposable
{
    private readonly FileStream _entries = new(Path.Combine(Path.GetTempPath(), $"p2v-index-{Guid.NewGuid():N}.tmp"),
        FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);

    public int ChunkCount { get; private set; }
    public long TotalUncompressed { get; private set; }
    public long TotalStored { get; private set; }

    public void Add(long frameOffset, ChunkCodec codec, int uncompressedLength, int storedLength, ReadOnlySpan<byte> hash, ReadOnlySpan<ChunkRun> runs)
    {
        // The entry's layout lives in ChunkEntry, beside its parser.
        int length = ChunkEntry.LengthFor(runs.Length);
        Span<byte> entry = length <= 1024 ? stackalloc byte[length] : new byte[length];
        ChunkEntry.Write(entry, frameOffset, storedLength, uncompressedLength, codec, hash, runs);
        _entries.Write(entry);
        ChunkCount++;
        TotalUncompressed += uncompressedLength;
        TotalStored += storedLength;
    }

    /// <summary>Emits the whole trailer through <paramref name="write"/>; returns its length and CRC-32C (for the footer).</summary>
    public (long Length, uint Crc) WriteTo(Action<ReadOnlySpan<byte>> write, IReadOnlyList<VolumeStats> volumes)
    {
        long length = 0;
        uint crc = 0;
        void Emit(ReadOnlySpan<byte> data) { crc = Crc32C.Append(crc, data); length += data.Length; write(data); }

        Span<byte> head = stackalloc byte[12];
        ImageFormat.TrailerMagic.CopyTo(head);
        BinaryPrimitives.WriteInt32LittleEndian(head[4..], ChunkCount);
        BinaryPrimitives.WriteInt32LittleEndian(head[8..], volumes.Count);
        Emit(head);

        _entries.Flush();
        _entries.Position = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int n;
            while ((n = _entries.Read(buffer, 0, buffer.Length)) > 0) Emit(buffer.AsSpan(0, n));
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }

        Span<byte> v = stackalloc byte[36];
        foreach (var s in volumes)
        {
            BinaryPrimitives.WriteInt32LittleEndian(v, s.VolumeIndex);
            BinaryPrimitives.WriteInt64LittleEndian(v[4..], s.DeclaredUsedBytes);
            BinaryPrimitives.WriteInt64LittleEndian(v[12..], s.BytesRead);
            BinaryPrimitives.WriteInt64LittleEndian(v[20..], s.BytesCaptured);
            BinaryPrimitives.WriteInt64LittleEndian(v[28..], s.ZeroBytesSkipped);
            Emit(v);
        }
        Span<byte> totals = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(totals, TotalUncompressed);
        BinaryPrimitives.WriteInt64LittleEndian(totals[8..], TotalStored);
        Emit(totals);
        return (length, crc);
    }

    public void Dispose() => _entries.Dispose();
}
