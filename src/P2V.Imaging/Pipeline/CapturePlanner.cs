using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems;
using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Decides what to read from a disk: the partition-table structures, each volume's used extents from its
/// file system's allocation map, and the rest (unknown file systems, space between partitions) scanned raw.
/// </summary>
public static class CapturePlanner
{
    /// <summary>The index of the volume record that holds the partition tables and the unpartitioned space.</summary>
    public const int DiskMetadataVolume = 0;

    /// <param name="rawOnDamage">A volume whose file system is damaged (an NTFS $Bitmap that contradicts its MFT, a
    /// corrupt MFT) is captured raw — every block that is not all zeros — with a warning, instead of failing the capture.</param>
    public static CapturePlan Plan(IVirtualDisk disk, bool raw = false, string sourceDescription = "", string toolVersion = "", bool rawOnDamage = false)
    {
        var volumes = new List<VolumeRecord>();
        var regions = new List<CaptureRegion>();
        var warnings = new List<string>();
        if (raw)
        {
            volumes.Add(new VolumeRecord(0, VolumeKind.Raw, 0, 0, disk.Length, 0, disk.Length, "whole disk", [new Extent(0, disk.Length)]));
            regions.Add(new CaptureRegion(new Extent(0, disk.Length), 0, SkipZeroBlocks: false));
            return Build(disk, PartitionTableKind.None, [], volumes, regions, warnings, sourceDescription, toolVersion);
        }

        var layout = DiskLayout.Read(disk);
        var tableRegions = layout.TableRegions
            .Select(r => { var b = new byte[r.Length]; disk.ReadAt(r.Offset, b); return new TableRegion(r.Offset, b); })
            .ToList();

        if (layout.Kind == PartitionTableKind.None)
        {
            // A bare volume: the disk is one file system, or nothing we know (then scanned raw).
            AddVolume(disk, allocated: null, 0, disk.Length, partitionNumber: 0, index: 0, volumes, regions, warnings, rawOnDamage);
            return Build(disk, layout.Kind, tableRegions, volumes, regions, warnings, sourceDescription, toolVersion);
        }

        var allocated = UsedExtentMap.From(disk.AllocatedExtents());
        var unpartitioned = UsedExtentMap.From(layout.UnpartitionedSpace().Extents.SelectMany(allocated.Intersect));
        var metadataExtents = UsedExtentMap.From(layout.TableRegions.Concat(unpartitioned.Extents));
        volumes.Add(new VolumeRecord(DiskMetadataVolume, VolumeKind.DiskMetadata, 0, 0, disk.Length, 0,
            metadataExtents.UsedBytes, "partition tables and unpartitioned space", metadataExtents.Extents));
        regions.AddRange(layout.TableRegions.Select(r => new CaptureRegion(r, DiskMetadataVolume, SkipZeroBlocks: false)));
        regions.AddRange(unpartitioned.Extents.Select(e => new CaptureRegion(e, DiskMetadataVolume, SkipZeroBlocks: true)));

        // Partitions never include an extended container: its EBRs are table regions, its logicals are listed.
        foreach (var p in layout.Partitions)
            AddVolume(disk, allocated, p.Offset, p.Length, p.Number, volumes.Count, volumes, regions, warnings, rawOnDamage);
        return Build(disk, layout.Kind, tableRegions, volumes, regions, warnings, sourceDescription, toolVersion);
    }

    /// <param name="allocated">The disk's allocated ranges, or null to compute them when needed: space the disk
    /// never allocated (holes of a sparse file, unallocated VHD/VHDX blocks) reads as zeros and need not be scanned.</param>
    private static void AddVolume(IVirtualDisk disk, UsedExtentMap? allocated, long offset, long length, int partitionNumber, int index,
        List<VolumeRecord> volumes, List<CaptureRegion> regions, List<string> warnings, bool rawOnDamage)
    {
        var slice = new DiskSlice(disk, offset, length);
        var kind = VolumeProbe.Detect(slice);
        UsedExtentMap map;
        int clusterSize = 0;
        string label = "";
        VolumeKind recordKind;
        switch (kind)
        {
            case FileSystemKind.Ntfs:
                try
                {
                    var ntfs = NtfsVolume.Open(slice);
                    map = ntfs.GetUsedExtents();
                    CheckNtfsMap(ntfs, map, partitionNumber);
                    clusterSize = ntfs.ClusterSize;
                    label = ntfs.Info.Label;
                    recordKind = VolumeKind.Ntfs;
                }
                catch (NtfsException e) when (rawOnDamage)
                {
                    warnings.Add($"{Describe(partitionNumber)}: {e.Message}; captured raw instead (every block that is not all zeros)");
                    goto default;
                }
                catch (NtfsException e)
                {
                    throw new InvalidDataException($"{Describe(partitionNumber)}: {e.Message}. Repair it (chkdsk /f), or capture it raw with --raw-on-damage", e);
                }
                break;
            case FileSystemKind.Fat12 or FileSystemKind.Fat16 or FileSystemKind.Fat32:
                var fat = FatVolume.Open(slice);
                map = fat.GetUsedExtents();
                clusterSize = fat.ClusterSize;
                label = fat.Label;
                recordKind = kind switch { FileSystemKind.Fat12 => VolumeKind.Fat12, FileSystemKind.Fat16 => VolumeKind.Fat16, _ => VolumeKind.Fat32 };
                break;
            default:
                allocated ??= UsedExtentMap.From(disk.AllocatedExtents());
                map = UsedExtentMap.From(allocated.Intersect(new Extent(offset, length)).Select(e => new Extent(e.Offset - offset, e.Length)));
                recordKind = VolumeKind.Raw;
                break;
        }
        var onDisk = map.Shift(offset);
        volumes.Add(new VolumeRecord(index, recordKind, partitionNumber, offset, length, clusterSize, onDisk.UsedBytes, label, onDisk.Extents));
        bool scan = recordKind == VolumeKind.Raw;
        regions.AddRange(onDisk.Extents.Select(e => new CaptureRegion(e, index, scan)));
    }

    private static string Describe(int partitionNumber) => partitionNumber > 0 ? $"partition {partitionNumber}" : "the volume";

    /// <summary>
    /// The extent map must account for every cluster $Bitmap marks used, and add no more than the
    /// volume's metadata outside the bitmap (backup boot sector, tail): an empty or short map would give an
    /// image that "succeeds" yet restores an unbootable volume.
    /// </summary>
    private static void CheckNtfsMap(NtfsVolume ntfs, UsedExtentMap map, int partitionNumber)
    {
        long bitmapBytes = ntfs.BitmapUsedClusters * ntfs.ClusterSize;
        long slack = ntfs.ClusterSize + 2L * ntfs.BootSector.BytesPerSector;
        if (map.UsedBytes < bitmapBytes || map.UsedBytes > bitmapBytes + slack)
            throw new InvalidOperationException(
                $"partition {partitionNumber}: NTFS used-extent map covers {map.UsedBytes} bytes but $Bitmap marks {bitmapBytes} bytes used; refusing to capture");
    }

    private static CapturePlan Build(IVirtualDisk disk, PartitionTableKind tableKind, List<TableRegion> tableRegions,
        List<VolumeRecord> volumes, List<CaptureRegion> regions, List<string> warnings, string source, string tool)
    {
        regions.Sort((a, b) => a.Range.Offset.CompareTo(b.Range.Offset));
        for (int i = 1; i < regions.Count; i++)
            if (regions[i].Range.Offset < regions[i - 1].Range.End)
                throw new InvalidOperationException($"capture regions overlap at disk offset {regions[i].Range.Offset} (volumes {regions[i - 1].VolumeIndex} and {regions[i].VolumeIndex})");
        var header = new ImageHeader
        {
            DiskLength = disk.Length,
            SectorSize = disk.SectorSize,
            TableKind = tableKind,
            ToolVersion = tool,
            TableRegions = tableRegions,
            Volumes = volumes,
            SourceDescription = source,
        };
        return new CapturePlan { Header = header, Regions = regions, Warnings = warnings };
    }
}
