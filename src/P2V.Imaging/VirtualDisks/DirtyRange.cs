namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// The span of in-memory table entries (a VHD or VHDX BAT) changed since they were last written back: one
/// contiguous write of [Low, High] on flush, since new blocks are allocated in order and cluster together.
/// </summary>
internal struct DirtyRange()
{
    public int Low { get; private set; } = int.MaxValue;
    public int High { get; private set; } = -1;

    public readonly bool IsEmpty => High < Low;
    public readonly int Count => IsEmpty ? 0 : High - Low + 1;

    public void Mark(int index)
    {
        Low = Math.Min(Low, index);
        High = Math.Max(High, index);
    }

    public void MarkAll(int count)
    {
        if (count > 0) (Low, High) = (0, count - 1);
    }

    public void Clear() => (Low, High) = (int.MaxValue, -1);

    public delegate void EntryWriter(int index, Span<byte> dest);

    /// <summary>Writes entries [Low, High] to their places at <paramref name="tableOffset"/>, at most 1 MiB per write, and clears the range.</summary>
    public void WriteBack(HostFile file, long tableOffset, int entrySize, EntryWriter write)
    {
        if (IsEmpty) return;
        int perWrite = (1 << 20) / entrySize;
        var raw = new byte[Math.Min(perWrite, Count) * entrySize];
        for (int i = Low; i <= High; i += perWrite)
        {
            int n = Math.Min(perWrite, High - i + 1);
            for (int j = 0; j < n; j++) write(i + j, raw.AsSpan(j * entrySize, entrySize));
            file.Write(tableOffset + (long)i * entrySize, raw.AsSpan(0, n * entrySize));
        }
        Clear();
    }
}
