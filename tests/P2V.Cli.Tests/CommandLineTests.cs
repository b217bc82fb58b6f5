namespace P2V.Cli.Tests;

/// <summary>The command line itself: help for every command, suggestions, and option values refused in one line before any work.</summary>
public sealed class CommandLineTests
{
    private static ExternalTool.Result P2v(params string[] args) => P2vProcess.Run(args);

    /// <summary>The command names listed under "Commands:" in a help text.</summary>
    private static List<string> Subcommands(string help) =>
        help.Split('\n').SkipWhile(l => !l.StartsWith("Commands:", StringComparison.Ordinal)).Skip(1)
            .TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)).Select(l => l.Trim().Split(' ')[0]).ToList();

    [Fact]
    public void EveryCommandHasHelpWithADescriptionForEachOption()
    {
        var pending = new Queue<string[]>([[]]);
        int commands = 0;
        while (pending.TryDequeue(out var path))
        {
            var r = P2v([.. path, "--help"]);
            Assert.True(r.ExitCode == 0, $"p2v {string.Join(' ', path)} --help: {r.StdErr}");
            Assert.Contains("Usage:", r.StdOut);
            var description = r.StdOut.Split('\n').SkipWhile(l => !l.StartsWith("Description:", StringComparison.Ordinal)).Skip(1).FirstOrDefault();
            Assert.False(string.IsNullOrWhiteSpace(description), $"p2v {string.Join(' ', path)} has no description");
            // Every option and argument row has a second column: what it is for.
            foreach (var row in r.StdOut.Split('\n').SkipWhile(l => !l.StartsWith("Options:", StringComparison.Ordinal)).Skip(1)
                         .TakeWhile(l => l.StartsWith("  ", StringComparison.Ordinal)))
                Assert.True(row.Trim().Contains("  ", StringComparison.Ordinal), $"p2v {string.Join(' ', path)}: option without a description: {row}");
            foreach (var sub in Subcommands(r.StdOut)) pending.Enqueue([.. path, sub]);
            commands++;
        }
        Assert.True(commands >= 15, $"only {commands} commands found");
    }

    [Fact]
    public void NoArgumentsPrintsTheCommandsAndFails()
    {
        var r = P2v();
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("capture", r.StdOut);
        Assert.Contains("restore", r.StdOut);
    }

    [Theory]
    [InlineData(new[] { "captur", "disk.img" }, "did you mean 'capture'")]
    [InlineData(new[] { "image", "verfy", "x.p2v" }, "did you mean 'verify'")]
    [InlineData(new[] { "disk", "info", "x.img", "--jsno" }, "did you mean '--json'")]
    public void AMistypedWordGetsASuggestion(string[] args, string suggestion)
    {
        var r = P2v(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(suggestion, P2vProcess.OneLine(r));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("100000")]
    [InlineData("four")]
    public void WorkersOutsideOneToFourTimesTheCoresAreRefused(string workers)
    {
        foreach (var command in new[] { new[] { "capture", "/dev/null", "-o", "-" }, ["restore", "x.p2v", "y.img"], ["image", "verify", "x.p2v"] })
        {
            var r = P2v([.. command, "--workers", workers]);
            Assert.Equal(2, r.ExitCode);
            var line = P2vProcess.OneLine(r);
            Assert.Contains("--workers", line);
            Assert.Contains(workers, line);
            Assert.Equal("", r.StdOut);
        }
    }

    [Fact]
    public void WorkersUpToFourTimesTheCoresAreAccepted()
    {
        // The parse succeeds, so the command goes on to the missing image and says that instead.
        var r = P2v("image", "verify", "/nonexistent/x.p2v", "--workers", (4 * Environment.ProcessorCount).ToString());
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("x.p2v", P2vProcess.OneLine(r));
    }

    [Fact]
    public void SectorSizeOtherThan512Or4096IsOneLine()
    {
        var r = P2v("disk", "create", "/nonexistent/x.vhdx", "--size", "1G", "--format", "vhdx", "--sector-size", "1000");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--sector-size must be 512 or 4096", P2vProcess.OneLine(r));
    }

    [Fact]
    public void MissingArgumentsAndOptionsAreNamed()
    {
        Assert.Contains("missing argument <target>", P2vProcess.OneLine(P2v("restore", "x.p2v")));
        Assert.Contains("missing option --format", P2vProcess.OneLine(P2v("disk", "create", "x.img", "--size", "1G")));
        Assert.Contains("missing option --output", P2vProcess.OneLine(P2v("capture", "x.img")));
    }

    [Fact]
    public void OptionsThatExcludeEachOtherAreRefused()
    {
        var r = P2v("disk", "create", "/nonexistent/x.img", "--size", "1M", "--format", "raw", "--preallocate", "--zero-fill");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("exclude each other", P2vProcess.OneLine(r));
        r = P2v("restore", "/nonexistent/x.p2v", "/nonexistent/x.img", "--direct-writes", "--buffered-writes");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--direct-writes and --buffered-writes exclude each other", P2vProcess.OneLine(r));
    }

    [Theory]
    [InlineData("job", "create", "52:54:00:00:00:01", "--kind", "deploy", "--image", "x", "--fixup-target", "qemu", "--patches", "ftp://h/p.tar")]
    [InlineData("createvm", "/nonexistent/plan.json", "--patches", "patches.tar")]
    public void APatchLibraryThatIsNoHttpUrlIsRefusedBeforeAnythingElse(params string[] args)
    {
        var r = P2v(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("is not an http URL (the agent fetches the tar from it)", P2vProcess.OneLine(r));
    }
}
