namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A read-only, seekable view of an attribute's value: resident bytes, or non-resident runs read straight
/// from the volume; sparse runs and bytes past the valid data length read as zeros.
/// </summary>
internal sealed class NtfsFileStream(AttributeReader io, AttributeData data) : Stream
{
    private long _position;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => data.DataSize;

    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= data.DataSize) return 0;
        int n = (int)Math.Min(buffer.Length, data.DataSize - _position);
        io.Read(data, _position, buffer[..n]);
        _position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        SeekOrigin.End => data.DataSize + offset,
        _ => throw new ArgumentOutOfRangeException(nameof(origin)),
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException("NTFS files are opened read-only");
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("NTFS files are opened read-only");
}
