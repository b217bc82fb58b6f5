using System.Buffers.Binary;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;

namespace P2V.Store;

/// <summary>
/// A chunk as the store keeps it, under its BLAKE3 hash (docs/store-protocol.md, "Chunk objects"):
/// u8 codec, u8 reserved, u16 reserved, u32 uncompressed length, then the stored bytes.
/// </summary>
public readonly record struct ChunkBlob(ChunkCodec Codec, int UncompressedLength, ReadOnlyMemory<byte> Stored)
{
    public const int PrefixLength = 8;

    /// <summary>
    /// When <see cref="Stored"/> lies at the start of an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/>:
    /// that array, which whoever consumes the blob may return to the pool (or hand on). Null for any other memory.
    /// </summary>
    public byte[]? Rented { get; init; }

    public int Length => PrefixLength + Stored.Length;

    public void Write(Span<byte> dest)
    {
        WritePrefix(dest);
        Stored.Span.CopyTo(dest[PrefixLength..]);
    }

    /// <summary>The object's first <see cref="PrefixLength"/> bytes: codec, reserved, uncompressed length.</summary>
    public void WritePrefix(Span<byte> dest)
    {
        dest[0] = (byte)Codec;
        dest[1] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(dest[2..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(dest[4..], UncompressedLength);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        Write(bytes);
        return bytes;
    }

    /// <summary>Parses a blob read back from a backend; <paramref name="key"/> names it in errors.</summary>
    public static ChunkBlob Parse(ReadOnlyMemory<byte> data, string key) => Parse(data, key, data.Length - PrefixLength);

    /// <summary>Parses a blob's prefix; <paramref name="storedLength"/> is its payload's length (when <paramref name="data"/> holds only the prefix, from the object's size).</summary>
    public static ChunkBlob Parse(ReadOnlyMemory<byte> data, string key, long storedLength)
    {
        var span = data.Span;
        if (span.Length < PrefixLength) throw new StoreException($"chunk {key}: {span.Length} bytes, shorter than its {PrefixLength}-byte prefix");
        var codec = (ChunkCodec)span[0];
        int length = BinaryPrimitives.ReadInt32LittleEndian(span[4..]);
        if (!Enum.IsDefined(codec) || length is < 1 or > ImageFormat.MaxChunkSize || storedLength < 0 || storedLength > ChunkEncoder.MaxStoredLength(length))
            throw new StoreException($"chunk {key}: corrupt prefix (codec {(byte)codec}, length {length}, stored {storedLength})");
        return new ChunkBlob(codec, length, data[PrefixLength..]);
    }

    /// <summary>Decompresses into <paramref name="output"/> (UncompressedLength bytes) and checks the hash; throws a StoreException naming the chunk otherwise.</summary>
    public void Verify(ReadOnlySpan<byte> expectedHash, Span<byte> output)
    {
        if (!ChunkEncoder.TryDecode(Codec, Stored.Span, output[..UncompressedLength], expectedHash, out var error))
            throw new StoreException($"chunk {Convert.ToHexStringLower(expectedHash)}: {error}");
    }
}

/// <summary>Something in the store, or said to it, is wrong: a one-line reason naming the object.</summary>
public class StoreException(string message) : IOException(message);

/// <summary>The store could not be reached, the connection broke or the server failed (5xx): worth trying again.</summary>
public sealed class StoreConnectionException(string message) : StoreException(message)
{
    public StoreConnectionException(string message, Exception inner) : this($"{message}: {inner.Message}") { }
}

/// <summary>The image named does not exist (or is not committed).</summary>
public sealed class ImageNotFoundException(string name) : StoreException($"image '{name}' is not in the store");

/// <summary>The request conflicts with the store's state (an image that exists already, a garbage collection under way).</summary>
public sealed class StoreConflictException(string message) : StoreException(message);
