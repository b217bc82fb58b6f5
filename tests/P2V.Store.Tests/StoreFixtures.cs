using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store.Http;

namespace P2V.Store.Tests;

/// <summary>Test disks made by real tools (mkntfs, ntfscp), and capture/restore through a store.</summary>
public static class StoreFixtures
{
    public const long MiB = 1 << 20;

    /// <summary>An NTFS volume made by mkntfs, with files of random and text content copied in by ntfscp.</summary>
    public static string MakeNtfsVolume(TempDirectory tmp, string name, long bytes, int seed, int files = 12)
    {
        var path = tmp.File(name);
        using (var f = File.Create(path)) f.SetLength(bytes);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-c", "4096", "-L", "STORE", path);
        var rng = new Random(seed);
        for (int i = 0; i < files; i++)
        {
            var data = new byte[rng.Next(20_000, 900_000)];
            if (i % 2 == 0) rng.NextBytes(data);
            else for (int k = 0; k < data.Length; k++) data[k] = (byte)"log line of a server that compresses well\n"[(k + i) % 42];
            AddFile(tmp, path, $"/file{seed}_{i:D2}.bin", data);
        }
        return path;
    }

    public static void AddFile(TempDirectory tmp, string volume, string ntfsPath, byte[] data)
    {
        var local = tmp.File($"add-{Guid.NewGuid():N}");
        File.WriteAllBytes(local, data);
        ExternalTool.Run("ntfscp", "-f", volume, local, ntfsPath);
        File.Delete(local);
    }

    public static async Task<(CaptureResult Result, StoreCaptureSink Sink)> CaptureAsync(string disk, IImageStore store, string name,
        ChunkBoundaries? boundaries = null, CodecChooser? codecs = null)
    {
        using var source = VirtualDisk.Open(disk);
        var plan = CapturePlanner.Plan(source, sourceDescription: "store test", toolVersion: "test");
        using var sink = await StoreCaptureSink.OpenAsync(store, name, plan.Header, CancellationToken.None, codecs: codecs);
        var result = await new CapturePipeline { Boundaries = boundaries ?? ChunkBoundaries.ContentDefined }.RunAsync(source, plan, sink);
        return (result, sink);
    }

    public static async Task<RestoreResult> RestoreAsync(IImageStore store, string name, string target)
    {
        var image = await StoreImageSource.OpenAsync(store, name, CancellationToken.None);
        using var disk = RawDisk.Create(target, image.Header.DiskLength, image.Header.SectorSize);
        return await new RestorePipeline { TargetIsBlank = true }.RunAsync(image, disk);
    }
}

/// <summary>The store's endpoints on a loopback WebApplication, as the controller hosts them.</summary>
public sealed class StoreServer : IAsyncDisposable
{
    public const string AdminToken = "admin-token-for-tests";

    private readonly WebApplication _app;

    private StoreServer(WebApplication app, ImageStore store, Uri address)
    {
        _app = app;
        Store = store;
        Address = address;
    }

    public ImageStore Store { get; }
    public Uri Address { get; }

    public StoreClient Client(string? token = AdminToken, HttpMessageHandler? handler = null) => new(Address, token, handler);

    /// <summary>Starts the endpoints on <paramref name="port"/> (0: any); <paramref name="middleware"/> goes in front of them.</summary>
    public static async Task<StoreServer> StartAsync(ImageStore store, IStoreAccess? access = null, int port = 0, Action<WebApplication>? middleware = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port)).UseStoreTransport();
        var app = builder.Build();
        middleware?.Invoke(app);
        app.MapImageStore(store, access ?? new AdminTokenAccess(AdminToken));
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new StoreServer(app, store, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
