using P2V.Agent;

namespace P2V.Cli.Commands;

/// <summary>p2v agent: the capture/deploy agent inside the boot images (docs/agent-protocol.md), started by /init.</summary>
public static class AgentCommands
{
    public static void Register(CommandTable table)
    {
        table.Add(new Command("agent", "Run the boot image's agent: get this machine's job from the controller, run it, report (started by the boot image's /init)",
            "[--cmdline FILE] [--wait-reset] [--root DIR]", ["wait-reset"], RunAsync));
    }

    private static async Task<int> RunAsync(CommandArgs a, CancellationToken cancel)
    {
        string cmdline = a.Option("cmdline") ?? BootArguments.ProcCmdline;
        bool waitReset = a.Flag("wait-reset");
        string root = a.Option("root") ?? "/";
        a.EnsureAllUsed();
        BootArguments boot;
        try { boot = BootArguments.Read(cmdline); }
        catch (FormatException e) { throw new UsageException(e.Message); }
        var agent = new BootAgent(boot, root, Console.Out);
        return waitReset ? await agent.WaitForResetAsync(cancel) : await agent.RunAsync(cancel);
    }
}
