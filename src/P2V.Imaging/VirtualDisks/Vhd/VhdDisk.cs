using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.VirtualDisks.Vhd;

/// <summary>
/// A VHD file: fixed (the disk's bytes then a footer), dynamic (footer copy, dynamic header, BAT, then blocks
/// each led by a sector bitmap, then the footer) or differencing (a dynamic disk whose unwritten sectors come
/// from a parent), as the Virtual Hard Disk Image Format Specification lays them out. The BAT is held in
/// memory and written back on <see cref="Flush"/> and <see cref="Dispose"/>; new blocks are appended at the
/// end of the file and their data is never zero-filled, so blocks that are never written take no space.
/// </summary>
public sealed class VhdDisk : IVirtualDisk
{
    private const uint Unused = uint.MaxValue;
    private const int MaxChainDepth = 32;

    private readonly HostFile _file;
    private VhdFooter _footer;
    private readonly uint[] _bat = [];
    private readonly IVirtualDisk? _parent;
    private long _footerOffset;
    private long _nextFree;
    private DirtyRange _dirty = new();
    private bool _footerDirty;
    // Guards the BAT, the file's end and the footer, so that writes may come from several threads.
    private readonly Lock _gate = new();

    private VhdDisk(HostFile file, VhdFooter footer, VhdDynamicHeader? header, uint[] bat, IVirtualDisk? parent, string? parentPath)
    {
        _file = file;
        _footer = footer;
        DynamicHeader = header;
        _bat = bat;
        _parent = parent;
        ParentPath = parentPath;
    }

    public string Path => _file.Path;
    public long Length => (long)_footer.CurrentSize;
    public int SectorSize => 512;
    public bool CanWrite => _file.CanWrite;
    public VhdFooter Footer => _footer;
    public VhdDiskType DiskType => _footer.DiskType;
    /// <summary>The dynamic disk header; null for a fixed disk.</summary>
    public VhdDynamicHeader? DynamicHeader { get; }
    /// <summary>The parent a differencing disk was found to point at.</summary>
    public string? ParentPath { get; }
    public IVirtualDisk? Parent => _parent;
    public int AllocatedBlocks => _bat.Count(e => e != Unused);

    private long BlockSize => DynamicHeader!.BlockSize;
    private int BitmapSize => DynamicHeader!.BitmapSize;

    // ---- open ----

    public static VhdDisk Open(string path, bool writable = false) => Open(path, writable, 0);

    internal static VhdDisk Open(string path, bool writable, int depth)
    {
        var file = HostFile.Open(path, writable);
        try
        {
            return OpenFile(file, depth);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static VhdDisk OpenFile(HostFile file, int depth)
    {
        string path = file.Path;
        long fileLength = file.Length;
        if (fileLength < VhdFooter.Size)
            throw new VirtualDiskException(path, 0, $"the {fileLength}-byte file is too small to hold a {VhdFooter.Size}-byte VHD footer");
        Span<byte> buf = stackalloc byte[VhdDynamicHeader.Size];
        long footerOffset = fileLength - VhdFooter.Size;
        file.ReadExactly(footerOffset, buf[..VhdFooter.Size], "VHD footer");
        VhdFooter footer;
        try
        {
            footer = VhdFooter.Parse(buf[..VhdFooter.Size], path, footerOffset);
        }
        catch (VirtualDiskException)
        {
            // The spec keeps a copy of the footer at offset 0 of dynamic disks for exactly this case.
            file.ReadExactly(0, buf[..VhdFooter.Size], "VHD footer copy");
            if (!VhdFooter.HasCookie(buf)) throw;
            footer = VhdFooter.Parse(buf[..VhdFooter.Size], path, 0);
            if (footer.DiskType == VhdDiskType.Fixed) throw;
            footerOffset = -1; // rewritten at the end of the last block if the disk is written
        }

        if (footer.DiskType == VhdDiskType.Fixed)
        {
            if (footerOffset < (long)footer.CurrentSize)
                throw new VirtualDiskException(path, footerOffset,
                    $"fixed VHD holds {Math.Max(0, footerOffset)} bytes of data before its footer, but its size is {footer.CurrentSize}");
            return new VhdDisk(file, footer, null, [], null, null) { _footerOffset = (long)footer.CurrentSize };
        }

        long headerOffset = (long)footer.DataOffset;
        if (headerOffset < 0 || headerOffset > fileLength - VhdDynamicHeader.Size)
            throw new VirtualDiskException(path, headerOffset, $"the dynamic header lies past the end of the {fileLength}-byte file");
        file.ReadExactly(headerOffset, buf, "VHD dynamic header");
        var header = VhdDynamicHeader.Parse(buf, path, headerOffset);

        long blocks = ((long)footer.CurrentSize + header.BlockSize - 1) / header.BlockSize;
        if (header.MaxTableEntries < blocks)
            throw new VirtualDiskException(path, headerOffset + 28,
                $"BAT has {header.MaxTableEntries} entries, but a {footer.CurrentSize}-byte disk of {header.BlockSize}-byte blocks needs {blocks}");
        long tableOffset = (long)header.TableOffset;
        if (tableOffset < 0 || tableOffset + blocks * 4 > fileLength)
            throw new VirtualDiskException(path, tableOffset, $"the {blocks * 4}-byte BAT runs past the end of the {fileLength}-byte file");

        var bat = new uint[blocks];
        var raw = ArrayPool<byte>.Shared.Rent(1 << 20);
        long batBytes = (header.MaxTableEntries * 4L + 511) / 512 * 512;
        long end = Math.Max(headerOffset + VhdDynamicHeader.Size, tableOffset + batBytes);
        var placement = new BlockPlacement(path, "VHD");
        placement.Structure(0, VhdFooter.Size, "footer copy");
        placement.Structure(headerOffset, VhdDynamicHeader.Size, "dynamic header");
        placement.Structure(tableOffset, Math.Min(batBytes, fileLength - tableOffset), "BAT");
        foreach (var loc in header.ParentLocators)
            if (!loc.IsEmpty && loc.DataOffset < (ulong)fileLength && loc.DataLength <= 64 * 1024)
                placement.Structure((long)loc.DataOffset, loc.DataLength, $"parent locator '{loc.PlatformCode}'");
        if (footerOffset > 0) placement.Structure(footerOffset, VhdFooter.Size, "footer");
        try
        {
            for (long i = 0; i < blocks; i += raw.Length / 4)
            {
                int n = (int)Math.Min(raw.Length / 4, blocks - i);
                file.ReadExactly(tableOffset + i * 4, raw.AsSpan(0, n * 4), "VHD BAT");
                for (int j = 0; j < n; j++)
                {
                    uint e = BinaryPrimitives.ReadUInt32BigEndian(raw.AsSpan(j * 4));
                    bat[i + j] = e;
                    if (e == Unused) continue;
                    long blockEnd = e * 512L + header.BitmapSize + header.BlockSize;
                    if (blockEnd > fileLength)
                        throw new VirtualDiskException(path, tableOffset + (i + j) * 4,
                            $"BAT entry {i + j} points to sector {e}: the block [{e * 512L}, {blockEnd}) is not inside the {fileLength}-byte file");
                    placement.Block(i + j, e * 512L, header.BitmapSize + header.BlockSize, tableOffset + (i + j) * 4);
                    end = Math.Max(end, blockEnd);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
        placement.CheckNoSharing(header.BitmapSize + header.BlockSize);

        IVirtualDisk? parent = null;
        string? parentPath = null;
        if (footer.DiskType == VhdDiskType.Differencing)
        {
            if (depth >= MaxChainDepth)
                throw new VirtualDiskException(path, headerOffset, $"the chain of differencing disks is deeper than {MaxChainDepth} (a loop?)");
            (parent, parentPath) = OpenParent(file, header, headerOffset, depth);
        }
        return new VhdDisk(file, footer, header, bat, parent, parentPath)
        {
            _nextFree = end,
            _footerOffset = footerOffset < 0 ? end : footerOffset,
            _footerDirty = footerOffset < 0,
        };
    }

    /// <summary>Follows the parent locators (relative, then absolute), then the parent's name next to the child.</summary>
    private static (IVirtualDisk, string) OpenParent(HostFile file, VhdDynamicHeader header, long headerOffset, int depth)
    {
        string childDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file.Path)) ?? ".";
        var tried = new List<string>();
        var order = new[] { VhdParentLocator.WindowsRelative, VhdParentLocator.WindowsAbsolute, VhdParentLocator.MacOsXUrl };
        var candidates = new List<string>();
        foreach (var code in order)
        {
            foreach (var loc in header.ParentLocators.Where(l => l.PlatformCode == code && !l.IsEmpty))
            {
                if (loc.DataLength > 64 * 1024 || loc.DataOffset > (ulong)file.Length)
                    throw new VirtualDiskException(file.Path, (long)Math.Min(loc.DataOffset, long.MaxValue),
                        $"parent locator '{code}' has {loc.DataLength} bytes at {loc.DataOffset}, outside the file or over 64 KiB");
                var data = new byte[loc.DataLength];
                file.ReadExactly((long)loc.DataOffset, data, $"parent locator '{code}'");
                if (loc.DecodePath(data) is { Length: > 0 } p) candidates.Add(ToHostPath(p, childDir));
            }
        }
        if (header.ParentName.Length > 0)
            candidates.Add(System.IO.Path.Combine(childDir, System.IO.Path.GetFileName(header.ParentName.Replace('\\', '/'))));
        foreach (var candidate in candidates.Distinct())
        {
            tried.Add(candidate);
            if (!File.Exists(candidate)) continue;
            var parent = VirtualDisk.Open(candidate, writable: false, depth: depth + 1);
            if (parent is VhdDisk vp && vp.Footer.UniqueId != header.ParentUniqueId)
            {
                var id = vp.Footer.UniqueId;
                parent.Dispose();
                throw new VirtualDiskException(file.Path, headerOffset + VhdDynamicHeader.ParentUniqueIdOffset,
                    $"parent {candidate} has unique id {id}, but the differencing disk expects {header.ParentUniqueId}");
            }
            return (parent, candidate);
        }
        throw new VirtualDiskException(file.Path, headerOffset + VhdDynamicHeader.ParentLocatorsOffset,
            $"cannot find the parent disk '{header.ParentName}' (tried {(tried.Count == 0 ? "no locator" : string.Join(", ", tried))})");
    }

    /// <summary>A locator's Windows-style path as a path on this machine: backslashes become slashes, drive letters go.</summary>
    private static string ToHostPath(string path, string childDir)
    {
        var p = path.Replace('\\', '/');
        if (p.Length >= 2 && p[1] == ':') p = p[2..];
        return System.IO.Path.IsPathRooted(p) ? p : System.IO.Path.GetFullPath(System.IO.Path.Combine(childDir, p));
    }

    // ---- create ----

    /// <summary>
    /// A fixed VHD: the disk's bytes then the footer. The size is rounded up to whole CHS geometry (below
    /// 127 GiB) so readers that go by geometry see the same size as those that go by the footer.
    /// </summary>
    public static VhdDisk CreateFixed(string path, long length, Preallocation preallocation = Preallocation.Sparse)
    {
        var footer = NewFooter(path, length, VhdDiskType.Fixed, VhdFooter.NoDataOffset);
        long size = (long)footer.CurrentSize;
        var file = HostFile.Create(path);
        try
        {
            file.Reserve(0, size, preallocation);
            file.SetLength(size + VhdFooter.Size);
            var disk = new VhdDisk(file, footer, null, [], null, null) { _footerOffset = size, _footerDirty = true };
            disk.WriteMetadata();
            return disk;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>A dynamic VHD with no blocks allocated: footer copy, dynamic header, an empty BAT, footer.</summary>
    public static VhdDisk CreateDynamic(string path, long length, int blockSize = VhdDynamicHeader.DefaultBlockSize)
    {
        var footer = NewFooter(path, length, VhdDiskType.Dynamic, VhdFooter.Size);
        return CreateSparse(path, footer, blockSize, null, null);
    }

    /// <summary>A differencing VHD over <paramref name="parentPath"/> (a VHD), locating it by relative and absolute path.</summary>
    public static VhdDisk CreateDifferencing(string path, string parentPath)
    {
        var parent = Open(parentPath, writable: false, 1);
        try
        {
            var pf = parent.Footer;
            var footer = new VhdFooter
            {
                DataOffset = VhdFooter.Size,
                TimeStamp = VhdFooter.TimeStampNow(),
                OriginalSize = pf.CurrentSize,
                CurrentSize = pf.CurrentSize,
                Geometry = pf.Geometry,
                DiskType = VhdDiskType.Differencing,
                UniqueId = Guid.NewGuid(),
            };
            string parentFull = System.IO.Path.GetFullPath(parentPath);
            string childDir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
            string relative = System.IO.Path.GetRelativePath(childDir, parentFull);
            if (!relative.StartsWith('.')) relative = "./" + relative;
            var locatorPaths = new[]
            {
                (VhdParentLocator.WindowsRelative, relative.Replace('/', '\\')),
                (VhdParentLocator.WindowsAbsolute, parentFull.Replace('/', '\\')),
            };
            var mtime = File.GetLastWriteTimeUtc(parentPath) - new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
            return CreateSparse(path, footer, (int)(parent.DynamicHeader?.BlockSize ?? VhdDynamicHeader.DefaultBlockSize),
                (parent, parentFull), header => header with
                {
                    ParentUniqueId = pf.UniqueId,
                    ParentTimeStamp = (uint)Math.Clamp(mtime.TotalSeconds, 0, uint.MaxValue),
                    ParentName = parentFull,
                }, locatorPaths);
        }
        catch
        {
            parent.Dispose();
            throw;
        }
    }

    private static VhdDisk CreateSparse(string path, VhdFooter footer, int blockSize, (IVirtualDisk Disk, string Path)? parent,
        Func<VhdDynamicHeader, VhdDynamicHeader>? parentFields, (string Code, string Path)[]? locators = null)
    {
        if (blockSize < 4096 || blockSize > (256 << 20) || (blockSize & (blockSize - 1)) != 0)
            throw new ArgumentException($"VHD block size {blockSize} is not a power of two from 4 KiB to 256 MiB");
        long blocks = ((long)footer.CurrentSize + blockSize - 1) / blockSize;
        const long tableOffset = VhdFooter.Size + VhdDynamicHeader.Size;
        long batBytes = (blocks * 4 + 511) / 512 * 512;
        long next = tableOffset + batBytes;

        // Locator data follows the BAT, a whole number of sectors each.
        var locatorEntries = new VhdParentLocator[VhdDynamicHeader.LocatorCount];
        var locatorData = new List<(long Offset, byte[] Data)>();
        for (int i = 0; locators != null && i < locators.Length; i++)
        {
            var data = Encoding.Unicode.GetBytes(locators[i].Path);
            long space = (data.Length + 511) / 512 * 512;
            locatorEntries[i] = new VhdParentLocator(locators[i].Code, (uint)(space / 512), (uint)data.Length, (ulong)next);
            locatorData.Add((next, data));
            next += space;
        }
        var header = new VhdDynamicHeader
        {
            TableOffset = tableOffset,
            MaxTableEntries = (uint)blocks,
            BlockSize = (uint)blockSize,
            ParentLocators = locatorEntries,
        };
        if (parentFields != null) header = parentFields(header);

        var file = HostFile.Create(path);
        try
        {
            var buf = new byte[VhdDynamicHeader.Size];
            header.Write(buf);
            file.Write(VhdFooter.Size, buf);
            var unused = new byte[Math.Min(batBytes, 1 << 20)];
            unused.AsSpan().Fill(0xFF);
            for (long done = 0; done < batBytes; done += unused.Length)
                file.Write(tableOffset + done, unused.AsSpan(0, (int)Math.Min(unused.Length, batBytes - done)));
            foreach (var (offset, data) in locatorData)
                file.Write(offset, data);
            var bat = new uint[blocks];
            Array.Fill(bat, Unused);
            var disk = new VhdDisk(file, footer, header, bat, parent?.Disk, parent?.Path)
            {
                _nextFree = next,
                _footerOffset = next,
                _footerDirty = true,
            };
            disk.WriteMetadata();
            return disk;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static VhdFooter NewFooter(string path, long length, VhdDiskType type, ulong dataOffset)
    {
        if (length <= 0 || length > VhdFooter.MaxDiskSize)
            throw new ArgumentException($"{path}: a VHD holds 1 byte to 2040 GiB, not {length} bytes");
        var geometry = VhdGeometry.Covering((length + 511) / 512);
        long size = geometry.Sectors >= VhdGeometry.MaxSectors ? (length + 511) / 512 * 512 : geometry.Sectors * 512;
        return new VhdFooter
        {
            DataOffset = dataOffset,
            TimeStamp = VhdFooter.TimeStampNow(),
            OriginalSize = (ulong)size,
            CurrentSize = (ulong)size,
            Geometry = geometry,
            DiskType = type,
            UniqueId = Guid.NewGuid(),
        };
    }

    // ---- read ----

    public void ReadAt(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length, "read");
        if (DiskType == VhdDiskType.Fixed)
        {
            _file.ReadExactly(offset, buffer, "fixed VHD data");
            return;
        }
        while (!buffer.IsEmpty)
        {
            long block = offset / BlockSize;
            long inBlock = offset % BlockSize;
            int n = (int)Math.Min(buffer.Length, BlockSize - inBlock);
            var part = buffer[..n];
            uint entry = _bat[block];
            if (entry == Unused)
                ReadParent(offset, part);
            else if (DiskType == VhdDiskType.Differencing)
                ReadDifferencing(entry * 512L, inBlock, offset, part);
            else
                // A dynamic disk's bitmap is not consulted: readers (qemu, Hyper-V) take an allocated block's data as is.
                _file.ReadExactly(entry * 512L + BitmapSize + inBlock, part, $"VHD block {block}");
            buffer = buffer[n..];
            offset += n;
        }
    }

    /// <summary>Sectors whose bitmap bit is set come from this file, the others from the parent.</summary>
    private void ReadDifferencing(long blockStart, long inBlock, long offset, Span<byte> part)
    {
        var bitmap = ArrayPool<byte>.Shared.Rent(BitmapSize);
        try
        {
            _file.ReadExactly(blockStart, bitmap.AsSpan(0, BitmapSize), "VHD sector bitmap");
            int pos = 0;
            while (pos < part.Length)
            {
                long sector = (inBlock + pos) / 512;
                bool present = IsSet(bitmap, sector);
                int run = (int)Math.Min(part.Length - pos, (sector + 1) * 512 - (inBlock + pos));
                while (pos + run < part.Length && IsSet(bitmap, (inBlock + pos + run) / 512) == present)
                    run += (int)Math.Min(512, part.Length - pos - run);
                if (present) _file.ReadExactly(blockStart + BitmapSize + inBlock + pos, part.Slice(pos, run), "VHD block data");
                else ReadParent(offset + pos, part.Slice(pos, run));
                pos += run;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bitmap);
        }
    }

    // The spec numbers sectors from the most significant bit of each bitmap byte.
    private static bool IsSet(byte[] bitmap, long sector) => (bitmap[sector / 8] & (0x80 >> (int)(sector % 8))) != 0;

    private void ReadParent(long offset, Span<byte> part)
    {
        if (_parent == null || offset >= _parent.Length)
        {
            part.Clear();
            return;
        }
        int n = (int)Math.Min(part.Length, _parent.Length - offset);
        _parent.ReadAt(offset, part[..n]);
        part[n..].Clear();
    }

    // ---- write ----

    public void WriteAt(long offset, ReadOnlySpan<byte> data)
    {
        if (!CanWrite) throw new ReadOnlyDiskException(Path);
        CheckRange(offset, data.Length, "write");
        if (DiskType == VhdDiskType.Fixed)
        {
            _file.Write(offset, data);
            return;
        }
        while (!data.IsEmpty)
        {
            long block = offset / BlockSize;
            long inBlock = offset % BlockSize;
            int n = (int)Math.Min(data.Length, BlockSize - inBlock);
            long blockStart = BlockStart(block);
            if (DiskType == VhdDiskType.Differencing) WriteDifferencing(blockStart, inBlock, offset, data[..n]);
            else _file.Write(blockStart + BitmapSize + inBlock, data[..n]);
            data = data[n..];
            offset += n;
        }
    }

    /// <summary>
    /// Sectors become this file's only whole: a partial sector first takes what the chain holds there,
    /// then the sectors' bitmap bits are set.
    /// </summary>
    private void WriteDifferencing(long blockStart, long inBlock, long offset, ReadOnlySpan<byte> data)
    {
        long first = inBlock / 512 * 512, last = (inBlock + data.Length + 511) / 512 * 512;
        if (first != inBlock || last != inBlock + data.Length)
        {
            var whole = new byte[last - first];
            long diskStart = offset - (inBlock - first);
            ReadAt(diskStart, whole.AsSpan(0, (int)Math.Min(whole.Length, Length - diskStart)));
            data.CopyTo(whole.AsSpan((int)(inBlock - first)));
            data = whole;
            inBlock = first;
        }
        _file.Write(blockStart + BitmapSize + inBlock, data);
        var bitmap = new byte[BitmapSize];
        _file.ReadExactly(blockStart, bitmap, "VHD sector bitmap");
        for (long s = inBlock / 512; s < (inBlock + data.Length) / 512; s++)
            bitmap[s / 8] |= (byte)(0x80 >> (int)(s % 8));
        _file.Write(blockStart, bitmap);
    }

    public bool ConcurrentReads => true;

    /// <summary>Not a differencing disk: its writes read, change and write back a block's sector bitmap.</summary>
    public bool ConcurrentWrites => DiskType != VhdDiskType.Differencing;

    public bool NeedsAllocation(long offset, long length)
    {
        if (DiskType == VhdDiskType.Fixed || length <= 0) return false;
        CheckRange(offset, length, "allocation");
        for (long block = offset / BlockSize; block <= (offset + length - 1) / BlockSize; block++)
            if (Volatile.Read(ref _bat[block]) == Unused) return true;
        return false;
    }

    /// <summary>Blocks are appended in the order they are allocated; a fixed disk has nothing to allocate.</summary>
    public void Allocate(long offset, long length)
    {
        if (!CanWrite) throw new ReadOnlyDiskException(Path);
        if (DiskType == VhdDiskType.Fixed || length <= 0) return;
        CheckRange(offset, length, "allocation");
        for (long block = offset / BlockSize; block <= (offset + length - 1) / BlockSize; block++) BlockStart(block);
    }

    /// <summary>Where the block starts in the file (its sector bitmap), appending it first if it has no place yet.</summary>
    private long BlockStart(long block)
    {
        uint entry = Volatile.Read(ref _bat[block]);
        if (entry == Unused)
        {
            lock (_gate)
            {
                if (_bat[block] == Unused) AppendBlock(block);
                entry = _bat[block];
            }
        }
        return entry * 512L;
    }

    /// <summary>
    /// Appends a block where the footer was: its bitmap (all set for a dynamic disk, clear for a differencing one),
    /// a data area left as a hole, and the footer after it. The data area starts on a 4 KiB boundary of the file.
    /// </summary>
    private void AppendBlock(long block)
    {
        long start = (_nextFree + BitmapSize + 4095) / 4096 * 4096 - BitmapSize;
        if (start / 512 >= Unused)
            throw new VirtualDiskException(Path, start, "the VHD file has grown past what a BAT entry can address");
        var bitmap = new byte[BitmapSize];
        if (DiskType == VhdDiskType.Dynamic) bitmap.AsSpan().Fill(0xFF);
        _file.Write(start, bitmap);
        Volatile.Write(ref _bat[block], (uint)(start / 512));
        _dirty.Mark((int)block);
        _nextFree = start + BitmapSize + BlockSize;
        _footerOffset = _nextFree;
        _footerDirty = true;
        // Writing the footer now makes the file cover the whole block, so its unwritten tail reads as zeros.
        WriteFooter(_footerOffset);
    }

    // ---- allocation ----

    /// <summary>Allocated blocks, narrowed to the parts of them that hold data in the file; a parent's extents join a child's.</summary>
    public IEnumerable<Extent> AllocatedExtents()
    {
        if (DiskType == VhdDiskType.Fixed) return _file.DataRanges(0, Length);
        var own = BlockExtents();
        return _parent == null ? own : UsedExtentMap.From(own.Concat(_parent.AllocatedExtents()), Length).Extents;
    }

    private IEnumerable<Extent> BlockExtents() => _file.BlockDataExtents(BlockPlaces(), BlockSize, Length);

    private IEnumerable<(long DiskOffset, long FileOffset)> BlockPlaces()
    {
        for (long block = 0; block < _bat.Length; block++)
            if (_bat[block] != Unused) yield return (block * BlockSize, _bat[block] * 512L + BitmapSize);
    }

    // ---- metadata ----

    /// <summary>A fixed VHD's data is the disk, sector for sector, at the start of the file (its footer follows).</summary>
    public DirectWriter? OpenDirectWriter(bool blank) =>
        CanWrite && DiskType == VhdDiskType.Fixed ? DirectWriter.TryOpen(_file.Handle, Path, Length, _file.Length, blank) : null;

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
        if (!CanWrite) return;
        lock (_gate) WriteMetadataLocked();
    }

    private void WriteMetadataLocked()
    {
        if (!_dirty.IsEmpty) _dirty.WriteBack(_file, (long)DynamicHeader!.TableOffset, 4, (i, dest) => BinaryPrimitives.WriteUInt32BigEndian(dest, _bat[i]));
        if (_footerDirty)
        {
            WriteFooter(_footerOffset);
            if (DiskType != VhdDiskType.Fixed) WriteFooter(0);
            _footerDirty = false;
        }
    }

    private void WriteFooter(long offset)
    {
        Span<byte> buf = stackalloc byte[VhdFooter.Size];
        _footer.Write(buf);
        _file.Write(offset, buf);
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
            _parent?.Dispose();
        }
    }
}
