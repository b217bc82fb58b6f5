using P2V.Imaging.FileSystems.Ntfs;
using P2V.Windows.Boot;
using P2V.Windows.Pe;
using P2V.Windows.Registry;

namespace P2V.Windows;

/// <summary>
/// Reads the facts of a Windows installation from its offline NTFS volume: the system root (boot.ini's default
/// entry, else the first of WINDOWS / WINNT that holds system32\config\SYSTEM), the SOFTWARE and SYSTEM hives
/// (recovered in memory from their logs when dirty), hal.dll and ntoskrnl.exe by their version resources,
/// services, and the boot entries (boot.ini, or a BCD store).
/// </summary>
public static class WindowsInstallation
{
    private static readonly string[] ProbedRoots = [@"\WINDOWS", @"\WINNT"];

    /// <exception cref="FileNotFoundException">The volume holds no Windows installation.</exception>
    /// <param name="acceptDirtyHives">Read a dirty hive that no log brings up to date as its primary file stands (as hivex does).</param>
    /// <exception cref="RegistryHiveException">A hive is corrupt, or dirty with no usable log (<see cref="DirtyHiveException"/>).</exception>
    public static WindowsFacts Read(NtfsVolume volume, bool acceptDirtyHives = false)
    {
        var warnings = new List<string>();
        var hives = new HiveOpener(volume, acceptDirtyHives, warnings);

        BootIni? bootIni = null;
        if (volume.FileExists(@"\boot.ini")) bootIni = BootIni.Parse(volume.ReadFile(@"\boot.ini", 1 << 20));
        var systemRoot = FindSystemRoot(volume, bootIni)
            ?? throw new FileNotFoundException("no Windows installation on the volume: neither boot.ini's default path nor \\WINDOWS or \\WINNT holds system32\\config\\SYSTEM");
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
        var hal = ReadSystemFile(volume, systemRoot + @"\system32\" + (entry?.GetSwitch("HAL") is { Length: > 0 } h ? h : "hal.dll"), warnings);
        var kernel = ReadSystemFile(volume, systemRoot + @"\system32\" + (entry?.GetSwitch("KERNEL") is { Length: > 0 } k ? k : "ntoskrnl.exe"), warnings);

        string? arch = currentSet?.OpenSubkey(@"Control\Session Manager\Environment")?.GetString("PROCESSOR_ARCHITECTURE");
        arch ??= kernel?.Machine switch { PeMachine.I386 => "x86", PeMachine.Amd64 => "AMD64", PeMachine.Ia64 => "IA64", _ => null };

        var services = new List<WindowsService>();
        if (currentSet?.OpenSubkey("Services") is { } servicesKey)
            foreach (var s in servicesKey.Subkeys)
                services.Add(new WindowsService(s.Name, s.GetDWord("Start"), s.GetDWord("Type"), s.GetString("ImagePath"), s.GetString("Group"), s.GetString("DisplayName")));

        var bcd = new List<BcdEntry>();
        foreach (var path in new[] { @"\Boot\BCD", @"\EFI\Microsoft\Boot\BCD" })
        {
            if (!volume.FileExists(path)) continue;
            var hive = hives.Open(path);
            if (hive is not null) bcd.AddRange(BcdStore.Read(hive).Entries);
            break;
        }

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
            Hal = hal,
            Kernel = kernel,
            Services = services,
            BootIni = bootIni,
            BcdEntries = bcd,
            RecoveredHives = hives.Recovered,
            DirtyHives = hives.UsedDirty,
            Warnings = warnings,
        };
    }

    private static string? FindSystemRoot(NtfsVolume volume, BootIni? bootIni)
    {
        bool HasSystemHive(string root) => volume.FileExists(root + @"\system32\config\SYSTEM");
        if (bootIni?.DefaultEntry?.Arc?.Path is { Length: > 1 } path)
        {
            var root = "\\" + path.Trim('\\');
            if (HasSystemHive(root)) return CanonicalCase(volume, root);
        }
        foreach (var root in ProbedRoots)
            if (HasSystemHive(root)) return CanonicalCase(volume, root);
        return null;
    }

    /// <summary>The directory's name as the volume spells it ("\WINDOWS" vs "\Windows").</summary>
    private static string CanonicalCase(NtfsVolume volume, string root)
    {
        var name = root.Trim('\\');
        var entry = volume.ListDirectory("\\").FirstOrDefault(e => e.IsDirectory && string.Equals(e.Name, name, StringComparison.OrdinalIgnoreCase));
        return "\\" + (entry?.Name ?? name);
    }

    /// <summary>Opens hives and whichever of their .LOG1/.LOG2/.LOG exist next to them, noting which needed a log or were used dirty.</summary>
    internal sealed class HiveOpener(NtfsVolume volume, bool acceptDirty, List<string> warnings)
    {
        public List<string> Recovered { get; } = [];
        public List<string> UsedDirty { get; } = [];

        /// <summary>Null (with a warning) when the hive is missing.</summary>
        public RegistryHive? Open(string path)
        {
            if (!volume.FileExists(path))
            {
                warnings.Add($"{path} is missing");
                return null;
            }
            byte[]? Log(string suffix) => volume.FileExists(path + suffix) ? volume.ReadFile(path + suffix, RegistryHive.MaxHiveBytes) : null;
            var hive = RegistryHive.Open(volume.ReadFile(path, RegistryHive.MaxHiveBytes), path, Log(".LOG1"), Log(".LOG2"), Log(".LOG"), acceptDirty);
            if (hive.RecoveredFromLog) Recovered.Add(path);
            if (hive.OpenedDirty) UsedDirty.Add(path);
            return hive;
        }
    }

    private static SystemFile? ReadSystemFile(NtfsVolume volume, string path, List<string> warnings)
    {
        if (!volume.FileExists(path))
        {
            warnings.Add($"{path} is missing");
            return null;
        }
        try
        {
            var image = PeImage.Parse(volume.ReadFile(path, 64L << 20), path);
            var info = image.ReadVersionInfo();
            if (info is null) warnings.Add($"{path} has no version resource");
            return new SystemFile(path, info?.OriginalFilename, info?.FileVersion, image.Machine);
        }
        catch (PeFormatException e)
        {
            warnings.Add(e.Message);
            return null;
        }
    }
}
