using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using P2V.Controller.Api;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Netboot;

namespace P2V.Controller.Tests;

/// <summary>
/// What a MAC boots, asked the way iPXE asks: curl fetches /ipxe/MAC.ipxe from the netboot HTTP service the controller
/// hosts, and the script's kernel arguments must carry a token the agent API accepts.
/// </summary>
public abstract partial class BootPolicyTests(ITestDatabase database)
{
    private const string Mac = "52:54:00:aa:bb:01";

    private async Task<TestController> StartAsync()
    {
        return await TestController.StartAsync(database, configure: o => new ControllerOptions
        {
            DataFolder = o.DataFolder, Database = o.Database, Listen = o.Listen, LongPoll = o.LongPoll,
            Netboot = policy => new NetbootServerOptions { Root = Directory.CreateDirectory(Path.Combine(o.DataFolder, "boot")).FullName, Listen = IPAddress.Loopback, HttpPort = 0, TftpPort = 0, Policy = policy },
        });
    }

    private static string Script(TestController c, string mac) =>
        ExternalTool.Run("curl", "-sSf", $"http://127.0.0.1:{c.Server.Netboot!.Http.Port}/ipxe/{mac.Replace(':', '-')}.ipxe");

    [SkippableFact]
    public async Task Unknown_machine_is_recorded_and_boots_its_disk()
    {
        await using var c = await StartAsync();
        var script = Script(c, Mac);
        Assert.Contains("booting from local disk", script);
        Assert.Contains("sanboot", script);
        var device = await c.Client().GetDeviceAsync(Mac);
        Assert.False(device.Controlled);
        Assert.NotNull(device.LastBootAt);
    }

    [SkippableFact]
    public async Task Controlled_machine_with_a_queued_job_boots_its_environment_with_the_jobs_token()
    {
        await using var c = await StartAsync();
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, Controlled: true));
        var created = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "web01"));
        var script = Script(c, Mac);
        Assert.Contains("p2v.role=capture", script);
        var args = KernelArguments().Match(script);
        Assert.True(args.Success, script);
        Assert.Equal(c.Url, args.Groups["url"].Value);
        Assert.Equal(created.Job.Id.ToString(), args.Groups["job"].Value);
        // The token from the script is what the agent authenticates with.
        using var agent = c.Http(args.Groups["token"].Value);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("api/agent/job")).StatusCode);
        // Claimed: a second boot of the machine (the agent died) boots the disk, not the job again.
        Assert.Contains("booting from local disk", Script(c, Mac));
    }

    [SkippableFact]
    public async Task Deploy_job_boots_the_deploy_image()
    {
        await using var c = await StartAsync();
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, Controlled: true));
        await client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy, "web01", Fixup: System.Text.Json.JsonDocument.Parse("{\"target\": \"qemu\"}").RootElement));
        Assert.Contains("p2v.role=deploy", Script(c, Mac));
    }

    [SkippableFact]
    public async Task Released_or_held_machine_boots_its_disk_even_with_a_job()
    {
        await using var c = await StartAsync();
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, Controlled: true, BootAction: DeviceBootAction.LocalDisk));
        await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "web01"));
        Assert.Contains("booting from local disk", Script(c, Mac));
        await client.ChangeDeviceAsync(Mac, new DeviceChange(BootAction: DeviceBootAction.None));
        await client.ReleaseAsync(Mac);
        Assert.Contains("booting from local disk", Script(c, Mac));
        await client.ControlAsync(Mac);
        Assert.Contains("p2v.role=capture", Script(c, Mac));
    }

    [SkippableFact]
    public async Task Reset_job_is_done_when_the_machine_boots_its_disk()
    {
        await using var c = await StartAsync();
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, Controlled: true));
        var reset = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Reset));
        Assert.Contains("booting from local disk", Script(c, Mac));
        Assert.Equal(JobState.Succeeded, (await client.GetJobAsync(reset.Job.Id)).State);
    }

    [SkippableFact]
    public async Task Default_template_makes_a_job_at_boot_and_none_makes_nothing()
    {
        await using var c = await StartAsync();
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, "web01", Controlled: true));
        Assert.Contains("booting from local disk", Script(c, Mac));
        Assert.Empty(await client.ListJobsAsync(Mac));

        await client.ChangeDeviceAsync(Mac, new DeviceChange(DefaultTemplate: JobTemplate.Capture));
        var script = Script(c, Mac);
        Assert.Contains("p2v.role=capture", script);
        var job = Assert.Single(await client.ListJobsAsync(Mac));
        Assert.Equal(JobKind.Capture, job.Kind);
        Assert.StartsWith("web01-", job.Image);
        // Booting again while that job is queued hands out the same job, not a second one.
        Script(c, Mac);
        Assert.Single(await client.ListJobsAsync(Mac));
    }

    [GeneratedRegex(@"p2v\.controller=(?<url>\S+) p2v\.token=(?<token>job_[A-Za-z0-9_-]+) p2v\.job=(?<job>\d+)")]
    private static partial Regex KernelArguments();
}

public sealed class SqliteBootPolicyTests() : BootPolicyTests(new SqliteDatabase());

[Collection("postgres")]
public sealed class PostgresBootPolicyTests(PostgresServer server) : BootPolicyTests(new PostgresDatabase(server));
