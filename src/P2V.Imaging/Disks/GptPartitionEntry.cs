using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.Disks;

/// <summary>
/// One GPT partition entry (UEFI spec 2.10 §5.3.3 "GPT Partition Entry Array"): type GUID, unique GUID, first and last LBA
/// (inclusive), attributes, and a 36-character UTF-16LE name. Entries may be larger than 128 bytes; the
/// extra bytes are reserved and kept by copying the raw array on restore.
/// </summary>
public readonly record struct GptPartitionEntry(
    Guid TypeGuid, Guid UniqueGuid, ulong StartingLba, ulong EndingLba, ulong Attributes, string Name)
{
    public const int MinSize = 128;
    private const int NameOffset = 56, NameBytes = 72;

    /// <summary>Bit 2 of the attributes: legacy BIOS bootable (§5.3.3, partition entry attributes).</summary>
    public bool LegacyBiosBootable => (Attributes & 0x4) != 0;

    /// <summary>An unused entry has the all-zero type GUID.</summary>
    public bool IsEmpty => TypeGuid == Guid.Empty;

    public static GptPartitionEntry Parse(ReadOnlySpan<byte> entry)
    {
        if (entry.Length < MinSize) throw new ArgumentException("a GPT entry is at least 128 bytes", nameof(entry));
        var name = Encoding.Unicode.GetString(entry.Slice(NameOffset, NameBytes));
        int nul = name.IndexOf('\0');
        return new GptPartitionEntry(
            TypeGuid: new Guid(entry[..16]),
            UniqueGuid: new Guid(entry.Slice(16, 16)),
            StartingLba: BinaryPrimitives.ReadUInt64LittleEndian(entry[32..]),
            EndingLba: BinaryPrimitives.ReadUInt64LittleEndian(entry[40..]),
            Attributes: BinaryPrimitives.ReadUInt64LittleEndian(entry[48..]),
            Name: nul >= 0 ? name[..nul] : name);
    }

    public void Write(Span<byte> entry)
    {
        entry[..MinSize].Clear();
        TypeGuid.TryWriteBytes(entry[..16]);
        UniqueGuid.TryWriteBytes(entry.Slice(16, 16));
        BinaryPrimitives.WriteUInt64LittleEndian(entry[32..], StartingLba);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[40..], EndingLba);
        BinaryPrimitives.WriteUInt64LittleEndian(entry[48..], Attributes);
        var name = Name.Length > NameBytes / 2 ? Name[..(NameBytes / 2)] : Name;
        Encoding.Unicode.GetBytes(name, entry.Slice(NameOffset, NameBytes));
    }
}
