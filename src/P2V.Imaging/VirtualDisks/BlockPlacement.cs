namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// Checks where a dynamic disk's BAT puts its blocks, as <c>qemu-img check</c> does: every block lies past the
/// file's own structures (headers, log, metadata, the BAT itself) and no two entries share a byte of the file.
/// A BAT that breaks this would make a write to one block overwrite another block or the structures that find it.
/// </summary>
internal sealed class BlockPlacement(string path, string format)
{
    private readonly List<(long Start, long End, string What)> _structures = [];
    private readonly List<(long Start, long Index, long EntryOffset)> _blocks = [];

    /// <summary>Declares a structure of the file; throws when it overlaps one declared before.</summary>
    public void Structure(long start, long length, string what)
    {
        foreach (var s in _structures)
            if (start < s.End && s.Start < start + length)
                throw new VirtualDiskException(path, start, $"the {format} {what} [{start}, +{length}) overlaps its {s.What} [{s.Start}, {s.End})");
        _structures.Add((start, start + length, what));
    }

    /// <summary>A block that BAT entry <paramref name="index"/> (stored at <paramref name="entryOffset"/>) places at <paramref name="start"/>.</summary>
    public void Block(long index, long start, long length, long entryOffset)
    {
        foreach (var s in _structures)
            if (start < s.End && s.Start < start + length)
                throw new VirtualDiskException(path, entryOffset,
                    $"{format} BAT entry {index} places its block at [{start}, +{length}), inside the {s.What} [{s.Start}, {s.End}): the BAT is corrupt");
        _blocks.Add((start, index, entryOffset));
    }

    /// <summary>Throws when two blocks of <paramref name="length"/> bytes share part of the file.</summary>
    public void CheckNoSharing(long length)
    {
        _blocks.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (int i = 1; i < _blocks.Count; i++)
        {
            var (prev, cur) = (_blocks[i - 1], _blocks[i]);
            if (cur.Start < prev.Start + length)
            {
                var (first, second) = prev.Index < cur.Index ? (prev, cur) : (cur, prev);
                throw new VirtualDiskException(path, second.EntryOffset, cur.Start == prev.Start
                    ? $"{format} BAT entries {first.Index} and {second.Index} both place their block at {cur.Start}: the BAT is corrupt"
                    : $"{format} BAT entries {first.Index} and {second.Index} place blocks that overlap at [{cur.Start}, {prev.Start + length}): the BAT is corrupt");
            }
        }
    }
}
