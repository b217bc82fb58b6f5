using System.Text;
using P2V.Imaging;
using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems;
using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Migration.Inventory;

/// <summary>
/// Reads a disk's partitions and volumes through P2V.Imaging, and finds the Windows installation on them.
/// Reads only table sectors, boot sectors, allocation maps and a few small files; never whole volumes.
/// </summary>
public sealed class DiskInspector(IWindowsFactsReader windowsReader)
{
    /// <summary>The BitLocker volume's OEM id at offset 3 of its boot sector (in place of "NTFS    ").</summary>
    private static ReadOnlySpan<byte> BitLockerOemId => "-FVE-FS-"u8;

    public sealed record Result(PartitionTableInfo Table, WindowsFacts? Windows, IReadOnlyList<string> Notes);

    public Result Inspect(IVirtualDisk disk, string diskName)
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
        WindowsFacts? windows = null;
        foreach (var (number, offset, length, type, bootable) in parts)
        {
            var slice = new DiskSlice(disk, offset, length);
            VolumeInfo? volume = null;
            try
            {
                (volume, var files) = InspectVolume(slice);
                if (windows == null && files != null)
                    windows = FindWindows(files, diskName, number);
            }
            catch (IOException e)
            {
                notes.Add($"{diskName} partition {number}: {e.Message}");
            }
            partitions.Add(new PartitionInfo(number, offset, length, type, bootable, volume));
        }
        return new Result(new PartitionTableInfo(style, id, partitions), windows, notes);
    }

    private static (VolumeInfo?, IOfflineVolume?) InspectVolume(IVirtualDisk slice)
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
                var files = new NtfsFiles(ntfs);
                return (new VolumeInfo(VolumeFileSystem.Ntfs, info.Label, info.TotalBytes, info.UsedBytes, IsHibernated(files), info.IsDirty), files);
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
    internal static bool IsHibernated(IOfflineVolume files)
    {
        if (!files.FileExists("\\hiberfil.sys")) return false;
        var head = files.ReadFile("\\hiberfil.sys", 4);
        return head.Length >= 4 && (head.AsSpan(0, 4).SequenceEqual("hibr"u8) || head.AsSpan(0, 4).SequenceEqual("HIBR"u8));
    }

    /// <summary>Finds %SystemRoot% (boot.ini's default entry, else \WINDOWS or \WINNT) and the files migration depends on.</summary>
    internal WindowsFacts? FindWindows(IOfflineVolume files, string disk, int partition)
    {
        string? bootIni = files.FileExists("\\boot.ini") ? Encoding.Latin1.GetString(files.ReadFile("\\boot.ini", 64 << 10)) : null;
        var candidates = new List<string>();
        if (bootIni != null && DefaultSystemRoot(bootIni) is { } fromBootIni) candidates.Add(fromBootIni);
        candidates.AddRange(["\\WINDOWS", "\\WINNT"]);
        foreach (var root in candidates.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            bool kernel = files.FileExists(root + "\\system32\\ntoskrnl.exe");
            bool hive = files.FileExists(root + "\\system32\\config\\SYSTEM");
            if (!kernel && !hive) continue;
            bool hal = files.FileExists(root + "\\system32\\hal.dll");
            var found = new WindowsFacts(disk, partition, root, null, null, null, HalFromSetupLog(files, root), null, [],
                hal, kernel, hive, bootIni);
            return windowsReader.Complete(found, files);
        }
        return null;
    }

    /// <summary>
    /// The folder of boot.ini's default entry: "default=multi(0)disk(0)rdisk(0)partition(1)\WINDOWS" → "\WINDOWS".
    /// Only that much of boot.ini is read here; P2V.Windows parses the whole file.
    /// </summary>
    internal static string? DefaultSystemRoot(string bootIni)
    {
        foreach (var raw in bootIni.Split('\n'))
        {
            var line = raw.Trim();
            if (!line.StartsWith("default", StringComparison.OrdinalIgnoreCase)) continue;
            int eq = line.IndexOf('=');
            if (eq < 0) continue;
            var arc = line[(eq + 1)..].Trim();
            int close = arc.LastIndexOf(')');
            var path = close >= 0 ? arc[(close + 1)..] : "";
            return path.StartsWith('\\') && path.Length > 1 ? path.TrimEnd('\\') : null;
        }
        return null;
    }

    /// <summary>
    /// Setup records which HAL it installed as hal.dll in %SystemRoot%\repair\setup.log:
    /// <c>\WINDOWS\system32\hal.dll = "halmacpi.dll","1c6d0"</c>. The PE version resource says the same (P2V.Windows).
    /// </summary>
    internal static string? HalFromSetupLog(IOfflineVolume files, string root)
    {
        var path = root + "\\repair\\setup.log";
        if (!files.FileExists(path)) return null;
        var bytes = files.ReadFile(path, 4 << 20);
        // setup.log is UTF-16LE with a BOM on 2000 and later, ANSI on NT 4.0.
        string text = bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE ? Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2) : Encoding.Latin1.GetString(bytes);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            int eq = line.IndexOf('=');
            if (eq < 0 || !line[..eq].TrimEnd().EndsWith("\\system32\\hal.dll", StringComparison.OrdinalIgnoreCase)) continue;
            var value = line[(eq + 1)..].Trim();
            if (value.StartsWith('"') && value.IndexOf('"', 1) is var end and > 1) return value[1..end].ToLowerInvariant();
        }
        return null;
    }

    private sealed class NtfsFiles(NtfsVolume volume) : IOfflineVolume
    {
        public NtfsVolume? Ntfs => volume;
        public bool FileExists(string path) => volume.FileExists(path);
        public bool DirectoryExists(string path) => volume.DirectoryExists(path);

        public byte[] ReadFile(string path, long maxBytes)
        {
            using var stream = volume.OpenFile(path);
            var bytes = new byte[(int)Math.Min(stream.Length, maxBytes)];
            stream.ReadExactly(bytes);
            return bytes;
        }
    }
}
