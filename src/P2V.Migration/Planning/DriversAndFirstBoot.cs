using P2V.Migration.Inventory;
using P2V.Migration.Validation;
using P2V.Windows;
using P2V.Windows.Drivers;
using P2V.Windows.FirstBoot;

namespace P2V.Migration.Planning;

/// <summary>
/// `p2v plan --drivers DIR --firstboot FILE…` checked when planning (docs/drivers-and-firstboot.md): the folder exists,
/// each of its INFs parses, and at least one package fits the source's Windows and the target — else a warning that the
/// deploy will install none; each script exists and is a kind the first-boot runner starts. What does not hold is an
/// <see cref="ArgumentException"/> naming it; the paths are kept absolute, as the host-side steps run them.
/// </summary>
public static class DriversAndFirstBoot
{
    public const string DriversRule = "plan-drivers";

    public static (string? Drivers, IReadOnlyList<string> FirstBoot, IReadOnlyList<Finding> Findings) Check(
        string? drivers, IReadOnlyList<string> firstBoot, SourceInventory inv, TargetKind target)
    {
        var findings = new List<Finding>();
        string? folder = null;
        if (drivers is not null)
        {
            folder = Path.GetFullPath(drivers);
            if (!Directory.Exists(folder)) throw new ArgumentException($"--drivers {drivers}: no such folder");
            findings.AddRange(CheckDrivers(folder, inv, TargetHypervisor.For(target)));
        }
        var scripts = new List<string>();
        foreach (var script in firstBoot)
        {
            if (!File.Exists(script)) throw new ArgumentException($"--firstboot {script}: no such file");
            if (FirstBootScript.Refusal(script) is { } refusal) throw new ArgumentException($"--firstboot {script}: {refusal}");
            var full = Path.GetFullPath(script);
            if (scripts.Any(s => string.Equals(Path.GetFileName(s), Path.GetFileName(full), StringComparison.OrdinalIgnoreCase)))
                throw new ArgumentException($"--firstboot {script}: a script of that name is given twice (the deploy agent receives them by name)");
            scripts.Add(full);
        }
        return (folder, scripts, findings);
    }

    private static IEnumerable<Finding> CheckDrivers(string folder, SourceInventory inv, TargetHypervisor target)
    {
        if (inv.Windows?.Facts is not { } facts)
        {
            yield return new(DriversRule, Severity.Warning, folder, "the inventory found no Windows installation to choose drivers for", "check the inventory's disks");
            yield break;
        }
        // The inventory does not record the architecture: NT 4.0 to 2003 ran almost only on x86; amd64 is tried too.
        string[] architectures = facts.Architecture is { } a ? [a] : ["x86", "amd64"];
        DriverSelection? chosen = null;
        foreach (var architecture in architectures)
        {
            DriverSelection selection;
            try { selection = DriverSelection.Choose(folder, facts with { Architecture = architecture }, target); }
            catch (InfFormatException e) { throw new ArgumentException($"--drivers {folder}: {e.Message}", e); }
            if (chosen is null || selection.Installs.Count > chosen.Installs.Count) chosen = selection;
            if (selection.Installs.Count > 0) break;
        }
        if (chosen!.Installs.Count == 0)
            yield return new(DriversRule, Severity.Warning, folder,
                $"no driver package in it fits {facts.ProductName ?? "Windows " + facts.Version} on {target.DisplayName}"
                + (chosen.Skipped.Count == 0 ? " (it holds no INF)" : $": {string.Join("; ", chosen.Skipped.Take(3).Select(s => $"{s.Inf}: {s.Reason}"))}{(chosen.Skipped.Count > 3 ? "; …" : "")}"),
                "give a folder with the target's storage/network packages for this Windows version (virtio-win's 2k3/xp x86 folders, VMware's pvscsi …)");
        else
            yield return new(DriversRule, Severity.Info, folder,
                $"the deploy installs {string.Join(", ", chosen.Installs.Select(i => Path.GetFileName(i.Package.InfPath)).Distinct(StringComparer.OrdinalIgnoreCase))}", "");
    }
}
