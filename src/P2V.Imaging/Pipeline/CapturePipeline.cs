using System.Buffers;
using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>What a capture did, per volume and in total.</summary>
public sealed record CaptureResult(IReadOnlyList<VolumeStats> Volumes, long BytesRead, long BytesCaptured, long ZeroBytesSkipped,
    long ImageBytes, int Chunks, TimeSpan Elapsed, TimeSpan CpuTime);

/// <summary>
/// The capture pipeline: a read-ahead keeping several large reads of only the planned regions in flight
/// (<see cref="ExtentReadAhead"/>, past the page cache where the disk allows), and a worker per core that in turn cuts
/// the next chunk from them at stable boundaries (<see cref="ChunkBoundaries"/>, one worker at a time), hashes (BLAKE3)
/// and compresses it (LZ4 or zstd, <see cref="CodecChooser"/>), and hands the chunks that are next in disk order to a
/// sink (an image file, or the image store) (<see cref="OrderedParallel"/>). The window of chunks in flight is the only
/// buffer: memory is a few MiB per core whatever the disk size, and a slow sink slows the reading (backpressure).
/// </summary>
public sealed class CapturePipeline
{
    private const int ZeroScanBlock = 4096;

    public int Workers { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Chunks in flight, cut and not yet given to the sink, each in a buffer of the largest chunk (256 KiB) and its stored
    /// form; 0: 8 per worker + 2. Chunks are 64 KiB on average, so 2 per worker + 2 (restore's window) is under half a MiB
    /// and a slow chunk or write soon idles the workers; 8 per worker + 2 keeps them fed. A machine with
    /// little memory free gives fewer (the boot agent: docs/boot-images.md, Footprint).
    /// </summary>
    public int Window { get; init => field = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(Window), value, "chunks in flight: 0 (the default) or more"); }

    /// <summary>Pieces of <see cref="ExtentReadAhead.PieceSize"/> the read-ahead keeps in flight (its memory), at least two: a chunk viewing the piece just passed holds its slot.</summary>
    public int ReadAheadPieces { get; init => field = value >= 2 ? value : throw new ArgumentOutOfRangeException(nameof(ReadAheadPieces), value, "read-ahead pieces: at least two"); } = 8;

    public Action<PipelineProgress>? Progress { get; init; }

    /// <summary>
    /// Read a raw disk or block device past the page cache (O_DIRECT) where it allows that: a cold disk is read once,
    /// and the page cache would only add a copy and read-ahead into free clusters. Off, the read-ahead goes through the disk's reads.
    /// </summary>
    public bool DirectReads { get; init; } = true;

    /// <summary>Where chunks are cut.</summary>
    public ChunkBoundaries Boundaries { get; init; } = ChunkBoundaries.ContentDefined;

    /// <summary>Captures into an image file (or any stream).</summary>
    public async Task<CaptureResult> RunAsync(IVirtualDisk disk, CapturePlan plan, Stream output, CancellationToken cancel = default,
        CodecChoice codec = CodecChoice.Lz4)
    {
        using var sink = new ImageFileSink(output, plan.Header) { Codecs = new CodecChooser(codec, Workers) };
        return await RunAsync(disk, plan, sink, cancel).ConfigureAwait(false);
    }

    public async Task<CaptureResult> RunAsync(IVirtualDisk disk, CapturePlan plan, CaptureSink sink, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        int volumeCount = plan.Header.Volumes.Max(v => v.Index) + 1;
        var read = new long[volumeCount];
        var zeroSkipped = new long[volumeCount];
        var captured = new long[volumeCount];
        bool compress = sink.WantsEveryChunkCompressed;

        long done = 0, total = plan.BytesToRead;
        using var direct = DirectReads ? disk.OpenDirectReader() : null;
        using var readAhead = new ExtentReadAhead(disk, direct, plan.Regions, ReadAheadPieces);
        await OrderedParallel.RunAsync<CapturedChunk>(Workers,
            stop => ReadRegions(readAhead, plan, Boundaries, read, zeroSkipped, stop),
            chunk =>
            {
                if (chunk.Length == 0) return;
                long start = Stopwatch.GetTimestamp();
                chunk.Analyze();
                sink.Codecs.Analyzed(chunk.Length, Stopwatch.GetElapsedTime(start).TotalSeconds);
                if (compress) chunk.Compress(sink.Codecs);
            },
            async chunk =>
            {
                for (int i = 0; i < chunk.RunCount; i++) captured[chunk.RunVolumes[i]] += chunk.Runs[i].Length;
                done += chunk.Length + chunk.ZeroBytes;
                if (chunk.Length > 0) await sink.WriteAsync(chunk, cancel).ConfigureAwait(false);
                Progress?.Invoke(new PipelineProgress(done, total, sink.BytesWritten));
            },
            chunk => chunk.Release(), cancel, Window > 0 ? Window : 8 * Workers + 2).ConfigureAwait(false);

        var stats = plan.Header.Volumes
            .Select(v => new VolumeStats(v.Index, v.DeclaredUsedBytes, read[v.Index], captured[v.Index], zeroSkipped[v.Index]))
            .ToList();
        Verify(plan, stats);
        await sink.FinishAsync(stats, cancel).ConfigureAwait(false);
        return new CaptureResult(stats, read.Sum(), captured.Sum(), zeroSkipped.Sum(), sink.BytesWritten, sink.ChunkCount,
            clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpuStart);
    }
    /// <summary>
    /// Every volume must have been read exactly as declared, and every byte read must be in a chunk or
    /// counted as a skipped zero block; otherwise the image would claim data it does not hold.
    /// </summary>
    private static void Verify(CapturePlan plan, IReadOnlyList<VolumeStats> stats)
    {
        foreach (var s in stats)
        {
            var v = plan.Header.Volumes.First(x => x.Index == s.VolumeIndex);
            string name = v.Kind == VolumeKind.DiskMetadata ? "disk metadata" : $"volume {v.Index} ({v.Kind}, partition {v.PartitionNumber}, at disk offset {v.Offset})";
            if (s.BytesRead != s.DeclaredUsedBytes)
                throw new IOException($"{name}: the allocation map declares {s.DeclaredUsedBytes} used bytes but {s.BytesRead} were read; the image was not completed");
            if (s.BytesCaptured + s.ZeroBytesSkipped != s.BytesRead)
                throw new IOException($"{name}: {s.BytesRead} bytes were read but {s.BytesCaptured} captured and {s.ZeroBytesSkipped} skipped as zero; the image was not completed");
        }
    }

    /// <summary>
    /// Reads the regions in disk order and cuts chunks: at the boundaries' cut points, at their maximum
    /// size, and wherever the volume changes (so one volume's boundaries never depend on another's data).
    /// </summary>
    internal static IEnumerable<CapturedChunk> ReadRegions(ExtentReadAhead source, CapturePlan plan, ChunkBoundaries boundaries, long[] read,
        long[] zeroSkipped, CancellationToken cancel)
    {
        int max = boundaries.MaxChunkSize;
        // The chunk being cut is this method's until it is handed out; a run stopped early returns its buffer to the pool.
        CapturedChunk? chunk = CapturedChunk.Rent(max);
        try
        {
            int volume = -1;
            foreach (var region in plan.Regions)
            {
                if (region.VolumeIndex != volume && (chunk.Length > 0 || chunk.ZeroBytes > 0))
                {
                    var full = chunk;
                    chunk = CapturedChunk.Rent(max);
                    yield return full;
                }
                volume = region.VolumeIndex;
                long pos = region.Range.Offset, end = region.Range.End;
                while (pos < end)
                {
                    cancel.ThrowIfCancellationRequested();
                    // Reads of the boundaries' scan step: a cut leaves at most one step's bytes to move into the next chunk.
                    int n = (int)Math.Min(Math.Min(boundaries.ReadStep, max - chunk.Length), end - pos);
                    n = boundaries.LimitRead(pos, n);
                    // A read adds at most one run per 512-byte sector: keep the chunk within the format's run limit.
                    if (chunk.Length == max || chunk.RunCount + n / 512 + 1 > ImageFormat.MaxRunsPerChunk || boundaries.StartsNewChunk(chunk, pos))
                    {
                        var full = chunk;
                        chunk = CapturedChunk.Rent(max);
                        yield return full;
                        continue;
                    }
                    ExtentReadAhead.Piece piece;
                    int start;
                    try
                    {
                        piece = source.View(pos, n, out start, out n, cancel);
                    }
                    catch (IOException e)
                    {
                        throw new IOException($"volume {region.VolumeIndex}: {e.Message}", e);
                    }
                    chunk.Place(piece, start, n);
                    read[region.VolumeIndex] += n;
                    if (region.SkipZeroBlocks) zeroSkipped[region.VolumeIndex] += chunk.AppendNonZero(pos, n, region.VolumeIndex, ZeroScanBlock);
                    else chunk.AppendRun(pos, n, region.VolumeIndex);
                    pos += n;
                    int cut;
                    while ((cut = boundaries.FindCut(chunk)) > 0)
                    {
                        var full = chunk;
                        chunk = full.SplitAt(cut);
                        yield return full;
                    }
                    // A cut falls within the bytes just placed: the piece a copied chunk kept for it is needed no longer.
                    chunk.ReleaseLast();
                }
            }
            // A chunk of only skipped zeros still goes through: progress counts them.
            var last = chunk;
            chunk = null;
            if (last.Length > 0 || last.ZeroBytes > 0) yield return last;
            else last.Release();
        }
        finally
        {
            chunk?.Release();
        }
    }
}
