namespace P2V.Netboot;

/// <summary>
/// The one folder TFTP and HTTP serve from. A requested name is relative, '/'- or '\'-separated; absolute names,
/// ".." segments and symbolic links leading outside the root are refused, so nothing outside it can be read.
/// </summary>
public sealed class BootFileRoot
{
    public BootFileRoot(string path)
    {
        var full = Path.GetFullPath(path);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"boot file root {full} does not exist");
        var info = new DirectoryInfo(full);
        FullPath = Path.TrimEndingDirectorySeparator(info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName);
    }

    public string FullPath { get; }

    /// <summary>Why a name was refused; null when it resolved.</summary>
    public enum Refusal { None, NotFound, OutsideRoot }

    /// <summary>Maps a client's name to a regular file under the root.</summary>
    public Refusal TryResolve(string requested, out string fullPath)
    {
        fullPath = "";
        if (requested.Length == 0 || requested.Length > 1024) return Refusal.NotFound;
        if (requested[0] is '/' or '\\' || (requested.Length > 1 && requested[1] == ':')) return Refusal.OutsideRoot;
        string current = FullPath;
        var segments = requested.Split('/', '\\');
        for (int i = 0; i < segments.Length; i++)
        {
            var segment = segments[i];
            if (segment is "" or ".") continue;
            if (segment == ".." || segment.Contains('\0')) return Refusal.OutsideRoot;
            current = Path.Combine(current, segment);
            FileSystemInfo info = i == segments.Length - 1 ? new FileInfo(current) : new DirectoryInfo(current);
            if (!info.Exists && info.LinkTarget == null) return Refusal.NotFound;
            if (info.LinkTarget != null)
            {
                // A link is followed only while its final target stays inside the root.
                FileSystemInfo? target;
                try { target = info.ResolveLinkTarget(returnFinalTarget: true); }
                catch (IOException) { return Refusal.NotFound; }
                if (target == null || !target.Exists) return Refusal.NotFound;
                if (!IsUnderRoot(target.FullName)) return Refusal.OutsideRoot;
                current = target.FullName;
            }
        }
        if (!File.Exists(current)) return Refusal.NotFound;
        if (!IsUnderRoot(current)) return Refusal.OutsideRoot;
        fullPath = current;
        return Refusal.None;
    }

    private bool IsUnderRoot(string path) =>
        path.StartsWith(FullPath + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
