using P2V.Imaging.VirtualDisks;
using P2V.Windows.Fixups;

namespace P2V.Cli.Commands;

/// <summary>p2v fixup: the offline fix-ups that let a migrated Windows 2000/XP/2003 boot in a VM (docs/fixups.md).</summary>
public static class FixupCommands
{
    public static void Register(CommandTable table)
    {
        table.Add(new Command("fixup", "Fix a migrated Windows installation up for its VM (HAL/kernel, IDE drivers, services, boot.ini, boot sector)",
            "<disk-or-vhd> --target virtualserver|hyperv|qemu [--vcpus N] [--patches DIR] [--services FILE] [--dry-run] [--undo REPORT] [--force] [-o report.json]",
            ["dry-run", "force"], Run));
    }

    private static Task<int> Run(CommandArgs a, CancellationToken ct)
    {
        string path = a.Positional(0, "disk-or-vhd");
        bool dryRun = a.Flag("dry-run"), force = a.Flag("force");
        string? undo = a.Option("undo");
        if (undo is not null)
        {
            a.EnsureAllUsed();
            if (dryRun) throw new UsageException("--undo and --dry-run exclude each other");
            using var undoDisk = VirtualDisk.Open(path, writable: true);
            var undone = FixupUndo.Undo(undoDisk, undo, force);
            Console.WriteLine($"{path}: {undone.Changes.Count(c => c.Kind != FixupChange.RegistryKind)} changes of {undo} undone");
            return Task.FromResult(0);
        }

        var target = FixupTargets.Parse(a.Required("target"));
        int vcpus = a.Int("vcpus") ?? 1;
        if (vcpus < 1) throw new UsageException("--vcpus must be at least 1");
        string? patches = a.Option("patches");
        if (patches is not null && !Directory.Exists(patches)) throw new UsageException($"--patches: '{patches}' is not a directory");
        string? services = a.Option("services");
        // Beside a disk file; in the current directory for a block device, whose folder (/dev) takes no files.
        string report = a.Option("output") ?? (File.Exists(path) && !path.StartsWith("/dev/", StringComparison.Ordinal)
            ? path + ".fixup.json" : Path.GetFileName(path) + ".fixup.json");
        a.EnsureAllUsed();

        using var disk = VirtualDisk.Open(path, writable: !dryRun);
        var plan = FixupPlanner.Plan(disk, path, new FixupOptions
        {
            Target = target,
            Vcpus = vcpus,
            PatchDirectory = patches,
            HardwareServices = services is null ? null : HardwareServiceList.Load(services),
            Force = force,
        });
        if (dryRun)
        {
            var dry = plan.Report with { DryRun = true };
            Console.Write(dry.ToText());
            if (a.Option("output") is not null) dry.Save(report);
            return Task.FromResult(dry.Errors.Count == 0 ? 0 : 1);
        }
        if (plan.Report.Errors.Count > 0)
        {
            Console.Write(plan.Report.ToText());
            throw new InvalidDataException($"the fix-up was not started: {plan.Report.Errors.Count} error(s), the first: {plan.Report.Errors[0]}");
        }

        // P2V_FAULT_AFTER=N stops the process dead after N steps, as a crash would: the tests use it to show that
        // an interrupted fix-up leaves a readable volume and a report that undo follows.
        int? faultAfter = int.TryParse(Environment.GetEnvironmentVariable("P2V_FAULT_AFTER"), out int n) ? n : null;
        var done = plan.Apply(report, step =>
        {
            if (step == faultAfter)
            {
                Console.Error.WriteLine($"P2V_FAULT_AFTER={faultAfter}: stopping after step {step}");
                Environment.Exit(70);
            }
        });
        Console.Write(done.ToText());
        Console.WriteLine($"report: {report} (undo with: p2v fixup {path} --undo {report})");
        return Task.FromResult(0);
    }
}
