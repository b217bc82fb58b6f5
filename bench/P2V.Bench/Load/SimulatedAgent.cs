using P2V.Agent;
using P2V.Imaging.Pipeline;

namespace P2V.Bench.Load;

/// <summary>
/// One boot agent as `p2v agent` behaves towards the controller, with the agent's own client and progress reporter:
/// it claims its job with the job's token, feeds the reporter a pipeline's progress ten times a second (the
/// reporter sends at most one report a second and posts the log every ten), and at the end sends the phase's last
/// report and completes the job.
/// </summary>
internal sealed class SimulatedAgent(Uri controller, string token, AgentTraffic traffic)
{
    private const long Total = 64L << 30;

    public async Task RunAsync(TaskCompletionSource claimed, Task stop, CancellationToken cancel)
    {
        using var client = new ControllerClient(controller, token, note => { }, traffic.Handler()) { Patience = TimeSpan.FromMinutes(2) };
        // Machines boot over a second or so, not in one instant.
        await Task.Delay(Random.Shared.Next(1000), cancel);
        var job = await client.GetJobAsync(cancel);
        claimed.TrySetResult();
        var log = new AgentLog(TextWriter.Null);
        var reporter = new ProgressReporter(client, log, job.Id, "capture", cancel);
        // A capture at 40-120 MB/s; every report carries new bytes, so each is a change the console must show.
        long rate = Random.Shared.Next(40, 120) * 1_000_000L, done = 0;
        using var tick = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (!stop.IsCompleted && await tick.WaitForNextTickAsync(cancel))
        {
            done = Math.Min(Total, done + rate / 10);
            reporter.Report(new PipelineProgress(done, Total, done));
        }
        await reporter.FinishAsync(done + 1, Total, "captured");
        await client.CompleteAsync(job.Id, succeeded: true, error: null, cancel);
    }
}
