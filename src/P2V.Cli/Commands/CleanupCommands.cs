using System.CommandLine;
using System.Text.Json;
using P2V.Controller.Client;
using P2V.Store;

namespace P2V.Cli.Commands;

/// <summary>
/// p2v cleanup and p2v report: after the reset job, the source document's post-migration clean-up, and the
/// migration's report (docs/migration.md, "Clean-up and report").
/// </summary>
public static class CleanupCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Add(Cleanup());
        root.Add(Report());
    }

    private static Command Report()
    {
        var folder = new Argument<string>("migration-dir") { Description = "The migration folder (p2v plan -o)" };
        var output = CliOptions.Output("The HTML page to write (default: none with --json, else FOLDER/report.html)", helpName: "report.html");
        var url = new Option<string>("--controller") { Description = "The controller whose job history and store complete the report", HelpName = "URL" };
        var token = new Option<string>("--token") { Description = $"The admin token (default: ${ControllerClient.TokenVariable})", HelpName = "TOKEN" };
        var json = CliOptions.Json("Print the report as JSON on standard output");
        var command = new Command("report", "One self-contained HTML page (or JSON) for a migration: inventory, findings, VM, volume checks, images, fix-up, phase times")
            { folder, output, url, token, json };
        command.SetAction(async (r, ct) =>
        {
            string dir = r.GetValue(folder)!;
            string? html = r.GetValue(output) ?? (r.GetValue(json) ? null : Path.Combine(dir, "report.html"));
            var report = P2V.Migration.Reporting.ReportFolder.Read(dir);
            if (html != null) P2V.Imaging.AtomicFile.CheckTarget(html, overwrite: true);
            if (r.GetValue(url) is { } controllerUrl)
            {
                var plan = P2V.Migration.Planning.MigrationPlan.Load(Path.Combine(dir, "plan.json"));
                using var controller = ControllerClient.FromOptions(controllerUrl, r.GetValue(token));
                var store = StoreLocation.Open(controllerUrl, r.GetValue(token) ?? Environment.GetEnvironmentVariable(ControllerClient.TokenVariable));
                try { report = await MigrationHistory.AddAsync(report, controller, store, VmRegistration.BootMac(plan), controllerUrl, ct); }
                finally { (store as IDisposable)?.Dispose(); }
            }
            if (html != null)
            {
                P2V.Imaging.AtomicFile.WriteAllText(html, P2V.Migration.Reporting.ReportHtml.Write(report));
                Console.Error.WriteLine($"report: {report.Name}: {html} ({report.Findings.Count} finding(s), {report.Volumes.Count} volume check(s), "
                    + $"{report.Fixups.Count} fix-up report(s), {report.Phases.Count} phase(s){(report.Notes.Count > 0 ? "; not read: " + string.Join("; ", report.Notes) : "")})");
            }
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, P2V.Migration.Reporting.ReportJson.Default.MigrationReport));
            return 0;
        });
        return command;
    }

    private static Command Cleanup()
    {
        var vm = new Argument<string>("vm") { Description = "The migration folder (or its plan.json), or the VM's MAC or device name at the controller" };
        var url = new Option<string>("--controller") { Description = $"The controller's URL (default: the plan's, else ${ControllerClient.UrlVariable})", HelpName = "URL" };
        var token = new Option<string>("--token") { Description = $"The admin token (default: ${ControllerClient.TokenVariable})", HelpName = "TOKEN" };
        var drop = new Option<bool>("--drop-images") { Description = "Also remove the migration's images from the controller's store and collect its garbage" };
        var json = CliOptions.Json();
        var command = new Command("cleanup", "Release the VM's device (default job none, queued jobs cancelled), detach its boot floppy; optionally drop its images")
            { vm, url, token, drop, json };
        command.SetAction(async (r, ct) =>
        {
            string target = r.GetValue(vm)!;
            string? controllerUrl = r.GetValue(url) ?? PlanController(target) ?? Environment.GetEnvironmentVariable(ControllerClient.UrlVariable)
                ?? throw new UsageException("no controller: give --controller URL (or set " + ControllerClient.UrlVariable + ")");
            using var controller = ControllerClient.FromOptions(controllerUrl, r.GetValue(token));
            var store = r.GetValue(drop) ? StoreLocation.Open(controllerUrl, r.GetValue(token) ?? Environment.GetEnvironmentVariable(ControllerClient.TokenVariable)) : null;
            try
            {
                var cleanup = await VmCleanup.PrepareAsync(controller, store, target, ct);
                var done = await cleanup.RunAsync(r.GetValue(drop), ct);
                if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(done, CliJsonContext.Default.CleanupResult));
                else Print(done);
                return 0;
            }
            finally { (store as IDisposable)?.Dispose(); }
        });
        return command;
    }

    /// <summary>The controller plan.json names, when the argument is a migration folder.</summary>
    private static string? PlanController(string target)
    {
        var plan = Directory.Exists(target) ? Path.Combine(target, "plan.json") : target;
        if (!File.Exists(plan)) return null;
        return P2V.Migration.Planning.MigrationPlan.Load(plan).Controller;
    }

    private static void Print(CleanupResult c)
    {
        string who = c.Name is null ? c.Mac : $"{c.Name} ({c.Mac})";
        Console.Error.WriteLine($"cleanup: device {who} {(c.Released ? "released" : "was released already")}, default job none"
            + (c.CancelledJobs.Count > 0 ? $", queued job(s) {string.Join(", ", c.CancelledJobs)} cancelled" : ""));
        foreach (var f in c.Detached) Console.Error.WriteLine($"cleanup: boot floppy detached from {f}");
        foreach (var f in c.AlreadyDetached) Console.Error.WriteLine($"cleanup: {f} holds no boot floppy any more");
        foreach (var i in c.RemovedImages) Console.Error.WriteLine($"cleanup: image {i.Name} removed ({ByteSize.Format(i.DiskBytes)} disk, {ByteSize.Format(i.UniqueBytes)} only its own)");
        if (c.Garbage is { } g)
            Console.Error.WriteLine($"cleanup: {(c.RemovedImages.Count == 0 ? "no image of this migration left in the store; " : "")}garbage collection freed {ByteSize.Format(g.BytesRemoved)} ({g.ChunksRemoved} chunks), {g.ChunksKept} chunks kept for {g.Images} images");
    }
}
