using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using ZstdSharp;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// One chunk as one Zstandard frame (RFC 8878) with its content size in the header: at level 1, the fastest of the
/// standard levels, unless a capture's codec chooser climbs higher for a slow link (the level is not in the frame's format:
/// every level decodes alike). Like <see cref="Lz4Block"/>: the system's libzstd (Debian's libzstd1, which apt itself
/// needs, so it is present wherever apt is) where it loads, ZstdSharp.Port (a managed port of the same library)
/// everywhere else; both write and read the same frames. P2V_ZSTD=managed forces the port (for the bench).
/// Contexts are kept for reuse (creating one per chunk costs more than compressing a 64 KiB chunk) in pools, so that
/// as many exist as compressions ever ran at once: one per thread grew with every thread-pool thread that ever
/// compressed (about a MiB each), and a boot agent in 120 MiB ran out of memory under a slow store.
/// </summary>
public static unsafe class ZstdBlock
{
    public const int DefaultLevel = 1;

    /// <summary>The highest level a caller may ask for (zstd.h's ZSTD_maxCLevel).</summary>
    public const int MaxLevel = 22;

    private static readonly Native? Lib = Native.Load();

    private static readonly ConcurrentStack<nint> Cctxs = new(), Dctxs = new();
    private static readonly ConcurrentStack<Compressor> Compressors = new();
    private static readonly ConcurrentStack<Decompressor> Decompressors = new();

    /// <summary>Whether the system's libzstd does the work.</summary>
    public static bool IsNative => Lib is not null;

    /// <summary>ZSTD_COMPRESSBOUND (zstd.h): the most a frame of <paramref name="length"/> bytes can take.</summary>
    public static int MaxCompressedLength(int length) =>
        length + (length >> 8) + (length < (128 << 10) ? ((128 << 10) - length) >> 11 : 0);

    /// <summary>Compresses <paramref name="source"/> into one frame; returns its length, or 0 when it does not fit <paramref name="target"/>.</summary>
    public static int Compress(ReadOnlySpan<byte> source, Span<byte> target, int level = DefaultLevel)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(level);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(level, MaxLevel);
        if (Lib is { } lib)
        {
            if (!Cctxs.TryPop(out nint cctx)) cctx = lib.CreateCCtx();
            try
            {
                fixed (byte* s = source)
                fixed (byte* t = target)
                {
                    nuint n = lib.CompressCCtx(cctx, t, (nuint)target.Length, s, (nuint)source.Length, level);
                    return lib.IsError(n) != 0 ? 0 : (int)n;
                }
            }
            finally { Cctxs.Push(cctx); }
        }
        // One pool for every level, as for the system library's contexts: a context keeps the largest tables it needed
        // (3.6 MiB at level 9), and one per level per worker would hold them all (the boot agent runs the port).
        if (!Compressors.TryPop(out var compressor)) compressor = new Compressor(level);
        try
        {
            if (compressor.Level != level) compressor.Level = level;
            return compressor.TryWrap(source, target, out int written) ? written : 0;
        }
        finally { Compressors.Push(compressor); }
    }

    /// <summary>
    /// Decodes one frame into exactly <paramref name="target"/>.Length bytes after checking its header
    /// (<see cref="ZstdFrameHeader"/>); false with a one-line reason on anything else, never an exception.
    /// </summary>
    public static bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> target, out string? error)
    {
        if (ZstdFrameHeader.TryParse(source, out error) is not { } header) return false;
        if (header.ContentSize != (ulong)target.Length)
        {
            error = $"zstd frame declares {header.ContentSize} bytes, the chunk holds {target.Length}";
            return false;
        }
        long produced;
        if (Lib is { } lib)
        {
            if (!Dctxs.TryPop(out nint dctx)) dctx = lib.CreateDCtx();
            try
            {
                fixed (byte* s = source)
                fixed (byte* t = target)
                {
                    nuint n = lib.DecompressDCtx(dctx, t, (nuint)target.Length, s, (nuint)source.Length);
                    if (lib.IsError(n) != 0)
                    {
                        error = $"zstd data corrupt ({Marshal.PtrToStringUTF8(lib.GetErrorName(n))})";
                        return false;
                    }
                    produced = (long)n;
                }
            }
            finally { Dctxs.Push(dctx); }
        }
        else
        {
            if (!Decompressors.TryPop(out var decompressor)) decompressor = new Decompressor();
            try { produced = decompressor.TryUnwrap(source, target, out int written) ? written : -1; }
            catch (ZstdException e)
            {
                error = $"zstd data corrupt ({e.Message})";
                return false;
            }
            finally { Decompressors.Push(decompressor); }
        }
        if (produced != target.Length)
        {
            error = $"payload does not decompress to its {target.Length} bytes (zstd data corrupt)";
            return false;
        }
        return true;
    }

    /// <summary>The few libzstd entry points used (zstd.h, stable API since 1.0).</summary>
    private sealed class Native
    {
        public required delegate* unmanaged<nint> CreateCCtx;
        public required delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint> CompressCCtx;
        public required delegate* unmanaged<nint> CreateDCtx;
        public required delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> DecompressDCtx;
        public required delegate* unmanaged<nuint, uint> IsError;
        public required delegate* unmanaged<nuint, nint> GetErrorName;

        public static Native? Load()
        {
            if (Environment.GetEnvironmentVariable("P2V_ZSTD") == "managed") return null;
            if (!NativeLibrary.TryLoad("libzstd.so.1", out var lib)) return null;
            nint F(string name) => NativeLibrary.TryGetExport(lib, name, out var f) ? f : 0;
            nint cc = F("ZSTD_createCCtx"), c = F("ZSTD_compressCCtx"), dc = F("ZSTD_createDCtx"), d = F("ZSTD_decompressDCtx"),
                e = F("ZSTD_isError"), en = F("ZSTD_getErrorName");
            if (cc == 0 || c == 0 || dc == 0 || d == 0 || e == 0 || en == 0) return null;
            return new Native
            {
                CreateCCtx = (delegate* unmanaged<nint>)cc,
                CompressCCtx = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, int, nuint>)c,
                CreateDCtx = (delegate* unmanaged<nint>)dc,
                DecompressDCtx = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)d,
                IsError = (delegate* unmanaged<nuint, uint>)e,
                GetErrorName = (delegate* unmanaged<nuint, nint>)en,
            };
        }
    }
}
