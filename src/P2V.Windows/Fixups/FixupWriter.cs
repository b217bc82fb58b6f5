using System.Buffers.Binary;
using P2V.Imaging;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Windows.Fixups;

/// <summary>
/// Makes the changes of a fix-up and records them: each change goes into the report (saved to disk, with a
/// replaced file's old bytes in the backup folder) before the write it describes, so an interrupted run
/// leaves a report that undo can follow — a change whose target still holds the old bytes is simply skipped.
/// </summary>
internal sealed class FixupWriter(IVirtualDisk disk, NtfsVolume volume, FixupReport report, string? reportPath)
{
    public NtfsVolume Volume => volume;
    public IVirtualDisk Disk => disk;

    public static string BackupFolder(string reportPath) => reportPath + ".files";

    private void Record(FixupChange change)
    {
        report.Changes.Add(change);
        if (reportPath is not null) report.Save(reportPath);
    }

    public void Record(IEnumerable<FixupChange> changes)
    {
        report.Changes.AddRange(changes);
        if (reportPath is not null) report.Save(reportPath);
    }

    public void ReplaceFile(string step, string path, byte[] content, string description, string source)
    {
        var old = volume.ReadFile(path);
        string oldSha = Sha256.HexOf(old), newSha = Sha256.HexOf(content);
        if (oldSha == newSha) return;
        string? backup = null;
        if (reportPath is not null)
        {
            var folder = BackupFolder(reportPath);
            Directory.CreateDirectory(folder);
            backup = Path.Combine(Path.GetFileName(folder), oldSha + ".bin");
            var file = Path.Combine(folder, oldSha + ".bin");
            if (!File.Exists(file)) AtomicFile.WriteAllBytes(file, old);
        }
        Record(new FixupChange
        {
            Kind = FixupChange.FileKind, Step = step, Description = description, Path = path,
            OldSha256 = oldSha, NewSha256 = newSha, OldLength = old.Length, NewLength = content.Length, Backup = backup, Source = source,
        });
        volume.ReplaceFile(path, content);
    }

    /// <summary>
    /// Writes a file the installation does not have yet, or replaces one it has (recorded with its old bytes as
    /// <see cref="ReplaceFile"/> does); a new one is recorded so that undo deletes it.
    /// </summary>
    public void CreateOrReplaceFile(string step, string path, byte[] content, string description, string source)
    {
        if (volume.FileExists(path)) { ReplaceFile(step, path, content, description, source); return; }
        Record(new FixupChange
        {
            Kind = FixupChange.NewFileKind, Step = step, Description = description, Path = path,
            NewSha256 = Sha256.HexOf(content), NewLength = content.Length, Source = source,
        });
        volume.CreateFile(path, content);
    }

    /// <summary>Creates the directory and any missing parents; each one is recorded so that undo removes it (when empty).</summary>
    public void CreateDirectories(string step, string path)
    {
        var parts = path.Split('\\', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 1; i <= parts.Length; i++)
        {
            var prefix = "\\" + string.Join('\\', parts[..i]);
            if (volume.DirectoryExists(prefix)) continue;
            Record(new FixupChange { Kind = FixupChange.NewDirectoryKind, Step = step, Description = $"{prefix}: new directory", Path = prefix });
            volume.CreateDirectory(prefix);
        }
    }

    public void SetAttributes(string step, string path, FileAttributes set, FileAttributes clear, string description)
    {
        var before = volume.GetFileAttributes(path);
        var after = (before | set) & ~clear;
        if (after == before) return;
        Record(new FixupChange
        {
            Kind = FixupChange.AttributesKind, Step = step, Description = description, Path = path,
            OldAttributes = (uint)before, NewAttributes = (uint)after,
        });
        volume.SetFileAttributes(path, set, clear);
    }

    public void WriteBytes(string step, long diskOffset, byte[] bytes, string description)
    {
        var old = new byte[bytes.Length];
        disk.ReadAt(diskOffset, old);
        if (old.AsSpan().SequenceEqual(bytes)) return;
        Record(new FixupChange
        {
            Kind = FixupChange.BytesKind, Step = step, Description = description,
            DiskOffset = diskOffset, OldBytes = Convert.ToHexString(old), NewBytes = Convert.ToHexString(bytes),
        });
        WriteSector(disk, diskOffset, bytes);
    }

    /// <summary>Writes bytes inside one sector by read-modify-write of the whole sector.</summary>
    internal static void WriteSector(IVirtualDisk disk, long diskOffset, byte[] bytes)
    {
        int size = disk.SectorSize;
        long start = diskOffset / size * size;
        var sector = new byte[(int)((diskOffset + bytes.Length - start + size - 1) / size * size)];
        disk.ReadAt(start, sector);
        bytes.CopyTo(sector, (int)(diskOffset - start));
        disk.WriteAt(start, sector);
        disk.Flush();
    }

    internal static byte[] U16(int v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); return b; }
    internal static byte[] U32(long v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v); return b; }
}
