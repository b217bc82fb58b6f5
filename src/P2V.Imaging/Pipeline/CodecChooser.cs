using System.Diagnostics;
using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Picks the codec of each chunk a capture compresses (docs/capture-and-restore.md, "Codecs"). With one codec
/// asked for, always that one. With <see cref="CodecChoice.Auto"/>, the one that moves the disk's bytes fastest
/// through the slower of the two stages it feeds: the compressing workers and the destination. Per codec c it
/// keeps the measured compression speed S_c (uncompressed bytes per second of one worker) and ratio r_c (stored
/// / uncompressed); of the destination, the drain rate D (stored bytes per second the sink spent writing them).
/// A byte then costs max(1 / (W·S_c), r_c / D) seconds, W workers compressing at once; the smaller wins. A 1 Gb/s
/// link (D ≈ 117 MB/s) makes r_c / D dominate, where zstd's smaller output wins; a local file (D in GB/s) makes
/// the CPU term dominate, where LZ4's speed wins. The first 8 chunks and every 16th after them are probes,
/// compressed with both codecs so that both are measured on the same bytes; the estimates follow the data as it
/// changes (and the destination's rate as the link's load changes).
/// </summary>
public sealed class CodecChooser
{
    private const int ProbeEvery = 16;
    // The first chunks are all probes, so that both codecs are measured before the choice counts.
    private const int Warmup = 8;
    // Exponential moving averages: weight of the newest sample.
    private const double Weight = 0.05;

    private readonly Lock _lock = new();
    private readonly Estimate _lz4 = new(), _zstd = new();
    private const long DrainWindow = 4 << 20;
    private double _drainRate = double.PositiveInfinity, _windowSeconds;
    private long _windowBytes;
    private long _picked;

    public CodecChooser(CodecChoice choice, int workers)
    {
        Choice = choice;
        Workers = Math.Max(1, workers);
    }

    public CodecChoice Choice { get; }
    public int Workers { get; }

    public static CodecChooser Lz4 { get; } = new(CodecChoice.Lz4, 1);

    /// <summary>The codec for the next chunk to compress. Thread-safe.</summary>
    public ChunkCodec Next()
    {
        switch (Choice)
        {
            case CodecChoice.Lz4: return ChunkCodec.Lz4;
            case CodecChoice.Zstd: return ChunkCodec.Zstd;
        }
        lock (_lock) return Best();
    }

    private ChunkCodec Best() =>
        _lz4.Samples == 0 || _zstd.Samples == 0 || Cost(_zstd) < Cost(_lz4) ? ChunkCodec.Zstd : ChunkCodec.Lz4;

    /// <summary>Seconds per uncompressed byte with this codec: the slower of compressing (on every worker) and draining its output.</summary>
    private double Cost(Estimate e) => Math.Max(1.0 / (Workers * e.Speed), e.Ratio / _drainRate);

    /// <summary>The destination's drain rate, in stored bytes per second (for the bench and tests' diagnostics).</summary>
    public double DrainRate { get { lock (_lock) return _drainRate; } }

    /// <summary>Compresses with the codec <see cref="Next"/> picks, measuring the time it took when the choice is automatic.</summary>
    public (ChunkCodec Codec, int StoredLength) Compress(ReadOnlySpan<byte> data, Span<byte> stored)
    {
        if (Choice != CodecChoice.Auto) return ChunkEncoder.Compress(data, stored, Next());
        long n = Interlocked.Increment(ref _picked);
        ChunkCodec codec;
        lock (_lock) codec = Best();
        if (n > Warmup && n % ProbeEvery != 0) return ChunkEncoder.Compress(data, stored, codec);
        // A probe compresses the chunk with both codecs, the chosen one last (its output is kept): the two codecs'
        // speeds and ratios are always measured on the same bytes. Comparing LZ4's ratio on text with zstd's on
        // random data would pick the wrong codec for as long as the data stays that way.
        var other = codec == ChunkCodec.Lz4 ? ChunkCodec.Zstd : ChunkCodec.Lz4;
        Measure(other, data, stored);
        return Measure(codec, data, stored);
    }

    private (ChunkCodec Codec, int StoredLength) Measure(ChunkCodec codec, ReadOnlySpan<byte> data, Span<byte> stored)
    {
        long start = Stopwatch.GetTimestamp();
        var result = ChunkEncoder.Compress(data, stored, codec);
        // A chunk stored as is still tells the codec's speed; its ratio counts as 1 (that is what went out).
        Compressed(codec, data.Length, result.StoredLength, Stopwatch.GetElapsedTime(start).TotalSeconds);
        return result;
    }

    /// <summary>A worker compressed <paramref name="length"/> bytes into <paramref name="stored"/> with <paramref name="codec"/> in <paramref name="seconds"/>.</summary>
    public void Compressed(ChunkCodec codec, int length, int stored, double seconds)
    {
        if (Choice != CodecChoice.Auto || length <= 0) return;
        var e = codec == ChunkCodec.Zstd ? _zstd : _lz4;
        lock (_lock) e.Add(length / Math.Max(seconds, 1e-7), (double)stored / length);
    }

    /// <summary>
    /// The sink took <paramref name="seconds"/> to write <paramref name="bytes"/> stored bytes to its destination.
    /// Writes are summed over windows of 4 MiB before they make a rate: one write into a buffer returns at once,
    /// the one that fills it waits for the whole buffer to drain, and only their sum says how fast the destination takes bytes.
    /// </summary>
    public void Drained(long bytes, double seconds)
    {
        if (Choice != CodecChoice.Auto || bytes <= 0) return;
        lock (_lock)
        {
            _windowBytes += bytes;
            _windowSeconds += seconds;
            if (_windowBytes < DrainWindow) return;
            double rate = _windowBytes / Math.Max(_windowSeconds, 1e-7);
            _drainRate = double.IsPositiveInfinity(_drainRate) ? rate : _drainRate + 4 * Weight * (rate - _drainRate);
            (_windowBytes, _windowSeconds) = (0, 0);
        }
    }

    private sealed class Estimate
    {
        public int Samples;
        public double Speed, Ratio;

        public void Add(double speed, double ratio)
        {
            if (Samples++ == 0) (Speed, Ratio) = (speed, ratio);
            else
            {
                Speed += Weight * (speed - Speed);
                Ratio += Weight * (ratio - Ratio);
            }
        }
    }
}
