namespace P2V.Store.Backends;

/// <summary>An object in a backend: its key, size and when it was last written.</summary>
public readonly record struct StoreObject(string Key, long Size, DateTimeOffset LastModified);

/// <summary>
/// Where the store keeps its objects: chunks, manifests and locks under slash-separated keys. Every write is
/// atomic: an object is either absent or whole (a killed writer leaves no half-written object under its key).
/// </summary>
public interface IStoreBackend
{
    /// <summary>Writes <paramref name="data"/> under <paramref name="key"/>, replacing any object there. Whole once it returns; durable (against a power failure) after <see cref="FlushAsync"/>.</summary>
    Task PutAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel);

    /// <summary>Makes every object written so far durable: the store calls it once before it commits a manifest.</summary>
    Task FlushAsync(CancellationToken cancel);

    /// <summary>
    /// Writes only when nothing is under <paramref name="key"/> yet; false when something was. Durable when it returns,
    /// unless <paramref name="durable"/> is false (then after <see cref="FlushAsync"/>, as for <see cref="PutAsync"/>).
    /// </summary>
    Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel, bool durable = true);

    /// <summary>The object's size and its first <paramref name="length"/> bytes (fewer when it is shorter), or null when there is none.</summary>
    Task<(long Size, byte[] Prefix)?> HeadAsync(string key, int length, CancellationToken cancel);

    /// <summary>The whole object, or null when there is none.</summary>
    Task<byte[]?> GetAsync(string key, CancellationToken cancel);

    /// <summary>
    /// The whole object in an array rented from <see cref="System.Buffers.ArrayPool{T}.Shared"/> (the caller returns it), with
    /// its length; null when there is none. For reads of many objects at once without a fresh array each.
    /// </summary>
    async Task<(byte[] Rented, int Length)?> GetPooledAsync(string key, CancellationToken cancel)
    {
        if (await GetAsync(key, cancel).ConfigureAwait(false) is not { } bytes) return null;
        var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(1, bytes.Length));
        bytes.CopyTo(rented, 0);
        return (rented, bytes.Length);
    }

    /// <summary>The object's size, or null when there is none.</summary>
    Task<long?> SizeAsync(string key, CancellationToken cancel);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in no particular order.</summary>
    IAsyncEnumerable<StoreObject> ListAsync(string prefix, CancellationToken cancel);

    /// <summary>Removes the object; nothing happens when there is none.</summary>
    Task DeleteAsync(string key, CancellationToken cancel);

    /// <summary>Where the objects are, for messages.</summary>
    string Location { get; }
}
