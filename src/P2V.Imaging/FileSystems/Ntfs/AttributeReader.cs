using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The bytes of an attribute's value, wherever they are: resident in the record, in the clusters its runlist
/// maps (sparse runs and bytes past the valid data length read as zeros), or LZNT1-compressed in compression
/// units; and written in place inside a plain non-resident attribute's allocation.
/// </summary>
internal sealed class AttributeReader(IVirtualDisk disk, int clusterSize)
{
    /// <summary>Windows compresses in 16-cluster units on clusters up to 4 KiB; allow some slack, not unbounded buffers.</summary>
    private const long MaxCompressionUnitBytes = 1 << 20;

    private readonly IVirtualDisk _disk = disk;
    private readonly int _clusterSize = clusterSize;

    /// <summary>Reads attribute bytes [offset, offset + destination.Length), which must lie inside its data size.</summary>
    public void Read(AttributeData data, long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > data.DataSize - destination.Length)
            throw new NtfsException(data.VolumeOffset, $"{data.What}: read of [{offset}, +{destination.Length}) past its {data.DataSize} bytes");
        if (data.Resident is { } resident)
        {
            resident.AsSpan((int)offset, destination.Length).CopyTo(destination);
            return;
        }
        if (data.IsEncrypted)
            throw new NotSupportedException($"{data.What} is encrypted; its clusters cannot be read as they are");
        if (data.IsCompressed)
        {
            ReadCompressed(data, offset, destination);
            return;
        }

        long cluster = _clusterSize, validEnd = Math.Min(data.InitializedSize, data.DataSize);
        int done = 0;
        while (done < destination.Length)
        {
            long pos = offset + done;
            if (pos >= validEnd)
            {
                destination[done..].Clear(); // past the valid data length: zeros
                return;
            }
            long vcn = pos / cluster, inCluster = pos % cluster;
            var run = data.Runs.Find(vcn)
                ?? throw new NtfsException(data.VolumeOffset, $"{data.What}: VCN {vcn} is not mapped by its runlist");
            long clustersLeft = run.NextVcn - vcn;
            long bytesLeft = clustersLeft > long.MaxValue / cluster ? long.MaxValue : clustersLeft * cluster - inCluster;
            int n = (int)Math.Min(Math.Min(destination.Length - done, bytesLeft), validEnd - pos);
            var piece = destination.Slice(done, n);
            if (run.IsSparse) piece.Clear();
            else _disk.ReadAt((run.Lcn + (vcn - run.Vcn)) * cluster + inCluster, piece);
            done += n;
        }
    }

    /// <summary>
    /// A compressed attribute is stored in compression units of 2^CompressionUnit clusters (16 on every NTFS so
    /// far). A unit whose clusters are all allocated is stored as is; one that is entirely sparse is zeros; one
    /// with fewer clusters allocated holds LZNT1 data, and its tail is a sparse run.
    /// (NTFS Documentation, "Concepts: Compression"; ntfs-3g compress.c ntfs_compressed_attr_pread.)
    /// </summary>
    private void ReadCompressed(AttributeData data, long offset, Span<byte> destination)
    {
        long unitBytes = (long)_clusterSize << Math.Min(data.CompressionUnit, 16);
        if (data.CompressionUnit == 0 || unitBytes > MaxCompressionUnitBytes)
            throw new NtfsException(data.VolumeOffset, $"{data.What}: compressed with a compression unit of 2^{data.CompressionUnit} clusters ({unitBytes} bytes; NTFS uses 64 KiB)");
        long validEnd = Math.Min(data.InitializedSize, data.DataSize);
        int done = 0;
        while (done < destination.Length)
        {
            long pos = offset + done;
            if (pos >= validEnd)
            {
                destination[done..].Clear();
                return;
            }
            long unit = pos / unitBytes;
            if (data.CachedUnit != unit || data.CachedUnitData is null)
            {
                data.CachedUnitData = ReadCompressionUnit(data, unit, (int)unitBytes);
                data.CachedUnit = unit;
            }
            int inUnit = (int)(pos - unit * unitBytes);
            int n = (int)Math.Min(Math.Min(destination.Length - done, unitBytes - inUnit), validEnd - pos);
            data.CachedUnitData.AsSpan(inUnit, n).CopyTo(destination.Slice(done, n));
            done += n;
        }
    }

    private byte[] ReadCompressionUnit(AttributeData data, long unit, int unitBytes)
    {
        int clusters = 1 << data.CompressionUnit;
        long firstVcn = unit * clusters;
        var stored = new byte[unitBytes];
        int allocated = 0;
        for (long vcn = firstVcn; vcn < firstVcn + clusters;)
        {
            var run = data.Runs.Find(vcn);
            long count = Math.Min(run?.NextVcn ?? firstVcn + clusters, firstVcn + clusters) - vcn;
            if (run is { IsSparse: false } r)
            {
                if (allocated != vcn - firstVcn)
                    throw new NtfsException(data.VolumeOffset, $"{data.What}: compression unit at VCN {firstVcn} has allocated clusters after a hole");
                _disk.ReadAt((r.Lcn + vcn - r.Vcn) * _clusterSize, stored.AsSpan(allocated * _clusterSize, (int)count * _clusterSize));
                allocated += (int)count;
            }
            else if (run is null)
            {
                // Past the runlist: the allocated size ends inside this unit; the rest reads as zeros.
                count = firstVcn + clusters - vcn;
            }
            vcn += count;
        }
        if (allocated == clusters || allocated == 0) return stored; // stored uncompressed, or all zeros
        var unitData = new byte[unitBytes];
        Lznt1.Decompress(stored.AsSpan(0, allocated * _clusterSize), unitData, VolumeOffsetOf(data, firstVcn * _clusterSize), data.What);
        return unitData;
    }

    /// <summary>Where byte <paramref name="offset"/> of an attribute lies on the volume (for error messages); -1 if sparse or unmapped.</summary>
    public long VolumeOffsetOf(AttributeData data, long offset)
    {
        if (data.Resident is not null) return data.VolumeOffset;
        long vcn = offset / _clusterSize;
        return data.Runs.Find(vcn) is { IsSparse: false } run ? (run.Lcn + vcn - run.Vcn) * _clusterSize + offset % _clusterSize : -1;
    }

    /// <summary>Writes bytes of a plain non-resident attribute in place, inside its allocated size.</summary>
    public void Write(AttributeData data, long offset, ReadOnlySpan<byte> source)
    {
        if (data.Resident is not null || data.IsCompressed || data.IsEncrypted)
            throw new NotSupportedException($"{data.What}: only plain non-resident attributes are written in place");
        if (offset < 0 || offset > data.AllocatedSize - source.Length)
            throw new NtfsException(data.VolumeOffset, $"{data.What}: write of [{offset}, +{source.Length}) past its {data.AllocatedSize} allocated bytes");
        long cluster = _clusterSize;
        int done = 0;
        while (done < source.Length)
        {
            long pos = offset + done, vcn = pos / cluster, inCluster = pos % cluster;
            var run = data.Runs.Find(vcn);
            if (run is not { IsSparse: false } r) throw new NtfsException(data.VolumeOffset, $"{data.What}: VCN {vcn} is {(run is null ? "not mapped" : "sparse")}; cannot write there");
            int n = (int)Math.Min(source.Length - done, (r.NextVcn - vcn) * cluster - inCluster);
            _disk.WriteAt((r.Lcn + vcn - r.Vcn) * cluster + inCluster, source.Slice(done, n));
            done += n;
        }
    }
}
