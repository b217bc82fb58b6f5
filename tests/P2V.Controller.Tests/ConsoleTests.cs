using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using P2V.Controller.Api;
using P2V.Controller.Jobs;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;

namespace P2V.Controller.Tests;

/// <summary>
/// The web console in a real browser: Debian's chromium, headless, driven by Playwright against a real controller on
/// loopback. The operator signs in with the admin token, takes a device under control and queues a capture job in
/// the page; the test then plays the boot agent through the agent API (claim, progress, a real capture streamed
/// into the store with the job's token, completion) and the page must follow each change live, through the
/// server-sent event stream alone.
/// </summary>
public sealed class ConsoleTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private const string Source = "52:54:00:c0:ff:ee";
    private const string Other = "52:54:00:0d:b0:01";
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    static ConsoleTests()
    {
        // Waits for the page to show something, not timing asserts: generous, because two other builds share the cores.
        Assertions.SetDefaultExpectTimeout(30_000);
    }

    [SkippableFact]
    public async Task Operator_takes_control_queues_a_capture_and_follows_it_live_to_completion()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is not installed (tools/setup installs Debian's chromium)");
        Requires.Tool("mkntfs");
        await using var c = await TestController.StartAsync(new SqliteDatabase());
        using var admin = c.Client();
        // What the console must list when it opens: an uncontrolled source, and another device with a finished job.
        await admin.AddDeviceAsync(new DeviceRequest(Source, "web01"));
        await admin.AddDeviceAsync(new DeviceRequest(Other, "db01", Controlled: true));
        var earlier = await admin.CreateJobAsync(new JobRequest(Other, JobKind.Reset));
        using (var agent = c.Http(earlier.Token))
        {
            (await agent.GetAsync("api/agent/job")).EnsureSuccessStatusCode();
            (await agent.PostAsJsonAsync($"api/agent/jobs/{earlier.Job.Id}/complete", new AgentCompletion(true, null), ControllerJson.Default.AgentCompletion)).EnsureSuccessStatusCode();
        }

        await using var browser = await LaunchAsync();
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1000 } });
        var outside = new List<string>();
        page.Request += (_, r) => { if (!r.Url.StartsWith(c.Url + "/", StringComparison.Ordinal)) outside.Add(r.Url); };
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        // Chromium logs every 4xx answer as a console error too; those are checked as answers, below.
        page.Console += (_, m) => { if (m.Type == "error" && !m.Text.StartsWith("Failed to load resource", StringComparison.Ordinal)) errors.Add(m.Text); };
        var refused = new List<string>();
        page.Response += (_, r) => { if (r.Status >= 400) refused.Add($"{r.Status} {r.Url[c.Url.Length..]}"); };

        // Sign in: a wrong token is refused in the page, the right one opens the live view.
        await page.GotoAsync(c.Url + "/");
        await Assertions.Expect(page.Locator("#login")).ToBeVisibleAsync();
        await page.FillAsync("#token", "adm_wrong");
        await page.ClickAsync("#login button[type=submit]");
        await Assertions.Expect(page.Locator("#login-error")).ToHaveTextAsync("the token was refused");
        Assert.Equal(["401 /api/jobs?limit=200"], refused);
        refused.Clear();
        await page.FillAsync("#token", c.Server.AdminToken);
        await page.ClickAsync("#login button[type=submit]");
        await Assertions.Expect(page.Locator("#connection")).ToHaveTextAsync("live");

        // It lists the devices and the job history.
        var source = page.Locator($"#devices tbody tr[data-mac='{Source}']");
        await Assertions.Expect(source).ToContainTextAsync("web01");
        await Assertions.Expect(source).ToContainTextAsync("released");
        await Assertions.Expect(page.Locator($"#devices tbody tr[data-mac='{Other}']")).ToContainTextAsync("controlled");
        await Assertions.Expect(page.Locator($"#history tbody tr[data-job='{earlier.Job.Id}']")).ToContainTextAsync("succeeded");
        await Assertions.Expect(page.Locator("#running-empty")).ToBeVisibleAsync();

        // Take control of web01 in the page; the controller (not just the page) must say so.
        await source.Locator("button.control").ClickAsync();
        await Assertions.Expect(source).ToContainTextAsync("controlled");
        await Assertions.Expect(source.Locator("button.control")).ToHaveTextAsync("Release");
        Assert.True((await admin.GetDeviceAsync(Source)).Controlled);

        // Queue its capture job in the page. The job's token is in the answer to the page's POST, shown once; the
        // test takes it from there, as the boot script would get it from the controller.
        await page.SelectOptionAsync("#job-device", Source);
        await page.SelectOptionAsync("#job-kind", "capture");
        await page.FillAsync("#job-image", "web01-capture");
        var response = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#new-job button[type=submit]"),
            r => r.Url == c.Url + "/api/jobs" && r.Request.Method == "POST");
        Assert.Equal(201, response.Status);
        var created = JsonSerializer.Deserialize(await response.BodyAsync(), ControllerJson.Default.CreatedJob)!;
        Assert.Equal(Source, created.Job.DeviceMac);
        Assert.Equal("web01-capture", created.Job.Image);
        await Assertions.Expect(page.Locator("#new-job-result")).ToHaveTextAsync($"job {created.Job.Id} queued for {Source}");
        var row = page.Locator($"#running tbody tr[data-job='{created.Job.Id}']");
        await Assertions.Expect(row).ToContainTextAsync("queued");

        // The agent claims the job and reports progress: each change reaches the page through the event stream.
        using var jobAgent = c.Http(created.Token);
        (await jobAgent.GetAsync("api/agent/job")).EnsureSuccessStatusCode();
        await Assertions.Expect(row).ToContainTextAsync("claimed");
        var volume = MakeVolume();
        long total = new FileInfo(volume).Length;
        foreach (var percent in new[] { 10, 35, 60 })
        {
            await ProgressAsync(jobAgent, created.Job.Id, new JobProgress("capture", total * percent / 100, total, 180e6, 4.0, "volume C:"));
            await Assertions.Expect(row.Locator("[role=progressbar]")).ToHaveAttributeAsync("aria-valuenow", percent.ToString());
        }
        await Assertions.Expect(row).ToContainTextAsync("running");
        await Assertions.Expect(row).ToContainTextAsync("volume C:");

        // A real capture into the controller's store, with the job's token (which may write only this image).
        using (var store = new StoreClient(new Uri(c.Url), created.Token))
        using (var disk = VirtualDisk.Open(volume))
        {
            var plan = CapturePlanner.Plan(disk, sourceDescription: "web01 C:", toolVersion: "test");
            using var sink = await StoreCaptureSink.OpenAsync(store, "web01-capture", plan.Header, CancellationToken.None);
            await new CapturePipeline().RunAsync(disk, plan, sink);
        }
        (await jobAgent.PostAsync($"api/agent/jobs/{created.Job.Id}/log", new StringContent("captured volume C: into web01-capture\n", Encoding.UTF8, "text/plain")))
            .EnsureSuccessStatusCode();
        await Assertions.Expect(page.Locator("#images tbody tr", new() { HasText = "web01-capture" })).ToBeVisibleAsync();
        await ProgressAsync(jobAgent, created.Job.Id, new JobProgress("capture", total * 9 / 10, total, 180e6, 1.0, "volume C: committed"));
        await Assertions.Expect(row.Locator("[role=progressbar]")).ToHaveAttributeAsync("aria-valuenow", "90");
        if (Environment.GetEnvironmentVariable("P2V_CONSOLE_SCREENSHOT") is { Length: > 0 } shot)
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });

        // Completion: the job leaves the running table for the history, and its log opens from there.
        (await jobAgent.PostAsJsonAsync($"api/agent/jobs/{created.Job.Id}/complete", new AgentCompletion(true, null), ControllerJson.Default.AgentCompletion))
            .EnsureSuccessStatusCode();
        var done = page.Locator($"#history tbody tr[data-job='{created.Job.Id}']");
        await Assertions.Expect(done).ToContainTextAsync("succeeded");
        await Assertions.Expect(row).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#running-empty")).ToBeVisibleAsync();
        await done.ClickAsync();
        await Assertions.Expect(page.Locator("#detail-log")).ToContainTextAsync("captured volume C: into web01-capture");

        Assert.Empty(outside);
        Assert.Empty(errors);
        Assert.Empty(refused);
    }

    [SkippableFact]
    public async Task A_job_for_a_released_device_is_refused_in_the_page()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is not installed (tools/setup installs Debian's chromium)");
        await using var c = await TestController.StartAsync(new SqliteDatabase());
        using var admin = c.Client();
        await admin.AddDeviceAsync(new DeviceRequest(Source, "web01", Controlled: true));

        await using var browser = await LaunchAsync();
        var page = await browser.Browser.NewPageAsync();
        // A link may carry the token in its fragment, which never reaches the server.
        await page.GotoAsync($"{c.Url}/#token={c.Server.AdminToken}");
        await Assertions.Expect(page.Locator("#connection")).ToHaveTextAsync("live");
        Assert.DoesNotContain("token", page.Url);
        await Assertions.Expect(page.Locator("#job-device")).ToHaveValueAsync(Source);

        // Released behind the page's back (another operator): the page still offers it, the controller refuses.
        await admin.ReleaseAsync(Source);
        await page.SelectOptionAsync("#job-kind", "reset");
        await page.ClickAsync("#new-job button[type=submit]");
        await Assertions.Expect(page.Locator("#new-job-result")).ToContainTextAsync("is not under control");
        Assert.Empty(await admin.ListJobsAsync(Source));
    }

    private static Task<HeadlessChromium> LaunchAsync() => HeadlessChromium.LaunchAsync(Chromium);

    private static async Task ProgressAsync(HttpClient agent, long job, JobProgress progress) =>
        (await agent.PostAsJsonAsync($"api/agent/jobs/{job}/progress", progress, ControllerJson.Default.JobProgress)).EnsureSuccessStatusCode();

    /// <summary>A 24 MiB NTFS volume made by mkntfs with a few files copied in by ntfscp: what the capture reads.</summary>
    private string MakeVolume()
    {
        var path = _tmp.File("c.vol");
        using (var f = File.Create(path)) f.SetLength(24 << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-c", "4096", "-L", "WEB01", path);
        var rng = new Random(13);
        for (int i = 0; i < 4; i++)
        {
            var data = new byte[rng.Next(200_000, 900_000)];
            rng.NextBytes(data);
            var local = _tmp.File($"file{i}.bin");
            File.WriteAllBytes(local, data);
            ExternalTool.Run("ntfscp", "-f", path, local, $"/file{i}.bin");
        }
        return path;
    }
}
