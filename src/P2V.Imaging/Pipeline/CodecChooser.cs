using System.Diagnostics;
using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Picks how each chunk a capture compresses is compressed (docs/capture-and-restore.md, "Codecs"). With one codec
/// asked for, always that one (zstd at its default level). With <see cref="CodecChoice.Auto"/>, the rung of a ladder
/// (LZ4, then zstd at rising levels) that moves the disk's bytes fastest through the slower of the two stages it feeds:
/// the workers and the destination. Per rung c it keeps the measured compression time t_c (seconds per uncompressed
/// byte on one worker) and ratio r_c (stored / uncompressed); of the workers, the seconds per byte A of their other
/// work (hash, zero check); of the destination, the seconds d it takes a stored byte (<see cref="Drained"/>). A byte then costs
/// max((t_c + A) / W, r_c · d) seconds, W workers at once; the smallest wins. Every estimate averages seconds per
/// byte, not bytes per second: a fast sample and a slow one of the same size average to what the two took. A local file
/// (GB/s) makes the CPU term dominate, where LZ4 wins; a 1 Gb/s link (117 MB/s) the link term, where zstd's smaller
/// output wins; a slower link leaves the CPU time for a higher level. The first 8 chunks and every 16th after them are
/// probes, compressed with the chosen rung and its two neighbours on the same bytes; the choice climbs or descends one rung
/// at a time, to a neighbour that costs less, as the estimates follow the data and the link's load.
/// </summary>
public sealed class CodecChooser
{
    private const int ProbeEvery = 16;
    // The first chunks are all probes, so that the rungs around the start are measured before the choice counts.
    private const int Warmup = 8;
    // Exponential moving averages: weight of the newest sample.
    private const double Weight = 0.05;

    /// <summary>
    /// Fastest first, each smaller than the one before. zstd -b on 64 KiB blocks of bench/compare link's volume: levels
    /// 1, 3, 6, 9 at 425, 329, 119, 70 MB/s a core to 54.5, 53.0, 51.6, 51.2% of the input (LZ4: 825 MB/s, 63.5%); level 12 takes 0.4% less at
    /// 29 MB/s, which a link of a few MB/s is the only use for and probing it would cost every other one.
    /// </summary>
    private static readonly (ChunkCodec Codec, int Level)[] Ladder =
        [(ChunkCodec.Lz4, 0), (ChunkCodec.Zstd, 1), (ChunkCodec.Zstd, 3), (ChunkCodec.Zstd, 6), (ChunkCodec.Zstd, HighestZstdLevel)];

    private readonly Lock _lock = new();
    // The chosen rung's own estimate, from every chunk it compresses.
    private readonly Estimate _chosenRung = new();
    // _steps[i]: rung i against rung i - 1 on the same bytes (time and stored length, each as a factor).
    private readonly Estimate[] _steps = [.. Ladder.Select(_ => new Estimate())];
    private readonly Estimate _analysis = new(), _drain = new();
    private const long DrainWindow = 4 << 20;
    private double _windowSeconds;
    private long _windowBytes, _windowStart;
    private long _picked;
    // The first chosen rung is zstd 1, so that the first probes measure both of its neighbours. (Until the destination has
    // been measured, only the CPU term counts, and the choice moves to LZ4 after the first probe.)
    private int _chosen = 1;

    /// <summary>The top of the ladder.</summary>
    public const int HighestZstdLevel = 9;

    private readonly int _top;

    /// <param name="maxZstdLevel">The highest zstd level auto may climb to (a context at level 9 holds 3.6 MiB, at level 1 0.6).</param>
    public CodecChooser(CodecChoice choice, int workers, int maxZstdLevel = HighestZstdLevel)
    {
        Choice = choice;
        Workers = Math.Max(1, workers);
        _top = Array.FindLastIndex(Ladder, r => r.Level <= Math.Max(ZstdBlock.DefaultLevel, maxZstdLevel));
    }

    public CodecChoice Choice { get; }
    public int Workers { get; }

    public static CodecChooser Lz4 { get; } = new(CodecChoice.Lz4, 1);

    /// <summary>The codec and zstd level for the next chunk to compress; with auto, a move of one rung at most, as a compression would make. Thread-safe.</summary>
    public (ChunkCodec Codec, int Level) Next()
    {
        switch (Choice)
        {
            case CodecChoice.Lz4: return (ChunkCodec.Lz4, 0);
            case CodecChoice.Zstd: return (ChunkCodec.Zstd, ZstdBlock.DefaultLevel);
        }
        lock (_lock) return Ladder[Best()];
    }

    /// <summary>
    /// The chosen rung, or a rung beside it where that costs less. A neighbour is estimated from the chosen rung's
    /// estimate and the factor between the two measured on the same bytes: estimates of two rungs kept apart follow
    /// different data (one probed while the disk held text, the other also while it held random data) and compare badly.
    /// </summary>
    private int Best()
    {
        if (_chosenRung.Samples == 0) return _chosen;
        int best = _chosen;
        double least = Cost(_chosenRung.SecondsPerByte, _chosenRung.Ratio);
        if (_chosen > 0 && _steps[_chosen].Samples > 0)
        {
            var step = _steps[_chosen];
            double cost = Cost(_chosenRung.SecondsPerByte / step.SecondsPerByte, _chosenRung.Ratio / step.Ratio);
            if (cost < least) (least, best) = (cost, _chosen - 1);
        }
        if (_chosen < _top && _steps[_chosen + 1].Samples > 0)
        {
            var step = _steps[_chosen + 1];
            double cost = Cost(_chosenRung.SecondsPerByte * step.SecondsPerByte, _chosenRung.Ratio * step.Ratio);
            if (cost < least) (least, best) = (cost, _chosen + 1);
        }
        if (best == _chosen) return _chosen;
        // The new rung's estimate starts where the factor from its neighbour puts it.
        bool up = best > _chosen;
        var factor = _steps[up ? best : _chosen];
        _chosenRung.SecondsPerByte *= up ? factor.SecondsPerByte : 1 / factor.SecondsPerByte;
        _chosenRung.Ratio *= up ? factor.Ratio : 1 / factor.Ratio;
        return _chosen = best;
    }

    /// <summary>Seconds per uncompressed byte: the slower of the workers (compressing and the rest) and draining the output.</summary>
    private double Cost(double secondsPerByte, double ratio) =>
        Math.Max((secondsPerByte + _analysis.SecondsPerByte) / Workers, ratio * _drain.SecondsPerByte);

    /// <summary>The destination's drain rate, in stored bytes per second (for the bench and tests' diagnostics).</summary>
    public double DrainRate { get { lock (_lock) return _drain.Samples == 0 ? double.PositiveInfinity : 1 / _drain.SecondsPerByte; } }

    /// <summary>Compresses with what <see cref="Next"/> picks, measuring the time it took when the choice is automatic.</summary>
    public (ChunkCodec Codec, int StoredLength) Compress(ReadOnlySpan<byte> data, Span<byte> stored)
    {
        if (Choice != CodecChoice.Auto)
        {
            var (codec, level) = Next();
            return ChunkEncoder.Compress(data, stored, codec, level);
        }
        long n = Interlocked.Increment(ref _picked);
        int rung;
        lock (_lock) rung = Best();
        bool probe = n <= Warmup || n % ProbeEvery == 0;
        // A probe compresses the chunk on the chosen rung and the rungs beside it, the chosen one last (its output is
        // kept): the factors between neighbours are always measured on the same bytes.
        Span<(ChunkCodec, int, int, double)> results = stackalloc (ChunkCodec, int, int, double)[3];
        int count = 0;
        if (probe && rung > 0) results[count++] = Measure(rung - 1, data, stored);
        if (probe && rung < _top) results[count++] = Measure(rung + 1, data, stored);
        results[count++] = Measure(rung, data, stored);
        Probed(data.Length, results[..count]);
        var (chosenCodec, _, storedLength, _) = results[count - 1];
        // A chunk the codec did not shrink went into stored as is (ChunkEncoder.Compress); only then is it as long as the data.
        return (storedLength == data.Length ? ChunkCodec.Stored : chosenCodec, storedLength);
    }

    private static (ChunkCodec Codec, int Level, int Stored, double Seconds) Measure(int rung, ReadOnlySpan<byte> data, Span<byte> stored)
    {
        var (codec, level) = Ladder[rung];
        long start = Stopwatch.GetTimestamp();
        var (_, length) = ChunkEncoder.Compress(data, stored, codec, level);
        return (codec, level, length, Stopwatch.GetElapsedTime(start).TotalSeconds);
    }

    /// <summary>
    /// <paramref name="length"/> bytes were compressed on each of <paramref name="sameBytes"/>'s rungs (codec, zstd level,
    /// stored length, seconds): the chosen rung's result updates its estimate, each pair of neighbours the factor between them.
    /// A chunk stored as is still tells the codec's speed; its ratio counts as 1 (that is what went out).
    /// </summary>
    public void Probed(int length, ReadOnlySpan<(ChunkCodec Codec, int Level, int Stored, double Seconds)> sameBytes)
    {
        if (Choice != CodecChoice.Auto || length <= 0) return;
        Span<int> rungs = stackalloc int[sameBytes.Length];
        for (int i = 0; i < sameBytes.Length; i++)
            rungs[i] = sameBytes[i].Stored <= 0 ? -1 : Array.IndexOf(Ladder, (sameBytes[i].Codec, sameBytes[i].Codec == ChunkCodec.Zstd ? sameBytes[i].Level : 0));
        lock (_lock)
        {
            for (int i = 0; i < sameBytes.Length; i++)
            {
                if (rungs[i] < 0) continue;
                double time = Math.Max(sameBytes[i].Seconds, 1e-9) / length, ratio = (double)sameBytes[i].Stored / length;
                if (rungs[i] == _chosen) _chosenRung.Add(time, ratio);
                for (int j = 0; j < sameBytes.Length; j++)
                    if (rungs[j] >= 0 && rungs[j] == rungs[i] - 1)
                        _steps[rungs[i]].Add(time / (Math.Max(sameBytes[j].Seconds, 1e-9) / length), ratio / ((double)sameBytes[j].Stored / length));
            }
        }
    }

    /// <summary>A worker hashed and zero-checked <paramref name="length"/> bytes in <paramref name="seconds"/>: work every rung adds to.</summary>
    public void Analyzed(int length, double seconds)
    {
        if (Choice != CodecChoice.Auto || length <= 0) return;
        lock (_lock) _analysis.Add(seconds / length, 0);
    }

    /// <summary>
    /// The sink took <paramref name="seconds"/> to write <paramref name="bytes"/> stored bytes to its destination.
    /// Writes are summed over windows of 4 MiB or more, each starting where the one before ended, so that the time the sink
    /// sat idle counts: one write into a buffer returns at once, the one that fills it waits for the whole buffer to drain,
    /// and the store sink reports each batch's upload in one call. Where the sink spent at least half of a window's wall
    /// time writing, the destination was the bottleneck, and the window's wall time over its bytes is a sample of its drain
    /// time. Where it spent less, the destination took all it was given: the estimate moves towards twice the time spent
    /// writing (below the wall time, so that a choice the cores hold back can step down when the link speeds up), if the
    /// estimate is above that. (The time spent writing alone, the first measure, is small whenever the cores fall behind
    /// the link: then LZ4 looked best, ran ahead, filled the link, and zstd looked best again.)
    /// </summary>
    public void Drained(long bytes, double seconds)
    {
        if (Choice != CodecChoice.Auto || bytes <= 0) return;
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            if (_windowStart == 0) _windowStart = now - (long)(seconds * Stopwatch.Frequency);
            _windowBytes += bytes;
            _windowSeconds += seconds;
            if (_windowBytes < DrainWindow) return;
            double wall = Math.Max(Stopwatch.GetElapsedTime(_windowStart, now).TotalSeconds, _windowSeconds);
            // The link's load changes faster than the data: four times the weight.
            if (_windowSeconds >= wall / 2) _drain.Add(wall / _windowBytes, 0, 4 * Weight);
            else if (_drain.Samples > 0 && 2 * _windowSeconds / _windowBytes < _drain.SecondsPerByte) _drain.Add(2 * _windowSeconds / _windowBytes, 0, 4 * Weight);
            (_windowBytes, _windowSeconds, _windowStart) = (0, 0, now);
        }
    }

    private sealed class Estimate
    {
        public int Samples;
        public double SecondsPerByte, Ratio;

        public void Add(double secondsPerByte, double ratio, double weight = Weight)
        {
            if (Samples++ == 0) (SecondsPerByte, Ratio) = (secondsPerByte, ratio);
            else
            {
                SecondsPerByte += weight * (secondsPerByte - SecondsPerByte);
                Ratio += weight * (ratio - Ratio);
            }
        }
    }
}
