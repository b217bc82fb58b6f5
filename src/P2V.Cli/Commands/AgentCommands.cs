using System.CommandLine;
using P2V.Agent;

namespace P2V.Cli.Commands;

/// <summary>p2v agent: the capture/deploy agent inside the boot images (docs/boot-images.md, docs/agent-protocol.md), started by /init.</summary>
public static class AgentCommands
{
    public static void AddTo(RootCommand root)
    {
        var cmdline = new Option<string>("--cmdline")
        {
            Description = "The kernel command line to read p2v.controller, p2v.token, p2v.job, p2v.role, p2v.mac and p2v.selftest from",
            HelpName = "FILE",
            DefaultValueFactory = _ => BootArguments.ProcCmdline,
        };
        var waitReset = new Option<bool>("--wait-reset") { Description = "Only wait for the device's next job (after a failed deploy, until the reset job)" };
        var reportCrash = CliOptions.Int("--report-crash", "Only tell the controller that the agent ended with this status before it could report (run by /init)", 2, 255, "STATUS");
        var sysRoot = new Option<string>("--root") { Description = "Where sysfs, procfs and /dev are found", HelpName = "DIR", DefaultValueFactory = _ => "/" };
        var command = new Command("agent", "Run the boot image's agent: get this machine's job from the controller, run it, report (started by the boot image's /init)")
            { cmdline, waitReset, reportCrash, sysRoot };
        command.SetAction((r, cancel) => RunAsync(r.GetValue(cmdline)!, r.GetValue(waitReset), r.GetResult(reportCrash) is null ? null : r.GetValue(reportCrash),
            r.GetValue(sysRoot)!, cancel));
        root.Add(command);
    }

    private static async Task<int> RunAsync(string cmdline, bool waitReset, int? crashStatus, string root, CancellationToken cancel)
    {
        BootArguments boot;
        try { boot = BootArguments.Read(cmdline); }
        catch (FormatException e) { throw new UsageException(e.Message); }
        var agent = new BootAgent(boot, root, Console.Out);
        if (crashStatus is { } status) return await agent.ReportCrashAsync(status, cancel);
        return waitReset ? await agent.WaitForResetAsync(cancel) : await agent.RunAsync(cancel);
    }
}
