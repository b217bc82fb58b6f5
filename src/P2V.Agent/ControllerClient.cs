using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Serialization.Metadata;

namespace P2V.Agent;

/// <summary>The controller refused a request (4xx): retrying cannot help.</summary>
public sealed class ControllerRefusedException(string message) : Exception(message);

/// <summary>
/// The agent's calls to the controller (docs/agent-protocol.md), each with the job's token. A connection error,
/// timeout or 5xx is retried with back-off until <see cref="Patience"/> runs out: a controller restart is a
/// pause, not a failure. A 4xx is final and carries the controller's one-line reason.
/// </summary>
public sealed class ControllerClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly Action<string> _note;

    public ControllerClient(Uri controller, string token, Action<string> note, HttpMessageHandler? handler = null)
    {
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = new Uri(controller.ToString().TrimEnd('/') + "/"),
            // Above the server's 30 s long poll.
            Timeout = TimeSpan.FromSeconds(60),
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _note = note;
    }

    /// <summary>How long one request keeps being retried.</summary>
    public TimeSpan Patience { get; init; } = DefaultPatience;

    public static readonly TimeSpan DefaultPatience = TimeSpan.FromMinutes(30);

    public Uri BaseAddress => _http.BaseAddress!;

    public Task<AgentJob> GetJobAsync(CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Get, "api/agent/job"), AgentJson.Default.AgentJob, cancel)!;

    /// <summary>The device's next job after <paramref name="after"/> (a long poll of up to 30 s), or null.</summary>
    public Task<AgentJob?> NextJobAsync(long after, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Get, $"api/agent/next?after={after}"), AgentJson.Default.AgentJob, cancel);

    public Task ProgressAsync(long job, AgentProgress progress, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"api/agent/jobs/{job}/progress") { Content = JsonContent.Create(progress, AgentJson.Default.AgentProgress) }, cancel);

    public Task LogAsync(long job, string lines, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"api/agent/jobs/{job}/log") { Content = new StringContent(lines, Encoding.UTF8, "text/plain") }, cancel);

    public Task PutInventoryAsync(long job, string xml, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Put, $"api/agent/jobs/{job}/inventory") { Content = new StringContent(xml, Encoding.UTF8, "application/xml") }, cancel);

    public Task ReportAsync(long job, string name, string content, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"api/agent/jobs/{job}/report") { Content = JsonContent.Create(new AgentReport(name, content), AgentJson.Default.AgentReport) }, cancel);

    public Task CompleteAsync(long job, bool succeeded, string? error, CancellationToken cancel) =>
        SendAsync(() => new HttpRequestMessage(HttpMethod.Post, $"api/agent/jobs/{job}/complete") { Content = JsonContent.Create(new AgentCompletion(succeeded, error), AgentJson.Default.AgentCompletion) }, cancel);

    private Task SendAsync(Func<HttpRequestMessage> request, CancellationToken cancel) => SendAsync<AgentJob>(request, null, cancel);

    private async Task<T?> SendAsync<T>(Func<HttpRequestMessage> request, JsonTypeInfo<T>? answer, CancellationToken cancel) where T : class
    {
        var giveUp = DateTime.UtcNow + Patience;
        var wait = TimeSpan.FromSeconds(1);
        for (int attempt = 1; ; attempt++)
        {
            string why;
            using var message = request();
            try
            {
                using var response = await _http.SendAsync(message, cancel);
                if (response.IsSuccessStatusCode)
                {
                    if (answer is null || response.StatusCode == HttpStatusCode.NoContent) return null;
                    return await response.Content.ReadFromJsonAsync(answer, cancel)
                        ?? throw new ControllerRefusedException($"{message.Method} {message.RequestUri}: an empty answer");
                }
                string reason = await ErrorOf(response, cancel);
                if ((int)response.StatusCode < 500)
                    throw new ControllerRefusedException($"{message.Method} {message.RequestUri}: {(int)response.StatusCode} {reason}");
                why = $"{(int)response.StatusCode} {reason}";
            }
            catch (HttpRequestException e) { why = e.Message; }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested) { why = "no answer in time"; }
            if (DateTime.UtcNow + wait > giveUp)
                throw new IOException($"controller {BaseAddress}: {message.Method} {message.RequestUri} failed {attempt} times, the last: {why}");
            _note($"controller: {message.Method} {message.RequestUri}: {why}; again in {wait.TotalSeconds:0} s");
            await Task.Delay(wait, cancel);
            wait = TimeSpan.FromSeconds(Math.Min(wait.TotalSeconds * 2, 15));
        }
    }

    private static async Task<string> ErrorOf(HttpResponseMessage response, CancellationToken cancel)
    {
        string text = await response.Content.ReadAsStringAsync(cancel);
        try
        {
            if (System.Text.Json.JsonSerializer.Deserialize(text, AgentJson.Default.AgentErrorBody) is { Error: { } e }) return e;
        }
        catch (System.Text.Json.JsonException) { }
        return text.Length > 200 ? text[..200] : text.Trim();
    }

    public void Dispose() => _http.Dispose();
}
