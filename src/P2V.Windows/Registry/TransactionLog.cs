using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>
/// Brings a dirty hive up to date from its transaction logs (spec § Format of transaction log files, § Dirty state
/// of a hive, § Multiple transaction log files). Old format (.LOG of XP/2003, .LOG1/.LOG2 of Vista–8): a base block
/// copy, a "DIRT" dirty vector and the dirty 512-byte pages. New format (Windows 8.1+): a base block copy and
/// "HvLE" log entries, each hashed with Marvin32, applied in sequence order across .LOG1 then .LOG2.
/// </summary>
internal static class TransactionLog
{
    private const int Sector = 512;
    private const uint NewFormatFileType = 6;

    /// <summary>Whether any of the logs has the valid base block copy that <see cref="Recover"/> starts from.</summary>
    public static bool AnyUsable(params byte[]?[] logs) =>
        logs.Any(d => d is { Length: >= Sector } && d.AsSpan(0, 4).SequenceEqual("regf"u8) && BaseBlock.ChecksumValid(d));

    public static (byte[] File, BaseBlock Base) Recover(string hive, byte[] primary, BaseBlock? primaryBase,
        byte[]? log1, byte[]? log2, byte[]? log, string why)
    {
        var logs = new List<(string Name, byte[] Data, BaseBlock Base)>();
        var problems = new List<string>();
        foreach (var (suffix, data) in new[] { (".LOG1", log1), (".LOG2", log2), (".LOG", log) })
        {
            if (data is null) continue;
            if (data.Length < Sector) { problems.Add($"{suffix} is {data.Length} bytes"); continue; }
            if (!data.AsSpan(0, 4).SequenceEqual("regf"u8) || !BaseBlock.ChecksumValid(data))
            {
                problems.Add($"{suffix} has no valid base block copy");
                continue;
            }
            logs.Add((suffix, data, BaseBlock.Parse(data, hive)));
        }
        if (logs.Count == 0)
            throw new RegistryHiveException(hive, 4, $"{why} and no transaction log (.LOG1/.LOG2/.LOG) can bring it up to date"
                + (problems.Count > 0 ? $" ({string.Join("; ", problems)})" : "") + "; refusing to read it");

        if (logs.Any(l => l.Base.FileType == NewFormatFileType))
            return ApplyNewFormat(hive, primary, primaryBase, logs.Where(l => l.Base.FileType == NewFormatFileType).ToList(), why);
        return ApplyOldFormat(hive, primary, primaryBase, logs, why);
    }

    private static byte[] WithBase(byte[] primary, BaseBlock b, int binsSize)
    {
        var file = new byte[BaseBlock.Size + binsSize];
        primary.AsSpan(0, Math.Min(primary.Length, file.Length)).CopyTo(file);
        b.FileType = BaseBlock.PrimaryFileType;
        b.HiveBinsDataSize = (uint)binsSize;
        b.Write(file);
        return file;
    }

    private static int CheckedBinsSize(string hive, uint size, string log)
    {
        if (size == 0 || size % 4096 != 0 || size > RegistryHive.MaxHiveBytes)
            throw new RegistryHiveException(hive, 40, $"{log} gives hive bins data size {size}, expected a multiple of 4096 under {RegistryHive.MaxHiveBytes}");
        return (int)size;
    }

    // § Old format: an applicable log has the primary's Last written timestamp and equal sequence numbers.
    private static (byte[], BaseBlock) ApplyOldFormat(string hive, byte[] primary, BaseBlock? primaryBase,
        List<(string Name, byte[] Data, BaseBlock Base)> logs, string why)
    {
        long stamp = primaryBase?.LastWritten
            ?? (primary.Length >= BaseBlock.Size + 28 ? BinaryPrimitives.ReadInt64LittleEndian(primary.AsSpan(BaseBlock.Size + 20)) : 0);
        var reasons = new List<string>();
        foreach (var (name, data, b) in logs)
        {
            if (b.FileType is not (1 or 2)) { reasons.Add($"{name} has file type {b.FileType}"); continue; }
            if (b.SequenceMismatch) { reasons.Add($"{name} was itself left half-written"); continue; }
            if (b.LastWritten != stamp) { reasons.Add($"{name} belongs to another write of the hive (timestamp differs)"); continue; }
            if (data.Length < Sector + 4 || !data.AsSpan(Sector, 4).SequenceEqual("DIRT"u8)) { reasons.Add($"{name} has no 'DIRT' dirty vector"); continue; }
            int binsSize = CheckedBinsSize(hive, b.HiveBinsDataSize, name);
            int pages = binsSize / Sector;
            int bitmapBytes = (pages + 7) / 8;
            if (Sector + 4L + bitmapBytes > data.Length) { reasons.Add($"{name} dirty vector is truncated"); continue; }
            var bitmap = data.AsSpan(Sector + 4, bitmapBytes);
            long pageAt = (Sector + 4L + bitmapBytes + Sector - 1) / Sector * Sector;
            var file = WithBase(primary, b, binsSize);
            bool complete = true;
            for (int bit = 0; bit < pages; bit++)
            {
                if ((bitmap[bit / 8] & (1 << (bit % 8))) == 0) continue;
                if (pageAt + Sector > data.Length) { complete = false; break; }
                data.AsSpan((int)pageAt, Sector).CopyTo(file.AsSpan(BaseBlock.Size + bit * Sector));
                pageAt += Sector;
            }
            if (!complete) { reasons.Add($"{name} ends before its last dirty page"); continue; }
            var recovered = BaseBlock.Parse(file, hive);
            recovered.PrimarySequence = recovered.SecondarySequence = Math.Max(b.PrimarySequence, b.SecondarySequence);
            recovered.Write(file);
            return (file, recovered);
        }
        throw new RegistryHiveException(hive, 4, $"{why} and no transaction log applies: {string.Join("; ", reasons)}");
    }

    // § New format › Log entries, notes 4–7; § Multiple transaction log files › New format.
    private static (byte[], BaseBlock) ApplyNewFormat(string hive, byte[] primary, BaseBlock? primaryBase,
        List<(string Name, byte[] Data, BaseBlock Base)> logs, string why)
    {
        var entries = new List<(uint Sequence, int BinsSize, string Log, byte[] Data, int At, int Size, int Pages)>();
        foreach (var (name, data, _) in logs)
        {
            for (int at = Sector; at + 40 <= data.Length;)
            {
                var e = data.AsSpan(at);
                if (!e[..4].SequenceEqual("HvLE"u8)) break;
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
                if (size < 40 || size % Sector != 0 || size > e.Length) break;
                uint pages = BinaryPrimitives.ReadUInt32LittleEndian(e[20..]);
                if (pages > (size - 40) / 8) break;
                ulong hash1 = BinaryPrimitives.ReadUInt64LittleEndian(e[24..]);
                ulong hash2 = BinaryPrimitives.ReadUInt64LittleEndian(e[32..]);
                if (Marvin32.Compute(e.Slice(40, (int)size - 40)) != hash1 || Marvin32.Compute(e[..32]) != hash2) break; // note 7: stop at a bogus entry
                uint binsSize = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
                if (binsSize == 0 || binsSize % 4096 != 0 || binsSize > RegistryHive.MaxHiveBytes) break;
                entries.Add((BinaryPrimitives.ReadUInt32LittleEndian(e[12..]), (int)binsSize, name, data, at, (int)size, (int)pages));
                at += (int)size;
            }
        }
        // The first entry to apply carries the primary's secondary sequence number (the write that did not finish);
        // each next one is one more, possibly in the other log.
        BaseBlock b = primaryBase ?? BaseBlock.Parse(logs[0].Data, hive);
        uint expected = b.SecondarySequence;
        var ordered = entries.Where(x => x.Sequence >= expected).OrderBy(x => x.Sequence).ToList();
        if (ordered.Count == 0 || ordered[0].Sequence != expected)
            throw new RegistryHiveException(hive, 4,
                $"{why} and its transaction logs hold no entry with sequence number {expected} ({entries.Count} valid entries found); refusing to read it");
        byte[] file = primary;
        int binsSizeNow = (int)b.HiveBinsDataSize;
        uint last = expected;
        foreach (var x in ordered)
        {
            if (x.Sequence != last && x.Sequence != last + 1) break;
            if (x.BinsSize != binsSizeNow || file.Length < BaseBlock.Size + x.BinsSize)
            {
                var grown = new byte[BaseBlock.Size + x.BinsSize];
                file.AsSpan(0, Math.Min(file.Length, grown.Length)).CopyTo(grown);
                file = grown;
                binsSizeNow = x.BinsSize;
            }
            var e = x.Data.AsSpan(x.At, x.Size);
            int pageAt = 40 + x.Pages * 8;
            for (int i = 0; i < x.Pages; i++)
            {
                uint offset = BinaryPrimitives.ReadUInt32LittleEndian(e[(40 + i * 8)..]);
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(e[(44 + i * 8)..]);
                if (size > e.Length - pageAt || offset + (long)size > x.BinsSize)
                    throw new RegistryHiveException(hive, offset, $"{x.Log} entry {x.Sequence}: dirty page of {size} bytes at 0x{offset:X} runs past the entry or the hive");
                e.Slice(pageAt, (int)size).CopyTo(file.AsSpan(BaseBlock.Size + (int)offset));
                pageAt += (int)size;
            }
            last = x.Sequence;
        }
        if (ReferenceEquals(file, primary)) file = (byte[])primary.Clone();
        b.PrimarySequence = b.SecondarySequence = last;
        b.HiveBinsDataSize = (uint)binsSizeNow;
        b.FileType = BaseBlock.PrimaryFileType;
        b.Write(file);
        return (file, b);
    }
}
