using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.VirtualDisks.Vhd;

/// <summary>VHD disk types, footer field "Disk Type".</summary>
public enum VhdDiskType
{
    Fixed = 2,
    Dynamic = 3,
    Differencing = 4,
}

/// <summary>
/// The 512-byte hard disk footer at the end of every VHD (and copied at offset 0 of dynamic and
/// differencing disks): Virtual Hard Disk Image Format Specification, "Hard Disk Footer Format".
/// All fields are big-endian.
/// </summary>
public sealed record VhdFooter
{
    public const int Size = 512;
    /// <summary>"Data Offset" of a fixed disk: there is no dynamic header.</summary>
    public const ulong NoDataOffset = ulong.MaxValue;
    /// <summary>The spec's "2040 GB" limit on a VHD's size.</summary>
    public const long MaxDiskSize = 2040L << 30;

    private static ReadOnlySpan<byte> Cookie => "conectix"u8;

    /// <summary>"Features": bit 1 (reserved) must always be set.</summary>
    public uint Features { get; init; } = 2;
    /// <summary>"File Format Version": 1.0.</summary>
    public uint FormatVersion { get; init; } = 0x0001_0000;
    /// <summary>Absolute offset of the dynamic disk header; <see cref="NoDataOffset"/> for fixed disks.</summary>
    public ulong DataOffset { get; init; } = NoDataOffset;
    /// <summary>Seconds since 2000-01-01 00:00:00 UTC.</summary>
    public uint TimeStamp { get; init; }
    public string CreatorApplication { get; init; } = "p2v ";
    public uint CreatorVersion { get; init; } = 0x0001_0000;
    /// <summary>"Wi2k" (Windows) or "Mac ".</summary>
    public string CreatorHostOs { get; init; } = "Wi2k";
    public ulong OriginalSize { get; init; }
    public ulong CurrentSize { get; init; }
    public VhdGeometry Geometry { get; init; }
    public VhdDiskType DiskType { get; init; }
    public uint Checksum { get; init; }
    public Guid UniqueId { get; init; }
    public bool SavedState { get; init; }

    public static uint TimeStampNow() =>
        (uint)Math.Clamp((DateTime.UtcNow - new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds, 0, uint.MaxValue);

    /// <summary>"Checksum": the one's complement of the sum of all bytes of the footer except the checksum field.</summary>
    public static uint ComputeChecksum(ReadOnlySpan<byte> footer)
    {
        uint sum = 0;
        for (int i = 0; i < Size; i++)
            if (i < 64 || i >= 68) sum += footer[i];
        return ~sum;
    }

    /// <summary>Whether <paramref name="bytes"/> starts with the footer cookie.</summary>
    public static bool HasCookie(ReadOnlySpan<byte> bytes) => bytes.Length >= 8 && bytes[..8].SequenceEqual(Cookie);

    /// <summary>Parses and validates a footer; <paramref name="fileOffset"/> only serves the error messages.</summary>
    public static VhdFooter Parse(ReadOnlySpan<byte> b, string path, long fileOffset)
    {
        if (b.Length < Size)
            throw new VirtualDiskException(path, fileOffset, $"VHD footer needs {Size} bytes, found {b.Length}");
        if (!HasCookie(b))
            throw new VirtualDiskException(path, fileOffset, $"VHD footer cookie is '{Printable(b[..8])}', expected 'conectix'");
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(b[64..]);
        uint computed = ComputeChecksum(b);
        if (stored != computed)
            throw new VirtualDiskException(path, fileOffset + 64, $"VHD footer checksum is 0x{stored:X8}, expected 0x{computed:X8}");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(b[12..]);
        if (version >> 16 != 1)
            throw new VirtualDiskException(path, fileOffset + 12, $"VHD file format version 0x{version:X8} is not 1.x");
        uint type = BinaryPrimitives.ReadUInt32BigEndian(b[60..]);
        if (type is not (2 or 3 or 4))
            throw new VirtualDiskException(path, fileOffset + 60, $"VHD disk type {type} is not fixed (2), dynamic (3) or differencing (4)");
        ulong current = BinaryPrimitives.ReadUInt64BigEndian(b[48..]);
        if (current == 0 || current % 512 != 0 || current > (ulong)MaxDiskSize)
            throw new VirtualDiskException(path, fileOffset + 48, $"VHD current size {current} is not a non-zero multiple of 512 up to 2040 GiB");
        ulong dataOffset = BinaryPrimitives.ReadUInt64BigEndian(b[16..]);
        if (type == 2 ? dataOffset != NoDataOffset && dataOffset != 0 : dataOffset == NoDataOffset || dataOffset % 512 != 0)
            throw new VirtualDiskException(path, fileOffset + 16, type == 2
                ? $"fixed VHD has data offset 0x{dataOffset:X}, expected 0xFFFFFFFFFFFFFFFF"
                : $"dynamic VHD data offset 0x{dataOffset:X} is not a sector offset of the dynamic header");
        return new VhdFooter
        {
            Features = BinaryPrimitives.ReadUInt32BigEndian(b[8..]),
            FormatVersion = version,
            DataOffset = dataOffset,
            TimeStamp = BinaryPrimitives.ReadUInt32BigEndian(b[24..]),
            CreatorApplication = Encoding.ASCII.GetString(b[28..32]),
            CreatorVersion = BinaryPrimitives.ReadUInt32BigEndian(b[32..]),
            CreatorHostOs = Encoding.ASCII.GetString(b[36..40]),
            OriginalSize = BinaryPrimitives.ReadUInt64BigEndian(b[40..]),
            CurrentSize = current,
            Geometry = new VhdGeometry(BinaryPrimitives.ReadUInt16BigEndian(b[56..]), b[58], b[59]),
            DiskType = (VhdDiskType)type,
            Checksum = stored,
            UniqueId = new Guid(b[68..84], bigEndian: true),
            SavedState = b[84] != 0,
        };
    }

    /// <summary>Writes the footer with its checksum into <paramref name="b"/> (512 bytes).</summary>
    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Cookie.CopyTo(b);
        BinaryPrimitives.WriteUInt32BigEndian(b[8..], Features);
        BinaryPrimitives.WriteUInt32BigEndian(b[12..], FormatVersion);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], DataOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], TimeStamp);
        Encoding.ASCII.GetBytes(CreatorApplication.PadRight(4).AsSpan(0, 4), b[28..32]);
        BinaryPrimitives.WriteUInt32BigEndian(b[32..], CreatorVersion);
        Encoding.ASCII.GetBytes(CreatorHostOs.PadRight(4).AsSpan(0, 4), b[36..40]);
        BinaryPrimitives.WriteUInt64BigEndian(b[40..], OriginalSize);
        BinaryPrimitives.WriteUInt64BigEndian(b[48..], CurrentSize);
        BinaryPrimitives.WriteUInt16BigEndian(b[56..], Geometry.Cylinders);
        b[58] = Geometry.Heads;
        b[59] = Geometry.SectorsPerTrack;
        BinaryPrimitives.WriteUInt32BigEndian(b[60..], (uint)DiskType);
        UniqueId.TryWriteBytes(b[68..84], bigEndian: true, out _);
        b[84] = SavedState ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(b[64..], ComputeChecksum(b));
    }

    internal static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (var c in bytes) sb.Append(c is >= 0x20 and < 0x7F ? (char)c : '.');
        return sb.ToString();
    }
}
