using System.Net.NetworkInformation;

namespace P2V.Netboot.Boot;

/// <summary>
/// The default policy: a small text file, one rule a line, '#' starts a comment:
/// <code>
/// default local
/// 52:54:00:12:34:56 capture
/// 52-54-00-AB-CD-EF deploy
/// </code>
/// Actions are capture, deploy and local. The file is re-read when it changes, so an operator edits it while
/// the server runs.
/// </summary>
public sealed class BootConfigFile : IBootPolicy
{
    private readonly string _path;
    private readonly Lock _lock = new();
    private DateTime _stamp = DateTime.MinValue;
    private Dictionary<PhysicalAddress, BootAction> _rules = [];
    private BootAction _default = BootAction.LocalDisk;

    public BootConfigFile(string path)
    {
        _path = Path.GetFullPath(path);
        Reload();
    }

    public BootDecision Decide(PhysicalAddress mac)
    {
        lock (_lock)
        {
            if (File.GetLastWriteTimeUtc(_path) != _stamp) Reload();
            return new(_rules.TryGetValue(mac, out var a) ? a : _default);
        }
    }

    private void Reload()
    {
        var stamp = File.GetLastWriteTimeUtc(_path);
        var (rules, def) = Parse(File.ReadAllLines(_path), _path);
        (_rules, _default, _stamp) = (rules, def, stamp);
    }

    public static (Dictionary<PhysicalAddress, BootAction> Rules, BootAction Default) Parse(IEnumerable<string> lines, string source)
    {
        var rules = new Dictionary<PhysicalAddress, BootAction>();
        var def = BootAction.LocalDisk;
        int number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Split('#')[0].Trim();
            if (line.Length == 0) continue;
            var words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (words.Length != 2) throw new InvalidDataException($"{source}:{number}: expected 'MAC ACTION' or 'default ACTION'");
            var action = ParseAction(words[1]) ?? throw new InvalidDataException($"{source}:{number}: action must be capture, deploy or local, not '{words[1]}'");
            if (words[0].Equals("default", StringComparison.OrdinalIgnoreCase)) def = action;
            else if (TryParseMac(words[0], out var mac)) rules[mac] = action;
            else throw new InvalidDataException($"{source}:{number}: '{words[0]}' is not a MAC address");
        }
        return (rules, def);
    }

    public static BootAction? ParseAction(string word) => word.ToLowerInvariant() switch
    {
        "capture" => BootAction.Capture,
        "deploy" => BootAction.Deploy,
        "local" or "localdisk" or "local-disk" => BootAction.LocalDisk,
        _ => null,
    };

    public static bool TryParseMac(string text, out PhysicalAddress mac)
    {
        mac = PhysicalAddress.None;
        var hex = text.Replace(":", "").Replace("-", "");
        if (hex.Length != 12 || !hex.All(Uri.IsHexDigit)) return false;
        mac = PhysicalAddress.Parse(hex);
        return true;
    }
}
