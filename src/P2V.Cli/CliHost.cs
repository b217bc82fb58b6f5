namespace P2V.Cli;

/// <summary>Finds the command, runs it, and turns every failure into a one-line reason and a non-zero exit.</summary>
public static class CliHost
{
    public const int ExitFailure = 1, ExitUsage = 2;

    public static async Task<int> RunAsync(CommandTable table, string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintHelp(table);
            return args.Length == 0 ? ExitUsage : 0;
        }
        var (command, rest) = table.Find(args);
        if (command == null)
        {
            Console.Error.WriteLine($"p2v: unknown command '{string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(2))}' (p2v --help lists them)");
            return ExitUsage;
        }
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            Console.WriteLine($"usage: p2v {command.Name} {command.Usage}\n\n{command.Summary}");
            return 0;
        }
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        try
        {
            var parsed = new CommandArgs(rest, command.Flags.ToHashSet());
            return await command.Run(parsed, cts.Token);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"p2v {command.Name}: {e.Message}\nusage: p2v {command.Name} {command.Usage}");
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"p2v {command.Name}: cancelled");
            return ExitFailure;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"p2v {command.Name}: {e.Message}");
            return ExitFailure;
        }
    }

    private static void PrintHelp(CommandTable table)
    {
        Console.WriteLine("p2v — physical-to-virtual migration toolkit\n\ncommands:");
        foreach (var c in table.Commands)
            Console.WriteLine($"  {c.Name,-18} {c.Summary}");
        Console.WriteLine("\np2v COMMAND --help shows a command's usage.");
    }
}
