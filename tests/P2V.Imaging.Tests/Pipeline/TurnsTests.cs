using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// Workers that write concurrently and allocate in turn (<see cref="Turns"/>, the copier, a restore into a new file): no
/// hang on a failed allocation, a cancellation or a stop; the earliest failure is the one reported; blocks in rising order.
/// (From the review of session 12's concurrent writers.)
/// </summary>
public sealed class TurnsTests
{
    private const int Block = 1 << 20;

    /// <summary>A disk of 1 MiB blocks that fails on concurrent or out-of-order allocation and on a write into a block not allocated.</summary>
    private sealed class BlockDisk(long length, long failAllocAt = -1, long failWriteAt = -1) : IVirtualDisk
    {
        private readonly byte[] _bytes = new byte[length];
        private readonly bool[] _present = new bool[(length + Block - 1) / Block];
        private int _allocating;
        public readonly List<long> Allocated = [];
        public long Length => length;
        public int SectorSize => 512;
        public bool CanWrite => true;
        public bool ConcurrentWrites => true;

        public bool NeedsAllocation(long offset, long len)
        {
            for (long b = offset / Block; b <= (offset + len - 1) / Block; b++) if (!Volatile.Read(ref _present[b])) return true;
            return false;
        }

        public void Allocate(long offset, long len)
        {
            if (Interlocked.Increment(ref _allocating) != 1) throw new InvalidOperationException("concurrent Allocate");
            try
            {
                for (long b = offset / Block; b <= (offset + len - 1) / Block; b++)
                {
                    if (_present[b]) continue;
                    if (failAllocAt >= 0 && b == failAllocAt / Block) throw new IOException($"injected allocation error in block {b}");
                    if (Allocated.Count > 0 && b < Allocated[^1]) throw new InvalidOperationException($"block {b} after {Allocated[^1]}");
                    Allocated.Add(b);
                    Volatile.Write(ref _present[b], true);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _allocating);
            }
        }

        public void ReadAt(long offset, Span<byte> buffer) => _bytes.AsSpan((int)offset, buffer.Length).CopyTo(buffer);

        public void WriteAt(long offset, ReadOnlySpan<byte> data)
        {
            if (NeedsAllocation(offset, data.Length)) throw new InvalidOperationException($"write at {offset} into an unallocated block");
            if (failWriteAt >= offset && failWriteAt < offset + data.Length) throw new IOException($"injected write error at {failWriteAt}");
            data.CopyTo(_bytes.AsSpan((int)offset));
        }

        public IEnumerable<Extent> AllocatedExtents() => [new Extent(0, length)];
        public void Flush() { }
        public void Dispose() { }
    }

    /// <summary>A source whose every byte is non-zero, with a hook on each read.</summary>
    private sealed class Source(long length, bool concurrentReads, Action<long>? onRead = null) : IVirtualDisk
    {
        public long Length => length;
        public int SectorSize => 512;
        public bool CanWrite => false;
        public bool ConcurrentReads => concurrentReads;

        public void ReadAt(long offset, Span<byte> buffer)
        {
            onRead?.Invoke(offset);
            buffer.Fill((byte)(offset / Block + 1));
        }

        public void WriteAt(long offset, ReadOnlySpan<byte> data) => throw new NotSupportedException();
        public IEnumerable<Extent> AllocatedExtents() => [new Extent(0, length)];
        public void Flush() { }
        public void Dispose() { }
    }

    private static T WithinSeconds<T>(int seconds, Func<T> f)
    {
        var t = Task.Run(f);
        Assert.True(Task.WhenAny(t, Task.Delay(TimeSpan.FromSeconds(seconds))).GetAwaiter().GetResult() == t, "hung");
        return t.GetAwaiter().GetResult();
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(3, false)]
    [InlineData(8, false)]
    [InlineData(3, true)]
    [InlineData(8, true)]
    public void AFailedAllocationIsTheErrorAndNothingHangs(int workers, bool concurrentReads)
    {
        const long length = 32L << 20;
        var target = new BlockDisk(length, failAllocAt: 17L << 20);
        var e = Assert.Throws<IOException>(() => WithinSeconds(30, () => VirtualDiskCopier.Copy(new Source(length, concurrentReads), target, workers)));
        Assert.Contains("injected allocation error in block 17", e.Message);
        Assert.All(target.Allocated, b => Assert.True(b < 17));
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(8, false)]
    [InlineData(8, true)]
    public void ACancellationWhileWorkersWaitForTheirTurnEndsTheCopy(int workers, bool concurrentReads)
    {
        const long length = 64L << 20;
        using var cts = new CancellationTokenSource();
        var source = new Source(length, concurrentReads, offset =>
        {
            if (offset == 0) Thread.Sleep(300);
            if (offset == 8L << 20) cts.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => WithinSeconds(30, () => VirtualDiskCopier.Copy(source, new BlockDisk(length), workers, cts.Token)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void TheFailedReadOfAnEarlierPieceOutranksALaterWriteFailure(int workers)
    {
        const long length = 16L << 20;
        var source = new Source(length, true, offset =>
        {
            if (offset == 4L << 20)
            {
                Thread.Sleep(200);
                throw new IOException("injected read error at 4 MiB");
            }
        });
        var target = new BlockDisk(length, failWriteAt: (4L << 20) + (1 << 20));
        var e = Assert.Throws<IOException>(() => WithinSeconds(30, () => VirtualDiskCopier.Copy(source, target, workers)));
        Assert.Contains("injected read error at 4 MiB", e.Message);
    }

    /// <summary>Six threads, jobs that allocate, jobs that only pass, and a stop at a random job: nothing hangs, blocks rise.</summary>
    [Fact]
    public void TurnsUnderStress()
    {
        var rng = new Random(3);
        for (int round = 0; round < 200; round++)
        {
            var turns = new Turns();
            long next = -1;
            const int jobs = 400;
            var target = new BlockDisk((long)jobs * Block / 2 + Block);
            int stopAt = rng.Next(jobs * 2);
            int seed = rng.Next();
            var threads = Enumerable.Range(0, 6).Select(t => new Thread(() =>
            {
                var r = new Random(seed + t);
                while (true)
                {
                    long job = Interlocked.Increment(ref next);
                    if (job >= jobs) return;
                    if (job == stopAt) { turns.Done(job); turns.Stop(); continue; }
                    if (r.Next(3) == 0) { Thread.SpinWait(r.Next(1000)); turns.Done(job); continue; }
                    turns.Allocate(job, target, [new Extent(job * Block / 2, 4096)]);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(20)), $"round {round}: hung");
            for (int i = 1; i < target.Allocated.Count; i++) Assert.True(target.Allocated[i] > target.Allocated[i - 1]);
        }
    }

    /// <summary>A restore into a new file whose workers write what they decoded: a damaged chunk is the error, at its frame, every time.</summary>
    [Theory]
    [InlineData(VirtualDiskFormat.Vhdx)]
    [InlineData(VirtualDiskFormat.Vhd)]
    [InlineData(VirtualDiskFormat.Raw)]
    public async Task ARestoreIntoANewFileStopsAtADamagedChunk(VirtualDiskFormat format)
    {
        using var tmp = new TempDirectory();
        var vol = tmp.File("vol.img");
        DiskFixtures.MakeNtfsVolume(tmp, vol, 24 * DiskFixtures.MiB, 4096, seed: 3);
        var image = tmp.File("vol.p2v");
        using (var disk = RawDisk.OpenRead(vol))
        using (var output = File.Create(image))
            await new CapturePipeline().RunAsync(disk, CapturePlanner.Plan(disk), output);
        var bytes = File.ReadAllBytes(image);
        ChunkEntry chunk;
        using (var reader = ImageReader.Open(image))
        {
            var stored = reader.Trailer.Chunks.Where(c => c.Codec == ChunkCodec.Stored || c.Codec == ChunkCodec.Lz4).ToList();
            Assert.True(stored.Count > 4);
            chunk = stored[stored.Count / 2];
        }
        int payloadStart = (int)chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length);
        for (int i = 0; i < Math.Min(64, chunk.StoredLength); i++) bytes[payloadStart + chunk.StoredLength / 4 + i] ^= 0x5A;
        var broken = tmp.File("broken.p2v");
        File.WriteAllBytes(broken, bytes);
        for (int rep = 0; rep < 5; rep++)
        {
            var e = await Assert.ThrowsAsync<ImageFormatException>(async () =>
            {
                using var reader = ImageReader.Open(broken);
                using var target = VirtualDisk.Create(tmp.File($"t{rep}.{format}"), format, reader.Header.DiskLength);
                var run = new RestorePipeline { TargetIsBlank = true, Workers = 4 }.RunAsync(reader, target);
                Assert.True(await Task.WhenAny(run, Task.Delay(30_000)) == run, "hung");
                await run;
            });
            Assert.Equal(chunk.FrameOffset, e.Offset);
        }
    }
}
