using System.Buffers;

namespace P2V.Imaging.Images;

/// <summary>
/// Writes an image front to back onto any stream (a file, a pipe, a socket): the header at once, then
/// chunk frames, then on <see cref="Finish"/> the trailer and footer. The trailer's chunk entries are
/// spilled to a temporary file as they come, so memory stays flat however large the disk.
/// </summary>
public sealed class ImageWriter : IDisposable
{
    private readonly Stream _output;
    private readonly FileStream _entries;
    private readonly byte[] _frameHeader = new byte[ChunkFrameHeader.LengthFor(ImageFormat.MaxRunsPerChunk)];
    private readonly byte[] _entry = new byte[ChunkEntry.LengthFor(ImageFormat.MaxRunsPerChunk)];
    private long _position;

    public ImageWriter(Stream output, ImageHeader header)
    {
        _output = output;
        _entries = new FileStream(Path.Combine(Path.GetTempPath(), $"p2v-index-{Guid.NewGuid():N}.tmp"),
            FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        var bytes = header.ToBytes();
        Write(bytes);
    }

    public int ChunkCount { get; private set; }
    public long BytesWritten => _position;
    public long TotalUncompressed { get; private set; }
    public long TotalStored { get; private set; }

    public void WriteChunk(ChunkCodec codec, int uncompressedLength, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> hash, ReadOnlySpan<ChunkRun> runs)
    {
        var header = new ChunkFrameHeader
        {
            Codec = codec,
            UncompressedLength = uncompressedLength,
            StoredLength = payload.Length,
            Hash = hash.ToArray(),
            Runs = runs.ToArray(),
        };
        var span = _frameHeader.AsSpan(0, header.Length);
        header.Write(span);
        long frameOffset = _position;
        Write(span);
        Write(payload);

        // The trailer entry, spilled now and copied into the trailer by Finish.
        var entry = _entry.AsSpan(0, ChunkEntry.LengthFor(runs.Length));
        ChunkEntry.Write(entry, frameOffset, payload.Length, uncompressedLength, codec, hash, runs);
        _entries.Write(entry);

        ChunkCount++;
        TotalUncompressed += uncompressedLength;
        TotalStored += payload.Length;
    }

    /// <summary>Writes the trailer and footer: only now is the image complete.</summary>
    public void Finish(IReadOnlyList<VolumeStats> volumes)
    {
        long trailerOffset = _position;
        uint crc = 0;
        void Emit(ReadOnlySpan<byte> data) { crc = Crc32C.Append(crc, data); Write(data); }

        Span<byte> head = stackalloc byte[ImageTrailer.HeadLength];
        ImageTrailer.WriteHead(head, ChunkCount, volumes.Count);
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

        Span<byte> v = stackalloc byte[ImageTrailer.VolumeStatsLength];
        foreach (var stats in volumes)
        {
            ImageTrailer.WriteVolume(v, stats);
            Emit(v);
        }
        Span<byte> totals = stackalloc byte[ImageTrailer.TotalsLength];
        ImageTrailer.WriteTotals(totals, TotalUncompressed, TotalStored);
        Emit(totals);

        Span<byte> footer = stackalloc byte[ImageFooter.Length];
        new ImageFooter(trailerOffset, _position - trailerOffset, crc).Write(footer);
        Write(footer);
        _output.Flush();
    }

    private void Write(ReadOnlySpan<byte> data)
    {
        _output.Write(data);
        _position += data.Length;
    }

    public void Dispose() => _entries.Dispose();
}
