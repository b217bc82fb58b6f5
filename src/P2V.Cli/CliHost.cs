using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace P2V.Cli;

/// <summary>
/// Parses the command line with System.CommandLine, runs the command, and turns every failure into a one-line
/// reason on standard error: exit 2 for a wrong command line, 1 for a command that failed.
/// </summary>
public static class CliHost
{
    public const int ExitFailure = 1, ExitUsage = 2;

    /// <summary>The `p2v` root: with no command it prints the command list and exits 2.</summary>
    public static RootCommand CreateRoot()
    {
        var root = new RootCommand("p2v — physical-to-virtual migration toolkit");
        root.SetAction(r =>
        {
            new HelpAction().Invoke(r);
            return ExitUsage;
        });
        return root;
    }

    /// <summary>The command group <paramref name="name"/> (e.g. "image"), made on first use: several files may add subcommands to one group.</summary>
    public static Command Group(Command parent, string name, string description)
    {
        var group = parent.Subcommands.FirstOrDefault(c => c.Name == name);
        if (group is null)
        {
            group = new Command(name, description);
            group.SetAction(r =>
            {
                new HelpAction().Invoke(r);
                return ExitUsage;
            });
            parent.Add(group);
        }
        return group;
    }

    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            Console.Error.WriteLine($"{Path(parse.CommandResult)}: {UsageError(parse)} ({Path(parse.CommandResult)} --help shows usage)");
            return ExitUsage;
        }
        string name = Path(parse.CommandResult);
        try
        {
            // Ctrl-C and SIGTERM cancel the token the command gets; the command stops at its next await.
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"{name}: {e.Message} ({Path(parse.CommandResult)} --help shows usage)");
            return ExitUsage;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"{name}: cancelled");
            return ExitFailure;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException
                                      or InvalidOperationException or ArgumentException)
        {
            Console.Error.WriteLine($"{name}: {OneLine(e.Message)}");
            return ExitFailure;
        }
    }

    /// <summary>The first thing wrong with the command line, in one line, with a suggestion for a mistyped word.</summary>
    private static string UsageError(ParseResult parse)
    {
        var result = parse.CommandResult;
        var command = result.Command;
        if (parse.UnmatchedTokens.Count > 0)
        {
            string token = parse.UnmatchedTokens[0];
            if (token.StartsWith('-'))
                return $"unknown option {token}" + Suggest(token, command.Options.Where(o => !o.Hidden).SelectMany(o => o.Aliases.Prepend(o.Name)));
            if (command.Subcommands.Count > 0 && result.Tokens.Count == 0)
                return $"unknown command '{token}'" + Suggest(token, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));
            return $"unexpected argument '{token}'";
        }
        foreach (var argument in command.Arguments)
            if (argument.Arity.MinimumNumberOfValues > 0 && (parse.GetResult(argument) is not { } a || a.Tokens.Count == 0))
                return $"missing argument <{argument.Name}>";
        foreach (var option in command.Options)
            if (option.Required && parse.GetResult(option) is not { Implicit: false, IdentifierTokenCount: > 0 })
                return $"missing option {option.Name}";
        if (command.Subcommands.Count > 0 && parse.Errors.Any(e => e.SymbolResult == result))
            return $"missing command: {string.Join(", ", command.Subcommands.Select(c => c.Name))}";
        return OneLine(parse.Errors[0].Message);
    }

    /// <summary>"; did you mean 'x'?" for the closest candidate within a couple of edits, else nothing.</summary>
    internal static string Suggest(string word, IEnumerable<string> candidates)
    {
        var best = candidates.Distinct().Select(c => (c, d: EditDistance(word, c))).Where(x => x.d <= Math.Max(2, x.c.Length / 3))
            .OrderBy(x => x.d).ThenBy(x => x.c, StringComparer.Ordinal).FirstOrDefault();
        return best.c is null ? "" : $"; did you mean '{best.c}'?";
    }

    private static int EditDistance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    /// <summary>"p2v image info" for the command that was parsed.</summary>
    private static string Path(CommandResult result)
    {
        var words = new List<string>();
        for (SymbolResult? r = result; r is CommandResult c; r = r.Parent)
            words.Insert(0, c.Parent is null ? "p2v" : c.Command.Name);
        return string.Join(' ', words);
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

/// <summary>The command line was wrong in a way its parser cannot see (options that exclude each other); the message says how.</summary>
public sealed class UsageException(string message) : Exception(message);
