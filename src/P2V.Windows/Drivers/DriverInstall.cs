using System.Globalization;
using P2V.Windows.Registry;

namespace P2V.Windows.Drivers;

/// <summary>What one model of a package installs for the devices it matched: its files and services.</summary>
public sealed record DriverInstall(
    DriverPackage Package, DriverModel Model, string ModelsSection, TargetOsVersion? Decoration, string InstallSection,
    IReadOnlyList<(VirtualDevice Device, string HardwareId)> Matches, IReadOnlyList<DriverFile> Files, IReadOnlyList<DriverService> Services)
{
    /// <summary>
    /// Reads an install section: CopyFiles (file-list sections, or @file) with DestinationDirs, and the .Services
    /// section's AddService directives. Returns null with <paramref name="reason"/> when the package cannot be
    /// installed offline (a file it names is missing, a destination other than the Windows, system32, drivers or inf
    /// folder); an INF that contradicts itself throws <see cref="InfFormatException"/>.
    /// </summary>
    public static DriverInstall? Resolve(DriverPackage package, DriverModel model, string modelsSection, TargetOsVersion? decoration, string architecture,
        IReadOnlyList<(VirtualDevice, string)> matches, out string reason)
    {
        var inf = package.Inf;
        reason = "";
        var section = package.InstallSectionFor(model.InstallSection, architecture)
            ?? throw new InfFormatException(package.InfPath, model.Line, $"the install section [{model.InstallSection}] is not in the file");
        var services = new List<DriverService>();
        foreach (var line in inf.Section(section + ".Services").Where(l => string.Equals(l.Key, "AddService", StringComparison.OrdinalIgnoreCase)))
        {
            var name = line.Value(0);
            uint flags = line.Value(1).Length == 0 ? 0 : Number(package, line.Value(1), line.Line);
            if (name.Length == 0) continue; // "AddService = ,2": a device with no function driver
            var svc = line.Value(2);
            if (!inf.HasSection(svc)) throw new InfFormatException(package.InfPath, line.Line, $"AddService names the service-install section [{svc}], which the file does not have");
            uint Field(string key, bool required, uint fallback)
            {
                var entry = inf.Section(svc).FirstOrDefault(l => string.Equals(l.Key, key, StringComparison.OrdinalIgnoreCase));
                if (entry is null)
                    return required ? throw new InfFormatException(package.InfPath, line.Line, $"[{svc}] has no {key} (AddService needs ServiceType, StartType, ErrorControl, ServiceBinary)") : fallback;
                return Number(package, entry.Value(0), entry.Line);
            }
            uint type = Field("ServiceType", true, 0), start = Field("StartType", true, 0), error = Field("ErrorControl", true, 0);
            var binary = inf.Get(svc, "ServiceBinary") ?? throw new InfFormatException(package.InfPath, line.Line, $"[{svc}] has no ServiceBinary");
            services.Add(new DriverService(name, flags, type, start, error, ImagePath(binary), NullIfEmpty(inf.Get(svc, "LoadOrderGroup")),
                NullIfEmpty(inf.Get(svc, "DisplayName")), ServiceValues(package, svc)));
        }
        // The services first: an INF that contradicts itself is an error whether or not its files are there.
        if (services.Count == 0) { reason = $"[{section}.Services] installs no service"; return null; }
        var files = new List<DriverFile>();
        foreach (var line in inf.Section(section).Where(l => string.Equals(l.Key, "CopyFiles", StringComparison.OrdinalIgnoreCase)))
        {
            foreach (var item in line.Values.Where(v => v.Length > 0))
            {
                // CopyFiles=@file copies one file to DefaultDestDir; otherwise each value names a file-list section.
                var entries = item.StartsWith('@') ? [(Dest: item[1..], Source: item[1..], Line: line.Line)]
                    : inf.HasSection(item) ? inf.Section(item).Select(l => (Dest: l.Key ?? l.Value(0), Source: l.Key is null && l.Value(1).Length > 0 ? l.Value(1) : l.Key ?? l.Value(0), l.Line)).ToList()
                    : throw new InfFormatException(package.InfPath, line.Line, $"CopyFiles names [{item}], which the file does not have");
                var folder = DestinationFolder(package, item.StartsWith('@') ? null : item, architecture, out var why);
                if (folder is null) { reason = why; return null; }
                foreach (var (dest, source, at) in entries)
                {
                    if (dest.Length == 0 || dest.IndexOfAny(['\\', '/', ':']) >= 0) throw new InfFormatException(package.InfPath, at, $"'{dest}' is not a file name");
                    var path = SourceFile(package, source, architecture);
                    if (path is null) { reason = $"{source} (CopyFiles, line {at}) is not in {package.Folder}"; return null; }
                    files.Add(new DriverFile(path, folder.Length == 0 ? dest : folder + "\\" + dest));
                }
            }
        }

        return new DriverInstall(package, model, modelsSection, decoration, section, matches, files, services);
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    /// <summary>Decimal or 0x hexadecimal, as INF numbers are written.</summary>
    internal static uint Number(DriverPackage package, string text, int line)
    {
        var t = text.Trim();
        bool hex = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase);
        if (uint.TryParse(hex ? t[2..] : t, hex ? NumberStyles.HexNumber : NumberStyles.None, CultureInfo.InvariantCulture, out uint n)) return n;
        throw new InfFormatException(package.InfPath, line, $"'{text}' is not a number");
    }

    /// <summary>
    /// DestinationDirs (INF DestinationDirs section): the file-list section's entry, else DefaultDestDir; dirid 10 is the
    /// Windows folder, 11 system32, 12 system32\drivers, 17 inf, with an optional subdirectory. Other dirids are refused.
    /// </summary>
    private static string? DestinationFolder(DriverPackage package, string? fileList, string architecture, out string reason)
    {
        reason = "";
        var inf = package.Inf;
        var line = (fileList is null ? null : inf.Section("DestinationDirs").FirstOrDefault(l => string.Equals(l.Key, fileList, StringComparison.OrdinalIgnoreCase)))
            ?? inf.Section("DestinationDirs").FirstOrDefault(l => string.Equals(l.Key, "DefaultDestDir", StringComparison.OrdinalIgnoreCase));
        if (line is null) { reason = $"no DestinationDirs entry for [{fileList}] and no DefaultDestDir"; return null; }
        uint dirid = Number(package, line.Value(0), line.Line);
        string? folder = dirid switch { 10 => "", 11 => "system32", 12 => @"system32\drivers", 17 => "inf", _ => null };
        if (folder is null) { reason = $"DestinationDirs (line {line.Line}) names dirid {dirid}; only 10, 11, 12 and 17 are installed offline"; return null; }
        var sub = line.Value(1).Trim('\\');
        if (sub.Contains("..")) throw new InfFormatException(package.InfPath, line.Line, $"subdirectory '{sub}' leaves its folder");
        return sub.Length == 0 ? folder : folder.Length == 0 ? sub : folder + "\\" + sub;
    }

    /// <summary>
    /// The file in the package: [SourceDisksFiles(.arch)] gives its disk and subdirectory, [SourceDisksNames(.arch)] the
    /// disk's path, relative to the INF's folder; a file with no entry is looked for beside the INF.
    /// </summary>
    private static string? SourceFile(DriverPackage package, string name, string architecture)
    {
        var inf = package.Inf;
        var candidates = new List<string>();
        var entry = new[] { $"SourceDisksFiles.{architecture}", "SourceDisksFiles" }
            .Select(s => inf.Section(s).FirstOrDefault(l => string.Equals(l.Key, name, StringComparison.OrdinalIgnoreCase))).FirstOrDefault(l => l is not null);
        if (entry is not null)
        {
            var disk = new[] { $"SourceDisksNames.{architecture}", "SourceDisksNames" }
                .Select(s => inf.Section(s).FirstOrDefault(l => l.Key == entry.Value(0))).FirstOrDefault(l => l is not null);
            var parts = new[] { disk?.Value(3) ?? "", entry.Value(1) }.Select(p => p.Trim('\\').Replace('\\', '/')).Where(p => p.Length > 0 && !p.Contains("..")).ToArray();
            candidates.Add(Path.Combine([package.Folder, .. parts, name]));
        }
        candidates.Add(Path.Combine(package.Folder, name));
        foreach (var c in candidates)
        {
            var dir = Path.GetDirectoryName(c)!;
            if (!Directory.Exists(dir)) continue;
            // Windows file names are case-insensitive; the package may come from a FAT or ISO copy in any case.
            var match = Directory.EnumerateFiles(dir).FirstOrDefault(f => string.Equals(Path.GetFileName(f), Path.GetFileName(c), StringComparison.OrdinalIgnoreCase));
            if (match is not null) return match;
        }
        return null;
    }

    /// <summary>ServiceBinary → ImagePath relative to the system root, as setup writes kernel drivers' ("system32\DRIVERS\viostor.sys").</summary>
    private static string ImagePath(string binary)
    {
        foreach (var (dirid, folder) in new[] { ("%12%", @"system32\DRIVERS"), ("%11%", "system32"), ("%10%", "") })
            if (binary.StartsWith(dirid, StringComparison.Ordinal))
            {
                var rest = binary[dirid.Length..].TrimStart('\\');
                return folder.Length == 0 ? rest : folder + "\\" + rest;
            }
        return binary;
    }

    /// <summary>
    /// The service section's AddReg lines that write under HKR (the service key): <c>HKR, [subkey], [value-name], [flags], [value]</c>
    /// (INF AddReg directive): flags 0 REG_SZ, 0x00020000 REG_EXPAND_SZ, 0x00010000 REG_MULTI_SZ, 0x00010001 REG_DWORD.
    /// </summary>
    private static List<DriverServiceValue> ServiceValues(DriverPackage package, string serviceSection)
    {
        var inf = package.Inf;
        var values = new List<DriverServiceValue>();
        foreach (var add in inf.Section(serviceSection).Where(l => string.Equals(l.Key, "AddReg", StringComparison.OrdinalIgnoreCase)))
            foreach (var name in add.Values.Where(v => v.Length > 0))
            {
                if (!inf.HasSection(name)) throw new InfFormatException(package.InfPath, add.Line, $"AddReg names [{name}], which the file does not have");
                foreach (var l in inf.Section(name))
                {
                    var root = l.Key is null ? l.Value(0) : l.Key;
                    int first = l.Key is null ? 1 : 0; // "HKR, …" has no '=': every field is a value
                    if (!root.Equals("HKR", StringComparison.OrdinalIgnoreCase))
                        throw new InfFormatException(package.InfPath, l.Line, $"AddReg of a service writes to {root}; only HKR (the service key) is installed offline");
                    string sub = l.Value(first), valueName = l.Value(first + 1);
                    uint flags = l.Value(first + 2).Length == 0 ? 0 : Number(package, l.Value(first + 2), l.Line);
                    var data = l.Values.Skip(first + 3).ToList();
                    (RegistryValueKind kind, byte[] bytes, string shown) = (flags & 0xFFFF0001) switch
                    {
                        0 => (RegistryValueKind.String, RegistryValue.EncodeString(data.FirstOrDefault() ?? ""), $"\"{data.FirstOrDefault()}\""),
                        0x00020000 => (RegistryValueKind.ExpandString, RegistryValue.EncodeString(data.FirstOrDefault() ?? ""), $"\"{data.FirstOrDefault()}\""),
                        0x00010000 => (RegistryValueKind.MultiString, RegistryValue.EncodeMultiString(data), $"[{string.Join(", ", data)}]"),
                        0x00010001 => (RegistryValueKind.DWord, BitConverter.GetBytes(Number(package, data.FirstOrDefault() ?? "0", l.Line)), $"dword:{Number(package, data.FirstOrDefault() ?? "0", l.Line)}"),
                        _ => throw new InfFormatException(package.InfPath, l.Line, $"AddReg flags 0x{flags:X8} are not installed offline (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ, REG_DWORD are)"),
                    };
                    values.Add(new DriverServiceValue(sub, valueName, kind, bytes, shown));
                }
            }
        return values;
    }
}
