using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.Pipeline.DiskFixtures;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>
/// Writes past the page cache (DirectWriter, O_DIRECT): whatever the offsets, lengths and order, the file ends as
/// writes through the page cache would leave it; a restore through it equals one through the page cache, leaves the
/// page cache empty (fincore), and qemu-img reads its fixed VHD as the same disk.
/// </summary>
public sealed class DirectWriterTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly List<IDisposable> _open = [];

    public void Dispose()
    {
        foreach (var d in _open) d.Dispose();
        _tmp.Dispose();
    }

    private DirectWriter OpenOrSkip(string path, long length, long fileLength, bool blank)
    {
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
        _open.Add(handle);
        var writer = DirectWriter.TryOpen(handle, path, length, fileLength, blank);
        Skip.If(writer is null, $"{_tmp.Path} is on a file system without O_DIRECT (tmpfs?): no direct writes to test");
        return writer!;
    }

    /// <summary>Runs in disk order with gaps of no bytes, of a few, of whole sectors, of more than a block and of more than <see cref="DirectWriter.GapFill"/>.</summary>
    private static List<(long Offset, byte[] Data)> Writes(Random rnd, long length)
    {
        var writes = new List<(long Offset, byte[] Data)>();
        for (long at = rnd.Next(0, 5000); at < length - 700;)
        {
            int n = rnd.Next(4) switch
            {
                0 => rnd.Next(1, 200),
                1 => 512 * rnd.Next(1, 20),
                2 => rnd.Next(1, 300_000),
                _ => rnd.Next(1, 3 * DirectWriter.SlotSize),
            };
            n = (int)Math.Min(n, length - 700 - at);
            var data = new byte[n];
            rnd.NextBytes(data);
            writes.Add((at, data));
            at += n + rnd.Next(4) switch { 0 => 0, 1 => rnd.Next(1, 9000), 2 => 512 * rnd.Next(1, 9), _ => rnd.Next(60_000, 200_000) };
        }
        // The disk's last bytes, in a block that runs past a raw file's end.
        writes.Add((length - 700, Enumerable.Repeat((byte)0xA5, 700).ToArray()));
        return writes;
    }

    [SkippableTheory]
    [InlineData(1, false, false)]
    [InlineData(2, false, true)]
    [InlineData(3, true, false)]
    [InlineData(4, true, true)]
    [InlineData(5, false, false)]
    [InlineData(6, true, false)]
    public void WritesLandAsThroughThePageCache(int seed, bool blank, bool outOfOrder)
    {
        // A disk whose length is off the 4 KiB grid. Seeds 5 and 6: a fixed VHD's, whose footer is in the disk's last block.
        bool footer = seed >= 5;
        int length = 5 * 1024 * 1024 + (footer ? 3584 : 1536);
        int fileLength = footer ? length + 512 : length;
        var rnd = new Random(seed);
        var expected = new byte[fileLength];
        if (!blank) rnd.NextBytes(expected);
        if (footer) rnd.NextBytes(expected.AsSpan(length));
        var path = _tmp.File("disk.img");
        File.WriteAllBytes(path, expected);

        var writes = Writes(rnd, length);
        if (outOfOrder)
            for (int i = 0; i < 6; i++)
            {
                // Back over earlier writes, across block lines: the later write lands over the earlier.
                var data = new byte[rnd.Next(1, 10_000)];
                rnd.NextBytes(data);
                writes.Insert(rnd.Next(writes.Count / 2, writes.Count), (rnd.Next(0, length - 10_000), data));
            }

        int pendingAtMost = 0;
        using (var writer = OpenOrSkip(path, length, fileLength, blank))
        {
            foreach (var (offset, data) in writes)
            {
                writer.Write(offset, data);
                data.CopyTo(expected.AsSpan((int)offset));
                pendingAtMost = Math.Max(pendingAtMost, writer.PendingBlocks);
            }
            writer.Flush();
        }
        var actual = File.ReadAllBytes(path);
        Assert.Equal(fileLength, actual.Length);
        int differs = actual.AsSpan().CommonPrefixLength(expected);
        Assert.True(differs == fileLength, $"the file differs from writes through the page cache at byte {differs}");
        // Blocks in part wait only for the next write: a few at a time however many runs; none on a blank disk, written in order.
        // (A blank disk's last block, with a footer in it, is not filled out with zeros but read and patched.)
        Assert.InRange(pendingAtMost, 0, blank && !outOfOrder ? (footer ? 1 : 0) : 2);
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void GapsAndRunEndsAtEveryEdgeLandAsThroughThePageCache(bool blank)
    {
        // Gaps of no bytes, one, around a block and around GapFill; runs that end inside a block, on a block line and on a
        // slot line; and a flush between two writes into one block.
        int[] gaps = [0, 1, 4095, 4096, 4097, DirectWriter.GapFill - 1, DirectWriter.GapFill, DirectWriter.GapFill + 1];
        const int length = 16 * 1024 * 1024;
        var expected = new byte[length];
        var rnd = new Random(7);
        if (!blank) rnd.NextBytes(expected);
        var path = _tmp.File("disk.img");
        File.WriteAllBytes(path, expected);
        using (var writer = OpenOrSkip(path, length, length, blank))
        {
            long at = 100;
            for (int i = 0; at < length - 2 * DirectWriter.SlotSize; i++)
            {
                int n = (i % 5) switch
                {
                    0 => 10,
                    1 => (int)(3 * 4096 - at % 4096),
                    2 => (int)(DirectWriter.SlotSize - at % DirectWriter.SlotSize),
                    3 => 70_000,
                    _ => 1,
                };
                var data = new byte[n];
                rnd.NextBytes(data);
                writer.Write(at, data);
                data.CopyTo(expected.AsSpan((int)at));
                if (i == 9) writer.Flush(); // after a 1-byte write, with a 1-byte gap to the next
                at += n + gaps[i % gaps.Length];
            }
            writer.Flush();
        }
        int same = File.ReadAllBytes(path).AsSpan().CommonPrefixLength(expected);
        Assert.True(same == length, $"the file differs from writes through the page cache at byte {same}");
    }

    [SkippableFact]
    public void AWriteOutsideTheDiskIsRefusedBeforeAnythingIsWritten()
    {
        var path = _tmp.File("disk.img");
        File.WriteAllBytes(path, new byte[64 * 1024]);
        using var writer = OpenOrSkip(path, 64 * 1024, 64 * 1024, blank: false);
        var e = Assert.Throws<VirtualDiskException>(() => writer.Write(64 * 1024 - 10, new byte[20]));
        Assert.Contains("past the end", e.Message);
        Assert.All(File.ReadAllBytes(path), b => Assert.Equal(0, b));
    }

    [SkippableFact]
    public async Task ARestoreWritesPastThePageCacheTheSameDiskAsThroughIt()
    {
        Requires.Tool("fincore");
        Requires.Tool("qemu-img");
        // One NTFS volume of 512-byte clusters on an odd sector: its runs start and end off the 4 KiB grid.
        var disk = _tmp.File("disk.img");
        // A length 512 bytes short of the 4 KiB grid: a fixed VHD's footer shares the disk's last block.
        long length = 64L * 1024 * 1024 + 7 * 512;
        Partition(disk, length, "label: dos\nstart=2049, type=7\n");
        var part = Partitions(disk)[0];
        MakeNtfsVolume(_tmp, _tmp.File("p.vol"), part.Size, 512, seed: 21, partitionStartSector: part.Start / 512);
        Place(_tmp.File("p.vol"), disk, part.Start);
        var image = _tmp.File("disk.p2v");
        using (var source = RawDisk.OpenRead(disk))
        await using (var output = File.Create(image))
            await new CapturePipeline().RunAsync(source, CapturePlanner.Plan(source, sourceDescription: "test", toolVersion: "test"), output);

        var direct = _tmp.File("direct.img");
        var buffered = _tmp.File("buffered.img");
        var fixedVhd = _tmp.File("direct.vhd");
        using (var reader = ImageReader.Open(image))
        {
            using (var target = RawDisk.Create(direct, reader.Header.DiskLength))
            {
                using (var probe = target.OpenDirectWriter(blank: true)) Skip.If(probe is null, $"{_tmp.Path} is on a file system without O_DIRECT");
                await new RestorePipeline { TargetIsBlank = true, DirectWrites = true }.RunAsync(reader, target);
            }
            using (var target = RawDisk.Create(buffered, reader.Header.DiskLength))
                await new RestorePipeline { TargetIsBlank = true, DirectWrites = false }.RunAsync(reader, target);
            using (var target = VirtualDisk.Create(fixedVhd, VirtualDiskFormat.VhdFixed, reader.Header.DiskLength, 512))
                await new RestorePipeline { TargetIsBlank = true, DirectWrites = true }.RunAsync(reader, target);
        }
        // Every byte in the page cache would be a byte written through it; the disk's last block, off the grid, is.
        var resident = ExternalTool.Run("fincore", "--bytes", "--noheadings", "--output", "RES", direct).Trim();
        Assert.True(long.Parse(resident) <= 4096, $"{resident} bytes of the directly written disk are in the page cache");
        Assert.True(File.ReadAllBytes(direct).AsSpan().SequenceEqual(File.ReadAllBytes(buffered)), "direct and buffered restores differ");
        ExternalTool.Run("qemu-img", "compare", "-q", "-f", "vpc", "-F", "raw", fixedVhd, buffered);

        // Onto a disk that holds data (a deploy), direct writes are the default: the same bytes as through the page cache.
        var old = new byte[new FileInfo(direct).Length];
        new Random(5).NextBytes(old);
        var inPlace = _tmp.File("in-place.img");
        var inPlaceBuffered = _tmp.File("in-place-buffered.img");
        File.WriteAllBytes(inPlace, old);
        File.WriteAllBytes(inPlaceBuffered, old);
        using (var reader = ImageReader.Open(image))
        {
            using (var target = RawDisk.OpenReadWrite(inPlace))
                await new RestorePipeline().RunAsync(reader, target);
            using (var target = RawDisk.OpenReadWrite(inPlaceBuffered))
                await new RestorePipeline { DirectWrites = false }.RunAsync(reader, target);
        }
        Assert.True(File.ReadAllBytes(inPlace).AsSpan().SequenceEqual(File.ReadAllBytes(inPlaceBuffered)), "direct and buffered restores onto a disk with data differ");
    }
}
