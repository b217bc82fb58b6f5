using System.Numerics;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A directory's $I30 index, read: a B+ tree of $FILE_NAME keys in the resident $INDEX_ROOT and the INDX records
/// of $INDEX_ALLOCATION, sorted by the $I30 collation (names compared through the volume's $UpCase) (NTFS
/// Documentation, "Concepts: Directory Tree"; ntfs-3g index.c). Lookups descend one path; listings walk the
/// whole tree, each record visited once.
/// </summary>
internal sealed class DirectoryIndex
{
    /// <summary>A B+ tree of this depth would index more names than any volume holds; deeper means a loop.</summary>
    public const int MaxDepth = 32;

    private readonly AttributeReader _io;
    private readonly UpcaseTable _upcase;

    private DirectoryIndex(AttributeReader io, UpcaseTable upcase, NtfsFile directory, IndexRoot root, AttributeData? allocation, int vcnShift)
    {
        (_io, _upcase, Directory, Root, Allocation, VcnShift) = (io, upcase, directory, root, allocation, vcnShift);
    }

    public NtfsFile Directory { get; }
    public IndexRoot Root { get; }
    public AttributeData? Allocation { get; }
    /// <summary>VCNs of index records count clusters, or 512-byte blocks when a record is smaller than a cluster.</summary>
    public int VcnShift { get; }
    public string What => $"directory (MFT record {Directory.RecordNumber}) $I30";

    public static DirectoryIndex Open(MasterFileTable mft, AttributeReader io, UpcaseTable upcase, int clusterSize, NtfsFile dir)
    {
        string what = $"directory (MFT record {dir.RecordNumber}) $I30";
        var rootAttribute = dir.FindResident(AttributeType.IndexRoot, "$I30")
            ?? throw new NtfsException(dir.BaseRecord.VolumeOffset, $"{what}: no resident $INDEX_ROOT");
        var root = IndexRoot.Parse(rootAttribute.ResidentValue, rootAttribute.VolumeOffset + rootAttribute.Header.ValueOffset, what);
        if (root.IndexedType != AttributeType.FileName)
            throw new NtfsException(rootAttribute.VolumeOffset, $"{what}: index of attribute 0x{(uint)root.IndexedType:X}, expected $FILE_NAME (0x30)");
        AttributeData? allocation = null;
        if (root.Node.HasChildren)
        {
            allocation = mft.OpenAttribute(dir, AttributeType.IndexAllocation, "$I30");
            if (allocation is null || allocation.Resident is not null)
                throw new NtfsException(rootAttribute.VolumeOffset, $"{what}: the root has children but there is no non-resident $INDEX_ALLOCATION");
        }
        int shift = root.IndexRecordSize >= clusterSize ? BitOperations.Log2((uint)clusterSize) : 9;
        return new DirectoryIndex(io, upcase, dir, root, allocation, shift);
    }

    /// <summary>The entry named <paramref name="name"/> (not a DOS alias), or null.</summary>
    public FileReference? Find(string name) => Find(Root.Entries, name, 0);

    /// <summary>Every entry with a key, in index order.</summary>
    public List<IndexEntry> Entries()
    {
        var output = new List<IndexEntry>();
        Walk(Root.Entries, 0, [], output);
        return output;
    }

    private IndexRecord ReadRecord(long vcn)
    {
        var allocation = Allocation ?? throw new NtfsException(Directory.BaseRecord.VolumeOffset, $"{What}: an entry points to child VCN {vcn} but there is no $INDEX_ALLOCATION");
        int size = Root.IndexRecordSize;
        if (vcn < 0 || vcn > (allocation.DataSize - size) >> VcnShift)
            throw new NtfsException(allocation.VolumeOffset, $"{What}: child VCN {vcn} lies outside the {allocation.DataSize}-byte $INDEX_ALLOCATION");
        long offset = vcn << VcnShift;
        var buffer = new byte[size];
        _io.Read(allocation, offset, buffer);
        return IndexRecord.Parse(buffer, vcn, _io.VolumeOffsetOf(allocation, offset), What);
    }

    /// <summary>B+ tree descent by the $I30 collation (upcased names). DOS aliases are skipped, but their subtrees are still searched.</summary>
    private FileReference? Find(IReadOnlyList<IndexEntry> entries, string name, int depth)
    {
        if (depth > MaxDepth) throw new NtfsException(Directory.BaseRecord.VolumeOffset, $"{What}: index deeper than {MaxDepth} levels (a loop?)");
        foreach (var entry in entries)
        {
            if (entry.Key is null) return Descend(entry);
            int order = _upcase.Compare(name, entry.Key.Name);
            if (order < 0) return Descend(entry);
            if (order == 0)
            {
                if (entry.Key.Namespace != FileNameNamespace.Dos) return entry.File;
                if (Descend(entry) is { } inChild) return inChild;
            }
        }
        return null;

        FileReference? Descend(IndexEntry entry) =>
            entry.ChildVcn is long vcn ? Find(ReadRecord(vcn).Entries, name, depth + 1) : null;
    }

    /// <summary>In-order walk of the whole tree; each index record may be visited once.</summary>
    private void Walk(IReadOnlyList<IndexEntry> entries, int depth, HashSet<long> visited, List<IndexEntry> output)
    {
        if (depth > MaxDepth) throw new NtfsException(Directory.BaseRecord.VolumeOffset, $"{What}: index deeper than {MaxDepth} levels (a loop?)");
        foreach (var entry in entries)
        {
            if (entry.ChildVcn is long vcn)
            {
                if (!visited.Add(vcn)) throw new NtfsException(Directory.BaseRecord.VolumeOffset, $"{What}: index record at VCN {vcn} is referenced twice (a loop)");
                Walk(ReadRecord(vcn).Entries, depth + 1, visited, output);
            }
            if (entry.Key is not null) output.Add(entry);
        }
    }
}
