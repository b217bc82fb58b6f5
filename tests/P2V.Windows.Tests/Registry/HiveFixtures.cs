using System.Text;
using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>
/// Hives shaped like Windows XP/2003 SYSTEM and SOFTWARE: an empty base made by our writer (hivex cannot create
/// a hive from nothing), filled by `hivexregedit --merge` from .reg text.
/// </summary>
public static class HiveFixtures
{
    public const string Header = "Windows Registry Editor Version 5.00\n\n";

    public static string Sz(string name, string value) => $"\"{name}\"=\"{value.Replace("\\", "\\\\")}\"\n";
    public static string Dword(string name, uint value) => $"\"{name}\"=dword:{value:x8}\n";
    public static string Hex(string name, int type, byte[] data) =>
        $"\"{name}\"=hex({type:x}):{string.Join(",", data.Select(b => b.ToString("x2")))}\n";
    public static string Expand(string name, string value) => Hex(name, 2, Encoding.Unicode.GetBytes(value + "\0"));
    public static string Multi(string name, params string[] items) => Hex(name, 7, RegistryValue.EncodeMultiString(items));

    public static readonly (string Name, uint Start, uint Type, string Image, string Group)[] Services =
    [
        ("atapi", 0, 1, @"system32\DRIVERS\atapi.sys", "SCSI miniport"),
        ("intelide", 0, 1, @"system32\DRIVERS\intelide.sys", "System Bus Extender"),
        ("pciide", 3, 1, @"system32\DRIVERS\pciide.sys", "System Bus Extender"),
        ("Tcpip", 1, 1, @"system32\DRIVERS\tcpip.sys", "PNP_TDI"),
        ("Dhcp", 2, 0x20, @"%SystemRoot%\system32\svchost.exe -k netsvcs", "TDI"),
        ("CpqCiDrv", 2, 1, @"System32\DRIVERS\CpqCiDrv.sys", "Extended Base"),
        ("Eventlog", 2, 0x10, @"%SystemRoot%\system32\services.exe", "Event log"),
    ];

    /// <summary>.reg text for an XP/2003-like SYSTEM hive (keys relative to the hive root).</summary>
    public static string SystemReg(string computerName = "SRV-DB01", int controlSet = 1)
    {
        var sb = new StringBuilder(Header);
        sb.Append("[\\Select]\n").Append(Dword("Current", (uint)controlSet)).Append(Dword("Default", (uint)controlSet))
          .Append(Dword("Failed", 0)).Append(Dword("LastKnownGood", 2)).Append('\n');
        sb.Append("[\\MountedDevices]\n").Append(Hex("\\DosDevices\\C:", 3, [0x8a, 0x4c, 0x2e, 0x11, 0, 0x7e, 0, 0, 0, 0, 0, 0])).Append('\n');
        foreach (int set in new[] { 1, 2 })
        {
            var cs = $"ControlSet{set:000}";
            var name = set == controlSet ? computerName : "OLD-NAME";
            sb.Append($"[\\{cs}\\Control\\ComputerName\\ComputerName]\n").Append(Sz("ComputerName", name)).Append('\n');
            sb.Append($"[\\{cs}\\Control\\CrashControl]\n").Append(Dword("AutoReboot", 1)).Append(Expand("DumpFile", "%SystemRoot%\\MEMORY.DMP")).Append('\n');
            sb.Append($"[\\{cs}\\Control\\Session Manager\\Environment]\n").Append(Sz("PROCESSOR_ARCHITECTURE", "x86"))
              .Append(Sz("NUMBER_OF_PROCESSORS", "4")).Append('\n');
            sb.Append($"[\\{cs}\\Control\\Class\\{{4D36E97B-E325-11CE-BFC1-08002BE10318}}]\n").Append(Sz("Class", "SCSIAdapter"))
              .Append(Multi("UpperFilters", "CpqCiDrv")).Append('\n');
            foreach (var s in Services)
            {
                sb.Append($"[\\{cs}\\Services\\{s.Name}]\n").Append(Dword("Start", s.Start)).Append(Dword("Type", s.Type))
                  .Append(Dword("ErrorControl", 1)).Append(Expand("ImagePath", s.Image)).Append(Sz("Group", s.Group)).Append('\n');
            }
            sb.Append($"[\\{cs}\\Services\\Tcpip\\Parameters]\n").Append(Sz("Hostname", name.ToLowerInvariant()))
              .Append(Multi("NameServer", "10.0.0.1", "10.0.0.2")).Append(Hex("Big", 0xb, BitConverter.GetBytes(0x0102030405060708UL))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>.reg text for an XP/2003-like SOFTWARE hive.</summary>
    public static string SoftwareReg(string product = "Microsoft Windows Server 2003", string version = "5.2", string build = "3790",
        string? servicePack = "Service Pack 2")
    {
        var sb = new StringBuilder(Header);
        sb.Append("[\\Microsoft\\Windows NT\\CurrentVersion]\n").Append(Sz("ProductName", product)).Append(Sz("CurrentVersion", version))
          .Append(Sz("CurrentBuildNumber", build)).Append(Sz("CurrentType", "Multiprocessor Free"))
          .Append(Sz("SystemRoot", "C:\\WINDOWS")).Append(Sz("RegisteredOwner", "Ops"));
        if (servicePack is not null) sb.Append(Sz("CSDVersion", servicePack));
        sb.Append('\n');
        sb.Append("[\\Microsoft\\Windows\\CurrentVersion]\n").Append(Sz("ProgramFilesDir", "C:\\Program Files")).Append(Sz("DevicePath", "%SystemRoot%\\inf")).Append('\n');
        sb.Append("[\\Compaq\\Insight Agents]\n").Append(Sz("Version", "7.60")).Append('\n');
        return sb.ToString();
    }

    /// <summary>An empty hive from our writer, filled by hivexregedit --merge.</summary>
    public static string Build(TempDirectory tmp, string name, string reg, int minorVersion = 3)
    {
        var path = tmp.File(name);
        RegistryHive.Create("CMI-CreateHive{" + name + "}", minorVersion, name).Save(path);
        var regPath = tmp.File(name + ".reg");
        File.WriteAllText(regPath, WithParents(reg));
        ExternalTool.Run("hivexregedit", "--merge", path, regPath);
        return path;
    }

    /// <summary>hivexregedit --merge creates a key only under an existing parent: emit every ancestor's header first.</summary>
    public static string WithParents(string reg)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var sb = new StringBuilder();
        foreach (var line in reg.Split('\n'))
        {
            if (line.StartsWith("[\\") && line.EndsWith(']'))
            {
                var parts = line[2..^1].Split('\\');
                for (int i = 1; i < parts.Length; i++)
                {
                    var parent = string.Join('\\', parts[..i]);
                    if (seen.Add(parent)) sb.Append($"[\\{parent}]\n\n");
                }
                seen.Add(line[2..^1]);
            }
            sb.Append(line).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>hivexregedit --export of the whole hive, one line per value or key header.</summary>
    public static string Export(string path) => ExternalTool.Run("hivexregedit", "--export", path, "\\");

    /// <summary>An export as key path → (value name → data text), so tests can state exactly what should differ.</summary>
    public static Dictionary<string, SortedDictionary<string, string>> ExportMap(string path)
    {
        var map = new Dictionary<string, SortedDictionary<string, string>>(StringComparer.OrdinalIgnoreCase);
        SortedDictionary<string, string>? current = null;
        foreach (var raw in Export(path).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.StartsWith('[') && line.EndsWith(']')) map[line[1..^1]] = current = new(StringComparer.Ordinal);
            else if (line.StartsWith('"') || line.StartsWith('@'))
            {
                int eq = line.StartsWith('@') ? 1 : line.IndexOf("\"=", StringComparison.Ordinal) + 1;
                current![line[..eq]] = line[(eq + 1)..];
            }
        }
        return map;
    }

    public static string Describe(Dictionary<string, SortedDictionary<string, string>> map) =>
        string.Join("\n", map.OrderBy(k => k.Key, StringComparer.OrdinalIgnoreCase)
            .SelectMany(k => new[] { $"[{k.Key}]" }.Concat(k.Value.Select(v => $"{v.Key}={v.Value}"))));
}
