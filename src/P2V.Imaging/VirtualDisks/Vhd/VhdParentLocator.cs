using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.VirtualDisks.Vhd;

/// <summary>
/// One of the eight 24-byte parent locator entries of a differencing disk's dynamic header:
/// Virtual Hard Disk Image Format Specification, "Dynamic Disk Header Format", field "Parent Locator Entries".
/// The locator's data (a path) lives elsewhere in the file, at <see cref="DataOffset"/>.
/// </summary>
public readonly record struct VhdParentLocator(string PlatformCode, uint DataSpace, uint DataLength, ulong DataOffset)
{
    public const int Size = 24;

    /// <summary>"W2ru": a Windows path relative to the child, UTF-16LE.</summary>
    public const string WindowsRelative = "W2ru";
    /// <summary>"W2ku": an absolute Windows path, UTF-16LE.</summary>
    public const string WindowsAbsolute = "W2ku";
    /// <summary>"MacX": a file URL, UTF-8.</summary>
    public const string MacOsXUrl = "MacX";

    public bool IsEmpty => PlatformCode is null or "\0\0\0\0" || DataLength == 0;

    public static VhdParentLocator Parse(ReadOnlySpan<byte> b) => new(
        Encoding.ASCII.GetString(b[..4]),
        BinaryPrimitives.ReadUInt32BigEndian(b[4..]),
        BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
        BinaryPrimitives.ReadUInt64BigEndian(b[16..]));

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        if (PlatformCode is { Length: 4 }) Encoding.ASCII.GetBytes(PlatformCode, b[..4]);
        BinaryPrimitives.WriteUInt32BigEndian(b[4..], DataSpace);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], DataLength);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], DataOffset);
    }

    /// <summary>The path the locator data spells, or null for a platform we do not follow.</summary>
    public string? DecodePath(ReadOnlySpan<byte> data) => PlatformCode switch
    {
        WindowsRelative or WindowsAbsolute => Encoding.Unicode.GetString(data).TrimEnd('\0'),
        MacOsXUrl => Uri.TryCreate(Encoding.UTF8.GetString(data).TrimEnd('\0'), UriKind.Absolute, out var u) && u.IsFile ? u.LocalPath : null,
        _ => null,
    };
}
