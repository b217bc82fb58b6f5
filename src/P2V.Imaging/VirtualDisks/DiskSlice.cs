namespace P2V.Imaging.VirtualDisks;

/// <summary>A window onto part of another disk, such as one partition's volume. Does not own the parent.</summary>
public sealed class DiskSlice(IVirtualDisk parent, long offset, long length) : IVirtualDisk
{
    public IVirtualDisk Parent { get; } = parent;
    public long Offset { get; } = offset;
    public long Length { get; } = length;
    public int SectorSize => Parent.SectorSize;
    public bool CanWrite => Parent.CanWrite;

    public void ReadAt(long offset, Span<byte> buffer)
    {
        Check(offset, buffer.Length);
        Parent.ReadAt(Offset + offset, buffer);
    }

    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        Check(offset, data.Length);
        Parent.WriteAt(Offset + offset, data);
    }

    public IEnumerable<Extent> AllocatedExtents()
    {
        foreach (var e in Parent.AllocatedExtents())
        {
            long start = Math.Max(e.Offset, Offset), end = Math.Min(e.End, Offset + Length);
            if (end > start) yield return new Extent(start - Offset, end - start);
        }
    }

    public void Flush() => Parent.Flush();

    public void StartWriteBack() => Parent.StartWriteBack();

    public bool ConcurrentReads => Parent.ConcurrentReads;

    public bool ConcurrentWrites => Parent.ConcurrentWrites;

    public bool NeedsAllocation(long offset, long length)
    {
        Check(offset, length);
        return Parent.NeedsAllocation(Offset + offset, length);
    }

    public void Allocate(long offset, long length)
    {
        Check(offset, length);
        Parent.Allocate(Offset + offset, length);
    }

    public void Dispose() { }

    private void Check(long offset, long count)
    {
        if (offset < 0 || offset + count > Length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"range [{offset}, {offset + count}) lies outside the {Length}-byte slice at {Offset}");
    }
}
