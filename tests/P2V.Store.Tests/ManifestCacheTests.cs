using P2V.Store.Backends;
using static P2V.Store.Tests.StoreFixtures;

namespace P2V.Store.Tests;

/// <summary>
/// The server keeps each image's parsed manifest between a restore's chunk requests, and forgets it when the image
/// is removed: a restore over HTTP reads the manifest object a bounded number of times, not once per 64 chunks, and
/// an image removed and committed again under the same name is served as the new one.
/// </summary>
public sealed class ManifestCacheTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    [Fact]
    public async Task A_restore_reads_the_manifest_once_not_per_batch_and_rm_forgets_it()
    {
        var first = MakeNtfsVolume(_tmp, "a.vol", 64 * MiB, seed: 21, files: 48);
        var second = MakeNtfsVolume(_tmp, "b.vol", 40 * MiB, seed: 22, files: 14);
        var backend = new CountingBackend(new FolderBackend(_tmp.File("store")));
        await using var server = await StoreServer.StartAsync(new ImageStore(backend));
        using var client = server.Client();
        var (captured, _) = await CaptureAsync(first, client, "web01");
        int batches = (captured.Chunks + 63) / 64;
        Assert.True(batches >= 3, $"the volume makes {captured.Chunks} chunks: too few for several requests");

        backend.ManifestReads = 0;
        var restored = _tmp.File("a.img");
        await RestoreAsync(client, "web01", restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", first, restored));
        // GET /manifest reads the object once, and the chunk requests' check parses it once for all of them.
        Assert.InRange(backend.ManifestReads, 1, 2);

        // Removed, then another disk committed under the same name: the server serves the new manifest's chunks.
        await client.DeleteAsync("web01", CancellationToken.None);
        var gone = await Assert.ThrowsAsync<ImageNotFoundException>(() => RestoreAsync(client, "web01", _tmp.File("gone.img")));
        Assert.Contains("'web01' is not in the store", gone.Message);
        await CaptureAsync(second, client, "web01");
        var again = _tmp.File("b.img");
        await RestoreAsync(client, "web01", again);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", second, again));
    }

    /// <summary>The real folder backend, counting the reads of manifest objects.</summary>
    private sealed class CountingBackend(IStoreBackend inner) : IStoreBackend
    {
        private int _manifestReads;

        public int ManifestReads { get => Volatile.Read(ref _manifestReads); set => Volatile.Write(ref _manifestReads, value); }

        public Task<byte[]?> GetAsync(string key, CancellationToken cancel)
        {
            if (key.StartsWith("images/", StringComparison.Ordinal)) Interlocked.Increment(ref _manifestReads);
            return inner.GetAsync(key, cancel);
        }

        public Task PutAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel) => inner.PutAsync(key, data, cancel);
        public Task FlushAsync(CancellationToken cancel) => inner.FlushAsync(cancel);
        public Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel, bool durable = true) => inner.PutIfAbsentAsync(key, data, cancel, durable);
        public Task<(long Size, byte[] Prefix)?> HeadAsync(string key, int length, CancellationToken cancel) => inner.HeadAsync(key, length, cancel);
        public Task<long?> SizeAsync(string key, CancellationToken cancel) => inner.SizeAsync(key, cancel);
        public IAsyncEnumerable<StoreObject> ListAsync(string prefix, CancellationToken cancel) => inner.ListAsync(prefix, cancel);
        public Task DeleteAsync(string key, CancellationToken cancel) => inner.DeleteAsync(key, cancel);
        public string Location => inner.Location;
    }
}
