using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// The CPU limit of a capture, for bench/compare: the same bytes a capture reads, hashed (BLAKE3) and compressed
/// (LZ4) by <see cref="ChunkEncoder"/> on every worker at once, with no I/O in the timed part. The plan's bytes are read
/// a window at a time into memory (not timed), then cut into chunks of the content-defined chunker's normal size and
/// encoded in parallel (timed). A capture cannot go faster than this on the same cores.
/// </summary>
public static class CodecLimit
{
    private const int Window = 64 << 20;
    private const int ChunkSize = 64 << 10;

    /// <summary>Returns the bytes encoded, the seconds the encoding took, and the process's CPU seconds during it.</summary>
    public static (long Bytes, double Seconds, double CpuSeconds) Measure(IVirtualDisk disk, CapturePlan plan, int workers, CancellationToken cancel = default)
    {
        var window = new byte[Window];
        int filled = 0;
        long bytes = 0;
        var clock = new Stopwatch();
        var cpu = TimeSpan.Zero;
        var stored = new ThreadLocal<byte[]>(() => new byte[ChunkEncoder.MaxStoredLength(ChunkSize)]);
        void Encode()
        {
            int chunks = (filled + ChunkSize - 1) / ChunkSize;
            var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            clock.Start();
            Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = cancel }, i =>
            {
                Span<byte> hash = stackalloc byte[ImageFormat.HashLength];
                int start = i * ChunkSize;
                ChunkEncoder.Encode(window.AsSpan(start, Math.Min(ChunkSize, filled - start)), stored.Value, hash);
            });
            clock.Stop();
            cpu += Process.GetCurrentProcess().TotalProcessorTime - cpuStart;
            bytes += filled;
            filled = 0;
        }
        foreach (var region in plan.Regions)
        {
            for (long pos = region.Range.Offset; pos < region.Range.End;)
            {
                int n = (int)Math.Min(Window - filled, region.Range.End - pos);
                disk.ReadAt(pos, window.AsSpan(filled, n));
                filled += n;
                pos += n;
                if (filled == Window) Encode();
            }
        }
        if (filled > 0) Encode();
        stored.Dispose();
        return (bytes, clock.Elapsed.TotalSeconds, cpu.TotalSeconds);
    }
}
