namespace P2V.Imaging.Pipeline;

/// <summary>
/// The shape capture and restore share: jobs come from one source in order, a worker per core transforms them in
/// parallel, and they are consumed one at a time in the source's order. There are no other threads and no hand-offs:
/// each worker takes the next job from the source itself (one at a time), transforms it, and then consumes every job
/// that is next in order, its own or one another worker parked. On two cores a hand-off per stage cost a wake-up per
/// chunk (a futex and a context switch each, dear under a hypervisor) and left a fifth of the CPU idle
/// (docs/capture-and-restore.md, "A pipeline without hand-offs"). At most <c>window</c> jobs are out between the source
/// and the consumer, so a slow consumer slows the source (backpressure). The first failure in job order (the one a
/// loop over the jobs would have met first) is the one reported; it stops every worker, nothing is consumed after it,
/// and every job taken is released exactly once.
/// </summary>
internal static class OrderedParallel
{
    /// <param name="produce">The jobs in order; enumerated by the workers, one at a time, with a token that the first failure cancels.</param>
    /// <param name="transform">Runs on the workers, several jobs at once.</param>
    /// <param name="consume">Runs on the workers, one job at a time, in the source's order.</param>
    /// <param name="window">Jobs taken from the source and not yet consumed, at most (default 2 per worker + 2).</param>
    public static Task RunAsync<TJob>(int workers, Func<CancellationToken, IEnumerable<TJob>> produce,
        Action<TJob> transform, Func<TJob, ValueTask> consume, Action<TJob> release, CancellationToken cancel, int window = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        return new Run<TJob>(workers, produce, transform, consume, release, window > 0 ? window : 2 * workers + 2, cancel).Task;
    }

    private sealed class Run<TJob>
    {
        private readonly Action<TJob> _transform;
        private readonly Func<TJob, ValueTask> _consume;
        private readonly Action<TJob> _release;
        private readonly CancellationTokenSource _stop;
        private readonly CancellationTokenRegistration _onCancel;
        private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly int _window;
        private readonly int _wakeAt;
        private int _running;

        // Taking: one worker at a time reads the source.
        private readonly object _take = new();
        private readonly IEnumerator<TJob> _source;
        private long _taken;
        private bool _exhausted;

        // Giving back in order: a ring of transformed jobs by sequence, and the one worker draining it.
        private readonly object _give = new();
        private readonly TJob[] _parked;
        private readonly bool[] _isParked;
        private long _consumed;
        private bool _draining;

        // Room in the window: a worker taking waits here while the window is full, and is woken once a quarter of it is
        // free again, not at every job consumed: each wake-up is a futex call and a context switch (dear under a hypervisor).
        private readonly object _room = new();
        private int _waiting;
        private Exception? _failure;
        private long _failedAt = long.MaxValue;
        private volatile bool _stopped;

        public Run(int workers, Func<CancellationToken, IEnumerable<TJob>> produce, Action<TJob> transform,
            Func<TJob, ValueTask> consume, Action<TJob> release, int window, CancellationToken cancel)
        {
            (_transform, _consume, _release, _window) = (transform, consume, release, window);
            _wakeAt = Math.Max(1, window / 4);
            _parked = new TJob[window];
            _isParked = new bool[window];
            _stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            _source = produce(_stop.Token).GetEnumerator();
            _running = workers;
            // The caller's cancellation outranks every error: it is what the caller asked for.
            _onCancel = cancel.Register(() => Fail(new OperationCanceledException(cancel), long.MinValue));
            for (int i = 0; i < workers; i++)
            {
                try
                {
                    new Thread(Work) { IsBackground = true, Name = $"pipeline worker {i}" }.Start();
                }
                catch (Exception e)
                {
                    // The workers already running stop and finish the run; the ones never started count as done.
                    Fail(e, long.MinValue);
                    if (Interlocked.Add(ref _running, i - workers) == 0) Finish();
                    break;
                }
            }
        }

        public Task Task => _done.Task;

        private void Work()
        {
            try
            {
                while (TryTake(out var job, out long sequence))
                {
                    try
                    {
                        _transform(job);
                    }
                    catch (Exception e)
                    {
                        Fail(e, sequence);
                        _release(job);
                        return;
                    }
                    Park(sequence, job);
                    Drain();
                }
            }
            catch (Exception e)
            {
                Fail(e, long.MaxValue);
            }
            finally
            {
                if (Interlocked.Decrement(ref _running) == 0) Finish();
            }
        }

        private bool TryTake(out TJob job, out long sequence)
        {
            job = default!;
            sequence = 0;
            lock (_take)
            {
                // Nothing left to take: leave at once rather than wait for room.
                if (_exhausted) return false;
                lock (_room)
                {
                    while (!_stopped && _taken - Volatile.Read(ref _consumed) >= _window)
                    {
                        _waiting++;
                        Monitor.Wait(_room);
                        _waiting--;
                    }
                }
                if (_stopped || _exhausted) return false;
                try
                {
                    if (!_source.MoveNext())
                    {
                        _exhausted = true;
                        return false;
                    }
                }
                catch (Exception e)
                {
                    // The source failed before the job it would have given next.
                    Fail(e, _taken);
                    return false;
                }
                job = _source.Current;
                sequence = _taken++;
                return true;
            }
        }

        private void Park(long sequence, TJob job)
        {
            lock (_give)
            {
                int slot = (int)(sequence % _window);
                _parked[slot] = job;
                _isParked[slot] = true;
            }
        }

        /// <summary>Consumes the jobs that are next in order, unless another worker is at it already.</summary>
        private void Drain()
        {
            while (true)
            {
                TJob job;
                lock (_give)
                {
                    int slot = (int)(_consumed % _window);
                    if (_draining || _stopped || !_isParked[slot]) return;
                    job = _parked[slot];
                    _parked[slot] = default!;
                    _isParked[slot] = false;
                    _draining = true;
                }
                long sequence = _consumed;
                try
                {
                    var pending = _consume(job);
                    // GetResult even when done: a ValueTask from a pooled source must be awaited exactly once.
                    if (pending.IsCompleted) pending.GetAwaiter().GetResult();
                    else pending.AsTask().GetAwaiter().GetResult();
                }
                catch (Exception e)
                {
                    // Stopped before the job counts as consumed: no other worker may consume the next one after a failed consume.
                    Fail(e, sequence);
                }
                finally
                {
                    _release(job);
                    lock (_give)
                    {
                        _draining = false;
                        Volatile.Write(ref _consumed, _consumed + 1);
                    }
                    lock (_room)
                    {
                        // A worker waits only while the window is full, and the last one awake never does (all it took is
                        // parked or consumed): a quarter free is always reached, since whoever drains consumes every parked job.
                        if (_waiting > 0 && _window - (Volatile.Read(ref _taken) - _consumed) >= _wakeAt) Monitor.PulseAll(_room);
                    }
                }
            }
        }

        /// <summary>Stops the run; of several failures the one of the earliest job (<paramref name="sequence"/>) is reported.</summary>
        private void Fail(Exception e, long sequence)
        {
            lock (_room)
            {
                if (_failure is null || sequence < _failedAt) (_failure, _failedAt) = (e, sequence);
                _stopped = true;
                Monitor.PulseAll(_room);
            }
            // Unblocks a worker inside the source (the token the source was given).
            try { _stop.Cancel(); } catch (AggregateException) { /* a callback's error; the first failure is what is reported */ }
        }

        /// <summary>The last worker out: the source is closed, the jobs still parked are released, the task completes.</summary>
        private void Finish()
        {
            try
            {
                try { _source.Dispose(); }
                catch (Exception e) { Fail(e, long.MaxValue); }
                for (int i = 0; i < _window; i++)
                {
                    if (!_isParked[i]) continue;
                    try { _release(_parked[i]); }
                    catch (Exception e) { Fail(e, long.MaxValue); }
                }
                _onCancel.Dispose();
                _stop.Dispose();
            }
            finally
            {
                // A cancellation too completes the task as faulted with its exception, so that awaiting rethrows it as it was.
                if (_failure is null) _done.TrySetResult();
                else _done.TrySetException(_failure);
            }
        }
    }
}
