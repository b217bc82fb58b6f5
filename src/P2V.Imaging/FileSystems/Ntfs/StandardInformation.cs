using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// $STANDARD_INFORMATION: times and the Windows file attributes (FILE_ATTRIBUTE_*). Layout: NTFS
/// Documentation, "Attributes: $STANDARD_INFORMATION"; ntfs-3g layout.h STANDARD_INFORMATION. Only the
/// NTFS 1.2 part (48 bytes) is read; 3.x adds owner/security ids and quota fields after it.
/// </summary>
public sealed record StandardInformation(DateTime CreationTime, DateTime LastWriteTime, DateTime ChangeTime, DateTime LastAccessTime, uint FileAttributes)
{
    public const int MinSize = 0x30;

    public static StandardInformation Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < MinSize)
            throw new NtfsException($"{what}: $STANDARD_INFORMATION of {value.Length} bytes, expected at least {MinSize}", volumeOffset);
        return new StandardInformation(
            NtfsTime.ToDateTime(value),
            NtfsTime.ToDateTime(value[0x08..]),
            NtfsTime.ToDateTime(value[0x10..]),
            NtfsTime.ToDateTime(value[0x18..]),
            BinaryPrimitives.ReadUInt32LittleEndian(value[0x20..]));
    }
}
