using System.Runtime.InteropServices;

namespace P2V.Imaging;

/// <summary>
/// Writes a file so that its real name only ever holds a complete file: the content goes to NAME.partial in the
/// same folder (so the rename cannot cross file systems), is flushed to disk, renamed over NAME, and the folder is
/// flushed so the rename itself survives a power cut. On failure the partial file is removed. A kill -9 or a full
/// disk leaves at most a NAME.partial, never a broken NAME.
/// </summary>
public static partial class AtomicFile
{
    /// <summary>The temporary name the content is written under.</summary>
    public static string PartialPath(string path) => path + ".partial";

    /// <summary>
    /// Refuses, before any work, a target that cannot be written: a folder, an existing file (unless
    /// <paramref name="overwrite"/>), or a parent folder that does not exist.
    /// </summary>
    public static void CheckTarget(string path, bool overwrite = false)
    {
        if (Directory.Exists(path)) throw new IOException($"{path} is a folder; name a file");
        if (!overwrite && File.Exists(path)) throw new IOException($"{path} exists already; remove it or choose another name");
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"{path}: folder {folder} does not exist");
    }

    /// <summary>Creates <paramref name="path"/> by letting <paramref name="write"/> make the file at the temporary path it is given.</summary>
    /// <param name="durable">Flush the content and the rename to disk; false leaves both to the page cache (still whole after a crash of this process).</param>
    public static T Create<T>(string path, Func<string, T> write, bool overwrite = false, bool durable = true)
    {
        var partial = Begin(path, overwrite);
        try
        {
            var result = write(partial);
            Commit(partial, path, durable);
            return result;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <inheritdoc cref="Create{T}"/>
    public static async Task<T> CreateAsync<T>(string path, Func<string, Task<T>> write, bool overwrite = false, bool durable = true)
    {
        var partial = Begin(path, overwrite);
        try
        {
            var result = await write(partial).ConfigureAwait(false);
            Commit(partial, path, durable);
            return result;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>Writes a file through a stream (unbuffered: callers hand over large blocks, a buffer would only copy them once more).</summary>
    public static Task<T> WriteAsync<T>(string path, Func<Stream, Task<T>> write, bool overwrite = false) => CreateAsync(path, async partial =>
    {
        await using var stream = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        return await write(stream).ConfigureAwait(false);
    }, overwrite);

    /// <summary>Replaces (or creates) <paramref name="path"/> with <paramref name="bytes"/>.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var partial = Begin(path, overwrite: true);
        try
        {
            using (var handle = File.OpenHandle(partial, FileMode.CreateNew, FileAccess.Write))
                RandomAccess.Write(handle, bytes, 0);
            Commit(partial, path, durable: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary>Replaces (or creates) <paramref name="path"/> with <paramref name="text"/> in UTF-8 without a byte order mark.</summary>
    public static void WriteAllText(string path, string text) => WriteAllBytes(path, System.Text.Encoding.UTF8.GetBytes(text));

    private static string Begin(string path, bool overwrite)
    {
        CheckTarget(path, overwrite);
        var partial = PartialPath(path);
        File.Delete(partial); // left by a run that was killed
        return partial;
    }

    private static void Commit(string partial, string path, bool durable)
    {
        if (durable)
            using (var f = new FileStream(partial, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
                f.Flush(flushToDisk: true);
        File.Move(partial, path, overwrite: true);
        if (durable) FlushFolder(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>fsync(2) on the folder: makes the new directory entry durable (POSIX leaves it to the folder, not the file).</summary>
    private static void FlushFolder(string folder)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS journals the rename with the file
        int fd = Open(folder, O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"cannot open folder {folder} to flush it: {Marshal.GetLastPInvokeErrorMessage()}");
        try
        {
            // EINVAL: a file system without fsync on folders (some FUSE ones); the rename is as durable as it gets there.
            if (Fsync(fd) != 0 && Marshal.GetLastPInvokeError() != EINVAL)
                throw new IOException($"cannot flush folder {folder}: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally { Close(fd); }
    }

    private const int O_RDONLY = 0, O_CLOEXEC = 0x80000, EINVAL = 22; // the same on x86-64 and arm64 Linux

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
