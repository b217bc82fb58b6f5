using P2V.Imaging.VirtualDisks;

namespace P2V.Migration.Inventory;

/// <summary>
/// Step 1 of a migration (the seed's GatherHW): the hardware from a sysfs tree, then each disk's partitions,
/// volumes and Windows installation read from the disk itself.
/// </summary>
public sealed class InventoryGatherer
{
    public required string Root { get; init; }

    /// <summary>
    /// Disk contents to read, each "NAME=PATH" (PATH read as /sys/block/NAME) or a bare PATH (taken in /sys/block
    /// order by the disks not named; a path beyond the sysfs disks becomes a disk of its own, bus "file").
    /// With none given and the root "/", each disk is read from /dev/NAME when that can be opened.
    /// </summary>
    public IReadOnlyList<string> DiskSources { get; init; } = [];

    public string Tool { get; init; } = "p2v";

    public List<string> Notes { get; } = [];

    public SourceInventory Gather()
    {
        foreach (var s in DiskSources.Select(DiskSource.Parse))
            if (!File.Exists(s.Path)) throw new FileNotFoundException($"disk {s.Path} not found", s.Path); // a block device exists too
        var tree = new SysfsTree(Root);
        var hw = new HardwareGatherer(tree);
        var disks = hw.Disks().ToList();

        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        var unnamed = new Queue<string>();
        foreach (var s in DiskSources.Select(DiskSource.Parse))
        {
            if (s.Name is { } name) sources[name] = s.Path;
            else unnamed.Enqueue(s.Path);
        }
        foreach (var d in disks)
            if (!sources.ContainsKey(d.Name) && unnamed.Count > 0) sources[d.Name] = unnamed.Dequeue();
        foreach (var extra in unnamed)
        {
            var name = Path.GetFileNameWithoutExtension(extra);
            while (disks.Any(d => d.Name == name)) name += "_";
            long length;
            using (var disk = VirtualDisk.Open(extra)) length = disk.Length;
            disks.Add(new DiskInfo(name, length, 512, 512, DiskBus.File, "", "", false, null, null));
            sources[name] = extra;
        }
        if (DiskSources.Count == 0 && tree.Root == "/")
            foreach (var d in disks)
                if (File.Exists("/dev/" + d.Name)) sources[d.Name] = "/dev/" + d.Name;

        SourceWindows? windows = null;
        for (int i = 0; i < disks.Count; i++)
        {
            if (!sources.TryGetValue(disks[i].Name, out var path)) continue;
            try
            {
                using var disk = VirtualDisk.Open(path, sectorSize: disks[i].LogicalSectorSize is 512 or 4096 ? disks[i].LogicalSectorSize : 512);
                var result = DiskInspector.Inspect(disk, disks[i].Name);
                Notes.AddRange(result.Notes);
                if (windows == null && result.Windows is { } w)
                {
                    windows = w;
                    Notes.AddRange(w.Facts.Warnings.Select(n => $"{disks[i].Name}: Windows {w.Facts.SystemRoot}: {n}"));
                }
                disks[i] = disks[i] with { Source = path, Table = result.Table };
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Notes.Add($"{disks[i].Name}: {path}: {e.Message}");
            }
        }

        var nics = hw.NetworkAdapters();
        if (windows is not null) nics = NicMatcher.Match(nics, windows.Facts.Tcpip, Notes);
        return new SourceInventory(DateTimeOffset.UtcNow, Tool, hw.System(), hw.Processors(), hw.MemoryBytes(), disks,
            nics, hw.PciDevices(), hw.UsbDevices(), hw.Ports(), windows);
    }
}

/// <summary>One --disk of gather: "NAME=PATH" (the disk sysfs calls NAME is read from PATH) or a bare PATH.</summary>
public readonly record struct DiskSource(string? Name, string Path)
{
    /// <summary>A "=" before any "/" names the disk; one after a "/" is part of a path.</summary>
    public static DiskSource Parse(string spec)
    {
        int eq = spec.IndexOf('=');
        return eq > 0 && !spec.AsSpan(0, eq).Contains('/') ? new DiskSource(spec[..eq], spec[(eq + 1)..]) : new DiskSource(null, spec);
    }
}
