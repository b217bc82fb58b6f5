using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// $INDEX_ROOT: the root node of an index B+ tree (always resident) and the size of its INDX records.
/// For a directory the index is "$I30", keyed by $FILE_NAME. Layout: NTFS Documentation,
/// "Attributes: $INDEX_ROOT"; ntfs-3g layout.h INDEX_ROOT.
/// </summary>
public sealed record IndexRoot(AttributeType IndexedType, uint CollationRule, int IndexRecordSize, IndexNodeHeader Node, IReadOnlyList<IndexEntry> Entries)
{
    public const int HeaderSize = 0x10;
    public const int IndexedTypeField = 0x00, CollationRuleField = 0x04, IndexRecordSizeField = 0x08, ClustersPerIndexRecordField = 0x0C;
    public const uint CollationFileName = 1;

    public static IndexRoot Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < HeaderSize + IndexNodeHeader.Size)
            throw new NtfsException(volumeOffset, $"{what}: $INDEX_ROOT of {value.Length} bytes is too short");
        int recordSize = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(value[IndexRecordSizeField..]), int.MaxValue);
        if (recordSize < 512 || recordSize > 65536 || (recordSize & (recordSize - 1)) != 0)
            throw new NtfsException(volumeOffset + IndexRecordSizeField, $"{what}: index record size {recordSize} is not a power of two in 512..65536");
        var node = value[HeaderSize..];
        var header = IndexNodeHeader.Parse(node, volumeOffset + HeaderSize, what);
        return new IndexRoot(
            (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(value[IndexedTypeField..]),
            BinaryPrimitives.ReadUInt32LittleEndian(value[CollationRuleField..]),
            recordSize,
            header,
            IndexEntry.ParseNode(node, header, volumeOffset + HeaderSize, what));
    }

    /// <summary>
    /// A new value: the header of <paramref name="old"/> (indexed type, collation, record size) and a node holding
    /// <paramref name="entries"/> (raw entries, the last one the end entry).
    /// </summary>
    internal static byte[] Write(ReadOnlySpan<byte> old, IReadOnlyList<byte[]> entries)
    {
        int size = entries.Sum(e => e.Length);
        var value = new byte[HeaderSize + IndexNodeHeader.Size + size];
        old[..HeaderSize].CopyTo(value);
        bool hasChildren = entries.Any(e => IndexEntry.HasChild(e));
        new IndexNodeHeader(IndexNodeHeader.Size, IndexNodeHeader.Size + size, IndexNodeHeader.Size + size, hasChildren).Write(value.AsSpan(HeaderSize));
        int pos = HeaderSize + IndexNodeHeader.Size;
        foreach (var e in entries) { e.CopyTo(value, pos); pos += e.Length; }
        return value;
    }
}
