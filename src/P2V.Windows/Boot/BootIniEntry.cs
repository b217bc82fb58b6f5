namespace P2V.Windows.Boot;

/// <summary>
/// One line of boot.ini's [operating systems] section: a boot path (an ARC path, or a DOS path such as
/// C:\CMDCONS\BOOTSECT.DAT), the quoted description shown in the menu, and switches (/fastdetect,
/// /NOEXECUTE=OptOut, /HAL=halaacpi.dll, /KERNEL=ntkrnlmp.exe, /PAE, /3GB …) in their order.
/// </summary>
public sealed class BootIniEntry
{
    public BootIniEntry(string bootPath, string description, IEnumerable<string>? switches = null)
    {
        BootPath = bootPath;
        Description = description;
        Switches = switches?.ToList() ?? [];
    }

    /// <summary>The text before '=' (e.g. "multi(0)disk(0)rdisk(0)partition(1)\WINDOWS").</summary>
    public string BootPath { get; set; }

    public ArcPath? Arc
    {
        get => ArcPath.TryParse(BootPath);
        set => BootPath = value?.ToString() ?? BootPath;
    }

    public string Description { get; set; }

    /// <summary>Switches with their leading slash, as written.</summary>
    public List<string> Switches { get; }

    /// <summary>Whether the switch is present (/PAE, /fastdetect, /HAL=… — name without slash, case-insensitive).</summary>
    public bool HasSwitch(string name) => FindSwitch(name) >= 0;

    /// <summary>The value of a /NAME=value switch, or null.</summary>
    public string? GetSwitch(string name)
    {
        int i = FindSwitch(name);
        if (i < 0) return null;
        int eq = Switches[i].IndexOf('=');
        return eq < 0 ? "" : Switches[i][(eq + 1)..];
    }

    /// <summary>Sets /NAME=value (or /NAME when value is null), replacing the switch in place or appending it.</summary>
    public void SetSwitch(string name, string? value = null)
    {
        var text = "/" + name + (value is null ? "" : "=" + value);
        int i = FindSwitch(name);
        if (i >= 0)
        {
            // keep the original spelling of the name (/NoExecute vs /noexecute)
            int eq = Switches[i].IndexOf('=');
            var written = eq < 0 ? Switches[i] : Switches[i][..eq];
            Switches[i] = written + (value is null ? "" : "=" + value);
        }
        else Switches.Add(text);
    }

    public bool RemoveSwitch(string name)
    {
        int i = FindSwitch(name);
        if (i < 0) return false;
        Switches.RemoveAt(i);
        return true;
    }

    private int FindSwitch(string name) => Switches.FindIndex(s =>
    {
        var body = s.TrimStart('/');
        int eq = body.IndexOf('=');
        return string.Equals(eq < 0 ? body : body[..eq], name, StringComparison.OrdinalIgnoreCase);
    });

    internal static BootIniEntry? Parse(string line)
    {
        int eq = line.IndexOf('=');
        if (eq <= 0) return null;
        var path = line[..eq].Trim();
        var rest = line[(eq + 1)..].Trim();
        string description = "";
        if (rest.StartsWith('"'))
        {
            int close = rest.IndexOf('"', 1);
            if (close < 0) { description = rest[1..]; rest = ""; }
            else { description = rest[1..close]; rest = rest[(close + 1)..]; }
        }
        else
        {
            int sp = rest.IndexOf(' ');
            description = sp < 0 ? rest : rest[..sp];
            rest = sp < 0 ? "" : rest[sp..];
        }
        return new BootIniEntry(path, description, rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
    }

    public override string ToString() => $"{BootPath}=\"{Description}\"" + string.Concat(Switches.Select(s => " " + s));
}
