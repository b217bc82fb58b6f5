using System.Buffers.Binary;
using P2V.Imaging.Images;

namespace P2V.Store.Http;

/// <summary>
/// A chunk on the wire (docs/store-protocol.md, "Chunk records"): 32-byte hash, u8 codec, 3 reserved,
/// u32 uncompressed length, u32 stored length, then the stored bytes. Uploads and reads use the same record.
/// </summary>
public static class ChunkRecord
{
    public const int PrefixLength = 44;

    public static void WritePrefix(Span<byte> dest, ChunkHash hash, ChunkCodec codec, int uncompressedLength, int storedLength)
    {
        hash.WriteTo(dest);
        dest[32] = (byte)codec;
        dest[33] = dest[34] = dest[35] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(dest[36..], uncompressedLength);
        BinaryPrimitives.WriteInt32LittleEndian(dest[40..], storedLength);
    }

    /// <summary>Reads and checks a record's prefix; <paramref name="at"/> (its offset in the body) names it in errors.</summary>
    public static (ChunkHash Hash, ChunkCodec Codec, int UncompressedLength, int StoredLength) ReadPrefix(ReadOnlySpan<byte> prefix, long at)
    {
        var hash = ChunkHash.From(prefix[..32]);
        var codec = (ChunkCodec)prefix[32];
        int length = BinaryPrimitives.ReadInt32LittleEndian(prefix[36..]);
        int stored = BinaryPrimitives.ReadInt32LittleEndian(prefix[40..]);
        if (!Enum.IsDefined(codec) || length is < 1 or > ImageFormat.MaxChunkSize || stored < 0 || stored > length
            || (codec == ChunkCodec.Zero && stored != 0) || (codec == ChunkCodec.Stored && stored != length))
            throw new StoreException($"chunk record at body offset {at}: codec {(byte)codec}, length {length}, stored {stored} do not fit together");
        return (hash, codec, length, stored);
    }
}
