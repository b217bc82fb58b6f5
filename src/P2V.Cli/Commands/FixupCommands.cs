using System.CommandLine;
using P2V.Imaging.VirtualDisks;
using P2V.Windows;
using P2V.Windows.Fixups;

namespace P2V.Cli.Commands;

/// <summary>p2v fixup: the offline fix-ups that let a migrated Windows 2000/XP/2003 boot in a VM (docs/fixups.md).</summary>
public static class FixupCommands
{
    public static void AddTo(RootCommand root)
    {
        var disk = new Argument<string>("disk") { Description = "The migrated disk: raw file, VHD, VHDX or block device" };
        var target = CliOptions.Parsed("--target", "The hypervisor the VM runs on", TargetHypervisor.ParseKind,
            "virtualserver|hyperv|libvirt|qemu|vmware", "virtualserver", "hyperv", "libvirt", "qemu", "vmware");
        var vcpus = CliOptions.Int("--vcpus", "The VM's virtual CPUs (picks the HAL; default: 1)", min: 1);
        vcpus.DefaultValueFactory = _ => 1;
        var patches = new Option<string>("--patches") { Description = "A folder of service-pack files (HALs, kernels, drivers) to take replacements from", HelpName = "DIR" };
        var services = new Option<string>("--services") { Description = "A list of hardware services to disable (default: the built-in list)", HelpName = "FILE" };
        var drivers = new Option<string>("--drivers") { Description = "A folder of Windows driver packages (INF + files): install the target's paravirtual storage and network drivers that fit", HelpName = "DIR" };
        var firstBoot = new Option<string[]>("--firstboot")
        {
            Description = "Scripts (.cmd .bat .exe .vbs .js .ps1) to run once, in this order, at the migrated system's first start; logged in %SystemRoot%\\P2V\\FirstBoot\\log",
            HelpName = "FILE", AllowMultipleArgumentsPerToken = true,
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Show what would change; write nothing but the report (with -o)" };
        var undo = new Option<string>("--undo") { Description = "Undo the fix-up that this report recorded", HelpName = "REPORT" };
        var force = new Option<bool>("--force") { Description = "Go on where a check fails that can be overridden (a changed hive on undo)" };
        var output = CliOptions.Output("The report to write (default: beside the disk file, or in the current folder for a block device)",
            helpName: "report.json");
        var command = new Command("fixup", "Fix a migrated Windows installation up for its VM (HAL/kernel, IDE drivers, services, boot.ini, boot sector; paravirtual drivers and first-boot scripts)")
            { disk, target, vcpus, patches, services, drivers, firstBoot, dryRun, undo, force, output };
        command.Validators.Add(r =>
        {
            if (r.GetResult(undo) is null && r.GetResult(target) is null) r.AddError("missing option --target");
            if (r.GetResult(undo) is not null && r.GetValue(dryRun)) r.AddError("--undo and --dry-run exclude each other");
        });
        command.SetAction(r =>
        {
            string path = r.GetValue(disk)!;
            bool forced = r.GetValue(force);
            if (r.GetValue(undo) is { } report) return Undo(path, report, forced);
            return Run(path, r.GetValue(target)!.Value, r.GetValue(vcpus), r.GetValue(patches), r.GetValue(services), r.GetValue(drivers),
                r.GetValue(firstBoot) ?? [], r.GetValue(dryRun), forced, r.GetValue(output));
        });
        root.Add(command);
    }

    private static int Undo(string path, string undo, bool force)
    {
        using var undoDisk = VirtualDisk.Open(path, writable: true);
        var undone = FixupUndo.Undo(undoDisk, undo, force);
        Console.WriteLine($"{path}: {undone.Changes.Count(c => c.Kind != FixupChange.RegistryKind)} changes of {undo} undone");
        return 0;
    }

    private static int Run(string path, TargetKind target, int vcpus, string? patches, string? services, string? drivers, string[] firstBoot,
        bool dryRun, bool force, string? output)
    {
        if (patches is not null && !Directory.Exists(patches)) throw new UsageException($"--patches: '{patches}' is not a directory");
        if (drivers is not null && !Directory.Exists(drivers)) throw new UsageException($"--drivers: '{drivers}' is not a directory");
        foreach (var script in firstBoot)
            if (!File.Exists(script)) throw new UsageException($"--firstboot: '{script}' is not a file");
        // Beside a disk file; in the current directory for a block device, whose folder (/dev) takes no files.
        string report = output ?? (File.Exists(path) && !path.StartsWith("/dev/", StringComparison.Ordinal)
            ? path + ".fixup.json" : Path.GetFileName(path) + ".fixup.json");

        using var disk = VirtualDisk.Open(path, writable: !dryRun);
        var plan = FixupPlanner.Plan(disk, path, new FixupOptions
        {
            Target = TargetHypervisor.For(target),
            Vcpus = vcpus,
            PatchDirectory = patches,
            HardwareServices = services is null ? null : HardwareServiceList.Load(services),
            Force = force,
            DriverDirectory = drivers,
            FirstBootScripts = firstBoot,
        });
        if (dryRun)
        {
            var dry = plan.Report with { DryRun = true };
            Console.Write(dry.ToText());
            if (output is not null) dry.Save(report);
            return dry.Errors.Count == 0 ? 0 : 1;
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
        return 0;
    }
}
