using System.Text.Json;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.Validation;
using P2V.Windows;
using P2V.Windows.Fixups;

namespace P2V.Migration.Reporting;

/// <summary>
/// What a migration folder tells the report by itself: plan.json, the inventory (validated again for the plan's
/// target, so each finding comes with its fix), the VM configuration, fix-up reports kept beside them (p2v fixup
/// -o FOLDER/…fixup….json) and the times the files were written. The controller's history is added by the caller.
/// </summary>
public static class ReportFolder
{
    public static MigrationReport Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{folder}: no such migration folder");
        var planFile = Path.Combine(folder, "plan.json");
        if (!File.Exists(planFile)) throw new FileNotFoundException($"{folder}: no plan.json (not a migration folder of p2v plan)");
        var plan = MigrationPlan.Load(planFile);
        var notes = new List<string>();
        var phases = new List<ReportPhase>();

        SourceInventory? inventory = null;
        var inventoryFile = Path.Combine(folder, plan.Inventory);
        if (File.Exists(inventoryFile))
        {
            inventory = InventoryXml.Load(inventoryFile);
            phases.Add(new ReportPhase("gather", "done", null, inventory.Gathered, $"{plan.Inventory} (gathered)"));
        }
        else notes.Add($"{plan.Inventory}: missing; no source inventory and no validation findings");
        phases.Add(new ReportPhase("plan", "done", null, File.GetLastWriteTimeUtc(planFile), "plan.json (written)"));

        var configFiles = new[] { Path.Combine(folder, HostPath.FileName(plan.ConfigFile)), Path.GetFullPath(plan.ConfigFile, folder) }
            .Where(File.Exists).Distinct().ToList();
        string? configuration = configFiles.Count > 0 ? ReadText(configFiles[^1]) : null;
        if (File.Exists(Path.GetFullPath(plan.ConfigFile, folder)))
            phases.Add(new ReportPhase("create VM", "done", null, File.GetLastWriteTimeUtc(Path.GetFullPath(plan.ConfigFile, folder)), $"{plan.ConfigFile} (written)"));

        var fixups = new List<ReportFixup>();
        foreach (var file in Directory.GetFiles(folder, "*fixup*.json").Order(StringComparer.Ordinal))
        {
            try { fixups.Add(Fixup(File.ReadAllText(file), file, file)); }
            catch (InvalidDataException e) { notes.Add(e.Message); }
        }

        return new MigrationReport
        {
            Name = plan.Name,
            Generated = DateTimeOffset.UtcNow,
            Folder = Path.GetFullPath(folder),
            Source = inventory is null ? null : Source(inventory),
            Findings = inventory is null ? [] : [.. InventoryValidator.Validate(ValidationContext.For(inventory, plan.Target, plan.Disks.FirstOrDefault()?.Format))
                .Select(f => new ReportFinding(f.RuleId, f.Severity.ToString().ToLowerInvariant(), f.Subject, f.Message, f.Fix))],
            Target = Target(plan, configuration),
            Fixups = fixups,
            Installed = [.. fixups.SelectMany(Installed)],
            Phases = phases,
            Notes = notes,
        };
    }

    /// <summary>
    /// A fix-up report as the page shows it; <paramref name="json"/> is the report as written (kept whole: it is the
    /// undo file), <paramref name="undoFile"/> the name `p2v fixup --undo` takes it by.
    /// </summary>
    public static ReportFixup Fixup(string json, string origin, string undoFile)
    {
        var r = FixupReport.FromJson(json, origin);
        return new(origin, r.Target, r.Vcpus, r.Windows, r.InstalledHal, r.InstalledKernel, r.Complete, r.DryRun, r.StartedUtc, r.FinishedUtc,
            [.. r.Plan.Select(s => $"[{s.Name}] {s.Title}")],
            [.. r.Changes.Select(c => $"[{c.Step}] {c.Description}")],
            r.Warnings, r.Errors, undoFile,
            r.DryRun ? "nothing to undo (dry run)" : r.UndoneUtc is { } u ? $"undone {u:yyyy-MM-dd HH:mm:ss}Z"
                : $"p2v fixup {Quote(r.Disk)} --undo {Quote(undoFile)}",
            json);
    }

    /// <summary>
    /// The hook for what `p2v fixup --drivers`/`--firstboot` installed: the report's "driversInstalled",
    /// "driversSkipped" and "firstBootScripts" lists where it has them (read from the JSON, so a report of either
    /// format is read); in a report without them, its plan's steps named "driver…" or "first boot…" with their details.
    /// </summary>
    public static IEnumerable<ReportInstalled> Installed(ReportFixup fixup)
    {
        using var doc = JsonDocument.Parse(fixup.ReportJson);
        var root = doc.RootElement;
        var lists = new[] { ("driversInstalled", "driver"), ("driversSkipped", "driver skipped"), ("firstBootScripts", "first-boot") };
        var found = new List<ReportInstalled>();
        bool any = false;
        foreach (var (property, kind) in lists)
        {
            if (!root.TryGetProperty(property, out var list) || list.ValueKind != JsonValueKind.Array) continue;
            any = true;
            foreach (var item in list.EnumerateArray())
                if (item.GetString() is { } text) found.Add(new ReportInstalled(kind, kind == "first-boot" ? text : Origin(text), text));
        }
        if (any) return found;
        var report = FixupReport.FromJson(fixup.ReportJson, fixup.Origin);
        foreach (var step in report.Plan)
        {
            string name = step.Name.Replace("-", " ", StringComparison.Ordinal).ToLowerInvariant();
            string? kind = name.StartsWith("driver", StringComparison.Ordinal) ? "driver"
                : name.StartsWith("first boot", StringComparison.Ordinal) || name.StartsWith("firstboot", StringComparison.Ordinal) ? "first-boot" : null;
            if (kind is null) continue;
            if (step.Details.Count == 0) found.Add(new ReportInstalled(kind, step.Title, ""));
            found.AddRange(step.Details.Select(d => new ReportInstalled(kind, step.Title, d)));
        }
        return found;
    }

    /// <summary>The package of a line such as "viostor.inf: Red Hat VirtIO SCSI controller …".</summary>
    private static string Origin(string line) => line.Split([':', ' '], 2)[0];

    private static ReportSource Source(SourceInventory inv)
    {
        var w = inv.Windows?.Facts;
        string? windows = w is null ? null : string.Join(" ", new[] { w.ProductName, w.Version is null ? null : "version " + w.Version, w.ServicePack, w.Architecture }
            .Where(s => !string.IsNullOrEmpty(s)));
        return new ReportSource(w?.ComputerName, windows,
            string.Join(" ", new[] { inv.System.Vendor, inv.System.Model, inv.System.Serial.Length > 0 ? "serial " + inv.System.Serial : "" }.Where(s => s.Length > 0)),
            $"{inv.Processors.Sockets} socket(s), {inv.Processors.Cores} core(s), {inv.Processors.Threads} thread(s) {inv.Processors.Model}".TrimEnd(),
            inv.MemoryBytes,
            [.. inv.Disks.Select(d => new ReportSourceDisk(d.Name, d.SizeBytes, d.Bus.ToString(), d.Model,
                [.. (d.Table?.Partitions ?? []).Select(p => FormattableString.Invariant(
                    $"{p.Number}: {p.Type}{(p.Bootable ? " (boot)" : "")}, {p.LengthBytes} bytes at {p.OffsetBytes}")
                    + (p.Volume is { } v ? FormattableString.Invariant($", {v.FileSystem} \"{v.Label}\"{(v.UsedBytes is { } u ? $", {u} bytes used" : "")}") : ""))]))],
            [.. inv.NetworkAdapters.Select(n => new ReportSourceNic(n.Name, n.Mac, n.Driver))],
            inv.Gathered);
    }

    private static ReportTarget Target(MigrationPlan plan, string? configuration) => new(
        TargetHypervisor.For(plan.Target).DisplayName, plan.MemoryMB, plan.Vcpus, $"{plan.Hal.Action}: {plan.Hal.Reason}",
        [.. plan.Disks.Select(d => $"{d.Source} → {d.File} ({d.Format}, {d.SizeBytes} bytes, {d.Bus} {d.Controller}:{d.Unit})")],
        [.. plan.Nics.Select(n => $"{n.Source} {n.Mac} ({n.Model}) on {n.Network}")],
        plan.Floppy, plan.ConfigFile, configuration);

    /// <summary>The configuration's text: the .vmc is UTF-16 with its BOM, the others UTF-8.</summary>
    private static string ReadText(string path)
    {
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private static string Quote(string s) => s.Contains(' ', StringComparison.Ordinal) || s.Contains('\'', StringComparison.Ordinal) ? "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'" : s;
}
