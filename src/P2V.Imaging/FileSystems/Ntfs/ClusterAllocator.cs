using System.Buffers;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Finds free clusters in $Bitmap and sets or clears their bits (one bit per cluster, LSB first: NTFS
/// Documentation, "Files: $Bitmap"). Allocation is first fit: the first free stretch long enough for the
/// whole request, otherwise free stretches in volume order. Clusters handed out but not yet marked are
/// remembered, so two allocations of one write never overlap.
/// </summary>
internal sealed class ClusterAllocator(AttributeReader io, AttributeData bitmap, long totalClusters)
{
    private const int ChunkBytes = 1 << 20;
    private readonly List<DataRun> _pending = [];

    /// <summary>
    /// Free clusters for <paramref name="count"/> clusters, as runs starting at <paramref name="firstVcn"/>;
    /// at <paramref name="preferredLcn"/> when that stretch is free (growing an attribute in place keeps its
    /// runlist from getting longer).
    /// </summary>
    public List<DataRun> Allocate(long count, long firstVcn, long preferredLcn = -1)
    {
        var runs = new List<DataRun>();
        if (count <= 0) return runs;
        if (preferredLcn >= 0 && preferredLcn + count <= totalClusters && IsFree(preferredLcn, count))
        {
            runs.Add(new DataRun(firstVcn, preferredLcn, count));
            _pending.AddRange(runs);
            return runs;
        }
        var free = FreeStretches(count);
        var whole = free.FirstOrDefault(f => f.Length >= count);
        if (whole.Length >= count) free = [whole];
        long vcn = firstVcn, left = count;
        foreach (var (lcn, length) in free)
        {
            long take = Math.Min(length, left);
            runs.Add(new DataRun(vcn, lcn, take));
            vcn += take;
            left -= take;
            if (left == 0) break;
        }
        if (left > 0) throw new IOException($"NTFS: not enough free space: {count} clusters needed, {count - left} free");
        _pending.AddRange(runs);
        return runs;
    }

    /// <summary>Sets (in use) or clears (free) the bits of <paramref name="runs"/>' clusters; sparse runs are skipped.</summary>
    public void Mark(IEnumerable<DataRun> runs, bool used)
    {
        foreach (var run in runs.Where(r => !r.IsSparse))
        {
            long firstByte = run.Lcn / 8, lastByte = (run.Lcn + run.Length - 1) / 8;
            for (long start = firstByte; start <= lastByte; start += ChunkBytes)
            {
                int n = (int)Math.Min(ChunkBytes, lastByte + 1 - start);
                var bytes = new byte[n];
                io.Read(bitmap, start, bytes);
                long from = Math.Max(run.Lcn, start * 8), to = Math.Min(run.Lcn + run.Length, (start + n) * 8);
                for (long c = from; c < to; c++)
                {
                    int i = (int)(c / 8 - start), bit = 1 << (int)(c % 8);
                    bytes[i] = used ? (byte)(bytes[i] | bit) : (byte)(bytes[i] & ~bit);
                }
                io.Write(bitmap, start, bytes);
            }
            if (used) _pending.RemoveAll(p => p.Lcn == run.Lcn && p.Length == run.Length);
        }
    }

    /// <summary>Forgets allocations that will not be marked (the write gave up before using them).</summary>
    public void Release(IEnumerable<DataRun> runs)
    {
        foreach (var run in runs) _pending.RemoveAll(p => p.Lcn == run.Lcn && p.Length == run.Length);
    }

    /// <summary>Free stretches (LCN, length) in volume order, until one holds <paramref name="count"/> or they add up to it.</summary>
    private List<(long Lcn, long Length)> FreeStretches(long count)
    {
        var result = new List<(long, long)>();
        long total = 0, start = -1;
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long bytes = (totalClusters + 7) / 8;
            for (long offset = 0; offset < bytes; offset += ChunkBytes)
            {
                int n = (int)Math.Min(ChunkBytes, bytes - offset);
                io.Read(bitmap, offset, buffer.AsSpan(0, n));
                for (int i = 0; i < n; i++)
                {
                    byte b = buffer[i];
                    if (b == 0xFF && start < 0) continue; // a full byte, the common case on a busy volume
                    for (int bit = 0; bit < 8; bit++)
                    {
                        long lcn = (offset + i) * 8 + bit;
                        bool free = lcn < totalClusters && (b & (1 << bit)) == 0 && !IsPending(lcn);
                        if (free && start < 0) start = lcn;
                        else if (!free && start >= 0)
                        {
                            if (Add(start, lcn)) return result;
                            start = -1;
                        }
                    }
                }
            }
            if (start >= 0) Add(start, totalClusters);
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        bool Add(long from, long to)
        {
            result.Add((from, to - from));
            total += to - from;
            return to - from >= count; // one stretch that holds it all ends the search
        }
    }

    private bool IsFree(long lcn, long count)
    {
        var bytes = new byte[(int)((lcn + count - 1) / 8 - lcn / 8 + 1)];
        io.Read(bitmap, lcn / 8, bytes);
        for (long c = lcn; c < lcn + count; c++)
            if ((bytes[c / 8 - lcn / 8] & (1 << (int)(c % 8))) != 0 || IsPending(c)) return false;
        return true;
    }

    private bool IsPending(long lcn)
    {
        foreach (var p in _pending)
            if (lcn >= p.Lcn && lcn < p.Lcn + p.Length) return true;
        return false;
    }
}
