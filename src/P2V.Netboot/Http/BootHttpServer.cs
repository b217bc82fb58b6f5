using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2V.Netboot.Boot;

namespace P2V.Netboot.Http;

/// <summary>
/// Boot files over HTTP on Kestrel: everything under the root (GET and HEAD, with Range, so iPXE and curl can
/// resume or fetch parts), and per-MAC iPXE scripts at /ipxe/aa-bb-cc-dd-ee-ff.ipxe decided by the policy.
/// iPXE fetches a large initramfs over HTTP many times faster than over lock-step TFTP.
/// </summary>
public sealed class BootHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BootHttpServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public static async Task<BootHttpServer> StartAsync(IPEndPoint listen, BootFileRoot root, IBootPolicy policy, string serverAddress, NetbootLog log, CancellationToken cancel = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = root.FullPath, EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        // A library must not take over the process's signals: the default console lifetime would answer SIGTERM
        // by waiting for Main to end, which a server loop waiting for that very signal never does.
        builder.Services.AddSingleton<IHostLifetime, HostedByCaller>();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(listen);
            k.AddServerHeader = false;
        });
        var app = builder.Build();
        var templates = Path.Combine(root.FullPath, "ipxe");

        app.MapMethods("/ipxe/{mac}", ["GET", "HEAD"], (HttpContext context, string mac) =>
        {
            var name = mac.EndsWith(".ipxe", StringComparison.OrdinalIgnoreCase) ? mac[..^5] : mac;
            if (!BootConfigFile.TryParseMac(name, out var address)) return Results.NotFound();
            var decision = policy.Decide(address);
            var baseUrl = $"http://{context.Request.Host}";
            log.Write("http", Client(context), $"script {IpxeScript.FormatMac(address)} {decision.Action}");
            return Results.Text(IpxeScript.Render(decision, address, baseUrl, serverAddress, templates), "text/plain");
        });

        app.MapMethods("/{**path}", ["GET", "HEAD"], (HttpContext context, string? path) =>
        {
            var refusal = root.TryResolve(path ?? "", out var full);
            if (refusal != BootFileRoot.Refusal.None)
            {
                log.Write("http", Client(context), $"{context.Request.Method} /{path} refused: {refusal}");
                return refusal == BootFileRoot.Refusal.OutsideRoot ? Results.StatusCode(403) : Results.NotFound();
            }
            var clock = Stopwatch.StartNew();
            var range = context.Request.Headers.Range.ToString();
            // RFC 9110 §14.2: "An origin server MUST ignore a Range header field that contains a range unit it does
            // not understand"; we understand only "bytes" (§14.1.2; units are case-insensitive, §14.1).
            if (range.Length > 0 && !range.TrimStart().StartsWith("bytes=", StringComparison.OrdinalIgnoreCase))
                context.Request.Headers.Remove("Range");
            context.Response.OnCompleted(() =>
            {
                log.Write("http", Client(context), $"{context.Request.Method} /{path} {context.Response.StatusCode}" +
                    (range.Length > 0 ? $" {range}" : "") + $" {NetbootLog.Rate(context.Response.ContentLength ?? 0, clock.Elapsed)}");
                return Task.CompletedTask;
            });
            return Results.File(full, "application/octet-stream", enableRangeProcessing: true);
        });

        await app.StartAsync(cancel);
        int port = listen.Port;
        if (port == 0)
        {
            var addresses = app.Urls.Select(u => new Uri(u).Port).ToList();
            port = addresses.Count > 0 ? addresses[0] : 0;
        }
        return new BootHttpServer(app, port);
    }

    private sealed class HostedByCaller : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static string Client(HttpContext c) => $"{c.Connection.RemoteIpAddress}:{c.Connection.RemotePort}";

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
