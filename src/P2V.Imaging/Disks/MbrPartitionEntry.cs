using System.Buffers.Binary;

namespace P2V.Imaging.Disks;

/// <summary>
/// One 16-byte MBR partition table entry (UEFI spec 2.10 §5.2.1, "Legacy MBR Partition Record"):
/// boot indicator, starting CHS, OS type, ending CHS, starting LBA, size in LBA. CHS fields are kept as read
/// because nothing modern uses them, but a restore must write them back unchanged.
/// </summary>
public readonly record struct MbrPartitionEntry(
    byte Status, uint StartChs, byte Type, uint EndChs, uint StartLba, uint SectorCount)
{
    public const int Size = 16;

    public const byte ProtectiveGptType = 0xEE;
    public const byte LdmType = 0x42;

    public bool IsEmpty => Type == 0 || SectorCount == 0;

    /// <summary>0x80 marks the active partition; anything but 0x00 or 0x80 means the sector is no partition table.</summary>
    public bool IsBootable => Status == 0x80;

    public bool HasValidStatus => Status is 0x00 or 0x80;

    /// <summary>CHS-addressed (0x05), LBA-addressed (0x0F) and Linux (0x85) extended partition containers.</summary>
    public bool IsExtended => Type is 0x05 or 0x0F or 0x85;

    public static MbrPartitionEntry Parse(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < Size) throw new ArgumentException("an MBR partition entry is 16 bytes", nameof(entry));
        return new MbrPartitionEntry(
            Status: entry[0],
            StartChs: (uint)(entry[1] | entry[2] << 8 | entry[3] << 16),
            Type: entry[4],
            EndChs: (uint)(entry[5] | entry[6] << 8 | entry[7] << 16),
            StartLba: BinaryPrimitives.ReadUInt32LittleEndian(entry[8..]),
            SectorCount: BinaryPrimitives.ReadUInt32LittleEndian(entry[12..]));
    }

    public void Write(Span<byte> entry)
    {
        entry[0] = Status;
        entry[1] = (byte)StartChs; entry[2] = (byte)(StartChs >> 8); entry[3] = (byte)(StartChs >> 16);
        entry[4] = Type;
        entry[5] = (byte)EndChs; entry[6] = (byte)(EndChs >> 8); entry[7] = (byte)(EndChs >> 16);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[8..], StartLba);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[12..], SectorCount);
    }
}
