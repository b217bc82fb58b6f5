using System.Collections.Concurrent;
using P2V.Imaging.Pipeline;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// The contract capture and restore rely on: consumed in the source's order, the failure of the earliest job reported,
/// nothing consumed after a failure, every job taken released exactly once, and no hang whatever fails or cancels.
/// Each case runs many times with uneven transform times, so that the workers meet in different orders.
/// </summary>
public sealed class OrderedParallelTests
{
    private sealed class Job(int id)
    {
        public int Id { get; } = id;
        public int Released;
    }

    private sealed class Run
    {
        public readonly ConcurrentBag<Job> Taken = [];
        public readonly List<int> Consumed = [];

        public IEnumerable<Job> Source(int count, int failAt)
        {
            for (int i = 0; i < count; i++)
            {
                if (i == failAt) throw new InvalidDataException($"source {i}");
                var job = new Job(i);
                Taken.Add(job);
                yield return job;
            }
        }

        public void AssertReleasedOnce() => Assert.All(Taken, j => Assert.Equal(1, j.Released));
    }

    private static void Jitter(Job job)
    {
        // Uneven work, so that later jobs often finish before earlier ones.
        if (job.Id % 3 == 0) Thread.SpinWait(20_000);
        if (job.Id % 7 == 0) Thread.Sleep(1);
    }

    private static async Task<Exception?> RunAsync(Run run, int workers, int window, int count, int sourceFailsAt = -1,
        Func<Job, bool>? transformFails = null, int consumeFailsAt = -1, CancellationTokenSource? cancelAt = null, int cancelJob = -1)
    {
        var task = OrderedParallel.RunAsync<Job>(workers,
            _ => run.Source(count, sourceFailsAt),
            job =>
            {
                Jitter(job);
                if (transformFails?.Invoke(job) == true) throw new InvalidDataException($"transform {job.Id}");
            },
            job =>
            {
                lock (run.Consumed) run.Consumed.Add(job.Id);
                if (job.Id == cancelJob) cancelAt!.Cancel();
                if (job.Id == consumeFailsAt) throw new IOException($"consume {job.Id}");
                return ValueTask.CompletedTask;
            },
            job => Interlocked.Increment(ref job.Released),
            cancelAt?.Token ?? default, window);
        // A hang fails the test instead of stopping the run.
        var finished = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(60)));
        Assert.Same(task, finished);
        try
        {
            await task;
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    // Windows of 10, 12, 18 (and 7) wake a worker waiting for room only once a quarter of the window is free.
    public static TheoryData<int, int> Shapes => new() { { 1, 0 }, { 2, 0 }, { 4, 0 }, { 4, 1 }, { 3, 2 }, { 2, 18 }, { 8, 12 }, { 2, 7 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Every_job_is_consumed_in_order_and_released_once(int workers, int window)
    {
        for (int round = 0; round < 10; round++)
        {
            var run = new Run();
            Assert.Null(await RunAsync(run, workers, window, 200));
            Assert.Equal(Enumerable.Range(0, 200), run.Consumed);
            run.AssertReleasedOnce();
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task A_failed_consume_is_reported_and_nothing_after_it_is_consumed(int workers, int window)
    {
        for (int round = 0; round < 20; round++)
        {
            var run = new Run();
            var e = await RunAsync(run, workers, window, 200, consumeFailsAt: 37 + round);
            Assert.Equal($"consume {37 + round}", Assert.IsType<IOException>(e).Message);
            Assert.Equal(Enumerable.Range(0, 38 + round), run.Consumed);
            run.AssertReleasedOnce();
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Of_several_failed_transforms_the_earliest_job_is_reported(int workers, int window)
    {
        for (int round = 0; round < 20; round++)
        {
            var run = new Run();
            // Every job from 50 on fails, job 50 last of all: the error is still job 50's, as a loop would have met it.
            var e = await RunAsync(run, workers, window, 200, transformFails: j =>
            {
                if (j.Id == 50) Thread.Sleep(5);
                return j.Id >= 50;
            });
            Assert.Equal("transform 50", Assert.IsType<InvalidDataException>(e).Message);
            Assert.Equal(Enumerable.Range(0, run.Consumed.Count), run.Consumed);
            Assert.True(run.Consumed.Count <= 50);
            run.AssertReleasedOnce();
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task A_failed_source_is_reported_after_the_jobs_before_it(int workers, int window)
    {
        for (int round = 0; round < 10; round++)
        {
            var run = new Run();
            var e = await RunAsync(run, workers, window, 200, sourceFailsAt: 120);
            Assert.Equal("source 120", Assert.IsType<InvalidDataException>(e).Message);
            Assert.Equal(Enumerable.Range(0, run.Consumed.Count), run.Consumed);
            run.AssertReleasedOnce();
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Cancelling_stops_the_run_with_the_callers_cancellation(int workers, int window)
    {
        for (int round = 0; round < 10; round++)
        {
            var run = new Run();
            using var cancel = new CancellationTokenSource();
            // Job 60's transform fails too, while the cancel is on its way: the cancellation is what the caller asked for.
            var e = await RunAsync(run, workers, window, 10_000, transformFails: j => j.Id == 60, cancelAt: cancel, cancelJob: 40);
            var oc = Assert.IsAssignableFrom<OperationCanceledException>(e);
            Assert.Equal(cancel.Token, oc.CancellationToken);
            Assert.True(run.Taken.Count < 10_000);
            run.AssertReleasedOnce();
        }
    }
}
