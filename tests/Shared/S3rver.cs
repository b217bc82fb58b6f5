using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace P2V.Tests;

/// <summary>
/// A real S3-speaking server on loopback: npm's s3rver, installed on first use into a cache folder
/// ($P2V_NPM_CACHE, default /var/tmp/p2v-npm) with Debian's npm, started on a free port for the test
/// class, stopped and removed after it. When npm or node is missing, or the install fails, the S3 tests
/// say so and are skipped. Shared by the store's tests and the controller's (two servers on one bucket).
/// </summary>
public sealed class S3rver : IDisposable
{
    /// <summary>s3rver's built-in credentials (access key and secret).</summary>
    public const string AccessKey = "S3RVER", SecretKey = "S3RVER";

    public const string Version = "3.7.1";
    private readonly Process? _server;
    private readonly TempDirectory _data = new();
    private int _buckets;

    public S3rver()
    {
        try
        {
            var cache = Environment.GetEnvironmentVariable("P2V_NPM_CACHE") ?? "/var/tmp/p2v-npm";
            var bin = Path.Combine(cache, "node_modules", ".bin", "s3rver");
            if (!File.Exists(bin))
            {
                Directory.CreateDirectory(cache);
                var install = ExternalTool.RunWith("npm", ["install", "--no-audit", "--no-fund", "--prefix", cache, $"s3rver@{Version}"], stdin: null, check: false, timeoutMs: 300_000);
                if (install.ExitCode != 0 || !File.Exists(bin)) { Unavailable = $"npm install s3rver@{Version} failed: {install.StdErr.Trim().Split('\n').LastOrDefault()}"; return; }
            }
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var psi = new ProcessStartInfo(bin) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "--directory", _data.Path, "--address", "127.0.0.1", "--port", Port.ToString(), "--silent" }) psi.ArgumentList.Add(a);
            _server = Process.Start(psi)!;
            _server.BeginOutputReadLine();
            _server.BeginErrorReadLine();
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (true)
            {
                try
                {
                    using var probe = new TcpClient();
                    probe.Connect(IPAddress.Loopback, Port);
                    break;
                }
                catch (SocketException) when (DateTime.UtcNow < deadline && !_server.HasExited)
                {
                    Thread.Sleep(200);
                }
                catch (SocketException)
                {
                    Unavailable = "s3rver did not start listening within 30 s";
                    return;
                }
            }
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Unavailable = $"npm or node is not installed ({e.Message})";
        }
    }

    /// <summary>Why the S3 tests cannot run here, or null when they can.</summary>
    public string? Unavailable { get; private set; }

    public int Port { get; private set; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>A bucket name not used before on this server (the caller creates the bucket).</summary>
    public string NewBucketName() => $"p2v-test-{Interlocked.Increment(ref _buckets)}";

    public void Dispose()
    {
        if (_server is { HasExited: false })
        {
            _server.Kill(entireProcessTree: true);
            _server.WaitForExit(10_000);
        }
        _server?.Dispose();
        _data.Dispose();
    }
}
