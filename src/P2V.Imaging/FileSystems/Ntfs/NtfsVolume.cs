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
    private const int BitmapChunkSize = 1 << 20;

    public const long DefaultReadFileCap = 256L << 20;

    private readonly IVirtualDisk _disk;
    private readonly AttributeReader _io;
    private readonly MasterFileTable _mft;
    private readonly AttributeData _bitmap;
    private readonly UpcaseTable _upcase;
    private readonly Lazy<NtfsVolumeInfo> _info;
    private long _bitmapUsedClusters = -1;

    private NtfsVolume(IVirtualDisk disk, NtfsBootSector bootSector)
    {
        _disk = disk;
        _io = new AttributeReader(disk, bootSector.ClusterSize);
        BootSector = bootSector;
        ClusterSize = bootSector.ClusterSize;
        TotalClusters = bootSector.TotalClusters;
        _mft = new MasterFileTable(disk, bootSector, _io);

        var bitmapFile = _mft.Open(FileReference.Of(SystemFiles.Bitmap), "$Bitmap");
        _bitmap = _mft.OpenAttribute(bitmapFile, AttributeType.Data, "")
            ?? throw new NtfsException(bitmapFile.BaseRecord.VolumeOffset, "$Bitmap: no unnamed $DATA attribute");
        long needed = (TotalClusters + 7) / 8;
        if (_bitmap.DataSize < needed)
            throw new NtfsException(_bitmap.VolumeOffset, $"$Bitmap: {_bitmap.DataSize} bytes cannot hold a bit for each of the {TotalClusters} clusters");

        var upcaseFile = _mft.Open(FileReference.Of(SystemFiles.UpCase), "$UpCase");
        var upcase = _mft.OpenAttribute(upcaseFile, AttributeType.Data, "")
            ?? throw new NtfsException(upcaseFile.BaseRecord.VolumeOffset, "$UpCase: no unnamed $DATA attribute");
        if (upcase.DataSize != UpcaseTable.Size)
            throw new NtfsException(upcase.VolumeOffset, $"$UpCase: {upcase.DataSize} bytes, expected {UpcaseTable.Size}");
        var table = new byte[UpcaseTable.Size];
        _io.Read(upcase, 0, table);
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
            throw new NtfsException(0, $"boot sector: the volume is only {volume.Length} bytes");
        var sector = new byte[NtfsBootSector.Size];
        volume.ReadAt(0, sector);
        var bootSector = NtfsBootSector.Parse(sector);
        if (bootSector.TotalSectors * bootSector.BytesPerSector > volume.Length)
            throw new NtfsException(NtfsBootSector.TotalSectorsField, $"boot sector: the file system's {bootSector.TotalSectors} sectors of {bootSector.BytesPerSector} bytes do not fit the {volume.Length}-byte volume");
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
        var (_, mftBitmap) = _mft.ReadBitmap();
        var usage = MftClusterUsage.Scan(_io, BootSector, _mft.Data, mftBitmap);
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
                        _io.Read(_bitmap, chunkStart, buffer.AsSpan(0, n));
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
            throw new NtfsException(_io.VolumeOffsetOf(_bitmap, firstCluster / 8),
                $"$Bitmap marks {missing} cluster(s) free that the MFT says are in use (the first: cluster {firstCluster}, mapped by MFT record {f.Record} attribute 0x{(uint)f.Type:X}); the bitmap is damaged, and a capture by it would lose data");
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
                _io.Read(_bitmap, offset, chunk[..n]);
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
        var data = _mft.OpenAttribute(file, AttributeType.Data, "");
        if (data is null) return new MemoryStream([], writable: false);
        if (data.IsEncrypted) throw new NotSupportedException($"'{path}' is EFS-encrypted and cannot be read offline");
        return new NtfsFileStream(_io, data);
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
        var entries = OpenIndex(dir).Entries();
        var result = new List<NtfsDirectoryEntry>(entries.Count);
        foreach (var entry in entries)
        {
            var key = entry.Key!;
            if (key.Namespace == FileNameNamespace.Dos || key.Name == ".") continue;
            var file = _mft.Open(entry.File, $"'{path}\\{key.Name}'");
            long size = file.IsDirectory ? 0 : _mft.OpenAttribute(file, AttributeType.Data, "")?.DataSize ?? 0;
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

    private DirectoryIndex OpenIndex(NtfsFile dir) => DirectoryIndex.Open(_mft, _io, _upcase, ClusterSize, dir);

    private NtfsFile? Resolve(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var current = _mft.Open(FileReference.Of(SystemFiles.Root), "root directory");
        foreach (var name in path.Split(['\\', '/'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (!current.IsDirectory) return null;
            var found = OpenIndex(current).Find(name);
            if (found is null) return null;
            current = _mft.Open(found.Value, $"'{path}'");
        }
        return current;
    }

    // ---- $Volume -------------------------------------------------------------------------------------

    private NtfsVolumeInfo ReadInfo()
    {
        var volume = _mft.Open(FileReference.Of(SystemFiles.Volume), "$Volume");
        var information = volume.FindResident(AttributeType.VolumeInformation)
            ?? throw new NtfsException(volume.BaseRecord.VolumeOffset, "$Volume: no resident $VOLUME_INFORMATION");
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
