namespace P2V.Imaging;

/// <summary>
/// The byte ranges of a disk or volume that hold data worth capturing, sorted, non-overlapping and
/// merged where adjacent. Built from a file system's allocation map (NTFS $Bitmap, FAT tables) or, for
/// raw space, from the blocks that are not all zero.
/// </summary>
public sealed class UsedExtentMap
{
    private readonly List<Extent> _extents;

    private UsedExtentMap(List<Extent> extents) => _extents = extents;

    public static UsedExtentMap Empty { get; } = new([]);

    public IReadOnlyList<Extent> Extents => _extents;

    public long UsedBytes { get; private init; }

    /// <summary>Sorts, clips to [0, limit), drops empty ranges and merges overlapping or adjacent ones.</summary>
    public static UsedExtentMap From(IEnumerable<Extent> extents, long limit = long.MaxValue)
    {
        var sorted = extents
            .Select(e => new Extent(Math.Max(0, e.Offset), Math.Min(limit, e.End) - Math.Max(0, e.Offset)))
            .Where(e => e.Length > 0)
            .OrderBy(e => e.Offset)
            .ToList();
        var merged = new List<Extent>(sorted.Count);
        foreach (var e in sorted)
        {
            if (merged.Count > 0 && merged[^1].End >= e.Offset)
            {
                var last = merged[^1];
                merged[^1] = new Extent(last.Offset, Math.Max(last.End, e.End) - last.Offset);
            }
            else
            {
                merged.Add(e);
            }
        }
        return new UsedExtentMap(merged) { UsedBytes = merged.Sum(e => e.Length) };
    }

    /// <summary>
    /// Like <see cref="From"/> for ranges already in offset order (an allocation bitmap walked front to back):
    /// one merging pass, no sort. Falls back to <see cref="From"/> if the input turns out not to be in order.
    /// </summary>
    public static UsedExtentMap FromSorted(IReadOnlyList<Extent> extents, long limit = long.MaxValue)
    {
        var merged = new List<Extent>(extents.Count);
        long used = 0;
        foreach (var x in extents)
        {
            long start = Math.Max(0, x.Offset), end = Math.Min(limit, x.End);
            if (end <= start) continue;
            if (merged.Count > 0)
            {
                var last = merged[^1];
                if (start < last.Offset) return From(extents, limit);
                if (last.End >= start)
                {
                    long newEnd = Math.Max(last.End, end);
                    used += newEnd - last.End;
                    merged[^1] = new Extent(last.Offset, newEnd - last.Offset);
                    continue;
                }
            }
            merged.Add(new Extent(start, end - start));
            used += end - start;
        }
        return new UsedExtentMap(merged) { UsedBytes = used };
    }

    /// <summary>The same ranges moved by <paramref name="delta"/> bytes (volume-relative → disk-relative).</summary>
    public UsedExtentMap Shift(long delta) =>
        new(_extents.Select(e => new Extent(e.Offset + delta, e.Length)).ToList()) { UsedBytes = UsedBytes };


    /// <summary>The parts of <paramref name="range"/> that lie inside the map.</summary>
    public IEnumerable<Extent> Intersect(Extent range)
    {
        foreach (var e in _extents)
        {
            if (e.End <= range.Offset) continue;
            if (e.Offset >= range.End) yield break;
            long start = Math.Max(e.Offset, range.Offset), end = Math.Min(e.End, range.End);
            yield return new Extent(start, end - start);
        }
    }

    /// <summary>Whether [offset, offset+length) lies entirely inside the map.</summary>
    public bool Covers(long offset, long length)
    {
        int lo = 0, hi = _extents.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var e = _extents[mid];
            if (e.End <= offset) lo = mid + 1;
            else if (e.Offset > offset) hi = mid - 1;
            else return offset + length <= e.End;
        }
        return false;
    }
}
