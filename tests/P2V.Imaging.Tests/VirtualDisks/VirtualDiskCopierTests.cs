using P2V.Imaging.VirtualDisks;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>What <c>p2v disk convert</c> does: copy allocated ranges, skip zero 4 KiB pieces, and qemu-img agrees with the result.</summary>
public sealed class VirtualDiskCopierTests
{
    [Theory]
    [InlineData(VirtualDiskFormat.Vhdx, "vhdx")]
    [InlineData(VirtualDiskFormat.Vhd, "vpc")]
    [InlineData(VirtualDiskFormat.VhdFixed, "vpc")]
    [InlineData(VirtualDiskFormat.Raw, "raw")]
    public void CopiesDataAndSkipsZeros(VirtualDiskFormat format, string qemuFormat)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw"), output = dir.File("out.img");
        MakeRaw(raw, 40 * MiB);
        // 64 KiB of explicit zeros inside the first data region: present in the file, but not worth writing.
        using (var f = new FileStream(raw, FileMode.Open, FileAccess.Write)) { f.Position = MiB; f.Write(new byte[64 * 1024]); }

        long written;
        using (var source = VirtualDisk.Open(raw))
        using (var target = VirtualDisk.Create(output, format, source.Length))
            written = VirtualDiskCopier.Copy(source, target);
        long data = Regions(40 * MiB).Sum(r => (long)r.Count) - 64 * 1024;
        Assert.InRange(written, data, data + 8 * 4096); // unaligned regions round out to whole 4 KiB pieces

        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qemuFormat, raw, output);
        using var disk = VirtualDisk.Open(output);
        if (format != VirtualDiskFormat.Raw && format != VirtualDiskFormat.VhdFixed) return;
        var map = UsedExtentMap.From(disk.AllocatedExtents(), disk.Length);
        Assert.False(map.Covers(MiB, 64 * 1024), "the zero piece was written");
    }

    /// <summary>
    /// Eight workers copy a disk whose data is scattered in 64 KiB units, some written as explicit zeros, some with a
    /// zero 4 KiB hole: qemu-img finds the same bytes, the dynamic formats hold exactly the blocks with non-zero data,
    /// and those blocks lie in the file in disk order, as one worker would have laid them out.
    /// </summary>
    [Theory]
    [InlineData(VirtualDiskFormat.Vhdx, 1 << 20)]
    [InlineData(VirtualDiskFormat.Vhd, 64 << 10)]
    [InlineData(VirtualDiskFormat.Vhd, 2 << 20)]
    [InlineData(VirtualDiskFormat.VhdFixed, null)]
    [InlineData(VirtualDiskFormat.Raw, null)]
    public void ConcurrentCopyKeepsDiskOrder(VirtualDiskFormat format, int? blockSize)
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw"), output = dir.File("out.img");
        const int unit = 64 << 10;
        long length = 64 * MiB;
        var nonZeroUnits = new List<long>();
        using (var f = new FileStream(raw, FileMode.Create, FileAccess.Write))
        {
            f.SetLength(length);
            var rng = new Random(12);
            var buf = new byte[unit];
            for (long i = 0; i < length / unit; i++)
            {
                bool data = i % 7 == 3 || i % 11 == 0 || (i > 300 && i < 340);
                bool zeros = i % 13 == 5;
                if (!data && !zeros) continue;
                if (data) rng.NextBytes(buf); else Array.Clear(buf);
                if (data && i % 3 == 0) buf.AsSpan(8192, 4096).Clear();
                f.Position = i * unit;
                f.Write(buf);
                if (data) nonZeroUnits.Add(i);
            }
        }

        long written;
        using (var source = VirtualDisk.Open(raw))
        using (var target = VirtualDisk.Create(output, format, source.Length, new VirtualDiskCreateOptions { BlockSize = blockSize }))
            written = VirtualDiskCopier.Copy(source, target, workers: 8);
        long expected = nonZeroUnits.Sum(i => i % 3 == 0 ? unit - 4096 : (long)unit);
        Assert.Equal(expected, written);

        string qemuFormat = QemuFormat(format);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", qemuFormat, raw, output));
        if (format == VirtualDiskFormat.Vhdx) Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", "-f", "vhdx", output));
        if (blockSize is not { } bs) return;
        var placed = AssertDataInDiskOrder(output, qemuFormat, bs);
        long blocksWithData = nonZeroUnits.Select(i => i * unit / bs).Distinct().Count();
        using var disk = VirtualDisk.Open(output);
        long allocated = disk switch
        {
            P2V.Imaging.VirtualDisks.Vhd.VhdDisk v => v.AllocatedBlocks,
            P2V.Imaging.VirtualDisks.Vhdx.VhdxDisk x => x.AllocatedBlocks,
            _ => throw new InvalidOperationException(),
        };
        Assert.Equal(blocksWithData, allocated);
        if (format == VirtualDiskFormat.Vhdx) Assert.Equal(blocksWithData, placed.Count);
    }

    /// <summary>A read that fails in one worker stops the others and is the error the copy reports.</summary>
    [Fact]
    public void AFailedReadStopsTheCopy()
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw");
        MakeRaw(raw, 40 * MiB);
        using var source = new FailingReads(VirtualDisk.Open(raw), failAt: 33 * MiB);
        using var target = VirtualDisk.Create(dir.File("out.vhdx"), VirtualDiskFormat.Vhdx, source.Length);
        var e = Assert.Throws<IOException>(() => VirtualDiskCopier.Copy(source, target, workers: 8));
        Assert.Contains("injected read error", e.Message);
    }

    /// <summary>
    /// Scattered extents with zero granules inside the data, copied by 1, 2, 3 and 8 workers from a source that does and
    /// one that does not take concurrent reads, into a target that takes one write at a time and one that takes
    /// concurrent writes into 1 MiB blocks it must allocate first: the target holds exactly what a plain loop over the
    /// pieces would write; the first target gets its writes one at a time in rising disk order, the second its blocks
    /// allocated in rising order, each before any write into it; reads of the second source never overlap; a failed
    /// write is the copy's error.
    /// </summary>
    [Fact]
    public void CopiesWhatALoopWould()
    {
        var rng = new Random(5);
        const int length = 24 << 20, piece = 512 * 1024;
        for (int round = 0; round < 3; round++)
        foreach (bool concurrent in new[] { false, true })
        foreach (bool concurrentWrites in new[] { false, true })
        foreach (int workers in new[] { 1, 2, 3, 8 })
        {
            var src = new byte[length];
            var extents = new List<Extent>();
            for (long at = rng.Next(4096); at < length;)
            {
                int n = (int)Math.Min(1 + rng.Next(3 << 20), length - at);
                extents.Add(new Extent(at, n));
                if (rng.Next(3) > 0) rng.NextBytes(src.AsSpan((int)at, n));
                for (int z = 0; z < 8; z++)
                {
                    int p = (int)at + rng.Next(n);
                    src.AsSpan(p, Math.Min(4096 * rng.Next(1, 4), (int)(at + n) - p)).Clear();
                }
                at += n + 1 + rng.Next(2 << 20);
            }
            var expected = new byte[length];
            long expectedWritten = 0;
            foreach (var x in extents)
                for (long at = x.Offset; at < x.End;)
                {
                    int n = (int)Math.Min(x.End - at, piece - at % piece);
                    for (int pos = 0; pos < n; pos += 4096)
                    {
                        var granule = src.AsSpan((int)at + pos, Math.Min(4096, n - pos));
                        if (granule.IndexOfAnyExcept((byte)0) < 0) continue;
                        granule.CopyTo(expected.AsSpan((int)at + pos));
                        expectedWritten += granule.Length;
                    }
                    at += n;
                }
            var target = new MemoryDisk(new byte[length], true, [], concurrentWrites: concurrentWrites);
            Assert.Equal(expectedWritten, VirtualDiskCopier.Copy(new MemoryDisk(src, concurrent, extents), target, workers));
            Assert.Equal(expectedWritten, target.Written);
            string run = $"round {round}, concurrent reads {concurrent}, concurrent writes {concurrentWrites}, {workers} workers";
            Assert.True(expected.AsSpan().SequenceEqual(target.Bytes), $"bytes differ: {run}");
            if (concurrentWrites)
                Assert.Equal(Enumerable.Range(0, length / MemoryDisk.Block).Where(b => expected.AsSpan(b * MemoryDisk.Block, MemoryDisk.Block).IndexOfAnyExcept((byte)0) >= 0),
                    target.Allocated);

            int failAt = expected.AsSpan(length / 2).IndexOfAnyExcept((byte)0);
            if (failAt < 0) continue;
            var failing = new MemoryDisk(new byte[length], true, [], length / 2 + failAt, concurrentWrites);
            var e = Assert.Throws<IOException>(() => VirtualDiskCopier.Copy(new MemoryDisk(src, concurrent, extents), failing, workers));
            Assert.Contains("injected write error", e.Message);
        }
    }

    /// <summary>
    /// A disk in memory that fails on overlapping reads where it takes no concurrent ones; on overlapping or out-of-order
    /// writes where it takes no concurrent ones, and where it does, on a write into a block not allocated before and on
    /// blocks allocated out of order.
    /// </summary>
    private sealed class MemoryDisk(byte[] bytes, bool concurrentReads, List<Extent> extents, long failWriteAt = -1, bool concurrentWrites = false)
        : IVirtualDisk
    {
        public const int Block = 1 << 20;
        private int _reading, _writing;
        private long _lastWrite = -1;
        private readonly bool[] _present = new bool[(bytes.Length + Block - 1) / Block];
        public long Written;
        public List<int> Allocated { get; } = [];
        public long Length => bytes.Length;
        public int SectorSize => 512;
        public bool CanWrite => true;
        public bool ConcurrentReads => concurrentReads;
        public bool ConcurrentWrites => concurrentWrites;
        public byte[] Bytes => bytes;

        public bool NeedsAllocation(long offset, long length) =>
            concurrentWrites && Enumerable.Range((int)(offset / Block), (int)((offset + length - 1) / Block - offset / Block + 1)).Any(b => !Volatile.Read(ref _present[b]));

        public void Allocate(long offset, long length)
        {
            if (Interlocked.Increment(ref _writing) != 1) throw new InvalidOperationException("concurrent allocations");
            for (long b = offset / Block; b <= (offset + length - 1) / Block; b++)
            {
                if (_present[b]) continue;
                if (Allocated.Count > 0 && b < Allocated[^1]) throw new InvalidOperationException($"block {b} allocated after block {Allocated[^1]}");
                Allocated.Add((int)b);
                Volatile.Write(ref _present[b], true);
            }
            Interlocked.Decrement(ref _writing);
        }

        public void ReadAt(long offset, Span<byte> buffer)
        {
            if (!concurrentReads && Interlocked.Increment(ref _reading) != 1) throw new InvalidOperationException("concurrent reads");
            Thread.SpinWait(200);
            bytes.AsSpan((int)offset, buffer.Length).CopyTo(buffer);
            if (!concurrentReads) Interlocked.Decrement(ref _reading);
        }

        public void WriteAt(long offset, ReadOnlySpan<byte> data)
        {
            if (concurrentWrites)
            {
                if (NeedsAllocation(offset, data.Length)) throw new InvalidOperationException($"write at {offset} into a block not allocated");
                if (failWriteAt >= offset && failWriteAt < offset + data.Length) throw new IOException($"injected write error at {failWriteAt}");
                data.CopyTo(bytes.AsSpan((int)offset));
                Interlocked.Add(ref Written, data.Length);
                return;
            }
            if (Interlocked.Increment(ref _writing) != 1) throw new InvalidOperationException("concurrent writes");
            if (offset <= _lastWrite) throw new InvalidOperationException($"write at {offset} after one at {_lastWrite}");
            _lastWrite = offset;
            try
            {
                if (failWriteAt >= offset && failWriteAt < offset + data.Length) throw new IOException($"injected write error at {failWriteAt}");
                data.CopyTo(bytes.AsSpan((int)offset));
                Written += data.Length;
            }
            finally
            {
                Interlocked.Decrement(ref _writing);
            }
        }

        public IEnumerable<Extent> AllocatedExtents() => extents;
        public void Flush() { }
        public void Dispose() { }
    }

    /// <summary>A disk whose read of one offset fails, as a bad sector would.</summary>
    private sealed class FailingReads(IVirtualDisk inner, long failAt) : IVirtualDisk
    {
        public long Length => inner.Length;
        public int SectorSize => inner.SectorSize;
        public bool CanWrite => false;
        public bool ConcurrentReads => true;

        public void ReadAt(long offset, Span<byte> buffer)
        {
            if (offset <= failAt && failAt < offset + buffer.Length) throw new IOException($"injected read error at {failAt}");
            inner.ReadAt(offset, buffer);
        }

        public void WriteAt(long offset, ReadOnlySpan<byte> data) => throw new NotSupportedException();
        public IEnumerable<Extent> AllocatedExtents() => inner.AllocatedExtents();
        public void Flush() { }
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void RawPreallocationOptions()
    {
        using var dir = new TempDirectory();
        foreach (var how in new[] { Preallocation.Allocate, Preallocation.ZeroFill })
        {
            string path = dir.File($"{how}.raw");
            using (var d = VirtualDisk.Create(path, VirtualDiskFormat.Raw, 8 * MiB, new VirtualDiskCreateOptions { Preallocation = how }))
                Assert.Equal(8 * MiB, d.Length);
            Assert.Equal(8 * MiB, new FileInfo(path).Length);
            Assert.True(HostAllocated(path) >= 8 * MiB, $"{how}: {HostAllocated(path)} bytes allocated");
        }
    }

    [Fact]
    public void RefusesASmallerTarget()
    {
        using var dir = new TempDirectory();
        using var source = VirtualDisk.Create(dir.File("a.raw"), VirtualDiskFormat.Raw, 8 * MiB);
        using var target = VirtualDisk.Create(dir.File("b.raw"), VirtualDiskFormat.Raw, 4 * MiB);
        Assert.Throws<ArgumentException>(() => VirtualDiskCopier.Copy(source, target));
    }
}
