namespace P2V.Windows.Fixups;

/// <summary>
/// The services and drivers of physical servers that have no hardware to drive in a VM — vendor management
/// agents, RAID/HBA drivers, multipath and NIC-teaming drivers — read from an editable text file
/// (hardware-services.txt beside the program; docs/fixups.md): one service name per line, then optional words
/// describing it; '#' starts a comment. Listed services present in the installation are set to Start=4
/// (disabled, not deleted) and removed from the class keys' UpperFilters/LowerFilters.
/// </summary>
public sealed record HardwareServiceList(IReadOnlyDictionary<string, string> Services)
{
    public const string DefaultFileName = "hardware-services.txt";

    public static string DefaultPath => Path.Combine(AppContext.BaseDirectory, DefaultFileName);

    public static HardwareServiceList Load(string path)
    {
        var services = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            var line = raw;
            int hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;
            int space = line.IndexOfAny([' ', '\t']);
            var name = space < 0 ? line : line[..space];
            if (name.IndexOfAny(['\\', '/']) >= 0) throw new InvalidDataException($"{path} line {number}: '{name}' is not a service name");
            services[name] = space < 0 ? "" : line[space..].Trim();
        }
        return new HardwareServiceList(services);
    }

    public bool Contains(string service) => Services.ContainsKey(service);
}
