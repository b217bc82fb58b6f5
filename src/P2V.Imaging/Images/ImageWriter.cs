namespace P2V.Imaging.Images;

/// <summary>
/// Writes an image front to back onto any stream (a file, a pipe, a socket): the header at once, then
/// chunk frames, then on <see cref="Finish"/> the trailer and footer.
/// </summary>
public sealed class ImageWriter : IDisposable
{
    private readonly Stream _output;
    private readonly ImageTrailerWriter _trailer = new();
    private readonly byte[] _frameHeader = new byte[ChunkFrameHeader.LengthFor(ImageFormat.MaxRunsPerChunk)];
    private long _position;

    public ImageWriter(Stream output, ImageHeader header)
    {
        _output = output;
        Write(header.ToBytes());
    }

    public int ChunkCount => _trailer.ChunkCount;
    public long BytesWritten => _position;
    public long TotalUncompressed => _trailer.TotalUncompressed;
    public long TotalStored => _trailer.TotalStored;

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
        _trailer.Add(frameOffset, codec, uncompressedLength, payload.Length, hash, runs);
    }

    /// <summary>Writes the trailer and footer: only now is the image complete.</summary>
    public void Finish(IReadOnlyList<VolumeStats> volumes)
    {
        long trailerOffset = _position;
        var (length, crc) = _trailer.WriteTo(Write, volumes);
        Span<byte> footer = stackalloc byte[ImageFooter.Length];
        new ImageFooter(trailerOffset, length, crc).Write(footer);
        Write(footer);
        _output.Flush();
    }

    private void Write(ReadOnlySpan<byte> data)
    {
        _output.Write(data);
        _position += data.Length;
    }

    public void Dispose() => _trailer.Dispose();
}
