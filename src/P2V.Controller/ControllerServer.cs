using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2V.Controller.Api;
using P2V.Controller.Boot;
using P2V.Controller.Data;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;
using P2V.Netboot;
using P2V.Store;
using P2V.Store.Backends;
using P2V.Store.Http;

namespace P2V.Controller;

/// <summary>
/// <c>p2v server</c>: the REST API, the agent API, the web console and (optionally) the netboot services in one
/// process, on one database. Several servers may share a PostgreSQL database: every state change is a conditional
/// update there, and nothing that matters is kept only in one process's memory.
/// </summary>
public sealed class ControllerServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ControllerServer(WebApplication app, ControllerDatabase db, string adminToken, ControllerOptions options, DeviceRepository devices, JobRepository jobs, NetbootServer? netboot)
    {
        _app = app;
        Database = db;
        AdminToken = adminToken;
        Options = options;
        Devices = devices;
        Jobs = jobs;
        Netboot = netboot;
    }

    public ControllerDatabase Database { get; }
    public string AdminToken { get; }
    public ControllerOptions Options { get; }
    public DeviceRepository Devices { get; }
    public JobRepository Jobs { get; }
    public NetbootServer? Netboot { get; }
    public string Url => Options.PublicUrl;

    /// <summary>Where the OpenAPI description of the API is served.</summary>
    public const string OpenApiPath = "/openapi/v1.json";

    public static async Task<ControllerServer> StartAsync(ControllerOptions options, NetbootLog log, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(options.DataFolder);
        var db = await ControllerDatabase.OpenAsync(options.Database ?? Path.Combine(options.DataFolder, "controller.db"), cancel);
        NetbootServer? netboot = null;
        WebApplication? app = null;
        try
        {
            var admin = await Api.AdminToken.EnsureAsync(db, options.DataFolder, cancel);
            var events = new JobEvents();
            var devices = new DeviceRepository(db);
            var jobs = new JobRepository(db, events);

            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = options.DataFolder, EnvironmentName = "Production" });
            builder.Logging.ClearProviders();
            builder.Services.AddSingleton<IHostLifetime, HostedByCaller>();
            builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ControllerJson.Default));
            builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
            builder.Services.AddOpenApi();
            builder.WebHost.ConfigureKestrel(k =>
            {
                k.Listen(options.Listen);
                k.AddServerHeader = false;
            });
            // The store's ingest reads large request bodies: receives of 64 KiB, not 4 KiB (P2V.Store.Http.StoreTransport).
            builder.WebHost.UseStoreTransport();
            app = builder.Build();

            app.Use((context, next) => Errors(context, next, log));
            app.Use((context, next) => Caller.Authenticate(context, next, admin, jobs));
            app.MapGet("/healthz", () => Results.Json(new Health("ok", db.Kind == DatabaseKind.Postgres ? "postgresql" : "sqlite", SchemaMigrations.Latest), ControllerJson.Default.Health));
            app.MapOpenApi(OpenApiPath);
            AdminApi.Map(app, devices, jobs, events);
            AgentApi.Map(app, devices, jobs, events, options);
            app.MapImageStore(OpenStore(options), new ControllerStoreAccess());
            WebConsole.ConsoleFiles.Map(app);
            app.MapFallback("/api/{**rest}", () => AdminApi.NotFound("no such API"));

            await app.StartAsync(cancel);
            int port = options.Listen.Port != 0 ? options.Listen.Port : new Uri(app.Urls.First()).Port;
            options.PublicUrl = (options.AdvertisedUrl ?? $"http://{Advertised(options.Listen.Address)}:{port}").TrimEnd('/');

            if (options.Netboot is { } netbootOptions)
                netboot = await NetbootServer.StartAsync(netbootOptions(new ControllerBootPolicy(devices, jobs, options, log)), log, cancel);
            log.Write("controller", options.PublicUrl, $"serving the API on {options.Listen.Address}:{port}, database {db.Display}");
            return new ControllerServer(app, db, admin, options, devices, jobs, netboot);
        }
        catch
        {
            if (netboot != null) await netboot.DisposeAsync();
            if (app != null) await app.DisposeAsync();
            await db.DisposeAsync();
            throw;
        }
    }

    /// <summary>The folder store in DATA/store by default; an s3:// store shared by several servers.</summary>
    private static ImageStore OpenStore(ControllerOptions options)
    {
        var location = options.Store ?? Path.Combine(options.DataFolder, "store");
        if (location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
            return new ImageStore(new S3Backend(StoreLocation.S3FromEnvironment(location, options.S3Endpoint)));
        if (location.Contains("://", StringComparison.Ordinal)) throw new ArgumentException($"--store '{location}' must be a folder or s3://BUCKET");
        return new ImageStore(new FolderBackend(Directory.CreateDirectory(location).FullName));
    }

    /// <summary>Bad input is a 400 with its one-line reason, a missing thing a 404; anything else a 500 that is logged.</summary>
    private static async Task Errors(HttpContext context, RequestDelegate next, NetbootLog log)
    {
        // The console loads nothing from elsewhere, and its pages may not be framed or have their types guessed.
        context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'";
        context.Response.Headers.XContentTypeOptions = "nosniff";
        try { await next(context); }
        catch (Exception e) when (!context.Response.HasStarted && e is ArgumentException or KeyNotFoundException or BadHttpRequestException or FormatException or System.Text.Json.JsonException)
        {
            var status = e switch { KeyNotFoundException => 404, BadHttpRequestException b => b.StatusCode, _ => 400 };
            var message = e is BadHttpRequestException { InnerException: System.Text.Json.JsonException j } ? $"the request body is not valid: {j.Message}" : e.Message;
            await Caller.Problem(context, status, message);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            log.Write("controller", $"{context.Request.Method} {context.Request.Path}", $"failed: {e.GetType().Name}: {e.Message}");
            await Caller.Problem(context, 500, $"the controller failed: {e.Message}");
        }
    }

    /// <summary>An address others can reach: the bound one, or for "any" the first up, non-loopback IPv4 address (loopback if none).</summary>
    private static string Advertised(IPAddress bound)
    {
        if (!bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
            return bound.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{bound}]" : bound.ToString();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            if (nic.OperationalStatus == OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
                foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                    if (ua.Address.AddressFamily == AddressFamily.InterNetwork) return ua.Address.ToString();
        return "127.0.0.1";
    }

    private sealed class HostedByCaller : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (Netboot != null) await Netboot.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Database.DisposeAsync();
    }
}
