using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Creating a directory and deleting what the fix-ups created (a file, or an empty directory), in the write order of
/// docs/ntfs.md "Writes": a new directory's record is written before its parent's index points at it; a deleted
/// file's index entry goes first, then its record is freed (in-use flag cleared, sequence number bumped, its
/// $MFT $BITMAP bit cleared), then its clusters — an interruption leaves at worst a record or clusters marked in
/// use that nothing uses, which chkdsk reclaims.
/// </summary>
public sealed partial class NtfsVolume
{
    /// <summary>$FILE_NAME flag of a directory's names: FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT (ntfs-3g layout.h).</summary>
    private const uint FileNameIndexPresent = 0x10000000;

    /// <summary>
    /// Creates an empty directory in an existing one: a record flagged in use and directory, holding
    /// $STANDARD_INFORMATION, $FILE_NAME and a $INDEX_ROOT "$I30" (indexed type $FILE_NAME, collation
    /// COLLATION_FILE_NAME, the volume's index record size; a small index of just the end entry) — NTFS Documentation,
    /// "Attributes: $INDEX_ROOT", as ntfs-3g's ntfs_create lays it out.
    /// </summary>
    public void CreateDirectory(string path)
    {
        var (parent, name) = ResolveNewEntry(path);

        long now = DateTime.UtcNow.ToFileTimeUtc();
        var (number, sequence, usn, grows) = _records!.Allocate();
        var record = FileRecordEditor.CreateEmpty(BootSector.FileRecordSize, number, -1, sequence, usn, FileRecordFlags.InUse | FileRecordFlags.IsDirectory);
        var parentSi = parent.FindResident(AttributeType.StandardInformation);
        record.TryInsert(AttributeRecord.Resident(AttributeType.StandardInformation, "", 0, StandardInformation.Create(now, 0, parentSi is null ? default : parentSi.ResidentValue)));
        var fileName = FileName.Create(parent.Reference, now, 0, 0, FileNameIndexPresent, NamespaceFor(name), name);
        var header = new byte[IndexRoot.HeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(IndexRoot.IndexedTypeField), (uint)AttributeType.FileName);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(IndexRoot.CollationRuleField), IndexRoot.CollationFileName);
        int blockSize = BootSector.IndexRecordSize;
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(IndexRoot.IndexRecordSizeField), (uint)blockSize);
        // Clusters per index block, or 512-byte blocks when an index block is smaller than a cluster.
        header[IndexRoot.ClustersPerIndexRecordField] = (byte)(blockSize >= ClusterSize ? blockSize / ClusterSize : blockSize / 512);
        var root = IndexRoot.Write(header, [IndexEntry.CreateEnd(null)]);
        if (!record.TryInsert(AttributeRecord.Resident(AttributeType.FileName, "", 0, fileName, AttributeHeader.ResidentIndexed))
            || !record.TryInsert(AttributeRecord.Resident(AttributeType.IndexRoot, "$I30", 0, root)))
            throw new NotSupportedException($"'{path}': the new MFT record has no room for its attributes");

        CommitNewRecord(record, number, sequence, grows, parent, fileName, name, now);
    }

    /// <summary>
    /// Why <see cref="Delete"/> would refuse <paramref name="path"/>, or null: no such file, a directory that is not
    /// empty, several names or an $ATTRIBUTE_LIST (not what the fix-ups create), or an index entry that is not in a
    /// leaf of its directory's B+ tree, or is the last of a block below the root's first level (those need the tree
    /// rebalanced, which is not supported).
    /// </summary>
    public string? CheckDelete(string path)
    {
        if (!_disk.CanWrite) return "the volume was opened read-only";
        try
        {
            FindForDelete(path, out _, out _);
            return null;
        }
        catch (Exception e) when (e is IOException or NotSupportedException or NtfsException)
        {
            return e.Message;
        }
    }

    /// <summary>Deletes a file, or an empty directory, that has one name and no $ATTRIBUTE_LIST (what the fix-ups create).</summary>
    public void Delete(string path)
    {
        EnsureWritable();
        var file = FindForDelete(path, out var parent, out var name);
        long now = DateTime.UtcNow.ToFileTimeUtc();
        var runs = file.Attributes.Where(a => a.Header.IsNonResident).SelectMany(a => a.DecodeRuns(TotalClusters)).Where(r => !r.IsSparse).ToList();

        var writer = IndexWriter;
        var w = writer.Open(parent, inserting: false);
        writer.Remove(w, name, write: true);
        w.Record.TouchStandardInformation(now, modified: true);
        _mft.Write(w.Record);
        _disk.Flush();

        var record = _mft.ReadForEdit(file.RecordNumber);
        record.MarkFree();
        _mft.Write(record);
        _records!.SetBitmapBit(file.RecordNumber, false);
        _disk.Flush();
        _allocator!.Mark(runs, used: false);
        _disk.Flush();
    }

    private NtfsFile FindForDelete(string path, out NtfsFile parent, out string name)
    {
        var file = ResolveForWrite(path, out parent, directoryAllowed: true);
        name = path.Split(['\\', '/'], StringSplitOptions.RemoveEmptyEntries)[^1];
        if (file.Attributes.Any(a => a.Type == AttributeType.AttributeList)) throw new NotSupportedException($"'{path}' has an $ATTRIBUTE_LIST; deleting it is not supported");
        if (file.Find(AttributeType.FileName).Count != 1) throw new NotSupportedException($"'{path}' has {file.Find(AttributeType.FileName).Count} names (a DOS alias or hard links); deleting it is not supported");
        if (file.IsDirectory)
        {
            var index = OpenIndex(file);
            if (index.Root.Node.HasChildren || index.Root.Entries.Any(e => e.Key is not null)) throw new IOException($"'{path}' is a directory that is not empty");
        }
        if (parent.Attributes.Any(a => a.Type == AttributeType.AttributeList)) throw new NotSupportedException($"'{path}': its directory has an $ATTRIBUTE_LIST");
        var writer = IndexWriter;
        writer.Remove(writer.Open(parent, inserting: false), name, write: false);
        return file;
    }
}
