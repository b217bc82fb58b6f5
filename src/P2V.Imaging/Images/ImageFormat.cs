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

    internal static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length > ushort.MaxValue) throw new ArgumentException("string longer than 65535 bytes");
        w.Write((ushort)bytes.Length);
        w.Write(bytes);
    }
}

/// <summary>How a chunk's payload is stored.</summary>
public enum ChunkCodec : byte
{
    Stored = 0,
    Lz4 = 1,
    Zero = 2,
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
