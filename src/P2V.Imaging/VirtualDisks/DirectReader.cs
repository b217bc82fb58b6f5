using Microsoft.Win32.SafeHandles;

namespace P2V.Imaging.VirtualDisks;

/// <summary>
/// A second, read-only handle on a raw disk file or block device that bypasses the page cache (O_DIRECT, open(2)).
/// A capture reads each used byte once: through the page cache that costs a page allocation and a copy per page
/// and lets the kernel's read-ahead follow the file offset into free clusters. Direct reads go from the device into
/// the caller's buffer, which must start on an <see cref="Alignment"/> boundary, as must offsets and lengths.
/// </summary>
public sealed class DirectReader : IDisposable
{
    /// <summary>4 KiB: a multiple of every logical block size (512 or 4096) and of the page size, which O_DIRECT asks for.</summary>
    public const int Alignment = DirectIo.Alignment;

    private readonly SafeFileHandle _handle;

    private DirectReader(SafeFileHandle handle, string path, long length)
    {
        _handle = handle;
        Path = path;
        Length = length;
    }

    public string Path { get; }

    /// <summary>The disk's length; a read may end past it (at the next <see cref="Alignment"/>) and then comes back short.</summary>
    public long Length { get; }

    /// <summary>
    /// Opens <paramref name="path"/> for direct reads, or returns null where the system or file system has none
    /// (not Linux, tmpfs, some FUSE file systems): the caller then reads through the page cache as before.
    /// </summary>
    public static DirectReader? TryOpen(string path, long length)
    {
        if (!OperatingSystem.IsLinux()) return null;
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
        if (!DirectIo.TryEnable(handle))
        {
            handle.Dispose();
            return null;
        }
        var reader = new DirectReader(handle, path, length);
        // Some file systems take the flag and refuse the reads: try one before trusting it.
        var probe = GC.AllocateUninitializedArray<byte>(2 * Alignment, pinned: true);
        try
        {
            if (length > 0) reader.Read(0, probe.AsSpan(AlignedOffset(probe), Alignment), (int)Math.Min(length, Alignment));
        }
        catch (IOException)
        {
            reader.Dispose();
            return null;
        }
        return reader;
    }

    /// <summary>
    /// Reads from <paramref name="offset"/> (aligned) into <paramref name="buffer"/> (aligned start and length) until at
    /// least <paramref name="needed"/> bytes are in; returns how many were read (more than needed up to the buffer's length).
    /// </summary>
    public int Read(long offset, Span<byte> buffer, int needed)
    {
        if (offset % Alignment != 0 || buffer.Length % Alignment != 0)
            throw new ArgumentException($"direct read of {buffer.Length} bytes at {offset} is not {Alignment}-byte aligned");
        int done = 0;
        while (done < needed)
        {
            int n;
            try
            {
                n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            }
            catch (IOException e)
            {
                throw new VirtualDiskException(Path, offset + done, $"direct read of {buffer.Length - done} bytes failed: {e.Message}");
            }
            if (n == 0) throw new VirtualDiskException(Path, offset + done, "short read: the disk ended early");
            done += n;
            // A short read that stops off the alignment is the end of the file: what follows cannot be read directly.
            if (done < needed && done % Alignment != 0) throw new VirtualDiskException(Path, offset + done, "short read: the disk ended early");
        }
        return done;
    }

    /// <summary>Where in <paramref name="pinned"/> (an array on the pinned heap, which never moves) the first <see cref="Alignment"/> boundary lies.</summary>
    public static int AlignedOffset(byte[] pinned) => DirectIo.AlignedOffset(pinned);

    public void Dispose() => _handle.Dispose();
}
