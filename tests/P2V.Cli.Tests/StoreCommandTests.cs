using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v capture --store`, `restore STORE/images/NAME`, `image list|rm|gc|serve` as separate processes, and
/// kill -9 of either side: no half-visible image, nothing committed lost. Checked with qemu-img.
/// </summary>
public sealed class StoreCommandTests : IDisposable
{
    private const string Token = "store-test-token";
    private readonly TempDirectory _tmp = new();
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var p in _started.Where(p => !p.HasExited)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        _tmp.Dispose();
    }

    private string Volume(string name, int seed)
    {
        var path = _tmp.File(name);
        using (var f = File.Create(path)) f.SetLength(96L << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-c", "4096", path);
        var rng = new Random(seed);
        for (int i = 0; i < 6; i++)
        {
            var data = new byte[6 << 20];
            rng.NextBytes(data);
            var local = _tmp.File($"f{seed}-{i}");
            File.WriteAllBytes(local, data);
            ExternalTool.Run("ntfscp", "-f", path, local, $"/f{i}.bin");
        }
        return path;
    }

    private Process Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(P2vProcess.Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["P2V_TOKEN"] = Token;
        var p = Process.Start(psi)!;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _started.Add(p);
        return p;
    }

    private (Process Server, string Url) Serve(string store, int port)
    {
        var server = Start("image", "serve", "--store", store, "--listen", $"127.0.0.1:{port}");
        var url = $"http://127.0.0.1:{port}";
        for (int i = 0; i < 150; i++)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return (server, url);
            }
            catch (SocketException) { Thread.Sleep(200); }
        }
        throw new TimeoutException("p2v image serve did not listen");
    }

    private static ExternalTool.Result P2v(params string[] args) =>
        ExternalTool.RunWith("env", ["P2V_TOKEN=" + Token, "dotnet", P2vProcess.Dll, .. args], stdin: null, check: false);

    private static void Kill9(Process p)
    {
        ExternalTool.Run("kill", "-9", p.Id.ToString());
        p.WaitForExit();
    }

    /// <summary>Until the store holds this many ingest leases (docs/store-protocol.md, "Ingest"): the capture is under way, not still starting.</summary>
    private static void WaitForIngestSessions(string store, int count)
    {
        string locks = Path.Combine(store, "locks");
        for (var until = DateTime.UtcNow.AddMinutes(2); DateTime.UtcNow < until; Thread.Sleep(100))
            if (Directory.Exists(locks) && Directory.GetFiles(locks, "ingest-*").Length >= count) return;
        Assert.Fail($"no {count} ingest session(s) in {locks} after 2 minutes");
    }

    [Fact]
    public void KillingEitherSideLeavesNoHalfImageAndLosesNothingCommitted()
    {
        var a = Volume("a.vol", 1);
        var b = Volume("b.vol", 2);
        var store = _tmp.File("store");
        int port = LoopbackPort.Free();
        var (server, url) = Serve(store, port);

        var first = P2v("capture", a, "--store", url, "--name", "a");
        Assert.True(first.ExitCode == 0, first.StdErr);

        // The sender dies mid-capture: nothing of "b" is visible.
        var sender = Start("capture", b, "--store", url, "--name", "b", "--workers", "1");
        WaitForIngestSessions(store, 1);
        Kill9(sender);
        var list = P2v("image", "list", "--store", url, "--json");
        Assert.Equal(0, list.ExitCode);
        Assert.Contains("\"name\": \"a\"", list.StdOut);
        Assert.DoesNotContain("\"name\": \"b\"", list.StdOut);

        // The server dies mid-capture: after a restart, "a" is whole and "b" is nowhere.
        var doomed = Start("capture", b, "--store", url, "--name", "b", "--workers", "1");
        WaitForIngestSessions(store, 2);
        Kill9(server);
        doomed.WaitForExit(120_000);
        Assert.NotEqual(0, doomed.ExitCode);
        (server, url) = Serve(store, port);
        list = P2v("image", "list", "--store", url, "--json");
        Assert.DoesNotContain("\"name\": \"b\"", list.StdOut);
        var restored = _tmp.File("a.img");
        var restore = P2v("restore", $"{url}/images/a", restored);
        Assert.True(restore.ExitCode == 0, restore.StdErr);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", a, restored));

        // A whole capture of "b" now commits; the folder store reads the same directly, without the server.
        var whole = P2v("capture", b, "--store", url, "--name", "b", "--json");
        Assert.True(whole.ExitCode == 0, whole.StdErr);
        Kill9(server);
        var restoredB = _tmp.File("b.img");
        Assert.Equal(0, P2v("restore", $"{store}/images/b", restoredB).ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", b, restoredB));

        // rm, then gc: the killed captures' ingest sessions keep their leases until they expire, and gc never
        // races an ingest, so it refuses in one line; "b" stays whole either way.
        Assert.Equal(0, P2v("image", "rm", "a", "--store", store).ExitCode);
        var gc = P2v("image", "gc", "--store", store, "--json");
        Assert.Equal(1, gc.ExitCode);
        Assert.Contains("ingest session(s) are open", gc.StdErr);
        File.Delete(restoredB);
        Assert.Equal(0, P2v("restore", $"{store}/images/b", restoredB).ExitCode);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", b, restoredB));
    }

    [Fact]
    public void StoreErrorsAreOneLineAndNonZero()
    {
        var store = _tmp.File("store");
        var (_, url) = Serve(store, LoopbackPort.Free());
        var noToken = ExternalTool.RunWith("dotnet", [P2vProcess.Dll, "image", "list", "--store", url], stdin: null, check: false);
        Assert.Equal(1, noToken.ExitCode);
        Assert.Contains("401", P2vProcess.OneLine(noToken));
        var missing = P2v("restore", $"{url}/images/nothing", _tmp.File("x.img"));
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("'nothing' is not in the store", P2vProcess.OneLine(missing));
        Assert.False(File.Exists(_tmp.File("x.img")));
        var badName = P2v("capture", "/dev/null", "--store", url, "--name", "../etc");
        Assert.NotEqual(0, badName.ExitCode);
        var both = P2v("capture", "x.img", "-o", "y.p2v", "--store", url, "--name", "n");
        Assert.Equal(2, both.ExitCode);
    }
}
