using System.Diagnostics;

namespace P2V.Agent.Tests;

/// <summary>
/// `p2v agent` run on this host as the boot images run it: a real `p2v server` on free loopback ports (its boot files
/// served over HTTP from a folder of the test), and machines as sysfs trees whose /dev nodes are files.
/// </summary>
public sealed class HostAgent : IDisposable
{
    public const string Mac = "00:1e:0b:12:34:56";
    private readonly TempDirectory _tmp = new();
    private readonly List<Process> _started = [];
    private readonly int _port = LoopbackPort.Free(), _http = LoopbackPort.Free(), _tftp = LoopbackPort.Free(udp: true);
    private Process? _server;

    public HostAgent()
    {
        Data = Directory.CreateDirectory(_tmp.File("server")).FullName;
        BootRoot = Directory.CreateDirectory(_tmp.File("boot")).FullName;
        BootHttp = $"http://127.0.0.1:{_http}";
        StartServer();
    }

    public string Controller { get; private set; } = "";
    public string Token { get; private set; } = "";
    public string Data { get; }
    public string BootRoot { get; }
    public string BootHttp { get; }

    public string File(string name) => _tmp.File(name);

    /// <summary>`p2v server` on this harness's ports and data folder (again, after <see cref="KillServer"/>).</summary>
    public void StartServer()
    {
        int before = _started.Count;
        (Controller, Token) = P2vServer.Start(Path.Combine(AppContext.BaseDirectory, "p2v.dll"), Data, _port, _started,
            "--boot-root", BootRoot, "--boot-http-port", _http.ToString(), "--tftp-port", _tftp.ToString());
        _server = _started[before];
    }

    /// <summary>kill -9 of the server, as a crash does it (the page cache survives: this is no power cut).</summary>
    public void KillServer()
    {
        _server!.Kill(entireProcessTree: true);
        _server.WaitForExit();
    }

    /// <summary>A machine for the agent: a sysfs tree with one disk, sda, whose /dev node is a file of <paramref name="bytes"/> (sparse, blank) or <paramref name="content"/>'s copy.</summary>
    public (string Root, string Disk) Machine(long bytes, string? content = null)
    {
        var root = Directory.CreateDirectory(_tmp.File("machine-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var block = Directory.CreateDirectory(Path.Combine(root, "sys", "block", "sda")).FullName;
        System.IO.File.WriteAllText(Path.Combine(block, "size"), (bytes / 512).ToString() + "\n");
        System.IO.File.WriteAllText(Path.Combine(block, "removable"), "0\n");
        var disk = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "dev")).FullName, "sda");
        if (content != null) System.IO.File.Move(content, disk);
        else using (var f = System.IO.File.Create(disk)) f.SetLength(bytes);
        return (root, disk);
    }

    /// <summary>Starts `p2v agent` for <paramref name="role"/> with the job's token, its output kept in <paramref name="output"/>.</summary>
    public Process Agent(string root, string jobToken, string role, List<string>? output = null)
    {
        var cmdline = Path.Combine(root, "cmdline");
        System.IO.File.WriteAllText(cmdline, $"quiet p2v.controller={Controller} p2v.token={jobToken} p2v.role={role} p2v.mac={Mac}\n");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "p2v.dll"), "agent", "--cmdline", cmdline, "--root", root }) psi.ArgumentList.Add(a);
        // The agent's tars go to its own /tmp, as in the boot image's memory, not the shared one.
        psi.Environment["TMPDIR"] = Directory.CreateDirectory(Path.Combine(root, "tmp")).FullName;
        var agent = Process.Start(psi)!;
        void Keep(object _, DataReceivedEventArgs e) { if (e.Data != null && output != null) lock (output) output.Add(e.Data); }
        agent.OutputDataReceived += Keep;
        agent.ErrorDataReceived += Keep;
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        _started.Add(agent);
        return agent;
    }

    public record struct QueuedJob(long Id, string Token);

    /// <summary>`p2v job create MAC ARGS… --json`: the job's id and its token (what its boot script would carry).</summary>
    public QueuedJob CreateJob(params string[] args)
    {
        var created = System.Text.Json.JsonDocument.Parse(Ok(P2v(["job", "create", Mac, .. args, "--json"]))).RootElement;
        return new(created.GetProperty("job").GetProperty("id").GetInt64(), created.GetProperty("token").GetString()!);
    }

    /// <summary>A tar of <paramref name="names"/> in <paramref name="dir"/>, in that order, in the controller's boot files.</summary>
    public void Tar(string dir, string tar, params string[] names) =>
        ExternalTool.Run("tar", ["-C", dir, "-cf", Path.Combine(BootRoot, tar), .. names]);

    /// <summary>p2v with the controller and the admin token in its environment, as an operator runs it.</summary>
    public ExternalTool.Result P2v(params string[] args) =>
        ExternalTool.RunWith("env", ["P2V_CONTROLLER=" + Controller, "P2V_TOKEN=" + Token, "dotnet", Path.Combine(AppContext.BaseDirectory, "p2v.dll"), .. args], stdin: null, check: false);

    public ExternalTool.Result Curl(string path) =>
        ExternalTool.Try("curl", "-sfS", "-H", $"Authorization: Bearer {Token}", Controller + path);

    public static string Ok(ExternalTool.Result r)
    {
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        return r.StdOut;
    }

    public void Dispose()
    {
        foreach (var p in _started.Where(p => !p.HasExited)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        _tmp.Dispose();
    }
}
