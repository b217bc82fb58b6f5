namespace P2V.Imaging.Disks;

/// <summary>
/// One extended boot record of an MBR extended partition: an MBR-shaped sector whose first entry is a logical
/// partition (start relative to this EBR) and whose second entry links to the next EBR (start relative to the
/// extended partition's first sector). Entries 3 and 4 are unused. Layout as in the MBR, UEFI spec 2.10 §5.2.1;
/// the chaining convention is the one DOS/Windows and Linux (block/partitions/msdos.c) use.
/// </summary>
public sealed class ExtendedBootRecord
{
    private ExtendedBootRecord(long lba, MbrPartitionEntry logical, MbrPartitionEntry next)
    {
        Lba = lba;
        Logical = logical;
        Next = next;
    }

    /// <summary>Where this EBR sits, in sectors from the start of the disk.</summary>
    public long Lba { get; }

    public MbrPartitionEntry Logical { get; }

    public MbrPartitionEntry Next { get; }

    /// <summary>The absolute first sector of the logical partition described here.</summary>
    public long LogicalStartLba => Lba + Logical.StartLba;

    public static ExtendedBootRecord Parse(ReadOnlySpan<byte> sector, long lba)
    {
        var record = MasterBootRecord.Parse(sector);
        return new ExtendedBootRecord(lba, record.Entries[0], record.Entries[1]);
    }

    /// <summary>
    /// Walks the chain of EBRs of the extended partition [<paramref name="extendedStartLba"/>, + <paramref name="extendedSectors"/>).
    /// Every link must stay inside the extended partition and no EBR may be visited twice, so a looping or
    /// wild chain ends in an exception instead of a hang.
    /// </summary>
    public static List<ExtendedBootRecord> ReadChain(
        Func<long, byte[]> readSector, int sectorSize, long extendedStartLba, long extendedSectors)
    {
        const int MaxLogicalPartitions = 1024; // far beyond any real disk; bounds memory on hostile input
        var chain = new List<ExtendedBootRecord>();
        var visited = new HashSet<long>();
        long lba = extendedStartLba;
        while (true)
        {
            long offset = lba * sectorSize;
            visited.Add(lba);
            if (chain.Count >= MaxLogicalPartitions)
                throw new PartitionTableException(offset, $"more than {MaxLogicalPartitions} logical partitions; expected a finite EBR chain");
            var sector = readSector(lba);
            if (!MasterBootRecord.HasSignature(sector))
            {
                // An extended partition that holds no logical partition yet may start with a zeroed sector.
                if (chain.Count == 0 && !sector.AsSpan(0, MasterBootRecord.Size).ContainsAnyExcept((byte)0)) return chain;
                throw new PartitionTableException(offset, $"EBR #{chain.Count + 1} at sector {lba} lacks the 0x55AA signature");
            }
            var ebr = Parse(sector, lba);
            chain.Add(ebr);
            if (ebr.Next.IsEmpty) return chain;
            if (!ebr.Next.IsExtended)
                throw new PartitionTableException(offset + MasterBootRecord.EntriesOffset + MbrPartitionEntry.Size,
                    $"EBR #{chain.Count} links on with type 0x{ebr.Next.Type:X2}; expected an extended type (0x05/0x0F/0x85)");
            long next = extendedStartLba + ebr.Next.StartLba, linkOffset = offset + MasterBootRecord.EntriesOffset + MbrPartitionEntry.Size;
            if (ebr.Next.StartLba >= extendedSectors)
                throw new PartitionTableException(linkOffset,
                    $"EBR #{chain.Count} links to sector {next}, outside the extended partition [{extendedStartLba}, {extendedStartLba + extendedSectors})");
            if (visited.Contains(next))
                throw new PartitionTableException(linkOffset,
                    $"EBR #{chain.Count} at sector {lba} links back to sector {next}, which the chain already visited: the EBR chain loops; expected each EBR once");
            lba = next;
        }
    }
}
