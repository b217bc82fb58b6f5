using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The MFT: records read by number (fix-ups checked and removed), files put together from their base record
/// and the extension records their $ATTRIBUTE_LIST names, attributes joined from their fragments; and records
/// written back with fresh fix-ups, the first ones to $MFTMirr as well.
/// </summary>
internal sealed class MasterFileTable
{
    /// <summary>Windows caps an $ATTRIBUTE_LIST at 256 KiB; anything far beyond that is corruption.</summary>
    public const long MaxAttributeListSize = 1 << 20;

    private readonly IVirtualDisk _disk;
    private readonly NtfsBootSector _bootSector;
    private readonly AttributeReader _io;

    public MasterFileTable(IVirtualDisk disk, NtfsBootSector bootSector, AttributeReader io)
    {
        _disk = disk;
        _bootSector = bootSector;
        _io = io;
        Data = OpenMft();
    }

    /// <summary>$MFT's own $DATA; reloaded when a write extends $MFT.</summary>
    public AttributeData Data { get; private set; }

    /// <summary>
    /// $MFT describes itself: read record 0 where the boot sector says, take the runlist of its $DATA, and
    /// if $MFT is so fragmented that it has an attribute list, use that first runlist to reach the
    /// extension records holding the rest.
    /// </summary>
    public void Reload() => Data = OpenMft();

    private AttributeData OpenMft()
    {
        long offset = _bootSector.MftLcn * _bootSector.ClusterSize;
        if (offset + _bootSector.FileRecordSize > _disk.Length)
            throw new NtfsException(NtfsBootSector.MftLcnField, "$MFT: record 0 lies past the end of the volume");
        var buffer = new byte[_bootSector.FileRecordSize];
        _disk.ReadAt(offset, buffer);
        var record = FileRecord.Parse(buffer, SystemFiles.Mft, offset);
        var first = record.Attributes.FirstOrDefault(a => a.Type == AttributeType.Data && a.Name.Length == 0 && a.Header.IsNonResident && a.Header.LowestVcn == 0)
            ?? throw new NtfsException(offset, "$MFT: record 0 has no non-resident unnamed $DATA starting at VCN 0");
        var mft = AttributeData.FromFragments([first], _bootSector.TotalClusters, "$MFT");
        if (mft.InitializedSize < (SystemFiles.UpCase + 1) * _bootSector.FileRecordSize)
            throw new NtfsException(first.VolumeOffset, $"$MFT: {mft.InitializedSize} bytes cannot hold the system files");
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

    public FileRecord Read(long number)
    {
        var mft = _mftBootstrap ?? Data;
        int size = _bootSector.FileRecordSize;
        long count = mft.InitializedSize / size;
        if (number < 0 || number >= count)
            throw new NtfsException(mft.VolumeOffset, $"MFT record {number} lies beyond the {count} records of $MFT");
        var buffer = new byte[size];
        _io.Read(mft, number * size, buffer);
        return FileRecord.Parse(buffer, number, _io.VolumeOffsetOf(mft, number * size));
    }

    /// <summary>Reads a base record and gathers the file's attributes; <paramref name="what"/> names the file for errors.</summary>
    public NtfsFile Open(FileReference reference, string what)
    {
        var record = Read(reference.RecordNumber);
        if (!record.InUse)
            throw new NtfsException(record.VolumeOffset + 0x16, $"{what}: MFT record {record.RecordNumber} is not in use");
        if (reference.SequenceNumber != 0 && reference.SequenceNumber != record.SequenceNumber)
            throw new NtfsException(record.VolumeOffset + 0x10, $"{what}: reference {reference} is stale, MFT record {record.RecordNumber} has sequence number {record.SequenceNumber}");
        if (record.IsExtension)
            throw new NtfsException(record.VolumeOffset + 0x20, $"{what}: MFT record {record.RecordNumber} is an extension of record {record.BaseRecord.RecordNumber}, not a base record");
        return WithExtensions(record);
    }

    /// <summary>The base record's attributes plus those in the extension records its $ATTRIBUTE_LIST names; each record is read once.</summary>
    public NtfsFile WithExtensions(FileRecord record)
    {
        var listAttribute = record.Attributes.FirstOrDefault(a => a.Type == AttributeType.AttributeList);
        if (listAttribute is null) return new NtfsFile(record, record.Attributes);

        string what = $"MFT record {record.RecordNumber} $ATTRIBUTE_LIST";
        var list = AttributeData.FromFragments([listAttribute], _bootSector.TotalClusters, what);
        if (list.DataSize > MaxAttributeListSize)
            throw new NtfsException(listAttribute.VolumeOffset, $"{what}: {list.DataSize} bytes, more than the {MaxAttributeListSize} any volume needs");
        var bytes = new byte[list.DataSize];
        _io.Read(list, 0, bytes);

        var attributes = record.Attributes.Where(a => a.Type != AttributeType.AttributeList).ToList();
        var seen = new HashSet<long> { record.RecordNumber };
        foreach (var entry in AttributeList.Parse(bytes, listAttribute.VolumeOffset, what))
        {
            long number = entry.Record.RecordNumber;
            if (!seen.Add(number)) continue;
            var extension = Read(number);
            if (!extension.InUse || extension.BaseRecord.RecordNumber != record.RecordNumber)
                throw new NtfsException(extension.VolumeOffset, $"{what}: names MFT record {number}, which is {(extension.InUse ? $"based on record {extension.BaseRecord.RecordNumber}" : "not in use")}");
            // An extension record's own attribute list (there should be none) is not followed: no loops.
            attributes.AddRange(extension.Attributes.Where(a => a.Type != AttributeType.AttributeList));
        }
        return new NtfsFile(record, attributes);
    }

    public AttributeData? OpenAttribute(NtfsFile file, AttributeType type, string name)
    {
        var fragments = file.Find(type, name);
        return fragments.Count == 0 ? null
            : AttributeData.FromFragments(fragments, _bootSector.TotalClusters, $"MFT record {file.RecordNumber} attribute 0x{(uint)type:X}{(name.Length > 0 ? ":" + name : "")}");
    }

    /// <summary>A record as bytes to change, checked and with its fix-ups removed.</summary>
    public FileRecordEditor ReadForEdit(long number)
    {
        int size = _bootSector.FileRecordSize;
        long count = Data.InitializedSize / size;
        if (number < 0 || number >= count) throw new NtfsException(Data.VolumeOffset, $"MFT record {number} lies beyond the {count} records of $MFT");
        var buffer = new byte[size];
        _io.Read(Data, number * size, buffer);
        long at = _io.VolumeOffsetOf(Data, number * size);
        FileRecord.Parse(buffer, number, at); // checks it and takes the fix-ups off
        return new FileRecordEditor(buffer, number, at);
    }

    /// <summary>Writes a record with fresh fix-ups; the first records also go to $MFTMirr, which must stay identical.</summary>
    public void Write(FileRecordEditor record, bool allowUninitialized = false)
    {
        int size = _bootSector.FileRecordSize;
        long offset = record.RecordNumber * size;
        if (!allowUninitialized && offset + size > Data.InitializedSize)
            throw new InvalidOperationException($"MFT record {record.RecordNumber} lies past $MFT's initialized size");
        var bytes = record.Protected();
        _io.Write(Data, offset, bytes);
        if (record.RecordNumber < MirroredRecords)
        {
            var mirror = Open(FileReference.Of(SystemFiles.MftMirror), "$MFTMirr");
            var data = OpenAttribute(mirror, AttributeType.Data, "") ?? throw new NtfsException(mirror.BaseRecord.VolumeOffset, "$MFTMirr: no unnamed $DATA attribute");
            if (offset + size <= data.DataSize) _io.Write(data, offset, bytes);
        }
    }

    /// <summary>How many records $MFTMirr holds: 4, or a cluster's worth when a cluster holds more (ntfs-3g volume.c mftmirr_size).</summary>
    public int MirroredRecords => _bootSector.ClusterSize <= 4 * _bootSector.FileRecordSize ? 4 : _bootSector.ClusterSize / _bootSector.FileRecordSize;

    /// <summary>$MFT's $BITMAP: which records are in use.</summary>
    public (AttributeData Attribute, byte[] Bits) ReadBitmap()
    {
        var mft = Open(FileReference.Of(SystemFiles.Mft), "$MFT");
        var bitmap = OpenAttribute(mft, AttributeType.Bitmap, "") ?? throw new NtfsException(mft.BaseRecord.VolumeOffset, "$MFT: no $BITMAP attribute");
        if (bitmap.DataSize > 64L << 20) throw new NtfsException(bitmap.VolumeOffset, $"$MFT: $BITMAP of {bitmap.DataSize} bytes");
        var bits = new byte[bitmap.DataSize];
        _io.Read(bitmap, 0, bits);
        return (bitmap, bits);
    }
}
