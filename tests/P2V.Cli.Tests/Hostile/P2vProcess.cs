using System.Diagnostics;

namespace P2V.Cli.Tests.Hostile;

/// <summary>One run of `p2v` as a process: exit code, output, and the peak memory /usr/bin/time measured.</summary>
public sealed record P2vRun(string[] Args, int ExitCode, string StdOut, string StdErr, long PeakKiB)
{
    public string Describe() => $"p2v {string.Join(' ', Args.Select(Path.GetFileName))} → exit {ExitCode}, {PeakKiB / 1024} MiB peak\n{StdErr}{(StdOut.Length > 2000 ? StdOut[..2000] : StdOut)}";

    /// <summary>The lines of stderr that state an error: `p2v COMMAND: reason` (progress lines are plain status lines).</summary>
    public IReadOnlyList<string> ErrorLines => StdErr.Split('\n').Where(l => l.StartsWith("p2v ")).ToList();

    public static P2vRun Start(params string[] args)
    {
        var peak = Path.GetTempFileName();
        try
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "p2v.dll");
            var r = ExternalTool.RunWith("/usr/bin/time", ["-f", "%M", "-o", peak, "dotnet", dll, .. args], stdin: null, check: false, timeoutMs: 180_000);
            long.TryParse(File.ReadAllText(peak).Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(), out var kib);
            return new P2vRun(args, r.ExitCode, r.StdOut, r.StdErr, kib);
        }
        finally
        {
            File.Delete(peak);
        }
    }
}
