using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// An INDX record: one B+ tree node stored in an $INDEX_ALLOCATION attribute, protected by update-sequence
/// fix-ups. Layout: NTFS Documentation, "Concepts: Index Record" and "Attributes: $INDEX_ALLOCATION";
/// ntfs-3g layout.h INDEX_BLOCK. Its VCN counts clusters, or 512-byte blocks when records are smaller than a cluster.
/// </summary>
public sealed record IndexRecord(long Vcn, IndexNodeHeader Node, IReadOnlyList<IndexEntry> Entries)
{
    public static ReadOnlySpan<byte> Magic => "INDX"u8;
    public const int LsnField = 0x08, VcnField = 0x10;
    public const int NodeHeaderOffset = 0x18;
    /// <summary>Where the update sequence array starts (ntfs-3g, Windows): right after the node header.</summary>
    public const int UpdateSequenceArrayOffset = 0x28;

    /// <summary>Parses one whole record; applies the fix-ups to <paramref name="record"/> in place.</summary>
    public static IndexRecord Parse(Span<byte> record, long expectedVcn, long volumeOffset, string what)
    {
        if (!record[..4].SequenceEqual(Magic))
            throw new NtfsException(volumeOffset, $"{what}: index record at VCN {expectedVcn} has magic \"{FileRecord.Printable(record[..4])}\", expected \"INDX\"");
        UpdateSequence.Apply(record, volumeOffset, $"{what} index record at VCN {expectedVcn}");
        long vcn = BinaryPrimitives.ReadInt64LittleEndian(record[VcnField..]);
        if (vcn != expectedVcn)
            throw new NtfsException(volumeOffset + VcnField, $"{what}: index record says it is VCN {vcn}, expected {expectedVcn}");
        var node = record[NodeHeaderOffset..];
        var header = IndexNodeHeader.Parse(node, volumeOffset + NodeHeaderOffset, what);
        return new IndexRecord(vcn, header, IndexEntry.ParseNode(node, header, volumeOffset + NodeHeaderOffset, what));
    }

    /// <summary>Where a node's entries start, relative to its node header, in a record of <paramref name="size"/> bytes: after the update sequence array.</summary>
    public static int EntriesOffset(int size) =>
        AttributeRecord.Align8(UpdateSequenceArrayOffset + 2 * (size / UpdateSequence.StrideSize + 1)) - NodeHeaderOffset;

    /// <summary>
    /// A whole record of <paramref name="size"/> bytes holding <paramref name="entries"/> (raw entries, the last
    /// one the end entry), with fresh fix-ups: the update sequence number <paramref name="usn"/> is bumped.
    /// </summary>
    public static byte[] Write(int size, long vcn, long lsn, ushort usn, IReadOnlyList<byte[]> entries)
    {
        int usaCount = size / UpdateSequence.StrideSize + 1, entriesOffset = EntriesOffset(size), length = entries.Sum(e => e.Length);
        var b = new byte[size];
        Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(UpdateSequence.ArrayOffsetField), UpdateSequenceArrayOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(UpdateSequence.ArrayCountField), (ushort)usaCount);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(LsnField), lsn);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(VcnField), vcn);
        bool hasChildren = entries.Any(e => IndexEntry.HasChild(e));
        new IndexNodeHeader(entriesOffset, entriesOffset + length, size - NodeHeaderOffset, hasChildren).Write(b.AsSpan(NodeHeaderOffset));
        int pos = NodeHeaderOffset + entriesOffset;
        foreach (var e in entries) { e.CopyTo(b, pos); pos += e.Length; }
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(UpdateSequenceArrayOffset), usn);
        UpdateSequence.Protect(b);
        return b;
    }
}
