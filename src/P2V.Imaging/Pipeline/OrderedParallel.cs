using System.Threading.Channels;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// The shape capture and restore share: one producer hands out jobs in order, a worker per core transforms
/// them in parallel, one consumer takes them back in the producer's order. The bounded order queue is the only
/// buffer, so a slow consumer slows the producer (backpressure); the first failure anywhere stops every stage,
/// and every job the consumer sees or the failure strands is released once.
/// </summary>
internal static class OrderedParallel
{
    /// <param name="produce">Runs on its own thread; calls its first argument with each job, in order (it blocks while the window is full).</param>
    /// <param name="transform">Runs on the workers, several jobs at once.</param>
    /// <param name="consume">Runs on the caller, one job at a time, in the producer's order.</param>
    /// <param name="window">Jobs in flight at most (default 2 per worker + 2).</param>
    public static async Task RunAsync<TJob>(int workers, Action<Action<TJob>, CancellationToken> produce,
        Action<TJob> transform, Func<TJob, ValueTask> consume, Action<TJob> release, CancellationToken cancel, int window = 0)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var order = Channel.CreateBounded<Slot<TJob>>(new BoundedChannelOptions(window > 0 ? window : 2 * workers + 2) { SingleReader = true, SingleWriter = true });
        var work = Channel.CreateUnbounded<Slot<TJob>>(new UnboundedChannelOptions { SingleWriter = true });

        var producer = Task.Run(() =>
        {
            try
            {
                produce(job =>
                {
                    var slot = new Slot<TJob>(job);
                    work.Writer.TryWrite(slot);
                    if (!order.Writer.TryWrite(slot)) order.Writer.WriteAsync(slot, stop.Token).AsTask().GetAwaiter().GetResult();
                }, stop.Token);
                order.Writer.TryComplete();
                work.Writer.TryComplete();
            }
            catch (Exception e)
            {
                order.Writer.TryComplete(e);
                work.Writer.TryComplete(e);
                throw;
            }
        }, stop.Token);
        var transformers = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            await foreach (var slot in work.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                try
                {
                    transform(slot.Job);
                    slot.Done.SetResult();
                }
                catch (Exception e)
                {
                    slot.Done.SetException(e);
                }
            }
        }, stop.Token)).ToArray();

        try
        {
            await foreach (var slot in order.Reader.ReadAllAsync(stop.Token))
            {
                try
                {
                    await slot.Done.Task.ConfigureAwait(false);
                    await consume(slot.Job).ConfigureAwait(false);
                }
                finally { release(slot.Job); }
            }
            await producer.ConfigureAwait(false);
        }
        catch
        {
            stop.Cancel();
            try { await Task.WhenAll(transformers.Append(producer)).ConfigureAwait(false); } catch { /* the first error is already on its way */ }
            while (order.Reader.TryRead(out var slot)) release(slot.Job);
            throw;
        }
        finally
        {
            work.Writer.TryComplete();
        }
        await Task.WhenAll(transformers).ConfigureAwait(false);
    }

    private sealed class Slot<TJob>(TJob job)
    {
        public TJob Job { get; } = job;
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
