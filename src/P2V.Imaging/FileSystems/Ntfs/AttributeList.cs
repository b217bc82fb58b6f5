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

    public static IReadOnlyList<AttributeListEntry> Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        var entries = new List<AttributeListEntry>();
        int pos = 0;
        while (pos + MinEntrySize <= value.Length)
        {
            var entry = value[pos..];
            int length = BinaryPrimitives.ReadUInt16LittleEndian(entry[4..]);
            int nameLength = entry[6], nameOffset = entry[7];
            if (length < MinEntrySize || length > entry.Length || (nameLength > 0 && nameOffset + 2 * nameLength > length))
                throw new NtfsException($"{what}: attribute list entry at {pos} has length {length}, expected {MinEntrySize}..{entry.Length}", volumeOffset + pos);
            entries.Add(new AttributeListEntry(
                (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(entry),
                nameLength == 0 ? "" : NtfsName.Decode(entry.Slice(nameOffset, 2 * nameLength)),
                BinaryPrimitives.ReadInt64LittleEndian(entry[8..]),
                new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(entry[0x10..])),
                BinaryPrimitives.ReadUInt16LittleEndian(entry[0x18..])));
            pos += length;
        }
        return entries;
    }
}
