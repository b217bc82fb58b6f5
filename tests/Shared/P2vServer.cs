using System.Diagnostics;

namespace P2V.Tests;

/// <summary>`p2v server` as the tests run it: on loopback ports of their own, started and waited for.</summary>
public static class P2vServer
{
    /// <summary>
    /// Starts <c>dotnet DLL server --data DATA --listen 127.0.0.1:PORT ARGS…</c> (added to <paramref name="started"/> at
    /// once, for the test to kill), waits until it answers /healthz and has written its admin token, and returns its
    /// URL and that token.
    /// </summary>
    public static (string Url, string Token) Start(string dll, string data, int port, ICollection<Process> started, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { dll, "server", "--data", data, "--listen", $"127.0.0.1:{port}" }.Concat(args)) psi.ArgumentList.Add(a);
        var server = Process.Start(psi)!;
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        started.Add(server);
        var url = $"http://127.0.0.1:{port}";
        var tokenFile = Path.Combine(data, "admin-token");
        for (int i = 0; i < 300 && !server.HasExited; i++)
        {
            if (File.Exists(tokenFile) && ExternalTool.Try("curl", "-sf", url + "/healthz").ExitCode == 0)
                return (url, File.ReadAllText(tokenFile).Trim());
            Thread.Sleep(200);
        }
        throw new TimeoutException($"p2v server did not answer on {url}");
    }
}
