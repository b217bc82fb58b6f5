namespace P2V.Netboot.Tftp;

/// <summary>
/// Netascii mode (RFC 1350 §1 and RFC 764): a line end is sent as CR LF and a bare CR as CR NUL.
/// Wraps the file and produces the converted bytes; the file's own line ends are Unix LF.
/// </summary>
internal sealed class NetasciiReader(Stream inner) : Stream
{
    private readonly byte[] _in = new byte[16 * 1024];
    private int _inPos, _inLen;
    private int _pending = -1; // second byte of a pair that did not fit the caller's buffer

    public override int Read(Span<byte> buffer)
    {
        int n = 0;
        while (n < buffer.Length)
        {
            if (_pending >= 0) { buffer[n++] = (byte)_pending; _pending = -1; continue; }
            if (_inPos == _inLen)
            {
                _inLen = inner.Read(_in);
                _inPos = 0;
                if (_inLen == 0) break;
            }
            byte b = _in[_inPos++];
            if (b == (byte)'\n') { buffer[n++] = (byte)'\r'; _pending = '\n'; }
            else if (b == (byte)'\r') { buffer[n++] = (byte)'\r'; _pending = 0; }
            else buffer[n++] = b;
        }
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    protected override void Dispose(bool disposing) { if (disposing) inner.Dispose(); base.Dispose(disposing); }
}
