namespace P2V.Imaging;

/// <summary>A byte range [Offset, Offset + Length) on a disk or volume.</summary>
public readonly record struct Extent(long Offset, long Length)
{
    public long End => Offset + Length;

    public override string ToString() => $"[{Offset:N0}, {End:N0})";
}
