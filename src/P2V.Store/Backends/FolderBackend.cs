using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace P2V.Store.Backends;

/// <summary>
/// Objects as files under a folder, one per key. A write goes to a temporary file in the same folder tree
/// and is renamed onto its key, so a crash never leaves a partial object under its name. Chunks are not
/// fsync'ed one by one (thousands of fsyncs would bound an ingest by the disk's flush rate): one syncfs(2)
/// of the folder's file system before a manifest commits makes them durable together.
/// </summary>
public sealed partial class FolderBackend : IStoreBackend
{
    private const string TempFolder = ".tmp";
    private readonly string _root;

    public FolderBackend(string root)
    {
        _root = Path.GetFullPath(root);
        Directory.CreateDirectory(Path.Combine(_root, TempFolder));
    }

    public string Location => _root;

    private string PathOf(string key) => Path.Combine(_root, key);

    public async Task PutAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel)
    {
        var temp = await WriteTempAsync(Path.Combine(_root, TempFolder), data, durable: false, cancel).ConfigureAwait(false);
        var path = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Move(temp, path, overwrite: true);
    }

    public Task FlushAsync(CancellationToken cancel)
    {
        // syncfs(2) on any file of the folder's file system flushes every object written to it.
        using var handle = File.OpenHandle(Path.Combine(_root, TempFolder, ".sync"), FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite, FileOptions.None);
        if (SyncFs((int)handle.DangerousGetHandle()) != 0)
            throw new IOException($"{_root}: syncfs failed (errno {Marshal.GetLastPInvokeError()})");
        return Task.CompletedTask;
    }

    [LibraryImport("libc", EntryPoint = "syncfs", SetLastError = true)]
    private static partial int SyncFs(int fd);

    public async Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel, bool durable = true)
    {
        var path = PathOf(key);
        // Chunks (not durable one by one) are sent only when the store said it lacks them: no stat(2) first, the move finds out.
        if (durable && File.Exists(path)) return false;
        var temp = await WriteTempAsync(Path.Combine(_root, TempFolder), data, durable, cancel).ConfigureAwait(false);
        var folder = Path.GetDirectoryName(path)!;
        for (int attempt = 0; ; attempt++)
        {
            // The 256 chunk folders are made once, not asked for per chunk (a path lookup and mkdir(2) each).
            if (!_folders.ContainsKey(folder))
            {
                Directory.CreateDirectory(folder);
                _folders.TryAdd(folder, 0);
            }
            try
            {
                // Without overwrite, .NET moves by link(2) + unlink on Unix: it fails, rather than replaces, when the name exists.
                File.Move(temp, path, overwrite: false);
                return true;
            }
            catch (DirectoryNotFoundException) when (attempt == 0)
            {
                // Removed behind this backend's back: make it again.
                _folders.TryRemove(folder, out _);
            }
            catch (IOException) when (File.Exists(path))
            {
                File.Delete(temp);
                return false;
            }
        }
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _folders = new();

    private static Task<string> WriteTempAsync(string folder, ReadOnlyMemory<byte> data, bool durable, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var temp = Path.Combine(folder, Guid.NewGuid().ToString("N"));
        try
        {
            // One write(2) through a plain handle: the callers run on the thread pool already.
            using var handle = File.OpenHandle(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None);
            RandomAccess.Write(handle, data.Span, 0);
            if (durable) RandomAccess.FlushToDisk(handle);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        return Task.FromResult(temp);
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancel)
    {
        try
        {
            return await File.ReadAllBytesAsync(PathOf(key), cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task<(byte[] Rented, int Length)?> GetPooledAsync(string key, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        try
        {
            using var handle = File.OpenHandle(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long size = RandomAccess.GetLength(handle);
            if (size > int.MaxValue) throw new IOException($"{PathOf(key)}: {size} bytes, too large for an object");
            var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(1, (int)size));
            int done = 0;
            try
            {
                for (int n; done < size && (n = RandomAccess.Read(handle, rented.AsSpan(done, (int)size - done), done)) > 0;) done += n;
            }
            catch
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
                throw;
            }
            return Task.FromResult<(byte[], int)?>((rented, done));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<(byte[], int)?>(null);
        }
    }

    public async Task<(long Size, byte[] Prefix)?> HeadAsync(string key, int length, CancellationToken cancel)
    {
        try
        {
            using var handle = File.OpenHandle(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long size = RandomAccess.GetLength(handle);
            var prefix = new byte[(int)Math.Min(length, size)];
            int read = await RandomAccess.ReadAsync(handle, prefix, 0, cancel).ConfigureAwait(false);
            return (size, prefix[..read]);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task<long?> SizeAsync(string key, CancellationToken cancel)
    {
        var info = new FileInfo(PathOf(key));
        return Task.FromResult(info.Exists ? info.Length : (long?)null);
    }

    public async IAsyncEnumerable<StoreObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancel)
    {
        // Keys are folder/name; list the folder the prefix names, filtering by the rest.
        int slash = prefix.LastIndexOf('/');
        var dir = new DirectoryInfo(Path.Combine(_root, slash < 0 ? "" : prefix[..slash]));
        if (!dir.Exists) yield break;
        var rootLength = _root.Length + 1;
        foreach (var f in dir.EnumerateFiles("*", SearchOption.AllDirectories))
        {
            cancel.ThrowIfCancellationRequested();
            var key = f.FullName[rootLength..].Replace(Path.DirectorySeparatorChar, '/');
            if (!key.StartsWith(prefix, StringComparison.Ordinal) || key.StartsWith(TempFolder + "/", StringComparison.Ordinal)) continue;
            long size;
            try { size = f.Length; }
            catch (FileNotFoundException) { continue; }
            yield return new StoreObject(key, size, f.LastWriteTimeUtc);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken cancel)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    /// <summary>Removes temporary files older than <paramref name="age"/>: what writers killed mid-write left behind.</summary>
    public void RemoveStaleTemporaries(TimeSpan age)
    {
        foreach (var f in new DirectoryInfo(Path.Combine(_root, TempFolder)).EnumerateFiles())
            if (DateTime.UtcNow - f.LastWriteTimeUtc > age)
                try { f.Delete(); } catch (IOException) { }
    }
}
