using System.Buffers.Binary;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>One metadata table entry (MS-VHDX 2.6.1.2): an item's id, where it lies in the region, and its flags.</summary>
public readonly record struct VhdxMetadataEntry(Guid ItemId, uint Offset, uint Length, bool IsUser, bool IsVirtualDisk, bool IsRequired)
{
    public const int Size = 32;
}

/// <summary>
/// The metadata table at the start of the metadata region (MS-VHDX 2.6.1): signature "metadata", an entry count
/// of at most 2047, then the entries. Items live in the region at offsets of 64 KiB or more.
/// </summary>
public sealed record VhdxMetadataTable(IReadOnlyList<VhdxMetadataEntry> Entries)
{
    public const int Size = 64 * 1024;
    public const int MaxEntries = 2047;
    private static ReadOnlySpan<byte> Signature => "metadata"u8;

    public static VhdxMetadataTable Parse(ReadOnlySpan<byte> b, long regionLength, string path, long fileOffset)
    {
        if (b.Length < Size)
            throw new VirtualDiskException(path, fileOffset, $"VHDX metadata table needs {Size} bytes, found {b.Length}");
        if (!b[..8].SequenceEqual(Signature))
            throw new VirtualDiskException(path, fileOffset, $"VHDX metadata table signature is '{Vhd.VhdFooter.Printable(b[..8])}', expected 'metadata'");
        ushort count = BinaryPrimitives.ReadUInt16LittleEndian(b[10..]);
        if (count > MaxEntries)
            throw new VirtualDiskException(path, fileOffset + 10, $"VHDX metadata table has {count} entries, at most {MaxEntries} allowed");
        var entries = new List<VhdxMetadataEntry>(count);
        for (int i = 0; i < count; i++)
        {
            var e = b.Slice(32 + i * VhdxMetadataEntry.Size, VhdxMetadataEntry.Size);
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(e[20..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(e[24..]);
            long at = fileOffset + 32 + i * VhdxMetadataEntry.Size;
            if (length != 0 && (offset < Size || (long)offset + length > regionLength))
                throw new VirtualDiskException(path, at, $"VHDX metadata item {i} [{offset}, +{length}) is not inside the {regionLength}-byte region past its table");
            var entry = new VhdxMetadataEntry(new Guid(e[..16]), offset, length, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0);
            if (entries.Any(x => x.ItemId == entry.ItemId && x.IsUser == entry.IsUser))
                throw new VirtualDiskException(path, at, $"VHDX metadata item {entry.ItemId} appears twice");
            entries.Add(entry);
        }
        return new VhdxMetadataTable(entries);
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Signature.CopyTo(b);
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], (ushort)Entries.Count);
        for (int i = 0; i < Entries.Count; i++)
        {
            var x = Entries[i];
            var e = b.Slice(32 + i * VhdxMetadataEntry.Size, VhdxMetadataEntry.Size);
            x.ItemId.TryWriteBytes(e);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], x.Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(e[20..], x.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(e[24..], (x.IsUser ? 1u : 0) | (x.IsVirtualDisk ? 2u : 0) | (x.IsRequired ? 4u : 0));
        }
    }
}

/// <summary>
/// The system metadata items a reader needs (MS-VHDX 2.6.2): file parameters (block size, leave-blocks-allocated,
/// has-parent), virtual disk size, virtual disk id, logical and physical sector size.
/// </summary>
public sealed record VhdxMetadata
{
    public static readonly Guid FileParametersItem = new("CAA16737-FA36-4D43-B3B6-33F0AA44E76B");
    public static readonly Guid VirtualDiskSizeItem = new("2FA54224-CD1B-4876-B211-5DBED83BF4B8");
    public static readonly Guid VirtualDiskIdItem = new("BECA12AB-B2E6-4523-93EF-C309E000C746");
    public static readonly Guid LogicalSectorSizeItem = new("8141BF1D-A96F-4709-BA47-F233A8FAAB5F");
    public static readonly Guid PhysicalSectorSizeItem = new("CDA348C7-445D-4471-9CC9-E9885251C556");
    public static readonly Guid ParentLocatorItem = new("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C");

    /// <summary>The format's limit on the virtual size: 64 TiB.</summary>
    public const long MaxDiskSize = 64L << 40;
    public const int MinBlockSize = 1 << 20, MaxBlockSize = 256 << 20;

    public uint BlockSize { get; init; }
    /// <summary>"LeaveBlocksAllocated": a fixed disk, whose blocks must not be trimmed away.</summary>
    public bool LeaveBlocksAllocated { get; init; }
    public bool HasParent { get; init; }
    public long VirtualDiskSize { get; init; }
    public Guid VirtualDiskId { get; init; }
    public int LogicalSectorSize { get; init; }
    public int PhysicalSectorSize { get; init; }

    private static readonly Guid[] Known = [FileParametersItem, VirtualDiskSizeItem, VirtualDiskIdItem, LogicalSectorSizeItem, PhysicalSectorSizeItem, ParentLocatorItem];

    /// <summary>How many bytes of the region hold the table and the items a reader needs.</summary>
    public static long NeededLength(VhdxMetadataTable table) =>
        table.Entries.Where(e => Known.Contains(e.ItemId) && !e.IsUser).Select(e => (long)e.Offset + e.Length).DefaultIfEmpty(0).Max();

    /// <summary>Reads the items from <paramref name="region"/>, the start of the metadata region (at least <see cref="NeededLength"/> bytes).</summary>
    public static VhdxMetadata Parse(VhdxMetadataTable table, ReadOnlySpan<byte> region, string path, long regionOffset)
    {
        foreach (var e in table.Entries)
            if (e.IsRequired && !e.IsUser && !Known.Contains(e.ItemId))
                throw new VirtualDiskException(path, regionOffset, $"VHDX metadata item {e.ItemId} is required but unknown to this reader");

        static ReadOnlySpan<byte> Item(VhdxMetadataTable table, ReadOnlySpan<byte> region, Guid id, int length, string name, string path, long regionOffset)
        {
            var e = table.Entries.FirstOrDefault(x => x.ItemId == id && !x.IsUser);
            if (e.Length == 0)
                throw new VirtualDiskException(path, regionOffset, $"VHDX metadata lacks the required {name} item");
            if (e.Length < length || (long)e.Offset + length > region.Length)
                throw new VirtualDiskException(path, regionOffset + e.Offset, $"VHDX {name} item has {e.Length} bytes, expected {length}");
            return region.Slice((int)e.Offset, length);
        }

        var fp = Item(table, region, FileParametersItem, 8, "file parameters", path, regionOffset);
        uint blockSize = BinaryPrimitives.ReadUInt32LittleEndian(fp);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(fp[4..]);
        long at = regionOffset + table.Entries.First(x => x.ItemId == FileParametersItem).Offset;
        if (blockSize < MinBlockSize || blockSize > MaxBlockSize || (blockSize & (blockSize - 1)) != 0)
            throw new VirtualDiskException(path, at, $"VHDX block size {blockSize} is not a power of two from 1 MiB to 256 MiB");
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(Item(table, region, VirtualDiskSizeItem, 8, "virtual disk size", path, regionOffset));
        var id = new Guid(Item(table, region, VirtualDiskIdItem, 16, "virtual disk id", path, regionOffset));
        uint logical = BinaryPrimitives.ReadUInt32LittleEndian(Item(table, region, LogicalSectorSizeItem, 4, "logical sector size", path, regionOffset));
        uint physical = BinaryPrimitives.ReadUInt32LittleEndian(Item(table, region, PhysicalSectorSizeItem, 4, "physical sector size", path, regionOffset));
        if (logical is not (512 or 4096))
            throw new VirtualDiskException(path, regionOffset, $"VHDX logical sector size {logical}, expected 512 or 4096");
        if (physical is not (512 or 4096))
            throw new VirtualDiskException(path, regionOffset, $"VHDX physical sector size {physical}, expected 512 or 4096");
        if (size == 0 || size > MaxDiskSize || size % logical != 0)
            throw new VirtualDiskException(path, regionOffset, $"VHDX virtual disk size {size} is not a non-zero multiple of {logical} up to 64 TiB");
        return new VhdxMetadata
        {
            BlockSize = blockSize,
            LeaveBlocksAllocated = (flags & 1) != 0,
            HasParent = (flags & 2) != 0,
            VirtualDiskSize = (long)size,
            VirtualDiskId = id,
            LogicalSectorSize = (int)logical,
            PhysicalSectorSize = (int)physical,
        };
    }

    /// <summary>Lays out the table and the five items in a 1 MiB metadata region: the table, then the items from 64 KiB.</summary>
    public void Write(Span<byte> region)
    {
        region.Clear();
        const uint at = VhdxMetadataTable.Size;
        // Item offsets: file parameters 8 bytes, size 8, id 16, logical 4, physical 4, packed from 64 KiB.
        BinaryPrimitives.WriteUInt32LittleEndian(region[(int)at..], BlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(region[(int)(at + 4)..], (LeaveBlocksAllocated ? 1u : 0) | (HasParent ? 2u : 0));
        BinaryPrimitives.WriteUInt64LittleEndian(region[(int)(at + 8)..], (ulong)VirtualDiskSize);
        VirtualDiskId.TryWriteBytes(region[(int)(at + 16)..]);
        BinaryPrimitives.WriteUInt32LittleEndian(region[(int)(at + 32)..], (uint)LogicalSectorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(region[(int)(at + 36)..], (uint)PhysicalSectorSize);
        new VhdxMetadataTable([
            new VhdxMetadataEntry(FileParametersItem, at, 8, false, false, true),
            new VhdxMetadataEntry(VirtualDiskSizeItem, at + 8, 8, false, true, true),
            new VhdxMetadataEntry(VirtualDiskIdItem, at + 16, 16, false, true, true),
            new VhdxMetadataEntry(LogicalSectorSizeItem, at + 32, 4, false, true, true),
            new VhdxMetadataEntry(PhysicalSectorSizeItem, at + 36, 4, false, true, true),
        ]).Write(region);
    }
}
