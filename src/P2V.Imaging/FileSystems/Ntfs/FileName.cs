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

    public const int ParentDirectoryField = 0x00;
    public const int CreationTimeField = 0x08;
    public const int LastWriteTimeField = 0x10;
    public const int ChangeTimeField = 0x18;
    public const int LastAccessTimeField = 0x20;
    public const int AllocatedSizeField = 0x28;
    public const int DataSizeField = 0x30;
    public const int FileAttributesField = 0x38;
    public const int NameLengthField = 0x40;
    public const int NamespaceField = 0x41;

    /// <summary>The directory bit in a $FILE_NAME's attributes (FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT).</summary>
    public const uint DirectoryFlag = 0x1000_0000;

    public bool IsDirectory => (FileAttributes & DirectoryFlag) != 0;

    public static FileName Parse(ReadOnlySpan<byte> value, long volumeOffset, string what)
    {
        if (value.Length < HeaderSize)
            throw new NtfsException(volumeOffset, $"{what}: $FILE_NAME of {value.Length} bytes, expected at least {HeaderSize}");
        int nameLength = value[NameLengthField];
        if (HeaderSize + 2 * nameLength > value.Length)
            throw new NtfsException(volumeOffset + NameLengthField, $"{what}: $FILE_NAME name of {nameLength} characters runs past its {value.Length} bytes");
        return new FileName(
            new FileReference(BinaryPrimitives.ReadUInt64LittleEndian(value[ParentDirectoryField..])),
            NtfsTime.ToDateTime(value[CreationTimeField..]),
            NtfsTime.ToDateTime(value[LastWriteTimeField..]),
            NtfsTime.ToDateTime(value[ChangeTimeField..]),
            NtfsTime.ToDateTime(value[LastAccessTimeField..]),
            BinaryPrimitives.ReadInt64LittleEndian(value[AllocatedSizeField..]),
            BinaryPrimitives.ReadInt64LittleEndian(value[DataSizeField..]),
            GetAttributes(value),
            (FileNameNamespace)value[NamespaceField],
            NtfsName.Decode(value.Slice(HeaderSize, 2 * nameLength)));
    }

    /// <summary>A new value; also the key of the file's $I30 entry.</summary>
    internal static byte[] Create(FileReference parent, long now, long allocated, long size, uint attributes, FileNameNamespace ns, string name)
    {
        var v = new byte[HeaderSize + 2 * name.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(v.AsSpan(ParentDirectoryField), parent.Value);
        foreach (int field in (ReadOnlySpan<int>)[CreationTimeField, LastWriteTimeField, ChangeTimeField, LastAccessTimeField])
            BinaryPrimitives.WriteInt64LittleEndian(v.AsSpan(field), now);
        SetSizes(v, allocated, size);
        SetAttributes(v, attributes);
        v[NameLengthField] = (byte)name.Length;
        v[NamespaceField] = (byte)ns;
        NtfsName.Encode(name, v.AsSpan(HeaderSize));
        return v;
    }

    /// <summary>The name of a value, read without checking the rest (for keys already checked when their node was read).</summary>
    internal static string NameOf(ReadOnlySpan<byte> value) => NtfsName.Decode(value.Slice(HeaderSize, 2 * value[NameLengthField]));

    internal static uint GetAttributes(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadUInt32LittleEndian(value[FileAttributesField..]);

    internal static void SetAttributes(Span<byte> value, uint attributes) => BinaryPrimitives.WriteUInt32LittleEndian(value[FileAttributesField..], attributes);

    /// <summary>The copies of the file's allocated and data sizes that a $FILE_NAME keeps.</summary>
    internal static void SetSizes(Span<byte> value, long allocated, long size)
    {
        BinaryPrimitives.WriteInt64LittleEndian(value[AllocatedSizeField..], allocated);
        BinaryPrimitives.WriteInt64LittleEndian(value[DataSizeField..], size);
    }

    /// <summary>The record change time, and last write and access when the content changed.</summary>
    internal static void Touch(Span<byte> value, long now, bool modified)
    {
        if (modified) BinaryPrimitives.WriteInt64LittleEndian(value[LastWriteTimeField..], now);
        BinaryPrimitives.WriteInt64LittleEndian(value[ChangeTimeField..], now);
        if (modified) BinaryPrimitives.WriteInt64LittleEndian(value[LastAccessTimeField..], now);
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

    /// <summary>Writes <paramref name="name"/> as UTF-16LE code units at the start of <paramref name="destination"/>.</summary>
    public static void Encode(string name, Span<byte> destination)
    {
        for (int i = 0; i < name.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(destination[(2 * i)..], name[i]);
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
