using System.Net;
using System.Net.Http.Headers;
using P2V.Controller.Client;
using P2V.Netboot;

namespace P2V.Controller.Tests;

/// <summary>A real controller on 127.0.0.1 (random port) over a temporary data folder; removed when disposed.</summary>
public sealed class TestController : IAsyncDisposable
{
    private readonly List<string> _log = [];

    private TestController(ControllerServer server, string folder, bool ownsFolder)
    {
        Server = server;
        Folder = folder;
        OwnsFolder = ownsFolder;
    }

    public ControllerServer Server { get; }
    public string Folder { get; }
    private bool OwnsFolder { get; }
    public string Url => Server.Url;

    public static async Task<TestController> StartAsync(ITestDatabase database, string? folder = null, string? sharedDatabase = null,
        Func<ControllerOptions, ControllerOptions>? configure = null, string? store = null, string? s3Endpoint = null)
    {
        bool owns = folder == null;
        folder ??= Directory.CreateTempSubdirectory("p2v-controller-").FullName;
        var options = new ControllerOptions
        {
            DataFolder = folder,
            Database = sharedDatabase ?? database.NewDatabase(folder),
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            LongPoll = TimeSpan.FromSeconds(3),
            Store = store,
            S3Endpoint = s3Endpoint,
        };
        if (configure != null) options = configure(options);
        var server = await ControllerServer.StartAsync(options, NetbootLog.None);
        return new TestController(server, folder, owns);
    }

    /// <summary>An HTTP client with the given bearer token (null: none).</summary>
    public HttpClient Http(string? token)
    {
        var http = new HttpClient { BaseAddress = new Uri(Url + "/") };
        if (token != null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    public HttpClient Admin() => Http(Server.AdminToken);

    public ControllerClient Client() => new(Url, Server.AdminToken);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        if (OwnsFolder) Directory.Delete(Folder, recursive: true);
    }
}
