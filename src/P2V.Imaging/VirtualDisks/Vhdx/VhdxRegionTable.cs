using System.Buffers.Binary;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>One region table entry (MS-VHDX 2.2.3.2): which region, where, how long, and whether a reader must know it.</summary>
public readonly record struct VhdxRegionEntry(Guid Guid, long FileOffset, uint Length, bool Required)
{
    public const int Size = 32;
    public long End => FileOffset + Length;
}

/// <summary>
/// The 64 KiB region table at 192 KiB (copy at 256 KiB), MS-VHDX 2.2.3: signature "regi", CRC-32C over the
/// 64 KiB, then up to 2047 entries. Regions are 1 MiB aligned and do not overlap.
/// </summary>
public sealed record VhdxRegionTable(IReadOnlyList<VhdxRegionEntry> Entries)
{
    public const int Size = 64 * 1024;
    public const long FirstOffset = 192 * 1024, SecondOffset = 256 * 1024;
    public const int MaxEntries = 2047;
    public const long Alignment = 1 << 20;
    public static readonly Guid BatRegion = new("2DC27766-F623-4200-9D64-115E9BFD4A08");
    public static readonly Guid MetadataRegion = new("8B7CA206-4790-4B9A-B8FE-575F050F886E");
    private static ReadOnlySpan<byte> Signature => "regi"u8;

    public VhdxRegionEntry? Find(Guid guid) => Entries.FirstOrDefault(e => e.Guid == guid) is { Length: > 0 } e ? e : null;

    public static VhdxRegionTable Parse(ReadOnlySpan<byte> b, string path, long fileOffset)
    {
        if (b.Length < Size)
            throw new VirtualDiskException(path, fileOffset, $"VHDX region table needs {Size} bytes, found {b.Length}");
        if (!b[..4].SequenceEqual(Signature))
            throw new VirtualDiskException(path, fileOffset, $"VHDX region table signature is '{Vhd.VhdFooter.Printable(b[..4])}', expected 'regi'");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        uint computed = Crc32C.Compute(b[..Size], 4);
        if (stored != computed)
            throw new VirtualDiskException(path, fileOffset + 4, $"VHDX region table checksum is 0x{stored:X8}, expected 0x{computed:X8}");
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        if (count > MaxEntries)
            throw new VirtualDiskException(path, fileOffset + 8, $"VHDX region table has {count} entries, at most {MaxEntries} allowed");
        var entries = new List<VhdxRegionEntry>((int)count);
        for (int i = 0; i < count; i++)
        {
            var e = b.Slice(16 + i * VhdxRegionEntry.Size, VhdxRegionEntry.Size);
            ulong offset = BinaryPrimitives.ReadUInt64LittleEndian(e[16..]);
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(e[24..]);
            long at = fileOffset + 16 + i * VhdxRegionEntry.Size;
            if (offset % Alignment != 0 || length % Alignment != 0 || offset < (ulong)Alignment || length == 0 || offset > long.MaxValue / 2)
                throw new VirtualDiskException(path, at, $"VHDX region {i} [{offset}, +{length}) is not a non-empty 1 MiB aligned range past the header section");
            var entry = new VhdxRegionEntry(new Guid(e[..16]), (long)offset, length, (BinaryPrimitives.ReadUInt32LittleEndian(e[28..]) & 1) != 0);
            foreach (var other in entries)
            {
                if (other.Guid == entry.Guid)
                    throw new VirtualDiskException(path, at, $"VHDX region {entry.Guid} appears twice");
                if (entry.FileOffset < other.End && other.FileOffset < entry.End)
                    throw new VirtualDiskException(path, at, $"VHDX region {i} {entry.FileOffset}+{entry.Length} overlaps region {other.Guid}");
            }
            entries.Add(entry);
        }
        return new VhdxRegionTable(entries);
    }

    public void Write(Span<byte> b)
    {
        b[..Size].Clear();
        Signature.CopyTo(b);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], (uint)Entries.Count);
        for (int i = 0; i < Entries.Count; i++)
        {
            var e = b.Slice(16 + i * VhdxRegionEntry.Size, VhdxRegionEntry.Size);
            Entries[i].Guid.TryWriteBytes(e);
            BinaryPrimitives.WriteUInt64LittleEndian(e[16..], (ulong)Entries[i].FileOffset);
            BinaryPrimitives.WriteUInt32LittleEndian(e[24..], Entries[i].Length);
            BinaryPrimitives.WriteUInt32LittleEndian(e[28..], Entries[i].Required ? 1u : 0u);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Crc32C.Compute(b[..Size], 4));
    }
}
