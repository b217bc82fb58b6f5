namespace P2V.Windows.Drivers;

/// <summary>A package left out, and why (shown in the fix-up report).</summary>
public sealed record SkippedDriver(string Inf, string Reason);

/// <summary>
/// Chooses, from a folder of driver packages (each INF with its files, in any layout — virtio-win's
/// viostor\2k3\x86, vioscsi\…, NetKVM\…), the packages an installation gets for a target: the INF's class is a
/// storage or network class, a Models section applies to the installation's Windows version and architecture, and one
/// of its hardware IDs is a device the target presents. Where several packages drive the same device, the one whose
/// decoration is closest to the installation's version wins (then the later DriverVer), as Windows setup ranks them.
/// </summary>
public sealed class DriverSelection
{
    public List<DriverInstall> Installs { get; } = [];
    public List<SkippedDriver> Skipped { get; } = [];

    public static DriverSelection Choose(string folder, WindowsFacts facts, TargetHypervisor target)
    {
        var selection = new DriverSelection();
        var infs = Directory.EnumerateFiles(folder, "*", new EnumerationOptions { RecurseSubdirectories = true, MatchCasing = MatchCasing.CaseInsensitive, AttributesToSkip = FileAttributes.ReparsePoint })
            .Where(f => f.EndsWith(".inf", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToList();
        string Shown(string path) => Path.GetRelativePath(folder, path);
        var architecture = TargetOsVersion.ArchitectureOf(facts.Architecture);
        int major = facts.MajorVersion ?? 0, minor = facts.MinorVersion ?? 0;
        bool server = facts.ProductName?.Contains("Server", StringComparison.OrdinalIgnoreCase) == true;
        var devices = VirtualDevice.For(target.Kind);

        var candidates = new List<(DriverInstall Install, string Shown)>();
        foreach (var path in infs)
        {
            var package = DriverPackage.Load(path); // an INF that does not parse stops the fix-up: file and line
            string? role = package.IsStorage ? "storage" : string.Equals(package.Class, "Net", StringComparison.OrdinalIgnoreCase) ? "network" : null;
            if (role is null) { selection.Skipped.Add(new(Shown(path), $"class {package.Class ?? "(none)"} is neither a storage controller (SCSIAdapter, HDC) nor a network adapter (Net)")); continue; }
            if (architecture is null || facts.MajorVersion is null) { selection.Skipped.Add(new(Shown(path), $"the installation's version or architecture is not known ({facts.Version ?? "?"} {facts.Architecture ?? "?"})")); continue; }
            var models = package.ModelsFor(architecture, major, minor, server, out var why);
            if (models is null) { selection.Skipped.Add(new(Shown(path), why)); continue; }
            var wanted = devices.Where(d => d.Role == (package.IsStorage ? DeviceRole.Storage : DeviceRole.Network)).ToList();
            bool matchedAny = false;
            foreach (var (model, section, decoration) in models)
            {
                var matches = new List<(VirtualDevice, string)>();
                foreach (var device in wanted)
                    if (model.HardwareIds.FirstOrDefault(id => device.HardwareIds.Contains(id, StringComparer.OrdinalIgnoreCase)) is { } id)
                        matches.Add((device, id));
                if (matches.Count == 0) continue;
                matchedAny = true;
                var install = DriverInstall.Resolve(package, model, section, decoration, architecture, matches, out var reason);
                if (install is null) { selection.Skipped.Add(new(Shown(path), $"{model.Description}: {reason}")); continue; }
                candidates.Add((install, Shown(path)));
            }
            if (!matchedAny)
            {
                var ids = models.SelectMany(m => m.Model.HardwareIds).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
                selection.Skipped.Add(new(Shown(path), wanted.Count == 0
                    ? $"{target.DisplayName} presents no paravirtual {role} device"
                    : $"none of its hardware IDs ({string.Join(", ", ids.Take(4))}{(ids.Count > 4 ? ", …" : "")}) is a {role} device {target.DisplayName} presents ({string.Join(", ", wanted.Select(d => d.Name))})"));
            }
        }

        // One driver per device: the closest decoration, then the newest DriverVer (mm/dd/yyyy).
        var ranked = candidates.OrderByDescending(c => c.Install.Decoration?.Rank ?? (0, 0, 0)).ThenByDescending(c => DriverDate(c.Install.Package.DriverVer)).ToList();
        var taken = new Dictionary<VirtualDevice, string>();
        foreach (var (install, shown) in ranked)
        {
            var free = install.Matches.Where(m => !taken.ContainsKey(m.Device)).ToList();
            if (free.Count == 0)
            {
                selection.Skipped.Add(new(shown, $"{install.Model.Description}: {string.Join(", ", install.Matches.Select(m => m.Device.Name).Distinct())} already driven by {taken[install.Matches[0].Device]}"));
                continue;
            }
            foreach (var m in free) taken[m.Device] = $"{shown} ({install.ModelsSection})";
            selection.Installs.Add(install with { Matches = free });
        }
        return selection;
    }

    private static DateTime DriverDate(string? driverVer) =>
        driverVer is not null && DateTime.TryParseExact(driverVer.Split(',')[0].Trim(), ["MM/dd/yyyy", "M/d/yyyy"], System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.None, out var d) ? d : DateTime.MinValue;
}
