using System.Text.Json;

namespace P2V.Agent.Tests;

/// <summary>
/// The capture agent survives a crash of the controller and its store in the middle of the transfer: `p2v server` is
/// killed (-9) while `p2v agent` sends the disk, and started again on the same data folder and port; the agent
/// resumes, the store keeps the chunks it had, the job succeeds, and the image restores to the disk's bytes.
/// </summary>
public sealed class CaptureRestartAgentTests : IDisposable
{
    // Incompressible bytes with no partition table are all captured (nothing to skip): a transfer of some seconds.
    private const long DiskBytes = 768L << 20;
    private readonly HostAgent _host = new();

    public void Dispose() => _host.Dispose();

    [SkippableFact]
    public void A_capture_resumes_after_the_controller_and_store_are_killed_mid_transfer()
    {
        Requires.Tool("curl");
        Requires.Tool("cmp");
        var content = _host.File("disk.img");
        ExternalTool.Run("sh", "-c", $"head -c {DiskBytes} /dev/urandom > '{content}'");
        var (root, disk) = _host.Machine(DiskBytes, content);
        HostAgent.Ok(_host.P2v("device", "add", HostAgent.Mac, "--control", "--name", "SRC"));
        var job = _host.CreateJob("--kind", "capture", "--image", "SRC");
        var output = new List<string>();
        var agent = _host.Agent(root, job.Token, "capture", output);

        // The transfer under way: the job's progress shows the capture's first bytes.
        var (done, total) = (0L, 0L);
        for (var until = DateTime.UtcNow.AddMinutes(3); DateTime.UtcNow < until && !agent.HasExited; Thread.Sleep(100))
        {
            var progress = JsonDocument.Parse(HostAgent.Ok(_host.Curl($"/api/jobs/{job.Id}"))).RootElement.GetProperty("progress");
            (done, total) = (progress.GetProperty("bytesDone").GetInt64(), progress.GetProperty("bytesTotal").GetInt64());
            if (progress.GetProperty("phase").GetString() is { } phase && phase.StartsWith("capture", StringComparison.Ordinal) && done > 0) break;
        }
        Assert.True(done > 0 && done < total, $"the capture was not under way when the server was to be killed ({done} of {total} bytes)\n{Lines(output)}");
        _host.KillServer();
        Thread.Sleep(3000);
        _host.StartServer();

        var wait = _host.P2v("job", "wait", job.Id.ToString());
        Assert.True(wait.ExitCode == 0, $"{wait.StdOut}{wait.StdErr}\n{Lines(output)}");
        Assert.True(agent.WaitForExit(60_000), "the agent did not end after its job");
        Assert.Equal(0, agent.ExitCode);
        // It did have to resume: the transfer broke off, and the agent said so.
        Assert.Contains("starting again", Lines(output));

        var restored = _host.File("restored.img");
        HostAgent.Ok(_host.P2v("restore", $"{_host.Controller}/images/SRC", restored));
        var same = ExternalTool.Try("cmp", disk, restored);
        Assert.True(same.ExitCode == 0, same.StdOut + same.StdErr);
    }

    private static string Lines(List<string> output)
    {
        lock (output) return string.Join('\n', output);
    }
}
