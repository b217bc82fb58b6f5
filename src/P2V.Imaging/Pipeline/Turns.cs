using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Turns for jobs numbered 0, 1, 2, ... in the order they were taken. A job waits for its turn (every earlier job done) only
/// for the one step that must happen in disk order, such as giving a block its place in a VHD or VHDX file; the rest of
/// its work runs beside the others'. Every job taken must be marked done exactly once, or the jobs after it wait for
/// ever; <see cref="Stop"/> wakes them when the work fails.
/// </summary>
internal sealed class Turns
{
    private readonly object _gate = new();
    private readonly HashSet<long> _doneAhead = [];
    private readonly HashSet<long> _waiting = [];
    private long _next;
    private bool _stopped;

    /// <summary>Waits until every job before <paramref name="job"/> is done; false if stopped meanwhile.</summary>
    public bool WaitFor(long job)
    {
        lock (_gate)
        {
            if (_next == job || _stopped) return !_stopped;
            _waiting.Add(job);
            while (_next != job && !_stopped) Monitor.Wait(_gate);
            _waiting.Remove(job);
            return !_stopped;
        }
    }

    public void Done(long job)
    {
        lock (_gate)
        {
            if (job != _next)
            {
                _doneAhead.Add(job);
                return;
            }
            _next++;
            while (_doneAhead.Remove(_next)) _next++;
            // Only when the job now next is waiting: a wake-up per job passed was a fifth of a copy's samples before.
            if (_waiting.Contains(_next)) Monitor.PulseAll(_gate);
        }
    }

    /// <summary>
    /// The in-order step of a job that writes <paramref name="ranges"/> of a target that may allocate blocks: if a write
    /// there would give a block its place in the file, the job waits for its turn and allocates, so that blocks lie in
    /// the file in disk order. Then the job is done, even if it failed. False if the work stopped while it waited.
    /// </summary>
    public bool Allocate(long job, IVirtualDisk target, IReadOnlyList<Extent> ranges)
    {
        try
        {
            if (!ranges.Any(r => target.NeedsAllocation(r.Offset, r.Length))) return true;
            if (!WaitFor(job)) return false;
            foreach (var r in ranges) target.Allocate(r.Offset, r.Length);
            return true;
        }
        finally
        {
            Done(job);
        }
    }

    public void Stop()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.PulseAll(_gate);
        }
    }
}
