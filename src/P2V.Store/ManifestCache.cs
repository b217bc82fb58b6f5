using System.Collections.Concurrent;
using P2V.Imaging.Images;
using P2V.Store.Backends;

namespace P2V.Store;

/// <summary>An image's parsed manifest and the set of chunk hashes it names, as the server keeps them between requests.</summary>
internal sealed record CachedManifest(long Size, ImageManifest Manifest, IReadOnlySet<ChunkHash> Chunks)
{
    public long LastUsed;
}

/// <summary>
/// Parsed manifests by image name, so that a restore's chunk requests (64 chunks each, every one checked against the
/// image's manifest) do not fetch and parse the whole manifest again per request: an 8 GiB image's manifest is
/// ~40k entries. A committed manifest never changes under its name (PutIfAbsent); it can only be removed, and then
/// perhaps committed again. So each use asks the backend for the manifest's size only (a stat, or an S3 HEAD):
/// gone → forgotten and "not found"; another size → read again. <see cref="Forget"/> drops an entry when this
/// process removes the image. At most <see cref="Capacity"/> manifests are kept, the least recently used leaving first.
/// </summary>
internal sealed class ManifestCache(IStoreBackend backend, Func<string, string> keyOf)
{
    public const int Capacity = 32;
    private readonly ConcurrentDictionary<string, CachedManifest> _entries = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loading = new(1, 1);

    public async Task<CachedManifest> GetAsync(string image, CancellationToken cancel)
    {
        var key = keyOf(ImageStore.CheckName(image));
        if (await backend.SizeAsync(key, cancel).ConfigureAwait(false) is not { } size)
        {
            Forget(image);
            throw new ImageNotFoundException(image);
        }
        if (Hit(image, size) is { } hit) return hit;
        // One load at a time: a restore's first requests arrive together, and each would otherwise read and parse the manifest.
        await _loading.WaitAsync(cancel).ConfigureAwait(false);
        try { return Hit(image, size) ?? await LoadAsync(image, key, cancel).ConfigureAwait(false); }
        finally { _loading.Release(); }
    }

    private CachedManifest? Hit(string image, long size)
    {
        if (!_entries.TryGetValue(image, out var cached) || cached.Size != size) return null;
        Volatile.Write(ref cached.LastUsed, Environment.TickCount64);
        return cached;
    }

    private async Task<CachedManifest> LoadAsync(string image, string key, CancellationToken cancel)
    {
        var bytes = await backend.GetAsync(key, cancel).ConfigureAwait(false) ?? throw new ImageNotFoundException(image);
        ImageManifest manifest;
        try { manifest = ImageManifest.Parse(bytes); }
        catch (ImageFormatException e) { throw new StoreException($"manifest of '{image}' is corrupt: {e.Message}"); }
        var entry = new CachedManifest(bytes.Length, manifest, manifest.Trailer.Chunks.Select(c => ChunkHash.From(c.Hash)).ToHashSet())
            { LastUsed = Environment.TickCount64 };
        _entries[image] = entry;
        while (_entries.Count > Capacity && _entries.MinBy(e => Volatile.Read(ref e.Value.LastUsed)) is { Key: var oldest })
            _entries.TryRemove(oldest, out _);
        return entry;
    }

    public void Forget(string image) => _entries.TryRemove(image, out _);

    /// <summary>How many manifests are held (for tests).</summary>
    public int Count => _entries.Count;
}
