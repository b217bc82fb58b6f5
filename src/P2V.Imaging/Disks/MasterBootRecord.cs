using System.Buffers.Binary;

namespace P2V.Imaging.Disks;

/// <summary>
/// The legacy master boot record in the first 512 bytes of LBA 0 (UEFI spec 2.10 §5.2.1 "Legacy Master Boot Record"): 440 bytes of
/// boot code, the 32-bit disk signature at 440, four partition entries at 446 and the 0x55 0xAA signature at 510.
/// On a 4096-byte-sector disk the record still occupies the first 512 bytes of the sector. Extended boot records
/// (EBRs) share this layout; see <see cref="ExtendedBootRecord"/>.
/// </summary>
public sealed class MasterBootRecord
{
    public const int Size = 512;
    public const int DiskSignatureOffset = 440;
    public const int EntriesOffset = 446;
    public const int SignatureOffset = 510;

    private MasterBootRecord(uint diskSignature, MbrPartitionEntry[] entries, bool hasBootSignature)
    {
        DiskSignature = diskSignature;
        Entries = entries;
        HasBootSignature = hasBootSignature;
    }

    public uint DiskSignature { get; }

    /// <summary>The four entries, empty ones included, in slot order.</summary>
    public IReadOnlyList<MbrPartitionEntry> Entries { get; }

    /// <summary>Whether bytes 510–511 are 0x55 0xAA.</summary>
    public bool HasBootSignature { get; }

    /// <summary>Whether every entry's boot indicator is 0x00 or 0x80; a volume boot sector usually fails this.</summary>
    public bool HasValidEntries => Entries.All(e => e.HasValidStatus);

    public static bool HasSignature(ReadOnlySpan<byte> sector) =>
        sector.Length >= Size && sector[SignatureOffset] == 0x55 && sector[SignatureOffset + 1] == 0xAA;

    /// <summary>Parses the record without judging it; callers decide what a missing signature means.</summary>
    public static MasterBootRecord Parse(ReadOnlySpan<byte> sector)
    {
        if (sector.Length < Size) throw new ArgumentException("an MBR is 512 bytes", nameof(sector));
        var entries = new MbrPartitionEntry[4];
        for (int i = 0; i < 4; i++)
            entries[i] = MbrPartitionEntry.Parse(sector.Slice(EntriesOffset + i * MbrPartitionEntry.Size, MbrPartitionEntry.Size));
        return new MasterBootRecord(
            BinaryPrimitives.ReadUInt32LittleEndian(sector[DiskSignatureOffset..]), entries, HasSignature(sector));
    }

    /// <summary>Writes the signature, the entries and 0x55AA into <paramref name="sector"/>, leaving its boot code as it is.</summary>
    public void Write(Span<byte> sector)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(sector[DiskSignatureOffset..], DiskSignature);
        for (int i = 0; i < 4; i++)
            Entries[i].Write(sector.Slice(EntriesOffset + i * MbrPartitionEntry.Size, MbrPartitionEntry.Size));
        sector[SignatureOffset] = 0x55;
        sector[SignatureOffset + 1] = 0xAA;
    }

    /// <summary>
    /// Whether the sector looks like a FAT or NTFS volume boot sector rather than an MBR: a jump instruction and
    /// a sane BIOS parameter block (bytes per sector, sectors per cluster, FAT count), or NTFS's OEM id.
    /// </summary>
    public static bool LooksLikeVolumeBootSector(ReadOnlySpan<byte> sector)
    {
        if (sector.Length < Size) return false;
        if (sector[3..11].SequenceEqual("NTFS    "u8)) return true;
        if (sector[0] is not (0xEB or 0xE9)) return false;
        int bytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(sector[11..]);
        int sectorsPerCluster = sector[13];
        int reserved = BinaryPrimitives.ReadUInt16LittleEndian(sector[14..]);
        int fats = sector[16];
        return bytesPerSector is 512 or 1024 or 2048 or 4096
            && sectorsPerCluster != 0 && (sectorsPerCluster & (sectorsPerCluster - 1)) == 0
            && reserved != 0 && fats is >= 1 and <= 4;
    }
}
