using System.Buffers.Binary;
using P2V.Imaging;

namespace P2V.Windows.Registry;

/// <summary>
/// A registry hive file (regf) held in memory — hives are files of a few MiB, not disks — read and edited in
/// place the way Windows does it: cells are allocated from free cells first (split when larger), freed cells are
/// merged with free neighbours in their bin, and a new hive bin is appended only when nothing fits. Offsets are
/// relative to the start of the hive bins data (file offset = 4096 + offset), as in the spec
/// ("Windows registry file format specification", msuhanov, § Format of primary files).
/// </summary>
public sealed partial class RegistryHive
{
    internal const uint NoCell = 0xFFFFFFFF;
    /// <summary>Windows refuses key trees deeper than this; a deeper walk means a cycle in the subkey lists.</summary>
    internal const int MaxDepth = 512;
    /// <summary>Windows caps hives at 2 GiB; an in-memory copy is capped lower.</summary>
    public const long MaxHiveBytes = 1L << 30;
    private const int MaxLeafElements = 1012;
    private const int IndexRootLeafElements = 512;

    private byte[] _file;
    private int _binsSize;
    private readonly BaseBlock _base;
    private readonly List<(int Start, int Size)> _bins = [];
    private readonly SortedDictionary<int, int> _free = [];   // start → size
    private readonly Dictionary<int, int> _freeByEnd = [];    // end → start, to merge with the cell before
    private bool _modified;

    private RegistryHive(string name, byte[] file, BaseBlock baseBlock, bool recovered, bool checkRoot = true)
    {
        Name = name;
        _file = file;
        _base = baseBlock;
        RecoveredFromLog = recovered;
        _modified = recovered;
        _binsSize = checked((int)baseBlock.HiveBinsDataSize);
        ScanBins();
        if (checkRoot) ReadKey(baseBlock.RootCellOffset);
    }

    /// <summary>The hive's name in messages (its file name).</summary>
    public string Name { get; }

    public int MajorVersion => (int)_base.MajorVersion;
    public int MinorVersion => (int)_base.MinorVersion;

    /// <summary>The hive was dirty and has been brought up to date from its transaction log(s).</summary>
    public bool RecoveredFromLog { get; }

    /// <summary>
    /// The hive was dirty with no log to bring it up to date, and was opened as its primary file stands (as hivex
    /// reads every hive); <see cref="ToArray"/> writes it back clean.
    /// </summary>
    public bool OpenedDirty { get; private init; }

    /// <summary>Size of the hive bins data, in bytes (the file is 4096 bytes more).</summary>
    public int HiveBinsDataSize => _binsSize;

    public RegistryKey Root => new(this, _base.RootCellOffset, null);

    // ---- Opening, creating, saving -------------------------------------------------------------------

    /// <summary>Opens a hive file; a dirty hive is recovered from "<paramref name="path"/>.LOG1"/".LOG2"/".LOG" when present.</summary>
    public static RegistryHive Open(string path, bool acceptDirty = false)
    {
        var name = System.IO.Path.GetFileName(path);
        var info = new FileInfo(path);
        if (info.Length > MaxHiveBytes) throw new RegistryHiveException(name, 0, $"file is {info.Length} bytes, more than the {MaxHiveBytes}-byte limit");
        byte[]? Log(string suffix) => File.Exists(path + suffix) ? File.ReadAllBytes(path + suffix) : null;
        return Open(File.ReadAllBytes(path), name, Log(".LOG1"), Log(".LOG2"), Log(".LOG"), acceptDirty);
    }

    /// <summary>
    /// Opens a hive from its bytes (which become the hive's own buffer). The logs are only read when the hive is
    /// dirty (§ Dirty state of a hive); a dirty hive that no log brings up to date is refused, unless
    /// <paramref name="acceptDirty"/>: then its primary file is used as it stands (see <see cref="OpenedDirty"/>).
    /// </summary>
    /// <exception cref="DirtyHiveException">Dirty, no usable log, and not <paramref name="acceptDirty"/>.</exception>
    public static RegistryHive Open(byte[] primary, string name, byte[]? log1 = null, byte[]? log2 = null, byte[]? log = null, bool acceptDirty = false)
    {
        if (primary.Length < BaseBlock.Size)
            throw new RegistryHiveException(name, 0, $"file is {primary.Length} bytes, shorter than the 4096-byte base block");
        bool checksumValid = BaseBlock.ChecksumValid(primary);
        var baseBlock = checksumValid ? BaseBlock.Parse(primary, name) : null;
        if (baseBlock is not null && baseBlock.MajorVersion != 1)
            throw new RegistryHiveException(name, 20, $"major version {baseBlock.MajorVersion}, expected 1");
        // § Base block, note on minor versions: 1.0 and 1.1 are Windows NT 3.1's hives, whose key nodes and lists are
        // laid out differently; NT 3.5 and later write 1.2 and up, the layouts read here.
        if (baseBlock is not null && baseBlock.MinorVersion < 2)
            throw new RegistryHiveException(name, 24, $"regf version 1.{baseBlock.MinorVersion} is not supported (Windows NT 3.1's format; NT 3.5 and later write 1.2 and up)");
        if (baseBlock is not null && !baseBlock.SequenceMismatch)
        {
            CheckFileType(name, baseBlock);
            CheckBinsSize(name, baseBlock, primary.Length);
            return new RegistryHive(name, primary, baseBlock, recovered: false);
        }
        if (!primary.AsSpan(0, 4).SequenceEqual("regf"u8))
            throw new RegistryHiveException(name, 0, "base block signature is not 'regf'");
        string why = checksumValid
            ? $"it is dirty (primary sequence number {baseBlock!.PrimarySequence}, secondary {baseBlock.SecondarySequence})"
            : $"its base block checksum is wrong (stored 0x{BinaryPrimitives.ReadUInt32LittleEndian(primary.AsSpan(508)):X8}, computed 0x{BaseBlock.Checksum(primary):X8})";
        if (!TransactionLog.AnyUsable(log1, log2, log))
        {
            // No log at all, or none with a valid base block copy: hivex (and Windows without its logs) reads the
            // primary file as it stands, which is only possible when its own base block is intact.
            if (!acceptDirty || baseBlock is null)
                throw new DirtyHiveException(name, 4, $"{why} and no transaction log (.LOG1/.LOG2/.LOG) can bring it up to date; refusing to read it", baseBlock is not null);
            CheckFileType(name, baseBlock);
            CheckBinsSize(name, baseBlock, primary.Length);
            return new RegistryHive(name, primary, baseBlock, recovered: false) { OpenedDirty = true, _modified = true };
        }
        var (file, recoveredBase) = TransactionLog.Recover(name, primary, baseBlock, log1, log2, log, why);
        CheckBinsSize(name, recoveredBase, file.Length);
        return new RegistryHive(name, file, recoveredBase, recovered: true);
    }

    private static void CheckFileType(string name, BaseBlock b)
    {
        if (b.FileType != BaseBlock.PrimaryFileType)
            throw new RegistryHiveException(name, 28, $"file type {b.FileType}, expected 0 (a primary file, not a transaction log)");
    }

    private static void CheckBinsSize(string name, BaseBlock b, long fileLength)
    {
        if (b.HiveBinsDataSize == 0 || b.HiveBinsDataSize % HiveBinHeader.Alignment != 0)
            throw new RegistryHiveException(name, 40, $"hive bins data size {b.HiveBinsDataSize} is not a non-zero multiple of 4096");
        if (BaseBlock.Size + (long)b.HiveBinsDataSize > fileLength)
            throw new RegistryHiveException(name, 40, $"hive bins data size {b.HiveBinsDataSize} runs past the end of the {fileLength}-byte file (truncated?)");
        if (b.HiveBinsDataSize > MaxHiveBytes)
            throw new RegistryHiveException(name, 40, $"hive bins data size {b.HiveBinsDataSize} is over the {MaxHiveBytes}-byte limit");
    }

    /// <summary>
    /// A new, empty hive: a base block and one hive bin holding the root key and its security cell. Version 1.3
    /// is what Windows NT 4/2000 write and XP/2003 still read (fast leaves, no big data); 1.5 is XP and later (hash leaves, big data).
    /// </summary>
    public static RegistryHive Create(string rootName = "ROOT", int minorVersion = 5, string fileName = "")
    {
        if (minorVersion is < 3 or > 6) throw new ArgumentOutOfRangeException(nameof(minorVersion), "regf minor versions are 3 to 6");
        long now = DateTime.UtcNow.ToFileTimeUtc();
        var file = new byte[BaseBlock.Size + HiveBinHeader.Alignment];
        var b = new BaseBlock
        {
            PrimarySequence = 1, SecondarySequence = 1, LastWritten = now, MinorVersion = (uint)minorVersion,
            HiveBinsDataSize = HiveBinHeader.Alignment, FileName = fileName,
        };
        new HiveBinHeader(0, HiveBinHeader.Alignment, now).Write(file.AsSpan(BaseBlock.Size));
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(BaseBlock.Size + HiveBinHeader.Length), HiveBinHeader.Alignment - HiveBinHeader.Length);
        b.Write(file);
        var hive = new RegistryHive(fileName.Length > 0 ? fileName : rootName, file, b, recovered: false, checkRoot: false);

        var sk = new KeySecurity { ReferenceCount = 1, Descriptor = KeySecurity.DefaultDescriptor() };
        uint skOffset = hive.Allocate(sk.Length);
        sk.Flink = sk.Blink = skOffset; // the only entry: the list points back to itself
        sk.Write(hive.Cell(skOffset));
        var root = new KeyNode
        {
            Flags = KeyNode.FlagHiveEntry | KeyNode.FlagNoDelete, LastWritten = now, Parent = 0, Security = skOffset, Name = rootName,
        };
        uint rootOffset = hive.Allocate(root.Length);
        hive.WriteKey(rootOffset, root);
        hive._base.RootCellOffset = rootOffset;
        hive._modified = true;
        return hive;
    }

    /// <summary>
    /// The hive file as it is now. After edits (or a log recovery) the base block is brought up to date first:
    /// hive bins data size, timestamp, both sequence numbers incremented and equal, checksum — a clean hive.
    /// </summary>
    public byte[] ToArray()
    {
        if (_modified)
        {
            uint seq = Math.Max(_base.PrimarySequence, _base.SecondarySequence) + 1;
            _base.PrimarySequence = _base.SecondarySequence = seq;
            _base.LastWritten = DateTime.UtcNow.ToFileTimeUtc();
            _base.HiveBinsDataSize = (uint)_binsSize;
            _base.FileType = BaseBlock.PrimaryFileType;
            BinaryPrimitives.WriteInt64LittleEndian(_file.AsSpan(BaseBlock.Size + 20), _base.LastWritten); // first bin keeps a copy
            _base.Write(_file);
            _modified = false;
        }
        return _file.AsSpan(0, BaseBlock.Size + _binsSize).ToArray();
    }

    /// <summary>Writes the hive to <paramref name="path"/> through a temporary file renamed over it.</summary>
    public void Save(string path) => AtomicFile.WriteAllBytes(path, ToArray());

    // ---- Hive bins and cells -------------------------------------------------------------------------

    /// <summary>Walks every bin and cell once (§ Hive bin, § Cell): bins must chain without gaps, cells must tile their bin.</summary>
    private void ScanBins()
    {
        int pos = 0;
        while (pos < _binsSize)
        {
            if (pos + HiveBinHeader.Length > _binsSize) throw Corrupt(pos, "hive bin header runs past the hive bins data");
            var h = HiveBinHeader.Parse(_file.AsSpan(BaseBlock.Size + pos), Name, pos);
            if (h.Offset != pos) throw Corrupt(pos, $"hive bin says it is at offset 0x{h.Offset:X}, expected 0x{pos:X}");
            if (h.Size < HiveBinHeader.Alignment || h.Size % HiveBinHeader.Alignment != 0 || pos + (long)h.Size > _binsSize)
                throw Corrupt(pos, $"hive bin size {h.Size} is not a multiple of 4096 within the hive bins data");
            int end = pos + (int)h.Size;
            int cell = pos + HiveBinHeader.Length;
            while (cell < end)
            {
                long raw = BinaryPrimitives.ReadInt32LittleEndian(_file.AsSpan(BaseBlock.Size + cell));
                long size = Math.Abs(raw);
                if (size < 8 || size % 8 != 0 || cell + size > end)
                    throw Corrupt(cell, $"cell size {raw} is not a multiple of 8 within its hive bin (0x{pos:X}–0x{end:X})");
                if (raw > 0) AddFree(cell, (int)size);
                cell += (int)size;
            }
            _bins.Add((pos, (int)h.Size));
            pos = end;
        }
    }

    internal RegistryHiveException Corrupt(long offset, string message) => new(Name, offset, message);

    private int BinIndex(uint offset)
    {
        int lo = 0, hi = _bins.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            var (start, size) = _bins[mid];
            if (offset < start) hi = mid - 1;
            else if (offset >= start + (long)size) lo = mid + 1;
            else return mid;
        }
        return -1;
    }

    /// <summary>The data of the allocated cell at <paramref name="offset"/> (after its size field), checked against its bin.</summary>
    internal Span<byte> Cell(uint offset, string what = "cell")
    {
        int bin = offset == NoCell ? -1 : BinIndex(offset);
        if (bin < 0) throw Corrupt(offset, $"{what} offset 0x{offset:X} is outside the hive bins data");
        var (start, size) = _bins[bin];
        if (offset % 8 != 0 || offset < start + HiveBinHeader.Length)
            throw Corrupt(offset, $"{what} offset 0x{offset:X} is not a cell boundary");
        long raw = BinaryPrimitives.ReadInt32LittleEndian(_file.AsSpan(BaseBlock.Size + (int)offset));
        if (raw >= 0) throw Corrupt(offset, $"{what} at 0x{offset:X} is a free cell, expected an allocated one");
        long length = -raw;
        if (length < 8 || length % 8 != 0 || offset + length > start + (long)size)
            throw Corrupt(offset, $"{what} size {raw} is not a multiple of 8 within its hive bin");
        return _file.AsSpan(BaseBlock.Size + (int)offset + 4, (int)length - 4);
    }

    private static int Align8(long n) => checked((int)((n + 7) & ~7L));

    /// <summary>Allocates a cell for <paramref name="dataLength"/> bytes: first fit among free cells, else a new hive bin.</summary>
    internal uint Allocate(int dataLength)
    {
        int need = Align8(dataLength + 4L);
        int found = -1, foundSize = 0;
        foreach (var (start, size) in _free)
            if (size >= need) { found = start; foundSize = size; break; }
        if (found < 0) (found, foundSize) = AddBin(need);
        RemoveFree(found);
        if (foundSize - need >= 8)
        {
            AddFree(found + need, foundSize - need);
            SetCellSize(found + need, foundSize - need);
        }
        else need = foundSize;
        SetCellSize(found, -need);
        _file.AsSpan(BaseBlock.Size + found + 4, need - 4).Clear();
        _modified = true;
        return (uint)found;
    }

    /// <summary>Returns a cell to the free space, merged with free neighbours in the same bin.</summary>
    internal void Free(uint offset)
    {
        int length = Cell(offset).Length + 4;
        int start = (int)offset;
        var (binStart, binSize) = _bins[BinIndex(offset)];
        if (start + length < binStart + binSize && _free.TryGetValue(start + length, out int nextSize))
        {
            RemoveFree(start + length);
            length += nextSize;
        }
        if (_freeByEnd.TryGetValue(start, out int prev) && prev >= binStart)
        {
            RemoveFree(prev);
            length += start - prev;
            start = prev;
        }
        SetCellSize(start, length);
        AddFree(start, length);
        _modified = true;
    }

    private void SetCellSize(int offset, int size) => BinaryPrimitives.WriteInt32LittleEndian(_file.AsSpan(BaseBlock.Size + offset), size);

    private void AddFree(int start, int size)
    {
        _free[start] = size;
        _freeByEnd[start + size] = start;
    }

    private void RemoveFree(int start)
    {
        if (_free.Remove(start, out int size)) _freeByEnd.Remove(start + size);
    }

    /// <summary>Appends a hive bin big enough for a cell of <paramref name="cellSize"/> bytes; returns its one free cell.</summary>
    private (int Start, int Size) AddBin(int cellSize)
    {
        int binSize = checked((cellSize + HiveBinHeader.Length + HiveBinHeader.Alignment - 1) / HiveBinHeader.Alignment * HiveBinHeader.Alignment);
        if ((long)_binsSize + binSize > MaxHiveBytes) throw new IOException($"registry hive '{Name}' would grow past {MaxHiveBytes} bytes");
        int start = _binsSize;
        long needed = BaseBlock.Size + (long)start + binSize;
        if (needed > _file.Length) Array.Resize(ref _file, (int)Math.Min(Math.Max(needed, _file.Length * 2L), BaseBlock.Size + MaxHiveBytes));
        _file.AsSpan(BaseBlock.Size + start, binSize).Clear();
        new HiveBinHeader((uint)start, (uint)binSize, 0).Write(_file.AsSpan(BaseBlock.Size + start));
        _bins.Add((start, binSize));
        _binsSize += binSize;
        int cell = start + HiveBinHeader.Length;
        int size = binSize - HiveBinHeader.Length;
        SetCellSize(cell, size);
        AddFree(cell, size);
        return (cell, size);
    }

    /// <summary>Bytes in free cells (for tests and reports).</summary>
    public long FreeBytes => _free.Values.Sum(v => (long)v);
}
