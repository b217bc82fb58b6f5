using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Targeted writes for the offline fix-ups: replace a file's content, set and clear its attributes, create a
/// file in an existing directory. Nothing is journalled: each write is ordered so that a volume interrupted
/// between any two steps still reads — new clusters are written before $Bitmap claims them, $Bitmap before the
/// MFT record points at them, the record before clusters it let go are freed, and the directory index last.
/// See docs/ntfs.md, "Writes".
/// </summary>
public sealed partial class NtfsVolume
{
    private const int WriteChunk = 1 << 20;

    private bool _writeChecked;
    private ClusterAllocator? _allocator;
    private MftRecordAllocator? _records;

    private DirectoryIndexWriter IndexWriter => new(_io, _mft, _upcase, ClusterSize, _allocator);

    /// <summary>Write even though the volume is marked dirty or its $LogFile needs replaying (the log is then emptied and the volume marked dirty, so Windows checks it).</summary>
    public bool AllowUncleanVolume { get; set; }

    /// <summary>Why writing would be unsafe (a dirty flag, a $LogFile Windows would replay), or null when the volume is clean.</summary>
    public string? UncleanReason()
    {
        var reasons = new List<string>();
        if (Info.IsDirty) reasons.Add("is marked dirty (Windows runs chkdsk on it at the next boot)");
        if (ReadLogFileState() == LogFileState.Unclean) reasons.Add("has a $LogFile with active clients that Windows would replay at mount, over any offline change");
        return reasons.Count == 0 ? null : string.Join(" and ", reasons);
    }

    /// <summary>Reads the restart area of $LogFile (both copies; the newer counts).</summary>
    public LogFileState ReadLogFileState() => new LogFile(_io, _mft).State();

    private void EnsureWritable()
    {
        if (_writeChecked) return;
        if (!_disk.CanWrite) throw new IOException("NTFS: the volume was opened read-only");
        if (UncleanReason() is { } reason)
        {
            if (!AllowUncleanVolume)
                throw new IOException($"NTFS: the volume {reason}. Boot Windows on it once and shut it down cleanly, or force the write (its $LogFile is then emptied as ntfs-3g does, and it is marked dirty so that Windows checks it)");
            var log = new LogFile(_io, _mft);
            if (log.State() == LogFileState.Unclean)
            {
                log.Reset();
                SetVolumeFlags(VolumeFlags.Dirty);
                _disk.Flush();
            }
        }
        _allocator = new ClusterAllocator(_io, _bitmap, TotalClusters);
        _records = new MftRecordAllocator(_disk, _io, _mft, _allocator, BootSector);
        _writeChecked = true;
    }

    private void SetVolumeFlags(VolumeFlags flags)
    {
        var record = _mft.ReadForEdit(SystemFiles.Volume);
        int at = record.Find(AttributeType.VolumeInformation);
        if (at < 0) throw new NtfsException(record.VolumeOffset, "$Volume: no $VOLUME_INFORMATION");
        var value = record.ResidentValue(at);
        BinaryPrimitives.WriteUInt16LittleEndian(value[VolumeInformation.FlagsField..], (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(value[VolumeInformation.FlagsField..]) | (ushort)flags));
        _mft.Write(record);
    }

    // ---- Files -----------------------------------------------------------------------------------------

    /// <summary>
    /// Replaces the unnamed $DATA of an existing file with <paramref name="content"/>, growing or shrinking it:
    /// resident when it fits the MFT record, otherwise in newly allocated clusters (the old ones are freed only
    /// after the record points at the new ones). Times in $STANDARD_INFORMATION and the sizes and times of the
    /// file's entries in its directory's $I30 index follow.
    /// <para>
    /// A sparse or NTFS-compressed file gets a plain copy: the new $DATA is neither, and the sparse and compressed
    /// bits leave $STANDARD_INFORMATION, its $FILE_NAMEs and their index copies (valid NTFS: Windows reads such a
    /// file as any other). A file whose attributes span several MFT records ($ATTRIBUTE_LIST) gets its new $DATA in
    /// the record that held its first fragment; the other fragments leave their records and the list, and an
    /// extension record left empty is freed. <see cref="CheckReplaceFile"/> says beforehand whether this can work.
    /// </para>
    /// </summary>
    public void ReplaceFile(string path, ReadOnlySpan<byte> content)
    {
        EnsureWritable();
        var file = ResolveForWrite(path, out var parent, directoryAllowed: false);
        var fragments = file.Find(AttributeType.Data);
        if (fragments.Any(f => f.Header.IsEncrypted))
            throw new NotSupportedException($"'{path}' is EFS-encrypted; its content cannot be replaced offline");
        bool hasList = file.BaseRecord.Attributes.Any(a => a.Type == AttributeType.AttributeList);
        var first = fragments.FirstOrDefault(f => !f.Header.IsNonResident || f.Header.LowestVcn == 0);
        if (fragments.Count > 0 && first is null)
            throw new NtfsException(fragments[0].VolumeOffset, $"'{path}': no $DATA record maps VCN 0");
        if (first is null && hasList)
            throw new NotSupportedException($"'{path}' has an $ATTRIBUTE_LIST and no $DATA; adding one to it is not supported");
        bool wasSparse = fragments.Any(f => f.Header.IsSparse), wasCompressed = fragments.Any(f => f.Header.IsCompressed);
        uint structural = (wasSparse ? (uint)FileAttributes.SparseFile : 0) | (wasCompressed ? (uint)FileAttributes.Compressed : 0);
        var oldRuns = fragments.Where(f => f.Header.IsNonResident).SelectMany(f => f.DecodeRuns(TotalClusters)).ToList();

        // Every record this write changes, read once: the base record, the one holding the first $DATA fragment,
        // those holding the other fragments and those holding $FILE_NAMEs whose flags change.
        var records = new Dictionary<long, FileRecordEditor>();
        FileRecordEditor Edit(long number) => records.TryGetValue(number, out var r) ? r : records[number] = _mft.ReadForEdit(number);
        var baseRecord = Edit(file.RecordNumber);
        var home = Edit(first?.RecordNumber ?? file.RecordNumber);
        var others = fragments.Where(f => f != first).ToList();
        foreach (var other in others)
        {
            var record = Edit(other.RecordNumber);
            int offset = record.FindInstance(AttributeType.Data, other.Header.Id);
            if (offset < 0) throw new NtfsException(other.VolumeOffset, $"'{path}': $DATA fragment {other.Header.Id} is no longer in MFT record {other.RecordNumber}");
            record.Remove(offset);
        }
        int at = first is null ? -1 : home.FindInstance(AttributeType.Data, first.Header.Id);

        var (attribute, runs, allocated) = BuildData(home, at, first?.Header.Id ?? 0, content, path);
        if (at >= 0) home.TryReplace(at, attribute);
        else home.TryInsert(attribute);

        long now = DateTime.UtcNow.ToFileTimeUtc();
        baseRecord.TouchStandardInformation(now, modified: true);
        if (structural != 0)
        {
            ClearStandardInformationBits(baseRecord, structural);
            foreach (var name in file.Find(AttributeType.FileName).Where(a => !a.Header.IsNonResident))
            {
                var record = Edit(name.RecordNumber);
                var value = record.ResidentValue(record.FindInstance(AttributeType.FileName, name.Header.Id));
                FileName.SetAttributes(value, FileName.GetAttributes(value) & ~structural);
            }
        }
        Action? writeList = null;
        if (others.Count > 0)
        {
            var gone = others.Select(o => (o.RecordNumber, o.Header.Id)).ToHashSet();
            writeList = RewriteAttributeList(baseRecord, e => e.Type == AttributeType.Data && e.Name.Length == 0 && gone.Contains((e.Record.RecordNumber, e.AttributeId)));
        }
        var emptied = records.Values.Where(r => r.RecordNumber != file.RecordNumber && !r.HasAttributes).ToList();
        foreach (var record in emptied) record.MarkFree();

        // New clusters, then the record holding the new $DATA, then the base record (list and times), then the
        // records that lost fragments; only then are old clusters and emptied records freed.
        WriteNewClusters(runs, content);
        _mft.Write(home);
        writeList?.Invoke();
        if (home != baseRecord) _mft.Write(baseRecord);
        foreach (var record in records.Values.Where(r => r != home && r != baseRecord)) _mft.Write(record);
        _disk.Flush();
        _allocator!.Mark(oldRuns, used: false);
        foreach (var record in emptied) _records!.SetBitmapBit(record.RecordNumber, false);
        _disk.Flush();

        long size = content.Length;
        IndexWriter.UpdateCopies(parent, file.RecordNumber, key =>
        {
            FileName.Touch(key, now, modified: true);
            FileName.SetSizes(key, allocated, size);
            if (structural != 0) FileName.SetAttributes(key, FileName.GetAttributes(key) & ~structural);
        });
        _disk.Flush();
    }

    /// <summary>
    /// Why <see cref="ReplaceFile"/> would refuse to give <paramref name="path"/> <paramref name="newLength"/> bytes,
    /// or null when it would not: no such file, a directory, EFS encryption, not enough free clusters, a read-only or
    /// unclean volume. For planners, which must find every refusal before anything is written. A new runlist too
    /// fragmented to fit the MFT record is found only by the write itself.
    /// </summary>
    public string? CheckReplaceFile(string path, long newLength)
    {
        if (!_disk.CanWrite) return "the volume was opened read-only";
        if (!AllowUncleanVolume && UncleanReason() is { } unclean) return $"the volume {unclean}";
        NtfsFile file;
        try
        {
            file = ResolveForWrite(path, out _, directoryAllowed: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return e.Message;
        }
        var fragments = file.Find(AttributeType.Data);
        if (fragments.Any(f => f.Header.IsEncrypted)) return $"'{path}' is EFS-encrypted";
        if (fragments.Count == 0 && file.BaseRecord.Attributes.Any(a => a.Type == AttributeType.AttributeList))
            return $"'{path}' has an $ATTRIBUTE_LIST and no $DATA";
        long needed = (newLength + ClusterSize - 1) / ClusterSize, free = TotalClusters - BitmapUsedClusters;
        if (newLength > BootSector.FileRecordSize / 2 && needed > free)
            return $"'{path}' needs {needed} free clusters for its new {newLength} bytes, the volume has {free}";
        return null;
    }

    private static void ClearStandardInformationBits(FileRecordEditor record, uint bits)
    {
        int at = record.Find(AttributeType.StandardInformation);
        if (at < 0) return;
        var si = record.ResidentValue(at);
        if (si.Length >= StandardInformation.MinSize) StandardInformation.SetAttributes(si, StandardInformation.GetAttributes(si) & ~bits);
    }

    /// <summary>
    /// Drops entries from the base record's $ATTRIBUTE_LIST. A resident list is rewritten in the record; a
    /// non-resident one keeps its clusters and shrinks in place: its sizes change in the record, and the returned
    /// action writes its new bytes, to be run just before the base record is written.
    /// </summary>
    private Action? RewriteAttributeList(FileRecordEditor baseRecord, Func<AttributeListEntry, bool> drop)
    {
        int at = baseRecord.Find(AttributeType.AttributeList);
        var header = baseRecord.HeaderAt(at);
        string what = $"MFT record {baseRecord.RecordNumber} $ATTRIBUTE_LIST";
        if (!header.IsNonResident)
        {
            var value = AttributeList.Without(baseRecord.ResidentValue(at), drop, baseRecord.VolumeOffset + at, what);
            baseRecord.TryReplace(at, AttributeRecord.Resident(AttributeType.AttributeList, "", header.Id, value));
            return null;
        }
        var fragment = AttributeRecord.Parse(baseRecord.Bytes.AsSpan(at, header.RecordLength), baseRecord.RecordNumber, baseRecord.VolumeOffset + at);
        var data = AttributeData.FromFragments([fragment], TotalClusters, what);
        if (data.DataSize > MasterFileTable.MaxAttributeListSize) throw new NtfsException(fragment.VolumeOffset, $"{what}: {data.DataSize} bytes");
        var bytes = new byte[data.DataSize];
        _io.Read(data, 0, bytes);
        var kept = AttributeList.Without(bytes, drop, fragment.VolumeOffset, what);
        AttributeHeader.SetSizes(baseRecord.Bytes.AsSpan(at), kept.Length, kept.Length);
        // The old tail stays in the clusters past the new size, where nothing reads it.
        return () => _io.Write(data, 0, kept);
    }

    /// <summary>The Windows attributes in a file's $STANDARD_INFORMATION (FILE_ATTRIBUTE_* bits).</summary>
    public FileAttributes GetFileAttributes(string path)
    {
        var file = Resolve(path) ?? throw new FileNotFoundException($"'{path}' not found on the NTFS volume", path);
        var si = file.FindResident(AttributeType.StandardInformation)
            ?? throw new NtfsException(file.BaseRecord.VolumeOffset, $"'{path}': MFT record {file.RecordNumber} has no resident $STANDARD_INFORMATION");
        return (FileAttributes)StandardInformation.Parse(si.ResidentValue, si.VolumeOffset, $"MFT record {file.RecordNumber}").FileAttributes;
    }

    /// <summary>
    /// Sets and clears Windows attribute bits (read-only, hidden, system, archive …) in $STANDARD_INFORMATION and
    /// in the copies held by the directory's $I30 entries; returns the attributes as they were.
    /// </summary>
    public FileAttributes SetFileAttributes(string path, FileAttributes set, FileAttributes clear)
    {
        EnsureWritable();
        const uint changeable = 0xFFFF & ~(uint)(FileAttributes.Directory | FileAttributes.Device | FileAttributes.ReparsePoint | FileAttributes.SparseFile | FileAttributes.Compressed | FileAttributes.Encrypted);
        if ((((uint)set | (uint)clear) & ~changeable) != 0)
            throw new ArgumentException($"attributes {set | clear} include bits that describe the file's structure; only flags such as ReadOnly, Hidden, System and Archive can be changed");
        var file = ResolveForWrite(path, out var parent, directoryAllowed: true);
        var record = _mft.ReadForEdit(file.RecordNumber);
        int at = record.Find(AttributeType.StandardInformation);
        if (at < 0) throw new NtfsException(record.VolumeOffset, $"'{path}': MFT record {file.RecordNumber} has no $STANDARD_INFORMATION");
        var si = record.ResidentValue(at);
        if (si.Length < StandardInformation.MinSize) throw new NtfsException(record.VolumeOffset + at, $"'{path}': $STANDARD_INFORMATION of {si.Length} bytes");
        uint before = StandardInformation.GetAttributes(si);
        StandardInformation.SetAttributes(si, (before | (uint)set) & ~(uint)clear);
        long now = DateTime.UtcNow.ToFileTimeUtc();
        record.TouchStandardInformation(now, modified: false);
        _mft.Write(record);
        _disk.Flush();
        IndexWriter.UpdateCopies(parent, file.RecordNumber, key =>
        {
            FileName.SetAttributes(key, (FileName.GetAttributes(key) | (uint)set) & ~(uint)clear);
            FileName.Touch(key, now, modified: false);
        });
        _disk.Flush();
        return (FileAttributes)before;
    }

    /// <summary>
    /// Creates a file in an existing directory: a new MFT record (from $MFT's $BITMAP, growing $MFT when no
    /// record is free) with $STANDARD_INFORMATION (the directory's security id), $FILE_NAME and $DATA, then its
    /// entry in the directory's $I30 index (splitting nodes and moving the root into an INDX block as needed).
    /// </summary>
    public void CreateFile(string path, ReadOnlySpan<byte> content, FileAttributes attributes = FileAttributes.Archive)
    {
        var (parent, name) = ResolveNewEntry(path);

        long now = DateTime.UtcNow.ToFileTimeUtc();
        var (number, sequence, usn, grows) = _records!.Allocate();
        int size = BootSector.FileRecordSize;
        var record = FileRecordEditor.CreateEmpty(size, number, -1, sequence, usn, FileRecordFlags.InUse);

        var parentSi = parent.FindResident(AttributeType.StandardInformation);
        record.TryInsert(AttributeRecord.Resident(AttributeType.StandardInformation, "", 0, StandardInformation.Create(now, (uint)attributes, parentSi is null ? default : parentSi.ResidentValue)));
        var ns = NamespaceFor(name);
        int fileNameLength = AttributeRecord.Align8(AttributeRecord.Align8(AttributeHeader.ResidentHeaderSize) + FileName.HeaderSize + 2 * name.Length);
        var (data, runs, allocated) = BuildData(record, -1, 0, content, path, reserve: fileNameLength);
        var fileName = FileName.Create(parent.Reference, now, allocated, content.Length, (uint)attributes, ns, name);
        if (!record.TryInsert(AttributeRecord.Resident(AttributeType.FileName, "", 0, fileName, AttributeHeader.ResidentIndexed)) || !record.TryInsert(data))
            throw new NotSupportedException($"'{path}': the new MFT record has no room for its attributes");

        WriteNewClusters(runs, content);
        CommitNewRecord(record, number, sequence, grows, parent, fileName, name, now);
    }

    /// <summary>Checks that a new file or directory can be made at <paramref name="path"/>: its parent and name, before anything is written.</summary>
    private (NtfsFile Parent, string Name) ResolveNewEntry(string path)
    {
        EnsureWritable();
        var (parent, name) = ResolveParent(path);
        CheckName(name, path);
        if (OpenIndex(parent).Find(name) is not null) throw new IOException($"'{path}' already exists");
        if (parent.Attributes.Any(a => a.Type == AttributeType.AttributeList))
            throw new NotSupportedException($"'{path}': the directory has an $ATTRIBUTE_LIST; adding to it is not supported");
        return (parent, name);
    }

    /// <summary>
    /// Writes a new record (its data clusters already written), marks it in use in $MFT's $BITMAP, then indexes it in
    /// its parent: in that order, flushed between, so a cut leaves at worst an unreferenced record, never an entry
    /// that points at nothing.
    /// </summary>
    private void CommitNewRecord(FileRecordEditor record, long number, ushort sequence, bool grows, NtfsFile parent, byte[] fileName, string name, long now)
    {
        _mft.Write(record, allowUninitialized: grows);
        _disk.Flush();
        if (grows) _records!.GrowInitialized(number);
        _records!.SetBitmapBit(number, true);
        _disk.Flush();
        IndexWriter.Add(parent, IndexEntry.Create(FileReference.Of(number, sequence), fileName), name, now);
        _disk.Flush();
    }

    // ---- Helpers for file writes -------------------------------------------------------------------------

    private NtfsFile ResolveForWrite(string path, out NtfsFile parent, bool directoryAllowed)
    {
        (parent, var name) = ResolveParent(path);
        var found = OpenIndex(parent).Find(name) ?? throw new FileNotFoundException($"'{path}' not found on the NTFS volume", path);
        var file = _mft.Open(found, $"'{path}'");
        if (file.IsDirectory && !directoryAllowed) throw new IOException($"'{path}' is a directory, not a file");
        return file;
    }

    private (NtfsFile Parent, string Name) ResolveParent(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var parts = path.Split(['\\', '/'], StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new ArgumentException("a file path is needed, not the root directory", nameof(path));
        string parentPath = string.Join('\\', parts[..^1]);
        var parent = Resolve(parentPath) ?? throw new DirectoryNotFoundException($"'{parentPath}' not found on the NTFS volume");
        if (!parent.IsDirectory) throw new DirectoryNotFoundException($"'{parentPath}' is a file, not a directory");
        return (parent, parts[^1]);
    }

    private static void CheckName(string name, string path)
    {
        if (name.Length > 255 || name.Contains('\0') || name is "." or "..")
            throw new ArgumentException($"'{path}': '{name}' is not a valid NTFS name (1–255 UTF-16 units, no NUL, not . or ..)", nameof(path));
    }

    /// <summary>
    /// Win32 &amp; DOS when the name is its own 8.3 form (as Windows files it), POSIX otherwise — as ntfs-3g names
    /// files. A Win32-only name is what Windows writes next to a separate DOS alias; without that alias ntfs-3g
    /// cannot unlink the file (its ntfs_delete looks for the DOS name of every Win32 one), and we make no aliases.
    /// </summary>
    internal static FileNameNamespace NamespaceFor(string name)
    {
        int dot = name.IndexOf('.');
        string stem = dot < 0 ? name : name[..dot], extension = dot < 0 ? "" : name[(dot + 1)..];
        bool dos = stem.Length is >= 1 and <= 8 && extension.Length <= 3 && (dot < 0 || extension.Length > 0) && !extension.Contains('.')
            && (stem + extension).All(c => c is >= 'A' and <= 'Z' or >= '0' and <= '9' || "!#$%&'()-@^_`{}~".Contains(c));
        return dos ? FileNameNamespace.Win32AndDos : FileNameNamespace.Posix;
    }

    /// <summary>
    /// The new $DATA record: resident when it fits the MFT record (with <paramref name="reserve"/> bytes kept for
    /// attributes still to come), otherwise non-resident in freshly allocated clusters. Allocated size follows
    /// ntfs-3g: the value rounded to 8 bytes when resident, whole clusters otherwise.
    /// </summary>
    private (byte[] Attribute, List<DataRun> Runs, long Allocated) BuildData(FileRecordEditor record, int at, ushort id, ReadOnlySpan<byte> content, string path, int reserve = 0)
    {
        int oldLength = at >= 0 ? record.HeaderAt(at).RecordLength : 0;
        int room = record.FreeBytes + oldLength - reserve;
        if (AttributeRecord.Align8(AttributeHeader.ResidentHeaderSize) + (long)content.Length <= room)
        {
            var resident = AttributeRecord.Resident(AttributeType.Data, "", id, content);
            if (resident.Length <= room) return (resident, [], AttributeRecord.Align8(content.Length));
        }
        long clusters = (content.Length + (long)ClusterSize - 1) / ClusterSize;
        var runs = _allocator!.Allocate(clusters, 0);
        var attribute = AttributeRecord.NonResident(AttributeType.Data, "", id, runs, clusters * ClusterSize, content.Length, content.Length);
        if (attribute.Length > room)
        {
            _allocator.Release(runs);
            throw new NotSupportedException($"'{path}': its new runlist ({runs.Count} runs) does not fit MFT record {record.RecordNumber}; free space is too fragmented");
        }
        return (attribute, runs, clusters * ClusterSize);
    }

    /// <summary>Writes the content into its new clusters (the last one zero-padded), then claims them in $Bitmap.</summary>
    private void WriteNewClusters(List<DataRun> runs, ReadOnlySpan<byte> content)
    {
        if (runs.Count == 0) return;
        var buffer = new byte[WriteChunk];
        foreach (var run in runs)
        {
            long start = run.Vcn * ClusterSize, end = run.NextVcn * ClusterSize;
            for (long pos = start; pos < end; pos += WriteChunk)
            {
                int n = (int)Math.Min(WriteChunk, end - pos);
                var piece = buffer.AsSpan(0, n);
                piece.Clear();
                if (pos < content.Length) content.Slice((int)pos, (int)Math.Min(n, content.Length - pos)).CopyTo(piece);
                _disk.WriteAt(run.Lcn * ClusterSize + (pos - start), piece);
            }
        }
        _disk.Flush();
        _allocator!.Mark(runs, used: true);
        _disk.Flush();
    }
}
