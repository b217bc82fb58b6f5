using System.Text.Json;
using Microsoft.AspNetCore.Http;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>
/// GET /api/events: the console's live view. Every change made through this controller is sent as it was made, in
/// order (its <see cref="JobFeed"/>), so no progress report is skipped however fast they come; once a second the view
/// also reads the database, for changes made through other controllers on it (those it shows as of that second).
/// A job is never sent at an older revision than one it was sent at.
/// </summary>
public static class JobStream
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromSeconds(1), HeartbeatEvery = TimeSpan.FromSeconds(15);

    public static async Task RunAsync(HttpContext context, JobRepository jobs, JobEvents events, CancellationToken cancel)
    {
        // Subscribed before the first read of the database: a change is in the feed, or in that read, or both.
        using var feed = events.Subscribe();
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.Body.FlushAsync(cancel);
        var sent = new Dictionary<long, long>();
        long since = Data.Sql.Now();
        DateTime nextPoll = DateTime.MinValue, heartbeat = DateTime.UtcNow;
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                // The feed first: a revision read from the database would hide an earlier one still in the feed.
                await SendFeedAsync(context.Response, feed, sent, cancel);
                if (DateTime.UtcNow >= nextPoll || feed.TakeOverflow())
                {
                    long queried = Data.Sql.Now();
                    // A margin of a few seconds for clocks of other controllers; the revision filter drops repeats.
                    foreach (var job in await jobs.ChangedSinceAsync(since - 5000, cancel))
                        await SendAsync(context.Response, job, sent, cancel);
                    since = queried;
                    nextPoll = DateTime.UtcNow + PollEvery;
                    await SendFeedAsync(context.Response, feed, sent, cancel);
                }
                if (DateTime.UtcNow - heartbeat > HeartbeatEvery)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", cancel);
                    heartbeat = DateTime.UtcNow;
                }
                await context.Response.Body.FlushAsync(cancel);
                await WaitAsync(feed, nextPoll - DateTime.UtcNow, cancel);
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
    }

    private static async Task SendFeedAsync(HttpResponse response, JobFeed feed, Dictionary<long, long> sent, CancellationToken cancel)
    {
        while (feed.Changes.TryRead(out var job)) await SendAsync(response, job, sent, cancel);
    }

    private static async Task SendAsync(HttpResponse response, Job job, Dictionary<long, long> sent, CancellationToken cancel)
    {
        if (sent.TryGetValue(job.Id, out var revision) && revision >= job.Revision) return;
        sent[job.Id] = job.Revision;
        await response.WriteAsync($"event: job\nid: {job.Id}.{job.Revision}\ndata: {JsonSerializer.Serialize(job, ControllerJson.Default.Job)}\n\n", cancel);
    }

    /// <summary>Until the next change in the feed or the next poll, whichever is first.</summary>
    private static async Task WaitAsync(JobFeed feed, TimeSpan untilPoll, CancellationToken cancel)
    {
        if (untilPoll <= TimeSpan.Zero) return;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(untilPoll);
        try { await feed.Changes.WaitToReadAsync(timeout.Token); }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested) { }
    }
}
