using System.Buffers;

namespace P2V.Imaging.Images;

/// <summary>
/// A chunk as read from the image: its header and its stored payload, which lies in a pooled buffer (at
/// <paramref name="payloadStart"/>: an image file's frame is read whole, header and payload) the consumer returns.
/// </summary>
public sealed class ChunkFrame(long frameOffset, ChunkFrameHeader header, byte[] buffer, int payloadStart = 0)
{
    public long FrameOffset { get; } = frameOffset;
    public ChunkFrameHeader Header { get; } = header;

    /// <summary>The stored bytes (Header.StoredLength of them).</summary>
    public ReadOnlySpan<byte> Payload => buffer.AsSpan(payloadStart, Header.StoredLength);

    public void ReturnBuffer() => ArrayPool<byte>.Shared.Return(buffer);
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
        // Unbuffered: each frame is read whole by one pread into the buffer it is decoded from (a FileStream's buffer
        // would be a second copy of every byte).
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 0, FileOptions.SequentialScan);
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
        long position = HeaderLength;
        for (int i = 0; i < Trailer.Chunks.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            // The trailer entry tells the frame's length (its run count and stored length): header and payload in one read.
            int length = FrameLength(i, position, withPayload: true);
            var buffer = ArrayPool<byte>.Shared.Rent(length);
            ChunkFrameHeader header;
            try
            {
                ReadAt(buffer.AsSpan(0, length), position, i);
                header = ParseFrame(i, position, buffer.AsSpan(0, length));
            }
            catch
            {
                ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
            yield return new ChunkFrame(position, header, buffer, header.Length);
            position += header.Length + header.StoredLength;
        }
        if (position != TrailerOffset)
            throw new ImageFormatException(position, $"{TrailerOffset - position} unexpected bytes between the last chunk and the trailer");
    }

    /// <summary>
    /// Reads only the frame headers, skipping the payloads, and checks each against its trailer entry: a restore onto
    /// an existing disk calls this first, so that an image whose structure is damaged is refused before the first write.
    /// </summary>
    public void CheckFrameHeaders(CancellationToken cancel = default)
    {
        // Headers one payload apart: read through a 1 MiB window, not a small read per frame.
        var window = new byte[1 << 20];
        long windowAt = 0;
        int windowLength = 0;
        long position = HeaderLength;
        for (int i = 0; i < Trailer.Chunks.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            int length = FrameLength(i, position, withPayload: false);
            if (position < windowAt || position + length > windowAt + windowLength)
            {
                // FrameLength checked that the header ends before the trailer, and a header is far below 1 MiB.
                (windowAt, windowLength) = (position, (int)Math.Min(window.Length, TrailerOffset - position));
                ReadAt(window.AsSpan(0, windowLength), position, i);
            }
            var header = ParseFrame(i, position, window.AsSpan((int)(position - windowAt), length));
            position += header.Length + header.StoredLength;
        }
        if (position != TrailerOffset)
            throw new ImageFormatException(position, $"{TrailerOffset - position} unexpected bytes between the last chunk and the trailer");
    }

    /// <summary>
    /// How many bytes frame <paramref name="i"/>, at <paramref name="position"/>, takes by its trailer entry: its header,
    /// and its payload when <paramref name="withPayload"/>; checks that the index places it there and that it ends before the trailer.
    /// </summary>
    private int FrameLength(int i, long position, bool withPayload)
    {
        var entry = Trailer.Chunks[i];
        if (entry.FrameOffset != position)
            throw new ImageFormatException(position, $"chunk {i}: the index places it at {entry.FrameOffset}, but the previous frame ends here");
        int headerLength = ChunkFrameHeader.LengthFor(entry.Runs.Length);
        if (position + headerLength + entry.StoredLength > TrailerOffset)
            throw new ImageFormatException(position, $"chunk {i}: its frame of {headerLength + entry.StoredLength} bytes runs into the trailer");
        return headerLength + (withPayload ? entry.StoredLength : 0);
    }

    /// <summary>Frame <paramref name="i"/>'s header from the bytes read at <paramref name="position"/>, checked against its trailer entry.</summary>
    private ChunkFrameHeader ParseFrame(int i, long position, ReadOnlySpan<byte> read)
    {
        var entry = Trailer.Chunks[i];
        int headerLength = ChunkFrameHeader.LengthFor(entry.Runs.Length);
        int frameHeaderLength = ChunkFrameHeader.LengthFor(ChunkFrameHeader.RunCount(read, position));
        // More runs than the trailer's: refused by length, before any of them is parsed (they would lie past the header read).
        if (frameHeaderLength > headerLength)
            throw new ImageFormatException(position, $"chunk {i}: the frame and the trailer disagree: the frame's header is {frameHeaderLength} bytes, the trailer's runs make {headerLength}");
        var header = ChunkFrameHeader.Parse(read[..frameHeaderLength], position, Header.DiskLength);
        if (entry.DifferenceFrom(header) is { } difference)
            throw new ImageFormatException(position, $"chunk {i}: the frame and the trailer disagree: {difference}");
        return header;
    }

    private void ReadAt(Span<byte> buffer, long position, int i)
    {
        for (int done = 0, n; done < buffer.Length; done += n)
            if ((n = RandomAccess.Read(_file.SafeFileHandle, buffer[done..], position + done)) == 0)
                throw new ImageFormatException(position + done, $"image truncated inside chunk {i}'s frame");
    }

    public void Dispose() => _file.Dispose();
}
