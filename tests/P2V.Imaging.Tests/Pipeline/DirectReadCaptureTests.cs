using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.Pipeline.DiskFixtures;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// The capture's read path (ExtentReadAhead, O_DIRECT where the disk allows it): the same chunks as reads through
/// the page cache, every chunk's hash that of the source's bytes, restores that ntfs-3g reads back, block devices.
/// </summary>
public sealed class DirectReadCaptureTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    // The second NTFS partition starts on an odd sector, so its extents are not 4 KiB aligned on the disk:
    // direct reads must widen them to the alignment and hand back only the asked-for bytes.
    private const string Script = """
        label: dos
        start=2048, size=81920, type=7
        start=86017, size=40960, type=7
        """;

    /// <summary>Two real NTFS volumes (4 KiB and 512-byte clusters); the disk's length is not a multiple of 4 KiB and its last sector holds data.</summary>
    private string MakeDisk()
    {
        var disk = _tmp.File("disk.img");
        long length = 128 * MiB + 3 * 512;
        Partition(disk, length, Script);
        var parts = Partitions(disk);
        MakeNtfsVolume(_tmp, _tmp.File("p1.vol"), parts[0].Size, 4096, seed: 11, partitionStartSector: parts[0].Start / 512);
        Place(_tmp.File("p1.vol"), disk, parts[0].Start);
        MakeNtfsVolume(_tmp, _tmp.File("p2.vol"), parts[1].Size, 512, seed: 12, partitionStartSector: parts[1].Start / 512);
        Place(_tmp.File("p2.vol"), disk, parts[1].Start);
        using (var d = RawDisk.OpenReadWrite(disk)) d.WriteAt(length - 512, Enumerable.Repeat((byte)0xA5, 512).ToArray());
        return disk;
    }

    private static async Task<(CapturePlan Plan, List<ChunkFrameHeader> Frames)> Capture(string source, string image, bool direct)
    {
        using var disk = RawDisk.OpenRead(source);
        var plan = CapturePlanner.Plan(disk, sourceDescription: "test", toolVersion: "test");
        await using (var output = File.Create(image))
            await new CapturePipeline { DirectReads = direct }.RunAsync(disk, plan, output);
        using var reader = ImageReader.Open(image);
        var frames = new List<ChunkFrameHeader>();
        foreach (var frame in reader.ReadFrames())
        {
            frames.Add(frame.Header);
            frame.ReturnBuffer();
        }
        return (plan, frames);
    }

    private static void SkipWithoutDirectReads(string path)
    {
        using var disk = RawDisk.OpenRead(path);
        using var direct = disk.OpenDirectReader();
        Skip.If(direct is null, $"{Path.GetDirectoryName(path)} is on a file system without O_DIRECT (tmpfs?): no direct reads to test");
    }

    private static void AssertSameFrames(List<ChunkFrameHeader> expected, List<ChunkFrameHeader> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Runs, actual[i].Runs);
            Assert.Equal(expected[i].Codec, actual[i].Codec);
            Assert.Equal(Convert.ToHexString(expected[i].Hash), Convert.ToHexString(actual[i].Hash));
        }
    }

    [SkippableFact]
    public async Task DirectReadsCaptureTheSameChunksAsReadsThroughThePageCache()
    {
        var disk = MakeDisk();
        SkipWithoutDirectReads(disk);
        var (plan, direct) = await Capture(disk, _tmp.File("direct.p2v"), direct: true);
        var (_, buffered) = await Capture(disk, _tmp.File("buffered.p2v"), direct: false);
        AssertSameFrames(buffered, direct);
        Assert.Contains(plan.Regions, r => r.Range.Offset % DirectReader.Alignment != 0);
        Assert.Contains(plan.Regions, r => r.Range.End == new FileInfo(disk).Length);

        AssertChunksHoldTheSourceBytes(direct, plan, disk);
    }

    /// <summary>Every chunk is the source's bytes at its runs (read here with plain preads), and holds only planned bytes.</summary>
    private static void AssertChunksHoldTheSourceBytes(List<ChunkFrameHeader> frames, CapturePlan plan, string path)
    {
        using var source = RawDisk.OpenRead(path);
        foreach (var frame in frames)
        {
            var bytes = new byte[frame.UncompressedLength];
            int at = 0;
            foreach (var run in frame.Runs)
            {
                Assert.Contains(plan.Regions, r => r.Range.Offset <= run.DiskOffset && run.DiskOffset + run.Length <= r.Range.End);
                source.ReadAt(run.DiskOffset, bytes.AsSpan(at, run.Length));
                at += run.Length;
            }
            var hash = new byte[ImageFormat.HashLength];
            ChunkEncoder.Hash(bytes, hash);
            if (frame.Codec != ChunkCodec.Zero) Assert.Equal(Convert.ToHexString(frame.Hash), Convert.ToHexString(hash));
        }
    }

    [SkippableFact]
    public async Task ADirectCaptureRestoresEveryUsedByteAndNtfs3gReadsTheFilesBack()
    {
        Requires.Tool("ntfscat");
        var disk = MakeDisk();
        SkipWithoutDirectReads(disk);
        var image = _tmp.File("direct.p2v");
        var (plan, _) = await Capture(disk, image, direct: true);
        var restored = _tmp.File("restored.img");
        using (var reader = ImageReader.Open(image))
        using (var target = RawDisk.Create(restored, reader.Header.DiskLength, reader.Header.SectorSize))
            await new RestorePipeline { TargetIsBlank = true }.RunAsync(reader, target);

        using (var a = RawDisk.OpenRead(disk))
        using (var b = RawDisk.OpenRead(restored))
        {
            foreach (var region in plan.Regions)
            {
                var x = new byte[region.Range.Length];
                var y = new byte[region.Range.Length];
                a.ReadAt(region.Range.Offset, x);
                b.ReadAt(region.Range.Offset, y);
                Assert.True(x.AsSpan().SequenceEqual(y), $"restored bytes differ in {region.Range}");
            }
        }
        var parts = Partitions(disk);
        for (int p = 0; p < parts.Count; p++)
        {
            Extract(disk, parts[p].Start, parts[p].Size, _tmp.File($"src{p}.vol"));
            Extract(restored, parts[p].Start, parts[p].Size, _tmp.File($"dst{p}.vol"));
            Assert.Equal(ExternalTool.Run("ntfscat", _tmp.File($"src{p}.vol"), "/random.dat"), ExternalTool.Run("ntfscat", _tmp.File($"dst{p}.vol"), "/random.dat"));
            Assert.Equal(ExternalTool.Run("ntfscat", _tmp.File($"src{p}.vol"), "/boot.ini"), ExternalTool.Run("ntfscat", _tmp.File($"dst{p}.vol"), "/boot.ini"));
        }
    }

    [SkippableFact]
    public async Task ALoopDeviceIsReadDirectlyIntoTheSameChunksAsThroughThePageCache()
    {
        Requires.Root("loop devices");
        Requires.Tool("losetup");
        var disk = MakeDisk();
        var attach = ExternalTool.Try("losetup", "-f", "--show", "-r", disk);
        Skip.If(attach.ExitCode != 0, $"losetup cannot attach a loop device: {attach.StdErr.Trim()}");
        var device = attach.StdOut.Trim();
        try
        {
            using (var d = RawDisk.OpenRead(device))
            using (var reader = d.OpenDirectReader())
                Assert.NotNull(reader);
            // A device has no holes to skip, so its plan differs from the file's in the unpartitioned space: compare device with device.
            var (plan, direct) = await Capture(device, _tmp.File("direct.p2v"), direct: true);
            var (_, buffered) = await Capture(device, _tmp.File("buffered.p2v"), direct: false);
            AssertSameFrames(buffered, direct);
            AssertChunksHoldTheSourceBytes(direct, plan, disk);
        }
        finally
        {
            ExternalTool.Try("losetup", "-d", device);
        }
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReadAheadHandsBackExactlyTheRegionsBytesInOrder(bool direct)
    {
        var path = _tmp.File("random.img");
        var content = new byte[5 * MiB + 1536];
        new Random(3).NextBytes(content);
        File.WriteAllBytes(path, content);
        // Unaligned starts and ends, a region across piece (1 MiB) lines, one that ends at a file end off the 4 KiB grid.
        Extent[] ranges = [new(0, 512), new(1000, 3 * MiB + 17), new(3 * MiB + 4096, MiB - 4096), new(4 * MiB + 1, 4095), new(5 * MiB - 3, 1539)];
        var regions = ranges.Select(r => new CaptureRegion(r, 0, false)).ToList();
        using var disk = RawDisk.OpenRead(path);
        using var reader = direct ? disk.OpenDirectReader() : null;
        if (direct) Skip.If(reader is null, $"{_tmp.Path} is on a file system without O_DIRECT");
        using var readAhead = new ExtentReadAhead(disk, reader, regions, depth: 3, readers: 2);
        Assert.Equal(direct, readAhead.Direct);
        foreach (var r in ranges)
        {
            for (long pos = r.Offset; pos < r.End;)
            {
                int n = (int)Math.Min(7777, r.End - pos);
                var got = new byte[n];
                Read(readAhead, pos, got);
                Assert.True(got.AsSpan().SequenceEqual(content.AsSpan((int)pos, n)), $"bytes at {pos} differ");
                pos += n;
            }
        }
    }

    [Fact]
    public void ReadAheadRefusesAReadOutOfOrder()
    {
        var path = _tmp.File("small.img");
        File.WriteAllBytes(path, new byte[64 << 10]);
        using var disk = RawDisk.OpenRead(path);
        using var readAhead = new ExtentReadAhead(disk, null, [new CaptureRegion(new Extent(0, 8192), 0, false), new CaptureRegion(new Extent(16384, 8192), 0, false)]);
        Read(readAhead, 0, new byte[4096]);
        Assert.Throws<InvalidOperationException>(() => Read(readAhead, 16384, new byte[4096]));
    }

    [Fact]
    public async Task APieceIsNotReadIntoAgainWhileAChunkViewsIt()
    {
        const int piece = ExtentReadAhead.PieceSize;
        var path = _tmp.File("pieces.img");
        var content = new byte[4 * piece];
        new Random(5).NextBytes(content);
        File.WriteAllBytes(path, content);
        using var disk = RawDisk.OpenRead(path);
        using var readAhead = new ExtentReadAhead(disk, null, [new CaptureRegion(new Extent(0, 4 * piece), 0, false)], depth: 2, readers: 2);
        // A view of the whole first piece, held: the chunker passes that piece, but its slot must wait for the view.
        var held = readAhead.View(0, piece, out int start, out int length, default);
        Assert.Equal(piece, length);
        Read(readAhead, piece, new byte[piece]);
        var third = Task.Run(() =>
        {
            var bytes = new byte[piece];
            Read(readAhead, 2 * piece, bytes);
            return bytes;
        });
        Assert.NotSame(third, await Task.WhenAny(third, Task.Delay(300)));
        Assert.True(held.Buffer.AsSpan(start, length).SequenceEqual(content.AsSpan(0, piece)), "the held view's bytes changed");
        held.Release();
        Assert.True((await third).AsSpan().SequenceEqual(content.AsSpan(2 * piece, piece)));
    }

    /// <summary>Copies the next bytes out of the read-ahead's views, as many views as they span.</summary>
    private static void Read(ExtentReadAhead readAhead, long offset, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            var piece = readAhead.View(offset, destination.Length, out int start, out int n, default);
            piece.Buffer.AsSpan(start, n).CopyTo(destination);
            piece.Release();
            destination = destination[n..];
            offset += n;
        }
    }
}
