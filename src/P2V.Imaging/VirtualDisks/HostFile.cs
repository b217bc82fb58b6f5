using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace P2V.Imaging.VirtualDisks;

/// <summary>How a container that maps the disk one-to-one (fixed VHD, fixed VHDX) gets its space at creation.</summary>
public enum Preallocation
{
    /// <summary>Set the file length only: the data area is a hole that reads as zeros (what qemu-img does by default).</summary>
    Sparse,
    /// <summary>Reserve the space with fallocate: no zeros are written, but the space is the file's.</summary>
    Allocate,
    /// <summary>Write zeros over the whole data area, as Virtual Server did; slow, but works on every file system.</summary>
    ZeroFill,
}

/// <summary>
/// The file that holds a VHD or VHDX: positioned reads and writes with precise errors, and the file system's
/// knowledge of which ranges hold data (SEEK_DATA/SEEK_HOLE), so that allocated blocks can be refined to the
/// parts that were ever written.
/// </summary>
internal sealed partial class HostFile : IDisposable
{
    private readonly SafeFileHandle _handle;

    private HostFile(SafeFileHandle handle, string path, bool canWrite)
    {
        _handle = handle;
        Path = path;
        CanWrite = canWrite;
    }

    public string Path { get; }
    public bool CanWrite { get; }
    public SafeFileHandle Handle => _handle;
    public long Length => RandomAccess.GetLength(_handle);

    public static HostFile Open(string path, bool writable) => new(
        File.OpenHandle(path, FileMode.Open, writable ? FileAccess.ReadWrite : FileAccess.Read,
            writable ? FileShare.Read : FileShare.ReadWrite), path, writable);

    public static HostFile Create(string path) => new(CreateHandle(path), path, true);

    /// <summary>
    /// Creates a file, or empties one that exists. A new file is not truncated: .NET's FileMode.Create truncates to
    /// zero even a file it just made, and ext4 takes a truncate to zero for a file being replaced, so its close writes
    /// back every byte written since (auto_da_alloc): a third of a disk convert's time, spent in close.
    /// </summary>
    public static SafeFileHandle CreateHandle(string path)
    {
        var handle = File.OpenHandle(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            if (RandomAccess.GetLength(handle) > 0) RandomAccess.SetLength(handle, 0);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>.Length bytes; a file that ends early is corrupt, and <paramref name="what"/> says what was being read.</summary>
    public void ReadExactly(long offset, Span<byte> buffer, string what)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0)
                throw new VirtualDiskException(Path, offset + done,
                    $"the file ends at {Length} bytes, inside the {what} ({buffer.Length} bytes at {offset})");
            done += n;
        }
    }

    /// <summary>Reads what the file holds; bytes past its end read as zeros (a block whose tail was never written).</summary>
    public void ReadOrZero(long offset, Span<byte> buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0) { buffer[done..].Clear(); return; }
            done += n;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data) => RandomAccess.Write(_handle, data, offset);

    public void SetLength(long length) => RandomAccess.SetLength(_handle, length);

    public void Flush() => RandomAccess.FlushToDisk(_handle);

    public void StartWriteBack() => StartWriteBack(_handle, Path);

    /// <summary>
    /// Starts writing the file's dirty pages to its disk and returns without waiting for them (sync_file_range, WRITE only).
    /// An I/O error or a full disk is an error now; where the call is not supported it is only a hint not taken.
    /// </summary>
    public static void StartWriteBack(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux() || SyncFileRange((int)handle.DangerousGetHandle(), 0, 0, SyncFileRangeWrite) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is 5 or 28) // EIO, ENOSPC
            throw new IOException($"{path}: writing to disk failed (errno {errno}{(errno == 28 ? ": no space left" : ": I/O error")})");
    }

    /// <summary>Gives [offset, offset+length) its own space: fallocate, or zeros, or nothing (sparse).</summary>
    public void Reserve(long offset, long length, Preallocation how)
    {
        switch (how)
        {
            case Preallocation.Allocate:
                int rc = FAllocate((int)_handle.DangerousGetHandle(), 0, offset, length);
                if (rc != 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    throw new VirtualDiskException(Path, offset, errno == 95
                        ? "the file system cannot preallocate (fallocate is not supported); use sparse or zero-fill"
                        : $"cannot preallocate {length} bytes (errno {errno}{(errno == 28 ? ": no space left" : "")})");
                }
                break;
            case Preallocation.ZeroFill:
                var zeros = new byte[4 << 20];
                for (long done = 0; done < length; done += zeros.Length)
                    Write(offset + done, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - done)));
                break;
        }
    }

    /// <summary>
    /// The ranges of [start, end) that hold data according to the file system; everything else is a hole.
    /// Where the system cannot tell, the whole range counts as data.
    /// </summary>
    public IEnumerable<Extent> DataRanges(long start, long end)
    {
        if (!OperatingSystem.IsLinux())
        {
            if (end > start) yield return new Extent(start, end - start);
            yield break;
        }
        long pos = start;
        while (pos < end)
        {
            long data = LSeek((int)_handle.DangerousGetHandle(), pos, SeekData);
            if (data < 0)
            {
                // ENXIO: no data at or after pos; EINVAL: the file system has no SEEK_DATA, so assume data.
                if (Marshal.GetLastPInvokeError() != 6) yield return new Extent(pos, end - pos);
                yield break;
            }
            if (data >= end) yield break;
            long hole = LSeek((int)_handle.DangerousGetHandle(), data, SeekHole);
            if (hole < 0 || hole > end) hole = end;
            yield return new Extent(data, hole - data);
            pos = hole;
        }
    }

    /// <summary>
    /// The disk ranges that a dynamic disk's allocated blocks hold data for: each block's file range narrowed
    /// to the file's data (non-hole) ranges, mapped to disk offsets, adjacent pieces merged.
    /// </summary>
    public IEnumerable<Extent> BlockDataExtents(IEnumerable<(long DiskOffset, long FileOffset)> blocks, long blockSize, long diskLength)
    {
        long pendingStart = -1, pendingEnd = -1;
        foreach (var (diskStart, fileStart) in blocks)
        {
            foreach (var r in DataRanges(fileStart, fileStart + blockSize))
            {
                long s = diskStart + (r.Offset - fileStart), e = Math.Min(diskLength, s + r.Length);
                if (e <= s) continue;
                if (s == pendingEnd) { pendingEnd = e; continue; }
                if (pendingEnd > pendingStart) yield return new Extent(pendingStart, pendingEnd - pendingStart);
                (pendingStart, pendingEnd) = (s, e);
            }
        }
        if (pendingEnd > pendingStart) yield return new Extent(pendingStart, pendingEnd - pendingStart);
    }

    public void Dispose() => _handle.Dispose();

    private const int SeekData = 3, SeekHole = 4;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    private const uint SyncFileRangeWrite = 2;

    [LibraryImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static partial int SyncFileRange(int fd, long offset, long length, uint flags);

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int FAllocate(int fd, int mode, long offset, long length);
}
