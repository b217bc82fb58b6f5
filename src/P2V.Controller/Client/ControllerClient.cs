using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using P2V.Controller.Api;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;

namespace P2V.Controller.Client;

/// <summary>A refusal or failure the controller answered with: its status and one-line reason.</summary>
public sealed class ControllerException(HttpStatusCode status, string message) : IOException(message)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>
/// The admin API from the command line (`p2v device …`, `p2v job …`, `p2v createvm --controller`): the controller's
/// URL from --controller or P2V_CONTROLLER, the token from --token or P2V_TOKEN.
/// </summary>
public sealed class ControllerClient : IDisposable
{
    private readonly HttpClient _http;

    public ControllerClient(string url, string? token, HttpMessageHandler? handler = null)
    {
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ArgumentException($"controller URL '{url}' is not an http:// or https:// URL");
        _http = handler == null ? new HttpClient() : new HttpClient(handler);
        _http.BaseAddress = uri;
        _http.Timeout = TimeSpan.FromSeconds(100);
        if (!string.IsNullOrEmpty(token)) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public const string UrlVariable = "P2V_CONTROLLER";
    public const string TokenVariable = "P2V_TOKEN";
    public const string DefaultUrl = "http://127.0.0.1:8060";

    /// <summary>The URL and token from the options, else the environment.</summary>
    public static ControllerClient FromOptions(string? url, string? token) => new(
        url ?? Environment.GetEnvironmentVariable(UrlVariable) ?? DefaultUrl,
        token ?? Environment.GetEnvironmentVariable(TokenVariable)
            ?? throw new ArgumentException($"no admin token: pass --token or set {TokenVariable} (the server wrote it to DATA/{AdminToken.FileName})"));

    public Task<List<Device>> ListDevicesAsync(CancellationToken cancel = default) => SendAsync(HttpMethod.Get, "api/devices", null, ControllerJson.Default.ListDevice, cancel);
    public Task<Device> GetDeviceAsync(string mac, CancellationToken cancel = default) => SendAsync(HttpMethod.Get, $"api/devices/{Mac(mac)}", null, ControllerJson.Default.Device, cancel);
    public Task<Device> AddDeviceAsync(DeviceRequest request, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Post, "api/devices", JsonContent.Create(request, ControllerJson.Default.DeviceRequest), ControllerJson.Default.Device, cancel);
    public Task<Device> ControlAsync(string mac, CancellationToken cancel = default) => SendAsync(HttpMethod.Post, $"api/devices/{Mac(mac)}/control", null, ControllerJson.Default.Device, cancel);
    public Task<Device> ReleaseAsync(string mac, CancellationToken cancel = default) => SendAsync(HttpMethod.Post, $"api/devices/{Mac(mac)}/release", null, ControllerJson.Default.Device, cancel);
    public Task<Device> ChangeDeviceAsync(string mac, DeviceChange change, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Patch, $"api/devices/{Mac(mac)}", JsonContent.Create(change, ControllerJson.Default.DeviceChange), ControllerJson.Default.Device, cancel);

    public async Task PutInventoryAsync(string mac, string xml, CancellationToken cancel = default)
    {
        using var response = await _http.PutAsync($"api/devices/{Mac(mac)}/inventory", new StringContent(xml, Encoding.UTF8, "application/xml"), cancel);
        await EnsureAsync(response, cancel);
    }

    public Task<CreatedJob> CreateJobAsync(JobRequest request, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Post, "api/jobs", JsonContent.Create(request, ControllerJson.Default.JobRequest), ControllerJson.Default.CreatedJob, cancel);
    public Task<Job> GetJobAsync(long id, CancellationToken cancel = default) => SendAsync(HttpMethod.Get, $"api/jobs/{id}", null, ControllerJson.Default.Job, cancel);
    public Task<Job> CancelJobAsync(long id, CancellationToken cancel = default) => SendAsync(HttpMethod.Post, $"api/jobs/{id}/cancel", null, ControllerJson.Default.Job, cancel);
    public Task<List<JobReport>> ReportsAsync(long id, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Get, $"api/jobs/{id}/reports", null, ControllerJson.Default.ListJobReport, cancel);
    public Task<List<JobLogLine>> LogAsync(long id, long after = 0, CancellationToken cancel = default) =>
        SendAsync(HttpMethod.Get, $"api/jobs/{id}/log?after={after}", null, ControllerJson.Default.ListJobLogLine, cancel);

    public Task<List<Job>> ListJobsAsync(string? device = null, JobState? state = null, bool active = false, CancellationToken cancel = default)
    {
        var query = new List<string>();
        if (device != null) query.Add("device=" + Mac(device));
        if (state is { } s) query.Add("state=" + JobWords.Of(s));
        if (active) query.Add("active=true");
        return SendAsync(HttpMethod.Get, "api/jobs" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), null, ControllerJson.Default.ListJob, cancel);
    }

    /// <summary>Until the job ends, calling back with every change and each new log line; the job as it ended.</summary>
    public async Task<Job> WaitAsync(long id, Action<Job>? changed = null, Action<JobLogLine>? logged = null, TimeSpan? timeout = null, CancellationToken cancel = default)
    {
        var until = timeout is { } t ? DateTime.UtcNow + t : DateTime.MaxValue;
        long revision = -1, line = 0;
        while (true)
        {
            var job = await GetJobAsync(id, cancel);
            if (logged != null)
                foreach (var l in await LogAsync(id, line, cancel))
                {
                    logged(l);
                    line = l.Id;
                }
            if (job.Revision != revision)
            {
                changed?.Invoke(job);
                revision = job.Revision;
            }
            if (job.IsFinished) return job;
            if (DateTime.UtcNow >= until) throw new ControllerException(HttpStatusCode.RequestTimeout, $"job {id} is still {JobWords.Of(job.State)} after {timeout}");
            await Task.Delay(TimeSpan.FromSeconds(1), cancel);
        }
    }

    private static string Mac(string mac) => Uri.EscapeDataString(MacAddress.Normalize(mac));

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? body, JsonTypeInfo<T> type, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body };
        HttpResponseMessage response;
        try { response = await _http.SendAsync(request, cancel); }
        catch (HttpRequestException e) { throw new ControllerException(0, $"controller {_http.BaseAddress}: {e.Message}"); }
        using (response)
        {
            await EnsureAsync(response, cancel);
            return await response.Content.ReadFromJsonAsync(type, cancel) ?? throw new ControllerException(response.StatusCode, $"{path}: empty answer");
        }
    }

    private async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancel)
    {
        if (response.IsSuccessStatusCode) return;
        var text = await response.Content.ReadAsStringAsync(cancel);
        string reason = text;
        try { reason = JsonSerializer.Deserialize(text, ControllerJson.Default.ErrorBody)?.Error ?? text; }
        catch (JsonException) { }
        throw new ControllerException(response.StatusCode, $"controller {_http.BaseAddress}: {(int)response.StatusCode} {reason}".TrimEnd());
    }

    public void Dispose() => _http.Dispose();
}
