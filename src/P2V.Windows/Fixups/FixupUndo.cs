using P2V.Imaging;
using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Registry;

namespace P2V.Windows.Fixups;

/// <summary>
/// Reverts the changes a fix-up report lists, newest first: replaced files get their old bytes back from the
/// report's backup folder (checked against the recorded SHA-256), attributes and boot sector bytes their old
/// values; registry values come back with their hive file. Every change is checked before anything is written:
/// a target that still holds the old content is skipped (the fix-up stopped before it), one that holds neither
/// the old nor the new content was changed since and stops the undo unless forced — except a hive, which then
/// gets its recorded values back one by one (keys the fix-up created are removed when left empty), keeping
/// whatever else changed in it since (Windows booted, say). Files the fix-up created (drivers, first-boot scripts)
/// are deleted, and the directories it created are removed when nothing else was put in them since.
/// </summary>
public static class FixupUndo
{
    public static FixupReport Undo(IVirtualDisk disk, string reportPath, bool force = false)
    {
        var report = FixupReport.FromJson(File.ReadAllText(reportPath), reportPath);
        if (report.DryRun) throw new InvalidDataException($"{reportPath} is the report of a dry run; there is nothing to undo");
        var volumeDisk = VolumeAt(disk, report.VolumeOffset);
        var volume = NtfsVolume.Open(volumeDisk);
        volume.AllowUncleanVolume = force;
        var folder = Path.GetDirectoryName(Path.GetFullPath(reportPath))!;

        var actions = new List<Action>();
        var problems = new List<string>();
        var deleted = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var kept = new List<string>();
        foreach (var change in Enumerable.Reverse(report.Changes))
        {
            switch (change.Kind)
            {
                case FixupChange.FileKind:
                {
                    var path = change.Path!;
                    var bytes = volume.ReadFile(path);
                    var current = Sha256.HexOf(bytes);
                    if (current == change.OldSha256) continue;
                    var values = report.Changes.Where(c => c.Kind == FixupChange.RegistryKind && string.Equals(c.Path, path, StringComparison.OrdinalIgnoreCase)).ToList();
                    if (current != change.NewSha256 && !force && values.Count > 0)
                    {
                        byte[] reverted;
                        try
                        {
                            var hive = RegistryHive.Open(bytes, path);
                            RevertValues(hive, values);
                            reverted = hive.ToArray();
                        }
                        catch (RegistryHiveException e)
                        {
                            problems.Add($"{path} changed since the fix-up and cannot be edited back: {e.Message}");
                            continue;
                        }
                        actions.Add(() => volume.ReplaceFile(path, reverted));
                        continue;
                    }
                    if (current != change.NewSha256 && !force) { problems.Add($"{path} changed since the fix-up (SHA-256 {current})"); continue; }
                    var backup = change.Backup is null ? null : Path.Combine(folder, change.Backup);
                    if (backup is null || !File.Exists(backup)) { problems.Add($"{path}: the old content {change.Backup} is missing"); continue; }
                    var old = File.ReadAllBytes(backup);
                    if (Sha256.HexOf(old) != change.OldSha256) { problems.Add($"{backup} does not hold the old content of {path} (SHA-256 differs)"); continue; }
                    actions.Add(() => volume.ReplaceFile(path, old));
                    break;
                }
                case FixupChange.AttributesKind:
                {
                    var path = change.Path!;
                    var current = (uint)volume.GetFileAttributes(path);
                    uint old = change.OldAttributes ?? 0, @new = change.NewAttributes ?? 0, changed = old ^ @new;
                    if ((current & changed) == (old & changed)) continue;
                    if ((current & changed) != (@new & changed) && !force) { problems.Add($"{path}: attributes changed since the fix-up"); continue; }
                    actions.Add(() => volume.SetFileAttributes(path, (FileAttributes)(old & changed), (FileAttributes)(~old & changed)));
                    break;
                }
                case FixupChange.BytesKind:
                {
                    long offset = change.DiskOffset ?? throw new InvalidDataException($"{reportPath}: a bytes change without an offset");
                    var old = Convert.FromHexString(change.OldBytes!);
                    var @new = Convert.FromHexString(change.NewBytes!);
                    var current = new byte[old.Length];
                    disk.ReadAt(offset, current);
                    if (current.AsSpan().SequenceEqual(old)) continue;
                    if (!current.AsSpan().SequenceEqual(@new) && !force) { problems.Add($"disk bytes at {offset} ({change.Description}) changed since the fix-up"); continue; }
                    actions.Add(() => FixupWriter.WriteSector(disk, offset, old));
                    break;
                }
                case FixupChange.NewFileKind:
                {
                    var path = change.Path!;
                    if (!volume.FileExists(path)) continue; // the fix-up stopped before it
                    var current = Sha256.HexOf(volume.ReadFile(path));
                    if (current != change.NewSha256 && !force) { problems.Add($"{path} changed since the fix-up (SHA-256 {current})"); continue; }
                    if (volume.CheckDelete(path) is { } why) { problems.Add($"{path} cannot be deleted: {why}"); continue; }
                    deleted.Add(path);
                    actions.Add(() => volume.Delete(path));
                    break;
                }
                case FixupChange.NewDirectoryKind:
                {
                    var path = change.Path!;
                    if (!volume.DirectoryExists(path)) continue;
                    // Kept when something the undo does not delete was put there since.
                    var left = volume.ListDirectory(path).Where(e => !deleted.Contains(path + "\\" + e.Name)).Select(e => e.Name).ToList();
                    if (left.Count > 0) { kept.Add($"{path} (holds {string.Join(", ", left.Take(3))})"); continue; }
                    deleted.Add(path);
                    actions.Add(() => volume.Delete(path));
                    break;
                }
                case FixupChange.RegistryKind:
                    break; // restored with the hive file's own change
                default:
                    problems.Add($"unknown change kind '{change.Kind}'");
                    break;
            }
        }
        if (problems.Count > 0) throw new IOException($"undo refused: {string.Join("; ", problems)} (--force restores anyway)");
        foreach (var action in actions) action();
        disk.Flush();
        report.UndoneUtc = DateTime.UtcNow;
        report.Warnings.AddRange(kept.Select(k => $"undo kept the directory {k}"));
        report.Save(reportPath);
        return report;
    }

    /// <summary>Puts each recorded value back (newest first): the old type and data, or no value; a key the fix-up created goes when empty.</summary>
    internal static void RevertValues(RegistryHive hive, IReadOnlyList<FixupChange> values)
    {
        foreach (var change in Enumerable.Reverse(values))
        {
            var key = hive.Root.OpenSubkey(change.Key!);
            if (key is null) continue;
            if (change.OldData is null) key.DeleteValue(change.Value!);
            else key.SetValue(change.Value!, Enum.Parse<RegistryValueKind>(change.OldKind!), Convert.FromHexString(change.OldData));
            if (change.CreatedKey is not { } top) continue;
            // Remove the created levels from the deepest up, as long as they are empty.
            for (var path = change.Key!; path.Length >= top.Length; )
            {
                var k = hive.Root.OpenSubkey(path);
                if (k is null || k.ValueCount > 0 || k.SubkeyCount > 0) break;
                int cut = path.LastIndexOf('\\');
                var parent = cut < 0 ? hive.Root : hive.Root.OpenSubkey(path[..cut]);
                parent?.DeleteSubkey(path[(cut + 1)..]);
                if (cut < 0) break;
                path = path[..cut];
            }
        }
    }

    private static IVirtualDisk VolumeAt(IVirtualDisk disk, long offset)
    {
        if (offset == 0) return disk;
        var layout = DiskLayout.Read(disk);
        var partition = layout.Partitions.FirstOrDefault(p => p.Offset == offset)
            ?? throw new IOException($"no partition starts at byte {offset}, where the fixed-up volume was");
        return new DiskSlice(disk, partition.Offset, partition.Length);
    }
}
