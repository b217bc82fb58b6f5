using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.ExceptionServices;
using Microsoft.Win32.SafeHandles;

namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// A second handle on a raw disk file, a fixed VHD's data or a block device, for writes that bypass the page cache
/// (O_DIRECT, open(2)). A restore writes each byte once: through the page cache that costs a page allocation and a
/// copy per page, dirty pages for the kernel to write back and a flush that waits for them (and, in the boot agent,
/// page cache it does not have). Direct writes go from an aligned buffer to the device.
/// <para>
/// A direct write waits for the device, so small ones are slow: 2.7 GB in 64 KiB writes, one at a time, took 6.6 s
/// here against 2.6 s in 1 MiB writes (docs/capture-and-restore.md). Writes, given in disk order, are gathered into
/// <see cref="SlotSize"/> slots while they are contiguous, and <see cref="Writers"/> threads write the full slots
/// while the caller goes on (at most <see cref="Slots"/> slots, the memory this takes). O_DIRECT also wants offsets,
/// lengths and memory on <see cref="Alignment"/> boundaries, and a restore's runs start and end anywhere (FastCDC
/// cuts chunks at any byte). On a blank disk (a new file, zeros wherever nothing is written) a gap of up to
/// <see cref="GapFill"/> between writes is written as zeros, and a run's first and last blocks are filled out with
/// zeros. On a disk with data, the blocks at the edges of a run are gathered until the next write completes them or
/// moves past them, and are then written over what the disk holds there (read, patch, write).
/// </para>
/// Writes out of disk order or over one another land as they would through the page cache, the later over the earlier,
/// but slowly: every write before is waited for first.
/// </summary>
public sealed class DirectWriter : IDisposable
{
    public const int Alignment = DirectIo.Alignment;
    public const int SlotSize = 1 << 20, Slots = 4, Writers = 2;

    /// <summary>The largest gap between two writes that a blank disk gets as zeros rather than as two writes.</summary>
    public const int GapFill = 64 << 10;

    private static readonly byte[] Zeros = new byte[GapFill];

    // Direct, and plain for the disk's last block where it runs past the file's end (a direct write would lengthen the file).
    private readonly SafeFileHandle _handle, _plain;
    private readonly long _length, _fileLength;
    private bool _blank;
    private readonly Memory<byte> _scratch = DirectIo.AlignedBuffer(Alignment);

    // Slots free to fill, and full ones queued for the writer threads; the first error a writer met.
    private readonly BlockingCollection<Memory<byte>> _free = new(Slots);
    private readonly BlockingCollection<(Memory<byte> Slot, long Offset, int Length)> _full = new(Slots);
    private readonly Thread[] _writers = new Thread[Writers];
    private Exception? _failure;
    private bool _disposed;

    // The run being gathered: a slot holding [_start, _start + _filled), _start aligned. Only one caller writes at a time.
    private Memory<byte> _slot;
    private long _start = -1;
    private int _filled;
    private long _highest;

    // Blocks written in part, by their disk offset (the edges of runs of writes), and spare buffers for them.
    private readonly object _gate = new();
    private readonly Dictionary<long, PartialBlock> _partials = [];
    private readonly Stack<PartialBlock> _spare = new();

    private DirectWriter(SafeFileHandle handle, SafeFileHandle plain, string path, long length, long fileLength, bool blank)
    {
        (_handle, _plain) = (handle, plain);
        Path = path;
        _length = length;
        _fileLength = fileLength;
        _blank = blank;
        for (int i = 0; i < Slots; i++) _free.Add(DirectIo.AlignedBuffer(SlotSize));
        for (int i = 0; i < Writers; i++)
            (_writers[i] = new Thread(WriteSlots) { IsBackground = true, Name = $"direct writer {i}" }).Start();
    }

    public string Path { get; }

    /// <summary>
    /// Opens the file or device that <paramref name="target"/> (a handle open for writing) is, again, for direct writes of
    /// a disk of <paramref name="length"/> bytes at its start in a file of <paramref name="fileLength"/> bytes; null where
    /// the system or file system has none (not Linux, tmpfs, some FUSE file systems): the caller then writes through the
    /// page cache as before. <paramref name="blank"/>: the disk reads as zeros wherever nothing is written (a new file).
    /// </summary>
    public static DirectWriter? TryOpen(SafeFileHandle target, string path, long length, long fileLength, bool blank)
    {
        if (!OperatingSystem.IsLinux()) return null;
        // The same file by its descriptor, not by its name, which may since name another.
        string self = $"/proc/self/fd/{target.DangerousGetHandle()}";
        SafeFileHandle? handle = null, plain = null;
        try
        {
            handle = File.OpenHandle(self, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            plain = File.OpenHandle(self, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            if (!DirectIo.TryEnable(handle)) throw new IOException("no direct I/O");
            // Some file systems take the flag and refuse the I/O: read the first block before trusting it, and on a new
            // file write it back (on a disk with data, a write now could undo another's).
            if (fileLength >= Alignment)
            {
                var block = DirectIo.AlignedBuffer(Alignment);
                if (RandomAccess.Read(handle, block.Span, 0) != Alignment) throw new IOException("short direct read");
                if (blank) RandomAccess.Write(handle, block.Span, 0);
            }
            return new DirectWriter(handle, plain, path, length, fileLength, blank);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            handle?.Dispose();
            plain?.Dispose();
            return null;
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="offset"/>: gathered with the writes before it where it follows
    /// them, its whole blocks written by the writer threads, its partial blocks as described above, all by <see cref="Flush"/>.
    /// </summary>
    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        ThrowIfFailed();
        if (offset < 0 || offset + data.Length > _length)
            throw new VirtualDiskException(Path, offset, $"write of {data.Length} bytes past the end of the {_length}-byte disk");
        if (data.IsEmpty) return;
        if (offset < _highest)
        {
            // Out of order: everything before lands first, so that this write lands over it.
            Flush();
        }
        _highest = offset + data.Length;
        if (_start >= 0)
        {
            long end = _start + _filled;
            if (offset == end || (_blank && offset - end <= GapFill))
            {
                Append(Zeros.AsSpan(0, (int)(offset - end)));
                Append(data);
                return;
            }
            CloseRun();
        }
        long block = offset / Alignment * Alignment;
        if (!_blank) WritePartialsBefore(block);
        if (block + Alignment > _fileLength)
        {
            Piece(offset, data);
            return;
        }
        long first = _blank ? block : AlignUp(offset);
        int head = (int)Math.Min(Math.Max(first - offset, 0), data.Length);
        if (head > 0) Piece(offset, data[..head]);
        if (head == data.Length) return;
        _slot = _free.Take();
        (_start, _filled) = (first, 0);
        Append(Zeros.AsSpan(0, (int)Math.Max(offset - first, 0)));
        Append(data[head..]);
    }

    /// <summary>Writes what is gathered, waits for every write in flight, then writes each incomplete block over the disk's.</summary>
    public void Flush()
    {
        CloseRun();
        var slots = new Memory<byte>[Slots];
        for (int i = 0; i < Slots; i++) slots[i] = _free.Take();
        try
        {
            WritePartialsBefore(long.MaxValue);
            ThrowIfFailed();
        }
        finally
        {
            foreach (var slot in slots) _free.Add(slot);
            // What follows a flush may share a block with what came before it: it is no longer known to read zeros.
            _blank = false;
        }
    }

    /// <summary>Blocks written in part, held here.</summary>
    internal int PendingBlocks
    {
        get { lock (_gate) return _partials.Count; }
    }

    /// <summary>Writes the partial blocks that start before <paramref name="limit"/>, which writes in disk order from there on can no longer complete.</summary>
    private void WritePartialsBefore(long limit)
    {
        List<KeyValuePair<long, PartialBlock>> due = [];
        lock (_gate)
            foreach (var entry in _partials)
                if (entry.Key < limit) due.Add(entry);
        var disk = _scratch.Span;
        foreach (var (start, block) in due.OrderBy(p => p.Key))
        {
            Read(start, disk);
            block.CopyGivenTo(disk);
            WriteAligned(start, disk);
            // Only once written: a failure leaves it for the flush after the failure.
            lock (_gate) _partials.Remove(start);
            Return(block);
        }
    }

    /// <summary>Adds contiguous bytes to the slot being gathered, handing each full slot to the writers.</summary>
    private void Append(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_filled == SlotSize)
            {
                _full.Add((_slot, _start, SlotSize));
                _slot = _free.Take();
                (_start, _filled) = (_start + SlotSize, 0);
            }
            int n = Math.Min(SlotSize - _filled, data.Length);
            data[..n].CopyTo(_slot.Span[_filled..]);
            _filled += n;
            data = data[n..];
        }
    }

    /// <summary>Ends the run being gathered: its whole blocks to the writers, its last block filled out with zeros (blank) or to the partial blocks.</summary>
    private void CloseRun()
    {
        if (_start < 0) return;
        int whole = _filled / Alignment * Alignment;
        if (_filled > whole)
        {
            if (_blank && _start + whole + Alignment <= _length)
            {
                // The next write is more than GapFill further on, past this block. (A block past the disk's end, in a
                // fixed VHD's footer, is not ours to fill.)
                _slot.Span[_filled..(whole + Alignment)].Clear();
                whole += Alignment;
            }
            else Piece(_start + whole, _slot.Span[whole.._filled]);
        }
        if (whole > 0) _full.Add((_slot, _start, whole));
        else _free.Add(_slot);
        (_slot, _start, _filled) = (default, -1, 0);
    }

    private void WriteSlots()
    {
        foreach (var (slot, offset, length) in _full.GetConsumingEnumerable())
        {
            try
            {
                // After a failure too: a slot before the failed one holds writes that came before it.
                WriteAligned(offset, slot.Span[..length]);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            finally
            {
                _free.Add(slot);
            }
        }
    }

    /// <summary>A writer thread's error is the caller's at its next write or flush.</summary>
    private void ThrowIfFailed()
    {
        if (_failure is { } e) ExceptionDispatchInfo.Throw(e);
    }

    private void Piece(long offset, ReadOnlySpan<byte> bytes)
    {
        long start = offset / Alignment * Alignment;
        if (start + Alignment > _fileLength)
        {
            // The disk's last block runs past the end of the file: a direct write would lengthen it.
            RandomAccess.Write(_plain, bytes, offset);
            return;
        }
        PartialBlock? complete = null;
        lock (_gate)
        {
            if (!_partials.TryGetValue(start, out var block))
                _partials[start] = block = _spare.Count > 0 ? _spare.Pop() : new PartialBlock();
            if (block.Give((int)(offset - start), bytes))
            {
                _partials.Remove(start);
                complete = block;
            }
        }
        if (complete is null) return;
        try
        {
            WriteAligned(start, complete.Data.Span);
        }
        catch
        {
            // Kept for the flush after a failure, whole.
            lock (_gate) _partials[start] = complete;
            throw;
        }
        Return(complete);
    }

    private void Return(PartialBlock block)
    {
        block.Clear();
        lock (_gate) _spare.Push(block);
    }

    private void WriteAligned(long offset, ReadOnlySpan<byte> aligned)
    {
        try
        {
            RandomAccess.Write(_handle, aligned, offset);
        }
        catch (IOException e)
        {
            throw new VirtualDiskException(Path, offset, $"direct write of {aligned.Length} bytes failed: {e.Message}");
        }
    }

    private void Read(long offset, Span<byte> aligned)
    {
        int done = 0;
        try
        {
            while (done < aligned.Length)
            {
                int n = RandomAccess.Read(_handle, aligned[done..], offset + done);
                if (n == 0) throw new VirtualDiskException(Path, offset + done, "short read: the disk ended early");
                done += n;
            }
        }
        catch (IOException e) when (e is not VirtualDiskException)
        {
            throw new VirtualDiskException(Path, offset + done, $"direct read of {aligned.Length - done} bytes failed: {e.Message}");
        }
    }

    private static long AlignUp(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    /// <summary>Stops the writer threads once they have written what they were given; blocks still incomplete are not written (<see cref="Flush"/> does that).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _full.CompleteAdding();
        foreach (var writer in _writers) writer.Join();
        _handle.Dispose();
        _plain.Dispose();
        _full.Dispose();
        _free.Dispose();
    }

    /// <summary>One block's bytes as they are given, and which of them were.</summary>
    private sealed class PartialBlock
    {
        public Memory<byte> Data { get; } = DirectIo.AlignedBuffer(Alignment);
        private readonly ulong[] _given = new ulong[Alignment / 64];
        private int _count;

        /// <summary>Takes <paramref name="bytes"/> at <paramref name="at"/>; true once every byte of the block was given.</summary>
        public bool Give(int at, ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(Data.Span[at..]);
            int end = at + bytes.Length;
            for (int word = at >> 6; word < (end + 63) >> 6; word++)
            {
                int from = Math.Max(at, word * 64) - word * 64, to = Math.Min(end, word * 64 + 64) - word * 64;
                ulong mask = to - from == 64 ? ~0UL : ((1UL << (to - from)) - 1) << from;
                _count += BitOperations.PopCount(mask & ~_given[word]);
                _given[word] |= mask;
            }
            return _count == Alignment;
        }

        /// <summary>Copies the bytes given over <paramref name="block"/>, the disk's.</summary>
        public void CopyGivenTo(Span<byte> block)
        {
            var data = Data.Span;
            for (int word = 0; word < _given.Length; word++)
            {
                if (_given[word] == ~0UL) data.Slice(word * 64, 64).CopyTo(block[(word * 64)..]);
                else
                    for (int bit = 0; bit < 64; bit++)
                        if ((_given[word] & (1UL << bit)) != 0) block[word * 64 + bit] = data[word * 64 + bit];
            }
        }

        public void Clear()
        {
            Array.Clear(_given);
            _count = 0;
        }
    }
}
