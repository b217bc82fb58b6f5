using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>
/// The boot agent's API (docs/agent-protocol.md), authenticated by the job's own token: an agent sees and changes
/// only its own job, and its device's next one.
/// </summary>
public static class AgentApi
{
    public static void Map(IEndpointRouteBuilder app, DeviceRepository devices, JobRepository jobs, JobEvents events, ControllerOptions options)
    {
        var agent = app.MapGroup("/api/agent").AddEndpointFilter(Caller.RequireAgent);

        agent.MapGet("/job", async (HttpContext context, CancellationToken cancel) =>
        {
            var job = Own(context);
            if (job.State == JobState.Queued)
            {
                if (!await jobs.ClaimAsync(job.Id, options.InstanceName, cancel))
                    return AdminApi.Conflict($"job {job.Id} was claimed by another agent");
                job = (await jobs.GetAsync(job.Id, cancel))!;
            }
            else if (job.State is JobState.Claimed or JobState.Running)
                return AdminApi.Conflict($"job {job.Id} was claimed already, by {job.ClaimedBy} at {job.ClaimedAt:u}");
            return Results.Json(Describe(job, null, options), ControllerJson.Default.AgentJob);
        }).WithSummary("The job this token belongs to; the first call claims it (queued → claimed), later ones get 409");

        agent.MapPost("/jobs/{id:long}/progress", async (long id, JobProgress p, HttpContext context, CancellationToken cancel) =>
        {
            if (Mismatch(context, id) is { } refused) return refused;
            if (p.BytesDone < 0 || p.BytesTotal < 0 || double.IsNaN(p.BytesPerSecond)) throw new ArgumentException("progress: byte counts must not be negative");
            return await jobs.ReportProgressAsync(id, p, cancel) ? Results.NoContent() : Ended(id);
        }).WithSummary("Progress (at most one a second); the first moves the job from claimed to running");

        agent.MapPost("/jobs/{id:long}/log", async (long id, HttpContext context, CancellationToken cancel) =>
        {
            if (Mismatch(context, id) is { } refused) return refused;
            var current = await jobs.GetAsync(id, cancel);
            if (current is not { State: JobState.Claimed or JobState.Running }) return Ended(id);
            var lines = (await AdminApi.ReadTextAsync(context.Request, 1 << 20, "the log text", cancel)).Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
            await jobs.AppendLogAsync(id, lines, cancel);
            return Results.NoContent();
        }).WithSummary("text/plain: one or more lines appended to the job's log");

        agent.MapPut("/jobs/{id:long}/inventory", async (long id, HttpContext context, CancellationToken cancel) =>
        {
            if (Mismatch(context, id) is { } refused) return refused;
            var job = Own(context);
            await devices.UpsertAsync(job.DeviceMac, null, await AdminApi.ReadXmlAsync(context.Request, cancel), cancel);
            return Results.NoContent();
        }).WithSummary("application/xml: the inventory the agent gathered, kept with the device");

        agent.MapPost("/jobs/{id:long}/report", async (long id, AgentReport report, HttpContext context, CancellationToken cancel) =>
        {
            if (Mismatch(context, id) is { } refused) return refused;
            if (string.IsNullOrWhiteSpace(report.Name) || report.Name.Length > 200) throw new ArgumentException("report: a name of 1 to 200 characters is needed");
            await jobs.SaveReportAsync(id, report.Name, report.Content ?? "", cancel);
            return Results.NoContent();
        }).WithSummary("A named report kept with the job");

        agent.MapPost("/jobs/{id:long}/complete", async (long id, AgentCompletion done, HttpContext context, CancellationToken cancel) =>
        {
            if (Mismatch(context, id) is { } refused) return refused;
            return await jobs.CompleteAsync(id, done.Succeeded, done.Error, cancel) ? Results.NoContent() : Ended(id);
        }).WithSummary("Ends the job: succeeded or failed");

        agent.MapGet("/next", async (long? after, HttpContext context, CancellationToken cancel) =>
        {
            var job = Own(context);
            var until = DateTime.UtcNow + options.LongPoll;
            while (true)
            {
                if (await jobs.NextQueuedAsync(job.DeviceMac, Math.Max(after ?? job.Id, job.Id), cancel) is var (next, token))
                    return Results.Json(Describe(next, token, options), ControllerJson.Default.AgentJob);
                var left = until - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return Results.NoContent();
                await events.WaitAsync(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), cancel);
            }
        }).WithSummary("Long poll (at most 30 s) for the device's next job, with its token; 204 when there is none");
    }

    private static Job Own(HttpContext context) => ((Caller.Agent)Caller.Of(context)!).Job;

    /// <summary>A token is good for its own job only.</summary>
    private static IResult? Mismatch(HttpContext context, long id) =>
        Own(context).Id == id ? null : Caller.Forbidden($"this token belongs to job {Own(context).Id}, not job {id}");

    private static IResult Ended(long id) => AdminApi.Conflict($"job {id} is not running");

    public static AgentJob Describe(Job job, string? token, ControllerOptions options) =>
        new(job.Id, job.Kind, job.DeviceMac, job.Image, options.StoreUrl, job.Fixup, job.State, job.Steps, token);
}
