using System.Diagnostics;

namespace P2V.Tests;

/// <summary>Runs the independent tools (mkntfs, ntfscat, sfdisk, qemu-img, …) that make fixtures and check our output.</summary>
public static class ExternalTool
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    /// <summary>Runs a tool and returns its output; throws with the tool's stderr when it fails.</summary>
    public static string Run(string tool, params string[] args) => RunWith(tool, args, stdin: null).StdOut;

    public static Result Try(string tool, params string[] args) => RunWith(tool, args, stdin: null, check: false);

    /// <summary>Runs a tool and returns its standard output as raw bytes (for ntfscat, mtype …).</summary>
    public static byte[] RunBytes(string tool, params string[] args)
    {
        var psi = Start(tool, args);
        using var p = Process.Start(psi)!;
        using var ms = new MemoryStream();
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.BaseStream.CopyTo(ms);
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {p.ExitCode}: {err.Result}");
        return ms.ToArray();
    }

    public static Result RunWith(string tool, IEnumerable<string> args, string? stdin, bool check = true, int timeoutMs = 600_000)
    {
        var psi = Start(tool, args);
        psi.RedirectStandardInput = stdin != null;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin != null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} did not finish in {timeoutMs} ms");
        }
        var result = new Result(p.ExitCode, stdout.Result, stderr.Result);
        if (check && result.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} exited {result.ExitCode}: {result.StdErr}{result.StdOut}");
        return result;
    }

    private static ProcessStartInfo Start(string tool, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        return psi;
    }
}

/// <summary>A scratch folder removed when the test ends.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("p2v-test-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
