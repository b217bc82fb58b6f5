using System.Globalization;
using System.Text;

namespace P2V.Windows.Boot;

/// <summary>
/// boot.ini, NTLDR's menu file (Microsoft KB 102873, KB 833721 "Available switch options for the Windows XP and
/// Windows Server 2003 Boot.ini files"): [boot loader] with timeout= and default=, [operating systems] with one
/// entry per line. Parsed and written back line for line: lines not changed through this API — comments, other
/// sections, unknown keys, spacing — are written exactly as read.
/// </summary>
public sealed class BootIni
{
    private readonly List<Line> _lines = [];
    private readonly string _newline;
    private readonly bool _finalNewline;

    private sealed class Line(string raw, string section)
    {
        public string Raw { get; set; } = raw;
        public string Section { get; } = section;
        public BootIniEntry? Entry { get; set; }
        public string? Rendered { get; set; }
        public string? Key { get; set; }
    }

    private BootIni(string text)
    {
        _newline = text.Contains("\r\n") || !text.Contains('\n') ? "\r\n" : "\n";
        _finalNewline = text.EndsWith('\n');
        var body = _finalNewline ? text[..^(text.EndsWith("\r\n") ? 2 : 1)] : text;
        string section = "";
        if (body.Length == 0) return;
        foreach (var rawLine in body.Split('\n'))
        {
            var raw = rawLine.TrimEnd('\r');
            var t = raw.Trim();
            if (t.StartsWith('[') && t.EndsWith(']'))
            {
                section = t[1..^1].Trim().ToLowerInvariant();
                _lines.Add(new Line(raw, section));
                continue;
            }
            var line = new Line(raw, section);
            if (t.Length > 0 && !t.StartsWith(';'))
            {
                if (section == "boot loader")
                {
                    int eq = t.IndexOf('=');
                    if (eq > 0) line.Key = t[..eq].Trim().ToLowerInvariant();
                }
                else if (section == "operating systems" && BootIniEntry.Parse(t) is { } entry)
                {
                    line.Entry = entry;
                    line.Rendered = entry.ToString();
                }
            }
            _lines.Add(line);
        }
    }

    public static BootIni Parse(string text) => new(text);

    /// <summary>boot.ini is ANSI text; read as Latin-1 so every byte survives a round trip.</summary>
    public static BootIni Parse(byte[] bytes) => new(Encoding.Latin1.GetString(bytes));

    /// <summary>The [operating systems] entries in file order (edit them in place).</summary>
    public IReadOnlyList<BootIniEntry> OperatingSystems => _lines.Where(l => l.Entry is not null).Select(l => l.Entry!).ToList();

    /// <summary>[boot loader] timeout in seconds (-1 waits for ever), or null when absent.</summary>
    public int? Timeout
    {
        get => int.TryParse(GetLoader("timeout"), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int t) ? t : null;
        set => SetLoader("timeout", value?.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>[boot loader] default: the boot path of the entry started when the menu times out.</summary>
    public string? Default
    {
        get => GetLoader("default");
        set => SetLoader("default", value);
    }

    /// <summary>The entry that default= names (the first with that boot path), else the first ARC entry.</summary>
    public BootIniEntry? DefaultEntry =>
        OperatingSystems.FirstOrDefault(e => string.Equals(e.BootPath, Default, StringComparison.OrdinalIgnoreCase))
        ?? OperatingSystems.FirstOrDefault(e => e.Arc is not null);

    public void AddOperatingSystem(BootIniEntry entry)
    {
        int last = _lines.FindLastIndex(l => l.Section == "operating systems" && l.Raw.Trim().Length > 0);
        if (last < 0)
        {
            _lines.Add(new Line("[operating systems]", "operating systems"));
            last = _lines.Count - 1;
        }
        _lines.Insert(last + 1, new Line("", "operating systems") { Entry = entry, Rendered = null });
    }

    public bool RemoveOperatingSystem(BootIniEntry entry) => _lines.RemoveAll(l => ReferenceEquals(l.Entry, entry)) > 0;

    private string? GetLoader(string key)
    {
        var line = _lines.FirstOrDefault(l => l.Section == "boot loader" && l.Key == key);
        if (line is null) return null;
        int eq = line.Raw.IndexOf('=');
        return line.Raw[(eq + 1)..].Trim();
    }

    private void SetLoader(string key, string? value)
    {
        int i = _lines.FindIndex(l => l.Section == "boot loader" && l.Key == key);
        if (value is null)
        {
            if (i >= 0) _lines.RemoveAt(i);
            return;
        }
        if (i >= 0)
        {
            _lines[i].Raw = $"{key}={value}";
            return;
        }
        int header = _lines.FindIndex(l => l.Section == "boot loader" && l.Raw.Trim().StartsWith('['));
        if (header < 0)
        {
            _lines.Insert(0, new Line("[boot loader]", "boot loader"));
            header = 0;
        }
        _lines.Insert(header + 1, new Line($"{key}={value}", "boot loader") { Key = key });
    }

    /// <summary>The file's text: unchanged lines verbatim, changed entries re-rendered, original line endings.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < _lines.Count; i++)
        {
            var l = _lines[i];
            string text = l.Raw;
            if (l.Entry is not null)
            {
                var now = l.Entry.ToString();
                if (now != l.Rendered) text = now;
            }
            sb.Append(text);
            if (i < _lines.Count - 1 || _finalNewline) sb.Append(_newline);
        }
        return sb.ToString();
    }

    public byte[] ToBytes() => Encoding.Latin1.GetBytes(ToString());
}
