using System.Text;
using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Boot;
using P2V.Windows.Pe;
using P2V.Windows.Registry;

namespace P2V.Windows;

/// <summary>Where a Windows installation lies: its NTFS volume, the partition holding it and the system root on it.</summary>
/// <param name="Volume">The partition's bytes (the whole disk for a bare volume).</param>
/// <param name="Offset">The volume's first byte on the disk.</param>
/// <param name="Partition">The partition; null for a bare volume with no partition table.</param>
/// <param name="ArcPartition">The partition's number in ARC paths: primary partitions in table order, then logical ones (KB 102873).</param>
public sealed record WindowsLocation(IVirtualDisk Volume, NtfsVolume Ntfs, long Offset, PartitionEntry? Partition, int ArcPartition, string SystemRoot);

/// <summary>How <see cref="WindowsInstallation.Read"/> treats hives it cannot read cleanly.</summary>
public sealed record WindowsReadOptions
{
    /// <summary>Read a dirty hive that no log brings up to date as its primary file stands (as hivex does).</summary>
    public bool AcceptDirtyHives { get; init; }
    /// <summary>A corrupt hive becomes a warning (gather reports what it can) instead of stopping the read (fix-ups).</summary>
    public bool HiveErrorsAsWarnings { get; init; }
}

/// <summary>
/// Finds a Windows installation on an offline disk and reads its facts: the system root (boot.ini's default entry or
/// the BCD store's default loader, else the usual folders), the SOFTWARE and SYSTEM hives (recovered in memory from
/// their logs when dirty), hal.dll and ntoskrnl.exe by their version resources, services, and the boot entries.
/// Gather, validation and the fix-ups all go through here.
/// </summary>
public static class WindowsInstallation
{
    private static readonly string[] UsualRoots = [@"\WINDOWS", @"\WINNT"];
    private static readonly string[] BcdPaths = [@"\Boot\BCD", @"\EFI\Microsoft\Boot\BCD"];

    /// <summary>
    /// The first NTFS partition, in ARC order, that holds a Windows installation; a disk with no partition table is
    /// taken as a bare volume.
    /// </summary>
    /// <exception cref="IOException">No partition holds one (the message says what was tried).</exception>
    public static WindowsLocation Locate(IVirtualDisk disk)
    {
        DiskLayout? layout = null;
        try { layout = DiskLayout.Read(disk); }
        catch (PartitionTableException) when (NtfsVolume.Probe(disk)) { }
        if (layout is null || layout.Partitions.Count == 0)
        {
            if (!NtfsVolume.Probe(disk)) throw new IOException("the disk has no partitions and is not an NTFS volume");
            var bare = NtfsVolume.Open(disk);
            return new WindowsLocation(disk, bare, 0, null, 1, FindSystemRoot(bare) ?? throw new IOException(NoWindows));
        }
        var ordered = layout.Partitions.Where(p => !p.IsLogical).Concat(layout.Partitions.Where(p => p.IsLogical)).ToList();
        var problems = new List<string>();
        foreach (var p in ordered)
        {
            var slice = new DiskSlice(disk, p.Offset, p.Length);
            if (!NtfsVolume.Probe(slice)) continue;
            try
            {
                var volume = NtfsVolume.Open(slice);
                if (FindSystemRoot(volume) is { } root)
                    return new WindowsLocation(slice, volume, p.Offset, p, ordered.IndexOf(p) + 1, root);
            }
            catch (NtfsException e)
            {
                problems.Add($"partition {p.Number}: {e.Message}");
            }
        }
        throw new IOException("no NTFS partition on the disk holds a Windows installation" + (problems.Count > 0 ? ": " + string.Join("; ", problems) : ""));
    }

    private const string NoWindows = "no Windows installation on the volume: neither boot.ini's default path, the BCD store's default loader, nor \\WINDOWS or \\WINNT holds system32\\config\\SYSTEM or system32\\ntoskrnl.exe";

    /// <summary>
    /// The system root as the volume spells it ("\WINDOWS"): boot.ini's default entry, else the BCD store's default
    /// OS loader, else \WINDOWS or \WINNT — the first that holds system32\config\SYSTEM or system32\ntoskrnl.exe.
    /// </summary>
    public static string? FindSystemRoot(NtfsVolume volume)
    {
        var candidates = new List<string>();
        if (ReadBootIni(volume)?.DefaultEntry?.Arc?.Path is { Length: > 1 } path) candidates.Add("\\" + path.Trim('\\'));
        if (ReadBcd(volume, new HiveOpener(volume, new WindowsReadOptions { AcceptDirtyHives = true, HiveErrorsAsWarnings = true }, [])) is { } bcd
            && (bcd.Default ?? bcd.Entries.FirstOrDefault(e => e.IsOsLoader))?.SystemRoot is { Length: > 1 } bcdRoot)
            candidates.Add("\\" + bcdRoot.Trim('\\'));
        candidates.AddRange(UsualRoots);
        foreach (var root in candidates.Distinct(StringComparer.OrdinalIgnoreCase))
            if (volume.FileExists(root + @"\system32\config\SYSTEM") || volume.FileExists(root + @"\system32\ntoskrnl.exe"))
                return CanonicalCase(volume, root);
        return null;
    }

    /// <exception cref="FileNotFoundException">The volume holds no Windows installation.</exception>
    /// <exception cref="RegistryHiveException">A hive is corrupt, or dirty with no usable log (<see cref="DirtyHiveException"/>), unless the options make that a warning.</exception>
    public static WindowsFacts Read(NtfsVolume volume, WindowsReadOptions? options = null)
    {
        options ??= new WindowsReadOptions();
        var warnings = new List<string>();
        var hives = new HiveOpener(volume, options, warnings);

        var bootIni = ReadBootIni(volume);
        var systemRoot = FindSystemRoot(volume) ?? throw new FileNotFoundException(NoWindows);
        var config = systemRoot + @"\system32\config\";

        var software = hives.Open(config + "SOFTWARE");
        var system = hives.Open(config + "SYSTEM");

        var cv = software?.Root.OpenSubkey(@"Microsoft\Windows NT\CurrentVersion");
        if (software is not null && cv is null) warnings.Add(@"SOFTWARE has no Microsoft\Windows NT\CurrentVersion key");

        int controlSet = 0;
        RegistryKey? currentSet = null;
        if (system is not null)
        {
            controlSet = (int)(system.Root.OpenSubkey("Select")?.GetDWord("Current") ?? 0);
            currentSet = controlSet > 0 ? system.Root.OpenSubkey($"ControlSet{controlSet:000}") : null;
            if (currentSet is null)
            {
                warnings.Add(controlSet > 0 ? $"SYSTEM\\Select\\Current names ControlSet{controlSet:000}, which does not exist" : "SYSTEM has no Select\\Current value");
                currentSet = system.Root.Subkeys.FirstOrDefault(k => k.Name.StartsWith("ControlSet", StringComparison.OrdinalIgnoreCase));
            }
        }

        // A /HAL= or /KERNEL= switch on the default boot entry makes NTLDR load that file from system32 instead.
        var entry = bootIni?.DefaultEntry;
        var setupLog = SetupLog(volume, systemRoot);
        var hal = ReadSystemFile(volume, systemRoot + @"\system32\" + (entry?.GetSwitch("HAL") is { Length: > 0 } h ? h : "hal.dll"), setupLog, warnings);
        var kernel = ReadSystemFile(volume, systemRoot + @"\system32\" + (entry?.GetSwitch("KERNEL") is { Length: > 0 } k ? k : "ntoskrnl.exe"), setupLog, warnings);

        string? arch = currentSet?.OpenSubkey(@"Control\Session Manager\Environment")?.GetString("PROCESSOR_ARCHITECTURE");
        arch ??= kernel?.Machine switch { PeMachine.I386 => "x86", PeMachine.Amd64 => "AMD64", PeMachine.Ia64 => "IA64", _ => null };

        var services = new List<WindowsService>();
        if (currentSet?.OpenSubkey("Services") is { } servicesKey)
            foreach (var s in servicesKey.Subkeys)
                services.Add(new WindowsService(s.Name, s.GetDWord("Start"), s.GetDWord("Type"), s.GetString("ImagePath"), s.GetString("Group"), s.GetString("DisplayName")));

        return new WindowsFacts
        {
            SystemRoot = systemRoot,
            ProductName = cv?.GetString("ProductName"),
            Version = cv?.GetString("CurrentVersion"),
            Build = cv?.GetString("CurrentBuildNumber") ?? cv?.GetString("CurrentBuild"),
            ServicePack = cv?.GetString("CSDVersion"),
            CurrentType = cv?.GetString("CurrentType"),
            Architecture = arch,
            ComputerName = currentSet?.OpenSubkey(@"Control\ComputerName\ComputerName")?.GetString("ComputerName"),
            ControlSet = controlSet,
            HasSystemHive = volume.FileExists(config + "SYSTEM"),
            Hal = hal,
            Kernel = kernel,
            Services = services,
            Tcpip = currentSet is null ? [] : TcpipBindings.Read(currentSet),
            BootIni = bootIni,
            BcdEntries = ReadBcd(volume, hives)?.Entries ?? [],
            RecoveredHives = hives.Recovered,
            DirtyHives = hives.UsedDirty,
            Warnings = warnings,
        };
    }

    private static BootIni? ReadBootIni(NtfsVolume volume) => volume.FileExists(@"\boot.ini") ? BootIni.Parse(volume.ReadFile(@"\boot.ini", 1 << 20)) : null;

    private static BcdStore? ReadBcd(NtfsVolume volume, HiveOpener hives)
    {
        foreach (var path in BcdPaths)
            if (volume.FileExists(path))
                return hives.Open(path) is { } hive ? BcdStore.Read(hive) : null;
        return null;
    }

    /// <summary>The directory's name as the volume spells it ("\WINDOWS" vs "\Windows").</summary>
    private static string CanonicalCase(NtfsVolume volume, string root)
    {
        var name = root.Trim('\\');
        if (name.Contains('\\')) return root;
        var entry = volume.ListDirectory("\\").FirstOrDefault(e => e.IsDirectory && string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
        return "\\" + (entry?.Name ?? name);
    }

    /// <summary>Opens hives and whichever of their .LOG1/.LOG2/.LOG exist next to them, noting which needed a log or were used dirty.</summary>
    internal sealed class HiveOpener(NtfsVolume volume, WindowsReadOptions options, List<string> warnings)
    {
        public List<string> Recovered { get; } = [];
        public List<string> UsedDirty { get; } = [];

        /// <summary>Null (with a warning) when the hive is missing, or corrupt and the options allow that.</summary>
        public RegistryHive? Open(string path)
        {
            if (!volume.FileExists(path))
            {
                warnings.Add($"{path} is missing");
                return null;
            }
            byte[]? Log(string suffix) => volume.FileExists(path + suffix) ? volume.ReadFile(path + suffix, RegistryHive.MaxHiveBytes) : null;
            RegistryHive hive;
            try
            {
                hive = RegistryHive.Open(volume.ReadFile(path, RegistryHive.MaxHiveBytes), path, Log(".LOG1"), Log(".LOG2"), Log(".LOG"), options.AcceptDirtyHives);
            }
            catch (RegistryHiveException e) when (options.HiveErrorsAsWarnings)
            {
                warnings.Add($"registry not read: {e.Message}");
                return null;
            }
            if (hive.RecoveredFromLog) Recovered.Add(path);
            if (hive.OpenedDirty)
            {
                UsedDirty.Add(path);
                warnings.Add($"{path} was dirty (its sequence numbers differ) with no transaction log; read as its primary file stands, as hivex reads it");
            }
            return hive;
        }
    }

    /// <summary>
    /// A system file by its version resource. When it has none (or is no PE file), repair\setup.log still says which
    /// file setup installed under that name: <c>\WINDOWS\system32\hal.dll = "halmacpi.dll","1c6d0"</c>.
    /// </summary>
    private static SystemFile? ReadSystemFile(NtfsVolume volume, string path, IReadOnlyDictionary<string, string> setupLog, List<string> warnings)
    {
        if (!volume.FileExists(path))
        {
            warnings.Add($"{path} is missing");
            return null;
        }
        string? fromLog = setupLog.GetValueOrDefault(path[path.LastIndexOf('\\')..]);
        try
        {
            var image = PeImage.Parse(volume.ReadFile(path, 64L << 20), path);
            var info = image.ReadVersionInfo();
            if (info is null) warnings.Add($"{path} has no version resource" + (fromLog is null ? "" : $"; setup.log names it {fromLog}"));
            return new SystemFile(path, info?.OriginalFilename ?? fromLog, info?.FileVersion, image.Machine);
        }
        catch (PeFormatException e)
        {
            warnings.Add(e.Message + (fromLog is null ? "" : $"; setup.log names it {fromLog}"));
            return new SystemFile(path, fromLog, null, PeMachine.Unknown);
        }
    }

    /// <summary>
    /// %SystemRoot%\repair\setup.log's record of what setup copied: "\system32\hal.dll" → "halmacpi.dll" (the key is the
    /// path's tail from the last backslash, lower case). UTF-16LE with a BOM on 2000 and later, ANSI on NT 4.0.
    /// </summary>
    private static Dictionary<string, string> SetupLog(NtfsVolume volume, string root)
    {
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var path = root + @"\repair\setup.log";
        if (!volume.FileExists(path)) return map;
        var bytes = volume.ReadFile(path, 4 << 20);
        string text = bytes.Length >= 2 && bytes[0] == 0xFF && bytes[1] == 0xFE ? Encoding.Unicode.GetString(bytes, 2, bytes.Length - 2) : Encoding.Latin1.GetString(bytes);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            int eq = line.IndexOf('=');
            if (eq < 0) continue;
            var key = line[..eq].TrimEnd();
            if (!key.Contains(@"\system32\", StringComparison.OrdinalIgnoreCase)) continue;
            var value = line[(eq + 1)..].Trim();
            if (value.StartsWith('"') && value.IndexOf('"', 1) is var end and > 1)
                map.TryAdd(key[key.LastIndexOf('\\')..], value[1..end].ToLowerInvariant());
        }
        return map;
    }
}
