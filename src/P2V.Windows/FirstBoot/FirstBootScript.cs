namespace P2V.Windows.FirstBoot;

/// <summary>
/// Which files the first-boot runner can start, by extension (docs/drivers-and-firstboot.md, "First-boot actions"):
/// checked where the scripts are given — `p2v plan`, the deploy agent's fetch — before anything is written.
/// </summary>
public static class FirstBootScript
{
    /// <summary>How each kind of script is started from firstboot.cmd ({0}: the script's path).</summary>
    internal static readonly Dictionary<string, string> Launchers = new(StringComparer.OrdinalIgnoreCase)
    {
        [".cmd"] = "call \"{0}\"",
        [".bat"] = "call \"{0}\"",
        [".exe"] = "\"{0}\"",
        [".vbs"] = "cscript //nologo \"{0}\"",
        [".js"] = "cscript //nologo \"{0}\"",
        [".ps1"] = "powershell -NoProfile -ExecutionPolicy Bypass -File \"{0}\"",
    };

    /// <summary>Why the runner cannot start <paramref name="name"/>, or null when it can.</summary>
    public static string? Refusal(string name)
    {
        var ext = Path.GetExtension(name);
        return Launchers.ContainsKey(ext) ? null
            : $"a {(ext.Length == 0 ? "file without extension" : ext + " file")} cannot be run; use .cmd, .bat, .exe, .vbs, .js or .ps1";
    }
}
