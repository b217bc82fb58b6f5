using P2V.Imaging.Pipeline;
using P2V.Tests;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// The native BLAKE3 (Native/blake3.c) on each of its code paths against the independent `b3sum`, on random data of
/// lengths around every boundary of the tree: blocks (64), chunks (1 KiB), the SIMD batches (4, 8 and 16 chunks, and a
/// batch followed by a narrower one or by a single chunk), the flat subtree (64 chunks), uneven right subtrees, and
/// sizes well past a MiB.
/// </summary>
public sealed class Blake3Tests : IDisposable
{
    private const int KiB = 1024, MiB = 1024 * KiB;

    private static readonly int[] Lengths =
    [
        0, 1, 63, 64, 65, 1023, 1024, 1025, 2047, 2048, 2049, 3072, 4 * KiB - 1, 4 * KiB + 1, 5 * KiB, 7 * KiB + 3,
        8 * KiB - 1, 8 * KiB, 8 * KiB + 1, 12 * KiB + 64, 16 * KiB, 17 * KiB, 24 * KiB, 31 * KiB, 33 * KiB,
        64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 65 * KiB, 100 * KiB, 129 * KiB + 7, 256 * KiB, 1 * MiB + 17,
        3 * MiB + 5 * KiB + 1,
    ];

    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    /// <summary>Every path this CPU runs (all four on the build machines, AMD EPYC with AVX-512). A path the CPU lacks is not a case at all: no
    /// package can install it, and CI counts a skip as a missing prerequisite.</summary>
    public static TheoryData<Blake3Level> PathsOfThisCpu => [.. Enum.GetValues<Blake3Level>().Where(l => l <= Blake3.Level)];

    [SkippableTheory]
    [MemberData(nameof(PathsOfThisCpu))]
    public void EveryPathMatchesB3sum(Blake3Level level)
    {
        Requires.Tool("b3sum");
        var rng = new Random(3 + (int)level);
        var files = new List<(string Path, byte[] Data)>();
        foreach (int n in Lengths)
        {
            var data = new byte[n];
            rng.NextBytes(data);
            var path = _tmp.File($"{n}.bin");
            File.WriteAllBytes(path, data);
            files.Add((path, data));
        }
        // One b3sum run for all files: "HASH  PATH" per line, in argument order.
        var expected = ExternalTool.Run("b3sum", [.. files.Select(f => f.Path)])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l[..64]).ToList();
        Assert.Equal(files.Count, expected.Count);
        var hash = new byte[Blake3.HashLength];
        for (int i = 0; i < files.Count; i++)
        {
            Assert.True(Blake3.TryHash(level, files[i].Data, hash));
            Assert.True(expected[i] == Convert.ToHexStringLower(hash), $"{level}, {files[i].Data.Length} bytes: {Convert.ToHexStringLower(hash)}, b3sum {expected[i]}");
            // The default entry point takes the best path; it must agree on it too.
            if (level == Blake3.Level)
            {
                ChunkEncoder.Hash(files[i].Data, hash);
                Assert.Equal(expected[i], Convert.ToHexStringLower(hash));
            }
        }
    }

    [Fact]
    public void ThePathsAboveThisCpusAreRefused()
    {
        var hash = new byte[Blake3.HashLength];
        Assert.False(Blake3.TryHash(Blake3.Level + 1, [1, 2, 3], hash));
        Assert.All(hash, b => Assert.Equal(0, b));
    }
}
