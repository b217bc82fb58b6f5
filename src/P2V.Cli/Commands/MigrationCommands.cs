using P2V.Imaging.VirtualDisks;
using System.CommandLine;
using System.Text.Json;
using P2V.Controller.Client;
using P2V.Imaging;
using P2V.Migration.Creation;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.Validation;
using P2V.Windows;

namespace P2V.Cli.Commands;

/// <summary>p2v gather, validate, plan and createvm: steps 1, 2, 3 and 5 of a migration (docs/migration.md).</summary>
public static class MigrationCommands
{
    private const string Targets = "virtualserver|hyperv|libvirt|qemu|vmware";

    public static void AddTo(RootCommand root)
    {
        root.Add(Gather());
        root.Add(Validate());
        root.Add(Plan());
        root.Add(CreateVm());
    }

    private static Option<TargetKind?> Target(string description) =>
        CliOptions.Parsed("--target", description, TargetHypervisor.ParseKind, Targets, Targets.Split('|'));

    private static Option<VirtualDiskFormat?> DiskFormat() =>
        CliOptions.Parsed("--disk-format", "Format of the VM's disk files", VirtualDisk.ParseFormat, "vhd|vhd-fixed|vhdx|vhdx-fixed|raw|vmdk",
            "vhd", "vhd-fixed", "vhdx", "vhdx-fixed", "raw", "vmdk");

    private static Option<VmDiskBus?> DiskBus() =>
        CliOptions.Parsed("--disk-bus", "The controller every VM disk goes on (default: IDE, then SCSI when IDE is full); virtio on qemu and libvirt only",
            DiskBusSupport.Parse, "ide|scsi|virtio", "ide", "scsi", "virtio");

    private static Command Gather()
    {
        var root = new Option<string>("--root") { Description = "The machine's root folder holding sys/, proc/ (default: /)", HelpName = "DIR", DefaultValueFactory = _ => "/" };
        // --disk takes one or more paths ("--disk a.img b.img", or comma-separated); further paths may follow as arguments.
        var disk = new Option<string[]>("--disk") { Description = "A disk to inspect, [NAME=]PATH (NAME as the inventory calls it, e.g. sda)", HelpName = "[NAME=]PATH", AllowMultipleArgumentsPerToken = true };
        var disks = new Argument<string[]>("disks") { Description = "More disks, as --disk", Arity = ArgumentArity.ZeroOrMore };
        var output = CliOptions.Output("The inventory XML to write", required: true, helpName: "inventory.xml");
        var command = new Command("gather", "Inventory the source machine (sysfs/procfs/DMI and its disks) into inventory XML") { root, disk, disks, output };
        command.SetAction(r => GatherAsync(r.GetValue(root)!,
            [.. (r.GetValue(disk) ?? []).SelectMany(d => d.Split(',', StringSplitOptions.RemoveEmptyEntries)), .. r.GetValue(disks) ?? []],
            r.GetValue(output)!));
        return command;
    }

    private static Command Validate()
    {
        var inventory = new Argument<string>("inventory.xml") { Description = "The inventory from p2v gather" };
        var target = Target("The hypervisor to check against (default: the rules common to all)");
        var format = DiskFormat();
        var bus = DiskBus();
        var json = CliOptions.Json();
        var command = new Command("validate", "Check an inventory against the migration rules; exits 1 when a rule reports an error") { inventory, target, format, bus, json };
        command.SetAction(r => ValidateAsync(r.GetValue(inventory)!, r.GetValue(target), r.GetValue(format), r.GetValue(bus), r.GetValue(json)));
        return command;
    }

    private static Command Plan()
    {
        var inventory = new Argument<string>("inventory.xml") { Description = "The inventory from p2v gather" };
        var name = new Option<string>("--name") { Description = "The VM's name", Required = true, HelpName = "VM" };
        var target = Target("The hypervisor");
        target.Required = true;
        var vmConfigPath = new Option<string>("--vm-config-path") { Description = "Where the VM's configuration goes on the host", Required = true, HelpName = "PATH" };
        var diskPath = new Option<string>("--virtual-disk-path") { Description = "Where the VM's disk files go on the host", Required = true, HelpName = "PATH" };
        var destHost = new Option<string>("--dest-host") { Description = "The host that runs the VM", Required = true, HelpName = "HOST" };
        var output = CliOptions.Output("The migration folder to write", required: true, helpName: "DIR");
        var format = DiskFormat();
        var bus = DiskBus();
        var memory = CliOptions.Int("--memory", "The VM's memory in MB (default: the source's)", min: 1, helpName: "MB");
        var network = new Option<string[]>("--network")
        {
            Description = "Put a NIC on a virtual network (NIC=NAME, repeatable), or every other NIC (NAME); default: one network per source subnet, else VM0",
            HelpName = "[NIC=]NAME",
        };
        var controller = new Option<string>("--controller") { Description = "The controller that deploys the VM", HelpName = "URL" };
        var drivers = new Option<string>("--drivers") { Description = "A folder of Windows driver packages: the deploy installs the target's paravirtual storage and network drivers that fit", HelpName = "DIR" };
        var firstBoot = new Option<string[]>("--firstboot")
        {
            Description = "Scripts (.cmd .bat .exe .vbs .js .ps1) the migrated system runs once, in this order, at its first start",
            HelpName = "FILE", AllowMultipleArgumentsPerToken = true,
        };
        var force = new Option<bool>("--force") { Description = "Write the plan even when validation finds errors" };
        var command = new Command("plan", "Write a migration folder: plan.json, Capture/CreateVM/DeployVM scripts and the VM configuration")
            { inventory, name, target, vmConfigPath, diskPath, destHost, output, format, bus, memory, network, controller, drivers, firstBoot, force };
        command.SetAction(r => PlanAsync(r.GetValue(inventory)!, new PlanOptions
        {
            Name = r.GetValue(name)!,
            Target = r.GetValue(target)!.Value,
            VmConfigPath = r.GetValue(vmConfigPath)!,
            VirtualDiskPath = r.GetValue(diskPath)!,
            DestHost = r.GetValue(destHost)!,
            DiskFormat = r.GetValue(format),
            DiskBus = r.GetValue(bus),
            MemoryMB = r.GetResult(memory) is null ? null : r.GetValue(memory),
            Networks = r.GetValue(network) ?? [],
            Controller = r.GetValue(controller),
            Drivers = r.GetValue(drivers),
            FirstBoot = r.GetValue(firstBoot) ?? [],
        }, r.GetValue(output)!, r.GetValue(force)));
        return command;
    }

    private static Command CreateVm()
    {
        var plan = new Argument<string>("plan.json") { Description = "The plan from p2v plan" };
        var floppy = new Option<string>("--floppy") { Description = "The boot floppy to copy (default: made by tools/make-floppy)", HelpName = "FILE" };
        var zero = new Option<bool>("--zero") { Description = "Write zeros through the disk files instead of leaving them sparse" };
        var force = new Option<bool>("--force") { Description = "Overwrite files that exist" };
        var json = CliOptions.Json();
        var controller = new Option<string>("--controller")
            { Description = $"Register the VM with this controller (default: the plan's, else ${ControllerClient.UrlVariable})", HelpName = "URL" };
        var token = new Option<string>("--token") { Description = $"The controller's admin token (default: ${ControllerClient.TokenVariable})", HelpName = "TOKEN" };
        var image = new Option<string>("--image") { Description = "With a controller: the captured image in its store to deploy (default: the plan's name)", HelpName = "NAME" };
        var patches = CliOptions.PatchesUrl("With a controller: the URL of the patch library's tar for the fix-ups");
        var drivers = CliOptions.TarUrl("--drivers", "With a controller: the URL of a tar of the plan's drivers folder (required when the plan has one)");
        var firstBoot = CliOptions.TarUrl("--firstboot", "With a controller: the URL of a tar of the plan's first-boot scripts, at its top, in their order (required when the plan has them)");
        var bus = DiskBus();
        var command = new Command("createvm", "Create the VM of a plan: its disk files, the boot floppy, the configuration, its networks' definitions; register it with the controller")
            { plan, floppy, zero, force, json, controller, token, image, patches, drivers, firstBoot, bus };
        command.SetAction((r, ct) => CreateVmAsync(r.GetValue(plan)!, r.GetValue(bus),
            new CreateVmOptions { FloppySource = r.GetValue(floppy), ZeroFill = r.GetValue(zero), Overwrite = r.GetValue(force) }, r.GetValue(json),
            r.GetValue(controller), r.GetValue(token), r.GetValue(image), new FixupTars(r.GetValue(patches), r.GetValue(drivers), r.GetValue(firstBoot)), ct));
        return command;
    }

    private static int GatherAsync(string root, List<string> disks, string output)
    {
        if (!Directory.Exists(root)) throw new UsageException($"--root {root}: no such folder");
        AtomicFile.CheckTarget(output, overwrite: true);

        var gatherer = new InventoryGatherer { Root = root, DiskSources = disks, Tool = ImagingCommands.ToolVersion };
        var inv = gatherer.Gather();
        AtomicFile.Create(output, path => { InventoryXml.Save(inv, path); return 0; }, overwrite: true);
        foreach (var note in gatherer.Notes) Console.Error.WriteLine($"gather: note: {note}");
        Console.Error.WriteLine($"gather: {inv.System.Vendor} {inv.System.Model}: {inv.Processors.Sockets} socket(s), {inv.Processors.Threads} CPU(s), "
            + $"{inv.MemoryBytes >> 20} MB, {inv.Disks.Count} disk(s), {inv.NetworkAdapters.Count} NIC(s), {inv.UsbDevices.Count} USB device(s)"
            + (inv.Windows is { } w ? $"; Windows at {w.Disk} partition {w.Partition} {w.Facts.SystemRoot}" : "; no Windows found") + $" -> {output}");
        return 0;
    }

    private static int ValidateAsync(string path, TargetKind? target, VirtualDiskFormat? format, VmDiskBus? bus, bool json)
    {
        if (bus is { } b)
        {
            // A disk bus is a question about one target's controllers.
            if (target is not { } t) throw new UsageException("--disk-bus needs --target (which hypervisor's controller)");
            Parse(() => { DiskBusSupport.CheckTarget(TargetHypervisor.For(t), b); return 0; });
        }
        var inv = InventoryXml.Load(path);
        var findings = InventoryValidator.Validate(ValidationContext.For(inv, target, format, bus));
        bool errors = InventoryValidator.HasErrors(findings);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new ValidationSummary(path, target is { } k ? TargetHypervisor.For(k).Name : null,
                findings.Count(x => x.Severity == Severity.Error), findings.Count(x => x.Severity == Severity.Warning),
                [.. findings.Select(x => new ValidationFinding(x.RuleId, x.Severity.ToString().ToLowerInvariant(), x.Subject, x.Message, x.Fix))]),
                CliJsonContext.Default.ValidationSummary));
        else
        {
            foreach (var x in findings)
                Console.WriteLine($"{x.Severity.ToString().ToLowerInvariant(),-7} {x.RuleId}: {x.Subject}: {x.Message}\n        fix: {x.Fix}");
            Console.WriteLine($"{findings.Count(x => x.Severity == Severity.Error)} error(s), {findings.Count(x => x.Severity == Severity.Warning)} warning(s), "
                + $"{findings.Count(x => x.Severity == Severity.Info)} note(s){(errors ? ": cannot migrate as is" : "")}");
        }
        return errors ? CliHost.ExitFailure : 0;
    }

    private static int PlanAsync(string path, PlanOptions options, string folder, bool force)
    {

        var inv = InventoryXml.Load(path);
        var (plan, findings) = Parse(() => MigrationPlanner.Plan(inv, options));
        foreach (var x in findings.Where(x => x.Severity != Severity.Info))
            Console.Error.WriteLine($"plan: {x.Severity.ToString().ToLowerInvariant()} {x.RuleId}: {x.Subject}: {x.Message}");
        if (InventoryValidator.HasErrors(findings) && !force)
        {
            Console.Error.WriteLine("plan: validation found errors; fix them, or pass --force to write the plan anyway");
            return CliHost.ExitFailure;
        }
        var written = MigrationFolder.Write(plan, inv, folder);
        Console.Error.WriteLine($"plan: {plan.Name} for {TargetHypervisor.For(plan.Target).DisplayName}: {plan.MemoryMB} MB, {plan.Vcpus} vCPU(s) ({plan.Hal.Reason}), "
            + $"{plan.Disks.Count} disk(s), {plan.Nics.Count} NIC(s) on {string.Join(", ", plan.Networks.Select(n => n.Name))}; {written.Count} files in {folder}");
        return 0;
    }

    private static async Task<int> CreateVmAsync(string path, VmDiskBus? bus, CreateVmOptions options, bool json, string? controllerUrl, string? token, string? imageName,
        FixupTars tars, CancellationToken cancel)
    {
        var plan = MigrationPlan.Load(path);
        if (bus is { } b)
        {
            // The plan's disks move onto that controller; what the target or the guest cannot do is refused before any file is made.
            (plan, var findings) = Parse(() => MigrationPlanner.WithDiskBus(plan, b));
            foreach (var x in findings)
                Console.Error.WriteLine($"createvm: {x.Severity.ToString().ToLowerInvariant()} {x.RuleId}: {x.Subject}: {x.Message}; fix: {x.Fix}");
        }
        string image = imageName ?? plan.Name;
        // The controller, its token and the VM's boot MAC are checked before any file is made.
        string? url = controllerUrl ?? plan.Controller ?? Environment.GetEnvironmentVariable(ControllerClient.UrlVariable);
        using var controller = url is null ? null : ControllerClient.FromOptions(url, token);
        string? inventory = null;
        if (controller != null)
        {
            CheckTars(plan, tars);
            await VmRegistration.CheckAsync(controller, plan, cancel);
            try { P2V.Store.ImageStore.CheckName(image); }
            catch (P2V.Store.StoreException e) { throw new UsageException((imageName is null ? "the plan's name: " : "--image: ") + e.Message); }
            var inventoryFile = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, plan.Inventory);
            if (File.Exists(inventoryFile)) inventory = await File.ReadAllTextAsync(inventoryFile, cancel);
        }

        var created = await VmCreator.CreateAsync(plan, options, cancel);
        var registered = controller is null ? null : await VmRegistration.RegisterAsync(controller, plan, inventory, image, tars, cancel);
        if (json)
            Console.WriteLine(JsonSerializer.Serialize(new CreateVmSummary(plan.Name, created.Config, created.Floppy, created.DeviceFile, registered != null,
                created.Disks, registered is null ? null : url, registered?.Device.Mac, registered?.Job.Id, registered?.Job.Image),
                CliJsonContext.Default.CreateVmSummary));
        else
            Console.Error.WriteLine($"createvm: {plan.Name}: {created.Disks.Count} disk(s), floppy {created.Floppy}, configuration {created.Config}"
                + (created.Networks.Count > 0 ? $", network definition(s) {string.Join(", ", created.Networks)}" : "")
                + (registered is { } reg
                    ? $"; device {reg.Device.Mac} controlled by {url}, deploy job {reg.Job.Id} (image {reg.Job.Image})"
                    : $", device record {created.DeviceFile}"));
        return 0;
    }

    /// <summary>
    /// The deploy agent gets the plan's drivers and first-boot scripts as tars it fetches (docs/agent-protocol.md): each
    /// the plan has needs its URL, and a URL needs the plan's setting; the message says how to make the tar.
    /// </summary>
    private static void CheckTars(MigrationPlan plan, FixupTars tars)
    {
        if (plan.Drivers is { } dir && tars.Drivers is null)
            throw new UsageException($"the plan installs the drivers of {dir}: give --drivers URL, where the deploy agent fetches a tar of that folder "
                + $"(make it with: tar -C {QuoteSh(dir)} -cf drivers.tar . — and serve it, e.g. from the controller's --boot-root)");
        if (plan.FirstBoot.Count > 0 && tars.FirstBoot is null)
            throw new UsageException($"the plan runs {plan.FirstBoot.Count} first-boot script(s): give --firstboot URL, where the deploy agent fetches a tar of them in their order "
                + $"(make it with: tar -cf firstboot.tar {string.Join(' ', plan.FirstBoot.Select(f => $"-C {QuoteSh(Path.GetDirectoryName(f)!)} {QuoteSh(Path.GetFileName(f))}"))})");
        if (tars.Drivers is not null && plan.Drivers is null) throw new UsageException("--drivers: the plan has no drivers folder (p2v plan --drivers DIR)");
        if (tars.FirstBoot is not null && plan.FirstBoot.Count == 0) throw new UsageException("--firstboot: the plan has no first-boot scripts (p2v plan --firstboot FILE…)");
    }

    private static string QuoteSh(string word) => word.All(c => char.IsAsciiLetterOrDigit(c) || "/._-+=:,@".Contains(c)) ? word : "'" + word.Replace("'", "'\\''") + "'";

    private static T Parse<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }
}
