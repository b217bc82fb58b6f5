namespace P2V.Agent;

/// <summary>
/// What the boot script put on the kernel command line for the agent (docs/agent-protocol.md, "Boot"):
/// p2v.controller, p2v.token, p2v.job, p2v.role, p2v.server, p2v.mac, p2v.selftest.
/// </summary>
public sealed record BootArguments(Uri? Controller, string? Token, string? JobId, string? Role, string? Server, string? Mac, bool SelfTest)
{
    public const string ProcCmdline = "/proc/cmdline";

    /// <summary>Words are separated by spaces; a value may be double-quoted (the kernel's own rule, Documentation/admin-guide/kernel-parameters.rst).</summary>
    public static BootArguments Parse(string cmdline)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var word in Words(cmdline))
        {
            int eq = word.IndexOf('=');
            string key = eq < 0 ? word : word[..eq], value = eq < 0 ? "" : word[(eq + 1)..];
            if (key.StartsWith("p2v.", StringComparison.Ordinal)) values[key[4..]] = value;
        }
        string? Get(string key) => values.TryGetValue(key, out var v) && v.Length > 0 ? v : null;

        Uri? controller = null;
        if (Get("controller") is { } c)
        {
            if (!Uri.TryCreate(c, UriKind.Absolute, out controller) || controller.Scheme is not ("http" or "https"))
                throw new FormatException($"p2v.controller={c} on the kernel command line is not an http:// or https:// URL");
        }
        return new BootArguments(controller, Get("token"), Get("job"), Get("role"), Get("server"), Get("mac"),
            Get("selftest") is "1" or "yes" or "true");
    }

    public static BootArguments Read(string path = ProcCmdline) => Parse(File.ReadAllText(path));

    private static IEnumerable<string> Words(string s)
    {
        var word = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char ch in s)
        {
            if (ch == '"') { quoted = !quoted; any = true; continue; }
            if (char.IsWhiteSpace(ch) && !quoted)
            {
                if (any) yield return word.ToString();
                word.Clear(); any = false;
                continue;
            }
            word.Append(ch); any = true;
        }
        if (any) yield return word.ToString();
    }
}
