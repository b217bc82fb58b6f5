using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>Which naming rules a $FILE_NAME follows (ntfs-3g layout.h FILE_NAME_TYPE_FLAGS).</summary>
public enum FileNameNamespace : byte
{
    Posix = 0,
    Win32 = 1,
    /// <summary>An 8.3 alias of a Win32 name; ignored when looking names up.</summary>
    Dos = 2,
    Win32AndDos = 3,
}

/// <summary>
/// A $FILE_NAME value, both as an attribute of a file and as the key of a $I30 index entry. Layout: NTFS
/// Documentation, "Attributes: $FILE_NAME"; ntfs-3g layout.h FILE_NAME_ATTR.
/// </summary>
public sealed record FileName(
    FileReference ParentDirectory,
    DateTime CreationTime,
    DateTime LastWriteTime,
    DateTime ChangeTime,
    DateTime LastAccessTime,
    long AllocatedSize,
    long DataSize,
    uint FileAttributes,
    FileNameNamespace Namespace,
    string Name)
{
    public const int HeaderSize = 0x42;

    /// <summary>The directory bit in a $FILE_NAME's attributes (FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT).</summary>
    public const uint DirectoryFlag = 0x1000_0000;

    public bool IsDirectory => (FileAttributes & DirectoryFlag) != 0;

    public static FileName Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < HeaderSize)
            throw new NtfsException($"{what}: $FILE_NAME of {value.Length} bytes, expected at least {HeaderSize}", volumeOffset);
        int nameLength = value[0x40];
        if (HeaderSize + 2 * nameLength > value.Length)
            throw new NtfsException($"{what}: $FILE_NAME name of {nameLength} characters runs past its {value.Length} bytes", volumeOffset + 0x40);
        return new FileName(
            new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(value)),
            NtfsTime.ToDateTime(value[0x08..]),
            NtfsTime.ToDateTime(value[0x10..]),
            NtfsTime.ToDateTime(value[0x18..]),
            NtfsTime.ToDateTime(value[0x20..]),
            BinaryPrimitives.ReadInt64LittleEndian(value[0x28..]),
            BinaryPrimitives.ReadInt64LittleEndian(value[0x30..]),
            BinaryPrimitives.ReadUInt32LittleEndian(value[0x38..]),
            (FileNameNamespace)value[0x41],
            NtfsName.Decode(value.Slice(HeaderSize, 2 * nameLength)));
    }
}

/// <summary>NTFS names are UTF-16LE code units, kept as they are (unpaired surrogates included).</summary>
internal static class NtfsName
{
    public static string Decode(ReadOnlySpan<byte> utf16)
    {
        var chars = new char[utf16.Length / 2];
        for (int i = 0; i < chars.Length; i++) chars[i] = (char)BinaryPrimitives.ReadUInt16LittleEndian(utf16[(2 * i)..]);
        return new string(chars);
    }
}

/// <summary>NTFS times are 100 ns intervals since 1601-01-01 UTC (Windows FILETIME).</summary>
internal static class NtfsTime
{
    public static DateTime ToDateTime(ReadOnlySpan<byte> field)
    {
        long ticks = BinaryPrimitives.ReadInt64LittleEndian(field);
        return ticks >= 0 && ticks <= DateTime.MaxValue.Ticks - new DateTime(1601, 1, 1).Ticks
            ? DateTime.FromFileTimeUtc(ticks)
            : DateTime.MinValue;
    }
}
