using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using P2V.Controller.Api;
using P2V.Controller.Jobs;

namespace P2V.Bench.Load;

/// <summary>
/// The web console's live view: one reader of GET /api/events (server-sent events, the admin token), keeping every
/// progress state it was shown — (job, bytesDone) of each event of a running job — with when it arrived.
/// </summary>
internal sealed class ConsoleStream(string url, string adminToken) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
    private readonly ConcurrentDictionary<(long Job, long BytesDone), long> _progressSeen = new();
    private readonly ConcurrentDictionary<long, JobState> _states = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _events;

    public IReadOnlyDictionary<(long Job, long BytesDone), long> ProgressSeen => _progressSeen;
    public long Events => Interlocked.Read(ref _events);
    public Task Connected => _connected.Task;
    public int Count(Func<JobState, bool> state) => _states.Values.Count(state);

    public async Task RunAsync(CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/events");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        response.EnsureSuccessStatusCode();
        _connected.TrySetResult();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        string? line, eventName = null;
        try
        {
            while ((line = await reader.ReadLineAsync(cancel)) != null)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) eventName = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal) && eventName == "job")
                {
                    var job = JsonSerializer.Deserialize(line.AsSpan(6), ControllerJson.Default.Job)!;
                    Interlocked.Increment(ref _events);
                    _states[job.Id] = job.State;
                    if (job.State == JobState.Running) _progressSeen.TryAdd((job.Id, job.Progress.BytesDone), Stopwatch.GetTimestamp());
                }
                else if (line.Length == 0) eventName = null;
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested) { }
    }

    public void Dispose() => _http.Dispose();
}
