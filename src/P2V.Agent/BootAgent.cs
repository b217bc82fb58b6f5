namespace P2V.Agent;

/// <summary>
/// `p2v agent`: reads what the boot script put on the kernel command line, asks the controller for this
/// machine's job, runs it and reports (docs/agent-protocol.md). Exit 0: the job is done (/init powers a capture
/// source off, reboots a deploy target that got its reset job); otherwise the failure has reached the controller
/// when it could, and /init powers off or waits for the reset job.
/// </summary>
public sealed class BootAgent(BootArguments boot, string root, TextWriter console)
{
    private readonly AgentLog _log = new(console);

    /// <summary>How long the first request keeps trying before the machine gives up (and /init powers it off).</summary>
    public TimeSpan FirstContactPatience { get; init; } = TimeSpan.FromMinutes(10);

    public async Task<int> RunAsync(CancellationToken cancel)
    {
        if (boot.SelfTest)
        {
            console.WriteLine(SelfTest.Line(root));
            return 0;
        }
        if (Connect() is not { } controller) return 1;
        using (controller)
        {
            _log.Write($"agent {SelfTest.Version}: role {boot.Role ?? "-"}, mac {boot.Mac ?? "-"}, controller {controller.BaseAddress}");
            AgentJob job;
            try
            {
                using var first = new ControllerClient(boot.Controller!, boot.Token!, _log.Write) { Patience = FirstContactPatience };
                job = await first.GetJobAsync(cancel);
            }
            catch (Exception e) when (e is IOException or ControllerRefusedException or HttpRequestException or System.Text.Json.JsonException)
            {
                _log.Write($"cannot get the job: {e.Message}");
                // A claim whose answer was lost leaves the job claimed: /init's --report-crash fails it.
                return FailedUnreported;
            }
            if (await RunJobAsync(controller, boot.Token!, job, cancel) is var failed and not 0) return failed;
            return job.Kind == "deploy" ? await WaitForResetAsync(controller, job.Id, cancel) : 0;
        }
    }

    /// <summary>`p2v agent --wait-reset`: after a failure, a deploy target waits here for the controller's next job.</summary>
    public async Task<int> WaitForResetAsync(CancellationToken cancel)
    {
        if (Connect() is not { } controller) return 1;
        using (controller)
            return await WaitForResetAsync(controller, long.TryParse(boot.JobId, out long id) ? id : 0, cancel);
    }

    /// <summary>
    /// `p2v agent --report-crash STATUS`: the agent process ended (an abort, a signal) before it could report; the
    /// job named on the kernel command line is completed as failed, unless it has ended already (then 4xx, ignored).
    /// </summary>
    public async Task<int> ReportCrashAsync(int status, CancellationToken cancel)
    {
        if (!long.TryParse(boot.JobId, out long id))
        {
            _log.Write("the kernel command line names no job (p2v.job=); nothing to report");
            return 1;
        }
        if (Connect(TimeSpan.FromMinutes(2)) is not { } controller) return 1;
        using (controller)
        {
            string why = status > 128 ? $"the agent was killed by signal {status - 128}{(status == 134 ? " (it aborted)" : "")}" : $"the agent ended with status {status}";
            try
            {
                await controller.CompleteAsync(id, false, why + "; its last lines are on the machine's console", cancel);
                _log.Write($"job {id}: failed: {why}");
            }
            catch (ControllerRefusedException e) { _log.Write($"job {id}: {e.Message}"); }
            catch (IOException e)
            {
                _log.Write($"job {id}: the crash could not be reported: {e.Message}");
                return 1;
            }
            return 0;
        }
    }

    private ControllerClient? Connect(TimeSpan? patience = null)
    {
        if (boot.Controller is null || boot.Token is null)
        {
            _log.Write("the kernel command line names no controller (p2v.controller= and p2v.token=); nothing to do");
            return null;
        }
        return new ControllerClient(boot.Controller, boot.Token, _log.Write) { Patience = patience ?? ControllerClient.DefaultPatience };
    }

    /// <summary>
    /// Exit codes /init acts on: 0 the job is done; <see cref="Failed"/> it failed and the controller knows;
    /// <see cref="FailedUnreported"/> it failed and the controller could not be told (/init then runs --report-crash).
    /// </summary>
    public const int Failed = 1, FailedUnreported = 3;

    /// <summary>Runs one job's steps and tells the controller how it ended: 0, <see cref="Failed"/> or <see cref="FailedUnreported"/>.</summary>
    private async Task<int> RunJobAsync(ControllerClient controller, string token, AgentJob job, CancellationToken cancel)
    {
        _log.Write($"job {job.Id}: {job.Kind} for {job.DeviceMac}{(job.Image is null ? "" : ", image " + job.Image)}");
        try
        {
            var context = new JobContext(job, controller, token, _log, root);
            var steps = job.Steps is { Count: > 0 } s ? s : DefaultSteps(job.Kind);
            var fixup = new FixupStep(context);
            if (steps.Contains("fixup")) await fixup.PrepareAsync(cancel);
            foreach (var step in steps)
            {
                _log.Write($"job {job.Id}: step {step}");
                switch (step)
                {
                    case "gather": await new InventoryStep(context).RunAsync(cancel); break;
                    case "capture": await new CaptureStep(context).RunAsync(cancel); break;
                    case "deploy": await new DeployStep(context).RunAsync(cancel); break;
                    case "fixup": await fixup.RunAsync(cancel); break;
                    case "boot-local-disk": _log.Write("reset: the machine boots from its own disk next"); break;
                    default: throw new NotSupportedException($"step '{step}' is not one this agent runs (gather, capture, deploy, fixup, boot-local-disk)");
                }
                // The step's buffers (store batches, the sink's pool) are garbage now: give their memory back to the
                // kernel before the next step allocates its own (the fix-up at -m 128 was OOM-killed holding the restore's).
                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            }
            await _log.FlushAsync(controller, job.Id, cancel);
            await controller.CompleteAsync(job.Id, true, null, cancel);
            _log.Write($"job {job.Id}: done");
            return 0;
        }
        catch (Exception e) when (!cancel.IsCancellationRequested)
        {
            string error = e is IOException or InvalidDataException or NotSupportedException or ControllerRefusedException
                ? e.Message : $"{e.GetType().Name}: {e.Message}";
            _log.Write($"job {job.Id}: failed: {error}");
            if (e is not (IOException or InvalidDataException or NotSupportedException or ControllerRefusedException)) _log.Write(e.ToString());
            try
            {
                await _log.FlushAsync(controller, job.Id, cancel);
                await controller.CompleteAsync(job.Id, false, error, cancel);
            }
            catch (Exception report) when (report is IOException or ControllerRefusedException or HttpRequestException)
            {
                _log.Write($"the failure could not be reported: {report.Message}");
                return FailedUnreported;
            }
            return Failed;
        }
    }

    /// <summary>The task sequence of a job kind when the controller sends none (docs/controller.md, "Jobs").</summary>
    private static IReadOnlyList<string> DefaultSteps(string kind) => kind switch
    {
        "capture" => ["gather", "capture"],
        "deploy" => ["deploy", "fixup"],
        "reset" => ["boot-local-disk"],
        _ => throw new NotSupportedException($"job kind '{kind}' with no steps"),
    };

    /// <summary>
    /// A deployed (or failed) target stays controlled: it long-polls for the device's next job; a reset job is
    /// completed and the agent returns 0 so /init reboots from the disk. Another deploy job is run.
    /// </summary>
    private async Task<int> WaitForResetAsync(ControllerClient controller, long after, CancellationToken cancel)
    {
        _log.Write("waiting for the controller's next job (a reset job boots this machine from its disk)");
        while (true)
        {
            AgentJob? next;
            try { next = await controller.NextJobAsync(after, cancel); }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                _log.Write($"controller unreachable ({e.Message}); still waiting");
                await Task.Delay(TimeSpan.FromSeconds(10), cancel);
                continue;
            }
            if (next is null) continue;
            after = next.Id;
            if (next.Token is null)
            {
                _log.Write($"job {next.Id} came without its token; cannot take it");
                continue;
            }
            // The new job's own token; its first use claims the job.
            string token = next.Token;
            using var own = new ControllerClient(boot.Controller!, token, _log.Write);
            try { next = await own.GetJobAsync(cancel); }
            catch (ControllerRefusedException e)
            {
                _log.Write($"job {next.Id}: {e.Message}");
                continue;
            }
            if (await RunJobAsync(own, token, next, cancel) == 0 && next.Kind == "reset") return 0;
        }
    }
}
