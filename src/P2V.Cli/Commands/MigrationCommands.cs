using System.Text.Json;
using System.Text.Json.Nodes;
using P2V.Migration.Creation;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.Validation;

namespace P2V.Cli.Commands;

/// <summary>p2v gather, validate, plan and createvm: steps 1, 2, 3 and 5 of a migration (docs/migration.md).</summary>
public static class MigrationCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void Register(CommandTable table)
    {
        table.Add(new Command("gather", "Inventory the source machine (sysfs/procfs/DMI and its disks) into inventory XML",
            "[--root DIR] [--disk [NAME=]PATH [PATH ...]] -o <inventory.xml>", [], GatherAsync));
        table.Add(new Command("validate", "Check an inventory against the migration rules; exits 1 when a rule reports an error",
            "<inventory.xml> [--target virtualserver|hyperv|libvirt|qemu|vmware] [--disk-format F] [--json]", ["json"], ValidateAsync));
        table.Add(new Command("plan", "Write a migration folder: plan.json, Capture/CreateVM/DeployVM scripts and the VM configuration",
            "<inventory.xml> --name VM --vm-config-path P --virtual-disk-path P --dest-host H --target virtualserver|hyperv|libvirt|qemu|vmware -o <folder> "
            + "[--disk-format vhd|vhd-fixed|vhdx|vhdx-fixed|raw|vmdk] [--memory MB] [--network NAME] [--controller URL] [--force]",
            ["force"], PlanAsync));
        table.Add(new Command("createvm", "Create the VM of a plan: its disk files, the boot floppy, the configuration, the controller's device record",
            "<plan.json> [--floppy FILE] [--zero] [--force] [--json]", ["zero", "force", "json"], CreateVmAsync));
    }

    private static Task<int> GatherAsync(CommandArgs a, CancellationToken cancel)
    {
        var root = a.Option("root") ?? "/";
        var output = a.Required("output");
        // --disk takes one path; further paths follow it as positionals, so "--disk a.img b.img" names two.
        var disks = new List<string>();
        if (a.Option("disk") is { } first) disks.AddRange(first.Split(',', StringSplitOptions.RemoveEmptyEntries));
        disks.AddRange(a.Positionals);
        a.EnsureAllUsed();
        if (!Directory.Exists(root)) throw new UsageException($"--root {root}: no such folder");
        foreach (var d in disks)
        {
            var path = d.Contains('=') && !d[..d.IndexOf('=')].Contains('/') ? d[(d.IndexOf('=') + 1)..] : d;
            if (!File.Exists(path)) throw new FileNotFoundException($"disk {path} not found", path);
        }

        var gatherer = new InventoryGatherer { Root = root, DiskSources = disks, Tool = ImagingCommands.ToolVersion };
        var inv = gatherer.Gather();
        AtomicWrite(output, path => InventoryXml.Save(inv, path));
        foreach (var note in gatherer.Notes) Console.Error.WriteLine($"gather: note: {note}");
        Console.Error.WriteLine($"gather: {inv.System.Vendor} {inv.System.Model}: {inv.Processors.Sockets} socket(s), {inv.Processors.Threads} CPU(s), "
            + $"{inv.MemoryBytes >> 20} MB, {inv.Disks.Count} disk(s), {inv.NetworkAdapters.Count} NIC(s), {inv.UsbDevices.Count} USB device(s)"
            + (inv.Windows is { } w ? $"; Windows at {w.Disk} partition {w.Partition} {w.SystemRoot}" : "; no Windows found") + $" -> {output}");
        return Task.FromResult(0);
    }

    private static Task<int> ValidateAsync(CommandArgs a, CancellationToken cancel)
    {
        var path = a.Positional(0, "inventory.xml");
        var target = a.Option("target") is { } t ? Parse(() => TargetLimits.ParseTarget(t)) : (TargetKind?)null;
        var format = a.Option("disk-format") is { } f ? Parse(() => TargetLimits.ParseDiskFormat(f)) : (DiskFileFormat?)null;
        bool json = a.Flag("json");
        a.EnsureAllUsed();

        var inv = InventoryXml.Load(path);
        var findings = InventoryValidator.Validate(ValidationContext.For(inv, target, format));
        bool errors = InventoryValidator.HasErrors(findings);
        if (json)
            Console.WriteLine(new JsonObject
            {
                ["inventory"] = path,
                ["target"] = target is { } k ? TargetLimits.TargetName(k) : null,
                ["errors"] = findings.Count(x => x.Severity == Severity.Error),
                ["warnings"] = findings.Count(x => x.Severity == Severity.Warning),
                ["findings"] = new JsonArray(findings.Select(x => (JsonNode)new JsonObject
                {
                    ["rule"] = x.RuleId, ["severity"] = x.Severity.ToString().ToLowerInvariant(), ["subject"] = x.Subject,
                    ["message"] = x.Message, ["fix"] = x.Fix,
                }).ToArray()),
            }.ToJsonString(Indented));
        else
        {
            foreach (var x in findings)
                Console.WriteLine($"{x.Severity.ToString().ToLowerInvariant(),-7} {x.RuleId}: {x.Subject}: {x.Message}\n        fix: {x.Fix}");
            Console.WriteLine($"{findings.Count(x => x.Severity == Severity.Error)} error(s), {findings.Count(x => x.Severity == Severity.Warning)} warning(s), "
                + $"{findings.Count(x => x.Severity == Severity.Info)} note(s){(errors ? ": cannot migrate as is" : "")}");
        }
        return Task.FromResult(errors ? CliHost.ExitFailure : 0);
    }

    private static Task<int> PlanAsync(CommandArgs a, CancellationToken cancel)
    {
        var path = a.Positional(0, "inventory.xml");
        var options = new PlanOptions
        {
            Name = a.Required("name"),
            Target = Parse(() => TargetLimits.ParseTarget(a.Required("target"))),
            VmConfigPath = a.Required("vm-config-path"),
            VirtualDiskPath = a.Required("virtual-disk-path"),
            DestHost = a.Required("dest-host"),
            DiskFormat = a.Option("disk-format") is { } f ? Parse(() => TargetLimits.ParseDiskFormat(f)) : null,
            MemoryMB = a.Int("memory"),
            Network = a.Option("network"),
            Controller = a.Option("controller"),
        };
        var folder = a.Required("output");
        bool force = a.Flag("force");
        a.EnsureAllUsed();

        var inv = InventoryXml.Load(path);
        var (plan, findings) = Parse(() => MigrationPlanner.Plan(inv, options));
        foreach (var x in findings.Where(x => x.Severity != Severity.Info))
            Console.Error.WriteLine($"plan: {x.Severity.ToString().ToLowerInvariant()} {x.RuleId}: {x.Subject}: {x.Message}");
        if (InventoryValidator.HasErrors(findings) && !force)
        {
            Console.Error.WriteLine("plan: validation found errors; fix them, or pass --force to write the plan anyway");
            return Task.FromResult(CliHost.ExitFailure);
        }
        var written = MigrationFolder.Write(plan, inv, folder);
        Console.Error.WriteLine($"plan: {plan.Name} for {TargetLimits.For(plan.Target).DisplayName}: {plan.MemoryMB} MB, {plan.Vcpus} vCPU(s) ({plan.Hal.Reason}), "
            + $"{plan.Disks.Count} disk(s), {plan.Nics.Count} NIC(s); {written.Count} files in {folder}");
        return Task.FromResult(0);
    }

    private static async Task<int> CreateVmAsync(CommandArgs a, CancellationToken cancel)
    {
        var path = a.Positional(0, "plan.json");
        var options = new CreateVmOptions { FloppySource = a.Option("floppy"), ZeroFill = a.Flag("zero"), Overwrite = a.Flag("force") };
        bool json = a.Flag("json");
        a.EnsureAllUsed();

        var plan = MigrationPlan.Load(path);
        var created = await VmCreator.CreateAsync(plan, options, cancel);
        if (json)
            Console.WriteLine(new JsonObject
            {
                ["name"] = plan.Name, ["config"] = created.Config, ["floppy"] = created.Floppy, ["device"] = created.DeviceFile,
                ["registered"] = created.Registered, ["disks"] = new JsonArray(created.Disks.Select(d => (JsonNode)d).ToArray()),
            }.ToJsonString(Indented));
        else
            Console.Error.WriteLine($"createvm: {plan.Name}: {created.Disks.Count} disk(s), floppy {created.Floppy}, configuration {created.Config}"
                + (created.Registered ? $", registered with {plan.Controller}" : $", device record {created.DeviceFile}"));
        return 0;
    }

    private static T Parse<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }

    private static void AtomicWrite(string path, Action<string> write)
    {
        var partial = path + ".partial";
        write(partial);
        File.Move(partial, path, overwrite: true);
    }
}
