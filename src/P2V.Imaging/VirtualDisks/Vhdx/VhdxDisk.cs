using System.Buffers;
using System.Buffers.Binary;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>
/// A VHDX file (MS-VHDX): a 1 MiB header section (file identifier, two headers, two region tables), a log,
/// a metadata region and a BAT, with payload blocks anywhere after them. Fixed disks have every block present
/// from the start; dynamic disks get blocks appended at the end of the file when first written, their unwritten
/// parts left as holes that read as zeros. The BAT is held in memory and written back on Flush and Dispose.
/// BAT updates are written in place, not through the log: a crash mid-restore leaves a disk to restore again.
/// </summary>
public sealed class VhdxDisk : IVirtualDisk
{
    public const int DefaultBlockSize = 32 << 20;
    private const long HeaderSectionSize = 1 << 20;
    private const long Mib = 1 << 20;

    private readonly HostFile _file;
    private readonly ulong[] _bat;
    private readonly long _batOffset;
    private readonly long _chunkRatio;
    private VhdxHeader _header;
    private long _headerOffset;
    private long _nextFree;
    private DirtyRange _dirty = new();
    private bool _writing;
    // Guards the header switch, the BAT and the file's end, so that writes may come from several threads.
    private readonly Lock _gate = new();

    private VhdxDisk(HostFile file, string creator, VhdxHeader header, long headerOffset, VhdxMetadata metadata, ulong[] bat, long batOffset, long nextFree)
    {
        _file = file;
        Creator = creator;
        _header = header;
        _headerOffset = headerOffset;
        Metadata = metadata;
        _bat = bat;
        _batOffset = batOffset;
        _nextFree = nextFree;
        _chunkRatio = ChunkRatio(metadata.LogicalSectorSize, metadata.BlockSize);
    }

    public string Path => _file.Path;
    public long Length => Metadata.VirtualDiskSize;
    public int SectorSize => Metadata.LogicalSectorSize;
    public bool CanWrite => _file.CanWrite;
    public VhdxMetadata Metadata { get; }
    public VhdxHeader Header => _header;
    public string Creator { get; }
    public long BlockSize => Metadata.BlockSize;
    public bool IsFixed => Metadata.LeaveBlocksAllocated;
    public long PayloadBlocks => (Length + BlockSize - 1) / BlockSize;
    public long AllocatedBlocks
    {
        get
        {
            long n = 0;
            for (long b = 0; b < PayloadBlocks; b++) if (Entry(b).HasData) n++;
            return n;
        }
    }

    /// <summary>MS-VHDX 2.5: how many payload blocks one sector bitmap block describes: 2^23 sectors' worth.</summary>
    public static long ChunkRatio(int logicalSectorSize, long blockSize) => (1L << 23) * logicalSectorSize / blockSize;

    /// <summary>MS-VHDX 2.5: BAT entries for a disk without a parent: payload entries plus one bitmap entry per full chunk.</summary>
    public static long BatEntries(long payloadBlocks, long chunkRatio) => payloadBlocks + (payloadBlocks - 1) / chunkRatio;

    private VhdxBatEntry Entry(long block) => VhdxBatEntry.Parse(Volatile.Read(ref _bat[block + block / _chunkRatio]));

    // ---- open ----

    public static VhdxDisk Open(string path, bool writable = false)
    {
        var file = HostFile.Open(path, writable);
        try
        {
            return OpenFile(file, writable);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static VhdxDisk OpenFile(HostFile file, bool writable)
    {
        string path = file.Path;
        long fileLength = file.Length;
        const long headerSectionEnd = VhdxRegionTable.SecondOffset + VhdxRegionTable.Size;
        if (fileLength < headerSectionEnd)
            throw new VirtualDiskException(path, 0, $"the {fileLength}-byte file is too small to hold the VHDX header section ({headerSectionEnd} bytes)");
        var buf = new byte[VhdxRegionTable.Size];
        file.ReadExactly(0, buf.AsSpan(0, VhdxFileIdentifier.UsedLength), "VHDX file identifier");
        var identifier = VhdxFileIdentifier.Parse(buf, path);

        // MS-VHDX 2.2.2.1: the current header is the valid one with the greater sequence number.
        VhdxHeader? current = null;
        long currentOffset = 0;
        var errors = new List<string>();
        foreach (var offset in new[] { VhdxHeader.FirstOffset, VhdxHeader.SecondOffset })
        {
            file.ReadExactly(offset, buf.AsSpan(0, VhdxHeader.Size), "VHDX header");
            try
            {
                var h = VhdxHeader.Parse(buf.AsSpan(0, VhdxHeader.Size), path, offset);
                if (current == null || h.SequenceNumber > current.SequenceNumber) (current, currentOffset) = (h, offset);
            }
            catch (VirtualDiskException e)
            {
                errors.Add(e.Message);
            }
        }
        if (current == null)
            throw new VirtualDiskException(path, VhdxHeader.FirstOffset, $"neither VHDX header is valid: {string.Join("; ", errors)}");
        if (current.LogGuid != Guid.Empty)
        {
            if (!writable)
                throw new VirtualDiskException(path, currentOffset + 48,
                    $"the VHDX log ({current.LogGuid}) holds updates that were never applied; open the disk writable to replay them " +
                    "(`p2v disk repair`, or `qemu-img check -r all`)");
            (current, currentOffset) = ReplayLog(file, current, currentOffset);
            fileLength = file.Length;
        }

        // MS-VHDX 2.2.3: the region table copy is there for when the first one is damaged.
        VhdxRegionTable? regions = null;
        errors.Clear();
        foreach (var offset in new[] { VhdxRegionTable.FirstOffset, VhdxRegionTable.SecondOffset })
        {
            file.ReadExactly(offset, buf, "VHDX region table");
            try
            {
                regions = VhdxRegionTable.Parse(buf, path, offset);
                break;
            }
            catch (VirtualDiskException e)
            {
                errors.Add(e.Message);
            }
        }
        if (regions == null)
            throw new VirtualDiskException(path, VhdxRegionTable.FirstOffset, $"neither VHDX region table is valid: {string.Join("; ", errors)}");
        foreach (var r in regions.Entries)
            if (r.Required && r.Guid != VhdxRegionTable.BatRegion && r.Guid != VhdxRegionTable.MetadataRegion)
                throw new VirtualDiskException(path, VhdxRegionTable.FirstOffset, $"VHDX region {r.Guid} is required but unknown to this reader");
        var batRegion = regions.Find(VhdxRegionTable.BatRegion)
            ?? throw new VirtualDiskException(path, VhdxRegionTable.FirstOffset, "the VHDX region table has no BAT region");
        var metaRegion = regions.Find(VhdxRegionTable.MetadataRegion)
            ?? throw new VirtualDiskException(path, VhdxRegionTable.FirstOffset, "the VHDX region table has no metadata region");

        if (metaRegion.FileOffset + VhdxMetadataTable.Size > fileLength)
            throw new VirtualDiskException(path, metaRegion.FileOffset, $"the VHDX metadata region lies past the end of the {fileLength}-byte file");
        file.ReadExactly(metaRegion.FileOffset, buf, "VHDX metadata table");
        var table = VhdxMetadataTable.Parse(buf, metaRegion.Length, path, metaRegion.FileOffset);
        long needed = VhdxMetadata.NeededLength(table);
        if (needed > 8 * Mib)
            throw new VirtualDiskException(path, metaRegion.FileOffset, $"VHDX metadata items spread over {needed} bytes; more than 8 MiB is not plausible");
        var region = new byte[Math.Max(needed, VhdxMetadataTable.Size)];
        if (metaRegion.FileOffset + region.Length > fileLength)
            throw new VirtualDiskException(path, metaRegion.FileOffset, $"the VHDX metadata items run past the end of the {fileLength}-byte file");
        file.ReadExactly(metaRegion.FileOffset, region, "VHDX metadata items");
        var metadata = VhdxMetadata.Parse(table, region, path, metaRegion.FileOffset);
        if (metadata.HasParent)
            throw new VirtualDiskException(path, metaRegion.FileOffset, "differencing VHDX files (with a parent) are not supported");

        long chunkRatio = ChunkRatio(metadata.LogicalSectorSize, metadata.BlockSize);
        long payloadBlocks = (metadata.VirtualDiskSize + metadata.BlockSize - 1) / metadata.BlockSize;
        long entries = BatEntries(payloadBlocks, chunkRatio);
        if (entries * 8 > batRegion.Length)
            throw new VirtualDiskException(path, batRegion.FileOffset,
                $"the {batRegion.Length}-byte BAT region cannot hold the {entries} entries a {metadata.VirtualDiskSize}-byte disk of {metadata.BlockSize}-byte blocks needs");
        if (batRegion.FileOffset + entries * 8 > fileLength)
            throw new VirtualDiskException(path, batRegion.FileOffset, $"the {entries * 8}-byte BAT runs past the end of the {fileLength}-byte file");

        var bat = new ulong[entries];
        long end = Math.Max(Math.Max(batRegion.End, metaRegion.End), (long)(current.LogOffset + current.LogLength));
        var placement = new BlockPlacement(path, "VHDX");
        placement.Structure(0, HeaderSectionSize, "header section");
        if (current.LogLength > 0) placement.Structure((long)current.LogOffset, current.LogLength, "log");
        placement.Structure(metaRegion.FileOffset, metaRegion.Length, "metadata region");
        placement.Structure(batRegion.FileOffset, batRegion.Length, "BAT region");
        var raw = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            for (long i = 0; i < entries; i += raw.Length / 8)
            {
                int n = (int)Math.Min(raw.Length / 8, entries - i);
                file.ReadExactly(batRegion.FileOffset + i * 8, raw.AsSpan(0, n * 8), "VHDX BAT");
                for (int j = 0; j < n; j++)
                {
                    long index = i + j;
                    ulong value = BinaryPrimitives.ReadUInt64LittleEndian(raw.AsSpan(j * 8));
                    bat[index] = value;
                    var e = VhdxBatEntry.Parse(value);
                    long at = batRegion.FileOffset + index * 8;
                    bool isBitmap = (index + 1) % (chunkRatio + 1) == 0;
                    if (isBitmap)
                    {
                        if (e.State is not (VhdxBlockState.NotPresent or VhdxBatEntry.SectorBitmapPresent))
                            throw new VirtualDiskException(path, at, $"VHDX BAT entry {index} (a sector bitmap) has state {(int)e.State}, expected 0 or 6");
                        continue;
                    }
                    if (!e.IsValidPayloadState || e.State == VhdxBlockState.PartiallyPresent)
                        throw new VirtualDiskException(path, at, $"VHDX BAT entry {index} has payload state {(int)e.State}, not one of 0, 1, 2, 3, 6 for a disk without a parent");
                    if (!e.HasData) continue;
                    if (e.FileOffset < HeaderSectionSize || e.FileOffset + metadata.BlockSize > fileLength)
                        throw new VirtualDiskException(path, at,
                            $"VHDX BAT entry {index} places its block at [{e.FileOffset}, {e.FileOffset + metadata.BlockSize}), not inside the {fileLength}-byte file past the header section");
                    placement.Block(index, e.FileOffset, metadata.BlockSize, at);
                    end = Math.Max(end, e.FileOffset + metadata.BlockSize);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
        placement.CheckNoSharing(metadata.BlockSize);
        long nextFree = (Math.Max(end, fileLength) + Mib - 1) / Mib * Mib;
        return new VhdxDisk(file, identifier.Creator, current, currentOffset, metadata, bat, batRegion.FileOffset, nextFree);
    }

    /// <summary>
    /// MS-VHDX 2.3.3: applies the active log sequence to the file, grows the file to the head's last file offset,
    /// then writes a header with no log GUID into the other slot, which makes it current.
    /// </summary>
    private static (VhdxHeader, long) ReplayLog(HostFile file, VhdxHeader header, long headerOffset)
    {
        const long maxLog = 32 * Mib, maxGrowth = 16L << 30;
        long fileLength = file.Length;
        long logOffset = (long)Math.Min(header.LogOffset, long.MaxValue / 2);
        if (header.LogLength == 0 || header.LogLength > maxLog || logOffset + header.LogLength > fileLength)
            throw new VirtualDiskException(file.Path, headerOffset + 68,
                $"the VHDX log [{header.LogOffset}, +{header.LogLength}) is empty, over {maxLog} bytes, or past the end of the {fileLength}-byte file");
        var log = new byte[header.LogLength];
        file.ReadExactly(logOffset, log, "VHDX log");
        var entries = VhdxLog.ActiveSequence(log, header.LogGuid);
        if (entries.Count > 0)
        {
            long last = (long)Math.Min(entries[^1].LastFileOffset, long.MaxValue / 2);
            if (last > fileLength + maxGrowth)
                throw new VirtualDiskException(file.Path, logOffset, $"the VHDX log wants the file {last} bytes long, implausibly past its {fileLength} bytes");
            long limit = Math.Max(fileLength, last);
            var zeros = new byte[Mib];
            foreach (var entry in entries)
            {
                foreach (var u in entry.Updates)
                {
                    long end = u.FileOffset + (u.Sector?.Length ?? u.ZeroLength);
                    if (u.FileOffset < HeaderSectionSize || end > limit)
                        throw new VirtualDiskException(file.Path, logOffset,
                            $"VHDX log entry {entry.SequenceNumber} updates [{u.FileOffset}, {end}), outside the file past the header section");
                    if (u.Sector != null) file.Write(u.FileOffset, u.Sector);
                    else for (long at = u.FileOffset; at < end; at += zeros.Length) file.Write(at, zeros.AsSpan(0, (int)Math.Min(zeros.Length, end - at)));
                }
            }
            if (file.Length < last) file.SetLength(last);
            file.Flush();
        }
        var cleared = header with { SequenceNumber = header.SequenceNumber + 1, LogGuid = Guid.Empty, FileWriteGuid = Guid.NewGuid() };
        long offset = headerOffset == VhdxHeader.FirstOffset ? VhdxHeader.SecondOffset : VhdxHeader.FirstOffset;
        var buf = new byte[VhdxHeader.Size];
        cleared.Write(buf);
        file.Write(offset, buf);
        file.Flush();
        return (cleared, offset);
    }

    /// <summary>
    /// MS-VHDX 2.2.2.1: before the first write, a new header with a higher sequence number and fresh file and
    /// data write GUIDs goes into the other header slot, which makes it the current one. Not on open: a caller
    /// that opens the disk writable and then refuses (a target too small) must leave the file as it was.
    /// </summary>
    private void BeginWriting()
    {
        if (Volatile.Read(ref _writing)) return;
        lock (_gate) BeginWritingLocked();
    }

    private void BeginWritingLocked()
    {
        if (_writing) return;
        var next = _header with
        {
            SequenceNumber = _header.SequenceNumber + 1,
            FileWriteGuid = Guid.NewGuid(),
            DataWriteGuid = Guid.NewGuid(),
        };
        long offset = _headerOffset == VhdxHeader.FirstOffset ? VhdxHeader.SecondOffset : VhdxHeader.FirstOffset;
        var buf = new byte[VhdxHeader.Size];
        next.Write(buf);
        _file.Write(offset, buf);
        (_header, _headerOffset) = (next, offset);
        Volatile.Write(ref _writing, true);
    }

    // ---- create ----

    /// <summary>
    /// Creates a VHDX: header section, a 1 MiB log at 1 MiB, the metadata at 2 MiB, the BAT at 3 MiB, then the
    /// blocks. A dynamic disk has no blocks yet; a fixed one has all of them, laid out in order after the BAT.
    /// </summary>
    public static VhdxDisk Create(string path, long length, int logicalSectorSize = 512, int blockSize = DefaultBlockSize,
        bool isFixed = false, Preallocation preallocation = Preallocation.Sparse, int? physicalSectorSize = null)
    {
        if (logicalSectorSize is not (512 or 4096))
            throw new ArgumentException($"VHDX sector size must be 512 or 4096, not {logicalSectorSize}");
        if (blockSize < VhdxMetadata.MinBlockSize || blockSize > VhdxMetadata.MaxBlockSize || (blockSize & (blockSize - 1)) != 0)
            throw new ArgumentException($"VHDX block size must be a power of two from 1 MiB to 256 MiB, not {blockSize}");
        long size = (length + logicalSectorSize - 1) / logicalSectorSize * logicalSectorSize;
        if (length <= 0 || size > VhdxMetadata.MaxDiskSize)
            throw new ArgumentException($"{path}: a VHDX holds 1 byte to 64 TiB, not {length} bytes");

        var metadata = new VhdxMetadata
        {
            BlockSize = (uint)blockSize,
            LeaveBlocksAllocated = isFixed,
            VirtualDiskSize = size,
            VirtualDiskId = Guid.NewGuid(),
            LogicalSectorSize = logicalSectorSize,
            PhysicalSectorSize = physicalSectorSize ?? Math.Max(logicalSectorSize, 4096),
        };
        long chunkRatio = ChunkRatio(logicalSectorSize, blockSize);
        long payloadBlocks = (size + blockSize - 1) / blockSize;
        long entries = BatEntries(payloadBlocks, chunkRatio);
        const long logOffset = Mib, metadataOffset = 2 * Mib, batOffset = 3 * Mib;
        long batLength = (entries * 8 + Mib - 1) / Mib * Mib;
        if (batLength > uint.MaxValue)
            throw new ArgumentException($"{path}: the BAT of a {size}-byte disk of {blockSize}-byte blocks would exceed 4 GiB; use larger blocks");
        long dataStart = batOffset + batLength;

        var header = new VhdxHeader
        {
            SequenceNumber = 1,
            FileWriteGuid = Guid.NewGuid(),
            DataWriteGuid = Guid.NewGuid(),
            LogLength = (uint)Mib,
            LogOffset = logOffset,
        };
        var regions = new VhdxRegionTable([
            new VhdxRegionEntry(VhdxRegionTable.BatRegion, batOffset, (uint)batLength, true),
            new VhdxRegionEntry(VhdxRegionTable.MetadataRegion, metadataOffset, (uint)Mib, true),
        ]);

        var bat = new ulong[entries];
        long fileLength = dataStart;
        if (isFixed)
        {
            for (long b = 0; b < payloadBlocks; b++)
                bat[b + b / chunkRatio] = new VhdxBatEntry(VhdxBlockState.FullyPresent, dataStart + b * blockSize).Raw;
            fileLength = dataStart + payloadBlocks * blockSize;
        }

        var file = HostFile.Create(path);
        try
        {
            var buf = new byte[Mib];
            new VhdxFileIdentifier("P2V.Boot").Write(buf);
            file.Write(0, buf.AsSpan(0, VhdxFileIdentifier.Size));
            buf.AsSpan().Clear();
            header.Write(buf);
            file.Write(VhdxHeader.FirstOffset, buf.AsSpan(0, VhdxHeader.Size));
            (header with { SequenceNumber = 0 }).Write(buf);
            file.Write(VhdxHeader.SecondOffset, buf.AsSpan(0, VhdxHeader.Size));
            regions.Write(buf);
            file.Write(VhdxRegionTable.FirstOffset, buf.AsSpan(0, VhdxRegionTable.Size));
            file.Write(VhdxRegionTable.SecondOffset, buf.AsSpan(0, VhdxRegionTable.Size));
            metadata.Write(buf);
            file.Write(metadataOffset, buf);
            if (isFixed) file.Reserve(dataStart, fileLength - dataStart, preallocation);
            file.SetLength(fileLength);
            var disk = new VhdxDisk(file, "P2V.Boot", header, VhdxHeader.FirstOffset, metadata, bat, batOffset, fileLength) { _writing = true };
            if (isFixed) disk._dirty.MarkAll(bat.Length);
            disk.WriteMetadata();
            return disk;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    // ---- read and write ----

    public void ReadAt(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length, "read");
        while (!buffer.IsEmpty)
        {
            long block = offset / BlockSize, inBlock = offset % BlockSize;
            int n = (int)Math.Min(buffer.Length, BlockSize - inBlock);
            var e = Entry(block);
            // NotPresent, Undefined, Zero and Unmapped all read as zeros for a disk without a parent (2.5.1.1).
            if (e.HasData) _file.ReadExactly(e.FileOffset + inBlock, buffer[..n], $"VHDX payload block {block}");
            else buffer[..n].Clear();
            buffer = buffer[n..];
            offset += n;
        }
    }

    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (!CanWrite) throw new ReadOnlyDiskException(Path);
        CheckRange(offset, data.Length, "write");
        BeginWriting();
        while (!data.IsEmpty)
        {
            long block = offset / BlockSize, inBlock = offset % BlockSize;
            int n = (int)Math.Min(data.Length, BlockSize - inBlock);
            var e = Entry(block);
            if (!e.HasData) e = AllocateBlock(block);
            _file.Write(e.FileOffset + inBlock, data[..n]);
            data = data[n..];
            offset += n;
        }
    }

    public bool ConcurrentReads => true;

    public bool ConcurrentWrites => true;

    public bool NeedsAllocation(long offset, long length)
    {
        if (length <= 0) return false;
        CheckRange(offset, length, "allocation");
        for (long block = offset / BlockSize; block <= (offset + length - 1) / BlockSize; block++)
            if (!Entry(block).HasData) return true;
        return false;
    }

    /// <summary>Blocks are appended in the order they are allocated.</summary>
    public void Allocate(long offset, long length)
    {
        if (!CanWrite) throw new ReadOnlyDiskException(Path);
        if (length <= 0) return;
        CheckRange(offset, length, "allocation");
        BeginWriting();
        for (long block = offset / BlockSize; block <= (offset + length - 1) / BlockSize; block++)
            if (!Entry(block).HasData) AllocateBlock(block);
    }

    private VhdxBatEntry AllocateBlock(long block)
    {
        lock (_gate)
        {
            var e = Entry(block);
            return e.HasData ? e : AppendBlock(block);
        }
    }

    /// <summary>A new block at the end of the file, 1 MiB aligned; extending the file makes its unwritten parts read as zeros.</summary>
    private VhdxBatEntry AppendBlock(long block)
    {
        var e = new VhdxBatEntry(VhdxBlockState.FullyPresent, _nextFree);
        _nextFree += BlockSize;
        _file.SetLength(_nextFree);
        int index = (int)(block + block / _chunkRatio);
        Volatile.Write(ref _bat[index], e.Raw);
        _dirty.Mark(index);
        return e;
    }

    /// <summary>Present blocks, narrowed to the parts the file system holds data for.</summary>
    public IEnumerable<Extent> AllocatedExtents() => _file.BlockDataExtents(PresentBlocks(), BlockSize, Length);

    private IEnumerable<(long DiskOffset, long FileOffset)> PresentBlocks()
    {
        for (long block = 0; block < PayloadBlocks; block++)
        {
            var e = Entry(block);
            if (e.HasData) yield return (block * BlockSize, e.FileOffset);
        }
    }

    public void StartWriteBack()
    {
        if (CanWrite) _file.StartWriteBack();
    }

    public void Flush()
    {
        if (!CanWrite) return;
        WriteMetadata();
        _file.Flush();
    }

    private void WriteMetadata()
    {
        if (!CanWrite || _dirty.IsEmpty) return;
        BeginWriting();
        lock (_gate) _dirty.WriteBack(_file, _batOffset, 8, (i, dest) => BinaryPrimitives.WriteUInt64LittleEndian(dest, _bat[i]));
    }

    private void CheckRange(long offset, long count, string what)
    {
        if (offset < 0 || offset + count > Length)
            throw new VirtualDiskException(Path, offset, $"{what} of {count} bytes past the end of the {Length}-byte disk");
    }

    public void Dispose()
    {
        try
        {
            WriteMetadata();
        }
        finally
        {
            _file.Dispose();
        }
    }
}
