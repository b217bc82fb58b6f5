namespace P2V.Cli;

/// <summary>Writes a file under NAME.partial and renames it to NAME only when the work succeeded: nothing half-written is left under the real name.</summary>
public static class AtomicFile
{
    public static Task<T> WriteAsync<T>(string path, Func<Stream, Task<T>> write) => CreateAsync(path, async partial =>
    {
        // Unbuffered: the image writer hands over whole frames, and a buffer would only copy them once more.
        await using var stream = new FileStream(partial, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        var result = await write(stream);
        await stream.FlushAsync();
        stream.Flush(flushToDisk: true);
        return result;
    });

    public static async Task<T> CreateAsync<T>(string path, Func<string, Task<T>> create)
    {
        if (File.Exists(path)) throw new IOException($"{path} exists already; remove it or choose another name");
        string partial = path + ".partial";
        File.Delete(partial);
        try
        {
            var result = await create(partial);
            File.Move(partial, path);
            return result;
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }
}
