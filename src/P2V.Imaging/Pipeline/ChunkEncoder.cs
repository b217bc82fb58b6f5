using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>Turns a chunk's bytes into its stored form and back: zero detection, LZ4 (Lz4Block) or zstd (ZstdBlock), BLAKE3.</summary>
public static class ChunkEncoder
{
    public static int MaxStoredLength(int length) => Math.Max(Lz4Block.MaxCompressedLength(length), ZstdBlock.MaxCompressedLength(length));

    /// <summary>Hashes <paramref name="data"/> into <paramref name="hash"/>, then picks the codec and fills <paramref name="stored"/>; returns the codec and the stored length.</summary>
    public static (ChunkCodec Codec, int StoredLength) Encode(ReadOnlySpan<byte> data, Span<byte> stored, Span<byte> hash, ChunkCodec codec = ChunkCodec.Lz4) =>
        Analyze(data, hash) ? (ChunkCodec.Zero, 0) : Compress(data, stored, codec);

    /// <summary>Hashes <paramref name="data"/> into <paramref name="hash"/>; returns whether it is all zeros (codec Zero, nothing to store).</summary>
    public static bool Analyze(ReadOnlySpan<byte> data, Span<byte> hash)
    {
        if (!data.ContainsAnyExcept((byte)0))
        {
            // Zero chunks are common (pagefiles, preallocated files): a full one's hash is computed once.
            ZeroHash(data, hash);
            return true;
        }
        Hash(data, hash);
        return false;
    }

    /// <summary>
    /// Compresses a chunk that is not all zeros: with <paramref name="codec"/> (LZ4, or zstd at <paramref name="zstdLevel"/>)
    /// when that makes it smaller, else stored as is. The level is not recorded: a zstd frame decodes the same at every level.
    /// </summary>
    public static (ChunkCodec Codec, int StoredLength) Compress(ReadOnlySpan<byte> data, Span<byte> stored, ChunkCodec codec = ChunkCodec.Lz4,
        int zstdLevel = ZstdBlock.DefaultLevel)
    {
        int n = codec switch
        {
            ChunkCodec.Lz4 => Lz4Block.Compress(data, stored),
            ChunkCodec.Zstd => ZstdBlock.Compress(data, stored, zstdLevel),
            _ => throw new ArgumentOutOfRangeException(nameof(codec), codec, "not a compressing codec"),
        };
        if (n > 0 && n < data.Length) return (codec, n);
        data.CopyTo(stored);
        return (ChunkCodec.Stored, data.Length);
    }

    /// <summary>Restores a chunk's bytes into <paramref name="output"/> and checks them against the recorded hash.</summary>
    public static void Decode(ChunkFrameHeader header, ReadOnlySpan<byte> stored, Span<byte> output, long frameOffset)
    {
        if (!TryDecode(header.Codec, stored, output, header.Hash, out string? error))
            throw new ImageFormatException(frameOffset, $"chunk at disk offset {header.Runs[0].DiskOffset}: {error}");
    }

    /// <summary>Restores a chunk's bytes and checks its BLAKE3; on failure says why (for callers with their own error type).</summary>
    public static bool TryDecode(ChunkCodec codec, ReadOnlySpan<byte> stored, Span<byte> output, ReadOnlySpan<byte> expectedHash, out string? error)
    {
        error = null;
        switch (codec)
        {
            case ChunkCodec.Zero when stored.Length == 0:
                output.Clear();
                break;
            case ChunkCodec.Stored when stored.Length == output.Length:
                stored.CopyTo(output);
                break;
            case ChunkCodec.Lz4 when stored.Length <= output.Length:
                if (Lz4Block.Decompress(stored, output) != output.Length)
                {
                    error = $"payload does not decompress to its {output.Length} bytes (LZ4 data corrupt)";
                    return false;
                }
                break;
            case ChunkCodec.Zstd when stored.Length <= output.Length:
                if (!ZstdBlock.TryDecompress(stored, output, out error)) return false;
                break;
            default:
                error = $"a stored length of {stored.Length} bytes does not fit codec {codec} and length {output.Length}";
                return false;
        }
        Span<byte> actual = stackalloc byte[ImageFormat.HashLength];
        if (codec == ChunkCodec.Zero) ZeroHash(output, actual);
        else Hash(output, actual);
        if (!actual.SequenceEqual(expectedHash))
        {
            error = "BLAKE3 hash mismatch, the chunk's data is corrupt";
            return false;
        }
        return true;
    }

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> hash) => Blake3.Hash(data, hash);

    // Zero chunks come at the chunkers' maximum sizes (powers of two): their hashes are cached.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte[]> ZeroHashes = new();

    private static void ZeroHash(ReadOnlySpan<byte> zeros, Span<byte> hash)
    {
        if (!int.IsPow2(zeros.Length) || zeros.Length < 4096)
        {
            Hash(zeros, hash);
            return;
        }
        ZeroHashes.GetOrAdd(zeros.Length, n =>
        {
            var h = new byte[ImageFormat.HashLength];
            Hash(new byte[n], h);
            return h;
        }).CopyTo(hash);
    }
}
