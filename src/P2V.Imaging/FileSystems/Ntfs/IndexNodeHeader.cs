using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The header in front of a B+ tree node's entries, both in $INDEX_ROOT and in an INDX record. Offsets are
/// relative to the header itself. Layout: NTFS Documentation, "Concepts: Index Header"; ntfs-3g layout.h INDEX_HEADER.
/// </summary>
public readonly record struct IndexNodeHeader(int EntriesOffset, int IndexLength, int AllocatedSize, bool HasChildren)
{
    public const int Size = 16;
    public const int EntriesOffsetField = 0x00, IndexLengthField = 0x04, AllocatedSizeField = 0x08, FlagsField = 0x0C;
    /// <summary>LARGE_INDEX in a root (children live in $INDEX_ALLOCATION), INDEX_NODE in an INDX record.</summary>
    public const byte HasChildrenFlag = 0x01;

    /// <summary>Parses the header at the start of <paramref name="node"/>, which holds the whole node.</summary>
    public static IndexNodeHeader Parse(ReadOnlySpan<byte> node, long volumeOffset, string what)
    {
        if (node.Length < Size) throw new NtfsException(volumeOffset, $"{what}: index node header runs past the node");
        int entries = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node[EntriesOffsetField..]), int.MaxValue);
        int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node[IndexLengthField..]), int.MaxValue);
        int allocated = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(node[AllocatedSizeField..]), int.MaxValue);
        if (entries < Size || entries > length || length > node.Length)
            throw new NtfsException(volumeOffset, $"{what}: index entries [{entries}, {length}) do not fit the {node.Length}-byte node");
        return new IndexNodeHeader(entries, length, allocated, (node[FlagsField] & HasChildrenFlag) != 0);
    }

    /// <summary>The write direction of <see cref="Parse"/>, at the start of <paramref name="node"/>.</summary>
    public void Write(Span<byte> node)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(node[EntriesOffsetField..], (uint)EntriesOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(node[IndexLengthField..], (uint)IndexLength);
        BinaryPrimitives.WriteUInt32LittleEndian(node[AllocatedSizeField..], (uint)AllocatedSize);
        node[FlagsField] = HasChildren ? HasChildrenFlag : (byte)0;
    }
}
