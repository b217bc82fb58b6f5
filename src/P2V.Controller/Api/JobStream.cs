using System.Text.Json;
using Microsoft.AspNetCore.Http;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>
/// GET /api/events: the console's live view. Every change made through this controller is sent as it was made, in
/// order (its <see cref="JobFeed"/>), so no progress report is skipped however fast they come; once a second the view
/// also reads the database, for changes made through other controllers on it (those it shows as of that read, a second
/// later). A job is never sent at an older revision than one it was sent at.
/// </summary>
public static class JobStream
{
    private static readonly TimeSpan PollEvery = TimeSpan.FromSeconds(1), HeartbeatEvery = TimeSpan.FromSeconds(15);

    public static async Task RunAsync(HttpContext context, JobRepository jobs, JobEvents events, CancellationToken cancel)
    {
        // Subscribed before the first read of the database, and that read done before the answer starts: a change the
        // viewer makes after it sees the stream open is in the feed, never only in a read.
        using var feed = events.Subscribe();
        long since = Data.Sql.Now();
        var start = await jobs.ChangedSinceAsync(since - 5000, cancel);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        await context.Response.Body.FlushAsync(cancel);
        var sent = new Dictionary<long, long>();
        foreach (var job in start) await SendAsync(context.Response, job, sent, cancel);
        // What the last read of the database found, sent at the next read unless the feed has shown it by then: a read
        // may see a revision whose predecessor, made here, is still on its way into the feed, and sending the read's
        // row first would hide that one. So other controllers' changes are shown one to two seconds late.
        var read = new List<Job>();
        DateTime nextPoll = DateTime.UtcNow + PollEvery, heartbeat = DateTime.UtcNow;
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                await SendFeedAsync(context.Response, feed, sent, cancel);
                bool overflowed = feed.TakeOverflow();
                if (DateTime.UtcNow >= nextPoll || overflowed)
                {
                    foreach (var job in read) await SendAsync(context.Response, job, sent, cancel);
                    long queried = Data.Sql.Now();
                    // A margin of a few seconds for clocks of other controllers; the revision filter drops repeats.
                    read = await jobs.ChangedSinceAsync(since - 5000, cancel);
                    since = queried;
                    nextPoll = DateTime.UtcNow + PollEvery;
                    // After the feed dropped changes, the state now, at once.
                    if (overflowed)
                    {
                        foreach (var job in read) await SendAsync(context.Response, job, sent, cancel);
                        read.Clear();
                    }
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
