using P2V.Imaging.FileSystems.Ntfs;
using P2V.Windows.Cabinet;
using P2V.Windows.Pe;

namespace P2V.Windows.Fixups;

/// <summary>A replacement system file found for a swap, with where it came from.</summary>
public sealed record PatchFile(string Name, byte[] Content, string Origin, VersionInfo Version);

/// <summary>
/// Where replacement HAL and kernel files come from, in this order (docs/fixups.md, "Patch library"):
/// the user's patch library folder <c>DIR/&lt;os&gt;/&lt;sp&gt;/&lt;arch&gt;/&lt;kernel file version&gt;/&lt;file&gt;</c>
/// (e.g. <c>5.2/sp2/x86/5.2.3790.4354/halaacpi.dll</c>; other service-pack folders are tried for the same
/// version, since hotfixes move a kernel past its service pack), then the installation's own cabinets
/// <c>&lt;SystemRoot&gt;\Driver Cache\&lt;i386|amd64&gt;\spN.cab</c> (newest first) and <c>driver.cab</c>. A
/// candidate is used only when its version resource says it is the wanted file (OriginalFilename) for the same
/// machine and build: kernels must carry exactly the installed kernel's file version, HALs its build number.
/// </summary>
public sealed class PatchLibrary(string? directory, NtfsVolume volume, WindowsFacts facts)
{
    public static string OsKey(WindowsFacts facts) => facts.Version ?? "unknown";

    /// <summary>"sp0" before any service pack, else "spN" from "Service Pack N".</summary>
    public static int ServicePackNumber(WindowsFacts facts) =>
        facts.ServicePack is { } sp && sp.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() is { } last && int.TryParse(last, out int n) ? n : 0;

    public static string ArchKey(WindowsFacts facts) => (facts.Architecture ?? "x86").ToLowerInvariant();

    /// <summary>The folder the user fills for this installation (it may not exist yet).</summary>
    public string? ExpectedFolder(Version kernelVersion) => directory is null ? null
        : Path.Combine(directory, OsKey(facts), "sp" + ServicePackNumber(facts), ArchKey(facts), kernelVersion.ToString());

    /// <summary>
    /// The replacement for <paramref name="originalFilename"/> (e.g. "halaacpi.dll", "ntkrnlmp.exe"), or null with
    /// the reasons each candidate was turned down in <paramref name="rejected"/>.
    /// </summary>
    public PatchFile? Find(string originalFilename, PeMachine machine, Version kernelVersion, bool exactVersion, List<string> rejected)
    {
        foreach (var (origin, load) in Candidates(originalFilename, kernelVersion))
        {
            byte[] content;
            try
            {
                content = load();
            }
            catch (Exception e) when (e is IOException or CabinetException or NotSupportedException)
            {
                rejected.Add($"{origin}: {e.Message}");
                continue;
            }
            VersionInfo? version;
            PeImage image;
            try
            {
                image = PeImage.Parse(content, origin);
                version = image.ReadVersionInfo();
            }
            catch (PeFormatException e)
            {
                rejected.Add($"{origin}: {e.Message}");
                continue;
            }
            if (version is null) { rejected.Add($"{origin}: no version resource"); continue; }
            if (!string.Equals(version.OriginalFilename, originalFilename, StringComparison.OrdinalIgnoreCase))
            { rejected.Add($"{origin}: OriginalFilename is {version.OriginalFilename ?? "missing"}, not {originalFilename}"); continue; }
            if (image.Machine != machine) { rejected.Add($"{origin}: built for {image.Machine}, the installation is {machine}"); continue; }
            bool matches = exactVersion ? version.FileVersion == kernelVersion : version.FileVersion.Build == kernelVersion.Build
                && version.FileVersion.Major == kernelVersion.Major && version.FileVersion.Minor == kernelVersion.Minor;
            if (!matches)
            {
                rejected.Add($"{origin}: version {version.FileVersion}, the installed kernel is {kernelVersion}{(exactVersion ? "" : $" (build {kernelVersion.Build} needed)")}");
                continue;
            }
            return new PatchFile(originalFilename, content, origin, version);
        }
        return null;
    }

    private IEnumerable<(string Origin, Func<byte[]> Load)> Candidates(string fileName, Version kernelVersion)
    {
        if (directory is not null && Directory.Exists(Path.Combine(directory, OsKey(facts))))
        {
            var osDir = Path.Combine(directory, OsKey(facts));
            var preferred = "sp" + ServicePackNumber(facts);
            var spDirs = Directory.GetDirectories(osDir).OrderBy(d => string.Equals(Path.GetFileName(d), preferred, StringComparison.OrdinalIgnoreCase) ? 0 : 1).ThenBy(d => d, StringComparer.Ordinal);
            foreach (var sp in spDirs)
            {
                var dir = Path.Combine(sp, ArchKey(facts), kernelVersion.ToString());
                if (!Directory.Exists(dir)) continue;
                var file = Directory.GetFiles(dir).FirstOrDefault(f => string.Equals(Path.GetFileName(f), fileName, StringComparison.OrdinalIgnoreCase));
                if (file is not null) yield return (file, () => File.ReadAllBytes(file));
            }
        }

        string cacheDir = $@"{facts.SystemRoot}\Driver Cache\{(ArchKey(facts) == "amd64" ? "amd64" : "i386")}";
        var cabs = new List<string>();
        for (int n = ServicePackNumber(facts); n >= 1; n--) cabs.Add($@"{cacheDir}\sp{n}.cab");
        cabs.Add($@"{cacheDir}\driver.cab");
        foreach (var cab in cabs)
        {
            if (!volume.FileExists(cab)) continue;
            yield return ($"{cab}:{fileName}", () =>
            {
                using var stream = volume.OpenFile(cab);
                using var archive = CabinetArchive.Open(stream, cab);
                return archive.Find(fileName) is { } f ? archive.Extract(f) : throw new FileNotFoundException($"'{fileName}' is not in the cabinet");
            });
        }
    }
}
