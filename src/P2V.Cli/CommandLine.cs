namespace P2V.Cli;

/// <summary>A command's arguments: positionals in order, and --options with or without a value.</summary>
public sealed class CommandArgs
{
    private readonly Dictionary<string, string?> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public CommandArgs(IEnumerable<string> args, IReadOnlySet<string> flags)
    {
        var list = args.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                var eq = a.IndexOf('=');
                if (eq > 0) _options[a[2..eq]] = a[(eq + 1)..];
                else if (flags.Contains(a[2..])) _options[a[2..]] = null;
                else if (i + 1 < list.Count) _options[a[2..]] = list[++i];
                else _options[a[2..]] = null; // an unknown option is reported as such by EnsureAllUsed, a known one by Option

            }
            else if (a == "-o" && i + 1 < list.Count) _options["output"] = list[++i];
            else Positionals.Add(a);
        }
    }

    public List<string> Positionals { get; } = [];

    public string Positional(int index, string name) =>
        index < Positionals.Count ? Positionals[index] : throw new UsageException($"missing argument <{name}>");

    public bool Flag(string name) { _read.Add(name); return _options.ContainsKey(name); }

    public string? Option(string name)
    {
        _read.Add(name);
        if (!_options.TryGetValue(name, out var v)) return null;
        return v ?? throw new UsageException($"option --{name} needs a value");
    }

    public string Required(string name) => Option(name) ?? throw new UsageException($"missing option --{name}");

    public long? Size(string name) => Option(name) is { } s ? ParseSize(s) : null;

    public int? Int(string name) => Option(name) is { } s
        ? int.TryParse(s, out var v) ? v : throw new UsageException($"--{name} expects a whole number, not '{s}'")
        : null;

    /// <summary>Rejects options nobody asked for, so a typo is an error and not silently ignored.</summary>
    public void EnsureAllUsed()
    {
        var unknown = _options.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option --{unknown[0]}");
    }

    /// <summary>Parses sizes like 512, 64K, 8M, 8G, 2T (binary units).</summary>
    public static long ParseSize(string s)
    {
        s = s.Trim();
        long mult = 1;
        char last = char.ToUpperInvariant(s.Length > 0 ? s[^1] : ' ');
        if (last == 'B' && s.Length > 1) { s = s[..^1]; last = char.ToUpperInvariant(s[^1]); }
        if (last == 'I' && s.Length > 1) { s = s[..^1]; last = char.ToUpperInvariant(s[^1]); }
        switch (last)
        {
            case 'K': mult = 1L << 10; break;
            case 'M': mult = 1L << 20; break;
            case 'G': mult = 1L << 30; break;
            case 'T': mult = 1L << 40; break;
        }
        if (mult != 1) s = s[..^1];
        return long.TryParse(s, out var n) && n >= 0 ? checked(n * mult) : throw new UsageException($"'{s}' is not a size (e.g. 512, 64K, 8G)");
    }
}

/// <summary>The command line was wrong; the message says how.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>One `p2v` command: its words ("image info"), a one-line summary, its usage, flags and handler.</summary>
public sealed record Command(string Name, string Summary, string Usage, string[] Flags, Func<CommandArgs, CancellationToken, Task<int>> Run);

/// <summary>All commands; each area adds its own from a file in Commands/.</summary>
public sealed class CommandTable
{
    private readonly List<Command> _commands = [];

    public IReadOnlyList<Command> Commands => _commands;

    public void Add(Command command) => _commands.Add(command);

    /// <summary>The longest command name that prefixes the arguments.</summary>
    public (Command? Command, string[] Remaining) Find(string[] args)
    {
        foreach (var c in _commands.OrderByDescending(c => c.Name.Split(' ').Length))
        {
            var words = c.Name.Split(' ');
            if (args.Length >= words.Length && words.SequenceEqual(args.Take(words.Length), StringComparer.Ordinal))
                return (c, args[words.Length..]);
        }
        return (null, args);
    }
}
