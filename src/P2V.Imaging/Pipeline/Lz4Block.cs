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
    private static readonly delegate* unmanaged<byte*, byte*, int, int, int> NativeCompress = LoadNative("LZ4_compress_default");

    // Restore and verify decode every chunk: under NativeAOT (a baseline x86-64 target) the managed decoder took 11% of a
    // restore's CPU samples, liblz4's 9% (docs/virtual-disks.md, "Benchmark"); and it is the reference implementation.
    private static readonly delegate* unmanaged<byte*, byte*, int, int, int> NativeDecompress = LoadNative("LZ4_decompress_safe");

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
    public static int Decompress(ReadOnlySpan<byte> source, Span<byte> target)
    {
        if (NativeDecompress == null) return LZ4Codec.Decode(source, target);
        // LZ4_decompress_safe(src, dst, compressedSize, dstCapacity), lz4.h: never reads or writes outside the two
        // buffers whatever the input, and returns the bytes written, or a negative number for malformed input.
        fixed (byte* s = source)
        fixed (byte* t = target)
            return NativeDecompress(s, t, source.Length, target.Length);
    }

    private static delegate* unmanaged<byte*, byte*, int, int, int> LoadNative(string export)
    {
        if (Environment.GetEnvironmentVariable("P2V_LZ4") == "managed") return null;
        if (!NativeLibrary.TryLoad("liblz4.so.1", out var lib)) return null;
        // LZ4_compress_default and LZ4_decompress_safe(const char* src, char* dst, int srcSize, int dstCapacity), lz4.h since 1.7.
        return NativeLibrary.TryGetExport(lib, export, out var f) ? (delegate* unmanaged<byte*, byte*, int, int, int>)f : null;
    }
}
