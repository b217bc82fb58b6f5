using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.Images;

/// <summary>Constants and small helpers of the image format (docs/image-format.md).</summary>
public static class ImageFormat
{
    public static ReadOnlySpan<byte> HeaderMagic => "P2VIMAGE"u8;
    public static ReadOnlySpan<byte> FrameMagic => "CHNK"u8;
    public static ReadOnlySpan<byte> TrailerMagic => "INDX"u8;
    public static ReadOnlySpan<byte> FooterMagic => "P2VEND01"u8;

    public const ushort MajorVersion = 1;
    public const ushort MinorVersion = 0;
    public const int DefaultChunkSize = 1 << 20;
    public const int MaxChunkSize = 16 << 20;
    public const int MaxRunsPerChunk = 4096;
    public const int MaxHeaderLength = 256 << 20;
    public const int HashLength = 32;
    /// <summary>1 EiB: far beyond any disk, yet far enough from 2^63 that offset arithmetic cannot overflow.</summary>
    public const long MaxDiskLength = 1L << 60;
}

/// <summary>How a chunk's payload is stored.</summary>
public enum ChunkCodec : byte
{
    Stored = 0,
    Lz4 = 1,
    Zero = 2,
    /// <summary>One Zstandard frame (RFC 8878) declaring its content size (docs/image-format.md, "Codecs").</summary>
    Zstd = 3,
}

/// <summary>What a volume record describes; the values are the image format's.</summary>
public enum VolumeKind : byte
{
    Raw = 0,
    Ntfs = 1,
    Fat12 = 2,
    Fat16 = 3,
    Fat32 = 4,
    DiskMetadata = 255,
}

/// <summary>A little-endian cursor over a span that throws ImageFormatException instead of reading past the end.</summary>
internal ref struct SpanReader(ReadOnlySpan<byte> data, long baseOffset)
{
    private readonly ReadOnlySpan<byte> _data = data;
    public int Position;

    public readonly long FileOffset => baseOffset + Position;
    public readonly int Remaining => _data.Length - Position;

    public ReadOnlySpan<byte> Bytes(int count, string what)
    {
        if (count < 0 || count > Remaining)
            throw new ImageFormatException(FileOffset, $"{what}: needs {count} bytes but only {Remaining} remain");
        var s = _data.Slice(Position, count);
        Position += count;
        return s;
    }

    public byte U8(string what) => Bytes(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Bytes(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Bytes(4, what));
    public long I64(string what)
    {
        var v = BinaryPrimitives.ReadInt64LittleEndian(Bytes(8, what));
        return v >= 0 ? v : throw new ImageFormatException(FileOffset - 8, $"{what}: negative value {v}");
    }
    public string String(string what) => Encoding.UTF8.GetString(Bytes(U16(what), what));
}

/// <summary>
/// The writing twin of <see cref="SpanReader"/>. Without a buffer it only counts, so one piece of code first
/// measures a structure and then writes it into a buffer of exactly that size.
/// </summary>
internal ref struct SpanWriter(Span<byte> data, bool measure)
{
    private readonly Span<byte> _data = data;
    public int Position;

    public static SpanWriter Measuring() => new([], measure: true);

    public void Bytes(ReadOnlySpan<byte> bytes)
    {
        if (!measure) bytes.CopyTo(_data[Position..]);
        Position += bytes.Length;
    }

    public void U8(byte v) { if (!measure) _data[Position] = v; Position += 1; }
    public void U16(ushort v) { if (!measure) BinaryPrimitives.WriteUInt16LittleEndian(_data[Position..], v); Position += 2; }
    public void U32(uint v) { if (!measure) BinaryPrimitives.WriteUInt32LittleEndian(_data[Position..], v); Position += 4; }
    public void I64(long v) { if (!measure) BinaryPrimitives.WriteInt64LittleEndian(_data[Position..], v); Position += 8; }

    /// <summary>Fills in a 32-bit field written earlier (a length known only after what follows it).</summary>
    public readonly void PatchU32(int at, uint v) { if (!measure) BinaryPrimitives.WriteUInt32LittleEndian(_data[at..], v); }

    public void String(string s, string what)
    {
        int length = Encoding.UTF8.GetByteCount(s);
        if (length > ushort.MaxValue) throw new ArgumentException($"{what} is longer than 65535 bytes");
        U16((ushort)length);
        if (!measure) Encoding.UTF8.GetBytes(s, _data[Position..]);
        Position += length;
    }
}
