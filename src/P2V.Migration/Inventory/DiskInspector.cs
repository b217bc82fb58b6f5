using P2V.Imaging;
using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems;
using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows;

namespace P2V.Migration.Inventory;

/// <summary>
/// Reads a disk's partitions and volumes through P2V.Imaging, and the Windows installation on them through
/// P2V.Windows. Reads only table sectors, boot sectors, allocation maps and a few small files; never whole volumes.
/// </summary>
public static class DiskInspector
{
    /// <summary>Gather reports what it can: a dirty hive is read as it stands, a corrupt one becomes a note.</summary>
    private static readonly WindowsReadOptions ReadOptions = new() { AcceptDirtyHives = true, HiveErrorsAsWarnings = true };

    /// <summary>The BitLocker volume's OEM id at offset 3 of its boot sector (in place of "NTFS    ").</summary>
    private static ReadOnlySpan<byte> BitLockerOemId => "-FVE-FS-"u8;

    public sealed record Result(PartitionTableInfo Table, SourceWindows? Windows, IReadOnlyList<string> Notes);

    public static Result Inspect(IVirtualDisk disk, string diskName)
    {
        var notes = new List<string>();
        PartitionStyle style;
        string? id;
        List<(int Number, long Offset, long Length, string Type, bool Bootable)> parts;
        try
        {
            var layout = DiskLayout.Read(disk);
            style = layout.Kind switch { PartitionTableKind.Mbr => PartitionStyle.Mbr, PartitionTableKind.Gpt => PartitionStyle.Gpt, _ => PartitionStyle.None };
            id = layout.Kind == PartitionTableKind.Gpt ? layout.DiskGuid?.ToString() : layout.MbrSignature is { } s ? s.ToString("X8") : null;
            parts = layout.Partitions.Select(p => (p.Number, p.Offset, p.Length,
                layout.Kind == PartitionTableKind.Gpt ? p.GptType.ToString() : p.MbrType.ToString("X2"), p.Bootable)).ToList();
            if (layout.Kind == PartitionTableKind.None)
                parts = [(0, 0, disk.Length, "", false)];
            notes.AddRange(layout.Warnings);
        }
        catch (DynamicDiskException e)
        {
            // An LDM disk: its volumes live in the LDM database, out of our reach. The MBR entries Windows keeps
            // (type 0x42) for the boot and system volumes of an upgraded disk still show where those start.
            style = PartitionStyle.Dynamic;
            notes.Add(e.Message);
            parts = [];
            id = null;
            var sector = new byte[MasterBootRecord.Size];
            disk.ReadAt(0, sector);
            if (MasterBootRecord.HasSignature(sector))
            {
                var mbr = MasterBootRecord.Parse(sector);
                id = mbr.DiskSignature.ToString("X8");
                for (int i = 0; i < mbr.Entries.Count; i++)
                {
                    var entry = mbr.Entries[i];
                    long offset = (long)entry.StartLba * 512, length = (long)entry.SectorCount * 512;
                    if (entry.IsEmpty || offset + length > disk.Length) continue;
                    parts.Add((i + 1, offset, length, entry.Type.ToString("X2"), entry.IsBootable));
                }
            }
        }

        var partitions = new List<PartitionInfo>();
        SourceWindows? windows = null;
        foreach (var (number, offset, length, type, bootable) in parts)
        {
            var slice = new DiskSlice(disk, offset, length);
            VolumeInfo? volume = null;
            try
            {
                (volume, var ntfs) = InspectVolume(slice);
                if (windows == null && ntfs != null && WindowsInstallation.FindSystemRoot(ntfs) != null)
                    windows = new SourceWindows(diskName, number, WindowsInstallation.Read(ntfs, ReadOptions));
            }
            catch (Exception e) when (e is IOException or NotSupportedException)
            {
                notes.Add($"{diskName} partition {number}: {e.Message}");
            }
            partitions.Add(new PartitionInfo(number, offset, length, type, bootable, volume));
        }
        return new Result(new PartitionTableInfo(style, id, partitions), windows, notes);
    }

    private static (VolumeInfo?, NtfsVolume?) InspectVolume(IVirtualDisk slice)
    {
        if (slice.Length >= 512)
        {
            Span<byte> boot = stackalloc byte[512];
            slice.ReadAt(0, boot);
            if (boot[3..11].SequenceEqual(BitLockerOemId))
                return (new VolumeInfo(VolumeFileSystem.BitLocker, "", slice.Length, null, false, false), null);
        }
        switch (VolumeProbe.Detect(slice))
        {
            case FileSystemKind.Ntfs:
            {
                var ntfs = NtfsVolume.Open(slice);
                var info = ntfs.Info;
                return (new VolumeInfo(VolumeFileSystem.Ntfs, info.Label, info.TotalBytes, info.UsedBytes, IsHibernated(ntfs), info.IsDirty), ntfs);
            }
            case FileSystemKind.Fat12 or FileSystemKind.Fat16 or FileSystemKind.Fat32:
            {
                var fat = FatVolume.Open(slice);
                var kind = fat.Kind switch { FileSystemKind.Fat12 => VolumeFileSystem.Fat12, FileSystemKind.Fat16 => VolumeFileSystem.Fat16, _ => VolumeFileSystem.Fat32 };
                // FatVolume reads allocation, not files: a Windows installation on FAT is not looked into (docs/migration.md).
                return (new VolumeInfo(kind, fat.Label, fat.ClusterCount * fat.ClusterSize, fat.UsedClusters * fat.ClusterSize, false, false), null);
            }
            default:
                return (new VolumeInfo(VolumeFileSystem.Raw, "", slice.Length, null, false, false), null);
        }
    }

    /// <summary>
    /// hiberfil.sys begins "hibr" (NT 5.x) or "HIBR" (6.2+) while it holds a hibernated session; Windows zeroes the
    /// signature (or writes "wake") on resume. Booting the copy would resume a stale session over the migrated disk.
    /// </summary>
    internal static bool IsHibernated(NtfsVolume volume)
    {
        if (!volume.FileExists("\\hiberfil.sys")) return false;
        using var stream = volume.OpenFile("\\hiberfil.sys");
        Span<byte> head = stackalloc byte[4];
        return stream.ReadAtLeast(head, 4, throwOnEndOfStream: false) == 4 && (head.SequenceEqual("hibr"u8) || head.SequenceEqual("HIBR"u8));
    }
}
