using System.Security.Cryptography;

namespace P2V.Cli.Tests.Hostile;

/// <summary>The promises README.md states for bad input, as assertions on one run of p2v.</summary>
public static class Promise
{
    private const long MemoryBoundKiB = 1L << 20; // 1 GiB: the pipelines' windows are a few dozen MiB

    /// <summary>Exit 0, or exit 1 with exactly one line `p2v COMMAND: reason` naming where; no crash, no stack trace; memory bounded.</summary>
    public static P2vRun Expect(string what, P2vRun run, bool mustSucceed = false)
    {
        string context = $"{what}\n{run.Describe()}";
        Assert.True(run.ExitCode is 0 or 1, $"crashed or exited oddly: {context}");
        Assert.DoesNotContain("Unhandled exception", run.StdErr);
        Assert.DoesNotContain("   at ", run.StdErr);
        Assert.True(run.PeakKiB < MemoryBoundKiB, $"used {run.PeakKiB} KiB: {context}");
        if (mustSucceed) Assert.True(run.ExitCode == 0, context);
        if (run.ExitCode != 0)
        {
            Assert.True(run.ErrorLines.Count == 1, $"expected one reason line: {context}");
            var reason = run.ErrorLines[0];
            // "Where": an offset, a size or a name in the reason.
            Assert.True(reason.Any(char.IsDigit) || reason.Contains(Path.GetFileName(run.Args[^1])), $"the reason does not say where: {context}");
        }
        return run;
    }

    /// <summary>A command that creates <paramref name="output"/>: on failure neither it nor its .partial exists.</summary>
    public static P2vRun ExpectNewFile(string what, string output, P2vRun run)
    {
        Expect(what, run);
        if (run.ExitCode != 0)
        {
            Assert.False(File.Exists(output), $"{output} left behind after a failure: {what}\n{run.Describe()}");
            Assert.False(File.Exists(output + ".partial"), $"{output}.partial left behind after a failure: {what}\n{run.Describe()}");
        }
        return run;
    }

    /// <summary>A command that writes into an existing <paramref name="target"/> (a copy of <paramref name="original"/>): a refusal changes none of its bytes.</summary>
    public static void ExpectUntouchedOnFailure(string what, string target, string original, Func<string, P2vRun> command)
    {
        ExternalTool.Run("cp", "--sparse=always", original, target);
        var before = Hash(target);
        var run = Expect(what, command(target));
        if (run.ExitCode != 0) Assert.True(before == Hash(target), $"the refused target changed: {what}\n{run.Describe()}");
    }

    public static string Hash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }
}
