using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The header of an attribute record inside an MFT record: the common part, then either the resident
/// part (value offset/length) or the non-resident part (VCN range, mapping pairs, sizes).
/// Layout: NTFS Documentation, "Concepts: Attribute Header"; ntfs-3g layout.h ATTR_RECORD.
/// </summary>
public readonly record struct AttributeHeader
{
    public const int ResidentHeaderSize = 0x18;
    public const int NonResidentHeaderSize = 0x40;

    public AttributeType Type { get; init; }
    /// <summary>Length of the whole attribute record, header and value, 8-byte aligned.</summary>
    public int RecordLength { get; init; }
    public bool IsNonResident { get; init; }
    public string Name { get; init; }
    public AttributeFlags Flags { get; init; }
    public ushort Id { get; init; }

    // Resident form.
    public int ValueLength { get; init; }
    public int ValueOffset { get; init; }

    // Non-resident form.
    public long LowestVcn { get; init; }
    public long HighestVcn { get; init; }
    public int MappingPairsOffset { get; init; }
    /// <summary>log2 of the compression unit in clusters; 0 when not compressed.</summary>
    public int CompressionUnit { get; init; }
    public long AllocatedSize { get; init; }
    public long DataSize { get; init; }
    /// <summary>The valid data length: bytes past it read as zeros.</summary>
    public long InitializedSize { get; init; }

    public bool IsCompressed => (Flags & AttributeFlags.CompressionMask) != 0;
    public bool IsEncrypted => (Flags & AttributeFlags.Encrypted) != 0;
    public bool IsSparse => (Flags & AttributeFlags.Sparse) != 0;

    /// <summary>Parses the header of the attribute record that starts <paramref name="record"/>; the span ends where the MFT record's used bytes end.</summary>
    public static AttributeHeader Parse(ReadOnlySpan<byte> record, long volumeOffset, string what)
    {
        if (record.Length < 16) throw new NtfsException($"{what}: attribute header runs past the record's used bytes", volumeOffset);
        var type = (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(record);
        int length = checked((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[4..]), int.MaxValue));
        bool nonResident = record[8] != 0;
        int minimum = nonResident ? NonResidentHeaderSize : ResidentHeaderSize;
        if (length < minimum || (length & 7) != 0 || length > record.Length)
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} has length {length}, expected a multiple of 8 in {minimum}..{record.Length}", volumeOffset + 4);

        int nameLength = record[9];
        int nameOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[0x0A..]);
        if (nameLength > 0 && nameOffset + 2 * nameLength > length)
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} name runs past its record", volumeOffset + 0x0A);
        var header = new AttributeHeader
        {
            Type = type,
            RecordLength = length,
            IsNonResident = nonResident,
            Name = nameLength == 0 ? "" : NtfsName.Decode(record.Slice(nameOffset, 2 * nameLength)),
            Flags = (AttributeFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[0x0C..]),
            Id = BinaryPrimitives.ReadUInt16LittleEndian(record[0x0E..]),
        };

        if (!nonResident)
        {
            int valueLength = checked((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[0x10..]), int.MaxValue));
            int valueOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[0x14..]);
            if (valueOffset < ResidentHeaderSize || (long)valueOffset + valueLength > length)
                throw new NtfsException($"{what}: resident attribute 0x{(uint)type:X} value [{valueOffset}, +{valueLength}) runs past its {length}-byte record", volumeOffset + 0x10);
            return header with { ValueLength = valueLength, ValueOffset = valueOffset };
        }

        long lowest = BinaryPrimitives.ReadInt64LittleEndian(record[0x10..]);
        long highest = BinaryPrimitives.ReadInt64LittleEndian(record[0x18..]);
        int pairs = BinaryPrimitives.ReadUInt16LittleEndian(record[0x20..]);
        int unit = BinaryPrimitives.ReadUInt16LittleEndian(record[0x22..]);
        long allocated = BinaryPrimitives.ReadInt64LittleEndian(record[0x28..]);
        long dataSize = BinaryPrimitives.ReadInt64LittleEndian(record[0x30..]);
        long initialized = BinaryPrimitives.ReadInt64LittleEndian(record[0x38..]);
        if (lowest < 0 || highest < lowest - 1)
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} has VCN range {lowest}..{highest}", volumeOffset + 0x10);
        if (pairs < NonResidentHeaderSize || pairs > length)
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} mapping pairs offset {pairs} lies outside its {length}-byte record", volumeOffset + 0x20);
        if (unit > 16)
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} compression unit 2^{unit} clusters is out of range", volumeOffset + 0x22);
        if (lowest == 0 && (allocated < 0 || dataSize < 0 || initialized < 0 || initialized > dataSize))
            throw new NtfsException($"{what}: attribute 0x{(uint)type:X} sizes allocated {allocated}, data {dataSize}, initialized {initialized} are inconsistent", volumeOffset + 0x28);
        return header with
        {
            LowestVcn = lowest,
            HighestVcn = highest,
            MappingPairsOffset = pairs,
            CompressionUnit = unit,
            AllocatedSize = allocated,
            DataSize = dataSize,
            InitializedSize = initialized,
        };
    }
}
