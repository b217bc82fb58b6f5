using System.Globalization;

namespace P2V.Windows.Drivers;

/// <summary>
/// A Models section's TargetOSVersion decoration ("Combining Platform Extensions with Operating System Versions",
/// Microsoft Learn): <c>nt[Architecture][.[OSMajorVersion][.[OSMinorVersion][.[ProductType][.[SuiteMask][.[BuildNumber]]]]]]</c>,
/// e.g. NTx86, NTamd64.6.1, NT.5.1. Architecture is x86, amd64, ia64, arm or arm64; none means x86 only from Windows
/// Server 2003 SP1 on (the INF Manufacturer section: non-x86 sections must be decorated).
/// </summary>
public sealed record TargetOsVersion(string Text, string? Architecture, int? Major, int? Minor, int? ProductType)
{
    private static readonly string[] Architectures = ["x86", "amd64", "ia64", "arm64", "arm"];

    /// <summary>Null when <paramref name="text"/> is not a TargetOSVersion.</summary>
    public static TargetOsVersion? Parse(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith("nt", StringComparison.OrdinalIgnoreCase)) return null;
        var parts = t[2..].Split('.');
        string? arch = null;
        if (parts[0].Length > 0)
        {
            arch = Architectures.FirstOrDefault(a => a.Equals(parts[0], StringComparison.OrdinalIgnoreCase));
            if (arch is null) return null;
        }
        int?[] numbers = new int?[3];
        for (int i = 1; i < parts.Length && i <= 3; i++)
        {
            if (parts[i].Length == 0) continue;
            var p = parts[i];
            bool hex = p.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
            if (!int.TryParse(hex ? p[2..] : p, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out int n)) return null;
            numbers[i - 1] = n;
        }
        return new TargetOsVersion(t, arch, numbers[0], numbers[1], numbers[2]);
    }

    /// <summary>The installation's architecture as a decoration names it ("AMD64" → amd64).</summary>
    public static string? ArchitectureOf(string? windowsArchitecture) => windowsArchitecture?.ToLowerInvariant() switch
    {
        "x86" or "i386" => "x86",
        "amd64" or "x64" => "amd64",
        "ia64" => "ia64",
        "arm64" => "arm64",
        _ => null,
    };

    /// <summary>Whether Windows <paramref name="major"/>.<paramref name="minor"/> on <paramref name="architecture"/> may use the section (its version at most the installation's).</summary>
    public bool Allows(string architecture, int major, int minor, bool server)
    {
        if ((Architecture ?? "x86") != architecture) return false;
        if (Major is int ma && (ma > major || (ma == major && (Minor ?? 0) > minor))) return false;
        // ProductType 1 is VER_NT_WORKSTATION, 2 a domain controller, 3 a server.
        if (ProductType is int p && (p == 1) == server) return false;
        return true;
    }

    /// <summary>Orders the sections an installation allows: Windows takes the one closest to (at most) its own version.</summary>
    public (int, int, int) Rank => (Major ?? 0, Minor ?? 0, ProductType is null ? 0 : 1);

    public override string ToString() => Text;
}
