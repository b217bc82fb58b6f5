using System.CommandLine;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store;
using P2V.Store.Http;

namespace P2V.Cli.Commands;

/// <summary>The image store: image list, rm, gc, serve; and the store side of capture and restore (docs/store-protocol.md).</summary>
public static class StoreCommands
{
    public static void AddTo(RootCommand root)
    {
        var image = CliHost.Group(root, "image", "Inspect and check P2V images");
        image.Add(List());
        image.Add(Remove());
        image.Add(CollectGarbage());
        image.Add(Serve());
    }

    /// <summary>--store: an http(s) URL, s3://BUCKET[/PREFIX], or a folder.</summary>
    public static Option<string> StoreOption(bool required) =>
        new("--store") { Description = "The image store: a controller's URL (http://HOST:PORT), s3://BUCKET[/PREFIX], or a folder", HelpName = "URL|DIR", Required = required };

    /// <summary>--token, else $P2V_TOKEN: the admin token or a job's token.</summary>
    public static Option<string> TokenOption() =>
        new("--token") { Description = "Token for an http(s) store (default: $P2V_TOKEN)", HelpName = "TOKEN" };

    public static string? Token(string? option) => option ?? Environment.GetEnvironmentVariable("P2V_TOKEN");

    private static Command List()
    {
        var store = StoreOption(required: true);
        var token = TokenOption();
        var json = CliOptions.Json();
        var command = new Command("list", "List the committed images of a store, with their size and dedup savings") { store, token, json };
        command.SetAction(async (r, ct) =>
        {
            var s = StoreLocation.Open(r.GetValue(store)!, Token(r.GetValue(token)));
            try
            {
                var images = (await s.ListAsync(ct)).ToList();
                if (r.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(images, StoreJson.Default.ListImageSummary));
                    return 0;
                }
                Console.WriteLine($"{"image",-32} {"created",-20} {"disk",10} {"data",10} {"stored",10} {"unique",10} {"shared",7}");
                foreach (var i in images)
                    Console.WriteLine($"{i.Name,-32} {i.Created:yyyy-MM-dd HH:mm:ss} {ByteSize.Format(i.DiskBytes),10} {ByteSize.Format(i.UncompressedBytes),10} " +
                        $"{ByteSize.Format(i.StoredBytes),10} {ByteSize.Format(i.UniqueBytes),10} {100 * i.DedupSavings,6:F0}%");
                return 0;
            }
            finally { (s as IDisposable)?.Dispose(); }
        });
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("name") { Description = "The image to remove (its chunks go at the next gc)" };
        var store = StoreOption(required: true);
        var token = TokenOption();
        var command = new Command("rm", "Remove an image from a store") { name, store, token };
        command.SetAction(async (r, ct) =>
        {
            var s = StoreLocation.Open(r.GetValue(store)!, Token(r.GetValue(token)));
            try { await s.DeleteAsync(r.GetValue(name)!, ct); }
            finally { (s as IDisposable)?.Dispose(); }
            Console.Error.WriteLine($"image rm: {r.GetValue(name)} removed; its chunks go at the next 'p2v image gc'");
            return 0;
        });
        return command;
    }

    private static Command CollectGarbage()
    {
        var store = StoreOption(required: true);
        var token = TokenOption();
        var json = CliOptions.Json();
        var command = new Command("gc", "Remove the chunks no committed image uses (waits for no ingest to be open)") { store, token, json };
        command.SetAction(async (r, ct) =>
        {
            var s = StoreLocation.Open(r.GetValue(store)!, Token(r.GetValue(token)));
            GcReport report;
            try { report = await s.CollectGarbageAsync(ct); }
            finally { (s as IDisposable)?.Dispose(); }
            if (r.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, StoreJson.Default.GcReport));
            else Console.Error.WriteLine($"image gc: {report.ChunksRemoved} chunks ({ByteSize.Format(report.BytesRemoved)}) removed, {report.ChunksKept} kept for {report.Images} images");
            return 0;
        });
        return command;
    }

    private static Command Serve()
    {
        var store = StoreOption(required: true);
        var listen = new Option<string>("--listen") { Description = "Address and port to serve on (default: 127.0.0.1:8080)", HelpName = "ADDRESS:PORT" };
        var token = TokenOption();
        var command = new Command("serve", "Serve a folder or S3 store over HTTP (the store's part of p2v server), with one admin token") { store, listen, token };
        command.SetAction(async (r, ct) =>
        {
            var location = r.GetValue(store)!;
            if (location.StartsWith("http", StringComparison.OrdinalIgnoreCase)) throw new UsageException("--store must be a folder or s3:// to serve it");
            var adminToken = Token(r.GetValue(token)) ?? throw new UsageException("give the admin token with --token or P2V_TOKEN");
            if (!IPEndPoint.TryParse(r.GetValue(listen) ?? "127.0.0.1:8080", out var endpoint) || endpoint.Port == 0)
                throw new UsageException($"--listen '{r.GetValue(listen)}' is not ADDRESS:PORT");
            var s = (ImageStore)StoreLocation.Open(location, null);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(endpoint)).UseStoreTransport();
            await using var app = builder.Build();
            app.MapImageStore(s, new AdminTokenAccess(adminToken));
            await app.StartAsync(ct);
            Console.Error.WriteLine($"image serve: {s.Backend.Location} on http://{endpoint}{StoreEndpoints.Prefix}");
            try { await Task.Delay(Timeout.Infinite, ct); }
            catch (OperationCanceledException) { }
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }

    /// <summary>`p2v capture DISK --store URL --name NAME`: the store sink in place of an image file.</summary>
    internal static async Task<(CaptureResult Result, StoreCaptureSink Sink)> CaptureAsync(IVirtualDisk disk, CapturePlan plan, string storeLocation,
        string name, string? token, int workers, CodecChoice codec, bool json, CancellationToken cancel, bool directReads = true)
    {
        var store = StoreLocation.Open(storeLocation, Token(token));
        try
        {
            using var sink = await StoreCaptureSink.OpenAsync(store, name, plan.Header, cancel, codecs: new CodecChooser(codec, workers));
            var result = await ProgressDisplay.RunAsync("capture", json, p =>
                new CapturePipeline { Workers = workers, Progress = p, DirectReads = directReads }.RunAsync(disk, plan, sink, cancel));
            return (result, sink);
        }
        finally { (store as IDisposable)?.Dispose(); }
    }

    /// <summary>A restore source for STORE/images/NAME (a URL or a folder).</summary>
    internal static async Task<(StoreImageSource Source, IDisposable? Store)> OpenImageAsync(string reference, string? token, CancellationToken cancel,
        bool checkRecordedForms = false)
    {
        var (location, name) = StoreLocation.ParseImageReference(reference)
            ?? throw new UsageException($"'{reference}' is neither an image file nor STORE/images/NAME");
        var store = StoreLocation.Open(location, Token(token));
        try { return (await StoreImageSource.OpenAsync(store, name, cancel, checkRecordedForms: checkRecordedForms), store as IDisposable); }
        catch
        {
            (store as IDisposable)?.Dispose();
            throw;
        }
    }
}
