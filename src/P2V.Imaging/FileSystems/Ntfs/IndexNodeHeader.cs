using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The header in front of a B+ tree node's entries, both in $INDEX_ROOT and in an INDX record. Offsets are
/// relative to the header itself. Layout: NTFS Documentation, "Concepts: Index Header"; ntfs-3g layout.h INDEX_HEADER.
/// </summary>
public readonly record struct IndexNodeHeader(int EntriesOffset, int IndexLength, int AllocatedSize, bool HasChildren)
{
    public const int Size = 16;

    /// <summary>Parses the header at the start of <paramref name="node"/>, which holds the whole node.</summary>
    public static IndexNodeHeader Parse(ReadOnlySpan<byte> node, long volumeOffset, string what)
    {
        if (node.Length < Size) throw new NtfsException($"{what}: index node header runs past the node", volumeOffset);
        int entries = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node), int.MaxValue);
        int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node[4..]), int.MaxValue);
        int allocated = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node[8..]), int.MaxValue);
        if (entries < Size || entries > length || length > node.Length)
            throw new NtfsException($"{what}: index entries [{entries}, {length}) do not fit the {node.Length}-byte node", volumeOffset);
        return new IndexNodeHeader(entries, length, allocated, (node[12] & 1) != 0);
    }
}
