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
    public const int FileReferenceField = 0x00, LengthField = 0x08, KeyLengthField = 0x0A, FlagsField = 0x0C;
    /// <summary>INDEX_ENTRY_NODE: the entry's last 8 bytes hold the VCN of the child node; INDEX_ENTRY_END: the node's last entry, with no key.</summary>
    public const int FlagHasChild = 1, FlagLast = 2;

    /// <summary>Parses the entries of one node; <paramref name="node"/> starts at its node header.</summary>
    public static IReadOnlyList<IndexEntry> ParseNode(ReadOnlySpan<byte> node, IndexNodeHeader header, long volumeOffset, string what)
    {
        var entries = new List<IndexEntry>();
        int pos = header.EntriesOffset;
        while (true)
        {
            if (pos + HeaderSize > header.IndexLength)
                throw new NtfsException(volumeOffset + pos, $"{what}: index node ends without a last entry");
            var entry = node[pos..header.IndexLength];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(entry[LengthField..]);
            int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(entry[KeyLengthField..]);
            int flags = BinaryPrimitives.ReadUInt16LittleEndian(entry[FlagsField..]);
            bool hasChild = (flags & FlagHasChild) != 0, last = (flags & FlagLast) != 0;
            int minimum = HeaderSize + (hasChild ? 8 : 0) + (last ? 0 : keyLength);
            if (length < minimum || (length & 7) != 0 || length > entry.Length || HeaderSize + keyLength > length)
                throw new NtfsException(volumeOffset + pos + LengthField, $"{what}: index entry of length {length} (key {keyLength}) does not fit its node");
            FileName? key = last || keyLength == 0 ? null : FileName.Parse(entry.Slice(HeaderSize, keyLength), volumeOffset + pos + HeaderSize, what);
            long? child = hasChild ? BinaryPrimitives.ReadInt64LittleEndian(entry[(length - 8)..]) : null;
            entries.Add(new IndexEntry(new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(entry[FileReferenceField..])), key, last, child));
            if (last) return entries;
            pos += length;
        }
    }

    // ---- Entries as bytes, while a write changes a node ------------------------------------------------------

    /// <summary>An entry for <paramref name="file"/> keyed by its $FILE_NAME value, 8-byte aligned.</summary>
    internal static byte[] Create(FileReference file, ReadOnlySpan<byte> key)
    {
        var e = new byte[AttributeRecord.Align8(HeaderSize + key.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(e.AsSpan(FileReferenceField), file.Value);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(LengthField), (ushort)e.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(KeyLengthField), (ushort)key.Length);
        key.CopyTo(e.AsSpan(HeaderSize));
        return e;
    }

    /// <summary>A node's closing entry, pointing at <paramref name="child"/> when there is one.</summary>
    internal static byte[] CreateEnd(long? child)
    {
        var e = new byte[HeaderSize];
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(LengthField), HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(FlagsField), FlagLast);
        return child is long vcn ? WithChild(e, vcn) : e;
    }

    internal static int LengthOf(ReadOnlySpan<byte> e) => BinaryPrimitives.ReadUInt16LittleEndian(e[LengthField..]);
    private static int FlagsOf(ReadOnlySpan<byte> e) => BinaryPrimitives.ReadUInt16LittleEndian(e[FlagsField..]);
    internal static bool HasChild(ReadOnlySpan<byte> e) => (FlagsOf(e) & FlagHasChild) != 0;
    internal static bool IsLastEntry(ReadOnlySpan<byte> e) => (FlagsOf(e) & FlagLast) != 0;
    internal static long ChildVcnOf(ReadOnlySpan<byte> e) => BinaryPrimitives.ReadInt64LittleEndian(e[^8..]);
    internal static FileReference FileOf(ReadOnlySpan<byte> e) => new(BinaryPrimitives.ReadUInt64LittleEndian(e[FileReferenceField..]));

    /// <summary>The $FILE_NAME key of an entry (empty for the last entry).</summary>
    internal static Span<byte> KeyOf(Span<byte> e) => e.Slice(HeaderSize, BinaryPrimitives.ReadUInt16LittleEndian(e[KeyLengthField..]));

    /// <summary>The entry with its child pointer (the last 8 bytes, flag INDEX_ENTRY_NODE) set to <paramref name="vcn"/>, added when it had none.</summary>
    internal static byte[] WithChild(byte[] e, long vcn)
    {
        byte[] result;
        if (HasChild(e)) result = (byte[])e.Clone();
        else
        {
            result = new byte[e.Length + 8];
            e.CopyTo(result, 0);
            BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(LengthField), (ushort)result.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(FlagsField), (ushort)(FlagsOf(e) | FlagHasChild));
        }
        BinaryPrimitives.WriteInt64LittleEndian(result.AsSpan(result.Length - 8), vcn);
        return result;
    }
}
