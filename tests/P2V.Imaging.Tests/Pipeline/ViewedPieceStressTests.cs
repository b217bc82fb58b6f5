using System.Reflection;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// Chunks that view the read-ahead's pieces (review of 529d690): many small regions at odd offsets, zero blocks
/// dropped in place, both volumes' regions mixed, the smallest read-ahead (2 pieces) and windows; the restored bytes
/// must equal the source's, every piece reference must come back, and no configuration may hang.
/// </summary>
public sealed class ViewedPieceStressTests : IDisposable
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(60);
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private sealed record Source(string Path, byte[] Content, CapturePlan Plan);

    /// <summary>Random bytes with a fifth of the 4 KiB blocks zero; regions of minRegion..maxRegion bytes at odd offsets with gaps (some none).</summary>
    private Source MakeSource(int seed, int length, int minRegion, int maxRegion)
    {
        var rng = new Random(seed);
        var content = new byte[length];
        rng.NextBytes(content);
        for (int b = 0; b < length / 4096; b++)
            if (rng.Next(5) == 0) Array.Clear(content, b * 4096, 4096);
        var path = _tmp.File($"src{seed}.img");
        File.WriteAllBytes(path, content);
        int half = length / 2;
        var regions = new List<CaptureRegion>();
        long pos = rng.Next(0, 3000);
        while (true)
        {
            long len = rng.Next(minRegion, maxRegion + 1);
            int volume = pos < half ? 0 : 1;
            long end = Math.Min(pos + len, volume == 0 ? half : length);
            if (end <= pos) break;
            regions.Add(new CaptureRegion(new Extent(pos, end - pos), volume, SkipZeroBlocks: rng.Next(2) == 0));
            pos = end + (rng.Next(3) == 0 ? 0 : rng.Next(1, 20000));
            if (volume == 0 && pos >= half) pos = half + rng.Next(0, 5000);
            if (pos >= length) break;
        }
        VolumeRecord Volume(int i, long offset, long size)
        {
            var extents = regions.Where(r => r.VolumeIndex == i).Select(r => r.Range).ToList();
            return new VolumeRecord(i, VolumeKind.Raw, i + 1, offset, size, 0, extents.Sum(e => e.Length), "", extents);
        }
        var header = new ImageHeader { DiskLength = length, SectorSize = 512, Volumes = [Volume(0, 0, half), Volume(1, half, length - half)] };
        return new Source(path, content, new CapturePlan { Header = header, Regions = regions });
    }

    /// <summary>The source with everything outside the regions zero: what a restore to a blank disk must give.</summary>
    private static byte[] Expected(Source s)
    {
        var expected = new byte[s.Content.Length];
        foreach (var r in s.Plan.Regions) Array.Copy(s.Content, r.Range.Offset, expected, r.Range.Offset, r.Range.Length);
        return expected;
    }

    private async Task AssertRoundTrip(Source s, CapturePipeline pipeline)
    {
        var image = _tmp.File($"{Guid.NewGuid():N}.p2v");
        using (var disk = RawDisk.OpenRead(s.Path))
        await using (var output = File.Create(image))
            await pipeline.RunAsync(disk, s.Plan, output).WaitAsync(Hang);
        var restored = _tmp.File($"{Guid.NewGuid():N}.img");
        using (var reader = ImageReader.Open(image))
        using (var target = RawDisk.Create(restored, reader.Header.DiskLength, reader.Header.SectorSize))
            await new RestorePipeline { TargetIsBlank = true, Workers = 1 }.RunAsync(reader, target);
        var got = File.ReadAllBytes(restored);
        var expected = Expected(s);
        Assert.Equal(expected.Length, got.Length);
        int first = Enumerable.Range(0, got.Length).FirstOrDefault(i => got[i] != expected[i], -1);
        Assert.True(first < 0, $"restored bytes differ from the source first at {first}");
    }

    public static TheoryData<int, int, int, bool, bool, int, int> Shapes() => new()
    {
        // workers, window, depth, grid, direct, min region, max region
        { 1, 1, 2, false, false, 100, 5000 },
        { 1, 4, 2, false, false, 1, 70000 },
        { 1, 4, 2, false, true, 3000, 400000 },
        { 2, 2, 2, false, false, 100, 5000 },
        { 2, 6, 2, false, true, 1, 300000 },
        { 2, 18, 3, false, false, 500000, 3000000 },
        { 1, 4, 2, true, false, 100, 70000 },
        { 2, 3, 2, true, true, 1000, 900000 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task ManySmallRegionsWithZeroBlocksRestoreByteForByte(int workers, int window, int depth, bool grid, bool direct, int minRegion, int maxRegion)
    {
        for (int seed = 1; seed <= 3; seed++)
        {
            var s = MakeSource(seed * 31 + minRegion, 6 << 20, minRegion, maxRegion);
            await AssertRoundTrip(s, new CapturePipeline
            {
                Workers = workers, Window = window, ReadAheadPieces = depth, DirectReads = direct,
                Boundaries = grid ? ChunkBoundaries.Grid : ChunkBoundaries.ContentDefined,
            });
        }
    }

    /// <summary>Drives the chunker directly: bytes checked when cut and again when released (held a while), every reference back at the end.</summary>
    [Theory]
    [InlineData(1, 100, 5000, 0)]
    [InlineData(2, 1, 70000, 0)]
    [InlineData(3, 3000, 400000, 1)]
    [InlineData(4, 400000, 3000000, 2)]
    public async Task EveryPieceReferenceComesBackAndNoViewIsOverwritten(int seed, int minRegion, int maxRegion, int hold) =>
        await Task.Run(() => Chunker(seed, minRegion, maxRegion, hold)).WaitAsync(Hang);

    private void Chunker(int seed, int minRegion, int maxRegion, int hold)
    {
        var s = MakeSource(seed, 6 << 20, minRegion, maxRegion);
        using var disk = RawDisk.OpenRead(s.Path);
        using var readAhead = new ExtentReadAhead(disk, null, s.Plan.Regions, depth: 8, readers: 4);
        var chunks = CapturePipeline.ReadRegions(readAhead, s.Plan, ChunkBoundaries.ContentDefined, new long[2], new long[2], CancellationToken.None);
        var held = new Queue<CapturedChunk>();
        long bytes = 0;
        foreach (var c in chunks)
        {
            AssertSourceBytes(s, c, "cut");
            bytes += c.Length + c.ZeroBytes;
            held.Enqueue(c);
            if (held.Count > hold)
            {
                var old = held.Dequeue();
                AssertSourceBytes(s, old, "released");
                old.Release();
            }
        }
        while (held.Count > 0)
        {
            var old = held.Dequeue();
            AssertSourceBytes(s, old, "released");
            old.Release();
        }
        Assert.Equal(s.Plan.BytesToRead, bytes);
        var slots = (ExtentReadAhead.Piece[])typeof(ExtentReadAhead).GetField("_slots", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(readAhead)!;
        Assert.All(slots, p => Assert.Equal((0, true), (p.References, p.Free)));
    }

    private static void AssertSourceBytes(Source s, CapturedChunk c, string when)
    {
        var expected = new List<byte>();
        foreach (var run in c.DiskRuns) expected.AddRange(s.Content.AsSpan((int)run.DiskOffset, run.Length).ToArray());
        Assert.True(c.Bytes.SequenceEqual(expected.ToArray()), $"chunk at {c.DiskRuns[0].DiskOffset} ({c.Length} bytes) differs from its runs' source bytes when {when}");
    }

    /// <summary>A sink that fails on its nth chunk: the capture reports that failure and ends (no slot left waiting).</summary>
    private sealed class FailingSink(int failAt) : CaptureSink
    {
        private int _count;
        public override bool WantsEveryChunkCompressed => true;
        public override long BytesWritten => 0;
        public override int ChunkCount => _count;

        public override ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel) =>
            ++_count == failAt ? throw new IOException("sink full") : ValueTask.CompletedTask;

        public override ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel) => ValueTask.CompletedTask;
    }

    [Theory]
    [InlineData(1, 2, 2)]
    [InlineData(2, 2, 2)]
    [InlineData(2, 6, 3)]
    public async Task ASinkFailureOrACancellationEndsTheCapture(int workers, int window, int depth)
    {
        var s = MakeSource(9, 6 << 20, 100, 300000);
        for (int failAt = 1; failAt < 40; failAt += 7)
        {
            using var disk = RawDisk.OpenRead(s.Path);
            using var sink = new FailingSink(failAt);
            var e = await Assert.ThrowsAsync<IOException>(() => new CapturePipeline { Workers = workers, Window = window, ReadAheadPieces = depth }
                .RunAsync(disk, s.Plan, sink).WaitAsync(Hang));
            Assert.Equal("sink full", e.Message);
        }
        for (int cancelAt = 1; cancelAt < 40; cancelAt += 7)
        {
            using var disk = RawDisk.OpenRead(s.Path);
            using var cts = new CancellationTokenSource();
            int seen = 0;
            var image = _tmp.File($"c{cancelAt}.p2v");
            await using var output = File.Create(image);
            var pipeline = new CapturePipeline
            {
                Workers = workers, Window = window, ReadAheadPieces = depth,
                Progress = _ => { if (++seen == cancelAt) cts.Cancel(); },
            };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pipeline.RunAsync(disk, s.Plan, output, cts.Token).WaitAsync(Hang));
        }
    }
}
