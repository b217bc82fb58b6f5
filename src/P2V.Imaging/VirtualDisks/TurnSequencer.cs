namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// Lets workers that took numbered pieces in order do one step each in that order (take turns 0, 1, 2, …), while
/// the rest of their work overlaps. A worker that fails abandons the sequence, which releases every waiter with
/// an error instead of leaving it waiting for a turn that never comes.
/// </summary>
internal sealed class TurnSequencer
{
    // A plain object, not a Lock: the waiting is Monitor.Wait/PulseAll.
    private readonly object _gate = new();
    private long _turn;
    private Exception? _failure;

    /// <summary>The first error a worker abandoned the sequence with.</summary>
    public Exception? FirstFailure
    {
        get { lock (_gate) return _failure; }
    }

    /// <summary>Blocks until it is <paramref name="ticket"/>'s turn; throws once the sequence was abandoned or cancelled.</summary>
    public void WaitFor(long ticket, CancellationToken cancel)
    {
        using var wake = cancel.Register(() => { lock (_gate) Monitor.PulseAll(_gate); });
        lock (_gate)
        {
            while (_turn != ticket)
            {
                if (_failure != null) throw new OperationCanceledException("another worker failed", _failure);
                cancel.ThrowIfCancellationRequested();
                Monitor.Wait(_gate);
            }
        }
    }

    /// <summary>Ends the current turn.</summary>
    public void Pass()
    {
        lock (_gate)
        {
            _turn++;
            Monitor.PulseAll(_gate);
        }
    }

    public void Abandon(Exception e)
    {
        lock (_gate)
        {
            _failure ??= e is OperationCanceledException { InnerException: { } inner } ? inner : e;
            Monitor.PulseAll(_gate);
        }
    }
}
