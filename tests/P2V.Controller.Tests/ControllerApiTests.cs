using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2V.Controller.Api;
using P2V.Controller.Client;
using P2V.Controller.Jobs;

namespace P2V.Controller.Tests;

/// <summary>The API over real HTTP, the same suite on SQLite and on PostgreSQL.</summary>
public abstract class ControllerApiTests(ITestDatabase database)
{
    private const string Mac = "52:54:00:12:34:56";

    [SkippableFact]
    public async Task Health_is_open_everything_else_needs_a_token()
    {
        await using var c = await TestController.StartAsync(database);
        using var anonymous = c.Http(null);
        var health = await anonymous.GetFromJsonAsync<JsonObject>("healthz");
        Assert.Equal("ok", (string?)health!["status"]);

        using var none = await anonymous.GetAsync("api/devices");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("token", (await none.Content.ReadFromJsonAsync<JsonObject>())!["error"]!.ToString());
        using var wrong = await c.Http("adm_not-the-token").GetAsync("api/devices");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        using var unknownPath = await anonymous.GetAsync("api/no-such-thing");
        Assert.Equal(HttpStatusCode.Unauthorized, unknownPath.StatusCode);
        using var admin = c.Admin();
        using var ok = await admin.GetAsync("api/devices");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [SkippableFact]
    public async Task Admin_token_is_owner_only_and_survives_a_restart()
    {
        var folder = Directory.CreateTempSubdirectory("p2v-controller-").FullName;
        try
        {
            string db = database.NewDatabase(folder), first;
            await using (var c = await TestController.StartAsync(database, folder, db))
            {
                first = c.Server.AdminToken;
                var path = Path.Combine(folder, AdminToken.FileName);
                Assert.Equal(first, File.ReadAllText(path).Trim());
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            }
            await using (var again = await TestController.StartAsync(database, folder, db))
                Assert.Equal(first, again.Server.AdminToken);
        }
        finally { Directory.Delete(folder, true); }
    }

    [SkippableFact]
    public async Task Devices_are_keyed_by_mac_taken_under_control_and_released()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        var d = await client.AddDeviceAsync(new DeviceRequest("52-54-00-12-34-56", "web01"));
        Assert.Equal(Mac, d.Mac);
        Assert.False(d.Controlled);
        // The same MAC in another spelling is the same device; a null name keeps the stored one.
        await client.AddDeviceAsync(new DeviceRequest("525400123456", Inventory: "<inventory/>"));
        var all = await client.ListDevicesAsync();
        Assert.Equal("web01", Assert.Single(all).Name);
        Assert.True(all[0].HasInventory);

        Assert.True((await client.ControlAsync(Mac)).Controlled);
        var changed = await client.ChangeDeviceAsync(Mac, new DeviceChange(DefaultTemplate: Devices.JobTemplate.None, BootAction: Devices.DeviceBootAction.Capture));
        Assert.Equal(Devices.DeviceBootAction.Capture, changed.BootAction);
        Assert.False((await client.ReleaseAsync(Mac)).Controlled);

        var bad = await Assert.ThrowsAsync<ControllerException>(() => client.AddDeviceAsync(new DeviceRequest("52:54:00:zz:34:56")));
        Assert.Equal(HttpStatusCode.BadRequest, bad.Status);
        Assert.EndsWith("400 '52:54:00:zz:34:56' is not a MAC address (aa:bb:cc:dd:ee:ff)", bad.Message);
        using var admin = c.Admin();
        using var badBody = await admin.PostAsync("api/devices", new StringContent("{\"mac\": \"nope\"}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badBody.StatusCode);
        Assert.Contains("'nope' is not a MAC address", (await badBody.Content.ReadFromJsonAsync<JsonObject>())!["error"]!.ToString());
        using var broken = await admin.PostAsync("api/devices", new StringContent("{\"mac\": ", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);
        var missing = await Assert.ThrowsAsync<ControllerException>(() => client.GetDeviceAsync("00:11:22:33:44:55"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
    }

    [SkippableFact]
    public async Task Inventory_is_stored_as_sent_and_must_be_xml()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        var xml = "<?xml version=\"1.0\"?><inventory><computer name=\"WEB01\"/></inventory>";
        await client.PutInventoryAsync(Mac, xml);
        using var admin = c.Admin();
        Assert.Equal(xml, await admin.GetStringAsync($"api/devices/{Mac}/inventory"));
        var notXml = await Assert.ThrowsAsync<ControllerException>(() => client.PutInventoryAsync(Mac, "<inventory>"));
        Assert.Equal(HttpStatusCode.BadRequest, notXml.Status);
    }

    [SkippableFact]
    public async Task A_job_needs_a_controlled_device_and_its_image()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        var uncontrolled = await Assert.ThrowsAsync<ControllerException>(() => client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "web01-c")));
        Assert.Equal(HttpStatusCode.Conflict, uncontrolled.Status);
        await client.ControlAsync(Mac);
        var noImage = await Assert.ThrowsAsync<ControllerException>(() => client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy)));
        Assert.Equal(HttpStatusCode.BadRequest, noImage.Status);
        // Refused before any disk is written: a fix-up with no target, an unknown target; a name reserved for further disks.
        var noFixup = await Assert.ThrowsAsync<ControllerException>(() => client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy, "web01-c")));
        Assert.Equal(HttpStatusCode.BadRequest, noFixup.Status);
        Assert.Contains("fixup settings with a target", noFixup.Message);
        var badTarget = await Assert.ThrowsAsync<ControllerException>(() => client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy, "web01-c",
            Fixup: JsonDocument.Parse("{\"target\": \"bochs\"}").RootElement)));
        Assert.Equal(HttpStatusCode.BadRequest, badTarget.Status);
        var diskName = await Assert.ThrowsAsync<ControllerException>(() => client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "web01-c.disk2")));
        Assert.Equal(HttpStatusCode.BadRequest, diskName.Status);
        var created = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "web01-c"));
        Assert.Equal(JobState.Queued, created.Job.State);
        Assert.Equal(["gather", "capture"], created.Job.Steps);
        Assert.StartsWith("job_", created.Token);
        var custom = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Custom, Steps: ["check-disks", "collect-logs"]));
        Assert.Equal(["check-disks", "collect-logs"], custom.Job.Steps);
        Assert.Equal(2, (await client.ListJobsAsync(Mac, active: true)).Count);
    }

    [SkippableFact]
    public async Task Agent_follows_its_job_from_claim_to_completion()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac, "web01"));
        await client.ControlAsync(Mac);
        var fixup = JsonDocument.Parse("{\"target\": \"hyperv\", \"hal\": \"keep\"}").RootElement;
        var (job, token) = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy, "web01-c", Fixup: fixup));
        using var agent = c.Http(token);

        var mine = await agent.GetFromJsonAsync<JsonObject>("api/agent/job");
        Assert.Equal(job.Id, (long)mine!["id"]!);
        Assert.Equal("deploy", (string?)mine["kind"]);
        Assert.Equal("claimed", (string?)mine["state"]);
        Assert.Equal(Mac, (string?)mine["deviceMac"]);
        Assert.Equal("web01-c", (string?)mine["image"]);
        Assert.Equal(c.Url, (string?)mine["store"]);
        Assert.Equal("hyperv", (string?)mine["fixup"]!["target"]);
        // Handed out once: the same token again is refused.
        using (var again = await agent.GetAsync("api/agent/job")) Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await agent.PostAsJsonAsync($"api/agent/jobs/{job.Id}/progress",
            new { phase = "deploy", bytesDone = 1L << 20, bytesTotal = 4L << 20, bytesPerSecond = 1e6, etaSeconds = 3.0, message = "disk 0" })).StatusCode);
        var running = await client.GetJobAsync(job.Id);
        Assert.Equal(JobState.Running, running.State);
        Assert.Equal(1L << 20, running.Progress.BytesDone);
        Assert.Equal("deploy", running.Progress.Phase);

        Assert.Equal(HttpStatusCode.NoContent, (await agent.PostAsync($"api/agent/jobs/{job.Id}/log", new StringContent("first line\nsecond line\n", Encoding.UTF8, "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PutAsync($"api/agent/jobs/{job.Id}/inventory", new StringContent("<inventory/>", Encoding.UTF8, "application/xml"))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PostAsJsonAsync($"api/agent/jobs/{job.Id}/report", new { name = "fixup", content = "hal kept" })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await agent.PostAsJsonAsync($"api/agent/jobs/{job.Id}/complete", new { succeeded = true, error = (string?)null })).StatusCode);

        var done = await client.GetJobAsync(job.Id);
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.NotNull(done.FinishedAt);
        Assert.Equal(["first line", "second line"], (await client.LogAsync(job.Id)).Select(l => l.Line));
        Assert.True((await client.GetDeviceAsync(Mac)).HasInventory);
        using var admin = c.Admin();
        var reports = await admin.GetFromJsonAsync<JsonArray>($"api/jobs/{job.Id}/reports");
        Assert.Equal("hal kept", (string?)reports![0]!["content"]);

        // An ended job takes no more progress or completion.
        using (var late = await agent.PostAsJsonAsync($"api/agent/jobs/{job.Id}/progress", new { phase = "x", bytesDone = 0, bytesTotal = 0, bytesPerSecond = 0.0 }))
            Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        using (var twice = await agent.PostAsJsonAsync($"api/agent/jobs/{job.Id}/complete", new { succeeded = false, error = "x" }))
            Assert.Equal(HttpStatusCode.Conflict, twice.StatusCode);
    }

    [SkippableFact]
    public async Task A_job_token_opens_its_own_job_only()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        await client.ControlAsync(Mac);
        var a = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "a"));
        var b = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "b"));
        using var agentA = c.Http(a.Token);
        using (var other = await agentA.PostAsJsonAsync($"api/agent/jobs/{b.Job.Id}/complete", new { succeeded = true }))
            Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
        using (var adminApi = await agentA.GetAsync("api/devices")) Assert.Equal(HttpStatusCode.Forbidden, adminApi.StatusCode);
        using (var jobs = await agentA.GetAsync("api/jobs")) Assert.Equal(HttpStatusCode.Forbidden, jobs.StatusCode);
        using (var adminAsAgent = await c.Admin().GetAsync("api/agent/job")) Assert.Equal(HttpStatusCode.Forbidden, adminAsAgent.StatusCode);
        using (var forged = await c.Http("job_" + new string('A', 43)).GetAsync("api/agent/job")) Assert.Equal(HttpStatusCode.Unauthorized, forged.StatusCode);
        Assert.Equal(JobState.Queued, (await client.GetJobAsync(b.Job.Id)).State);
    }

    [SkippableFact]
    public async Task Many_agents_with_one_token_claim_the_job_once()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        await client.ControlAsync(Mac);
        var created = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "once"));
        using var agent = c.Http(created.Token);
        var answers = await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
        {
            using var r = await agent.GetAsync("api/agent/job");
            return r.StatusCode;
        }));
        Assert.Equal(1, answers.Count(s => s == HttpStatusCode.OK));
        Assert.Equal(23, answers.Count(s => s == HttpStatusCode.Conflict));
    }

    [SkippableFact]
    public async Task Cancelled_job_ends_and_a_deployed_agent_long_polls_for_the_next()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        await client.ControlAsync(Mac);
        var deploy = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Deploy, "img", Fixup: JsonDocument.Parse("{\"target\": \"qemu\"}").RootElement));
        using var agent = c.Http(deploy.Token);
        (await agent.GetAsync("api/agent/job")).EnsureSuccessStatusCode();
        (await agent.PostAsJsonAsync($"api/agent/jobs/{deploy.Job.Id}/complete", new { succeeded = true })).EnsureSuccessStatusCode();

        using (var nothing = await agent.GetAsync($"api/agent/next?after={deploy.Job.Id}")) Assert.Equal(HttpStatusCode.NoContent, nothing.StatusCode);
        var poll = agent.GetAsync($"api/agent/next?after={deploy.Job.Id}");
        var reset = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Reset));
        using var answer = await poll;
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var next = (await answer.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.Equal(reset.Job.Id, (long)next["id"]!);
        Assert.Equal("reset", (string?)next["kind"]);
        Assert.Equal(reset.Token, (string?)next["token"]);

        Assert.Equal(JobState.Cancelled, (await client.CancelJobAsync(reset.Job.Id)).State);
        var twice = await Assert.ThrowsAsync<ControllerException>(() => client.CancelJobAsync(reset.Job.Id));
        Assert.Equal(HttpStatusCode.Conflict, twice.Status);
    }

    [SkippableFact]
    public async Task Event_stream_carries_each_job_change()
    {
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        await client.AddDeviceAsync(new DeviceRequest(Mac));
        await client.ControlAsync(Mac);
        using var admin = c.Admin();
        using var stream = await admin.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        var created = await client.CreateJobAsync(new JobRequest(Mac, JobKind.Capture, "live"));
        using var agent = c.Http(created.Token);
        (await agent.GetAsync("api/agent/job")).EnsureSuccessStatusCode();
        (await agent.PostAsJsonAsync($"api/agent/jobs/{created.Job.Id}/progress", new { phase = "capture", bytesDone = 42L, bytesTotal = 100L, bytesPerSecond = 1.0 })).EnsureSuccessStatusCode();
        (await agent.PostAsJsonAsync($"api/agent/jobs/{created.Job.Id}/complete", new { succeeded = true })).EnsureSuccessStatusCode();

        var seen = new List<JsonObject>();
        while (seen.Count == 0 || (string?)seen[^1]["state"] != "succeeded")
        {
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(line);
            if (line.StartsWith("data: ")) seen.Add(JsonNode.Parse(line[6..])!.AsObject());
        }
        Assert.All(seen, j => Assert.Equal(created.Job.Id, (long)j["id"]!));
        Assert.Equal("succeeded", (string?)seen[^1]["state"]);
        Assert.Equal(42, (long)seen[^1]["progress"]!["bytesDone"]!);
    }

    [SkippableFact]
    public async Task Event_stream_shows_every_progress_report_however_fast_they_come()
    {
        // 20 agents, each reporting 50 times back to back: the live view must show every report. It used to re-read the
        // jobs at each wake-up and send what it found then, so a report followed by the next before that read was never shown.
        await using var c = await TestController.StartAsync(database);
        using var client = c.Client();
        var created = new List<CreatedJob>();
        for (int i = 0; i < 20; i++)
        {
            var mac = $"52:54:00:00:01:{i:x2}";
            await client.AddDeviceAsync(new DeviceRequest(mac, Controlled: true));
            created.Add(await client.CreateJobAsync(new JobRequest(mac, JobKind.Capture, $"fast-{i}")));
        }
        using var admin = c.Admin();
        using var stream = await admin.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());
        const int Reports = 50;
        await Task.WhenAll(created.Select(j => Task.Run(async () =>
        {
            Assert.True(await c.Server.Jobs.ClaimAsync(j.Job.Id, "test"));
            for (int k = 1; k <= Reports; k++)
                Assert.True(await c.Server.Jobs.ReportProgressAsync(j.Job.Id, new JobProgress("capture", k, Reports, 1, null, null)));
            Assert.True(await c.Server.Jobs.CompleteAsync(j.Job.Id, true, null));
        })));

        var shown = new HashSet<(long Job, long BytesDone)>();
        var ended = new HashSet<long>();
        while (ended.Count < created.Count)
        {
            var line = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.NotNull(line);
            if (!line.StartsWith("data: ")) continue;
            var job = JsonNode.Parse(line[6..])!.AsObject();
            long id = (long)job["id"]!;
            if ((string?)job["state"] == "running") shown.Add((id, (long)job["progress"]!["bytesDone"]!));
            if ((string?)job["state"] == "succeeded") ended.Add(id);
        }
        var missing = created.SelectMany(j => Enumerable.Range(1, Reports).Select(k => (j.Job.Id, (long)k))).Where(r => !shown.Contains(r)).ToList();
        Assert.True(missing.Count == 0, $"{missing.Count} of {created.Count * Reports} progress reports never shown, e.g. job {missing.FirstOrDefault().Item1} at {missing.FirstOrDefault().Item2}");
    }

    [SkippableFact]
    public async Task OpenApi_document_describes_the_api()
    {
        await using var c = await TestController.StartAsync(database);
        using var anonymous = c.Http(null);
        var doc = await anonymous.GetFromJsonAsync<JsonObject>(ControllerServer.OpenApiPath.TrimStart('/'));
        var paths = doc!["paths"]!.AsObject();
        Assert.Contains("/api/devices", paths.Select(p => p.Key));
        Assert.Contains("/api/jobs", paths.Select(p => p.Key));
        Assert.Contains("/api/agent/job", paths.Select(p => p.Key));
    }
}

public sealed class SqliteControllerApiTests() : ControllerApiTests(new SqliteDatabase());

[Collection("postgres")]
public sealed class PostgresControllerApiTests(PostgresServer server) : ControllerApiTests(new PostgresDatabase(server));
