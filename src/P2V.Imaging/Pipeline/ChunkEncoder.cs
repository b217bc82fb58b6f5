using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>Turns a chunk's bytes into its stored form and back: zero detection, LZ4 (Lz4Block), BLAKE3.</summary>
public static class ChunkEncoder
{
    public static int MaxStoredLength(int length) => Lz4Block.MaxCompressedLength(length);

    /// <summary>Hashes <paramref name="data"/> into <paramref name="hash"/>, then picks the codec and fills <paramref name="stored"/>; returns the codec and the stored length.</summary>
    public static (ChunkCodec Codec, int StoredLength) Encode(ReadOnlySpan<byte> data, Span<byte> stored, Span<byte> hash)
    {
        if (!data.ContainsAnyExcept((byte)0))
        {
            // Zero chunks are common (pagefiles, preallocated files): a full one's hash is computed once.
            if (data.Length == ImageFormat.DefaultChunkSize) ZeroChunkHash.CopyTo(hash);
            else Hash(data, hash);
            return (ChunkCodec.Zero, 0);
        }
        Hash(data, hash);
        int n = Lz4Block.Compress(data, stored);
        if (n > 0 && n < data.Length) return (ChunkCodec.Lz4, n);
        data.CopyTo(stored);
        return (ChunkCodec.Stored, data.Length);
    }

    /// <summary>Restores a chunk's bytes into <paramref name="output"/> and checks them against the recorded hash.</summary>
    public static void Decode(ChunkFrameHeader header, ReadOnlySpan<byte> stored, Span<byte> output, long frameOffset)
    {
        switch (header.Codec)
        {
            case ChunkCodec.Zero:
                output.Clear();
                break;
            case ChunkCodec.Stored:
                stored.CopyTo(output);
                break;
            case ChunkCodec.Lz4:
                int n = Lz4Block.Decompress(stored, output);
                if (n != output.Length)
                    throw new ImageFormatException(frameOffset, $"chunk payload does not decompress to its {output.Length} bytes (LZ4 data corrupt)");
                break;
        }
        Span<byte> actual = stackalloc byte[ImageFormat.HashLength];
        if (header.Codec == ChunkCodec.Zero && output.Length == ImageFormat.DefaultChunkSize) ZeroChunkHash.CopyTo(actual);
        else Hash(output, actual);
        if (!actual.SequenceEqual(header.Hash))
            throw new ImageFormatException(frameOffset, $"chunk at disk offset {header.Runs[0].DiskOffset}: BLAKE3 hash mismatch, the chunk's data is corrupt");
    }

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> hash) => Blake3.Hasher.Hash(data, hash);

    private static readonly byte[] ZeroChunkHash = HashOfZeros(ImageFormat.DefaultChunkSize);

    private static byte[] HashOfZeros(int length)
    {
        var hash = new byte[ImageFormat.HashLength];
        Hash(new byte[length], hash);
        return hash;
    }
}
