using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using P2V.Controller;
using P2V.Controller.Api;
using P2V.Controller.Client;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Netboot;

namespace P2V.Cli.Commands;

/// <summary>p2v server, p2v device …, p2v job …: the controller and its admin API (docs/controller.md).</summary>
public static class ControllerCommands
{
    public static void AddTo(RootCommand root)
    {
        root.Add(Server());
        var device = CliHost.Group(root, "device", "Devices of the controller: add, list, show, take control, release");
        device.Add(DeviceAdd());
        device.Add(DeviceList());
        device.Add(DeviceShow());
        device.Add(DeviceControl("control", "Take control: the device network-boots into its jobs", true));
        device.Add(DeviceControl("release", "Release: the device boots from its own disk", false));
        var job = CliHost.Group(root, "job", "Jobs of the controller: create, list, show, wait");
        job.Add(JobCreate());
        job.Add(JobList());
        job.Add(JobShow());
        job.Add(JobWait());
    }

    private static Command Server()
    {
        var data = new Option<string>("--data") { Description = "The data folder: database, admin token, boot files (default: /var/lib/p2v)", HelpName = "DIR" };
        var listen = CliOptions.ParsedRef("--listen", $"Address and port of the API and console (default: 0.0.0.0:{ControllerOptions.DefaultPort})", ParseEndPoint, "ADDRESS:PORT");
        var db = new Option<string>("--db") { Description = "A PostgreSQL connection string (Host=…) for several servers on one database (default: SQLite in DATA)", HelpName = "CONNECTION" };
        var store = new Option<string>("--store") { Description = "The image store: a folder or s3://BUCKET[/PREFIX] (default: DATA/store)", HelpName = "STORE" };
        var s3Endpoint = new Option<string>("--s3-endpoint") { Description = "The S3-compatible endpoint of an s3:// store", HelpName = "URL" };
        var url = new Option<string>("--url") { Description = "The URL agents and scripts reach this server at (default: from --listen)", HelpName = "URL" };
        var noNetboot = new Option<bool>("--no-netboot") { Description = "Serve no TFTP/HTTP boot files" };
        var bootRoot = new Option<string>("--boot-root") { Description = "The folder of boot files (default: DATA/boot)", HelpName = "DIR" };
        var proxyDhcp = new Option<bool>("--proxy-dhcp") { Description = "Answer PXE clients beside the network's own DHCP server" };
        var dhcpRange = NetbootCommands.DhcpRange();
        var bootHttpPort = CliOptions.Int("--boot-http-port", "Port of the boot files' HTTP service (default: 8080)", 1, 65535, "PORT");
        bootHttpPort.DefaultValueFactory = _ => 8080;
        var tftpPort = CliOptions.Int("--tftp-port", "TFTP port (default: 69)", 1, 65535, "PORT");
        tftpPort.DefaultValueFactory = _ => 69;
        var command = new Command("server", "Run the controller: REST API, agent API, web console and netboot services, until Ctrl-C")
            { data, listen, db, store, s3Endpoint, url, noNetboot, bootRoot, proxyDhcp, dhcpRange, bootHttpPort, tftpPort };
        command.Validators.Add(r =>
        {
            if (r.GetValue(proxyDhcp) && r.GetResult(dhcpRange) is not null) r.AddError("--proxy-dhcp and --dhcp-range exclude each other");
        });
        command.SetAction((r, ct) =>
        {
            var folder = Path.GetFullPath(r.GetValue(data) ?? "/var/lib/p2v");
            var endPoint = r.GetValue(listen) ?? new IPEndPoint(IPAddress.Any, ControllerOptions.DefaultPort);
            var root = r.GetValue(bootRoot) ?? Path.Combine(folder, "boot");
            var netbootAddress = endPoint.Address.Equals(IPAddress.Any) ? IPAddress.Any : endPoint.Address;
            return ServeAsync(new ControllerOptions
            {
                DataFolder = folder,
                Database = r.GetValue(db),
                Store = r.GetValue(store),
                S3Endpoint = r.GetValue(s3Endpoint),
                Listen = endPoint,
                AdvertisedUrl = r.GetValue(url),
                Netboot = r.GetValue(noNetboot) ? null : policy => new NetbootServerOptions
                {
                    Root = Directory.CreateDirectory(root).FullName,
                    Listen = netbootAddress,
                    Dhcp = r.GetValue(proxyDhcp) ? DhcpMode.Proxy : r.GetValue(dhcpRange) is not null ? DhcpMode.Full : DhcpMode.None,
                    RangeStart = r.GetValue(dhcpRange)?.Item1,
                    RangeEnd = r.GetValue(dhcpRange)?.Item2,
                    LeaseFile = Path.Combine(folder, "dhcp-leases.json"),
                    HttpPort = r.GetValue(bootHttpPort),
                    TftpPort = r.GetValue(tftpPort),
                    Policy = policy,
                },
            }, ct);
        });
        return command;
    }

    private static async Task<int> ServeAsync(ControllerOptions options, CancellationToken cancel)
    {
        var log = new NetbootLog(line => Console.Out.WriteLine(line));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        ControllerServer server;
        try { server = await ControllerServer.StartAsync(options, log, stop.Token); }
        catch (System.Net.Sockets.SocketException e) { throw new IOException($"cannot listen on {options.Listen}: {e.Message}", e); }
        catch (Exception e) when (e is System.Data.Common.DbException) { throw new IOException($"database: {e.Message}", e); }
        await using var _ = server;
        Console.Error.WriteLine($"server: {server.Url} (console {server.Url}/, OpenAPI {server.Url}{ControllerServer.OpenApiPath}); admin token in {Path.Combine(options.DataFolder, AdminToken.FileName)}");
        try { await Task.Delay(Timeout.Infinite, stop.Token); }
        catch (OperationCanceledException) { }
        log.Write("controller", server.Url, "stopping");
        return 0;
    }

    // Every client command: --controller URL (or P2V_CONTROLLER), --token T (or P2V_TOKEN).
    private static (Option<string> Url, Option<string> Token) ClientOptions(Command command)
    {
        var url = new Option<string>("--controller") { Description = $"The controller's URL (default: ${ControllerClient.UrlVariable}, else {ControllerClient.DefaultUrl})", HelpName = "URL" };
        var token = new Option<string>("--token") { Description = $"The admin token (default: ${ControllerClient.TokenVariable})", HelpName = "TOKEN" };
        command.Add(url);
        command.Add(token);
        return (url, token);
    }

    private static Argument<string> MacArgument() => new("mac") { Description = "The device's MAC address (aa:bb:cc:dd:ee:ff)" };

    private static Command DeviceAdd()
    {
        var mac = MacArgument();
        var name = new Option<string>("--name") { Description = "The device's name", HelpName = "NAME" };
        var inventory = new Option<string>("--inventory") { Description = "Its inventory (p2v gather's XML)", HelpName = "FILE" };
        var control = new Option<bool>("--control") { Description = "Take control of it at once" };
        var template = CliOptions.Parsed("--default-job", "The job it gets when it network-boots with none queued: none|capture|deploy|reset", s => Words.ParseTemplate(s), "TEMPLATE");
        var action = CliOptions.Parsed("--boot-action", "none (follow its jobs)|capture|deploy|local (hold at its disk)", s => Words.ParseBootAction(s), "ACTION");
        var json = CliOptions.Json();
        var command = new Command("add", "Add a device, or update its name, inventory and settings") { mac, name, inventory, control, template, action, json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            var xml = r.GetValue(inventory) is { } file ? await File.ReadAllTextAsync(file, ct) : null;
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var d = await client.AddDeviceAsync(new DeviceRequest(r.GetValue(mac)!, r.GetValue(name), xml, r.GetValue(control) ? true : null,
                r.GetValue(action), r.GetValue(template)), ct);
            PrintDevice(d, r.GetValue(json));
            return 0;
        });
        return command;
    }

    private static Command DeviceList()
    {
        var json = CliOptions.Json();
        var command = new Command("list", "The controller's devices") { json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var devices = await client.ListDevicesAsync(ct);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(devices, ControllerJson.Default.ListDevice));
            else
            {
                Console.WriteLine($"{"MAC",-17}  {"NAME",-16} {"CONTROL",-10} {"BOOT",-8} {"DEFAULT JOB",-11} LAST BOOT");
                foreach (var d in devices)
                    Console.WriteLine($"{d.Mac,-17}  {d.Name ?? "-",-16} {(d.Controlled ? "controlled" : "released"),-10} {Words.Of(d.BootAction),-8} {Words.Of(d.DefaultTemplate),-11} {Time(d.LastBootAt)}");
            }
            return 0;
        });
        return command;
    }

    private static Command DeviceShow()
    {
        var mac = MacArgument();
        var json = CliOptions.Json();
        var command = new Command("show", "One device and its jobs") { mac, json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var d = await client.GetDeviceAsync(r.GetValue(mac)!, ct);
            PrintDevice(d, r.GetValue(json));
            if (!r.GetValue(json))
                foreach (var j in await client.ListJobsAsync(d.Mac, cancel: ct))
                    Console.WriteLine($"  job {j.Id}: {JobWords.Of(j.Kind)} {JobWords.Of(j.State)}{(j.Image != null ? " image " + j.Image : "")} created {Time(j.CreatedAt)}");
            return 0;
        });
        return command;
    }

    private static Command DeviceControl(string name, string description, bool control)
    {
        var mac = MacArgument();
        var json = CliOptions.Json();
        var command = new Command(name, description) { mac, json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            PrintDevice(control ? await client.ControlAsync(r.GetValue(mac)!, ct) : await client.ReleaseAsync(r.GetValue(mac)!, ct), r.GetValue(json));
            return 0;
        });
        return command;
    }

    private static Command JobCreate()
    {
        var mac = MacArgument();
        var kind = CliOptions.Parsed("--kind", "capture|deploy|reset|custom", s => JobWords.ParseKind(s), "KIND");
        kind.Required = true;
        var image = new Option<string>("--image") { Description = "The image a capture creates or a deploy writes", HelpName = "NAME" };
        var steps = new Option<string[]>("--step") { Description = "A step of the task sequence (repeat for several; default: the kind's)", HelpName = "STEP", AllowMultipleArgumentsPerToken = false };
        var fixupTarget = new Option<string>("--fixup-target") { Description = "Deploy: the hypervisor the fix-ups prepare Windows for", HelpName = "TARGET" };
        var vcpus = CliOptions.Int("--vcpus", "Deploy: the VM's virtual processors (decides the HAL; default 1)", 1, 255, "N");
        var patches = CliOptions.PatchesUrl("Deploy: the URL of a tar of the patch library (HALs, kernels, service-pack cabinets)");
        var drivers = CliOptions.TarUrl("--drivers", "Deploy: the URL of a tar of a folder of Windows driver packages (the target's paravirtual drivers)");
        var firstBoot = CliOptions.TarUrl("--firstboot", "Deploy: the URL of a tar of first-boot scripts, at its top, run in the tar's order");
        var json = CliOptions.Json();
        var command = new Command("create", "Queue a job for a controlled device; prints its id") { mac, kind, image, steps, fixupTarget, vcpus, patches, drivers, firstBoot, json };
        command.Validators.Add(r =>
        {
            if (r.GetResult(fixupTarget) is null && (r.GetResult(vcpus) is not null || r.GetResult(patches) is not null || r.GetResult(drivers) is not null || r.GetResult(firstBoot) is not null))
                r.AddError("--vcpus, --patches, --drivers and --firstboot belong to the fix-up: give --fixup-target too");
        });
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            // The agent's fix-up settings (docs/agent-protocol.md, "Steps the agent runs").
            JsonElement? fixup = r.GetValue(fixupTarget) is { } t
                ? JsonSerializer.SerializeToElement(new P2V.Agent.FixupSettings(t, r.GetValue(vcpus) is > 0 and var n ? n : 1, r.GetValue(patches), r.GetValue(drivers), r.GetValue(firstBoot)), CliJsonContext.Default.FixupSettings)
                : null;
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var created = await client.CreateJobAsync(new JobRequest(r.GetValue(mac)!, r.GetValue(kind)!.Value, r.GetValue(image), r.GetValue(steps) is { Length: > 0 } s ? s : null, fixup), ct);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(created, ControllerJson.Default.CreatedJob));
            else
            {
                Console.WriteLine(created.Job.Id.ToString(CultureInfo.InvariantCulture));
                Console.Error.WriteLine($"job create: job {created.Job.Id} ({JobWords.Of(created.Job.Kind)}: {string.Join(" → ", created.Job.Steps)}) queued for {created.Job.DeviceMac}");
            }
            return 0;
        });
        return command;
    }

    private static Command JobList()
    {
        var device = new Option<string>("--device") { Description = "Only this device's jobs", HelpName = "MAC" };
        var state = CliOptions.Parsed("--state", "Only jobs in this state", s => JobWords.ParseState(s), "STATE");
        var active = new Option<bool>("--active") { Description = "Only jobs not yet ended" };
        var json = CliOptions.Json();
        var command = new Command("list", "Jobs, newest first") { device, state, active, json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var jobs = await client.ListJobsAsync(r.GetValue(device), r.GetValue(state), r.GetValue(active), ct);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(jobs, ControllerJson.Default.ListJob));
            else
            {
                Console.WriteLine($"{"ID",6}  {"DEVICE",-17}  {"KIND",-7} {"STATE",-9} {"PROGRESS",8}  IMAGE");
                foreach (var j in jobs) Console.WriteLine($"{j.Id,6}  {j.DeviceMac,-17}  {JobWords.Of(j.Kind),-7} {JobWords.Of(j.State),-9} {Percent(j),8}  {j.Image}");
            }
            return 0;
        });
        return command;
    }

    private static Command JobShow()
    {
        var id = JobId();
        var log = new Option<bool>("--log") { Description = "Print the job's log too" };
        var json = CliOptions.Json();
        var command = new Command("show", "One job: state, progress, times, error") { id, log, json };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var j = await client.GetJobAsync(r.GetValue(id), ct);
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(j, ControllerJson.Default.Job));
            else PrintJob(j);
            if (r.GetValue(log))
                foreach (var l in await client.LogAsync(j.Id, 0, ct)) Console.WriteLine($"{l.At:HH:mm:ss} {l.Line}");
            return 0;
        });
        return command;
    }

    private static Command JobWait()
    {
        var target = new Argument<string>("job") { Description = "A job id, or a device's MAC for its newest unfinished job" };
        var timeout = CliOptions.Int("--timeout", "Give up after this many seconds (default: never)", 1, int.MaxValue, "SECONDS");
        var command = new Command("wait", "Follow a job until it ends; exit 0 only if it succeeded") { target, timeout };
        var (url, token) = ClientOptions(command);
        command.SetAction(async (r, ct) =>
        {
            using var client = ControllerClient.FromOptions(r.GetValue(url), r.GetValue(token));
            var text = r.GetValue(target)!;
            long id;
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out id))
                id = (await client.ListJobsAsync(text, active: true, cancel: ct)).LastOrDefault()?.Id
                    ?? throw new InvalidOperationException($"device {text} has no unfinished job");
            var t = r.GetResult(timeout) is { Implicit: false } ? TimeSpan.FromSeconds(r.GetValue(timeout)) : (TimeSpan?)null;
            var end = await client.WaitAsync(id, j => Console.Error.WriteLine($"job {j.Id}: {JobWords.Of(j.State)} {Percent(j)} {j.Progress.Phase} {j.Progress.Message}".TrimEnd()),
                l => Console.Error.WriteLine($"job {id}: {l.Line}"), t, ct);
            Console.Error.WriteLine($"job wait: job {end.Id} {JobWords.Of(end.State)}{(end.Error != null ? ": " + end.Error : "")}");
            return end.State == JobState.Succeeded ? 0 : CliHost.ExitFailure;
        });
        return command;
    }

    private static Argument<long> JobId() => new("id")
    {
        Description = "The job's id",
        CustomParser = r => long.TryParse(r.Tokens.Count > 0 ? r.Tokens[0].Value : "", NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v : ErrorValue(r, $"'{(r.Tokens.Count > 0 ? r.Tokens[0].Value : "")}' is not a job id"),
    };

    private static long ErrorValue(System.CommandLine.Parsing.ArgumentResult r, string message)
    {
        r.AddError(message);
        return 0;
    }

    private static void PrintDevice(Device d, bool json)
    {
        if (json) { Console.WriteLine(JsonSerializer.Serialize(d, ControllerJson.Default.Device)); return; }
        Console.WriteLine($"{d.Mac} {d.Name ?? "-"}: {(d.Controlled ? "controlled" : "released")}, boot action {Words.Of(d.BootAction)}, default job {Words.Of(d.DefaultTemplate)}, "
            + $"inventory {(d.HasInventory ? "yes" : "no")}, last network boot {Time(d.LastBootAt)}");
    }

    private static void PrintJob(Job j)
    {
        Console.WriteLine($"job {j.Id}: {JobWords.Of(j.Kind)} for {j.DeviceMac}, {JobWords.Of(j.State)}{(j.Image != null ? ", image " + j.Image : "")}");
        Console.WriteLine($"  steps: {string.Join(" → ", j.Steps)}");
        Console.WriteLine($"  progress: {Percent(j)} {j.Progress.Phase} {j.Progress.Message}".TrimEnd());
        Console.WriteLine($"  created {Time(j.CreatedAt)}, claimed {Time(j.ClaimedAt)}{(j.ClaimedBy != null ? " by " + j.ClaimedBy : "")}, finished {Time(j.FinishedAt)}");
        if (j.Error != null) Console.WriteLine($"  error: {j.Error}");
    }

    private static string Percent(Job j) => j.Progress.BytesTotal > 0 ? (100.0 * j.Progress.BytesDone / j.Progress.BytesTotal).ToString("0.0", CultureInfo.InvariantCulture) + "%" : "-";
    private static string Time(DateTimeOffset? t) => t is { } v ? v.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";

    private static IPEndPoint ParseEndPoint(string text) =>
        IPEndPoint.TryParse(text, out var e) && e.Port != 0 ? e : throw new ArgumentException($"--listen: '{text}' is not ADDRESS:PORT");
}
