using System.Diagnostics;
using P2V.Imaging.Pipeline;

namespace P2V.Agent;

/// <summary>
/// Turns a pipeline's progress into the controller's progress reports (bytes, MB/s, ETA): at most one request a
/// second (docs/agent-protocol.md), never more than one in flight, and never holding the pipeline up.
/// </summary>
public sealed class ProgressReporter(ControllerClient controller, AgentLog log, long job, string phase, CancellationToken cancel)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _lastSent = TimeSpan.FromSeconds(-1), _lastLogged;
    private Task _inFlight = Task.CompletedTask;

    public void Report(PipelineProgress p) => Send(p.BytesDone, p.BytesTotal, null, final: false);

    /// <summary>The last report of a phase, awaited.</summary>
    public Task FinishAsync(long bytesDone, long bytesTotal, string message)
    {
        Send(bytesDone, bytesTotal, message, final: true);
        return _inFlight;
    }

    private void Send(long done, long total, string? message, bool final)
    {
        var now = _clock.Elapsed;
        if (!final && (now - _lastSent < TimeSpan.FromSeconds(1) || !_inFlight.IsCompleted)) return;
        _lastSent = now;
        double rate = now.TotalSeconds > 0 ? done / now.TotalSeconds : 0;
        double? eta = rate > 0 && total >= done ? (total - done) / rate : null;
        if (final || now - _lastLogged >= TimeSpan.FromSeconds(10))
        {
            _lastLogged = now;
            log.Write($"{phase}: {done >> 20} of {total >> 20} MiB, {rate / 1e6:F1} MB/s{(eta is { } e && !final ? $", {e:F0} s left" : "")}{(message is null ? "" : ", " + message)}");
        }
        var report = new AgentProgress(phase, done, total, rate, eta, message);
        var previous = _inFlight;
        _inFlight = SendAsync(previous, report);
    }

    private async Task SendAsync(Task previous, AgentProgress report)
    {
        await previous;
        try
        {
            await controller.ProgressAsync(job, report, cancel);
            await log.FlushAsync(controller, job, cancel);
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            // Progress is advisory: the controller learns the outcome from complete, which is retried for as long as it takes.
        }
    }
}
