using P2V.Imaging.FileSystems.Ntfs;
using P2V.Windows.Fixups;

namespace P2V.Windows.Drivers;

/// <summary>
/// The fix-up's "drivers" step (docs/drivers-and-firstboot.md): what Windows setup would do to install the chosen
/// packages, done offline — each CopyFiles file into its DestinationDirs folder, the INF (and its catalog) into the
/// INF store as oemN.inf/oemN.cat, and, in the SYSTEM hive's control sets (added to the registry step), each
/// AddService service key and, for storage controllers, a CriticalDeviceDatabase entry per hardware ID so the boot
/// driver binds to the VM's disk controller before Plug and Play runs (boot start, Start = 0).
/// </summary>
internal sealed class DriverFixup
{
    public const string Step = "drivers";

    private readonly DriverSelection _selection;
    private readonly List<(string Path, byte[] Content, string Source, string Description)> _files = [];
    private readonly List<string> _directories = [];

    private DriverFixup(DriverSelection selection) => _selection = selection;

    public static (DriverFixup Fixup, PlannedStep Step) Plan(NtfsVolume volume, WindowsFacts facts, string folder, TargetHypervisor target, FixupReport report)
    {
        var fixup = new DriverFixup(DriverSelection.Choose(folder, facts, target));
        var details = new List<string>();
        var root = facts.SystemRoot;
        var infStore = root + @"\inf";
        if (!volume.DirectoryExists(infStore)) fixup._directories.Add(infStore);
        // oemN.inf: the next free number, unless the same INF is already there (a second run changes nothing).
        var existing = volume.DirectoryExists(infStore) ? volume.ListDirectory(infStore).Select(e => e.Name).ToList() : [];
        int next = existing.Select(n => n.StartsWith("oem", StringComparison.OrdinalIgnoreCase) && n.EndsWith(".inf", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(n[3..^4], out int k) ? k + 1 : 0).DefaultIfEmpty(0).Max();

        foreach (var package in fixup._selection.Installs.Select(i => i.Package).Distinct())
        {
            var infBytes = File.ReadAllBytes(package.InfPath);
            var same = existing.FirstOrDefault(n => n.StartsWith("oem", StringComparison.OrdinalIgnoreCase) && n.EndsWith(".inf", StringComparison.OrdinalIgnoreCase)
                && volume.ReadFile($@"{infStore}\{n}").AsSpan().SequenceEqual(infBytes));
            var oem = same is null ? $"oem{next++}" : same[..^4];
            fixup.Add(volume, $@"{infStore}\{oem}.inf", infBytes, package.InfPath, $"{Path.GetFileName(package.InfPath)} → INF store as {oem}.inf");
            // The catalog named by [Version] CatalogFile, beside the INF as setup keeps it (it is not entered in the catalog database).
            if (package.Inf.Get("Version", "CatalogFile") is { Length: > 0 } cat && Directory.EnumerateFiles(package.Folder)
                    .FirstOrDefault(f => string.Equals(Path.GetFileName(f), cat, StringComparison.OrdinalIgnoreCase)) is { } catPath)
                fixup.Add(volume, $@"{infStore}\{oem}.cat", File.ReadAllBytes(catPath), catPath, $"{cat} → INF store as {oem}.cat");
        }
        foreach (var install in fixup._selection.Installs)
        {
            foreach (var file in install.Files)
            {
                var path = $@"{root}\{file.Destination}";
                var dir = path[..path.LastIndexOf('\\')];
                if (!volume.DirectoryExists(dir) && !fixup._directories.Contains(dir, StringComparer.OrdinalIgnoreCase)) fixup._directories.Add(dir);
                fixup.Add(volume, path, File.ReadAllBytes(file.SourcePath), file.SourcePath, $"{Path.GetFileName(file.SourcePath)} → {path}");
            }
            var service = install.Services.FirstOrDefault(s => s.IsAssociated) ?? install.Services[0];
            report.DriversInstalled.Add($"{Path.GetFileName(install.Package.InfPath)} [{install.ModelsSection}] \"{install.Model.Description}\" for " +
                $"{string.Join(", ", install.Matches.Select(m => $"{m.Device.Name} ({m.HardwareId})"))}: service {service.Name}, Start {(install.Package.IsStorage ? 0 : service.Start)}, " +
                $"{install.Files.Count} file{(install.Files.Count == 1 ? "" : "s")} (from {install.Package.InfPath})");
        }
        report.DriversSkipped.AddRange(fixup._selection.Skipped.Select(s => $"{s.Inf}: {s.Reason}"));
        if (fixup._selection.Installs.Count == 0)
            report.Warnings.Add($"--drivers {folder}: no package fits this installation and {target.DisplayName}; nothing installed");

        details.AddRange(fixup._directories.Select(d => $"{d}: new directory"));
        details.AddRange(fixup._files.Select(f => f.Description));
        details.AddRange(fixup._selection.Skipped.Select(s => $"skipped {s.Inf}: {s.Reason}"));
        if (details.Count == 0) details.Add("nothing to install");
        var step = new PlannedStep(Step, $"drivers from {folder} for {target.Name}: {fixup._selection.Installs.Count} installed, {fixup._selection.Skipped.Count} skipped", details, w =>
        {
            foreach (var d in fixup._directories) w.CreateDirectories(Step, d);
            foreach (var (path, content, source, description) in fixup._files) w.CreateOrReplaceFile(Step, path, content, description, source);
        });
        return (fixup, step);
    }

    private void Add(NtfsVolume volume, string path, byte[] content, string source, string description)
    {
        if (_files.Any(f => string.Equals(f.Path, path, StringComparison.OrdinalIgnoreCase))) return;
        if (volume.FileExists(path) && volume.ReadFile(path).AsSpan().SequenceEqual(content)) return;
        _files.Add((path, content, source, description + (volume.FileExists(path) ? " (replaces the installed file)" : "")));
    }

    /// <summary>The registry part, for one control set: service keys, and CriticalDeviceDatabase entries for storage.</summary>
    public void EditRegistry(RegistryEdits edits, string set)
    {
        foreach (var install in _selection.Installs)
        {
            var package = install.Package;
            foreach (var service in install.Services)
            {
                var existing = edits.Open(set + @"\Services")?.SubkeyNames.FirstOrDefault(n => string.Equals(n, service.Name, StringComparison.OrdinalIgnoreCase));
                var key = $@"{set}\Services\{existing ?? service.Name}";
                edits.SetDWord(key, "Type", service.Type);
                // A storage controller's driver must be loaded by the boot loader, or the system disk is not found (STOP 0x7B).
                edits.SetDWord(key, "Start", package.IsStorage && (service.IsAssociated || install.Services.Count == 1) ? 0 : service.Start);
                edits.SetDWord(key, "ErrorControl", service.ErrorControl);
                edits.SetString(key, "ImagePath", service.ImagePath, Registry.RegistryValueKind.ExpandString);
                if (service.Group is { } group) edits.SetString(key, "Group", group);
                if (service.DisplayName is { } display) edits.SetString(key, "DisplayName", display);
                foreach (var v in service.Values)
                    edits.Set(v.Subkey.Length == 0 ? key : $@"{key}\{v.Subkey}", v.Name, v.Kind, v.Data, v.Shown, onlyIfMissing: false);
            }
            if (!package.IsStorage) continue; // a NIC is installed by Plug and Play from the INF store at first boot
            var bound = install.Services.FirstOrDefault(s => s.IsAssociated) ?? install.Services[0];
            foreach (var (_, id) in install.Matches)
            {
                var cddb = $@"{set}\Control\CriticalDeviceDatabase\{VirtualDevice.CriticalDeviceKey(id)}";
                edits.SetString(cddb, "Service", bound.Name);
                if (package.ClassGuid is { } guid) edits.SetString(cddb, "ClassGUID", guid);
            }
        }
    }
}
