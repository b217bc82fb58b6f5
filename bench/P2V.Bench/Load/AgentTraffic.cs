using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace P2V.Bench.Load;

/// <summary>
/// What every simulated agent's HTTP requests did, seen below the agent's own client (which retries connection
/// errors and 5xx, and so would hide them): each attempt's latency, every failed attempt, and each progress report
/// the controller accepted (job, bytesDone, when it was sent), to be found again on the console's event stream.
/// </summary>
internal sealed class AgentTraffic
{
    private readonly ConcurrentQueue<double> _latenciesMs = new();
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<(long Job, long BytesDone), long> _progressSent = new();
    private long _firstStart = long.MaxValue, _lastEnd;

    public IReadOnlyCollection<double> LatenciesMs => _latenciesMs;
    public IReadOnlyCollection<string> Failures => _failures;
    /// <summary>Accepted progress reports and the Stopwatch timestamp at which each was sent.</summary>
    public IReadOnlyDictionary<(long Job, long BytesDone), long> ProgressSent => _progressSent;
    public TimeSpan Span => _lastEnd > _firstStart ? Stopwatch.GetElapsedTime(_firstStart, _lastEnd) : TimeSpan.Zero;

    public void Failed(string what) => _failures.Enqueue(what);

    /// <summary>One agent's connection: its own SocketsHttpHandler (a machine of its own), measured.</summary>
    public HttpMessageHandler Handler() => new Measured(this, new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5) });

    private sealed class Measured(AgentTraffic traffic, HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancel)
        {
            // The agent's JSON body, read back (not re-declared) for its bytesDone: buffered before the clock starts.
            var uri = request.RequestUri!;
            long? bytesDone = null;
            if (request.Method == HttpMethod.Post && uri.AbsolutePath.EndsWith("/progress", StringComparison.Ordinal) && request.Content != null)
            {
                using var body = JsonDocument.Parse(await request.Content.ReadAsStringAsync(cancel));
                bytesDone = body.RootElement.GetProperty("bytesDone").GetInt64();
            }
            long start = Stopwatch.GetTimestamp();
            InterlockedMin(ref traffic._firstStart, start);
            try
            {
                var response = await base.SendAsync(request, cancel);
                long end = Stopwatch.GetTimestamp();
                InterlockedMax(ref traffic._lastEnd, end);
                traffic._latenciesMs.Enqueue(Stopwatch.GetElapsedTime(start, end).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                    traffic.Failed($"{request.Method} {uri.AbsolutePath}: {(int)response.StatusCode}");
                else if (bytesDone is { } done)
                    traffic._progressSent[(JobOf(uri), done)] = start;
                return response;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancel.IsCancellationRequested)
            {
                traffic.Failed($"{request.Method} {uri.AbsolutePath}: {e.Message}");
                throw;
            }
        }

        // …/api/agent/jobs/{id}/progress
        private static long JobOf(Uri uri) => long.Parse(uri.Segments[^2].TrimEnd('/'));
    }

    private static void InterlockedMin(ref long target, long value)
    {
        long seen;
        while (value < (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen;
        while (value > (seen = Volatile.Read(ref target)) && Interlocked.CompareExchange(ref target, value, seen) != seen) { }
    }
}
