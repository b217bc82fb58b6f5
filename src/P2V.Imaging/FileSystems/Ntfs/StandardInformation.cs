using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// $STANDARD_INFORMATION: times and the Windows file attributes (FILE_ATTRIBUTE_*). Layout: NTFS
/// Documentation, "Attributes: $STANDARD_INFORMATION"; ntfs-3g layout.h STANDARD_INFORMATION. The NTFS 1.2
/// part is 48 bytes; 3.x adds owner and security ids, quota and USN after it (72 bytes).
/// </summary>
public sealed record StandardInformation(DateTime CreationTime, DateTime LastWriteTime, DateTime ChangeTime, DateTime LastAccessTime, uint FileAttributes)
{
    public const int MinSize = 0x30;
    public const int Size3x = 0x48;

    public const int CreationTimeField = 0x00;
    public const int LastWriteTimeField = 0x08;
    /// <summary>When the MFT record last changed.</summary>
    public const int ChangeTimeField = 0x10;
    public const int LastAccessTimeField = 0x18;
    public const int FileAttributesField = 0x20;
    public const int OwnerIdField = 0x30;
    public const int SecurityIdField = 0x34;

    public static StandardInformation Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < MinSize)
            throw new NtfsException(volumeOffset, $"{what}: $STANDARD_INFORMATION of {value.Length} bytes, expected at least {MinSize}");
        return new StandardInformation(
            NtfsTime.ToDateTime(value[CreationTimeField..]),
            NtfsTime.ToDateTime(value[LastWriteTimeField..]),
            NtfsTime.ToDateTime(value[ChangeTimeField..]),
            NtfsTime.ToDateTime(value[LastAccessTimeField..]),
            GetAttributes(value));
    }

    /// <summary>
    /// The value for a new file: the 3.x form with the directory's owner and security ids when the directory has
    /// them (so its $Secure descriptor applies), the 1.2 form otherwise.
    /// </summary>
    internal static byte[] Create(long now, uint attributes, ReadOnlySpan<byte> parent)
    {
        var v = new byte[parent.Length >= Size3x ? Size3x : MinSize];
        foreach (int field in (ReadOnlySpan<int>)[CreationTimeField, LastWriteTimeField, ChangeTimeField, LastAccessTimeField])
            BinaryPrimitives.WriteInt64LittleEndian(v.AsSpan(field), now);
        SetAttributes(v, attributes);
        if (v.Length == Size3x)
        {
            parent.Slice(OwnerIdField, 4).CopyTo(v.AsSpan(OwnerIdField));
            parent.Slice(SecurityIdField, 4).CopyTo(v.AsSpan(SecurityIdField));
        }
        return v;
    }

    internal static uint GetAttributes(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadUInt32LittleEndian(value[FileAttributesField..]);

    internal static void SetAttributes(Span<byte> value, uint attributes) => BinaryPrimitives.WriteUInt32LittleEndian(value[FileAttributesField..], attributes);

    /// <summary>Last write (when the content changed), record change and last access times, in place.</summary>
    internal static void Touch(Span<byte> value, long now, bool modified)
    {
        if (modified) BinaryPrimitives.WriteInt64LittleEndian(value[LastWriteTimeField..], now);
        BinaryPrimitives.WriteInt64LittleEndian(value[ChangeTimeField..], now);
        BinaryPrimitives.WriteInt64LittleEndian(value[LastAccessTimeField..], now);
    }
}
