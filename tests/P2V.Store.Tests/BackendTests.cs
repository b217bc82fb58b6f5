using System.Text;
using P2V.Store.Backends;
using static P2V.Store.Tests.StoreFixtures;

namespace P2V.Store.Tests;

/// <summary>The backend contract, against the folder backend and against a real S3 server (s3rver); and a whole store on S3.</summary>
public sealed class BackendTests(S3rverFixture s3) : IClassFixture<S3rverFixture>, IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private async Task<IStoreBackend> BackendAsync(string kind)
    {
        if (kind == "folder") return new FolderBackend(_tmp.File("folder"));
        Skip.If(s3.Unavailable is not null, s3.Unavailable);
        return await s3.NewBackendAsync();
    }

    [SkippableTheory]
    [InlineData("folder")]
    [InlineData("s3")]
    public async Task ObjectsAreWrittenWholeListedAndRemoved(string kind)
    {
        var backend = await BackendAsync(kind);
        var none = CancellationToken.None;
        Assert.Null(await backend.GetAsync("chunks/ab/x", none));
        Assert.Null(await backend.SizeAsync("chunks/ab/x", none));
        await backend.PutAsync("chunks/ab/x", Encoding.UTF8.GetBytes("hello"), none);
        await backend.PutAsync("chunks/cd/y", new byte[70_000], none);
        await backend.PutAsync("images/one", Encoding.UTF8.GetBytes("manifest"), none);
        Assert.Equal("hello", Encoding.UTF8.GetString((await backend.GetAsync("chunks/ab/x", none))!));
        Assert.Equal(70_000, await backend.SizeAsync("chunks/cd/y", none));
        // The head of an object: its size and first bytes (what the missing-query reads a held chunk's codec from).
        var head = (await backend.HeadAsync("chunks/ab/x", 3, none))!.Value;
        Assert.Equal((5L, "hel"), (head.Size, Encoding.UTF8.GetString(head.Prefix)));
        Assert.Equal(5L, (await backend.HeadAsync("chunks/ab/x", 8, none))!.Value.Size);
        Assert.Equal(5, (await backend.HeadAsync("chunks/ab/x", 8, none))!.Value.Prefix.Length);
        Assert.Null(await backend.HeadAsync("chunks/ab/never", 8, none));
        var chunks = new List<StoreObject>();
        await foreach (var o in backend.ListAsync("chunks/", none)) chunks.Add(o);
        Assert.Equal(["chunks/ab/x", "chunks/cd/y"], chunks.Select(o => o.Key).Order());
        Assert.Equal([5L, 70_000L], chunks.OrderBy(o => o.Key).Select(o => o.Size));

        Assert.False(await backend.PutIfAbsentAsync("images/one", Encoding.UTF8.GetBytes("other"), none));
        Assert.Equal("manifest", Encoding.UTF8.GetString((await backend.GetAsync("images/one", none))!));
        Assert.True(await backend.PutIfAbsentAsync("images/two", Encoding.UTF8.GetBytes("second"), none));
        Assert.False(await backend.PutIfAbsentAsync("chunks/cd/y", new byte[3], none, durable: false));
        Assert.Equal(70_000, await backend.SizeAsync("chunks/cd/y", none));

        await backend.DeleteAsync("chunks/ab/x", none);
        await backend.DeleteAsync("chunks/ab/never", none);
        Assert.Null(await backend.GetAsync("chunks/ab/x", none));
        var left = new List<string>();
        await foreach (var o in backend.ListAsync("", none)) left.Add(o.Key);
        Assert.Equal(["chunks/cd/y", "images/one", "images/two"], left.Order());
    }

    [SkippableFact]
    public async Task AStoreOnS3CapturesRestoresAndCollectsGarbage()
    {
        var backend = await BackendAsync("s3");
        var store = new ImageStore(backend);
        await using var server = await StoreServer.StartAsync(store);
        using var client = server.Client();
        var a = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 11);
        var b = MakeNtfsVolume(_tmp, "b.vol", 32 * MiB, seed: 12);
        await CaptureAsync(a, client, "a");
        await CaptureAsync(b, client, "b");
        var restored = _tmp.File("a.img");
        await RestoreAsync(client, "a", restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", a, restored));

        await client.DeleteAsync("a", CancellationToken.None);
        var report = await client.CollectGarbageAsync(CancellationToken.None);
        Assert.Equal(1, report.Images);
        Assert.True(report.ChunksRemoved > 0);
        Assert.Equal(["b"], (await client.ListAsync(CancellationToken.None)).Select(i => i.Name));
        var restoredB = _tmp.File("b.img");
        await RestoreAsync(client, "b", restoredB);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", b, restoredB));
    }
}
