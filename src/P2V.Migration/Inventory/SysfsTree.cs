namespace P2V.Migration.Inventory;

/// <summary>
/// A sysfs/procfs tree under a root folder: "/" on the machine itself, or a fixture folder laid out the same way.
/// Symbolic links are followed inside the root, so a fixture's links resolve within the fixture.
/// </summary>
public sealed class SysfsTree(string root)
{
    public string Root { get; } = Path.GetFullPath(root);

    /// <summary>The host path of a tree path such as "/sys/block".</summary>
    public string Host(string treePath) => Path.Join(Root, treePath.TrimStart('/'));

    /// <summary>A small attribute file's text, trimmed; null when absent or unreadable (sysfs refuses reads of some attributes).</summary>
    public string? Read(string treePath)
    {
        if (ReadBytes(treePath) is not { } bytes) return null;
        using var reader = new StreamReader(new MemoryStream(bytes));
        return reader.ReadToEnd().Trim();
    }

    /// <summary>An attribute's bytes; null when absent or unreadable.</summary>
    public byte[]? ReadBytes(string treePath)
    {
        try
        {
            var host = Host(treePath);
            if (!File.Exists(host)) return null;
            // sysfs files report a size of 4096 whatever they hold, so read to the end rather than by length.
            using var stream = new FileStream(host, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
            using var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            return bytes.ToArray();
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    public long? ReadLong(string treePath) =>
        Read(treePath) is { } s && long.TryParse(s, out var v) ? v : null;

    /// <summary>The entries of a tree folder, sorted by name; empty when it does not exist.</summary>
    public IReadOnlyList<string> List(string treePath)
    {
        var host = Host(treePath);
        if (!Directory.Exists(host)) return [];
        return Directory.EnumerateFileSystemEntries(host).Select(Path.GetFileName).OfType<string>()
            .Order(StringComparer.Ordinal).ToList();
    }

    public bool Exists(string treePath) => Path.Exists(Host(treePath));

    /// <summary>
    /// The tree path with every symbolic link resolved, component by component ("/sys/block/sda" →
    /// "/sys/devices/pci0000:00/0000:00:1f.2/ata1/…/block/sda"). Absolute link targets are taken as tree paths.
    /// </summary>
    public string Resolve(string treePath)
    {
        var done = new List<string>();
        var pending = new Stack<string>(treePath.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        for (int hops = 0; pending.Count > 0; )
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..") { if (done.Count > 0) done.RemoveAt(done.Count - 1); continue; }
            done.Add(part);
            var info = new FileInfo(Host("/" + string.Join('/', done)));
            if (info.LinkTarget is not { } target) continue;
            if (++hops > 40) throw new IOException($"too many symbolic links under {treePath}");
            done.RemoveAt(done.Count - 1);
            if (target.StartsWith('/')) done.Clear();
            foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
        }
        return "/" + string.Join('/', done);
    }

    /// <summary>The last component of a link's target: a "driver" link names the driver, a "subsystem" link the bus.</summary>
    public string? LinkName(string treePath)
    {
        var info = new FileInfo(Host(treePath));
        return info.LinkTarget is { } target ? Path.GetFileName(target.TrimEnd('/')) : null;
    }
}
