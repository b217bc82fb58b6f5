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
    public const int NodeHeaderOffset = 0x18;

    /// <summary>Parses one whole record; applies the fix-ups to <paramref name="record"/> in place.</summary>
    public static IndexRecord Parse(Span<byte> record, long expectedVcn, long volumeOffset, string what)
    {
        if (!record[..4].SequenceEqual(Magic))
            throw new NtfsException($"{what}: index record at VCN {expectedVcn} has magic \"{FileRecord.Printable(record[..4])}\", expected \"INDX\"", volumeOffset);
        UpdateSequence.Apply(record, volumeOffset, $"{what} index record at VCN {expectedVcn}");
        long vcn = BinaryPrimitives.ReadInt64LittleEndian(record[0x10..]);
        if (vcn != expectedVcn)
            throw new NtfsException($"{what}: index record says it is VCN {vcn}, expected {expectedVcn}", volumeOffset + 0x10);
        var node = record[NodeHeaderOffset..];
        var header = IndexNodeHeader.Parse(node, volumeOffset + NodeHeaderOffset, what);
        return new IndexRecord(vcn, header, IndexEntry.ParseNode(node, header, volumeOffset + NodeHeaderOffset, what));
    }
}
