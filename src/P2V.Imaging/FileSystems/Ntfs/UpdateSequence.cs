using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Update-sequence ("fix-up") protection of multi-sector records (FILE, INDX). The last two bytes of every
/// 512-byte stride hold the update sequence number; their real values are kept in the update sequence
/// array. A torn write leaves a stride whose tail does not match. Layout: NTFS Documentation, "Concepts:
/// Fixup"; ntfs-3g mst.c (the stride is NTFS_BLOCK_SIZE, 512, whatever the sector size).
/// </summary>
public static class UpdateSequence
{
    public const int StrideSize = 512;

    /// <summary>Where every multi-sector record (FILE, INDX, RSTR) keeps the update sequence array's offset and entry count.</summary>
    public const int ArrayOffsetField = 0x04, ArrayCountField = 0x06;

    /// <summary>The update sequence number a record was last written with (the first entry of its array).</summary>
    public static ushort Number(ReadOnlySpan<byte> record) =>
        BinaryPrimitives.ReadUInt16LittleEndian(record[BinaryPrimitives.ReadUInt16LittleEndian(record[ArrayOffsetField..])..]);

    /// <summary>Checks every stride against the update sequence number and puts the saved bytes back, in place.</summary>
    /// <param name="record">One whole record; its length is the record size.</param>
    /// <param name="volumeOffset">Where the record starts on the volume, for error messages.</param>
    /// <param name="what">What the record is ("MFT record 42"), for error messages.</param>
    public static void Apply(Span<byte> record, long volumeOffset, string what)
    {
        int usaOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[ArrayOffsetField..]);
        int usaCount = BinaryPrimitives.ReadUInt16LittleEndian(record[ArrayCountField..]);
        int strides = record.Length / StrideSize;
        if (record.Length % StrideSize != 0 || usaCount != strides + 1)
            throw new NtfsException(volumeOffset + ArrayCountField, $"{what}: update sequence array has {usaCount} entries, expected {strides + 1} for a {record.Length}-byte record");
        if ((usaOffset & 1) != 0 || usaOffset < 8 || usaOffset + 2 * usaCount > StrideSize - 2)
            throw new NtfsException(volumeOffset + 4, $"{what}: update sequence array offset {usaOffset} is misaligned or out of the first sector");

        ushort usn = BinaryPrimitives.ReadUInt16LittleEndian(record[usaOffset..]);
        for (int i = 1; i < usaCount; i++)
        {
            int tail = i * StrideSize - 2;
            ushort found = BinaryPrimitives.ReadUInt16LittleEndian(record[tail..]);
            if (found != usn)
                throw new NtfsException(volumeOffset + tail, $"{what}: update sequence mismatch at the end of sector {i - 1} (found 0x{found:X4}, expected 0x{usn:X4}): torn write or corruption");
            record[(usaOffset + 2 * i)..(usaOffset + 2 * i + 2)].CopyTo(record[tail..]);
        }
    }

    /// <summary>
    /// The write direction of <see cref="Apply"/>: bumps the update sequence number (skipping 0 and 0xFFFF,
    /// as ntfs-3g mst.c ntfs_mst_pre_write_fixup does), saves each stride's last two bytes into the array
    /// and stamps the number there, in place. <paramref name="record"/> holds the record as it should read.
    /// </summary>
    public static void Protect(Span<byte> record)
    {
        int usaOffset = BinaryPrimitives.ReadUInt16LittleEndian(record[ArrayOffsetField..]);
        int usaCount = BinaryPrimitives.ReadUInt16LittleEndian(record[ArrayCountField..]);
        if (record.Length % StrideSize != 0 || usaCount != record.Length / StrideSize + 1 || usaOffset + 2 * usaCount > StrideSize - 2)
            throw new InvalidOperationException($"update sequence array ({usaCount} entries at {usaOffset}) does not fit a {record.Length}-byte record");
        ushort usn = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(record[usaOffset..]) + 1);
        if (usn is 0 or 0xFFFF) usn = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(record[usaOffset..], usn);
        for (int i = 1; i < usaCount; i++)
        {
            int tail = i * StrideSize - 2;
            record[tail..(tail + 2)].CopyTo(record[(usaOffset + 2 * i)..]);
            BinaryPrimitives.WriteUInt16LittleEndian(record[tail..], usn);
        }
    }
}
