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
    public const uint CollationFileName = 1;

    public static IndexRoot Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < HeaderSize + IndexNodeHeader.Size)
            throw new NtfsException($"{what}: $INDEX_ROOT of {value.Length} bytes is too short", volumeOffset);
        int recordSize = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(value[8..]), int.MaxValue);
        if (recordSize < 512 || recordSize > 65536 || (recordSize & (recordSize - 1)) != 0)
            throw new NtfsException($"{what}: index record size {recordSize} is not a power of two in 512..65536", volumeOffset + 8);
        var node = value[HeaderSize..];
        var header = IndexNodeHeader.Parse(node, volumeOffset + HeaderSize, what);
        return new IndexRoot(
            (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(value),
            BinaryPrimitives.ReadUInt32LittleEndian(value[4..]),
            recordSize,
            header,
            IndexEntry.ParseNode(node, header, volumeOffset + HeaderSize, what));
    }
}
