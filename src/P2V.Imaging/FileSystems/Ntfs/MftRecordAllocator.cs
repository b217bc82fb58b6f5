using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// MFT records for new files: finds a free one through $MFT's $BITMAP, marks records used and free, and grows $MFT
/// when none is left — its allocation by <see cref="GrowthRecords"/> records (clusters claimed in $Bitmap first),
/// its initialized size one record at a time as records are written, its $BITMAP widened to cover them
/// (NTFS Documentation, "Files: $MFT"; ntfs-3g mft.c ntfs_mft_record_alloc).
/// </summary>
internal sealed class MftRecordAllocator(IVirtualDisk disk, AttributeReader io, MasterFileTable mft, ClusterAllocator clusters, NtfsBootSector boot)
{
    /// <summary>How many records $MFT grows by when it has no free record left (ntfs-3g grows it 16 records at a time as well).</summary>
    private const int GrowthRecords = 16;

    /// <summary>
    /// A free record for a new file: the first one past the system files that $MFT's $BITMAP marks free and whose
    /// header does not say in use (its sequence number and update sequence number continue), else the record past
    /// the initialized size (<c>Grows</c>: <see cref="GrowInitialized"/> takes it in once it is written).
    /// </summary>
    public (long Number, ushort Sequence, ushort Usn, bool Grows) Allocate()
    {
        int size = boot.FileRecordSize;
        var (bitmap, bits) = mft.ReadBitmap();
        long count = mft.Data.InitializedSize / size;
        for (long n = SystemFiles.FirstUserRecord; n < Math.Min(count, bits.Length * 8L); n++)
        {
            if ((bits[n / 8] & (1 << (int)(n % 8))) != 0) continue;
            var buffer = new byte[size];
            io.Read(mft.Data, n * size, buffer);
            ushort usn = 0, sequence = 1;
            if (buffer.AsSpan(0, 4).SequenceEqual(FileRecord.Magic))
            {
                try
                {
                    var old = FileRecord.Parse(buffer, n, io.VolumeOffsetOf(mft.Data, n * size));
                    if (old.InUse) continue; // $MFT's bitmap says free, the record says in use: leave it alone
                    sequence = old.SequenceNumber == 0 ? (ushort)1 : old.SequenceNumber; // freeing already bumped it
                    usn = UpdateSequence.Number(buffer);
                }
                catch (NtfsException) { } // a damaged free record is simply overwritten
            }
            return (n, sequence, usn, false);
        }
        // No free record: the next one past the initialized size, inside the allocation (grown if need be).
        if ((count + 1) * size > mft.Data.AllocatedSize) GrowAllocation();
        _ = bitmap;
        return (count, 1, 0, true);
    }

    public void SetBitmapBit(long number, bool used)
    {
        var record = mft.ReadForEdit(SystemFiles.Mft);
        int at = record.Find(AttributeType.Bitmap);
        if (at < 0) throw new NtfsException(record.VolumeOffset, "$MFT: no $BITMAP attribute");
        var header = record.HeaderAt(at);
        int bit = 1 << (int)(number % 8);
        if (!header.IsNonResident)
        {
            var value = record.ResidentValue(at);
            value[(int)(number / 8)] = used ? (byte)(value[(int)(number / 8)] | bit) : (byte)(value[(int)(number / 8)] & ~bit);
            mft.Write(record);
            return;
        }
        var (bitmap, _) = mft.ReadBitmap();
        var one = new byte[1];
        io.Read(bitmap, number / 8, one);
        one[0] = used ? (byte)(one[0] | bit) : (byte)(one[0] & ~bit);
        io.Write(bitmap, number / 8, one);
    }

    /// <summary>Takes record <paramref name="number"/> (just written past the end) into $MFT's data and initialized size, widening $MFT's $BITMAP to cover it.</summary>
    public void GrowInitialized(long number)
    {
        int size = boot.FileRecordSize;
        var record = mft.ReadForEdit(SystemFiles.Mft);
        if (record.Find(AttributeType.AttributeList) >= 0) throw new NotSupportedException("$MFT has an $ATTRIBUTE_LIST; growing it is not supported");
        int data = record.Find(AttributeType.Data);
        long newSize = (number + 1) * size;
        AttributeHeader.SetSizes(record.Bytes.AsSpan(data), newSize, newSize);

        int at = record.Find(AttributeType.Bitmap);
        var header = record.HeaderAt(at);
        long needed = (number + 8) / 8;
        if (!header.IsNonResident && header.ValueLength < needed)
        {
            var value = new byte[AttributeRecord.Align8((int)needed)];
            record.ResidentValue(at).CopyTo(value);
            if (!record.TryReplace(at, AttributeRecord.Resident(AttributeType.Bitmap, "", header.Id, value)))
                throw new NotSupportedException("$MFT: no room in record 0 to widen its resident $BITMAP");
        }
        else if (header.IsNonResident && header.DataSize < needed)
        {
            long grown = AttributeRecord.Align8((int)needed);
            if (grown > header.AllocatedSize) throw new NotSupportedException("$MFT: its $BITMAP would need more clusters; growing it is not supported");
            // Past the initialized size the clusters hold whatever was there: zero the bytes about to become valid.
            var (bitmap, _) = mft.ReadBitmap();
            io.Write(bitmap, header.InitializedSize, new byte[grown - header.InitializedSize]);
            disk.Flush();
            AttributeHeader.SetSizes(record.Bytes.AsSpan(at), grown, grown);
        }
        mft.Write(record);
        disk.Flush();
        mft.Reload();
    }

    /// <summary>Gives $MFT's $DATA more clusters (claimed in $Bitmap first), keeping its sizes; records there are initialized one by one as they are used.</summary>
    private void GrowAllocation()
    {
        var record = mft.ReadForEdit(SystemFiles.Mft);
        if (record.Find(AttributeType.AttributeList) >= 0) throw new NotSupportedException("$MFT has an $ATTRIBUTE_LIST; growing it is not supported");
        int at = record.Find(AttributeType.Data);
        var header = record.HeaderAt(at);
        var runs = DecodeRuns(record, at, header, boot.TotalClusters);
        long bytes = (long)GrowthRecords * boot.FileRecordSize;
        long count = (bytes + boot.ClusterSize - 1) / boot.ClusterSize;
        var last = runs.LastOrDefault(r => !r.IsSparse);
        var added = clusters.Allocate(count, runs.Count == 0 ? 0 : runs[^1].NextVcn, last.Length > 0 ? last.Lcn + last.Length : -1);
        clusters.Mark(added, used: true);
        disk.Flush();
        var all = Runlist.Coalesce(runs.Concat(added));
        var attribute = AttributeRecord.NonResident(AttributeType.Data, "", header.Id, all, header.AllocatedSize + count * boot.ClusterSize, header.DataSize, header.InitializedSize);
        if (!record.TryReplace(at, attribute)) throw new NotSupportedException("$MFT: its grown runlist does not fit record 0");
        mft.Write(record);
        disk.Flush();
        mft.Reload();
    }

    private static IReadOnlyList<DataRun> DecodeRuns(FileRecordEditor record, int at, AttributeHeader header, long totalClusters)
    {
        if (header.LowestVcn != 0) throw new NtfsException(record.VolumeOffset + at, $"MFT record {record.RecordNumber}: attribute 0x{(uint)header.Type:X} starts at VCN {header.LowestVcn}");
        return MappingPairs.Decode(record.Bytes.AsSpan(at + header.MappingPairsOffset, header.RecordLength - header.MappingPairsOffset), 0, totalClusters,
            record.VolumeOffset + at + header.MappingPairsOffset, $"MFT record {record.RecordNumber} attribute 0x{(uint)header.Type:X}");
    }
}
