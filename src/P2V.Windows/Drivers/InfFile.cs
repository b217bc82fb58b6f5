using System.Text;

namespace P2V.Windows.Drivers;

/// <summary>
/// An INF file as Windows setup reads it ("General Syntax Rules for INF Files", Microsoft Learn): [section] headers
/// (names compared case-insensitively; a section named twice is one section), entries <c>key = value, value</c>, ';'
/// starting a comment outside quotes, '\' at the end of a line continuing it, double-quoted strings (<c>""</c> is a
/// quote inside one), and %strkey% tokens replaced from [Strings] (<c>%%</c> is a percent sign; %dirid% tokens such as
/// %12% are kept as they are, for the directive that reads them; quoted text is substituted too, so "%%SystemRoot%%" gives
/// %SystemRoot%). A line that does not parse is an
/// <see cref="InfFormatException"/> naming the file and the line.
/// </summary>
public sealed class InfFile
{
    private readonly Dictionary<string, List<InfLine>> _sections;

    private InfFile(string name, Dictionary<string, List<InfLine>> sections)
    {
        Name = name;
        _sections = sections;
    }

    /// <summary>The file's name in messages (its path as given).</summary>
    public string Name { get; }

    public IEnumerable<string> SectionNames => _sections.Keys;

    public bool HasSection(string name) => _sections.ContainsKey(name);

    /// <summary>The section's entries in file order; empty when there is no such section.</summary>
    public IReadOnlyList<InfLine> Section(string name) => _sections.TryGetValue(name, out var lines) ? lines : [];

    /// <summary>The first value of the first entry named <paramref name="key"/> in <paramref name="section"/>, or null.</summary>
    public string? Get(string section, string key) =>
        Section(section).FirstOrDefault(l => string.Equals(l.Key, key, StringComparison.OrdinalIgnoreCase))?.Value(0);

    /// <summary>Real INFs are kilobytes (the largest in Windows' own INF folder, a few MiB): more is not a driver package.</summary>
    public const long MaxBytes = 16L << 20;

    public static InfFile Load(string path)
    {
        long length = new FileInfo(path).Length;
        if (length > MaxBytes) throw new InfFormatException(path, 0, $"{length} bytes: larger than an INF file can be ({MaxBytes >> 20} MiB)");
        return Parse(Decode(File.ReadAllBytes(path)), path);
    }

    /// <summary>INF files are ANSI (Windows-1252 read as Latin-1 here) or UTF-16LE with a byte-order mark; UTF-8 with a BOM is taken too.</summary>
    public static string Decode(byte[] bytes)
    {
        if (bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE) return Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2);
        if (bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF) return Encoding.UTF8.GetString(bytes, 3, bytes.Length - 3);
        return Encoding.Latin1.GetString(bytes);
    }

    public static InfFile Parse(string text, string name)
    {
        // First pass: the raw entries (tokens still in place), so that [Strings] may come anywhere in the file.
        var raw = new Dictionary<string, List<(string? Key, List<Token> Values, int Line)>>(StringComparer.OrdinalIgnoreCase);
        List<(string? Key, List<Token> Values, int Line)>? current = null;
        var lines = text.Replace("\r\n", "\n").Replace('\r', '\n').Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int number = i + 1;
            var line = lines[i];
            // A '\' as the last character (before any comment) joins the next physical line.
            while (EndsWithContinuation(line, out var head) && i + 1 < lines.Length) line = head + lines[++i];
            var trimmed = line.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == ';') continue;
            if (trimmed[0] == '[')
            {
                int close = trimmed.IndexOf(']');
                if (close < 0) throw new InfFormatException(name, number, "a section header without its closing ']'");
                var rest = trimmed[(close + 1)..].Trim();
                if (rest.Length > 0 && rest[0] != ';') throw new InfFormatException(name, number, $"text after the section header: '{rest}'");
                var section = trimmed[1..close].Trim();
                if (section.Length == 0) throw new InfFormatException(name, number, "an empty section name");
                if (!raw.TryGetValue(section, out current)) raw[section] = current = [];
                continue;
            }
            if (current is null) throw new InfFormatException(name, number, $"an entry before the first [section]: '{trimmed.TrimEnd()}'");
            current.Add(ParseEntry(line, name, number));
        }

        var strings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        // [Strings] and its locale variants ([Strings.0409]); the undecorated one wins where both define a key.
        foreach (var (section, entries) in raw.Where(s => s.Key.StartsWith("Strings.", StringComparison.OrdinalIgnoreCase)).Concat(raw.Where(s => s.Key.Equals("Strings", StringComparison.OrdinalIgnoreCase))))
            foreach (var (key, values, line) in entries)
            {
                if (key is null) throw new InfFormatException(name, line, $"[{section}] entry without '=': a string needs a key");
                strings[key] = string.Concat(values.Select(v => v.Text));
            }

        var sections = new Dictionary<string, List<InfLine>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (section, entries) in raw)
            sections[section] = entries.Select(e => new InfLine(
                e.Key is null ? null : Substitute(e.Key, strings, name, e.Line),
                e.Values.Select(v => Substitute(v.Text, strings, name, e.Line)).ToList(), e.Line)).ToList();
        return new InfFile(name, sections);
    }

    private readonly record struct Token(string Text, bool Quoted);

    private static bool EndsWithContinuation(string line, out string head)
    {
        head = line;
        var body = StripComment(line).TrimEnd();
        if (!body.EndsWith('\\')) return false;
        head = body[..^1];
        return true;
    }

    /// <summary>The line up to a ';' that is not inside a quoted string.</summary>
    private static string StripComment(string line)
    {
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '"') quoted = !quoted;
            else if (line[i] == ';' && !quoted) return line[..i];
        }
        return line;
    }

    /// <summary>key = v1, v2 …: the key is what comes before the first '=' outside quotes; values split at commas outside quotes.</summary>
    private static (string? Key, List<Token> Values, int Line) ParseEntry(string line, string name, int number)
    {
        string? key = null;
        var values = new List<Token>();
        var sb = new StringBuilder();
        bool quoted = false, anyQuoted = false, closedQuote = false;
        int i = 0;
        for (; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c != '"') { sb.Append(c); continue; }
                if (i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; continue; } // "" inside quotes
                quoted = false;
                closedQuote = true;
                continue;
            }
            if (c == '"')
            {
                if (closedQuote || sb.ToString().Trim().Length > 0)
                    throw new InfFormatException(name, number, $"a quote in the middle of a value at column {i + 1}");
                quoted = anyQuoted = true;
                sb.Clear();
                continue;
            }
            if (c == ';') break;
            if (c == '=' && key is null && values.Count == 0)
            {
                key = sb.ToString().Trim();
                if (key.Length == 0) throw new InfFormatException(name, number, "an entry with nothing before '='");
                sb.Clear();
                anyQuoted = closedQuote = false;
                continue;
            }
            if (c == ',')
            {
                values.Add(Finish());
                continue;
            }
            if (closedQuote)
            {
                if (!char.IsWhiteSpace(c)) throw new InfFormatException(name, number, $"text after a closing quote at column {i + 1}");
                continue;
            }
            sb.Append(c);
        }
        if (quoted) throw new InfFormatException(name, number, "a quoted string that is not closed");
        values.Add(Finish());
        // A line of one empty value ("key =") keeps that one empty value; a bare word is a value with no key.
        return (key, values, number);

        Token Finish()
        {
            var token = new Token(anyQuoted ? sb.ToString() : sb.ToString().Trim(), anyQuoted);
            sb.Clear();
            anyQuoted = closedQuote = false;
            return token;
        }
    }

    /// <summary>
    /// Replaces %strkey% from [Strings]; %% is one '%'; a %number% (a dirid, e.g. %12%) is kept for the directive
    /// that reads it. An unknown %strkey% is an error: setup would install the literal token.
    /// </summary>
    private static string Substitute(string text, Dictionary<string, string> strings, string name, int line)
    {
        if (!text.Contains('%')) return text;
        var sb = new StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '%') { sb.Append(text[i]); continue; }
            int end = text.IndexOf('%', i + 1);
            if (end < 0) throw new InfFormatException(name, line, $"a '%' without its closing '%' in '{text}'");
            var token = text[(i + 1)..end];
            if (token.Length == 0) sb.Append('%');
            else if (token.All(char.IsAsciiDigit)) sb.Append('%').Append(token).Append('%');
            else if (strings.TryGetValue(token, out var value)) sb.Append(value);
            else throw new InfFormatException(name, line, $"%{token}% is not defined in [Strings]");
            i = end;
        }
        return sb.ToString();
    }
}
