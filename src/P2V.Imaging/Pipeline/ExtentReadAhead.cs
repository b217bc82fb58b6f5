using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Reads a capture's regions ahead of the chunker, following the used-extent list rather than the file offset:
/// the regions are cut into pieces of at most <see cref="PieceSize"/> on a grid of that size, <see cref="Depth"/>
/// pieces are in flight at once on <see cref="Readers"/> threads, and the chunker takes their bytes back in disk
/// order (<see cref="View"/>). With a <see cref="DirectReader"/> the pieces come straight from the device, widened to
/// its 4 KiB alignment and no further; otherwise through the disk's own reads (the page cache, a VHD's blocks).
/// Nothing outside the regions is read, so a cluster the bitmap marks free is never requested.
/// The chunker is handed views of the pieces, not copies: a chunk that lies within one piece keeps its bytes there
/// and holds a reference on the piece (<see cref="Piece.Release"/>), which is read into again only once the chunker
/// has passed it and every chunk viewing it is released. The copy out of the pieces was 3.4% of a warm capture's CPU
/// samples, on the path where one worker at a time cuts chunks (docs/capture-and-restore.md, "Measured: chunks that view the read-ahead").
/// </summary>
internal sealed class ExtentReadAhead : IDisposable
{
    public const int PieceSize = 1 << 20;

    private readonly IReadOnlyList<CaptureRegion> _regions;
    private readonly IVirtualDisk _disk;
    private readonly DirectReader? _direct;
    private readonly Piece[] _slots;
    private readonly Thread[] _threads;
    // Each event wakes only the thread it concerns: a freed slot one reader (Monitor.Pulse on _claim), a filled slot the
    // chunker (Piece.Filled). One shared monitor with PulseAll woke all readers and the chunker for every piece, and a
    // SemaphoreSlim spun its waiting readers through sched_yield: a system call each, dear under a hypervisor.
    private readonly object _claim = new();

    // The readers' side, under _claim: the next piece to read.
    private int _claimRegion;
    private long _claimPosition;
    private long _claimed;
    private bool _stopped;

    // The chunker's side: the pieces passed, and where in the next one.
    private long _consumed;
    private long _expected = -1;

    public ExtentReadAhead(IVirtualDisk disk, DirectReader? direct, IReadOnlyList<CaptureRegion> regions, int depth = 8, int readers = 4)
    {
        // A chunk viewing the piece just passed holds its slot while the chunker waits for the next: one slot would wait forever.
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 2);
        _disk = disk;
        _direct = direct;
        _regions = regions;
        Depth = depth;
        // A disk that cannot take concurrent reads (a container with state) still gets its reads off the chunker's thread.
        Readers = direct is null && !disk.ConcurrentReads ? 1 : Math.Min(readers, depth);
        _slots = new Piece[depth];
        for (int i = 0; i < depth; i++)
        {
            if (direct is null)
            {
                _slots[i] = new Piece(this, new byte[PieceSize], 0);
                continue;
            }
            var pinned = GC.AllocateUninitializedArray<byte>(PieceSize + DirectReader.Alignment, pinned: true);
            _slots[i] = new Piece(this, pinned, DirectReader.AlignedOffset(pinned));
        }
        if (regions.Count > 0) _claimPosition = regions[0].Range.Offset;
        _threads = new Thread[Readers];
        for (int i = 0; i < Readers; i++)
        {
            _threads[i] = new Thread(ReadPieces) { IsBackground = true, Name = $"capture read-ahead {i}" };
            _threads[i].Start();
        }
    }

    public int Depth { get; }

    public int Readers { get; }

    /// <summary>Whether the pieces come from the device directly (O_DIRECT) rather than through the page cache.</summary>
    public bool Direct => _direct is not null;

    /// <summary>
    /// Views the next bytes of the regions: those at <paramref name="offset"/>, at most <paramref name="max"/> of them and no
    /// further than the piece that holds them, at <c>Buffer[start..start+length]</c> of the piece returned. The caller holds a
    /// reference on the piece until it calls <see cref="Piece.Release"/>. <paramref name="offset"/> must be where the previous
    /// view ended or the start of the next region (the chunker reads the regions in order, each front to back).
    /// </summary>
    public Piece View(long offset, int max, out int start, out int length, CancellationToken cancel)
    {
        var slot = _slots[_consumed % Depth];
        slot.Filled.Wait(cancel);
        if (slot.Error is { } error) throw error;
        if (_expected < 0) _expected = slot.Offset;
        if (offset != _expected)
            throw new InvalidOperationException($"read-ahead holds disk offset {_expected} next, but {offset} was asked for");
        start = slot.DataStart + (int)(offset - slot.Offset);
        length = (int)Math.Min(max, slot.Offset + slot.Length - offset);
        Interlocked.Increment(ref slot.References);
        _expected = offset + length;
        if (_expected == slot.Offset + slot.Length)
        {
            // Passed: the chunker's own reference goes, and the slot is read into again once no chunk views it.
            _expected = -1;
            slot.Filled.Reset();
            _consumed++;
            slot.Release();
        }
        return slot;
    }

    private void Freed(Piece slot)
    {
        // Pulsed under the lock after the flag moved: a reader that saw it unset is already waiting.
        lock (_claim)
        {
            slot.Free = true;
            Monitor.Pulse(_claim);
        }
    }

    private void ReadPieces()
    {
        while (true)
        {
            long sequence, offset;
            int length;
            lock (_claim)
            {
                // The slot of the next piece is free once the chunker has passed the piece Depth before it and no chunk views it.
                while (!_stopped && !_slots[_claimed % Depth].Free) Monitor.Wait(_claim);
                if (_stopped || !NextPiece(out offset, out length))
                {
                    // Whoever waits next gets the turn to find the same.
                    Monitor.Pulse(_claim);
                    return;
                }
                sequence = _claimed++;
                var claimed = _slots[sequence % Depth];
                claimed.Free = false;
                claimed.References = 1;
                // Slots can free out of order: the pulse that freed the next one may have gone to this reader.
                if (_slots[_claimed % Depth].Free) Monitor.Pulse(_claim);
            }
            var slot = _slots[sequence % Depth];
            slot.Offset = offset;
            slot.Length = length;
            slot.Error = null;
            try
            {
                if (_direct is not null)
                {
                    long aligned = offset - offset % DirectReader.Alignment;
                    int span = (int)(offset + length - aligned);
                    int padded = (span + DirectReader.Alignment - 1) / DirectReader.Alignment * DirectReader.Alignment;
                    _direct.Read(aligned, slot.Buffer.AsSpan(slot.AlignedStart, padded), span);
                    slot.DataStart = slot.AlignedStart + (int)(offset - aligned);
                }
                else
                {
                    _disk.ReadAt(offset, slot.Buffer.AsSpan(0, length));
                    slot.DataStart = 0;
                }
            }
            catch (Exception e)
            {
                slot.Error = e is IOException
                    ? new IOException($"read of {length} bytes at disk offset {offset} failed: {e.Message}", e)
                    : e;
            }
            slot.Filled.Set();
        }
    }

    /// <summary>The next piece of the regions: up to the region's end and the next <see cref="PieceSize"/> grid line.</summary>
    private bool NextPiece(out long offset, out int length)
    {
        while (_claimRegion < _regions.Count && _claimPosition >= _regions[_claimRegion].Range.End)
            if (++_claimRegion < _regions.Count) _claimPosition = _regions[_claimRegion].Range.Offset;
        if (_claimRegion >= _regions.Count)
        {
            (offset, length) = (0, 0);
            return false;
        }
        offset = _claimPosition;
        long gridEnd = offset - offset % PieceSize + PieceSize;
        length = (int)(Math.Min(gridEnd, _regions[_claimRegion].Range.End) - offset);
        _claimPosition += length;
        return true;
    }

    /// <summary>Stops the reader threads and waits for them, so that no read is still writing into a buffer.</summary>
    public void Dispose()
    {
        lock (_claim)
        {
            _stopped = true;
            Monitor.PulseAll(_claim);
        }
        foreach (var t in _threads) t.Join();
        foreach (var slot in _slots) slot.Filled.Dispose();
    }

    /// <summary>One slot of the read-ahead and the piece in it; for direct reads a pinned array whose aligned part starts at <see cref="AlignedStart"/>.</summary>
    internal sealed class Piece(ExtentReadAhead owner, byte[] buffer, int alignedStart)
    {
        public byte[] Buffer { get; } = buffer;
        public int AlignedStart { get; } = alignedStart;
        public readonly ManualResetEventSlim Filled = new(false);
        public long Offset;
        public int Length;
        public int DataStart;
        public Exception? Error;
        // The chunker's reference until it passes the piece, and one per view handed out; Free (under the owner's lock) once none is left.
        internal int References;
        internal bool Free = true;

        /// <summary>One more holder of a view of this piece (a chunk split in two).</summary>
        public void AddReference() => Interlocked.Increment(ref References);

        /// <summary>Drops one reference; the last one lets a reader fill the slot again.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref References) == 0) owner.Freed(this);
        }
    }
}
