using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// One entry of an $ATTRIBUTE_LIST: which MFT record holds (a fragment of) an attribute of the file.
/// A file whose attributes do not fit its base record — typically a heavily fragmented one — has one.
/// Layout: NTFS Documentation, "Attributes: $ATTRIBUTE_LIST"; ntfs-3g layout.h ATTR_LIST_ENTRY.
/// </summary>
public readonly record struct AttributeListEntry(AttributeType Type, string Name, long LowestVcn, FileReference Record, ushort AttributeId);

public static class AttributeList
{
    public const int MinEntrySize = 0x1A;
    public const int TypeField = 0x00, LengthField = 0x04, NameLengthField = 0x06, NameOffsetField = 0x07;
    public const int LowestVcnField = 0x08, RecordField = 0x10, AttributeIdField = 0x18;

    public static IReadOnlyList<AttributeListEntry> Parse(ReadOnlySpan<byte> value, long volumeOffset, string what) =>
        Entries(value, volumeOffset, what).Select(e => e.Entry).ToList();

    /// <summary>
    /// The write direction: the list without the entries <paramref name="drop"/> selects, the others kept byte for
    /// byte in their order (sorted by type, name and lowest VCN, as NTFS keeps them).
    /// </summary>
    internal static byte[] Without(ReadOnlySpan<byte> value, Func<AttributeListEntry, bool> drop, long volumeOffset, string what)
    {
        var kept = new List<byte>(value.Length);
        foreach (var (entry, start, length) in Entries(value, volumeOffset, what))
            if (!drop(entry)) kept.AddRange(value.Slice(start, length));
        return kept.ToArray();
    }

    private static List<(AttributeListEntry Entry, int Start, int Length)> Entries(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        var entries = new List<(AttributeListEntry, int, int)>();
        int pos = 0;
        while (pos + MinEntrySize <= value.Length)
        {
            var entry = value[pos..];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(entry[LengthField..]);
            int nameLength = entry[NameLengthField], nameOffset = entry[NameOffsetField];
            if (length < MinEntrySize || length > entry.Length || (nameLength > 0 && nameOffset + 2 * nameLength > length))
                throw new NtfsException(volumeOffset + pos, $"{what}: attribute list entry at {pos} has length {length}, expected {MinEntrySize}..{entry.Length}");
            entries.Add((new AttributeListEntry(
                (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(entry[TypeField..]),
                nameLength == 0 ? "" : NtfsName.Decode(entry.Slice(nameOffset, 2 * nameLength)),
                BinaryPrimitives.ReadInt64LittleEndian(entry[LowestVcnField..]),
                new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(entry[RecordField..])),
                BinaryPrimitives.ReadUInt16LittleEndian(entry[AttributeIdField..])), pos, length));
            pos += length;
        }
        return entries;
    }
}
