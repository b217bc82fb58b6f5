using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// An entry of an index node. In a $I30 index the key is the $FILE_NAME of the file the entry refers to.
/// The last entry of a node has no key; any entry may point to a child node holding the keys that sort
/// before it. Layout: NTFS Documentation, "Concepts: Index Entry"; ntfs-3g layout.h INDEX_ENTRY.
/// </summary>
public sealed record IndexEntry(FileReference File, FileName? Key, bool IsLast, long? ChildVcn)
{
    public const int HeaderSize = 0x10;
    private const int FlagHasChild = 1, FlagLast = 2;

    /// <summary>Parses the entries of one node; <paramref name="node"/> starts at its node header.</summary>
    public static IReadOnlyList<IndexEntry> ParseNode(ReadOnlySpan<byte> node, IndexNodeHeader header, long volumeOffset, string what)
    {
        var entries = new List<IndexEntry>();
        int pos = header.EntriesOffset;
        while (true)
        {
            if (pos + HeaderSize > header.IndexLength)
                throw new NtfsException($"{what}: index node ends without a last entry", volumeOffset + pos);
            var entry = node[pos..header.IndexLength];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(entry[8..]);
            int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(entry[0x0A..]);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(entry[0x0C..]);
            bool hasChild = (flags & FlagHasChild) != 0, last = (flags & FlagLast) != 0;
            int minimum = HeaderSize + (hasChild ? 8 : 0) + (last ? 0 : keyLength);
            if (length < minimum || (length & 7) != 0 || length > entry.Length || HeaderSize + keyLength > length)
                throw new NtfsException($"{what}: index entry of length {length} (key {keyLength}) does not fit its node", volumeOffset + pos + 8);
            FileName? key = last || keyLength == 0 ? null : FileName.Parse(entry.Slice(HeaderSize, keyLength), volumeOffset + pos + HeaderSize, what);
            long? child = hasChild ? BinaryPrimitives.ReadInt64LittleEndian(entry[(length - 8)..]) : null;
            entries.Add(new IndexEntry(new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(entry)), key, last, child));
            if (last) return entries;
            pos += length;
        }
    }
}
