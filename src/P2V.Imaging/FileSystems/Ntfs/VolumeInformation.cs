using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>Volume flags in $VOLUME_INFORMATION (ntfs-3g layout.h VOLUME_FLAGS).</summary>
[Flags]
public enum VolumeFlags : ushort
{
    None = 0,
    /// <summary>Not cleanly unmounted: Windows runs chkdsk at the next boot.</summary>
    Dirty = 0x0001,
    ResizeLogFile = 0x0002,
    UpgradeOnMount = 0x0004,
    MountedOnNt4 = 0x0008,
    DeleteUsnUnderway = 0x0010,
    RepairObjectId = 0x0020,
    ModifiedByChkdsk = 0x8000,
}

/// <summary>
/// $VOLUME_INFORMATION of the $Volume file: NTFS version and volume flags. Layout: NTFS Documentation,
/// "Attributes: $VOLUME_INFORMATION" — 8 reserved bytes, major version, minor version, flags.
/// </summary>
public sealed record VolumeInformation(byte MajorVersion, byte MinorVersion, VolumeFlags Flags)
{
    public const int Size = 12;
    public const int MajorVersionField = 0x08, MinorVersionField = 0x09, FlagsField = 0x0A;

    public static VolumeInformation Parse(ReadOnlySpan<byte> value, long volumeOffset)
    {
        if (value.Length < Size)
            throw new NtfsException(volumeOffset, $"$Volume: $VOLUME_INFORMATION of {value.Length} bytes, expected {Size}");
        return new VolumeInformation(value[MajorVersionField], value[MinorVersionField], (VolumeFlags)BinaryPrimitives.ReadUInt16LittleEndian(value[FlagsField..]));
    }
}

/// <summary>$VOLUME_NAME of the $Volume file: the label, UTF-16LE, up to 32 characters (NTFS Documentation, "Attributes: $VOLUME_NAME").</summary>
public static class VolumeName
{
    public static string Parse(ReadOnlySpan<byte> value) => NtfsName.Decode(value[..(value.Length & ~1)]);
}
