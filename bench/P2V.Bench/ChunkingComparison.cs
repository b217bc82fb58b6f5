using System.Diagnostics;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

/// <summary>
/// `P2V.Bench chunking [--reps N] BASE OTHER...`: captures each disk with each kind of chunk boundary
/// (the 1 MiB disk-offset grid and FastCDC) and reports, for every OTHER, the share of its chunks (and
/// bytes) that BASE already holds, and the bytes a store would still need; plus capture time per kind.
/// </summary>
internal static class ChunkingComparison
{
    public static async Task<int> RunAsync(string[] args)
    {
        int reps = 1;
        var disks = new List<string>();
        string kindList = "grid:1024,fastcdc:256";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--reps") reps = int.Parse(args[++i]);
            else if (args[i] == "--kinds") kindList = args[++i];
            else disks.Add(args[i]);
        }
        // grid:N = cells of N KiB; fastcdc:N = normal size N KiB, minimum N/4, maximum 4N.
        var kinds = kindList.Split(',').Select(k =>
        {
            var (kind, kib) = (k.Split(':')[0], int.Parse(k.Split(':')[1]));
            return (Name: $"{kind}-{kib}K", Boundaries: kind == "grid"
                ? (ChunkBoundaries)new GridBoundaries(kib << 10)
                : new ContentDefinedBoundaries(kib << 8, kib << 10, kib << 12));
        }).ToArray();
        foreach (var (name, boundaries) in kinds)
        {
            var captures = new List<HashSink>();
            foreach (var path in disks)
            {
                HashSink? sink = null;
                var times = new List<double>();
                for (int r = 0; r < reps; r++)
                {
                    using var disk = VirtualDisk.Open(path);
                    var plan = CapturePlanner.Plan(disk);
                    sink = new HashSink();
                    var clock = Stopwatch.StartNew();
                    await new CapturePipeline { Boundaries = boundaries }.RunAsync(disk, plan, sink);
                    times.Add(clock.Elapsed.TotalSeconds);
                }
                captures.Add(sink!);
                times.Sort();
                Console.WriteLine($"{name,-13} {Path.GetFileName(path),-28} {sink!.Chunks.Count,7} chunks, {sink.Uncompressed / 1048576.0,9:F1} MiB used, " +
                    $"{sink.Stored / 1048576.0,9:F1} MiB stored, capture {string.Join("/", times.Select(t => t.ToString("F2")))} s ({sink.Uncompressed / times[times.Count / 2] / 1e6:F0} MB/s)");
            }
            var baseline = captures[0];
            var known = baseline.Chunks.Select(c => c.Hash).ToHashSet();
            for (int k = 1; k < captures.Count; k++)
            {
                var other = captures[k];
                var fresh = other.Chunks.Where(c => !known.Contains(c.Hash)).DistinctBy(c => c.Hash).ToList();
                long sharedChunks = other.Chunks.Count(c => known.Contains(c.Hash));
                long sharedBytes = other.Chunks.Where(c => known.Contains(c.Hash)).Sum(c => (long)c.Length);
                Console.WriteLine($"{name,-13} {Path.GetFileName(disks[k]),-28} vs {Path.GetFileName(disks[0])}: {100.0 * sharedChunks / other.Chunks.Count:F1}% of chunks, " +
                    $"{100.0 * sharedBytes / other.Uncompressed:F1}% of bytes shared; new: {fresh.Count} chunks, {fresh.Sum(c => (long)c.Length) / 1048576.0:F2} MiB used, " +
                    $"{fresh.Sum(c => (long)c.Stored) / 1048576.0:F2} MiB to send");
            }
        }
        return 0;
    }

    private sealed record ChunkInfo(string Hash, int Length, int Stored);

    /// <summary>Keeps each chunk's hash and lengths; writes nothing.</summary>
    private sealed class HashSink : CaptureSink
    {
        public readonly List<ChunkInfo> Chunks = [];
        public long Uncompressed, Stored;
        public override bool WantsEveryChunkCompressed => true;
        public override long BytesWritten => Stored;
        public override int ChunkCount => Chunks.Count;

        public override ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel)
        {
            Chunks.Add(new ChunkInfo(Convert.ToHexString(chunk.Hash), chunk.UncompressedLength, chunk.StoredBytes.Length));
            Uncompressed += chunk.UncompressedLength;
            Stored += chunk.StoredBytes.Length;
            return ValueTask.CompletedTask;
        }

        public override ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel) => ValueTask.CompletedTask;
    }
}
