using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using P2V.Store.Backends;
using P2V.Store.Http;

namespace P2V.Store.Tests;

/// <summary>
/// The protocol version (docs/store-protocol.md, "Protocol version"): a client and a server of different versions say so
/// in one line, on both sides, instead of misreading each other's bodies ("store answered N bytes for M hashes").
/// </summary>
public sealed class StoreProtocolVersionTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static HttpClient Raw(StoreServer server)
    {
        var http = new HttpClient { BaseAddress = server.Address };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", StoreServer.AdminToken);
        return http;
    }

    /// <summary>A request as another client would send it; answers the status, the body (an error: its reason) and the version header.</summary>
    private static async Task<(HttpStatusCode Status, string Body, string? Version)> SendAsync(HttpClient http, HttpMethod method, string path, string? version)
    {
        using var request = new HttpRequestMessage(method, path);
        if (version is not null) request.Headers.Add(StoreProtocol.Header, version);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        // An error's one-line reason, as the JSON carries it (System.Text.Json escapes quotes as \u0027).
        if (!response.IsSuccessStatusCode) body = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("error").GetString()!;
        return (response.StatusCode, body,
            response.Headers.TryGetValues(StoreProtocol.Header, out var v) ? string.Join(",", v) : null);
    }

    [Fact]
    public async Task ARequestOfAnotherVersionIsRefusedWithTheReason()
    {
        await using var server = await StoreServer.StartAsync(new ImageStore(new FolderBackend(_tmp.File("store"))));
        using var http = Raw(server);

        // Another version, on any endpoint: 400 and the one-line reason, nothing done.
        var (status, body, version) = await SendAsync(http, HttpMethod.Post, "api/store/images/img/ingest", "3");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("the store speaks protocol 2, this request speaks protocol 3: ", body);
        Assert.Equal("2", version);
        (status, body, _) = await SendAsync(http, HttpMethod.Get, "api/store/images", "1");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("the store speaks protocol 2, this request speaks protocol 1: ", body);
        (status, body, _) = await SendAsync(http, HttpMethod.Get, "api/store/images", "two");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("header 'two' is not a version number", body);

        // No header: a sender from before the header (protocol 1) is refused where the formats differ (ingest)...
        (status, body, version) = await SendAsync(http, HttpMethod.Post, "api/store/images/img/ingest", null);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("the store speaks protocol 2, this request speaks protocol 1 (it has no P2V-Store-Protocol header)", body);
        Assert.Equal("2", version);
        // ... and served where they agree (the list: also the console's page and curl).
        (status, body, version) = await SendAsync(http, HttpMethod.Get, "api/store/images", null);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("[]", body.Trim());
        Assert.Equal("2", version);
        Assert.Empty(await server.Store.Backend.ListAsync("locks/", CancellationToken.None).ToListAsync());

        // The right version is served, and the store's own client sends it.
        (status, _, _) = await SendAsync(http, HttpMethod.Post, "api/store/images/img/ingest", "2");
        Assert.Equal(HttpStatusCode.Created, status);
        using var client = server.Client();
        Assert.Equal("img2", (await client.BeginIngestAsync("img2", CancellationToken.None)).Image);
    }

    [Theory]
    [InlineData(null, "the store at {0} speaks protocol 1 (its answer has no P2V-Store-Protocol header), this p2v speaks 2: ")]
    [InlineData("3", "the store at {0} speaks protocol 3, this p2v speaks 2: ")]
    public async Task TheClientRefusesAnAnswerOfAnotherVersion(string? answered, string expected)
    {
        // The real store's endpoints, with the version its answers carry replaced: as an older server (no header) or a newer one.
        await using var server = await StoreServer.StartAsync(new ImageStore(new FolderBackend(_tmp.File("store"))), middleware: app => app.Use(async (context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                if (answered is null) context.Response.Headers.Remove(StoreProtocol.Header);
                else context.Response.Headers[StoreProtocol.Header] = answered;
                return Task.CompletedTask;
            });
            await next();
        }));

        using var client = server.Client();
        var e = await Assert.ThrowsAsync<StoreProtocolException>(() => client.BeginIngestAsync("img", CancellationToken.None));
        Assert.StartsWith(string.Format(System.Globalization.CultureInfo.InvariantCulture, expected, client.BaseAddress), e.Message);
        Assert.DoesNotContain('\n', e.Message);
        e = await Assert.ThrowsAsync<StoreProtocolException>(() => client.ListAsync(CancellationToken.None));
        Assert.StartsWith(string.Format(System.Globalization.CultureInfo.InvariantCulture, expected, client.BaseAddress), e.Message);
    }
}
