using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>Flags of an MFT record header (ntfs-3g layout.h MFT_RECORD_FLAGS).</summary>
[Flags]
public enum FileRecordFlags : ushort
{
    None = 0,
    InUse = 0x0001,
    /// <summary>The record has a $I30 filename index: a directory.</summary>
    IsDirectory = 0x0002,
}

/// <summary>
/// An MFT record ("FILE"): header, then attribute records up to the 0xFFFFFFFF end marker. Layout: NTFS
/// Documentation, "Concepts: File Record"; ntfs-3g layout.h MFT_RECORD. Update-sequence fix-ups are applied
/// before anything is read.
/// </summary>
public sealed class FileRecord
{
    public static ReadOnlySpan<byte> Magic => "FILE"u8;

    // Header fields (the update sequence array's offset and count at 0x04/0x06 are UpdateSequence's).
    public const int LsnField = 0x08;
    public const int SequenceNumberField = 0x10;
    public const int LinkCountField = 0x12;
    public const int FirstAttributeField = 0x14;
    public const int FlagsField = 0x16;
    public const int BytesInUseField = 0x18;
    public const int BytesAllocatedField = 0x1C;
    public const int BaseRecordField = 0x20;
    public const int NextAttributeInstanceField = 0x28;
    /// <summary>NTFS 3.1 only: the record's own number, and the update sequence array right after the header.</summary>
    public const int RecordNumberField = 0x2C;
    public const int HeaderSize31 = 0x30;
    /// <summary>The smallest header (NTFS 1.2/3.0: the update sequence array at 0x2A).</summary>
    public const int MinHeaderSize = 0x2A;

    public long RecordNumber { get; private init; }
    /// <summary>Where the record starts on the volume, for error messages.</summary>
    public long VolumeOffset { get; private init; }
    public ushort SequenceNumber { get; private init; }
    public ushort LinkCount { get; private init; }
    public FileRecordFlags Flags { get; private init; }
    /// <summary>For an extension record, the base record it belongs to; zero for a base record.</summary>
    public FileReference BaseRecord { get; private init; }
    public IReadOnlyList<AttributeRecord> Attributes { get; private init; } = [];

    public bool InUse => (Flags & FileRecordFlags.InUse) != 0;
    public bool IsDirectory => (Flags & FileRecordFlags.IsDirectory) != 0;
    public bool IsExtension => BaseRecord.Value != 0;

    /// <summary>Parses one whole record; applies the fix-ups to <paramref name="record"/> in place.</summary>
    public static FileRecord Parse(Span<byte> record, long recordNumber, long volumeOffset)
    {
        string what = $"MFT record {recordNumber}";
        if (!record[..4].SequenceEqual(Magic))
            throw new NtfsException(volumeOffset, $"{what}: magic is \"{Printable(record[..4])}\", expected \"FILE\"");
        UpdateSequence.Apply(record, volumeOffset, what);

        int firstAttribute = BinaryPrimitives.ReadUInt16LittleEndian(record[FirstAttributeField..]);
        int bytesInUse = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[BytesInUseField..]), int.MaxValue);
        if (bytesInUse > record.Length || bytesInUse < 0x30)
            throw new NtfsException(volumeOffset + BytesInUseField, $"{what}: {bytesInUse} bytes in use in a {record.Length}-byte record");
        if (firstAttribute < MinHeaderSize || (firstAttribute & 7) != 0 || firstAttribute + 4 > bytesInUse)
            throw new NtfsException(volumeOffset + FirstAttributeField, $"{what}: first attribute offset {firstAttribute} lies outside its {bytesInUse} used bytes");

        var attributes = new List<AttributeRecord>();
        int pos = firstAttribute;
        while (true)
        {
            if (pos + 4 > bytesInUse)
                throw new NtfsException(volumeOffset + pos, $"{what}: attributes run past its {bytesInUse} used bytes without an end marker");
            if (BinaryPrimitives.ReadUInt32LittleEndian(record[pos..]) == (uint)AttributeType.End) break;
            var attribute = AttributeRecord.Parse(record[pos..bytesInUse], recordNumber, volumeOffset + pos);
            attributes.Add(attribute);
            pos += attribute.Header.RecordLength;
        }

        return new FileRecord
        {
            RecordNumber = recordNumber,
            VolumeOffset = volumeOffset,
            SequenceNumber = BinaryPrimitives.ReadUInt16LittleEndian(record[SequenceNumberField..]),
            LinkCount = BinaryPrimitives.ReadUInt16LittleEndian(record[LinkCountField..]),
            Flags = (FileRecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[FlagsField..]),
            BaseRecord = new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(record[BaseRecordField..])),
            Attributes = attributes,
        };
    }

    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = bytes[i] is >= 0x20 and < 0x7F ? (char)bytes[i] : '?';
        return new string(chars);
    }
}
