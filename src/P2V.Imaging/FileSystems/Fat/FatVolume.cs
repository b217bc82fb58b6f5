using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems.Fat;

/// <summary>
/// A FAT12/16/32 volume, read for capture: what it is, and which of its bytes are in use — the reserved
/// area (boot sector, FSInfo, backup boot sector), every FAT copy, the FAT12/16 root directory, and every
/// cluster whose FAT entry is neither free (0) nor marked bad. Offsets are volume-relative.
/// The FAT is streamed in bounded chunks, so memory does not grow with the volume.
/// </summary>
public sealed class FatVolume
{
    private const int ChunkBytes = 1 << 20; // a multiple of 2, 3 and 4, so no FAT entry straddles two chunks
    private const int DirectoryEntrySize = 32;
    private const long MaxDirectoryBytes = 65536L * DirectoryEntrySize; // fatgen103 "FAT Directory Structure": at most 65,536 entries

    private readonly IVirtualDisk _volume;
    private Scan? _scan;

    private FatVolume(IVirtualDisk volume, FatBootSector boot)
    {
        _volume = volume;
        BootSector = boot;
    }

    public FatBootSector BootSector { get; }

    public FileSystemKind Kind => BootSector.Kind;

    public int ClusterSize => BootSector.ClusterSize;

    /// <summary>Data clusters in the volume (numbered 2 … ClusterCount + 1).</summary>
    public long ClusterCount => BootSector.ClusterCount;

    /// <summary>Clusters whose FAT entry is allocated: in a chain or end of chain, not free and not bad.</summary>
    public long UsedClusters => GetScan().Used;

    /// <summary>Clusters marked bad in the FAT; not captured.</summary>
    public long BadClusters => GetScan().Bad;

    /// <summary>The volume label from the root directory's volume-ID entry, else from the boot sector; "" when there is none.</summary>
    public string Label => field ??= ReadLabel();

    /// <summary>The FAT type of <paramref name="volume"/>, or null when it holds no valid FAT boot sector.</summary>
    public static FileSystemKind? Probe(IVirtualDisk volume)
    {
        try { return Open(volume).Kind; }
        catch (FatException) { return null; }
    }

    /// <summary>Reads and validates the boot sector; throws <see cref="FatException"/> when the volume is not a sound FAT volume.</summary>
    public static FatVolume Open(IVirtualDisk volume)
    {
        if (volume.Length < FatBootSector.Size)
            throw new FatException(0, $"the volume of {volume.Length} bytes is too small for a boot sector");
        Span<byte> sector = stackalloc byte[FatBootSector.Size];
        volume.ReadAt(0, sector);
        return new FatVolume(volume, FatBootSector.Parse(sector, volume.Length));
    }

    /// <summary>Volume-relative byte ranges holding file-system data; everything else may be left out of an image.</summary>
    public UsedExtentMap GetUsedExtents()
    {
        var b = BootSector;
        var metadata = new Extent(0, b.FirstDataSector * b.BytesPerSector); // reserved + FATs + FAT12/16 root directory
        return UsedExtentMap.From(GetScan().Clusters.Prepend(metadata), b.TotalSectors * b.BytesPerSector);
    }

    private sealed record Scan(List<Extent> Clusters, long Used, long Bad);

    private Scan GetScan() => _scan ??= ScanFat();

    /// <summary>One pass over the active FAT, merging runs of allocated clusters into extents.</summary>
    private Scan ScanFat()
    {
        var b = BootSector;
        long fatOffset = (b.FirstFatSector + b.ActiveFat * b.SectorsPerFat) * b.BytesPerSector;
        long lastCluster = b.ClusterCount + 1;
        var extents = new List<Extent>();
        long used = 0, bad = 0, runStart = -1;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            long chunkStart = -1, chunkEnd = -1; // FAT byte range currently in buffer
            for (long cluster = 2; cluster <= lastCluster; cluster++)
            {
                long entryOffset = EntryOffset(cluster);
                if (entryOffset + EntryBytes > chunkEnd)
                {
                    chunkStart = entryOffset - entryOffset % 6; // FAT12 pairs start at multiples of 3; 6 keeps 2 and 4 aligned too
                    long fatBytes = b.SectorsPerFat * b.BytesPerSector;
                    chunkEnd = Math.Min(chunkStart + ChunkBytes, fatBytes);
                    _volume.ReadAt(fatOffset + chunkStart, buffer.AsSpan(0, (int)(chunkEnd - chunkStart)));
                }
                uint value = ReadEntry(buffer.AsSpan((int)(entryOffset - chunkStart)), cluster);
                bool allocated = value != 0 && value != BadClusterMark;
                if (value == BadClusterMark) bad++;
                if (allocated)
                {
                    used++;
                    if (runStart < 0) runStart = cluster;
                }
                else if (runStart >= 0)
                {
                    extents.Add(ClusterRun(runStart, cluster));
                    runStart = -1;
                }
            }
            if (runStart >= 0) extents.Add(ClusterRun(runStart, lastCluster + 1));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return new Scan(extents, used, bad);
    }

    private Extent ClusterRun(long first, long end) =>
        new(BootSector.ClusterOffset(first), (end - first) * ClusterSize);

    private int EntryBytes => Kind switch { FileSystemKind.Fat12 => 2, FileSystemKind.Fat16 => 2, _ => 4 };

    /// <summary>fatgen103 "FAT Data Structure": FAT12 entries are 12 bits packed in pairs (offset n + n/2), FAT16 16 bits, FAT32 32 bits of which the low 28 count.</summary>
    private long EntryOffset(long cluster) => Kind switch
    {
        FileSystemKind.Fat12 => cluster + cluster / 2,
        FileSystemKind.Fat16 => cluster * 2,
        _ => cluster * 4,
    };

    private uint ReadEntry(ReadOnlySpan<byte> at, long cluster)
    {
        switch (Kind)
        {
            case FileSystemKind.Fat12:
                int pair = BinaryPrimitives.ReadUInt16LittleEndian(at);
                return (uint)((cluster & 1) != 0 ? pair >> 4 : pair & 0xFFF);
            case FileSystemKind.Fat16:
                return BinaryPrimitives.ReadUInt16LittleEndian(at);
            default:
                return BinaryPrimitives.ReadUInt32LittleEndian(at) & 0x0FFFFFFF;
        }
    }

    /// <summary>fatgen103 "FAT Data Structure": the BAD CLUSTER mark, 0xFF7 / 0xFFF7 / 0x0FFFFFF7.</summary>
    private uint BadClusterMark => Kind switch
    {
        FileSystemKind.Fat12 => 0xFF7,
        FileSystemKind.Fat16 => 0xFFF7,
        _ => 0x0FFFFFF7,
    };

    private uint ReadFatEntry(long cluster)
    {
        var b = BootSector;
        long offset = (b.FirstFatSector + b.ActiveFat * b.SectorsPerFat) * b.BytesPerSector + EntryOffset(cluster);
        Span<byte> bytes = stackalloc byte[4];
        _volume.ReadAt(offset, bytes[..EntryBytes]);
        return ReadEntry(bytes, cluster);
    }

    /// <summary>fatgen103 "FAT Directory Structure": the label is a root directory entry with ATTR_VOLUME_ID; BS_VolLab is only a copy.</summary>
    private string ReadLabel()
    {
        var b = BootSector;
        string? fromDirectory = null;
        foreach (var segment in RootDirectorySegments())
        {
            var buffer = new byte[segment.Length];
            _volume.ReadAt(segment.Offset, buffer);
            for (int i = 0; i + DirectoryEntrySize <= buffer.Length; i += DirectoryEntrySize)
            {
                var entry = buffer.AsSpan(i, DirectoryEntrySize);
                if (entry[0] == 0x00) goto done; // DIR_Name[0] = 0: no more entries
                if (entry[0] == 0xE5) continue;  // deleted
                byte attr = entry[11];
                if ((attr & 0x3F) == 0x0F) continue; // long-name entry
                if ((attr & 0x18) == 0x08)
                {
                    fromDirectory = Encoding.Latin1.GetString(entry[..11]).TrimEnd(' ');
                    goto done;
                }
            }
        }
    done:
        if (fromDirectory != null) return fromDirectory;
        var label = b.VolumeLabel.TrimEnd(' ');
        return label == "NO NAME" ? "" : label;
    }

    /// <summary>The root directory's byte ranges: the fixed region on FAT12/16, the cluster chain from BPB_RootClus on FAT32.</summary>
    private IEnumerable<Extent> RootDirectorySegments()
    {
        var b = BootSector;
        if (Kind != FileSystemKind.Fat32)
        {
            yield return new Extent(b.RootDirectorySector * b.BytesPerSector, b.RootDirectorySectors * b.BytesPerSector);
            yield break;
        }
        long cluster = b.RootCluster, bytes = 0;
        while (cluster >= 2 && cluster <= b.ClusterCount + 1)
        {
            yield return new Extent(b.ClusterOffset(cluster), ClusterSize);
            bytes += ClusterSize;
            if (bytes >= MaxDirectoryBytes) yield break; // also ends a looping chain
            cluster = ReadFatEntry(cluster);
        }
    }
}
