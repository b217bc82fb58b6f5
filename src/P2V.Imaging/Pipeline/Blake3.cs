using System.Runtime.InteropServices;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// BLAKE3 of a whole buffer to 32 bytes: the chunk hash of the image format, in C (Native/blake3.c) because the
/// NativeAOT build targets the x86-64 baseline, where .NET compiles SIMD to SSE at most; the C picks SSE2, AVX2 or
/// AVX-512 lanes at run time. Statically linked into the NativeAOT binary, libp2vblake3.so beside the assemblies otherwise.
/// </summary>
public static unsafe partial class Blake3
{
    public const int HashLength = 32;

    /// <summary>The SIMD path that <see cref="Hash"/> takes on this CPU.</summary>
    public static Blake3Level Level => (Blake3Level)NativeLevel();

    public static void Hash(ReadOnlySpan<byte> data, Span<byte> hash)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hash.Length, HashLength, nameof(hash));
        fixed (byte* d = data)
        fixed (byte* h = hash)
            NativeHash(d, (nuint)data.Length, h);
    }

    /// <summary>Hashes on the given path (tests run each one); false when this CPU lacks it.</summary>
    internal static bool TryHash(Blake3Level level, ReadOnlySpan<byte> data, Span<byte> hash)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hash.Length, HashLength, nameof(hash));
        fixed (byte* d = data)
        fixed (byte* h = hash)
            return NativeHashAt((int)level, d, (nuint)data.Length, h) == 0;
    }

    private const string Library = "p2vblake3";

    [LibraryImport(Library, EntryPoint = "p2v_blake3_level")]
    private static partial int NativeLevel();

    [LibraryImport(Library, EntryPoint = "p2v_blake3_hash")]
    private static partial void NativeHash(byte* data, nuint length, byte* hash);

    [LibraryImport(Library, EntryPoint = "p2v_blake3_hash_at")]
    private static partial int NativeHashAt(int level, byte* data, nuint length, byte* hash);
}
