using System.IO.Hashing;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Disks;

/// <summary>
/// How a disk is divided: the partition table kind, its partitions (the volumes to capture), the byte ranges
/// of the table structures themselves (which a restore writes back verbatim), and the rest of the disk.
/// Reads only the table sectors, never the partitions' contents.
/// </summary>
public sealed class DiskLayout
{
    private DiskLayout(
        PartitionTableKind kind, int sectorSize, long diskLength, uint? mbrSignature, Guid? diskGuid,
        List<PartitionEntry> partitions, PartitionEntry? extended, List<Extent> tableRegions, List<string> warnings)
    {
        Kind = kind;
        SectorSize = sectorSize;
        DiskLength = diskLength;
        MbrSignature = mbrSignature;
        DiskGuid = diskGuid;
        Partitions = partitions;
        ExtendedPartition = extended;
        TableRegions = UsedExtentMap.From(tableRegions, diskLength).Extents;
        Warnings = warnings;
    }

    public PartitionTableKind Kind { get; }
    public int SectorSize { get; }
    public long DiskLength { get; }

    /// <summary>The 32-bit MBR disk signature (also present in a GPT disk's protective MBR); null when there is no MBR.</summary>
    public uint? MbrSignature { get; }

    public Guid? DiskGuid { get; }

    /// <summary>Data partitions (MBR primaries and logicals, or GPT entries) ordered by number; never the extended container.</summary>
    public IReadOnlyList<PartitionEntry> Partitions { get; }

    /// <summary>The MBR extended partition that holds the logical partitions and their EBRs, if any.</summary>
    public PartitionEntry? ExtendedPartition { get; }

    /// <summary>
    /// Byte ranges, sorted and merged, holding partition-table structures a restore must reproduce: sector 0,
    /// every EBR sector, the GPT primary header and entry array, the backup entry array and backup header.
    /// </summary>
    public IReadOnlyList<Extent> TableRegions { get; }

    /// <summary>Things that were wrong but recoverable, such as a corrupt primary GPT replaced by the backup.</summary>
    public IReadOnlyList<string> Warnings { get; }

    public static DiskLayout Read(IVirtualDisk disk) => Read(disk, disk.SectorSize);

    public static DiskLayout Read(IVirtualDisk disk, int sectorSize)
    {
        if (sectorSize is not (512 or 1024 or 2048 or 4096))
            throw new ArgumentOutOfRangeException(nameof(sectorSize), sectorSize, "the sector size must be 512, 1024, 2048 or 4096 bytes");
        return new Reader(disk, sectorSize).Read();
    }

    /// <summary>Everything that is neither inside a partition nor a table region: captured raw (zero blocks skipped by the pipeline).</summary>
    public UsedExtentMap UnpartitionedSpace()
    {
        var taken = UsedExtentMap.From(Partitions.Select(p => p.Extent).Concat(TableRegions), DiskLength).Extents;
        var gaps = new List<Extent>();
        long pos = 0;
        foreach (var e in taken)
        {
            if (e.Offset > pos) gaps.Add(new Extent(pos, e.Offset - pos));
            pos = Math.Max(pos, e.End);
        }
        if (pos < DiskLength) gaps.Add(new Extent(pos, DiskLength - pos));
        return UsedExtentMap.From(gaps, DiskLength);
    }

    private sealed class Reader(IVirtualDisk disk, int sectorSize)
    {
        private readonly long _sectors = disk.Length / sectorSize;
        private readonly List<PartitionEntry> _partitions = [];
        private readonly List<Extent> _regions = [];
        private readonly List<string> _warnings = [];

        public DiskLayout Read()
        {
            if (_sectors < 1) return Build(PartitionTableKind.None, null, null, null);
            var sector0 = ReadSectors(0, 1);
            if (!MasterBootRecord.HasSignature(sector0)) return Build(PartitionTableKind.None, null, null, null);

            var mbr = MasterBootRecord.Parse(sector0);
            bool volumeBootSector = MasterBootRecord.LooksLikeVolumeBootSector(sector0);
            if (!mbr.HasValidEntries)
            {
                // Linux's msdos parser draws the same line: a boot indicator other than 0x00/0x80 means no table.
                if (!volumeBootSector) _warnings.Add("sector 0 ends in 0x55AA but its partition entries are invalid; treated as unpartitioned");
                return Build(PartitionTableKind.None, null, null, null);
            }
            if (volumeBootSector && mbr.Entries.All(e => e.IsEmpty)) return Build(PartitionTableKind.None, null, null, null);
            if (volumeBootSector && mbr.Entries.Any(e => !e.IsEmpty && e.StartLba == 0))
            {
                // mkfs.fat --mbr and some USB sticks: a volume boot sector whose "partition" is the volume itself.
                _warnings.Add("sector 0 is a volume boot sector with a partition entry covering the whole volume (a fake MBR); treated as a bare volume");
                return Build(PartitionTableKind.None, null, null, null);
            }

            _regions.Add(new Extent(0, sectorSize));
            if (mbr.Entries.Any(e => e.Type == MbrPartitionEntry.ProtectiveGptType))
            {
                if (mbr.Entries.Any(e => !e.IsEmpty && e.Type != MbrPartitionEntry.ProtectiveGptType))
                    _warnings.Add("hybrid MBR: sector 0 holds MBR partitions beside the protective 0xEE entry; the GPT is used and sector 0 is kept as it is");
                var guid = ReadGpt();
                return Build(PartitionTableKind.Gpt, mbr.DiskSignature, guid, null);
            }
            var extended = ReadMbr(mbr);
            return Build(PartitionTableKind.Mbr, mbr.DiskSignature, null, extended);
        }

        private DiskLayout Build(PartitionTableKind kind, uint? signature, Guid? guid, PartitionEntry? extended)
        {
            _partitions.Sort((a, b) => a.Number.CompareTo(b.Number));
            CheckOverlaps(extended);
            return new DiskLayout(kind, sectorSize, disk.Length, signature, guid, _partitions, extended, _regions, _warnings);
        }

        private PartitionEntry? ReadMbr(MasterBootRecord mbr)
        {
            PartitionEntry? extended = null;
            for (int slot = 0; slot < 4; slot++)
            {
                var e = mbr.Entries[slot];
                if (e.IsEmpty) continue;
                long entryOffset = MasterBootRecord.EntriesOffset + slot * MbrPartitionEntry.Size;
                if (e.Type == MbrPartitionEntry.LdmType)
                    throw new DynamicDiskException(entryOffset, $"MBR partition {slot + 1} has type 0x42 (LDM)");
                var entry = MbrPartition(slot + 1, e.StartLba, e.SectorCount, e, logical: false, entryOffset);
                if (e.IsExtended)
                {
                    if (extended != null)
                        throw new PartitionTableException(entryOffset, $"MBR partition {slot + 1} is a second extended partition; expected at most one");
                    extended = entry;
                }
                else
                {
                    _partitions.Add(entry);
                }
            }
            if (extended != null) ReadLogicals(extended);
            return extended;
        }

        private void ReadLogicals(PartitionEntry extended)
        {
            long extStart = extended.Offset / sectorSize, extSectors = extended.Length / sectorSize;
            var chain = ExtendedBootRecord.ReadChain(lba => ReadSectors(lba, 1), sectorSize, extStart, extSectors);
            if (chain.Count == 0) _regions.Add(new Extent(extended.Offset, sectorSize));
            int number = 5;
            foreach (var ebr in chain)
            {
                long ebrOffset = ebr.Lba * sectorSize;
                _regions.Add(new Extent(ebrOffset, sectorSize));
                var l = ebr.Logical;
                if (l.IsEmpty || l.IsExtended) continue;
                long entryOffset = ebrOffset + MasterBootRecord.EntriesOffset;
                if (l.Type == MbrPartitionEntry.LdmType)
                    throw new DynamicDiskException(entryOffset, $"logical partition {number} has type 0x42 (LDM)");
                var entry = MbrPartition(number, ebr.LogicalStartLba, l.SectorCount, l, logical: true, entryOffset);
                if (entry.Offset < extended.Offset || entry.End > extended.End)
                    throw new PartitionTableException(entryOffset,
                        $"logical partition {number} [{entry.Offset:N0}, {entry.End:N0}) lies outside its extended partition [{extended.Offset:N0}, {extended.End:N0})");
                _partitions.Add(entry);
                number++;
            }
        }

        private PartitionEntry MbrPartition(int number, long startLba, long sectors, MbrPartitionEntry e, bool logical, long entryOffset)
        {
            long offset = startLba * sectorSize, length = sectors * sectorSize;
            if (startLba == 0)
                throw new PartitionTableException(entryOffset, $"MBR partition {number} starts at sector 0, on top of the MBR");
            if (offset + length > disk.Length)
                throw new PartitionTableException(entryOffset,
                    $"MBR partition {number} [{offset:N0}, {offset + length:N0}) runs past the end of the {disk.Length:N0}-byte disk");
            return new PartitionEntry(number, offset, length, e.Type, Guid.Empty, Guid.Empty, "", e.IsBootable, logical);
        }

        private Guid ReadGpt()
        {
            long lastLba = _sectors - 1;
            Gpt? primary = null, backup = null;
            string? primaryError = null, backupError = null;
            try { primary = ReadGptAt(1, expectedAlternate: null); }
            catch (PartitionTableException ex) { primaryError = ex.Message; }

            long backupLba = primary != null && primary.Header.AlternateLba <= (ulong)lastLba ? (long)primary.Header.AlternateLba : lastLba;
            try { backup = ReadGptAt(backupLba, expectedAlternate: 1); }
            catch (PartitionTableException ex) { backupError = ex.Message; }

            if (primary == null && backup == null)
                throw new PartitionTableException(sectorSize, $"both GPT headers are unusable. Primary: {primaryError} Backup: {backupError}");
            var used = primary ?? backup!;
            if (primary == null)
                _warnings.Add($"the primary GPT is corrupt ({primaryError}); using the backup GPT at sector {backupLba}");
            else if (backup == null)
                _warnings.Add($"the backup GPT is unusable ({backupError}); using the primary GPT");
            else if (primary.Header.PartitionEntryArrayCrc32 != backup.Header.PartitionEntryArrayCrc32)
                _warnings.Add("the primary and backup GPT entry arrays differ; using the primary");
            if (primary != null && primary.Header.AlternateLba != (ulong)lastLba)
                _warnings.Add($"the GPT's backup header is expected at sector {primary.Header.AlternateLba} but the disk's last sector is {lastLba}");

            // Regions of both copies, whether or not each was readable, so that a restore writes a complete GPT.
            long arraySectors = (used.Header.EntryArrayBytes + sectorSize - 1) / sectorSize;
            long primaryEntryLba = primary != null ? (long)primary.Header.PartitionEntryLba : 2;
            long backupHeaderLba = backupLba;
            long backupEntryLba = backup != null ? (long)backup.Header.PartitionEntryLba : backupHeaderLba - arraySectors;
            _regions.Add(new Extent(sectorSize, sectorSize));
            _regions.Add(new Extent(primaryEntryLba * sectorSize, arraySectors * sectorSize));
            if (backupEntryLba > 0) _regions.Add(new Extent(backupEntryLba * sectorSize, arraySectors * sectorSize));
            _regions.Add(new Extent(backupHeaderLba * sectorSize, sectorSize));

            var h = used.Header;
            long entryBase = (long)h.PartitionEntryLba * sectorSize;
            for (int i = 0; i < used.Entries.Length; i++)
            {
                var e = used.Entries[i];
                if (e.IsEmpty) continue;
                long entryOffset = entryBase + (long)i * h.SizeOfPartitionEntry;
                if (e.TypeGuid == GptPartitionTypes.LdmMetadata || e.TypeGuid == GptPartitionTypes.LdmData)
                    throw new DynamicDiskException(entryOffset,
                        $"GPT partition {i + 1} has the LDM {(e.TypeGuid == GptPartitionTypes.LdmData ? "data" : "metadata")} type {e.TypeGuid.ToString().ToUpperInvariant()}");
                if (e.StartingLba > e.EndingLba)
                    throw new PartitionTableException(entryOffset, $"GPT partition {i + 1} ends at LBA {e.EndingLba}, before its start {e.StartingLba}");
                if (e.StartingLba < h.FirstUsableLba || e.EndingLba > h.LastUsableLba)
                    throw new PartitionTableException(entryOffset,
                        $"GPT partition {i + 1} [LBA {e.StartingLba}, {e.EndingLba}] lies outside the usable range [{h.FirstUsableLba}, {h.LastUsableLba}]");
                if (e.EndingLba > (ulong)lastLba)
                    throw new PartitionTableException(entryOffset,
                        $"GPT partition {i + 1} ends at LBA {e.EndingLba}, past the disk's last sector {lastLba}");
                long offset = (long)e.StartingLba * sectorSize, length = (long)(e.EndingLba - e.StartingLba + 1) * sectorSize;
                _partitions.Add(new PartitionEntry(i + 1, offset, length, 0, e.TypeGuid, e.UniqueGuid, e.Name, e.LegacyBiosBootable, false));
            }
            return h.DiskGuid;
        }

        private sealed record Gpt(GptHeader Header, GptPartitionEntry[] Entries);

        /// <summary>Reads and validates one GPT copy: header at <paramref name="lba"/>, its entry array and that array's CRC.</summary>
        private Gpt ReadGptAt(long lba, long? expectedAlternate)
        {
            long offset = lba * sectorSize;
            if (lba < 1 || lba >= _sectors) throw new PartitionTableException(offset, $"GPT header sector {lba} is outside the disk");
            var header = GptHeader.Parse(ReadSectors(lba, 1), offset);
            if (header.MyLba != (ulong)lba)
                throw new PartitionTableException(offset, $"GPT header at sector {lba} says it is at sector {header.MyLba}");
            if (expectedAlternate is long alt && header.AlternateLba != (ulong)alt)
                throw new PartitionTableException(offset, $"backup GPT header's alternate LBA is {header.AlternateLba}; expected {alt}");
            if (header.LastUsableLba >= (ulong)_sectors)
                throw new PartitionTableException(offset, $"GPT last usable LBA {header.LastUsableLba} is past the disk's last sector {_sectors - 1}");
            long arraySectors = (header.EntryArrayBytes + sectorSize - 1) / sectorSize;
            if (header.PartitionEntryLba < 1 || header.PartitionEntryLba + (ulong)arraySectors > (ulong)_sectors)
                throw new PartitionTableException(offset, $"GPT entry array at sector {header.PartitionEntryLba} ({arraySectors} sectors) runs past the disk");
            var array = ReadSectors((long)header.PartitionEntryLba, arraySectors).AsSpan(0, (int)header.EntryArrayBytes);
            uint crc = Crc32.HashToUInt32(array);
            if (crc != header.PartitionEntryArrayCrc32)
                throw new PartitionTableException((long)header.PartitionEntryLba * sectorSize,
                    $"GPT entry array CRC32 is 0x{crc:X8}; the header at sector {lba} expects 0x{header.PartitionEntryArrayCrc32:X8}");
            var entries = new GptPartitionEntry[header.NumberOfPartitionEntries];
            for (int i = 0; i < entries.Length; i++)
                entries[i] = GptPartitionEntry.Parse(array.Slice(i * (int)header.SizeOfPartitionEntry, (int)header.SizeOfPartitionEntry));
            return new Gpt(header, entries);
        }

        /// <summary>Partitions must not overlap each other nor any table structure (an EBR inside a logical, a partition over the GPT).</summary>
        private void CheckOverlaps(PartitionEntry? extended)
        {
            var sorted = _partitions.OrderBy(p => p.Offset).ToList();
            for (int i = 1; i < sorted.Count; i++)
            {
                if (sorted[i].Offset < sorted[i - 1].End)
                    throw new PartitionTableException(sorted[i].Offset,
                        $"partition {sorted[i].Number} [{sorted[i].Offset:N0}, {sorted[i].End:N0}) overlaps partition {sorted[i - 1].Number} [{sorted[i - 1].Offset:N0}, {sorted[i - 1].End:N0})");
            }
            if (extended != null)
            {
                foreach (var p in sorted.Where(p => !p.IsLogical && p.Offset < extended.End && extended.Offset < p.End))
                    throw new PartitionTableException(p.Offset, $"primary partition {p.Number} overlaps the extended partition {extended.Number}");
            }
            foreach (var r in _regions)
            {
                foreach (var p in sorted.Where(p => p.Offset < r.End && r.Offset < p.End))
                    throw new PartitionTableException(r.Offset, $"partition {p.Number} [{p.Offset:N0}, {p.End:N0}) overlaps the partition-table structure at {r}");
            }
        }

        private byte[] ReadSectors(long lba, long count)
        {
            long offset = lba * sectorSize, length = count * sectorSize;
            if (lba < 0 || offset + length > disk.Length)
                throw new PartitionTableException(offset, $"sector {lba} (+{count}) lies past the end of the {disk.Length:N0}-byte disk");
            var buffer = new byte[length];
            disk.ReadAt(offset, buffer);
            return buffer;
        }
    }
}
