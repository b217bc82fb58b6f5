namespace P2V.Windows.Drivers;

/// <summary>
/// A Windows driver package: an INF file and the files beside it. Holds what the INF's [Version] says
/// (Class, ClassGuid, Provider, DriverVer) and its [Manufacturer] entries; <see cref="ModelsFor"/> picks the
/// Models section an installation would use and <see cref="Resolve"/> reads an install section's files and services.
/// </summary>
public sealed class DriverPackage
{
    private DriverPackage(InfFile inf, string path)
    {
        Inf = inf;
        InfPath = path;
    }

    public InfFile Inf { get; }
    public string InfPath { get; }
    public string Folder => Path.GetDirectoryName(Path.GetFullPath(InfPath))!;
    public string? Class { get; private init; }
    public string? ClassGuid { get; private init; }
    public string? Provider { get; private init; }
    public string? DriverVer { get; private init; }
    public IReadOnlyList<DriverManufacturer> Manufacturers { get; private init; } = [];

    /// <summary>Storage controller classes: their drivers start at boot (Start = 0), or the system disk is not found (STOP 0x7B).</summary>
    public bool IsStorage => Class is { } c && (c.Equals("SCSIAdapter", StringComparison.OrdinalIgnoreCase) || c.Equals("HDC", StringComparison.OrdinalIgnoreCase));

    public static DriverPackage Load(string infPath)
    {
        var inf = InfFile.Load(infPath);
        // [Version] (INF Version section): Signature "$Windows NT$" or "$Chicago$"; Class and ClassGuid name the setup class.
        var signature = inf.Get("Version", "Signature");
        if (signature is null) throw new InfFormatException(infPath, 0, "no [Version] Signature: not an INF file");
        if (!signature.Equals("$Windows NT$", StringComparison.OrdinalIgnoreCase) && !signature.Equals("$Chicago$", StringComparison.OrdinalIgnoreCase))
            throw new InfFormatException(infPath, inf.Section("Version").First(l => string.Equals(l.Key, "Signature", StringComparison.OrdinalIgnoreCase)).Line,
                $"Signature {signature}: not a Windows NT driver INF ($Windows NT$ or $Chicago$)");
        var manufacturers = new List<DriverManufacturer>();
        foreach (var line in inf.Section("Manufacturer"))
        {
            // "manufacturer-name" alone names a Models section of that name.
            string models = line.Key is null ? line.Value(0) : line.Value(0);
            string name = line.Key ?? line.Value(0);
            if (models.Length == 0) throw new InfFormatException(infPath, line.Line, "a [Manufacturer] entry without its Models section name");
            var decorations = new List<TargetOsVersion>();
            foreach (var d in line.Values.Skip(1).Where(v => v.Length > 0))
                decorations.Add(TargetOsVersion.Parse(d) ?? throw new InfFormatException(infPath, line.Line, $"'{d}' is not a TargetOSVersion (NT[arch][.major[.minor…]])"));
            manufacturers.Add(new DriverManufacturer(name, models, decorations, line.Line));
        }
        return new DriverPackage(inf, infPath)
        {
            Class = inf.Get("Version", "Class"),
            ClassGuid = inf.Get("Version", "ClassGuid"),
            Provider = inf.Get("Version", "Provider"),
            DriverVer = inf.Get("Version", "DriverVer"),
            Manufacturers = manufacturers,
        };
    }

    /// <summary>
    /// The Models entries Windows <paramref name="major"/>.<paramref name="minor"/> on <paramref name="architecture"/>
    /// would read, per manufacturer: Windows 2000 and NT 4.0 know no decorations and read the undecorated section; XP
    /// and later the allowed decoration closest to their version, else (x86 only) the undecorated one. Null, with
    /// <paramref name="reason"/>, when no section applies.
    /// </summary>
    public List<(DriverModel Model, string Section, TargetOsVersion? Decoration)>? ModelsFor(string architecture, int major, int minor, bool server, out string reason)
    {
        var models = new List<(DriverModel, string, TargetOsVersion?)>();
        var offered = new List<string>();
        foreach (var m in Manufacturers)
        {
            TargetOsVersion? chosen = null;
            if (major > 5 || (major == 5 && minor >= 1))
                chosen = m.Decorations.Where(d => d.Allows(architecture, major, minor, server)).OrderByDescending(d => d.Rank).FirstOrDefault();
            offered.AddRange(m.Decorations.Select(d => d.Text));
            string section;
            if (chosen is not null) section = $"{m.ModelsSection}.{chosen.Text}";
            else if (architecture == "x86" && (m.Decorations.Count == 0 || Inf.HasSection(m.ModelsSection) || major < 5 || (major == 5 && minor == 0))) section = m.ModelsSection;
            else continue;
            if (!Inf.HasSection(section))
            {
                if (chosen is not null) throw new InfFormatException(InfPath, m.Line, $"[Manufacturer] names the Models section [{section}], which the file does not have");
                continue;
            }
            foreach (var line in Inf.Section(section))
            {
                if (line.Key is null || line.Value(0).Length == 0) throw new InfFormatException(InfPath, line.Line, $"[{section}]: a model needs 'description = install-section, hardware-id'");
                var ids = line.Values.Skip(1).Where(v => v.Length > 0).ToList();
                models.Add((new DriverModel(line.Key, line.Value(0), ids, line.Line), section, chosen));
            }
        }
        reason = models.Count > 0 ? "" : Manufacturers.Count == 0
            ? "the INF has no [Manufacturer] section"
            : $"no Models section for Windows {major}.{minor} {architecture} (the INF offers {(offered.Count == 0 ? "only undecorated sections" : string.Join(", ", offered.Distinct(StringComparer.OrdinalIgnoreCase)))})";
        return models.Count > 0 ? models : null;
    }

    /// <summary>
    /// The install section actually used for <paramref name="section"/> on <paramref name="architecture"/>: setup tries
    /// section.NT&lt;arch&gt;, then section.NT, then the section itself ("Creating INF Files for Multiple Platforms and Operating Systems").
    /// </summary>
    public string? InstallSectionFor(string section, string architecture) =>
        new[] { $"{section}.NT{architecture}", $"{section}.NT", section }.FirstOrDefault(Inf.HasSection);
}
