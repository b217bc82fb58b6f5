using System.Runtime.InteropServices;
using K4os.Compression.LZ4;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// LZ4 block compression at the fastest standard level. Both compressors below emit the LZ4 block format
/// (lz4_Block_format.md), and K4os.Compression.LZ4 decodes either: the system's liblz4 (Debian's liblz4-1,
/// present wherever apt is) where it loads, since it compresses executables 20–25% faster than the managed
/// port and compression is most of a capture's CPU time; K4os everywhere else.
/// </summary>
public static unsafe class Lz4Block
{
    private static readonly delegate* unmanaged<byte*, byte*, int, int, int> NativeCompress = LoadNative();

    /// <summary>Whether the system's liblz4 does the compressing.</summary>
    public static bool IsNative => NativeCompress != null;

    public static int MaxCompressedLength(int length) => LZ4Codec.MaximumOutputSize(length);

    /// <summary>Compresses <paramref name="source"/>; returns the compressed length, or 0 or less when it does not fit <paramref name="target"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> target)
    {
        if (NativeCompress == null) return LZ4Codec.Encode(source, target, LZ4Level.L00_FAST);
        fixed (byte* s = source)
        fixed (byte* t = target)
            return NativeCompress(s, t, source.Length, target.Length);
    }

    /// <summary>Decompresses exactly <paramref name="target"/>.Length bytes; returns the length produced (negative on corrupt input).</summary>
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> target) => LZ4Codec.Decode(source, target);

    private static delegate* unmanaged<byte*, byte*, int, int, int> LoadNative()
    {
        if (Environment.GetEnvironmentVariable("P2V_LZ4") == "managed") return null;
        if (!NativeLibrary.TryLoad("liblz4.so.1", out var lib)) return null;
        // LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity), lz4.h since 1.7.
        return NativeLibrary.TryGetExport(lib, "LZ4_compress_default", out var f) ? (delegate* unmanaged<byte*, byte*, int, int, int>)f : null;
    }
}
