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
    /// <summary>A compressed non-resident attribute's header has the compressed size after the initialized size.</summary>
    public const int CompressedHeaderSize = 0x48;

    // Common part.
    public const int TypeField = 0x00;
    public const int RecordLengthField = 0x04;
    public const int NonResidentField = 0x08;
    public const int NameLengthField = 0x09;
    public const int NameOffsetField = 0x0A;
    public const int FlagsField = 0x0C;
    public const int InstanceField = 0x0E;
    // Resident part.
    public const int ValueLengthField = 0x10;
    public const int ValueOffsetField = 0x14;
    public const int ResidentFlagsField = 0x16;
    // Non-resident part.
    public const int LowestVcnField = 0x10;
    public const int HighestVcnField = 0x18;
    public const int MappingPairsOffsetField = 0x20;
    public const int CompressionUnitField = 0x22;
    public const int AllocatedSizeField = 0x28;
    public const int DataSizeField = 0x30;
    public const int InitializedSizeField = 0x38;
    public const int CompressedSizeField = 0x40;

    /// <summary>Resident flag 0x01 (RESIDENT_ATTR_IS_INDEXED): set on $FILE_NAME, which a $I30 index refers to.</summary>
    public const byte ResidentIndexed = 0x01;

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
        if (record.Length < 16) throw new NtfsException(volumeOffset, $"{what}: attribute header runs past the record's used bytes");
        var type = (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(record[TypeField..]);
        int length = checked((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[RecordLengthField..]), int.MaxValue));
        bool nonResident = record[NonResidentField] != 0;
        int minimum = nonResident ? NonResidentHeaderSize : ResidentHeaderSize;
        if (length < minimum || (length & 7) != 0 || length > record.Length)
            throw new NtfsException(volumeOffset + RecordLengthField, $"{what}: attribute 0x{(uint)type:X} has length {length}, expected a multiple of 8 in {minimum}..{record.Length}");

        int nameLength = record[NameLengthField];
        int nameOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[NameOffsetField..]);
        if (nameLength > 0 && nameOffset + 2 * nameLength > length)
            throw new NtfsException(volumeOffset + NameOffsetField, $"{what}: attribute 0x{(uint)type:X} name runs past its record");
        var header = new AttributeHeader
        {
            Type = type,
            RecordLength = length,
            IsNonResident = nonResident,
            Name = nameLength == 0 ? "" : NtfsName.Decode(record.Slice(nameOffset, 2 * nameLength)),
            Flags = (AttributeFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[FlagsField..]),
            Id = BinaryPrimitives.ReadUInt16LittleEndian(record[InstanceField..]),
        };

        if (!nonResident)
        {
            int valueLength = checked((int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[ValueLengthField..]), int.MaxValue));
            int valueOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[ValueOffsetField..]);
            if (valueOffset < ResidentHeaderSize || (long)valueOffset + valueLength > length)
                throw new NtfsException(volumeOffset + ValueLengthField, $"{what}: resident attribute 0x{(uint)type:X} value [{valueOffset}, +{valueLength}) runs past its {length}-byte record");
            return header with { ValueLength = valueLength, ValueOffset = valueOffset };
        }

        long lowest = BinaryPrimitives.ReadInt64LittleEndian(record[LowestVcnField..]);
        long highest = BinaryPrimitives.ReadInt64LittleEndian(record[HighestVcnField..]);
        int pairs = BinaryPrimitives.ReadUInt16LittleEndian(record[MappingPairsOffsetField..]);
        int unit = BinaryPrimitives.ReadUInt16LittleEndian(record[CompressionUnitField..]);
        long allocated = BinaryPrimitives.ReadInt64LittleEndian(record[AllocatedSizeField..]);
        long dataSize = BinaryPrimitives.ReadInt64LittleEndian(record[DataSizeField..]);
        long initialized = BinaryPrimitives.ReadInt64LittleEndian(record[InitializedSizeField..]);
        if (lowest < 0 || highest < lowest - 1)
            throw new NtfsException(volumeOffset + LowestVcnField, $"{what}: attribute 0x{(uint)type:X} has VCN range {lowest}..{highest}");
        if (pairs < NonResidentHeaderSize || pairs > length)
            throw new NtfsException(volumeOffset + MappingPairsOffsetField, $"{what}: attribute 0x{(uint)type:X} mapping pairs offset {pairs} lies outside its {length}-byte record");
        if (unit > 16)
            throw new NtfsException(volumeOffset + CompressionUnitField, $"{what}: attribute 0x{(uint)type:X} compression unit 2^{unit} clusters is out of range");
        if (lowest == 0 && (allocated < 0 || dataSize < 0 || initialized < 0 || initialized > dataSize))
            throw new NtfsException(volumeOffset + AllocatedSizeField, $"{what}: attribute 0x{(uint)type:X} sizes allocated {allocated}, data {dataSize}, initialized {initialized} are inconsistent");
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

    /// <summary>The write direction of the common part: type, length, form, name (written right after the header), flags, instance.</summary>
    internal static void WriteCommon(Span<byte> record, AttributeType type, string name, ushort id, bool nonResident, AttributeFlags flags, int headerSize)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(record[TypeField..], (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(record[RecordLengthField..], (uint)record.Length);
        record[NonResidentField] = nonResident ? (byte)1 : (byte)0;
        record[NameLengthField] = (byte)name.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(record[NameOffsetField..], (ushort)headerSize);
        BinaryPrimitives.WriteUInt16LittleEndian(record[FlagsField..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(record[InstanceField..], id);
        NtfsName.Encode(name, record[headerSize..]);
    }

    /// <summary>The name of the attribute record at the start of <paramref name="record"/>, read without checking the rest.</summary>
    internal static string NameOf(ReadOnlySpan<byte> record)
    {
        int length = record[NameLengthField], offset = BinaryPrimitives.ReadUInt16LittleEndian(record[NameOffsetField..]);
        return length == 0 ? "" : NtfsName.Decode(record.Slice(offset, 2 * length));
    }

    internal static AttributeType TypeOf(ReadOnlySpan<byte> record) => (AttributeType)BinaryPrimitives.ReadUInt32LittleEndian(record[TypeField..]);

    internal static void SetInstance(Span<byte> record, ushort id) => BinaryPrimitives.WriteUInt16LittleEndian(record[InstanceField..], id);

    /// <summary>The data and initialized sizes of a non-resident attribute record, rewritten in place.</summary>
    internal static void SetSizes(Span<byte> record, long dataSize, long initializedSize)
    {
        BinaryPrimitives.WriteInt64LittleEndian(record[DataSizeField..], dataSize);
        BinaryPrimitives.WriteInt64LittleEndian(record[InitializedSizeField..], initializedSize);
    }
}
