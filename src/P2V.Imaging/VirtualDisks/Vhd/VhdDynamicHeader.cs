using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.VirtualDisks.Vhd;

/// <summary>
/// The 1024-byte dynamic disk header of dynamic and differencing VHDs: Virtual Hard Disk Image Format
/// Specification, "Dynamic Disk Header Format". Big-endian; the parent fields are used by differencing disks only.
/// </summary>
public sealed record VhdDynamicHeader
{
    public const int Size = 1024;
    public const int LocatorCount = 8;
    /// <summary>Where "Parent Unique ID" and the parent locator entries sit in the header.</summary>
    public const int ParentUniqueIdOffset = 40, ParentLocatorsOffset = 576;
    /// <summary>The spec's (and Hyper-V's) default block size.</summary>
    public const int DefaultBlockSize = 2 << 20;

    private static ReadOnlySpan<byte> Cookie => "cxsparse"u8;

    /// <summary>"Table Offset": absolute file offset of the Block Allocation Table.</summary>
    public ulong TableOffset { get; init; }
    public uint HeaderVersion { get; init; } = 0x0001_0000;
    /// <summary>"Max Table Entries": the number of BAT entries, at least the disk size over the block size.</summary>
    public uint MaxTableEntries { get; init; }
    /// <summary>"Block Size": the data bytes per block, not counting the sector bitmap in front of it.</summary>
    public uint BlockSize { get; init; } = DefaultBlockSize;
    public uint Checksum { get; init; }
    public Guid ParentUniqueId { get; init; }
    public uint ParentTimeStamp { get; init; }
    /// <summary>"Parent Unicode Name": the parent's file name, UTF-16 big-endian, 512 bytes.</summary>
    public string ParentName { get; init; } = "";
    public VhdParentLocator[] ParentLocators { get; init; } = new VhdParentLocator[LocatorCount];

    /// <summary>Bytes of a block's sector bitmap: one bit per sector, padded to a whole sector.</summary>
    public int BitmapSize => (int)((BlockSize / 512 / 8 + 511) / 512 * 512);

    public static uint ComputeChecksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i < Size; i++)
            if (i < 36 || i >= 40) sum += header[i];
        return ~sum;
    }

    public static VhdDynamicHeader Parse(ReadOnlySpan<byte> b, string path, long fileOffset)
    {
        if (b.Length < Size)
            throw new VirtualDiskException(path, fileOffset, $"VHD dynamic header needs {Size} bytes, found {b.Length}");
        if (!b[..8].SequenceEqual(Cookie))
            throw new VirtualDiskException(path, fileOffset, $"VHD dynamic header cookie is '{VhdFooter.Printable(b[..8])}', expected 'cxsparse'");
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(b[36..]);
        uint computed = ComputeChecksum(b);
        if (stored != computed)
            throw new VirtualDiskException(path, fileOffset + 36, $"VHD dynamic header checksum is 0x{stored:X8}, expected 0x{computed:X8}");
        uint version = BinaryPrimitives.ReadUInt32BigEndian(b[24..]);
        if (version >> 16 != 1)
            throw new VirtualDiskException(path, fileOffset + 24, $"VHD dynamic header version 0x{version:X8} is not 1.x");
        uint blockSize = BinaryPrimitives.ReadUInt32BigEndian(b[32..]);
        // The spec allows any multiple of a sector; real tools use powers of two (512 KiB, 2 MiB), and the
        // bitmap arithmetic needs whole bytes of bits.
        if (blockSize < 4096 || blockSize > (256u << 20) || (blockSize & (blockSize - 1)) != 0)
            throw new VirtualDiskException(path, fileOffset + 32, $"VHD block size {blockSize} is not a power of two from 4 KiB to 256 MiB");
        ulong table = BinaryPrimitives.ReadUInt64BigEndian(b[16..]);
        if (table % 512 != 0 || table == ulong.MaxValue)
            throw new VirtualDiskException(path, fileOffset + 16, $"VHD BAT offset 0x{table:X} is not a sector offset");
        var locators = new VhdParentLocator[LocatorCount];
        for (int i = 0; i < LocatorCount; i++)
            locators[i] = VhdParentLocator.Parse(b[(ParentLocatorsOffset + i * VhdParentLocator.Size)..]);
        return new VhdDynamicHeader
        {
            TableOffset = table,
            HeaderVersion = version,
            MaxTableEntries = BinaryPrimitives.ReadUInt32BigEndian(b[28..]),
            BlockSize = blockSize,
            Checksum = stored,
            ParentUniqueId = new Guid(b[ParentUniqueIdOffset..(ParentUniqueIdOffset + 16)], bigEndian: true),
            ParentTimeStamp = BinaryPrimitives.ReadUInt32BigEndian(b[56..]),
            ParentName = Encoding.BigEndianUnicode.GetString(b[64..ParentLocatorsOffset]).TrimEnd('\0'),
            ParentLocators = locators,
        };
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Cookie.CopyTo(b);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], ulong.MaxValue);
        BinaryPrimitives.WriteUInt64BigEndian(b[16..], TableOffset);
        BinaryPrimitives.WriteUInt32BigEndian(b[24..], HeaderVersion);
        BinaryPrimitives.WriteUInt32BigEndian(b[28..], MaxTableEntries);
        BinaryPrimitives.WriteUInt32BigEndian(b[32..], BlockSize);
        ParentUniqueId.TryWriteBytes(b[ParentUniqueIdOffset..(ParentUniqueIdOffset + 16)], bigEndian: true, out _);
        BinaryPrimitives.WriteUInt32BigEndian(b[56..], ParentTimeStamp);
        var name = ParentName.Length > 256 ? ParentName[..256] : ParentName;
        Encoding.BigEndianUnicode.GetBytes(name, b[64..ParentLocatorsOffset]);
        for (int i = 0; i < LocatorCount; i++)
            ParentLocators[i].Write(b[(ParentLocatorsOffset + i * VhdParentLocator.Size)..]);
        BinaryPrimitives.WriteUInt32BigEndian(b[36..], ComputeChecksum(b));
    }
}
