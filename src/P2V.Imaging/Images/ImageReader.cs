using System.Buffers;

namespace P2V.Imaging.Images;

/// <summary>A chunk as read from the image: its header and its stored payload (in a pooled buffer the consumer returns).</summary>
public sealed class ChunkFrame(long frameOffset, ChunkFrameHeader header, byte[] payload)
{
    public long FrameOffset { get; } = frameOffset;
    public ChunkFrameHeader Header { get; } = header;

    /// <summary>The stored bytes; its length may exceed Header.StoredLength (it is rented).</summary>
    public byte[] Payload { get; } = payload;

    public void ReturnBuffer() => ArrayPool<byte>.Shared.Return(Payload);
}

/// <summary>
/// Opens an image file: checks the header, the footer and the trailer (so a truncated or corrupt file is
/// refused up front), then reads the chunk frames in file order.
/// </summary>
public sealed class ImageReader : IImageSource, IDisposable
{
    private readonly FileStream _file;

    private ImageReader(FileStream file, ImageHeader header, long headerLength, ImageTrailer trailer, long trailerOffset)
    {
        _file = file;
        Header = header;
        HeaderLength = headerLength;
        Trailer = trailer;
        TrailerOffset = trailerOffset;
    }

    public ImageHeader Header { get; }
    public ImageTrailer Trailer { get; }
    public long HeaderLength { get; }
    public long TrailerOffset { get; }
    public long FileLength => _file.Length;

    public static ImageReader Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        try
        {
            var header = ImageHeader.Read(file);
            long headerLength = file.Position;
            long length = file.Length;
            if (length < headerLength + ImageFooter.Length)
                throw new ImageFormatException(length, "image is incomplete: it ends before its footer (the capture did not finish, or the file was truncated)");
            var footerBytes = new byte[ImageFooter.Length];
            file.Position = length - ImageFooter.Length;
            file.ReadExactly(footerBytes);
            var footer = ImageFooter.Parse(footerBytes, length - ImageFooter.Length, length);
            if (footer.TrailerOffset < headerLength)
                throw new ImageFormatException(length - ImageFooter.Length, $"footer points to a trailer at {footer.TrailerOffset}, inside the header");
            var trailerBytes = new byte[footer.TrailerLength];
            file.Position = footer.TrailerOffset;
            file.ReadExactly(trailerBytes);
            if (Crc32C.Compute(trailerBytes) != footer.TrailerCrc)
                throw new ImageFormatException(footer.TrailerOffset, "trailer CRC-32C mismatch: the chunk index is corrupt");
            var trailer = ImageTrailer.Parse(trailerBytes, footer.TrailerOffset, header.DiskLength);
            file.Position = headerLength;
            return new ImageReader(file, header, headerLength, trailer, footer.TrailerOffset);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads every chunk frame in file order, checking each against its trailer entry. Payload buffers are
    /// rented: the consumer calls <see cref="ChunkFrame.ReturnBuffer"/>.
    /// </summary>
    public IEnumerable<ChunkFrame> ReadFrames(CancellationToken cancel = default)
    {
        _file.Position = HeaderLength;
        var headerBuffer = new byte[ChunkFrameHeader.LengthFor(ImageFormat.MaxRunsPerChunk)];
        long position = HeaderLength;
        for (int i = 0; i < Trailer.Chunks.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var entry = Trailer.Chunks[i];
            if (entry.FrameOffset != position)
                throw new ImageFormatException(position, $"chunk {i}: the index places it at {entry.FrameOffset}, but the previous frame ends here");
            ReadExactly(headerBuffer.AsSpan(0, ChunkFrameHeader.FixedLength), position, "chunk frame header");
            int runs = ChunkFrameHeader.RunCount(headerBuffer, position);
            int headerLength = ChunkFrameHeader.LengthFor(runs);
            ReadExactly(headerBuffer.AsSpan(ChunkFrameHeader.FixedLength, headerLength - ChunkFrameHeader.FixedLength), position + ChunkFrameHeader.FixedLength, "chunk runs");
            var header = ChunkFrameHeader.Parse(headerBuffer.AsSpan(0, headerLength), position, Header.DiskLength);
            if (!header.Hash.AsSpan().SequenceEqual(entry.Hash) || header.StoredLength != entry.StoredLength)
                throw new ImageFormatException(position, $"chunk {i}: frame and index disagree (hash or length)");
            long payloadAt = position + headerLength;
            if (payloadAt + header.StoredLength > TrailerOffset)
                throw new ImageFormatException(payloadAt, $"chunk {i}: payload of {header.StoredLength} bytes runs into the trailer");
            var payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, header.StoredLength));
            ReadExactly(payload.AsSpan(0, header.StoredLength), payloadAt, "chunk payload");
            position = payloadAt + header.StoredLength;
            yield return new ChunkFrame(entry.FrameOffset, header, payload);
        }
        if (position != TrailerOffset)
            throw new ImageFormatException(position, $"{TrailerOffset - position} unexpected bytes between the last chunk and the trailer");
    }

    private void ReadExactly(Span<byte> buffer, long offset, string what)
    {
        if (_file.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false) < buffer.Length)
            throw new ImageFormatException(offset, $"image truncated inside a {what}");
    }

    public void Dispose() => _file.Dispose();
}
