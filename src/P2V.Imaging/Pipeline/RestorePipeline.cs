using System.Buffers;
using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>What a restore wrote.</summary>
public sealed record RestoreResult(long BytesWritten, long ZeroBytesSkipped, int Chunks, TimeSpan Elapsed, TimeSpan CpuTime);

/// <summary>
/// The restore pipeline: one reader streaming frames from the image (a file or the image store); a worker per core decompressing and
/// verifying each chunk's BLAKE3; one writer putting the runs at their disk offsets, in disk order. Only
/// captured ranges are written: on a fresh (sparse) target, zero chunks are not written either.
/// </summary>
public sealed class RestorePipeline
{
    public int Workers { get; init; } = Environment.ProcessorCount;

    public Action<PipelineProgress>? Progress { get; init; }

    /// <summary>True when the target is new and reads as zeros wherever nothing was written.</summary>
    public bool TargetIsBlank { get; init; }

    /// <summary>Only check the image (decompress and hash every chunk); write nothing.</summary>
    public bool VerifyOnly { get; init; }

    public async Task<RestoreResult> RunAsync(IImageSource image, IVirtualDisk? target, CancellationToken cancel = default)
    {
        if (!VerifyOnly)
        {
            ArgumentNullException.ThrowIfNull(target);
            if (target.Length < image.Header.DiskLength)
                throw new IOException($"the target holds {target.Length} bytes but the image's disk is {image.Header.DiskLength} bytes");
            // An existing disk is not ours to half-write: a damaged frame header or trailer is found before the first write.
            // (A new file is a .partial that a failure removes.) A damaged payload is still found only when its chunk comes.
            // A store's image has no frame headers: its chunks come from the manifest and each is hash-checked on read.
            if (!TargetIsBlank && image is ImageReader file) file.CheckFrameHeaders(cancel);
        }
        var clock = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        long written = 0, zeroSkipped = 0, done = 0, total = image.Trailer.TotalUncompressed;
        int chunks = 0;
        // A target that takes concurrent writes gets each chunk from the worker that decoded it, while it is still in
        // that core's cache; the turns keep block allocation (and the first write after a bad chunk) in disk order.
        bool workersWrite = !VerifyOnly && target!.ConcurrentWrites;
        var turns = new TurnSequencer();
        long sequence = 0;
        await OrderedParallel.RunAsync<RestoreJob>(Workers,
            stop => image.ReadFrames(stop).Select(frame => new RestoreJob(frame, sequence++)),
            job =>
            {
                try
                {
                    Decode(job);
                    if (workersWrite) WriteInTurn(job, target!, turns, cancel);
                }
                catch (Exception e)
                {
                    turns.Abandon(e);
                    throw;
                }
            },
            job =>
            {
                try
                {
                    var header = job.Frame.Header;
                    bool skip = Skips(header);
                    if (!skip && !workersWrite) WriteRuns(job, target!);
                    if (skip && !VerifyOnly) zeroSkipped += header.UncompressedLength;
                    else if (!VerifyOnly) written += header.UncompressedLength;
                    done += header.UncompressedLength;
                    chunks++;
                    Progress?.Invoke(new PipelineProgress(done, total, job.Frame.FrameOffset));
                    return ValueTask.CompletedTask;
                }
                catch (Exception e)
                {
                    // The workers stop taking jobs now: one waiting for a turn that an untaken job holds must not wait forever.
                    turns.Abandon(e);
                    throw;
                }
            },
            job => job.Release(), cancel).ConfigureAwait(false);
        if (chunks != image.Trailer.Chunks.Count)
            throw new ImageFormatException(0, $"the index lists {image.Trailer.Chunks.Count} chunks but {chunks} were read");
        target?.Flush();
        return new RestoreResult(written, zeroSkipped, chunks, clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpuStart);
    }

    /// <summary>Nothing to write: verifying only, or a zero chunk on a target that reads zeros anyway.</summary>
    private bool Skips(ChunkFrameHeader header) => VerifyOnly || (header.Codec == ChunkCodec.Zero && TargetIsBlank);

    /// <summary>Allocates the chunk's blocks when every earlier chunk has (and so was verified), then writes without waiting.</summary>
    private void WriteInTurn(RestoreJob job, IVirtualDisk target, TurnSequencer turns, CancellationToken cancel)
    {
        bool skip = Skips(job.Frame.Header);
        turns.WaitFor(job.Sequence, cancel);
        if (!skip)
            foreach (var run in job.Frame.Header.Runs) target.Allocate(run.DiskOffset, run.Length);
        turns.Pass();
        if (!skip) WriteRuns(job, target);
    }

    private static void WriteRuns(RestoreJob job, IVirtualDisk target)
    {
        int at = 0;
        foreach (var run in job.Frame.Header.Runs)
        {
            target.WriteAt(run.DiskOffset, job.Data.AsSpan(at, run.Length));
            at += run.Length;
        }
    }

    private static void Decode(RestoreJob job)
    {
        var h = job.Frame.Header;
        job.Data = ArrayPool<byte>.Shared.Rent(h.UncompressedLength);
        ChunkEncoder.Decode(h, job.Frame.Payload.AsSpan(0, h.StoredLength), job.Data.AsSpan(0, h.UncompressedLength), job.Frame.FrameOffset);
    }

    private sealed class RestoreJob(ChunkFrame frame, long sequence)
    {
        public ChunkFrame Frame { get; } = frame;
        /// <summary>The chunk's place in the image, which is disk order: its turn to allocate.</summary>
        public long Sequence { get; } = sequence;
        public byte[] Data = [];

        public void Release()
        {
            Frame.ReturnBuffer();
            if (Data.Length > 0) ArrayPool<byte>.Shared.Return(Data);
            Data = [];
        }
    }
}
