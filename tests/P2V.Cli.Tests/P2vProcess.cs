namespace P2V.Cli.Tests;

/// <summary>Runs the built `p2v` as a user would: a separate process, its exit code, its standard output and error.</summary>
public static class P2vProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "p2v.dll");

    public static ExternalTool.Result Run(params string[] args) =>
        ExternalTool.RunWith("dotnet", [Dll, .. args], stdin: null, check: false);

    /// <summary>Runs a bash script in which $P2V is the p2v command (for pipes, redirections and closed descriptors).</summary>
    public static ExternalTool.Result Shell(string script, int timeoutMs = 600_000) =>
        ExternalTool.RunWith("bash", ["-c", $"P2V=\"dotnet {Dll}\"; {script}"], stdin: null, check: false, timeoutMs: timeoutMs);

    /// <summary>The reason a command printed: exactly one line on standard error.</summary>
    public static string OneLine(ExternalTool.Result r)
    {
        var lines = r.StdErr.Trim().Split('\n');
        Assert.True(lines.Length == 1, $"expected one line, got:\n{r.StdErr}");
        return lines[0];
    }
}
