using System.Buffers;
using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>What a capture did, per volume and in total.</summary>
public sealed record CaptureResult(IReadOnlyList<VolumeStats> Volumes, long BytesRead, long BytesCaptured, long ZeroBytesSkipped,
    long ImageBytes, int Chunks, TimeSpan Elapsed, TimeSpan CpuTime);

/// <summary>
/// The capture pipeline: one reader doing large reads of only the planned regions, packing them into
/// ~1 MiB chunks; a worker per core hashing (BLAKE3) and compressing (LZ4); one writer emitting frames
/// in disk order. The bounded order queue is the only buffer: memory is a few MiB per core whatever the
/// disk size, and a slow sink slows the reader (backpressure).
/// </summary>
public sealed class CapturePipeline
{
    private const int ZeroScanBlock = 4096;

    public int Workers { get; init; } = Environment.ProcessorCount;

    public Action<PipelineProgress>? Progress { get; init; }

    public async Task<CaptureResult> RunAsync(IVirtualDisk disk, CapturePlan plan, Stream output, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
        int chunkSize = plan.Header.ChunkSize;
        int volumeCount = plan.Header.Volumes.Max(v => v.Index) + 1;
        var read = new long[volumeCount];
        var zeroSkipped = new long[volumeCount];
        var captured = new long[volumeCount];

        using var writer = new ImageWriter(output, plan.Header);
        long done = 0, total = plan.BytesToRead;
        await OrderedParallel.RunAsync<ChunkJob>(Workers,
            (emit, stop) => ReadRegions(disk, plan, chunkSize, read, zeroSkipped, emit, stop),
            Encode,
            job =>
            {
                if (job.Length > 0)
                    writer.WriteChunk(job.Codec, job.Length, job.Stored.AsSpan(0, job.StoredLength), job.Hash, job.Runs.AsSpan(0, job.RunCount));
                for (int i = 0; i < job.RunCount; i++) captured[job.RunVolumes[i]] += job.Runs[i].Length;
                done += job.Length + job.ZeroBytes;
                Progress?.Invoke(new PipelineProgress(done, total, writer.BytesWritten));
            },
            job => job.Release(), cancel).ConfigureAwait(false);

        var stats = plan.Header.Volumes
            .Select(v => new VolumeStats(v.Index, v.DeclaredUsedBytes, read[v.Index], captured[v.Index], zeroSkipped[v.Index]))
            .ToList();
        Verify(plan, stats);
        writer.Finish(stats);
        return new CaptureResult(stats, read.Sum(), captured.Sum(), zeroSkipped.Sum(), writer.BytesWritten, writer.ChunkCount,
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

    private static void ReadRegions(IVirtualDisk disk, CapturePlan plan, int chunkSize, long[] read, long[] zeroSkipped,
        Action<ChunkJob> emit, CancellationToken cancel)
    {
        var job = ChunkJob.Rent(chunkSize);
        foreach (var region in plan.Regions)
        {
            long pos = region.Range.Offset, end = region.Range.End;
            while (pos < end)
            {
                cancel.ThrowIfCancellationRequested();
                if (job.Length == chunkSize || job.RunCount == ImageFormat.MaxRunsPerChunk)
                {
                    emit(job);
                    job = ChunkJob.Rent(chunkSize);
                }
                int n = (int)Math.Min(chunkSize - job.Length, end - pos);
                var span = job.Data.AsSpan(job.Length, n);
                try
                {
                    disk.ReadAt(pos, span);
                }
                catch (IOException e)
                {
                    throw new IOException($"volume {region.VolumeIndex}: read of {n} bytes at disk offset {pos} failed: {e.Message}", e);
                }
                read[region.VolumeIndex] += n;
                if (region.SkipZeroBlocks) zeroSkipped[region.VolumeIndex] += job.AppendNonZero(pos, n, region.VolumeIndex);
                else job.AppendRun(pos, n, region.VolumeIndex);
                pos += n;
            }
        }
        // A chunk of only skipped zeros still goes through: progress counts them.
        if (job.Length > 0 || job.ZeroBytes > 0) emit(job);
        else job.Release();
    }

    private static void Encode(ChunkJob job)
    {
        if (job.Length == 0) return;
        job.Stored = ArrayPool<byte>.Shared.Rent(ChunkEncoder.MaxStoredLength(job.Length));
        (job.Codec, job.StoredLength) = ChunkEncoder.Encode(job.Data.AsSpan(0, job.Length), job.Stored, job.Hash);
    }

    /// <summary>A chunk in flight: the bytes read, the runs they came from, and (once encoded) its stored form.</summary>
    private sealed class ChunkJob
    {
        public byte[] Data = [];
        public int Length;
        public ChunkRun[] Runs = new ChunkRun[16];
        public int[] RunVolumes = new int[16];
        public int RunCount;
        public long ZeroBytes;
        public byte[] Stored = [];
        public int StoredLength;
        public ChunkCodec Codec;
        public readonly byte[] Hash = new byte[ImageFormat.HashLength];

        public static ChunkJob Rent(int chunkSize) => new() { Data = ArrayPool<byte>.Shared.Rent(chunkSize) };

        public void AppendRun(long diskOffset, int length, int volume)
        {
            if (RunCount > 0 && RunVolumes[RunCount - 1] == volume && Runs[RunCount - 1].DiskOffset + Runs[RunCount - 1].Length == diskOffset)
            {
                Runs[RunCount - 1] = Runs[RunCount - 1] with { Length = Runs[RunCount - 1].Length + length };
            }
            else
            {
                if (RunCount == Runs.Length)
                {
                    Array.Resize(ref Runs, RunCount * 2);
                    Array.Resize(ref RunVolumes, RunCount * 2);
                }
                Runs[RunCount] = new ChunkRun(diskOffset, length);
                RunVolumes[RunCount++] = volume;
            }
            Length += length;
        }

        /// <summary>Keeps only the blocks of the just-read bytes that are not all zero, compacting them in place; returns the zero bytes dropped.</summary>
        public long AppendNonZero(long diskOffset, int length, int volume)
        {
            int start = Length, src = 0, kept = 0;
            long zeros = 0;
            var data = Data.AsSpan(start, length);
            while (src < length)
            {
                // Blocks align to the disk, not to the read, so the same data skips the same way however it was read.
                int block = (int)Math.Min(ZeroScanBlock - (diskOffset + src) % ZeroScanBlock, length - src);
                var piece = data.Slice(src, block);
                if (piece.ContainsAnyExcept((byte)0))
                {
                    if (kept != src) piece.CopyTo(data[kept..]);
                    Length = start + kept; // AppendRun adds the block's length back
                    AppendRun(diskOffset + src, block, volume);
                    kept += block;
                }
                else
                {
                    zeros += block;
                }
                src += block;
            }
            Length = start + kept;
            ZeroBytes += zeros;
            return zeros;
        }

        public void Release()
        {
            if (Data.Length > 0) ArrayPool<byte>.Shared.Return(Data);
            if (Stored.Length > 0) ArrayPool<byte>.Shared.Return(Stored);
            Data = Stored = [];
        }
    }
}
