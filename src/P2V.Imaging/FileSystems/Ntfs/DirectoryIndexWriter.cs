using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Changes to a directory's $I30 B+ tree: patching the $FILE_NAME copies its entries hold, and inserting an
/// entry. Insertion goes into the leaf where the name sorts (NTFS Documentation, "Concepts: Directory Tree";
/// ntfs-3g index.c ntfs_ie_add): when a node overflows it is split — the lower half moves to a new INDX
/// block and its last entry goes up to the parent, pointing at that block — and when the root no longer
/// fits its MFT record its entries move into a new INDX block and the root keeps just an end entry pointing
/// there (ntfs-3g ntfs_ir_reparent). New blocks are written first, then the changed blocks, then the
/// directory's record (root, $I30 $BITMAP, $INDEX_ALLOCATION).
/// </summary>
internal sealed class DirectoryIndexWriter(AttributeReader io, MasterFileTable mft, UpcaseTable upcase, int clusterSize, ClusterAllocator? clusters)
{
    private ClusterAllocator Clusters => clusters ?? throw new InvalidOperationException("NTFS: the volume is not open for writing");

    /// <summary>
    /// Bytes a directory's MFT record keeps free when its root grows, so that $INDEX_ALLOCATION's runlist and the
    /// $I30 $BITMAP can still grow; a root that would eat into them moves into an INDX block instead.
    /// </summary>
    private const int RootReserve = 64;

    /// <summary>$INDEX_ALLOCATION grows by this many blocks at a time, so its runlist rarely has to.</summary>
    private const int IndexGrowthBlocks = 4;

    public sealed class IndexWrite
    {
        public required NtfsFile Directory { get; init; }
        public required FileRecordEditor Record { get; init; }
        public required int BlockSize { get; init; }
        public required int VcnShift { get; init; }
        public AttributeData? Allocation { get; set; }
        public string What => $"directory (MFT record {Directory.RecordNumber}) $I30";
    }

    /// <summary>One node while it is changed: its entries as raw bytes, the last one the end entry.</summary>
    private sealed class IndexNodeImage
    {
        public bool IsRoot { get; init; }
        public long Vcn { get; init; }
        public long Lsn { get; init; }
        public ushort Usn { get; init; }
        public required List<byte[]> Entries { get; set; }
        public int Size => Entries.Sum(e => e.Length);
            }

    /// <param name="inserting">Inserting may add attributes to the directory's record, which is not supported when it
    /// has an $ATTRIBUTE_LIST; patching entries in place changes only the root in the base record and INDX blocks.</param>
    public IndexWrite Open(NtfsFile directory, bool inserting)
    {
        if (inserting && directory.Attributes.Any(a => a.Type == AttributeType.AttributeList))
            throw new NotSupportedException($"directory MFT record {directory.RecordNumber} has an $ATTRIBUTE_LIST; changing its index is not supported");
        var index = DirectoryIndex.Open(mft, io, upcase, clusterSize, directory); // checks the root
        var allocation = mft.OpenAttribute(directory, AttributeType.IndexAllocation, "$I30");
        if (allocation is { Resident: not null }) throw new NtfsException(allocation.VolumeOffset, $"{index.What}: $INDEX_ALLOCATION is resident");
        return new IndexWrite
        {
            Directory = directory,
            Record = mft.ReadForEdit(directory.RecordNumber),
            BlockSize = index.Root.IndexRecordSize,
            VcnShift = index.VcnShift,
            Allocation = allocation,
        };
    }

    /// <summary>Applies <paramref name="patch"/> to the $FILE_NAME key of every entry of <paramref name="directory"/> that refers to record <paramref name="recordNumber"/> (Win32 and DOS names alike).</summary>
    public void UpdateCopies(NtfsFile directory, long recordNumber, SpanAction patch)
    {
        var w = Open(directory, inserting: false);
        var root = LoadRoot(w);
        var pending = new Stack<(long Vcn, int Depth)>();
        if (PatchEntries(root, recordNumber, patch)) SaveRoot(w, root.Entries);
        Push(root, 0);
        var visited = new HashSet<long>();
        while (pending.Count > 0)
        {
            var (vcn, depth) = pending.Pop();
            if (depth > DirectoryIndex.MaxDepth || !visited.Add(vcn)) throw new NtfsException(w.Record.VolumeOffset, $"{w.What}: index loop at VCN {vcn}");
            var node = LoadBlock(w, vcn);
            if (PatchEntries(node, recordNumber, patch)) WriteBlock(w, node);
            Push(node, depth + 1);
        }
        mft.Write(w.Record);

        void Push(IndexNodeImage node, int depth)
        {
            foreach (var e in node.Entries) if (HasChild(e)) pending.Push((ChildVcn(e), depth));
        }
    }

    public delegate void SpanAction(Span<byte> key);

    private static bool PatchEntries(IndexNodeImage node, long recordNumber, SpanAction patch)
    {
        bool changed = false;
        foreach (var e in node.Entries)
        {
            if (IsLast(e) || IndexEntry.FileOf(e).RecordNumber != recordNumber) continue;
            var key = IndexEntry.KeyOf(e);
            if (key.Length < FileName.HeaderSize) continue;
            patch(key);
            changed = true;
        }
        return changed;
    }

    /// <summary>Adds <paramref name="entry"/> (named <paramref name="name"/>) to <paramref name="directory"/>'s index.</summary>
    public void Add(NtfsFile directory, byte[] entry, string name, long now)
    {
        var w = Open(directory, inserting: true);
        var root = LoadRoot(w);
        var promoted = Insert(w, root, entry, name, 0);
        if (promoted is not null) throw new InvalidOperationException("the root never splits");
        w.Record.TouchStandardInformation(now, modified: true);
        mft.Write(w.Record);
    }

    /// <summary>Inserts into the subtree at <paramref name="node"/>; returns the entry to add to the parent when the node split.</summary>
    private byte[]? Insert(IndexWrite w, IndexNodeImage node, byte[] entry, string name, int depth)
    {
        if (depth > DirectoryIndex.MaxDepth) throw new NtfsException(w.Record.VolumeOffset, $"{w.What}: index deeper than {DirectoryIndex.MaxDepth} levels (a loop?)");
        int i = 0;
        for (; i < node.Entries.Count - 1; i++)
        {
            var e = node.Entries[i];
            if (IsLast(e)) break;
            int order = upcase.Compare(name, KeyName(e));
            if (order == 0) throw new IOException($"{w.What}: '{name}' is already there (as '{KeyName(e)}')");
            if (order < 0) break;
        }
        if (HasChild(node.Entries[i]))
        {
            var child = LoadBlock(w, ChildVcn(node.Entries[i]));
            var up = Insert(w, child, entry, name, depth + 1);
            if (up is null) return null;
            node.Entries.Insert(i, up);
        }
        else
        {
            node.Entries.Insert(i, entry);
        }
        return node.IsRoot ? StoreRoot(w, node) : StoreBlock(w, node);
    }

    private byte[]? StoreRoot(IndexWrite w, IndexNodeImage root)
    {
        if (SaveRoot(w, root.Entries)) return null;
        // The root outgrew the MFT record: shrink it first (that frees the room the new attributes may need),
        // move its entries into a new block, and leave an end entry pointing there.
        var entries = root.Entries;
        if (!SaveRoot(w, [EndEntry(null)])) throw new NotSupportedException($"{w.What}: no room for even an empty root");
        long vcn = AllocateBlock(w);
        var moved = new IndexNodeImage { Vcn = vcn, Entries = entries };
        var up = StoreBlock(w, moved);
        List<byte[]> newRoot = up is null ? [EndEntry(vcn)] : [up, EndEntry(vcn)];
        if (!SaveRoot(w, newRoot)) throw new NotSupportedException($"{w.What}: no room in the MFT record for the new root");
        return null;
    }

    private byte[]? StoreBlock(IndexWrite w, IndexNodeImage node)
    {
        if (BlockFits(w, node)) { WriteBlock(w, node); return null; }
        // Split: the lower half goes to a new block, the middle entry goes up pointing at it; the upper half
        // stays where it is, so the parent's pointer to this block stays right.
        int half = node.Size / 2, acc = 0, m = 0;
        while (m < node.Entries.Count - 2 && acc + node.Entries[m].Length <= half) acc += node.Entries[m++].Length;
        if (m == 0) m = 1;
        var middle = node.Entries[m];
        long vcn = AllocateBlock(w);
        var lower = new IndexNodeImage { Vcn = vcn, Entries = [.. node.Entries.Take(m), EndEntry(HasChild(middle) ? ChildVcn(middle) : null)] };
        node.Entries = node.Entries.Skip(m + 1).ToList();
        if (!BlockFits(w, lower) || !BlockFits(w, node)) throw new NotSupportedException($"{w.What}: index entries too large to split into {w.BlockSize}-byte blocks");
        WriteBlock(w, lower);
        WriteBlock(w, node);
        return WithChild(middle, vcn);
    }

    // ---- The root ($INDEX_ROOT) ---------------------------------------------------------------------------

    private static IndexNodeImage LoadRoot(IndexWrite w)
    {
        int at = w.Record.Find(AttributeType.IndexRoot, "$I30");
        if (at < 0) throw new NtfsException(w.Record.VolumeOffset, $"{w.What}: no $INDEX_ROOT");
        var value = w.Record.ResidentValue(at);
        var node = value[IndexRoot.HeaderSize..];
        var header = IndexNodeHeader.Parse(node, w.Record.VolumeOffset + at, w.What);
        return new IndexNodeImage { IsRoot = true, Entries = SplitEntries(node, header, w.Record.VolumeOffset + at, w.What) };
    }

    /// <summary>Rewrites $INDEX_ROOT with <paramref name="entries"/>; false when the MFT record has no room.</summary>
    private static bool SaveRoot(IndexWrite w, List<byte[]> entries)
    {
        int at = w.Record.Find(AttributeType.IndexRoot, "$I30");
        var header = w.Record.HeaderAt(at);
        var value = IndexRoot.Write(w.Record.ResidentValue(at), entries);
        var attribute = AttributeRecord.Resident(AttributeType.IndexRoot, "$I30", header.Id, value);
        bool shrinks = attribute.Length <= header.RecordLength;
        if (!shrinks && attribute.Length - header.RecordLength > w.Record.FreeBytes - RootReserve) return false;
        return w.Record.TryReplace(at, attribute);
    }

    // ---- INDX blocks ($INDEX_ALLOCATION) ------------------------------------------------------------------

    private static bool BlockFits(IndexWrite w, IndexNodeImage node) =>
        IndexRecord.NodeHeaderOffset + IndexRecord.EntriesOffset(w.BlockSize) + node.Size <= w.BlockSize;

    private IndexNodeImage LoadBlock(IndexWrite w, long vcn)
    {
        var allocation = w.Allocation ?? throw new NtfsException(w.Record.VolumeOffset, $"{w.What}: an entry points to VCN {vcn} but there is no $INDEX_ALLOCATION");
        long offset = vcn << w.VcnShift;
        if (vcn < 0 || offset > allocation.DataSize - w.BlockSize)
            throw new NtfsException(allocation.VolumeOffset, $"{w.What}: child VCN {vcn} lies outside the {allocation.DataSize}-byte $INDEX_ALLOCATION");
        var buffer = new byte[w.BlockSize];
        io.Read(allocation, offset, buffer);
        long at = io.VolumeOffsetOf(allocation, offset);
        IndexRecord.Parse(buffer, vcn, at, w.What); // checks it and takes the fix-ups off
        var node = buffer.AsSpan(IndexRecord.NodeHeaderOffset);
        var header = IndexNodeHeader.Parse(node, at + IndexRecord.NodeHeaderOffset, w.What);
        return new IndexNodeImage
        {
            Vcn = vcn,
            Lsn = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(IndexRecord.LsnField)),
            Usn = UpdateSequence.Number(buffer),
            Entries = SplitEntries(node, header, at + IndexRecord.NodeHeaderOffset, w.What),
        };
    }

    /// <summary>Writes an INDX block with fresh fix-ups.</summary>
    private void WriteBlock(IndexWrite w, IndexNodeImage node) =>
        io.Write(w.Allocation!, node.Vcn << w.VcnShift, IndexRecord.Write(w.BlockSize, node.Vcn, node.Lsn, node.Usn, node.Entries));

    /// <summary>
    /// A free INDX block: a clear bit of the directory's $I30 $BITMAP, or a new block at the end of
    /// $INDEX_ALLOCATION (one block, or a cluster's worth when blocks are smaller than a cluster), with the
    /// clusters claimed in $Bitmap and the two attributes created when the directory had only a root.
    /// </summary>
    private long AllocateBlock(IndexWrite w)
    {
        var record = w.Record;
        int bitmapAt = record.Find(AttributeType.Bitmap, "$I30");
        if (bitmapAt >= 0 && record.HeaderAt(bitmapAt).IsNonResident)
            throw new NotSupportedException($"{w.What}: its $BITMAP is non-resident; growing such a directory is not supported");
        long blocks = w.Allocation is null ? 0 : w.Allocation.DataSize / w.BlockSize;
        if (bitmapAt >= 0)
        {
            var bits = record.ResidentValue(bitmapAt);
            for (long b = 0; b < Math.Min(blocks, bits.Length * 8L); b++)
            {
                if ((bits[(int)(b / 8)] & (1 << (int)(b % 8))) != 0) continue;
                bits[(int)(b / 8)] |= (byte)(1 << (int)(b % 8));
                return b * w.BlockSize >> w.VcnShift;
            }
        }

        long bytes = Math.Max((long)w.BlockSize * IndexGrowthBlocks, clusterSize), clusters = bytes / clusterSize;
        var oldRuns = w.Allocation?.Runs.Runs ?? [];
        var last = oldRuns.LastOrDefault(r => !r.IsSparse);
        var added = Clusters.Allocate(clusters, oldRuns.Count == 0 ? 0 : oldRuns[^1].NextVcn, last.Length > 0 ? last.Lcn + last.Length : -1);
        Clusters.Mark(added, used: true);
        var runs = Runlist.Coalesce(oldRuns.Concat(added));
        long dataSize = (w.Allocation?.DataSize ?? 0) + bytes, allocated = (w.Allocation?.AllocatedSize ?? 0) + clusters * clusterSize;
        int allocationAt = record.Find(AttributeType.IndexAllocation, "$I30");
        var attribute = AttributeRecord.NonResident(AttributeType.IndexAllocation, "$I30", allocationAt >= 0 ? record.HeaderAt(allocationAt).Id : (ushort)0, runs, allocated, dataSize, dataSize);
        bool fits = allocationAt >= 0 ? record.TryReplace(allocationAt, attribute) : record.TryInsert(attribute);
        if (!fits) throw new NotSupportedException($"{w.What}: no room in the directory's MFT record for a longer $INDEX_ALLOCATION");
        w.Allocation = new AttributeData
        {
            What = $"MFT record {record.RecordNumber} attribute 0xA0:$I30",
            Runs = Runlist.Combine([runs], record.VolumeOffset, w.What),
            DataSize = dataSize,
            InitializedSize = dataSize,
            AllocatedSize = allocated,
            VolumeOffset = record.VolumeOffset,
        };

        // $BITMAP: one bit per block, kept a multiple of 8 bytes long as Windows does.
        bitmapAt = record.Find(AttributeType.Bitmap, "$I30");
        var old = bitmapAt >= 0 ? record.ResidentValue(bitmapAt).ToArray() : [];
        var value = new byte[Math.Max(old.Length, AttributeRecord.Align8((int)((dataSize / w.BlockSize + 7) / 8)))];
        old.CopyTo(value, 0);
        value[blocks / 8] |= (byte)(1 << (int)(blocks % 8));
        var bitmap = AttributeRecord.Resident(AttributeType.Bitmap, "$I30", bitmapAt >= 0 ? record.HeaderAt(bitmapAt).Id : (ushort)0, value);
        fits = bitmapAt >= 0 ? record.TryReplace(bitmapAt, bitmap) : record.TryInsert(bitmap);
        if (!fits) throw new NotSupportedException($"{w.What}: no room in the directory's MFT record for its $I30 $BITMAP");
        return blocks * w.BlockSize >> w.VcnShift;
    }

    // ---- Entries -------------------------------------------------------------------------------------------

    private static List<byte[]> SplitEntries(ReadOnlySpan<byte> node, IndexNodeHeader header, long volumeOffset, string what)
    {
        var entries = new List<byte[]>();
        int pos = header.EntriesOffset, length = header.IndexLength;
        while (true)
        {
            if (pos + IndexEntry.HeaderSize > length)
                throw new NtfsException(volumeOffset + pos, $"{what}: index node ends without a last entry");
            int entryLength = IndexEntry.LengthOf(node[pos..]);
            if (entryLength < IndexEntry.HeaderSize || (entryLength & 7) != 0 || pos + entryLength > length)
                throw new NtfsException(volumeOffset + pos + IndexEntry.LengthField, $"{what}: index entry of length {entryLength} does not fit its node");
            var entry = node.Slice(pos, entryLength).ToArray();
            entries.Add(entry);
            if (IsLast(entry)) return entries;
            pos += entryLength;
        }
    }

    private static byte[] EndEntry(long? child) => IndexEntry.CreateEnd(child);
    private static bool HasChild(byte[] e) => IndexEntry.HasChild(e);
    private static bool IsLast(byte[] e) => IndexEntry.IsLastEntry(e);
    private static long ChildVcn(byte[] e) => IndexEntry.ChildVcnOf(e);
    private static byte[] WithChild(byte[] e, long vcn) => IndexEntry.WithChild(e, vcn);
    private static string KeyName(byte[] e) => FileName.NameOf(IndexEntry.KeyOf(e));

    /// <summary>Takes <paramref name="name"/>'s entry out of the index (<paramref name="write"/> false: only checks that it can).</summary>
    public void Remove(IndexWrite w, string name, bool write) => Remove(w, LoadRoot(w), name, 0, write);

    /// <summary>
    /// Finds the entry by the $I30 collation and takes it out of its leaf; refuses an entry in an inner node, and the last
    /// entry of a block unless the block is the root's only child (then the index becomes small again).
    /// </summary>
    private void Remove(IndexWrite w, IndexNodeImage node, string name, int depth, bool write, IndexNodeImage? parent = null)
    {
        if (depth > DirectoryIndex.MaxDepth) throw new NtfsException(w.Record.VolumeOffset, $"{w.What}: index deeper than {DirectoryIndex.MaxDepth} levels (a loop?)");
        for (int i = 0; i < node.Entries.Count; i++)
        {
            var e = node.Entries[i];
            int order = IsLast(e) ? -1 : upcase.Compare(name, KeyName(e));
            if (order > 0) continue;
            if (order == 0)
            {
                if (HasChild(e)) throw new NotSupportedException($"{w.What}: '{name}' sits in an inner node of the index; removing it needs the tree rebalanced, which is not supported");
                if (!node.IsRoot && node.Entries.Count == 2)
                {
                    // The last entry of a block: only when that block is the root's one child does the tree simply
                    // become a small index again (the root keeps its end entry, now without a child; the block's
                    // $I30 $BITMAP bit is cleared, $INDEX_ALLOCATION stays allocated for later growth).
                    if (parent is not { IsRoot: true, Entries.Count: 1 })
                        throw new NotSupportedException($"{w.What}: '{name}' is the only entry of its index block; removing it needs the tree rebalanced, which is not supported");
                    if (!write) return;
                    FreeBlock(w, node.Vcn);
                    if (!SaveRoot(w, [EndEntry(null)])) throw new InvalidOperationException("an empty root always fits");
                    return;
                }
                if (!write) return;
                node.Entries.RemoveAt(i);
                if (node.IsRoot) { if (!SaveRoot(w, node.Entries)) throw new InvalidOperationException("a smaller root always fits"); }
                else WriteBlock(w, node);
                return;
            }
            if (!HasChild(e)) break;
            Remove(w, LoadBlock(w, ChildVcn(e)), name, depth + 1, write, node);
            return;
        }
        throw new FileNotFoundException($"{w.What}: no entry '{name}'");
    }

    /// <summary>Clears an INDX block's bit in the directory's resident $I30 $BITMAP (the record is written by the caller).</summary>
    private static void FreeBlock(IndexWrite w, long vcn)
    {
        int at = w.Record.Find(AttributeType.Bitmap, "$I30");
        if (at < 0 || w.Record.HeaderAt(at).IsNonResident) throw new NotSupportedException($"{w.What}: no resident $I30 $BITMAP to free the block in");
        long block = (vcn << w.VcnShift) / w.BlockSize;
        var bits = w.Record.ResidentValue(at);
        if (block / 8 >= bits.Length) throw new NtfsException(w.Record.VolumeOffset + at, $"{w.What}: block {block} lies past its $BITMAP");
        bits[(int)(block / 8)] &= (byte)~(1 << (int)(block % 8));
    }
}
