using System.Threading.Channels;

namespace P2V.Controller.Jobs;

/// <summary>
/// Job changes made in this process: each changed row goes to every live view's <see cref="JobFeed"/>, and waiters (the
/// agents' long poll) are woken. Changes made through another controller on the same database reach the views by
/// their reading the database every second.
/// </summary>
public sealed class JobEvents
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private JobFeed[] _feeds = [];

    /// <summary>A job as a change in this process left it (after its commit).</summary>
    public void Published(Job job)
    {
        foreach (var feed in Volatile.Read(ref _feeds)) feed.Offer(job);
        Changed();
    }

    public void Changed() => Interlocked.Exchange(ref _next, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Completes at the next change or after the timeout, whichever is first.</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancel) => Task.WhenAny(Volatile.Read(ref _next).Task, Task.Delay(timeout, cancel));

    /// <summary>Every change from now on, until the feed is disposed.</summary>
    public JobFeed Subscribe()
    {
        var feed = new JobFeed(Unsubscribe);
        lock (_lock) _feeds = [.. _feeds, feed];
        return feed;
    }

    private void Unsubscribe(JobFeed feed)
    {
        lock (_lock) _feeds = [.. _feeds.Where(f => f != feed)];
    }
}

/// <summary>
/// One live view's queue of job changes, in the order they were made. Bounded: a view that falls
/// <see cref="Capacity"/> changes behind is told (<see cref="TakeOverflow"/>) and reads the jobs' current state from
/// the database instead; the request path never waits for a slow view.
/// </summary>
public sealed class JobFeed(Action<JobFeed> unsubscribe) : IDisposable
{
    public const int Capacity = 10_000;
    private readonly Channel<Job> _changes = Channel.CreateBounded<Job>(new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private int _overflowed;

    public ChannelReader<Job> Changes => _changes.Reader;

    internal void Offer(Job job)
    {
        if (!_changes.Writer.TryWrite(job)) Volatile.Write(ref _overflowed, 1);
    }

    /// <summary>Whether changes were dropped since the last call.</summary>
    public bool TakeOverflow() => Interlocked.Exchange(ref _overflowed, 0) == 1;

    public void Dispose() => unsubscribe(this);
}
