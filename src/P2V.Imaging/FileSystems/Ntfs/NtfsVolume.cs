using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A read-only NTFS volume: which clusters are in use (for capture), and files by path (for the offline
/// fix-ups: boot.ini, registry hives, hal.dll). Reads go straight to the volume; only one MFT record or
/// index record is held at a time, plus the $UpCase table.
/// </summary>
public sealed partial class NtfsVolume
{
    // Fixed MFT record numbers of the system files (NTFS Documentation, "Files").
    private const long MftRecordNumber = 0, VolumeRecordNumber = 3, RootRecordNumber = 5, BitmapRecordNumber = 6, UpcaseRecordNumber = 10;

    /// <summary>Windows caps an $ATTRIBUTE_LIST at 256 KiB; anything far beyond that is corruption.</summary>
    private const long MaxAttributeListSize = 1 << 20;

    /// <summary>A B+ tree of this depth would index more names than any volume holds; deeper means a loop.</summary>
    private const int MaxIndexDepth = 32;

    private const int BitmapChunkSize = 1 << 20;

    /// <summary>Windows compresses in 16-cluster units on clusters up to 4 KiB; allow some slack, not unbounded buffers.</summary>
    private const long MaxCompressionUnitBytes = 1 << 20;

    public const long DefaultReadFileCap = 256L << 20;

    private readonly IVirtualDisk _disk;
    private AttributeData _mft;     // not readonly: writes that extend $MFT reopen it
    private readonly AttributeData _bitmap;
    private readonly UpcaseTable _upcase;
    private readonly Lazy<NtfsVolumeInfo> _info;
    private long _bitmapUsedClusters = -1;

    private NtfsVolume(IVirtualDisk disk, NtfsBootSector bootSector)
    {
        _disk = disk;
        BootSector = bootSector;
        ClusterSize = bootSector.ClusterSize;
        TotalClusters = bootSector.TotalClusters;
        _mft = OpenMft();

        var bitmapFile = OpenRecord(FileReference.Of(BitmapRecordNumber), "$Bitmap");
        _bitmap = OpenAttribute(bitmapFile, AttributeType.Data, "")
            ?? throw new NtfsException("$Bitmap: no unnamed $DATA attribute", bitmapFile.BaseRecord.VolumeOffset);
        long needed = (TotalClusters + 7) / 8;
        if (_bitmap.DataSize < needed)
            throw new NtfsException($"$Bitmap: {_bitmap.DataSize} bytes cannot hold a bit for each of the {TotalClusters} clusters", _bitmap.VolumeOffset);

        var upcaseFile = OpenRecord(FileReference.Of(UpcaseRecordNumber), "$UpCase");
        var upcase = OpenAttribute(upcaseFile, AttributeType.Data, "")
            ?? throw new NtfsException("$UpCase: no unnamed $DATA attribute", upcaseFile.BaseRecord.VolumeOffset);
        if (upcase.DataSize != UpcaseTable.Size)
            throw new NtfsException($"$UpCase: {upcase.DataSize} bytes, expected {UpcaseTable.Size}", upcase.VolumeOffset);
        var table = new byte[UpcaseTable.Size];
        ReadAttribute(upcase, 0, table);
        _upcase = UpcaseTable.Parse(table, upcase.VolumeOffset);

        _info = new Lazy<NtfsVolumeInfo>(ReadInfo);
    }

    public NtfsBootSector BootSector { get; }

    public int ClusterSize { get; }

    /// <summary>Clusters in the file system, as many as $Bitmap has bits for.</summary>
    public long TotalClusters { get; }

    /// <summary>The number of bits set in $Bitmap (clusters in use), for the capture's declared-vs-read check.</summary>
    public long BitmapUsedClusters
    {
        get
        {
            if (_bitmapUsedClusters < 0) _bitmapUsedClusters = ScanBitmap(null);
            return _bitmapUsedClusters;
        }
    }

    public NtfsVolumeInfo Info => _info.Value;

    /// <summary>Whether the volume starts with an NTFS boot sector with a sane BPB that fits the volume.</summary>
    public static bool Probe(IVirtualDisk volume)
    {
        if (volume.Length < NtfsBootSector.Size) return false;
        Span<byte> sector = stackalloc byte[NtfsBootSector.Size];
        try
        {
            volume.ReadAt(0, sector);
        }
        catch (IOException)
        {
            return false;
        }
        return NtfsBootSector.TryParse(sector, out var bootSector, out _, out _)
            && bootSector!.TotalSectors * bootSector.BytesPerSector <= volume.Length;
    }

    /// <summary>Opens the NTFS file system on <paramref name="volume"/> (a partition's <see cref="DiskSlice"/>, or a file holding just the volume).</summary>
    public static NtfsVolume Open(IVirtualDisk volume)
    {
        if (volume.Length < NtfsBootSector.Size)
            throw new NtfsException($"boot sector: the volume is only {volume.Length} bytes", 0);
        var sector = new byte[NtfsBootSector.Size];
        volume.ReadAt(0, sector);
        var bootSector = NtfsBootSector.Parse(sector);
        if (bootSector.TotalSectors * bootSector.BytesPerSector > volume.Length)
            throw new NtfsException($"boot sector: the file system's {bootSector.TotalSectors} sectors of {bootSector.BytesPerSector} bytes do not fit the {volume.Length}-byte volume", NtfsBootSector.TotalSectorsField);
        return new NtfsVolume(volume, bootSector);
    }

    // ---- Used clusters -------------------------------------------------------------------------------

    /// <summary>
    /// The volume-relative byte ranges capture must copy: every cluster set in $Bitmap, the file system's own
    /// metadata whatever $Bitmap says ($Boot, $MFT, $MFTMirr, $LogFile, $Bitmap, $UpCase, the root index …), and
    /// what $Bitmap does not describe but the volume needs — the sectors past the last whole cluster, which hold
    /// the backup boot sector in the volume's last sector. $Bitmap is checked first against what the MFT says is
    /// in use (<see cref="CheckBitmap"/>): a damaged bitmap throws instead of giving a map that loses files.
    /// </summary>
    public UsedExtentMap GetUsedExtents()
    {
        var usage = CheckBitmap();
        var extents = new List<Extent>();
        _bitmapUsedClusters = ScanBitmap(extents);
        var metadata = usage.Metadata.Append(new Extent(0, Math.Min(ClusterSize, _disk.Length))).OrderBy(e => e.Offset).ToList();
        int sector = BootSector.BytesPerSector;
        long clustersEnd = TotalClusters * ClusterSize;
        long fileSystemEnd = Math.Min(_disk.Length, (BootSector.TotalSectors + 1) * sector);
        if (fileSystemEnd > clustersEnd) metadata.Add(new Extent(clustersEnd, fileSystemEnd - clustersEnd));
        long lastSector = _disk.Length / sector * sector - sector;
        if (lastSector >= 0) metadata.Add(new Extent(lastSector, _disk.Length - lastSector));
        return UsedExtentMap.FromSorted(MergeSorted(extents, metadata), _disk.Length);
    }

    private static List<Extent> MergeSorted(List<Extent> a, List<Extent> b)
    {
        var merged = new List<Extent>(a.Count + b.Count);
        int i = 0, j = 0;
        while (i < a.Count || j < b.Count)
            merged.Add(j >= b.Count || (i < a.Count && a[i].Offset <= b[j].Offset) ? a[i++] : b[j++]);
        return merged;
    }

    /// <summary>How many MFT records the last <see cref="CheckBitmap"/> parsed.</summary>
    public long MftRecordsChecked { get; private set; }

    /// <summary>
    /// Checks $Bitmap against the MFT: every cluster that an in-use record's non-resident attribute maps must be
    /// marked used. Throws <see cref="NtfsException"/> naming the first cluster marked free and the record that uses
    /// it; a record marked in use that cannot be parsed throws as well (its clusters are unknown).
    /// </summary>
    internal MftClusterUsage CheckBitmap()
    {
        var (_, mftBitmap) = ReadMftBitmap();
        var usage = MftClusterUsage.Scan(this, _mft, mftBitmap);
        MftRecordsChecked = usage.RecordsScanned;
        long missing = 0;
        MftClusterUsage.Use? first = null;
        long firstCluster = -1;
        var buffer = ArrayPool<byte>.Shared.Rent(BitmapChunkSize);
        long chunkStart = -1;
        try
        {
            foreach (var use in usage.Uses)
            {
                for (long c = use.Lcn, end = use.Lcn + use.Length; c < end;)
                {
                    long byteIndex = c / 8;
                    if (chunkStart < 0 || byteIndex < chunkStart || byteIndex >= chunkStart + BitmapChunkSize)
                    {
                        chunkStart = byteIndex / BitmapChunkSize * BitmapChunkSize;
                        int n = (int)Math.Min(BitmapChunkSize, _bitmap.DataSize - chunkStart);
                        ReadAttribute(_bitmap, chunkStart, buffer.AsSpan(0, n));
                    }
                    var chunk = buffer.AsSpan(0, (int)Math.Min(BitmapChunkSize, _bitmap.DataSize - chunkStart));
                    // Whole bytes of used clusters are the common case: skip them eight clusters at a time.
                    if ((c & 7) == 0 && end - c >= 8)
                    {
                        int inChunk = (int)(byteIndex - chunkStart), wholeBytes = (int)Math.Min((end - c) / 8, chunk.Length - inChunk);
                        int notFull = chunk.Slice(inChunk, wholeBytes).IndexOfAnyExcept((byte)0xFF);
                        if (notFull < 0) { c += 8L * wholeBytes; continue; }
                        c += 8L * notFull;
                        byteIndex = c / 8;
                    }
                    if ((chunk[(int)(byteIndex - chunkStart)] & (1 << (int)(c % 8))) == 0)
                    {
                        if (missing++ == 0) { first = use; firstCluster = c; }
                    }
                    c++;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (first is { } f)
            throw new NtfsException(
                $"$Bitmap marks {missing} cluster(s) free that the MFT says are in use (the first: cluster {firstCluster}, mapped by MFT record {f.Record} attribute 0x{(uint)f.Type:X}); the bitmap is damaged, and a capture by it would lose data",
                VolumeOffsetOf(_bitmap, firstCluster / 8));
        return usage;
    }

    /// <summary>
    /// Counts the set bits of $Bitmap and, given a list, adds each run of set bits to it as a byte range.
    /// Reads the bitmap in large pieces and walks it a 64-bit word at a time: whole words of zeros or ones
    /// cost one comparison, and a run boundary inside a word is found with a trailing-zero count.
    /// </summary>
    private long ScanBitmap(List<Extent>? runs)
    {
        long total = TotalClusters, bytes = (total + 7) / 8, used = 0, runStart = -1, cluster = ClusterSize;
        var buffer = ArrayPool<byte>.Shared.Rent(BitmapChunkSize);
        try
        {
            for (long offset = 0; offset < bytes; offset += BitmapChunkSize)
            {
                int n = (int)Math.Min(BitmapChunkSize, bytes - offset);
                int padded = (n + 7) & ~7;
                var chunk = buffer.AsSpan(0, padded);
                chunk[n..].Clear();
                ReadAttribute(_bitmap, offset, chunk[..n]);
                long chunkBit = offset * 8;
                for (int w = 0; w < padded; w += 8)
                {
                    ulong word = BinaryPrimitives.ReadUInt64LittleEndian(chunk[w..]);
                    long wordBit = chunkBit + (long)w * 8;
                    long valid = total - wordBit;
                    if (valid < 64) word = valid <= 0 ? 0 : word & ((1UL << (int)valid) - 1); // bits past the last cluster are not clusters
                    used += BitOperations.PopCount(word);
                    if (runs is null || (runStart < 0 ? word == 0 : word == ulong.MaxValue)) continue;
                    int pos = 0;
                    while (pos < 64)
                    {
                        if (runStart < 0)
                        {
                            ulong rest = word >> pos;
                            if (rest == 0) break;
                            pos += BitOperations.TrailingZeroCount(rest);
                            runStart = wordBit + pos;
                        }
                        else
                        {
                            ulong rest = ~word >> pos;
                            if (rest == 0) break;
                            pos += BitOperations.TrailingZeroCount(rest);
                            runs.Add(new Extent(runStart * cluster, (wordBit + pos - runStart) * cluster));
                            runStart = -1;
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (runStart >= 0) runs!.Add(new Extent(runStart * cluster, (total - runStart) * cluster));
        return used;
    }

    // ---- Files by path -------------------------------------------------------------------------------

    /// <summary>Whether <paramref name="path"/> names a file (not a directory). Either separator; case-insensitive by the volume's $UpCase.</summary>
    public bool FileExists(string path) => Resolve(path) is { IsDirectory: false };

    public bool DirectoryExists(string path) => Resolve(path) is { IsDirectory: true };

    /// <summary>A read-only seekable stream over the file's unnamed $DATA (LZNT1-compressed files are decompressed).</summary>
    /// <exception cref="FileNotFoundException">No such file, or it is a directory.</exception>
    /// <exception cref="NotSupportedException">The file is EFS-encrypted.</exception>
    public Stream OpenFile(string path)
    {
        var file = Resolve(path) ?? throw new FileNotFoundException($"'{path}' not found on the NTFS volume", path);
        if (file.IsDirectory) throw new FileNotFoundException($"'{path}' is a directory, not a file", path);
        var data = OpenAttribute(file, AttributeType.Data, "");
        if (data is null) return new MemoryStream([], writable: false);
        if (data.IsEncrypted) throw new NotSupportedException($"'{path}' is EFS-encrypted and cannot be read offline");
        return new NtfsFileStream(this, data);
    }

    /// <summary>The whole file, refusing files larger than <paramref name="maxBytes"/>.</summary>
    public byte[] ReadFile(string path, long maxBytes = DefaultReadFileCap)
    {
        using var stream = OpenFile(path);
        if (stream.Length > maxBytes) throw new IOException($"'{path}' is {stream.Length} bytes, more than the {maxBytes}-byte limit");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    /// <summary>The names in a directory in index order, without DOS 8.3 aliases and without the root's "." entry.</summary>
    /// <exception cref="DirectoryNotFoundException">No such directory.</exception>
    public IEnumerable<NtfsDirectoryEntry> ListDirectory(string path)
    {
        var dir = Resolve(path) ?? throw new DirectoryNotFoundException($"'{path}' not found on the NTFS volume");
        if (!dir.IsDirectory) throw new DirectoryNotFoundException($"'{path}' is a file, not a directory");
        var index = OpenIndex(dir);
        var entries = new List<IndexEntry>();
        WalkIndex(index, index.Root.Entries, 0, new HashSet<long>(), entries);
        var result = new List<NtfsDirectoryEntry>(entries.Count);
        foreach (var entry in entries)
        {
            var key = entry.Key!;
            if (key.Namespace == FileNameNamespace.Dos || key.Name == ".") continue;
            var file = OpenRecord(entry.File, $"'{path}\\{key.Name}'");
            long size = file.IsDirectory ? 0 : OpenAttribute(file, AttributeType.Data, "")?.DataSize ?? 0;
            result.Add(new NtfsDirectoryEntry(key.Name, file.IsDirectory, size, entry.File, Attributes(file)));
        }
        return result;
    }

    private FileAttributes Attributes(NtfsFile file)
    {
        var si = file.FindResident(AttributeType.StandardInformation);
        uint bits = si is null ? 0 : StandardInformation.Parse(si.ResidentValue, si.VolumeOffset, $"MFT record {file.RecordNumber}").FileAttributes;
        var attributes = (FileAttributes)(bits & 0xFFFF);
        if (file.IsDirectory) attributes |= FileAttributes.Directory;
        return attributes == 0 ? FileAttributes.Normal : attributes;
    }

    private NtfsFile? Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var current = OpenRecord(FileReference.Of(RootRecordNumber), "root directory");
        foreach (var name in path.Split(['\\', '/'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!current.IsDirectory) return null;
            var index = OpenIndex(current);
            var found = FindInIndex(index, index.Root.Entries, name, 0);
            if (found is null) return null;
            current = OpenRecord(found.Value, $"'{path}'");
        }
        return current;
    }

    // ---- $I30 directory indexes ----------------------------------------------------------------------

    private sealed record DirectoryIndex(NtfsFile Directory, IndexRoot Root, AttributeData? Allocation, int VcnShift, string What);

    private DirectoryIndex OpenIndex(NtfsFile dir)
    {
        string what = $"directory (MFT record {dir.RecordNumber}) $I30";
        var rootAttribute = dir.FindResident(AttributeType.IndexRoot, "$I30")
            ?? throw new NtfsException($"{what}: no resident $INDEX_ROOT", dir.BaseRecord.VolumeOffset);
        var root = IndexRoot.Parse(rootAttribute.ResidentValue, rootAttribute.VolumeOffset + rootAttribute.Header.ValueOffset, what);
        if (root.IndexedType != AttributeType.FileName)
            throw new NtfsException($"{what}: index of attribute 0x{(uint)root.IndexedType:X}, expected $FILE_NAME (0x30)", rootAttribute.VolumeOffset);
        AttributeData? allocation = null;
        if (root.Node.HasChildren)
        {
            allocation = OpenAttribute(dir, AttributeType.IndexAllocation, "$I30");
            if (allocation is null || allocation.Resident is not null)
                throw new NtfsException($"{what}: the root has children but there is no non-resident $INDEX_ALLOCATION", rootAttribute.VolumeOffset);
        }
        // VCNs of index records count clusters, or 512-byte blocks when a record is smaller than a cluster.
        int shift = root.IndexRecordSize >= ClusterSize ? BitOperations.Log2((uint)ClusterSize) : 9;
        return new DirectoryIndex(dir, root, allocation, shift, what);
    }

    private IndexRecord ReadIndexRecord(DirectoryIndex index, long vcn)
    {
        var allocation = index.Allocation ?? throw new NtfsException($"{index.What}: an entry points to child VCN {vcn} but there is no $INDEX_ALLOCATION", index.Directory.BaseRecord.VolumeOffset);
        int size = index.Root.IndexRecordSize;
        if (vcn < 0 || vcn > (allocation.DataSize - size) >> index.VcnShift)
            throw new NtfsException($"{index.What}: child VCN {vcn} lies outside the {allocation.DataSize}-byte $INDEX_ALLOCATION", allocation.VolumeOffset);
        long offset = vcn << index.VcnShift;
        var buffer = new byte[size];
        ReadAttribute(allocation, offset, buffer);
        return IndexRecord.Parse(buffer, vcn, VolumeOffsetOf(allocation, offset), index.What);
    }

    /// <summary>B+ tree descent by the $I30 collation (upcased names). DOS aliases are skipped, but their subtrees are still searched.</summary>
    private FileReference? FindInIndex(DirectoryIndex index, IReadOnlyList<IndexEntry> entries, string name, int depth)
    {
        if (depth > MaxIndexDepth) throw new NtfsException($"{index.What}: index deeper than {MaxIndexDepth} levels (a loop?)", index.Directory.BaseRecord.VolumeOffset);
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
            entry.ChildVcn is long vcn ? FindInIndex(index, ReadIndexRecord(index, vcn).Entries, name, depth + 1) : null;
    }

    /// <summary>In-order walk of the whole tree; each index record may be visited once.</summary>
    private void WalkIndex(DirectoryIndex index, IReadOnlyList<IndexEntry> entries, int depth, HashSet<long> visited, List<IndexEntry> output)
    {
        if (depth > MaxIndexDepth) throw new NtfsException($"{index.What}: index deeper than {MaxIndexDepth} levels (a loop?)", index.Directory.BaseRecord.VolumeOffset);
        foreach (var entry in entries)
        {
            if (entry.ChildVcn is long vcn)
            {
                if (!visited.Add(vcn)) throw new NtfsException($"{index.What}: index record at VCN {vcn} is referenced twice (a loop)", index.Directory.BaseRecord.VolumeOffset);
                WalkIndex(index, ReadIndexRecord(index, vcn).Entries, depth + 1, visited, output);
            }
            if (entry.Key is not null) output.Add(entry);
        }
    }

    // ---- MFT records and attributes ------------------------------------------------------------------

    /// <summary>
    /// $MFT describes itself: read record 0 where the boot sector says, take the runlist of its $DATA, and
    /// if $MFT is so fragmented that it has an attribute list, use that first runlist to reach the
    /// extension records holding the rest.
    /// </summary>
    private AttributeData OpenMft()
    {
        long offset = BootSector.MftLcn * ClusterSize;
        if (offset + BootSector.FileRecordSize > _disk.Length)
            throw new NtfsException("$MFT: record 0 lies past the end of the volume", NtfsBootSector.MftLcnField);
        var buffer = new byte[BootSector.FileRecordSize];
        _disk.ReadAt(offset, buffer);
        var record = FileRecord.Parse(buffer, MftRecordNumber, offset);
        var first = record.Attributes.FirstOrDefault(a => a.Type == AttributeType.Data && a.Name.Length == 0 && a.Header.IsNonResident && a.Header.LowestVcn == 0)
            ?? throw new NtfsException("$MFT: record 0 has no non-resident unnamed $DATA starting at VCN 0", offset);
        var mft = AttributeData.FromFragments([first], TotalClusters, "$MFT");
        if (mft.InitializedSize < (UpcaseRecordNumber + 1) * BootSector.FileRecordSize)
            throw new NtfsException($"$MFT: {mft.InitializedSize} bytes cannot hold the system files", first.VolumeOffset);
        if (record.Attributes.Any(a => a.Type == AttributeType.AttributeList))
        {
            // Reads extension records through the partial runlist; they live in the part it maps.
            _mftBootstrap = mft;
            var file = WithExtensions(record);
            mft = OpenAttribute(file, AttributeType.Data, "") ?? mft;
            _mftBootstrap = null;
        }
        return mft;
    }

    private AttributeData? _mftBootstrap;

    private FileRecord ReadRecord(long number)
    {
        var mft = _mftBootstrap ?? _mft;
        int size = BootSector.FileRecordSize;
        long count = mft.InitializedSize / size;
        if (number < 0 || number >= count)
            throw new NtfsException($"MFT record {number} lies beyond the {count} records of $MFT", mft.VolumeOffset);
        var buffer = new byte[size];
        ReadAttribute(mft, number * size, buffer);
        return FileRecord.Parse(buffer, number, VolumeOffsetOf(mft, number * size));
    }

    /// <summary>Reads a base record and gathers the file's attributes; <paramref name="what"/> names the file for errors.</summary>
    private NtfsFile OpenRecord(FileReference reference, string what)
    {
        var record = ReadRecord(reference.RecordNumber);
        if (!record.InUse)
            throw new NtfsException($"{what}: MFT record {record.RecordNumber} is not in use", record.VolumeOffset + 0x16);
        if (reference.SequenceNumber != 0 && reference.SequenceNumber != record.SequenceNumber)
            throw new NtfsException($"{what}: reference {reference} is stale, MFT record {record.RecordNumber} has sequence number {record.SequenceNumber}", record.VolumeOffset + 0x10);
        if (record.IsExtension)
            throw new NtfsException($"{what}: MFT record {record.RecordNumber} is an extension of record {record.BaseRecord.RecordNumber}, not a base record", record.VolumeOffset + 0x20);
        return WithExtensions(record);
    }

    /// <summary>The base record's attributes plus those in the extension records its $ATTRIBUTE_LIST names; each record is read once.</summary>
    private NtfsFile WithExtensions(FileRecord record)
    {
        var listAttribute = record.Attributes.FirstOrDefault(a => a.Type == AttributeType.AttributeList);
        if (listAttribute is null) return new NtfsFile(record, record.Attributes);

        string what = $"MFT record {record.RecordNumber} $ATTRIBUTE_LIST";
        var list = AttributeData.FromFragments([listAttribute], TotalClusters, what);
        if (list.DataSize > MaxAttributeListSize)
            throw new NtfsException($"{what}: {list.DataSize} bytes, more than the {MaxAttributeListSize} any volume needs", listAttribute.VolumeOffset);
        var bytes = new byte[list.DataSize];
        ReadAttribute(list, 0, bytes);

        var attributes = record.Attributes.Where(a => a.Type != AttributeType.AttributeList).ToList();
        var seen = new HashSet<long> { record.RecordNumber };
        foreach (var entry in AttributeList.Parse(bytes, listAttribute.VolumeOffset, what))
        {
            long number = entry.Record.RecordNumber;
            if (!seen.Add(number)) continue;
            var extension = ReadRecord(number);
            if (!extension.InUse || extension.BaseRecord.RecordNumber != record.RecordNumber)
                throw new NtfsException($"{what}: names MFT record {number}, which is {(extension.InUse ? $"based on record {extension.BaseRecord.RecordNumber}" : "not in use")}", extension.VolumeOffset);
            // An extension record's own attribute list (there should be none) is not followed: no loops.
            attributes.AddRange(extension.Attributes.Where(a => a.Type != AttributeType.AttributeList));
        }
        return new NtfsFile(record, attributes);
    }

    private AttributeData? OpenAttribute(NtfsFile file, AttributeType type, string name)
    {
        var fragments = file.Find(type, name);
        return fragments.Count == 0 ? null
            : AttributeData.FromFragments(fragments, TotalClusters, $"MFT record {file.RecordNumber} attribute 0x{(uint)type:X}{(name.Length > 0 ? ":" + name : "")}");
    }

    /// <summary>Reads attribute bytes [offset, offset + destination.Length), which must lie inside its data size.</summary>
    internal void ReadAttribute(AttributeData data, long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > data.DataSize - destination.Length)
            throw new NtfsException($"{data.What}: read of [{offset}, +{destination.Length}) past its {data.DataSize} bytes", data.VolumeOffset);
        if (data.Resident is { } resident)
        {
            resident.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return;
        }
        if (data.IsEncrypted)
            throw new NotSupportedException($"{data.What} is encrypted; its clusters cannot be read as they are");
        if (data.IsCompressed)
        {
            ReadCompressed(data, offset, destination);
            return;
        }

        long cluster = ClusterSize, validEnd = Math.Min(data.InitializedSize, data.DataSize);
        int done = 0;
        while (done < destination.Length)
        {
            long pos = offset + done;
            if (pos >= validEnd)
            {
                destination[done..].Clear(); // past the valid data length: zeros
                return;
            }
            long vcn = pos / cluster, inCluster = pos % cluster;
            var run = data.Runs.Find(vcn)
                ?? throw new NtfsException($"{data.What}: VCN {vcn} is not mapped by its runlist", data.VolumeOffset);
            long clustersLeft = run.NextVcn - vcn;
            long bytesLeft = clustersLeft > long.MaxValue / cluster ? long.MaxValue : clustersLeft * cluster - inCluster;
            int n = (int)Math.Min(Math.Min(destination.Length - done, bytesLeft), validEnd - pos);
            var piece = destination.Slice(done, n);
            if (run.IsSparse) piece.Clear();
            else _disk.ReadAt((run.Lcn + (vcn - run.Vcn)) * cluster + inCluster, piece);
            done += n;
        }
    }

    /// <summary>
    /// A compressed attribute is stored in compression units of 2^CompressionUnit clusters (16 on every NTFS so
    /// far). A unit whose clusters are all allocated is stored as is; one that is entirely sparse is zeros; one
    /// with fewer clusters allocated holds LZNT1 data, and its tail is a sparse run.
    /// (NTFS Documentation, "Concepts: Compression"; ntfs-3g compress.c ntfs_compressed_attr_pread.)
    /// </summary>
    private void ReadCompressed(AttributeData data, long offset, Span<byte> destination)
    {
        long unitBytes = (long)ClusterSize << Math.Min(data.CompressionUnit, 16);
        if (data.CompressionUnit == 0 || unitBytes > MaxCompressionUnitBytes)
            throw new NtfsException($"{data.What}: compressed with a compression unit of 2^{data.CompressionUnit} clusters ({unitBytes} bytes; NTFS uses 64 KiB)", data.VolumeOffset);
        long validEnd = Math.Min(data.InitializedSize, data.DataSize);
        int done = 0;
        while (done < destination.Length)
        {
            long pos = offset + done;
            if (pos >= validEnd)
            {
                destination[done..].Clear();
                return;
            }
            long unit = pos / unitBytes;
            if (data.CachedUnit != unit || data.CachedUnitData is null)
            {
                data.CachedUnitData = ReadCompressionUnit(data, unit, (int)unitBytes);
                data.CachedUnit = unit;
            }
            int inUnit = (int)(pos - unit * unitBytes);
            int n = (int)Math.Min(Math.Min(destination.Length - done, unitBytes - inUnit), validEnd - pos);
            data.CachedUnitData.AsSpan(inUnit, n).CopyTo(destination.Slice(done, n));
            done += n;
        }
    }

    private byte[] ReadCompressionUnit(AttributeData data, long unit, int unitBytes)
    {
        int clusters = 1 << data.CompressionUnit;
        long firstVcn = unit * clusters;
        var stored = new byte[unitBytes];
        int allocated = 0;
        for (long vcn = firstVcn; vcn < firstVcn + clusters;)
        {
            var run = data.Runs.Find(vcn);
            long count = Math.Min(run?.NextVcn ?? firstVcn + clusters, firstVcn + clusters) - vcn;
            if (run is { IsSparse: false } r)
            {
                if (allocated != vcn - firstVcn)
                    throw new NtfsException($"{data.What}: compression unit at VCN {firstVcn} has allocated clusters after a hole", data.VolumeOffset);
                _disk.ReadAt((r.Lcn + vcn - r.Vcn) * ClusterSize, stored.AsSpan(allocated * ClusterSize, (int)count * ClusterSize));
                allocated += (int)count;
            }
            else if (run is null)
            {
                // Past the runlist: the allocated size ends inside this unit; the rest reads as zeros.
                count = firstVcn + clusters - vcn;
            }
            vcn += count;
        }
        if (allocated == clusters || allocated == 0) return stored; // stored uncompressed, or all zeros
        var unitData = new byte[unitBytes];
        Lznt1.Decompress(stored.AsSpan(0, allocated * ClusterSize), unitData, VolumeOffsetOf(data, firstVcn * ClusterSize), data.What);
        return unitData;
    }

    /// <summary>Where byte <paramref name="offset"/> of an attribute lies on the volume (for error messages); -1 if sparse or unmapped.</summary>
    internal long VolumeOffsetOf(AttributeData data, long offset)
    {
        if (data.Resident is not null) return data.VolumeOffset;
        long vcn = offset / ClusterSize;
        return data.Runs.Find(vcn) is { IsSparse: false } run ? (run.Lcn + vcn - run.Vcn) * ClusterSize + offset % ClusterSize : -1;
    }

    // ---- $Volume -------------------------------------------------------------------------------------

    private NtfsVolumeInfo ReadInfo()
    {
        var volume = OpenRecord(FileReference.Of(VolumeRecordNumber), "$Volume");
        var information = volume.FindResident(AttributeType.VolumeInformation)
            ?? throw new NtfsException("$Volume: no resident $VOLUME_INFORMATION", volume.BaseRecord.VolumeOffset);
        var info = VolumeInformation.Parse(information.ResidentValue, information.VolumeOffset);
        var name = volume.FindResident(AttributeType.VolumeName);
        return new NtfsVolumeInfo(
            Label: name is null ? "" : VolumeName.Parse(name.ResidentValue),
            Version: new Version(info.MajorVersion, info.MinorVersion),
            SerialNumber: BootSector.SerialNumber,
            IsDirty: (info.Flags & VolumeFlags.Dirty) != 0,
            Flags: info.Flags,
            UsedBytes: BitmapUsedClusters * ClusterSize,
            TotalBytes: TotalClusters * ClusterSize,
            ClusterSize: ClusterSize);
    }
}
