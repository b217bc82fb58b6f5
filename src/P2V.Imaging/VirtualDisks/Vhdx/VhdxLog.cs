using System.Buffers.Binary;

namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>A zero descriptor (MS-VHDX 2.3.1.2) or a data descriptor with its 4 KiB sector (2.3.1.3, 2.3.1.4).</summary>
public readonly record struct VhdxLogUpdate(long FileOffset, long ZeroLength, byte[]? Sector);

/// <summary>
/// One log entry (MS-VHDX 2.3.1.1): a 64-byte header ("loge", CRC-32C over the whole entry, length, tail, sequence
/// number, descriptor count, log GUID, flushed and last file offsets), its 32-byte descriptors, then one 4 KiB
/// data sector per data descriptor.
/// </summary>
public sealed record VhdxLogEntry(uint Length, uint Tail, ulong SequenceNumber, Guid LogGuid, ulong FlushedFileOffset, ulong LastFileOffset, IReadOnlyList<VhdxLogUpdate> Updates)
{
    public const int HeaderSize = 64, DescriptorSize = 32, SectorSize = 4096;

    /// <summary>Parses the entry at the start of <paramref name="b"/>, or returns null if it is not a valid entry of log <paramref name="logGuid"/>.</summary>
    public static VhdxLogEntry? TryParse(ReadOnlySpan<byte> b, Guid logGuid)
    {
        if (b.Length < SectorSize || !b[..4].SequenceEqual("loge"u8)) return null;
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        if (length < SectorSize || length % SectorSize != 0 || length > b.Length) return null;
        var entry = b[..(int)length];
        if (BinaryPrimitives.ReadUInt32LittleEndian(b[4..]) != Crc32C.Compute(entry, 4)) return null;
        ulong sequence = BinaryPrimitives.ReadUInt64LittleEndian(b[16..]);
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]);
        var guid = new Guid(b[32..48]);
        if (sequence == 0 || guid != logGuid) return null;
        long descriptorSectors = (HeaderSize + (long)count * DescriptorSize + SectorSize - 1) / SectorSize;
        if (descriptorSectors * SectorSize > length) return null;
        var updates = new List<VhdxLogUpdate>((int)Math.Min(count, 4096));
        long dataAt = descriptorSectors * SectorSize;
        for (int i = 0; i < count; i++)
        {
            var d = entry.Slice(HeaderSize + i * DescriptorSize, DescriptorSize);
            ulong fileOffset = BinaryPrimitives.ReadUInt64LittleEndian(d[16..]);
            if (BinaryPrimitives.ReadUInt64LittleEndian(d[24..]) != sequence || fileOffset % SectorSize != 0 || fileOffset > long.MaxValue / 2) return null;
            if (d[..4].SequenceEqual("zero"u8))
            {
                ulong zeroLength = BinaryPrimitives.ReadUInt64LittleEndian(d[8..]);
                if (zeroLength % SectorSize != 0 || zeroLength > long.MaxValue / 2) return null;
                updates.Add(new VhdxLogUpdate((long)fileOffset, (long)zeroLength, null));
            }
            else if (d[..4].SequenceEqual("desc"u8))
            {
                if (dataAt + SectorSize > length) return null;
                var s = entry.Slice((int)dataAt, SectorSize);
                // The data sector carries the sequence number split around its 4084 bytes of data.
                if (!s[..4].SequenceEqual("data"u8)
                    || BinaryPrimitives.ReadUInt32LittleEndian(s[4..]) != (uint)(sequence >> 32)
                    || BinaryPrimitives.ReadUInt32LittleEndian(s[4092..]) != (uint)sequence) return null;
                var sector = new byte[SectorSize];
                d.Slice(16 - 8, 8).CopyTo(sector);           // LeadingBytes: the sector's first 8 bytes
                s.Slice(8, 4084).CopyTo(sector.AsSpan(8));   // the data sector's payload
                d.Slice(4, 4).CopyTo(sector.AsSpan(4092));   // TrailingBytes: the sector's last 4 bytes
                updates.Add(new VhdxLogUpdate((long)fileOffset, 0, sector));
                dataAt += SectorSize;
            }
            else return null;
        }
        return new VhdxLogEntry(length, BinaryPrimitives.ReadUInt32LittleEndian(b[12..]), sequence, guid,
            BinaryPrimitives.ReadUInt64LittleEndian(b[48..]), BinaryPrimitives.ReadUInt64LittleEndian(b[56..]), updates);
    }
}

/// <summary>
/// The log (MS-VHDX 2.3): a circular buffer of entries. Replay (2.3.3) finds the active sequence — the run of
/// valid entries with consecutive sequence numbers that ends in the highest one, starting at its head's tail —
/// and writes every entry's updates in order; the file then must be at least the head's last file offset long.
/// </summary>
public static class VhdxLog
{
    /// <summary>The entries to replay, oldest first; empty when the log holds no valid sequence.</summary>
    public static IReadOnlyList<VhdxLogEntry> ActiveSequence(ReadOnlySpan<byte> log, Guid logGuid)
    {
        const int sector = VhdxLogEntry.SectorSize;
        // The log wraps: reading it twice over lets an entry, or a sequence, run past the end back to the start.
        var doubled = new byte[log.Length * 2];
        log.CopyTo(doubled);
        log.CopyTo(doubled.AsSpan(log.Length));
        List<(long Offset, VhdxLogEntry Entry)>? best = null;
        for (long start = 0; start < log.Length; start += sector)
        {
            var first = VhdxLogEntry.TryParse(doubled.AsSpan((int)start, log.Length), logGuid);
            if (first == null) continue;
            var run = new List<(long, VhdxLogEntry)> { (start, first) };
            long at = start + first.Length, used = first.Length;
            while (used < log.Length)
            {
                var next = VhdxLogEntry.TryParse(doubled.AsSpan((int)(at % log.Length), log.Length), logGuid);
                if (next == null || next.SequenceNumber != run[^1].Item2.SequenceNumber + 1 || used + next.Length > log.Length) break;
                run.Add((at % log.Length, next));
                at += next.Length;
                used += next.Length;
            }
            // The head's tail must name an entry of the run: that is where replay starts.
            var head = run[^1].Item2;
            int tailIndex = run.FindIndex(e => e.Item1 == head.Tail);
            if (tailIndex < 0) continue;
            run = run.GetRange(tailIndex, run.Count - tailIndex);
            if (best == null || head.SequenceNumber > best[^1].Entry.SequenceNumber) best = run;
        }
        return best?.Select(e => e.Entry).ToList() ?? [];
    }
}
