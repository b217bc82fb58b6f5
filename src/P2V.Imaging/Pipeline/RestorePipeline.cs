using System.Buffers;
using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>What a restore wrote.</summary>
public sealed record RestoreResult(long BytesWritten, long ZeroBytesSkipped, int Chunks, TimeSpan Elapsed, TimeSpan CpuTime);

/// <summary>
/// The restore pipeline: a worker per core that in turn takes the next frame from the image (a file or the image store, one
/// worker at a time), decompresses it and verifies its BLAKE3; each chunk is written at its disk offsets when it is next
/// in disk order (one worker at a time, <see cref="OrderedParallel"/>), past the page cache where the target allows that
/// (<see cref="DirectWriter"/>). Only captured ranges are written: on a fresh (sparse) target, zero chunks are not
/// written either.
/// </summary>
public sealed class RestorePipeline
{
    public int Workers { get; init; } = Environment.ProcessorCount;

    // The restore ends in a flush: the disk starts on what was written every so often, rather than all of it at the end.
    private const long WriteBackEvery = 64 << 20;

    public Action<PipelineProgress>? Progress { get; init; }

    /// <summary>True when the target is new and reads as zeros wherever nothing was written.</summary>
    public bool TargetIsBlank { get; init; }

    /// <summary>
    /// Write a raw disk, a fixed VHD or a block device past the page cache (O_DIRECT) where it allows that: each byte is
    /// written once, and the page cache adds a copy and dirty pages to write back. Null (the default): onto a disk that
    /// holds data (a deploy onto a VM's disk, where the boot image has no page cache to spare), not into a new file,
    /// where writing through the page cache measured faster on this machine's disk
    /// (docs/capture-and-restore.md, "Direct writes"). True or false: always or never.
    /// </summary>
    public bool? DirectWrites { get; init; }

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
        long written = 0, writtenBack = 0, zeroSkipped = 0, done = 0, total = image.Trailer.TotalUncompressed;
        int chunks = 0;
        // One writer at a time in disk order: a bad chunk stops the restore before anything after it is written, a VHD's
        // or VHDX's blocks are allocated in disk order, and writers do not queue on the file's lock. Each worker writing
        // the chunk it decoded spun on that lock instead (rwsem_spin_on_owner 5.5% of a restore's samples) and was 5-15%
        // slower once the hash no longer bounded the restore (docs/capture-and-restore.md, "BLAKE3 on AVX-512").
        // Direct writes are gathered into large writes (DirectWriter).
        using var direct = (DirectWrites ?? !TargetIsBlank) && !VerifyOnly ? target!.OpenDirectWriter(TargetIsBlank) : null;
        try
        {
            await OrderedParallel.RunAsync<RestoreJob>(Workers,
                stop => image.ReadFrames(stop).Select(frame => new RestoreJob(frame)),
                Decode,
                job =>
                {
                    var header = job.Frame.Header;
                    bool skip = Skips(header);
                    if (!skip) WriteRuns(job, target!, direct);
                    if (skip && !VerifyOnly) zeroSkipped += header.UncompressedLength;
                    else if (!VerifyOnly) written += header.UncompressedLength;
                    if (direct is null && written - writtenBack >= WriteBackEvery)
                    {
                        target!.StartWriteBack();
                        writtenBack = written;
                    }
                    done += header.UncompressedLength;
                    chunks++;
                    Progress?.Invoke(new PipelineProgress(done, total, job.Frame.FrameOffset));
                    return ValueTask.CompletedTask;
                },
                job => job.Release(), cancel).ConfigureAwait(false);
            if (chunks != image.Trailer.Chunks.Count)
                throw new ImageFormatException(0, $"the index lists {image.Trailer.Chunks.Count} chunks but {chunks} were read");
            direct?.Flush();
        }
        catch when (direct is not null && !TargetIsBlank)
        {
            // An existing disk keeps what was written in order before the failure, as writes through the page cache
            // would have: the pieces of its partly written blocks too. (A new file is removed.)
            try { direct.Flush(); } catch (Exception) { /* the failure is what is reported */ }
            throw;
        }
        target?.Flush();
        return new RestoreResult(written, zeroSkipped, chunks, clock.Elapsed, Process.GetCurrentProcess().TotalProcessorTime - cpuStart);
    }

    /// <summary>Nothing to write: verifying only, or a zero chunk on a target that reads zeros anyway.</summary>
    private bool Skips(ChunkFrameHeader header) => VerifyOnly || (header.Codec == ChunkCodec.Zero && TargetIsBlank);

    private static void WriteRuns(RestoreJob job, IVirtualDisk target, DirectWriter? direct)
    {
        int at = 0;
        foreach (var run in job.Frame.Header.Runs)
        {
            if (direct is not null) direct.Write(run.DiskOffset, job.Data.AsSpan(at, run.Length));
            else target.WriteAt(run.DiskOffset, job.Data.AsSpan(at, run.Length));
            at += run.Length;
        }
    }

    private static void Decode(RestoreJob job)
    {
        var h = job.Frame.Header;
        job.Data = ArrayPool<byte>.Shared.Rent(h.UncompressedLength);
        ChunkEncoder.Decode(h, job.Frame.Payload, job.Data.AsSpan(0, h.UncompressedLength), job.Frame.FrameOffset);
    }

    private sealed class RestoreJob(ChunkFrame frame)
    {
        public ChunkFrame Frame { get; } = frame;
        public byte[] Data = [];

        public void Release()
        {
            Frame.ReturnBuffer();
            if (Data.Length > 0) ArrayPool<byte>.Shared.Return(Data);
            Data = [];
        }
    }
}
