using P2V.Imaging.Pipeline;

namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// Copies one disk into another: only the source's allocated ranges are read, and only the 4 KiB pieces of them
/// that are not all zeros are written (the target reads zeros elsewhere). Workers read pieces and find their non-zero
/// runs in parallel; one at a time, in disk order, each writes the pieces that are next (<see cref="OrderedParallel"/>,
/// as a restore does). So a dynamic VHD's or VHDX's blocks are allocated in disk order, and the target file has one
/// writer: eight workers writing their own pieces in turn spent two fifths of the copy's samples spinning on the file's
/// lock and waking each other (docs/virtual-disks.md, "Benchmark").
/// </summary>
public static class VirtualDiskCopier
{
    // Small enough to stay in the CPU cache between the read that fills it and the write that drains it: the
    // kernel's copy into the page cache then runs about three times faster than from a 4 MiB buffer that a
    // second thread filled (measured with perf on ext4).
    private const int Piece = 512 * 1024;
    private const int ZeroGranule = 4096;

    /// <summary>A worker per core, and at least four reads in flight for a source that is on a disk rather than in the page cache.</summary>
    public static int DefaultWorkers => Math.Max(4, Environment.ProcessorCount);

    /// <summary>Returns the number of bytes written.</summary>
    public static long Copy(IVirtualDisk source, IVirtualDisk target, CancellationToken cancel = default) =>
        Copy(source, target, DefaultWorkers, cancel);

    public static long Copy(IVirtualDisk source, IVirtualDisk target, int workers, CancellationToken cancel = default)
    {
        if (target.Length < source.Length)
            throw new ArgumentException($"the target ({target.Length} bytes) is smaller than the source ({source.Length} bytes)");
        // A source that cannot take concurrent reads is read where the pieces are taken, one at a time.
        bool readWhenTaken = !source.ConcurrentReads;
        var extents = UsedExtentMap.From(source.AllocatedExtents(), source.Length).Extents;
        var spare = new Stack<CopyPiece>();
        long written = 0;
        OrderedParallel.RunAsync<CopyPiece>(workers,
            stop => Pieces(extents, source, readWhenTaken, spare, stop),
            piece =>
            {
                if (!readWhenTaken) source.ReadAt(piece.Offset, piece.Data);
                piece.FindNonZeroRuns();
            },
            piece =>
            {
                foreach (var (s, e) in piece.Runs)
                {
                    target.WriteAt(piece.Offset + s, piece.Data[s..e]);
                    written += e - s;
                }
                return ValueTask.CompletedTask;
            },
            piece => { lock (spare) spare.Push(piece); }, cancel).GetAwaiter().GetResult();
        return written;
    }

    /// <summary>The pieces of the used extents in disk order; pieces end on the piece grid.</summary>
    private static IEnumerable<CopyPiece> Pieces(IReadOnlyList<Extent> extents, IVirtualDisk source, bool read, Stack<CopyPiece> spare,
        CancellationToken cancel)
    {
        foreach (var extent in extents)
        {
            for (long at = extent.Offset; at < extent.End;)
            {
                cancel.ThrowIfCancellationRequested();
                int n = (int)Math.Min(extent.End - at, Piece - at % Piece);
                CopyPiece? piece;
                lock (spare) spare.TryPop(out piece);
                piece ??= new CopyPiece();
                piece.Take(at, n);
                if (read) source.ReadAt(at, piece.Data);
                yield return piece;
                at += n;
            }
        }
    }

    /// <summary>One piece of the source: where it is, its bytes in a page-aligned buffer, and the runs of them to write.</summary>
    private sealed class CopyPiece
    {
        private readonly byte[] _buffer;
        private readonly int _skew;
        private int _length;

        public CopyPiece()
        {
            // Page-aligned, as the kernel copies to and from the page cache fastest.
            _buffer = GC.AllocateUninitializedArray<byte>(Piece + DirectReader.Alignment, pinned: true);
            _skew = DirectReader.AlignedOffset(_buffer);
        }

        public long Offset { get; private set; }
        public Span<byte> Data => _buffer.AsSpan(_skew, _length);
        public List<(int Start, int End)> Runs { get; } = [];

        public void Take(long offset, int length) => (Offset, _length) = (offset, length);

        /// <summary>The runs of granules that hold any non-zero byte.</summary>
        public void FindNonZeroRuns()
        {
            Runs.Clear();
            var data = Data;
            int pos = 0;
            while (pos < data.Length)
            {
                while (pos < data.Length && IsZero(data, pos)) pos += ZeroGranule;
                if (pos >= data.Length) break;
                int start = pos;
                while (pos < data.Length && !IsZero(data, pos)) pos += ZeroGranule;
                Runs.Add((start, Math.Min(pos, data.Length)));
            }
        }

        private static bool IsZero(ReadOnlySpan<byte> data, int pos) =>
            data.Slice(pos, Math.Min(ZeroGranule, data.Length - pos)).IndexOfAnyExcept((byte)0) < 0;
    }
}
