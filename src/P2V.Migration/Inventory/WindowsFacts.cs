namespace P2V.Migration.Inventory;

/// <summary>
/// The Windows installation found on a source volume. File-presence facts come from the volume itself;
/// product, version, service pack, computer name and services come from the registry, which
/// <see cref="IWindowsFactsReader"/> fills in (P2V.Windows owns the hive reader). Null means "not known".
/// </summary>
public sealed record WindowsFacts(
    string Disk,
    int Partition,
    string SystemRoot,
    string? Product,
    string? Version,
    string? ServicePack,
    string? Hal,
    string? ComputerName,
    IReadOnlyList<WindowsService> Services,
    bool HasHal,
    bool HasKernel,
    bool HasSystemHive,
    string? BootIni)
{
    /// <summary>What could not be read about the installation (not written to the inventory file; gather prints them).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The HAL files that drive more than one processor (Windows NT 4.0 – Server 2003).</summary>
    public static readonly IReadOnlySet<string> MultiprocessorHals = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "halmps.dll", "halmacpi.dll" };

    public bool HasMultiprocessorHal => Hal is { } h && MultiprocessorHals.Contains(h);

    /// <summary>NT 4.0 – 5.2 pick one HAL at setup; from 6.0 (Vista/2008) the HAL adapts at boot and needs no swap.</summary>
    public bool HasFixedHal => MajorVersion is null or < 6;

    public int? MajorVersion => Version is { } v && System.Version.TryParse(v.Contains('.') ? v : v + ".0", out var p) ? p.Major : null;
    public int? MinorVersion => Version is { } v && System.Version.TryParse(v.Contains('.') ? v : v + ".0", out var p) ? p.Minor : null;

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
            int n = int.Parse(s.AsSpan(start, i - start));
            return (n, i < s.Length && char.IsAsciiLetterLower(s[i]) ? s[i] : null);
        }
    }
}

/// <summary>A service or driver from HKLM\SYSTEM\CurrentControlSet\Services: its name and start type (0 boot … 4 disabled).</summary>
public sealed record WindowsService(string Name, int Start, string? ImagePath);

/// <summary>Read access to the files of an offline volume, whatever its file system.</summary>
public interface IOfflineVolume
{
    bool FileExists(string path);
    bool DirectoryExists(string path);
    /// <summary>At most <paramref name="maxBytes"/> of the file's start.</summary>
    byte[] ReadFile(string path, long maxBytes);
    /// <summary>The NTFS volume behind the files, for readers that need more than files (P2V.Windows); null for other file systems.</summary>
    P2V.Imaging.FileSystems.Ntfs.NtfsVolume? Ntfs => null;
}

/// <summary>
/// The seam to P2V.Windows: fills the registry-derived facts (product, version, service pack, HAL, computer name,
/// services) of an installation whose file-presence facts are already known. <see cref="RegistryFactsReader"/>
/// reads them with P2V.Windows; <see cref="NoRegistryReader"/> leaves them as they are.
/// </summary>
public interface IWindowsFactsReader
{
    WindowsFacts Complete(WindowsFacts found, IOfflineVolume volume);
}

public sealed class NoRegistryReader : IWindowsFactsReader
{
    public static readonly NoRegistryReader Instance = new();
    public WindowsFacts Complete(WindowsFacts found, IOfflineVolume volume) => found;
}
