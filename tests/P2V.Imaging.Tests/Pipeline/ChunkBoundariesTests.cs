using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>Chunk boundaries that do not move when data before them changes (docs/image-format.md, "Chunk boundaries").</summary>
public sealed class ChunkBoundariesTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private async Task<ImageTrailer> CaptureAsync(string disk, ChunkBoundaries boundaries)
    {
        var image = _tmp.File(Path.GetFileName(disk) + $".{boundaries.GetType().Name}.p2v");
        using (var source = RawDisk.OpenRead(disk))
        await using (var output = File.Create(image))
            await new CapturePipeline { Boundaries = boundaries }.RunAsync(source, CapturePlanner.Plan(source), output);
        // The image is checked end to end: every chunk decompressed and its BLAKE3 verified.
        using var reader = ImageReader.Open(image);
        await new RestorePipeline { VerifyOnly = true }.RunAsync(reader, null);
        return reader.Trailer;
    }

    private static long SharedBytes(ImageTrailer a, ImageTrailer b)
    {
        var known = a.Chunks.Select(c => Convert.ToHexString(c.Hash)).ToHashSet();
        return b.Chunks.Where(c => known.Contains(Convert.ToHexString(c.Hash))).Sum(c => (long)c.UncompressedLength);
    }

    [Fact]
    public async Task ContentDefinedChunksResynchronizeAfterAnInsertion()
    {
        var data = new byte[8 << 20];
        new Random(1).NextBytes(data);
        var inserted = new byte[100 << 10];
        new Random(2).NextBytes(inserted);
        var a = _tmp.File("a.raw");
        var b = _tmp.File("b.raw");
        File.WriteAllBytes(a, data);
        // The same bytes, shifted by 100 KiB inserted at 1 MiB: as a file system's early allocation shifts its used-data stream.
        File.WriteAllBytes(b, [.. data.AsSpan(0, 1 << 20), .. inserted, .. data.AsSpan(1 << 20)]);

        var cdc = ChunkBoundaries.ContentDefined;
        var ta = await CaptureAsync(a, cdc);
        var tb = await CaptureAsync(b, cdc);
        // Only the chunk around the insertion point changes (plus the inserted bytes).
        Assert.InRange(SharedBytes(ta, tb), data.Length - 2L * cdc.MaxChunkSize, data.Length);
        Assert.All(ta.Chunks, c => Assert.InRange(c.UncompressedLength, 1, cdc.MaxChunkSize));
        Assert.All(ta.Chunks.SkipLast(1), c => Assert.True(c.UncompressedLength >= ((ContentDefinedBoundaries)cdc).MinSize));

        // A fixed grid of disk offsets cannot follow the shift: the data after the insertion shares nothing.
        var grid = ChunkBoundaries.Grid;
        Assert.True(SharedBytes(await CaptureAsync(a, grid), await CaptureAsync(b, grid)) <= (1 << 20));
    }

    /// <summary>
    /// The cut points are part of the format: a chunker that cut elsewhere would share nothing with the images already in a
    /// store. They are checked against FastCDC written here from the paper and docs/image-format.md, a byte at a time
    /// (Gear[b] = the first 8 bytes of BLAKE3 of the byte b; the masks' bits spread evenly over bits 16..63).
    /// </summary>
    [Fact]
    public async Task ContentDefinedCutsAreThePapersAlgorithm()
    {
        var data = new byte[12 << 20];
        new Random(7).NextBytes(data);
        // Runs of one byte value, 20–70 KB long, in which no cut falls: cuts pushed past the normal size, scans resumed after a read.
        for (int at = 1 << 20; at < data.Length; at += 997 << 10) data.AsSpan(at, 20_000 + at % 50_000).Fill((byte)(at >> 20));
        var disk = _tmp.File("cuts.raw");
        File.WriteAllBytes(disk, data);

        var trailer = await CaptureAsync(disk, ChunkBoundaries.ContentDefined);

        Assert.Equal(ReferenceCuts(data, 16 << 10, 64 << 10, 256 << 10), trailer.Chunks.Select(c => c.UncompressedLength));
    }

    private static List<int> ReferenceCuts(byte[] data, int min, int normal, int max)
    {
        var gear = new ulong[256];
        var hash = new byte[32];
        for (int b = 0; b < 256; b++)
        {
            ChunkEncoder.Hash([(byte)b], hash);
            gear[b] = BitConverter.ToUInt64(hash, 0);
        }
        static ulong Mask(int bits) => Enumerable.Range(0, bits).Aggregate(0UL, (m, k) => m | 1UL << (63 - k * 48 / bits));
        ulong maskS = Mask(int.Log2(normal) + 2), maskL = Mask(int.Log2(normal) - 2);
        var lengths = new List<int>();
        for (int start = 0; start < data.Length;)
        {
            int n = Math.Min(max, data.Length - start), cut = n;
            ulong fp = 0;
            for (int i = min; i < n; i++)
            {
                fp = (fp << 1) + gear[data[start + i]];
                if ((fp & (i < normal ? maskS : maskL)) == 0)
                {
                    cut = i;
                    break;
                }
            }
            lengths.Add(cut);
            start += cut;
        }
        return lengths;
    }

    [Fact]
    public async Task ARunOfZerosBecomesMaximumSizeZeroChunks()
    {
        var disk = _tmp.File("zeros.raw");
        var data = new byte[4 << 20];
        new Random(3).NextBytes(data.AsSpan(0, 64 << 10));
        File.WriteAllBytes(disk, data);
        // --raw keeps every byte (a scanned volume would drop the zero blocks before chunking).
        var image = _tmp.File("zeros.p2v");
        using (var source = RawDisk.OpenRead(disk))
        await using (var output = File.Create(image))
            await new CapturePipeline().RunAsync(source, CapturePlanner.Plan(source, raw: true), output);
        using var reader = ImageReader.Open(image);
        var zero = reader.Trailer.Chunks.Where(c => c.Codec == ChunkCodec.Zero).ToList();
        Assert.True(zero.Count >= 14, $"{zero.Count} zero chunks");
        Assert.All(zero.SkipLast(1), c => Assert.Equal(ChunkBoundaries.ContentDefined.MaxChunkSize, c.UncompressedLength));
        Assert.Single(zero.SkipLast(1).Select(c => Convert.ToHexString(c.Hash)).Distinct());
    }
}
