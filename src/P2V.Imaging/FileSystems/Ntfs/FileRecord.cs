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

    public long RecordNumber { get; private init; }
    /// <summary>Where the record starts on the volume, for error messages.</summary>
    public long VolumeOffset { get; private init; }
    public ushort SequenceNumber { get; private init; }
    public ushort LinkCount { get; private init; }
    public FileRecordFlags Flags { get; private init; }
    /// <summary>For an extension record, the base record it belongs to; zero for a base record.</summary>
    public FileReference BaseRecord { get; private init; }
    public IReadOnlyList<NtfsAttribute> Attributes { get; private init; } = [];

    public bool InUse => (Flags & FileRecordFlags.InUse) != 0;
    public bool IsDirectory => (Flags & FileRecordFlags.IsDirectory) != 0;
    public bool IsExtension => BaseRecord.Value != 0;

    /// <summary>Parses one whole record; applies the fix-ups to <paramref name="record"/> in place.</summary>
    public static FileRecord Parse(Span<byte> record, long recordNumber, long volumeOffset)
    {
        string what = $"MFT record {recordNumber}";
        if (!record[..4].SequenceEqual(Magic))
            throw new NtfsException($"{what}: magic is \"{Printable(record[..4])}\", expected \"FILE\"", volumeOffset);
        UpdateSequence.Apply(record, volumeOffset, what);

        int firstAttribute = BinaryPrimitives.ReadUInt16LittleEndian(record[0x14..]);
        int bytesInUse = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[0x18..]), int.MaxValue);
        if (bytesInUse > record.Length || bytesInUse < 0x30)
            throw new NtfsException($"{what}: {bytesInUse} bytes in use in a {record.Length}-byte record", volumeOffset + 0x18);
        if (firstAttribute < 0x2A || (firstAttribute & 7) != 0 || firstAttribute + 4 > bytesInUse)
            throw new NtfsException($"{what}: first attribute offset {firstAttribute} lies outside its {bytesInUse} used bytes", volumeOffset + 0x14);

        var attributes = new List<NtfsAttribute>();
        int pos = firstAttribute;
        while (true)
        {
            if (pos + 4 > bytesInUse)
                throw new NtfsException($"{what}: attributes run past its {bytesInUse} used bytes without an end marker", volumeOffset + pos);
            if (BinaryPrimitives.ReadUInt32LittleEndian(record[pos..]) == (uint)AttributeType.End) break;
            var attribute = NtfsAttribute.Parse(record[pos..bytesInUse], recordNumber, volumeOffset + pos);
            attributes.Add(attribute);
            pos += attribute.Header.RecordLength;
        }

        return new FileRecord
        {
            RecordNumber = recordNumber,
            VolumeOffset = volumeOffset,
            SequenceNumber = BinaryPrimitives.ReadUInt16LittleEndian(record[0x10..]),
            LinkCount = BinaryPrimitives.ReadUInt16LittleEndian(record[0x12..]),
            Flags = (FileRecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[0x16..]),
            BaseRecord = new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(record[0x20..])),
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
