using System.Globalization;
using System.Text;

namespace P2V.Windows.Boot;

/// <summary>
/// An ARC path as NTLDR reads it from boot.ini (Microsoft KB 102873 "BOOT.INI and ARC Path Naming Conventions"):
/// multi(W)disk(X)rdisk(Y)partition(Z)\path — BIOS (INT 13h) disk Y; scsi(W)disk(X)rdisk(Y)partition(Z) — through
/// ntbootdd.sys, target X, LUN Y; signature(S)disk(X)rdisk(Y)partition(Z) — the disk with MBR signature S.
/// Partitions count from 1, everything else from 0.
/// </summary>
public sealed record ArcPath(IReadOnlyList<(string Name, string Value)> Components, string Path)
{
    /// <summary>"multi", "scsi" or "signature".</summary>
    public string Adapter => Components.Count > 0 ? Components[0].Name : "";

    public int? Controller => Adapter is "multi" or "scsi" ? Number(Adapter) : null;

    /// <summary>The MBR disk signature of a signature() path.</summary>
    public uint? Signature => Adapter == "signature" && uint.TryParse(Components[0].Value, NumberStyles.HexNumber, null, out var s) ? s : null;

    public int? Disk => Number("disk");
    public int? RDisk => Number("rdisk");
    public int? Partition => Number("partition");

    private int? Number(string name)
    {
        foreach (var (n, v) in Components)
            if (n == name && int.TryParse(v, out int i)) return i;
        return null;
    }

    /// <summary>Parses "multi(0)disk(0)rdisk(0)partition(1)\WINDOWS"; null when the text is not an ARC path (e.g. "C:\").</summary>
    public static ArcPath? TryParse(string text)
    {
        var components = new List<(string, string)>();
        int at = 0;
        while (at < text.Length)
        {
            int open = text.IndexOf('(', at);
            if (open <= at) break;
            var name = text[at..open];
            if (!name.All(char.IsAsciiLetter)) break;
            int close = text.IndexOf(')', open);
            if (close < 0) return null;
            components.Add((name.ToLowerInvariant(), text[(open + 1)..close].Trim()));
            at = close + 1;
        }
        if (components.Count == 0 || components[0].Item1 is not ("multi" or "scsi" or "signature")) return null;
        return new ArcPath(components, text[at..]);
    }

    /// <summary>This path with one component's number replaced (e.g. ("rdisk", 0), ("partition", 1)).</summary>
    public ArcPath With(string name, string value) =>
        this with { Components = Components.Select(c => c.Name == name ? (c.Name, value) : c).ToList() };

    public ArcPath WithPartition(int partition) => With("partition", partition.ToString(CultureInfo.InvariantCulture));
    public ArcPath WithRDisk(int rdisk) => With("rdisk", rdisk.ToString(CultureInfo.InvariantCulture));

    /// <summary>The same disk and partition (the path below it ignored), case-insensitively.</summary>
    public bool SameVolume(ArcPath other) =>
        Components.Count == other.Components.Count &&
        Components.Zip(other.Components).All(p => p.First.Name == p.Second.Name && string.Equals(p.First.Value, p.Second.Value, StringComparison.OrdinalIgnoreCase));

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var (n, v) in Components) sb.Append(n).Append('(').Append(v).Append(')');
        return sb.Append(Path).ToString();
    }
}
