using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using P2V.Controller.Api;
using P2V.Controller.Jobs;
using AdminClient = P2V.Controller.Client.ControllerClient;

namespace P2V.Bench.Load;

/// <summary>
/// `P2V.Bench load --controller URL --token ADMIN --p2v P2V [--volume V]... [--agents N] [--seconds S]` against a
/// running `p2v server` (bench/compare load starts one): N devices with a capture job each, made through the admin
/// API; N simulated agents claiming their jobs and reporting progress every second; one `p2v capture V --store URL`
/// per volume at once, each with the token of one of those jobs (so it writes that job's image, as the boot agent
/// does); one reader of the console's event stream. Prints the failed requests, progress reports sent against those
/// the stream showed, the agent API's requests/s and latency, the store's aggregate ingest. Exit 1 on any failed
/// request or lost progress event.
/// </summary>
internal static class LoadBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        string? url = null, token = null, p2v = null;
        var volumes = new List<string>();
        int agents = 200, seconds = 30;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--controller": url = args[++i].TrimEnd('/'); break;
                case "--token": token = args[++i]; break;
                case "--p2v": p2v = args[++i]; break;
                case "--volume": volumes.Add(args[++i]); break;
                case "--agents": agents = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--seconds": seconds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"load: unknown option '{args[i]}'");
            }
        if (url is null || token is null || (volumes.Count > 0 && p2v is null)) throw new ArgumentException("load: --controller, --token (and --p2v with --volume) are needed");
        if (volumes.Count > agents) throw new ArgumentException($"load: {volumes.Count} captures need at least as many agents (their jobs' tokens)");

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds + 600));
        var cancel = stop.Token;

        // 1. Devices and jobs through the admin API, as `p2v device add --control` and `p2v job create` make them.
        var clock = Stopwatch.StartNew();
        var jobs = new List<(long Id, string Image, string Token)>();
        using (var admin = new AdminClient(url, token))
        {
            string run = DateTime.UtcNow.ToString("HHmmss", CultureInfo.InvariantCulture);
            for (int i = 0; i < agents; i++)
            {
                string mac = $"02:10:{i >> 16 & 0xff:x2}:{i >> 8 & 0xff:x2}:{i & 0xff:x2}:{Random.Shared.Next(256):x2}";
                await admin.AddDeviceAsync(new DeviceRequest(mac, $"load-{i}", Controlled: true), cancel);
                var created = await admin.CreateJobAsync(new JobRequest(mac, JobKind.Capture, $"load-{run}-{i}"), cancel);
                jobs.Add((created.Job.Id, created.Job.Image!, created.Token));
            }
        }
        var setup = clock.Elapsed;
        Console.WriteLine($"load: {agents} devices and capture jobs created through the admin API in {setup.TotalSeconds:F1} s");

        // 2. The console's live view, connected before anything moves.
        using var console = new ConsoleStream(url, token);
        using var streamStop = new CancellationTokenSource();
        var stream = console.RunAsync(streamStop.Token);
        await Task.WhenAny(console.Connected, stream);
        if (stream.IsCompleted) await stream;

        // 3. The agents: each with its own connection (SocketsHttpHandler), as N machines would be.
        var traffic = new AgentTraffic();
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var claims = jobs.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var running = jobs.Select((j, i) => Guard(new SimulatedAgent(new Uri(url), j.Token, traffic).RunAsync(claims[i], finish.Task, cancel), traffic, $"agent of job {j.Id}")).ToArray();
        await Task.WhenAny(Task.WhenAll(claims.Select(c => c.Task)), Task.WhenAll(running));
        Console.WriteLine($"load: {claims.Count(c => c.Task.IsCompleted)} agents claimed their jobs; {volumes.Count} captures start");

        // 4. The captures, at once, each as the agent of one job; the agents report for --seconds, and on while a capture runs.
        var window = Stopwatch.StartNew();
        long requestsBefore = traffic.LatenciesMs.Count;
        var captures = volumes.Select((v, i) => CaptureAsync(p2v!, v, url, jobs[i].Image, jobs[i].Token, cancel)).ToArray();
        var capturesDone = Task.WhenAll(captures);
        await Task.WhenAll(Task.Delay(TimeSpan.FromSeconds(seconds), cancel), capturesDone.ContinueWith(_ => { }, TaskScheduler.Default));
        var capturesWall = captures.Length > 0 ? captures.Max(c => c.Result.Ended) : TimeSpan.Zero;
        var windowSeconds = window.Elapsed.TotalSeconds;
        long requestsInWindow = traffic.LatenciesMs.Count - requestsBefore;
        finish.SetResult();
        await Task.WhenAll(running);

        // 5. The stream must show every job's end, and every progress report the controller accepted.
        var drain = Stopwatch.StartNew();
        while (console.Count(s => s == JobState.Succeeded) < agents && drain.Elapsed < TimeSpan.FromSeconds(20) && !stream.IsCompleted)
            await Task.Delay(100, cancel);
        await streamStop.CancelAsync();
        await stream;

        // Figures.
        var latencies = traffic.LatenciesMs.Order().ToArray();
        var sent = traffic.ProgressSent;
        var seen = console.ProgressSeen;
        var lost = sent.Keys.Where(k => !seen.ContainsKey(k)).ToList();
        var lagMs = sent.Where(s => seen.ContainsKey(s.Key)).Select(s => Stopwatch.GetElapsedTime(s.Value, seen[s.Key]).TotalMilliseconds).Order().ToArray();
        var failures = traffic.Failures.Concat(captures.Where(c => c.Result.Error is not null).Select(c => c.Result.Error!)).ToList();
        long usedBytes = captures.Sum(c => c.Result.BytesRead), sentBytes = captures.Sum(c => c.Result.BytesSent);

        Console.WriteLine($"load: {agents} agents, {volumes.Count} captures, {windowSeconds:F1} s under load (captures took {capturesWall.TotalSeconds:F1} s)");
        Console.WriteLine($"  failed requests:           {failures.Count}");
        foreach (var f in failures.Take(10)) Console.WriteLine($"    {f}");
        Console.WriteLine($"  progress reports sent:     {sent.Count}, shown on the event stream: {sent.Count - lost.Count} (lost {lost.Count}); {console.Events} events in all");
        Console.WriteLine($"  event stream delay:        p50 {Pct(lagMs, 50):F0} ms, p99 {Pct(lagMs, 99):F0} ms, max {(lagMs.Length > 0 ? lagMs[^1] : 0):F0} ms (report sent → shown)");
        Console.WriteLine($"  agent API:                 {requestsInWindow / windowSeconds:F0} requests/s under load ({latencies.Length} requests in all), latency p50 {Pct(latencies, 50):F1} ms, p99 {Pct(latencies, 99):F1} ms, max {(latencies.Length > 0 ? latencies[^1] : 0):F0} ms");
        if (volumes.Count > 0)
            Console.WriteLine($"  store ingest:              {usedBytes / capturesWall.TotalSeconds / 1e6:F0} MB/s of used data aggregate ({usedBytes >> 20} MiB read, {sentBytes >> 20} MiB sent, {volumes.Count} at once, {capturesWall.TotalSeconds:F1} s)");
        // One line for bench/compare to gather over its runs.
        Console.WriteLine(FormattableString.Invariant(
            $"LOAD failed={failures.Count} sent={sent.Count} lost={lost.Count} rps={requestsInWindow / windowSeconds:F0} p50={Pct(latencies, 50):F1} p99={Pct(latencies, 99):F1} lag99={Pct(lagMs, 99):F0} ingest={(capturesWall > TimeSpan.Zero ? usedBytes / capturesWall.TotalSeconds / 1e6 : 0):F0} seconds={windowSeconds:F1}"));
        return failures.Count == 0 && lost.Count == 0 ? 0 : 1;
    }

    private static double Pct(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p / 100 * sorted.Length) - 1)];

    private static async Task Guard(Task agent, AgentTraffic traffic, string who)
    {
        try { await agent; }
        catch (Exception e) { traffic.Failed($"{who}: {e.GetType().Name}: {e.Message}"); }
    }

    private sealed record CaptureResult(TimeSpan Ended, long BytesRead, long BytesSent, string? Error);

    /// <summary>`p2v capture VOLUME --store URL --name IMAGE --token JOB_TOKEN --json`: the JSON summary's byte counts.</summary>
    private static async Task<CaptureResult> CaptureAsync(string p2v, string volume, string url, string image, string jobToken, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        var psi = new ProcessStartInfo(p2v) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "capture", volume, "--store", url, "--name", image, "--token", jobToken, "--json" }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancel);
        var stderr = process.StandardError.ReadToEndAsync(cancel);
        await process.WaitForExitAsync(cancel);
        var ended = clock.Elapsed;
        if (process.ExitCode != 0) return new(ended, 0, 0, $"p2v capture {volume}: exit {process.ExitCode}: {(await stderr).Trim()}");
        using var summary = JsonDocument.Parse(await stdout);
        return new(ended, summary.RootElement.GetProperty("bytesRead").GetInt64(), summary.RootElement.GetProperty("bytesSent").GetInt64(), null);
    }
}
