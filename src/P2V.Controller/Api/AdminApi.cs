using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>The operator's API (admin token): devices, jobs, their logs and reports, and the live job stream.</summary>
public static class AdminApi
{
    public static void Map(IEndpointRouteBuilder app, DeviceRepository devices, JobRepository jobs, JobEvents events)
    {
        var api = app.MapGroup("/api").AddEndpointFilter(Caller.RequireAdmin);

        api.MapGet("/devices", async (CancellationToken cancel) => Results.Json(await devices.ListAsync(cancel), ControllerJson.Default.ListDevice))
            .WithSummary("All devices, by MAC address");
        api.MapPost("/devices", async (DeviceRequest r, CancellationToken cancel) =>
        {
            await devices.UpsertAsync(r.Mac, r.Name, r.Inventory, cancel);
            var d = await devices.UpdateAsync(r.Mac, r.Controlled, r.BootAction, r.DefaultTemplate, cancel);
            return Results.Json(d, ControllerJson.Default.Device);
        }).WithSummary("Create a device, or update its name, inventory and settings");
        api.MapGet("/devices/{mac}", async (string mac, CancellationToken cancel) =>
            await devices.GetAsync(mac, cancel) is { } d ? Results.Json(d, ControllerJson.Default.Device) : NotFound($"no device {mac}"));
        api.MapMethods("/devices/{mac}", ["PATCH"], async (string mac, DeviceChange change, CancellationToken cancel) =>
            await devices.UpdateAsync(mac, change.Controlled, change.BootAction, change.DefaultTemplate, cancel) is { } d
                ? Results.Json(d, ControllerJson.Default.Device) : NotFound($"no device {mac}"))
            .WithSummary("Change control, the boot action or the default job template");
        api.MapPost("/devices/{mac}/control", async (string mac, CancellationToken cancel) =>
            await devices.UpdateAsync(mac, true, null, null, cancel) is { } d ? Results.Json(d, ControllerJson.Default.Device) : NotFound($"no device {mac}"))
            .WithSummary("Take control: the device network-boots into its jobs from now on");
        api.MapPost("/devices/{mac}/release", async (string mac, CancellationToken cancel) =>
            await devices.UpdateAsync(mac, false, null, null, cancel) is { } d ? Results.Json(d, ControllerJson.Default.Device) : NotFound($"no device {mac}"))
            .WithSummary("Release: the device boots from its own disk from now on");
        api.MapGet("/devices/{mac}/inventory", async (string mac, CancellationToken cancel) =>
            await devices.GetInventoryAsync(mac, cancel) is { } xml ? Results.Text(xml, "application/xml", Encoding.UTF8) : NotFound($"no inventory for {mac}"));
        api.MapPut("/devices/{mac}/inventory", async (string mac, HttpRequest request, CancellationToken cancel) =>
        {
            if (await devices.GetAsync(mac, cancel) == null) return NotFound($"no device {mac}");
            await devices.UpsertAsync(mac, null, await ReadXmlAsync(request, cancel), cancel);
            return Results.NoContent();
        }).WithSummary("Store the device's inventory (p2v gather's XML)");

        api.MapGet("/jobs", async (string? device, string? state, bool? active, int? limit, CancellationToken cancel) =>
            Results.Json(await jobs.ListAsync(device, state is { } s ? JobWords.ParseState(s) : null, active ?? false, Math.Clamp(limit ?? 200, 1, 10_000), cancel),
                ControllerJson.Default.ListJob))
            .WithSummary("Jobs, newest first; filter by device, state, or active=true");
        api.MapPost("/jobs", async (JobRequest r, CancellationToken cancel) =>
        {
            var device = await devices.GetAsync(r.Device, cancel);
            if (device == null) return NotFound($"no device {r.Device}");
            if (!device.Controlled) return Conflict($"device {device.Mac} is not under control (p2v device control {device.Mac})");
            var (job, token) = await jobs.CreateAsync(device.Mac, r.Kind, r.Steps, r.Image, r.Fixup, cancel);
            return Results.Json(new CreatedJob(job, token), ControllerJson.Default.CreatedJob, statusCode: StatusCodes.Status201Created);
        }).WithSummary("Queue a job for a controlled device; the answer holds the job's token, shown this once");
        api.MapGet("/jobs/{id:long}", async (long id, CancellationToken cancel) =>
            await jobs.GetAsync(id, cancel) is { } j ? Results.Json(j, ControllerJson.Default.Job) : NotFound($"no job {id}"));
        api.MapPost("/jobs/{id:long}/cancel", async (long id, CancellationToken cancel) =>
        {
            if (await jobs.GetAsync(id, cancel) is not { } j) return NotFound($"no job {id}");
            if (!await jobs.CancelAsync(id, cancel)) return Conflict($"job {id} has ended already ({JobWords.Of(j.State)})");
            return Results.Json(await jobs.GetAsync(id, cancel), ControllerJson.Default.Job);
        });
        api.MapGet("/jobs/{id:long}/log", async (long id, long? after, CancellationToken cancel) =>
            await jobs.GetAsync(id, cancel) == null ? NotFound($"no job {id}") : Results.Json(await jobs.LogAsync(id, after ?? 0, cancel), ControllerJson.Default.ListJobLogLine))
            .WithSummary("The job's log lines after line number 'after'");
        api.MapGet("/jobs/{id:long}/reports", async (long id, CancellationToken cancel) =>
            await jobs.GetAsync(id, cancel) == null ? NotFound($"no job {id}") : Results.Json(await jobs.ReportsAsync(id, cancel), ControllerJson.Default.ListJobReport));

        api.MapGet("/events", (HttpContext context, CancellationToken cancel) => JobStream.RunAsync(context, jobs, events, cancel))
            .WithSummary("Server-sent events: 'job' with the job's JSON whenever a job changes (through any controller on the database)");
    }

    public static IResult NotFound(string message) => Results.Json(new ErrorBody(message), ControllerJson.Default.ErrorBody, statusCode: StatusCodes.Status404NotFound);
    public static IResult Conflict(string message) => Results.Json(new ErrorBody(message), ControllerJson.Default.ErrorBody, statusCode: StatusCodes.Status409Conflict);

    /// <summary>Inventories are XML documents of a few hundred kB at most; a larger body is refused, not buffered.</summary>
    public static async Task<string> ReadXmlAsync(HttpRequest request, CancellationToken cancel)
    {
        var text = await ReadTextAsync(request, 16 << 20, "the inventory", cancel);
        try { System.Xml.Linq.XDocument.Parse(text); }
        catch (System.Xml.XmlException e) { throw new ArgumentException($"the inventory is not XML: {e.Message}"); }
        return text;
    }

    /// <summary>A text body up to a limit; beyond it the request is refused with a 400, not read on.</summary>
    public static async Task<string> ReadTextAsync(HttpRequest request, int limit, string what, CancellationToken cancel)
    {
        if (request.ContentLength > limit) throw new ArgumentException($"{what} is larger than {limit >> 10} KiB");
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var text = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer, cancel)) > 0)
            if (text.Append(buffer, 0, read).Length > limit) throw new ArgumentException($"{what} is larger than {limit >> 10} KiB");
        return text.ToString();
    }
}
