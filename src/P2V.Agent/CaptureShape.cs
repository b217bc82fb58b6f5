using P2V.Imaging.Pipeline;

namespace P2V.Agent;

/// <summary>
/// How much of a capture the agent holds in memory, sized to the memory free when the step starts (docs/boot-images.md,
/// Footprint): a quarter of MemAvailable goes to the buffers, the rest stays for the kernel, the agent's code pages
/// (read on demand from the boot image) and the garbage collector's headroom. Of that quarter: a quarter to the
/// read-ahead (1 MiB pieces), a quarter to the workers' windows (8 chunks of up to 256 KiB a worker), half to the store
/// batches (the batches in memory hold about 4 × <see cref="BatchBytes"/>: data and compressed form). At the smallest
/// the floors (2 read-ahead pieces, 4 chunks in flight, 256 KiB batches, the pools' power-of-two buffers) come to
/// 5–7 MiB, more than a quarter of what a 104 MiB machine has free.
/// A server with memory to spare gets the full pipeline; a 120 MiB machine one worker, a short window and small batches,
/// and zstd at level 1 only: a context for 256 KiB chunks holds 0.6 MiB at level 1, 1 MiB at 3 and 3.6 MiB at 6 and 9
/// (ZSTD_sizeof_CCtx), so the codec chooser climbs past level 1 for a slow link only where an eighth of what is free holds
/// a level-9 context per worker.
/// </summary>
internal sealed record CaptureShape(int Workers, int Window, int ReadAheadPieces, long BatchBytes, int MaxZstdLevel)
{
    private const long MiB = 1L << 20;
    private const long WorkerBytes = 2 * MiB;
    private const int FullReadAhead = 8;
    private const long ZstdContextBytes = 4 * MiB;

    /// <summary>The shape for <paramref name="memoryAvailable"/> bytes free (0: unknown, the full pipeline) on <paramref name="cores"/> cores.</summary>
    public static CaptureShape For(long memoryAvailable, int cores)
    {
        if (memoryAvailable <= 0) return new(cores, 0, FullReadAhead, P2V.Store.StoreCaptureSink.DefaultBatchBytes, CodecChooser.HighestZstdLevel);
        long quarter = memoryAvailable / 4 / 4;
        // Each worker's full window (8 chunks) and the chunk being cut: more memory never gives fewer workers or a shorter window.
        int workers = (int)Math.Clamp((quarter - MiB / 2) / WorkerBytes, 1, cores);
        // Where even one worker's full window does not fit, 2 + 2: a stall idles the worker sooner, nothing more.
        int window = quarter >= WorkerBytes + MiB / 2 ? 8 * workers + 2 : 2 * workers + 2;
        int readAhead = (int)Math.Clamp(quarter / MiB, 2, FullReadAhead);
        long batch = Math.Clamp(memoryAvailable / 4 / 2 / 4, P2V.Store.StoreCaptureSink.MinBatchBytes, P2V.Store.StoreCaptureSink.DefaultBatchBytes);
        int zstd = memoryAvailable / 8 >= workers * ZstdContextBytes ? CodecChooser.HighestZstdLevel : ZstdBlock.DefaultLevel;
        return new(workers, window, readAhead, batch, zstd);
    }

    public override string ToString() =>
        $"{Workers} worker(s), {Window} chunks in flight, {ReadAheadPieces} MiB read ahead, store batches of {BatchBytes >> 10} KiB, zstd up to level {MaxZstdLevel}";
}
