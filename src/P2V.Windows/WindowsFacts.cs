using P2V.Windows.Boot;
using P2V.Windows.Pe;

namespace P2V.Windows;

/// <summary>The HAL variants of Windows 2000/XP/2003, by the OriginalFilename in hal.dll's version resource.</summary>
public enum HalType
{
    Unknown,
    /// <summary>hal.dll: Standard PC (no ACPI, no APIC).</summary>
    StandardPc,
    /// <summary>halacpi.dll: Advanced Configuration and Power Interface (ACPI) PC (PIC, uniprocessor).</summary>
    AcpiPc,
    /// <summary>halaacpi.dll: ACPI Uniprocessor PC (APIC).</summary>
    AcpiUniprocessor,
    /// <summary>halmacpi.dll: ACPI Multiprocessor PC.</summary>
    AcpiMultiprocessor,
    /// <summary>halapic.dll: MPS Uniprocessor PC.</summary>
    MpsUniprocessor,
    /// <summary>halmps.dll: MPS Multiprocessor PC.</summary>
    MpsMultiprocessor,
}

public static class HalTypes
{
    public static HalType FromOriginalFilename(string? name) => name?.ToLowerInvariant() switch
    {
        "hal.dll" => HalType.StandardPc,
        "halacpi.dll" => HalType.AcpiPc,
        "halaacpi.dll" => HalType.AcpiUniprocessor,
        "halmacpi.dll" => HalType.AcpiMultiprocessor,
        "halapic.dll" => HalType.MpsUniprocessor,
        "halmps.dll" => HalType.MpsMultiprocessor,
        _ => HalType.Unknown,
    };

    public static bool IsAcpi(this HalType t) => t is HalType.AcpiPc or HalType.AcpiUniprocessor or HalType.AcpiMultiprocessor;

    public static bool IsMultiprocessor(this HalType t) => t is HalType.AcpiMultiprocessor or HalType.MpsMultiprocessor;

    /// <summary>The file a HAL ships as on the media (the inverse of <see cref="FromOriginalFilename"/>).</summary>
    public static string? FileName(this HalType t) => t switch
    {
        HalType.StandardPc => "hal.dll",
        HalType.AcpiPc => "halacpi.dll",
        HalType.AcpiUniprocessor => "halaacpi.dll",
        HalType.AcpiMultiprocessor => "halmacpi.dll",
        HalType.MpsUniprocessor => "halapic.dll",
        HalType.MpsMultiprocessor => "halmps.dll",
        _ => null,
    };
}

/// <summary>
/// A system file (hal.dll, ntoskrnl.exe …) identified by its version resource; <see cref="OriginalFilename"/> may come
/// from repair\setup.log instead when the file has none. Present on the volume whenever it exists at all.
/// </summary>
public sealed record SystemFile(string Path, string? OriginalFilename, Version? FileVersion, PeMachine Machine)
{
    public int? Build => FileVersion?.Build;
    /// <summary>ntkrnlmp.exe / ntkrpamp.exe are the multiprocessor kernels.</summary>
    public bool IsMultiprocessorKernel => OriginalFilename?.ToLowerInvariant() is "ntkrnlmp.exe" or "ntkrpamp.exe";
}

/// <summary>A service or driver key under SYSTEM\CurrentControlSet\Services (Start: 0 boot … 4 disabled; Type: 1 kernel driver, 2 file system driver, 0x10/0x20 Win32 service).</summary>
public sealed record WindowsService(string Name, uint? Start, uint? Type = null, string? ImagePath = null, string? Group = null, string? DisplayName = null)
{
    public bool IsDriver => Type is 1 or 2 or 8;
}

/// <summary>
/// What <see cref="WindowsInstallation.Read"/> found on an offline volume: the one model of an installation, used by
/// the fix-ups and (flattened to XML only by the inventory file) by gather, validation and planning. Null means
/// "not known".
/// </summary>
public sealed record WindowsFacts
{
    /// <summary>The system root on the volume, e.g. "\WINDOWS".</summary>
    public required string SystemRoot { get; init; }
    public string? ProductName { get; init; }
    /// <summary>CurrentVersion, e.g. "5.2".</summary>
    public string? Version { get; init; }
    /// <summary>CurrentBuildNumber, e.g. "3790".</summary>
    public string? Build { get; init; }
    /// <summary>CSDVersion, e.g. "Service Pack 2" ("" or null: no service pack).</summary>
    public string? ServicePack { get; init; }
    /// <summary>CurrentType, e.g. "Multiprocessor Free".</summary>
    public string? CurrentType { get; init; }
    /// <summary>"x86", "AMD64" or "IA64" (PROCESSOR_ARCHITECTURE, else the kernel's PE machine).</summary>
    public string? Architecture { get; init; }
    public string? ComputerName { get; init; }
    /// <summary>The control set that CurrentControlSet stands for (SYSTEM\Select\Current).</summary>
    public int ControlSet { get; init; }
    /// <summary>system32\config\SYSTEM exists (whether or not it could be read).</summary>
    public bool HasSystemHive { get; init; }
    /// <summary>The HAL NTLDR loads (hal.dll, or boot.ini's /HAL=); null when the file is missing.</summary>
    public SystemFile? Hal { get; init; }
    public HalType HalType => HalTypes.FromOriginalFilename(Hal?.OriginalFilename);
    /// <summary>The HAL by the file name it ships as ("halmacpi.dll"), lower case; null when not known.</summary>
    public string? HalName => Hal?.OriginalFilename?.ToLowerInvariant();
    /// <summary>The kernel NTLDR loads (ntoskrnl.exe, or boot.ini's /KERNEL=); null when the file is missing.</summary>
    public SystemFile? Kernel { get; init; }
    public IReadOnlyList<WindowsService> Services { get; init; } = [];
    /// <summary>The network adapters' TCP/IP settings (<see cref="TcpipBindings"/>).</summary>
    public IReadOnlyList<TcpipBinding> Tcpip { get; init; } = [];
    public BootIni? BootIni { get; init; }
    public IReadOnlyList<BcdEntry> BcdEntries { get; init; } = [];
    /// <summary>Hives that were dirty and brought up to date from their logs (in memory only).</summary>
    public IReadOnlyList<string> RecoveredHives { get; init; } = [];
    /// <summary>Hives that were dirty with no log to bring them up to date, read as their primary files stand.</summary>
    public IReadOnlyList<string> DirtyHives { get; init; } = [];
    /// <summary>What could not be read, one line each (a missing hal.dll, a missing SOFTWARE hive …).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public int? MajorVersion => ParsedVersion?.Major;
    public int? MinorVersion => ParsedVersion?.Minor;
    private System.Version? ParsedVersion => Version is { } v && System.Version.TryParse(v.Contains('.') ? v : v + ".0", out var p) ? p : null;

    /// <summary>NT 4.0 – 5.2 pick one HAL at setup; from 6.0 (Vista/2008) the HAL adapts at boot and needs no swap.</summary>
    public bool HasFixedHal => MajorVersion is null or < 6;

    /// <summary>"Service Pack 6a" → (6, 'a'); "" or null → (0, null): no service pack.</summary>
    public (int Number, char? Letter) ServicePackLevel
    {
        get
        {
            var s = ServicePack ?? "";
            int i = 0;
            while (i < s.Length && !char.IsAsciiDigit(s[i])) i++;
            int start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == start) return (0, null);
            int n = int.Parse(s.AsSpan(start, i - start), System.Globalization.CultureInfo.InvariantCulture);
            return (n, i < s.Length && char.IsAsciiLetterLower(s[i]) ? s[i] : null);
        }
    }
}
