using System.Buffers.Binary;
using System.IO.Hashing;

namespace P2V.Imaging.Disks;

/// <summary>
/// The GPT header (UEFI spec 2.10 §5.3.2 "GPT Header"), at LBA 1 (primary) and at the last LBA (backup). The
/// header's CRC32 covers HeaderSize bytes with the CRC field zeroed; the entry array's CRC32 covers
/// NumberOfPartitionEntries × SizeOfPartitionEntry bytes (§5.3.2).
/// </summary>
public sealed record GptHeader(
    uint Revision,
    uint HeaderSize,
    uint HeaderCrc32,
    ulong MyLba,
    ulong AlternateLba,
    ulong FirstUsableLba,
    ulong LastUsableLba,
    Guid DiskGuid,
    ulong PartitionEntryLba,
    uint NumberOfPartitionEntries,
    uint SizeOfPartitionEntry,
    uint PartitionEntryArrayCrc32)
{
    public static ReadOnlySpan<byte> Signature => "EFI PART"u8;

    public const int MinSize = 92;

    /// <summary>Entries per array that we accept: the spec's minimum array is 16 KiB (128 × 128 bytes); tools never exceed a few thousand.</summary>
    public const uint MaxEntries = 65536;

    /// <summary>Bound on the entry array we read into memory (real arrays are 16 KiB).</summary>
    public const long MaxEntryArrayBytes = 16 << 20;

    public long EntryArrayBytes => (long)NumberOfPartitionEntries * SizeOfPartitionEntry;

    /// <summary>
    /// Parses and validates a header sector: signature, header size, header CRC and field sanity. Throws a
    /// <see cref="PartitionTableException"/> at <paramref name="diskOffset"/> saying what was wrong.
    /// </summary>
    public static GptHeader Parse(ReadOnlySpan<byte> sector, long diskOffset)
    {
        if (sector.Length < MinSize || !sector[..8].SequenceEqual(Signature))
            throw new PartitionTableException(diskOffset, "GPT header lacks the \"EFI PART\" signature");
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(sector[12..]);
        if (headerSize < MinSize || headerSize > sector.Length)
            throw new PartitionTableException(diskOffset, $"GPT header size {headerSize}; expected 92 up to the sector size");
        uint crc = BinaryPrimitives.ReadUInt32LittleEndian(sector[16..]);
        uint actual = ComputeHeaderCrc(sector[..(int)headerSize]);
        if (crc != actual)
            throw new PartitionTableException(diskOffset, $"GPT header CRC32 is 0x{crc:X8}; the header hashes to 0x{actual:X8}");
        var header = new GptHeader(
            Revision: BinaryPrimitives.ReadUInt32LittleEndian(sector[8..]),
            HeaderSize: headerSize,
            HeaderCrc32: crc,
            MyLba: BinaryPrimitives.ReadUInt64LittleEndian(sector[24..]),
            AlternateLba: BinaryPrimitives.ReadUInt64LittleEndian(sector[32..]),
            FirstUsableLba: BinaryPrimitives.ReadUInt64LittleEndian(sector[40..]),
            LastUsableLba: BinaryPrimitives.ReadUInt64LittleEndian(sector[48..]),
            DiskGuid: new Guid(sector.Slice(56, 16)),
            PartitionEntryLba: BinaryPrimitives.ReadUInt64LittleEndian(sector[72..]),
            NumberOfPartitionEntries: BinaryPrimitives.ReadUInt32LittleEndian(sector[80..]),
            SizeOfPartitionEntry: BinaryPrimitives.ReadUInt32LittleEndian(sector[84..]),
            PartitionEntryArrayCrc32: BinaryPrimitives.ReadUInt32LittleEndian(sector[88..]));
        // §5.3.2: SizeOfPartitionEntry is 128 × 2^n.
        if (header.SizeOfPartitionEntry < GptPartitionEntry.MinSize || (header.SizeOfPartitionEntry & (header.SizeOfPartitionEntry - 1)) != 0)
            throw new PartitionTableException(diskOffset, $"GPT entry size {header.SizeOfPartitionEntry}; expected 128 × 2^n");
        if (header.SizeOfPartitionEntry > MaxEntryArrayBytes || header.EntryArrayBytes > MaxEntryArrayBytes)
            throw new PartitionTableException(diskOffset, $"GPT entry array of {header.NumberOfPartitionEntries} × {header.SizeOfPartitionEntry} bytes; expected at most {MaxEntryArrayBytes} bytes");
        if (header.NumberOfPartitionEntries > MaxEntries)
            throw new PartitionTableException(diskOffset, $"GPT claims {header.NumberOfPartitionEntries} entries; expected at most {MaxEntries}");
        if (header.FirstUsableLba > header.LastUsableLba)
            throw new PartitionTableException(diskOffset, $"GPT first usable LBA {header.FirstUsableLba} lies after last usable LBA {header.LastUsableLba}");
        return header;
    }

    /// <summary>CRC32 of the header bytes with the CRC field taken as zero.</summary>
    public static uint ComputeHeaderCrc(ReadOnlySpan<byte> header)
    {
        var crc = new Crc32();
        crc.Append(header[..16]);
        crc.Append([0, 0, 0, 0]);
        crc.Append(header[20..]);
        return crc.GetCurrentHashAsUInt32();
    }

    /// <summary>Writes the 92-byte header (CRC computed here) into the start of <paramref name="sector"/>; the rest of the sector is zeroed as §5.3.2 requires.</summary>
    public void Write(Span<byte> sector)
    {
        sector.Clear();
        Signature.CopyTo(sector);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[8..], Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[12..], MinSize);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[24..], MyLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[32..], AlternateLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[40..], FirstUsableLba);
        BinaryPrimitives.WriteUInt64LittleEndian(sector[48..], LastUsableLba);
        DiskGuid.TryWriteBytes(sector.Slice(56, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(sector[72..], PartitionEntryLba);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[80..], NumberOfPartitionEntries);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[84..], SizeOfPartitionEntry);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[88..], PartitionEntryArrayCrc32);
        BinaryPrimitives.WriteUInt32LittleEndian(sector[16..], ComputeHeaderCrc(sector[..MinSize]));
    }
}
