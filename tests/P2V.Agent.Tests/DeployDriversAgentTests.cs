using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using P2V.Windows.Tests.Drivers;
using P2V.Windows.Tests.Fixups;

namespace P2V.Agent.Tests;

/// <summary>
/// The deploy agent's fix-up with drivers and first-boot scripts, as `p2v agent` runs it in the deploy image, here on
/// this host: a real `p2v server` on loopback serves the patch library, driver and first-boot tars from its boot files
/// (as tools/e2e serves patches.tar), the Windows Server 2003 fixture disk is captured into its store, and the agent
/// runs the deploy job against a sysfs tree whose only disk is a blank file. The disk is read back with ntfs-3g and hivex.
/// </summary>
public sealed class DeployDriversAgentTests(FixupFixture fx) : IClassFixture<FixupFixture>, IDisposable
{
    private const string Mac = "00:1e:0b:12:34:56";
    private readonly TempDirectory _tmp = new();
    private readonly List<Process> _started = [];
    private string _controller = "", _bootRoot = "", _bootHttp = "";

    public void Dispose()
    {
        foreach (var p in _started.Where(p => !p.HasExited)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        _tmp.Dispose();
    }

    private static void Need()
    {
        foreach (var tool in new[] { "curl", "tar", "ntfscat", "hivexget", "cmp", "i686-w64-mingw32-gcc" }) Requires.Tool(tool);
    }

    [SkippableFact]
    public void A_deploy_job_with_drivers_and_first_boot_scripts_installs_them_on_the_deployed_disk()
    {
        Need();
        string token = Serve();
        var drivers = DriverPackages.Build(_tmp.File("drivers"));
        var scripts = Directory.CreateDirectory(_tmp.File("firstboot")).FullName;
        File.WriteAllText(Path.Combine(scripts, "install-additions.cmd"), "@echo off\r\necho installing the guest additions\r\n");
        File.WriteAllText(Path.Combine(scripts, "set-ip.vbs"), "WScript.Echo \"static IP\"\r\n");
        Tar(fx.PatchLibrary, "patches.tar", ".");
        Tar(drivers, "drivers.tar", ".");
        // The tar's order is the order they run: set-ip first, though it sorts second.
        Tar(scripts, "firstboot.tar", "set-ip.vbs", "install-additions.cmd");
        string source = Capture(token);

        var (root, disk) = Machine(new FileInfo(source).Length);
        var job = Deploy(token, "--patches", _bootHttp + "/patches.tar", "--drivers", _bootHttp + "/drivers.tar", "--firstboot", _bootHttp + "/firstboot.tar");
        var agent = Agent(root, job.Token);
        Ok(P2v(token, "job", "wait", job.Id.ToString()));
        // The deploy target waits for its reset job; this one ends it.
        Ok(P2v(token, "job", "create", Mac, "--kind", "reset"));
        Assert.True(agent.WaitForExit(120_000), "the agent did not end after its reset job");
        Assert.Equal(0, agent.ExitCode);

        var volume = fx.ExtractVolume(disk);
        Assert.Equal(File.ReadAllBytes(Path.Combine(drivers, "viostor", "2k3", "x86", "viostor.sys")), Cat(volume, "/WINDOWS/system32/drivers/viostor.sys"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(drivers, "NetKVM", "2k3", "x86", "netkvm.sys")), Cat(volume, "/WINDOWS/system32/drivers/netkvm.sys"));
        var hive = _tmp.File("system");
        File.WriteAllBytes(hive, Cat(volume, "/WINDOWS/system32/config/system"));
        Assert.Equal("0", Hivexget(hive, @"\ControlSet001\Services\viostor", "Start"));
        Assert.Equal(@"system32\DRIVERS\viostor.sys", Hivexget(hive, @"\ControlSet001\Services\viostor", "ImagePath"));
        Assert.Equal("viostor", Hivexget(hive, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_1af4&dev_1001&subsys_00021af4&rev_00", "Service"));
        Assert.Equal("NDIS", Hivexget(hive, @"\ControlSet001\Services\netkvm", "Group"));
        Assert.Equal("2", Hivexget(hive, @"\Setup", "SetupType"));
        Assert.Equal(@"cmd.exe /c %SystemRoot%\P2V\FirstBoot\firstboot.cmd", Hivexget(hive, @"\Setup", "CmdLine"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(scripts, "set-ip.vbs")), Cat(volume, "/WINDOWS/P2V/FirstBoot/01-set-ip.vbs"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(scripts, "install-additions.cmd")), Cat(volume, "/WINDOWS/P2V/FirstBoot/02-install-additions.cmd"));
        var runner = Encoding.Latin1.GetString(Cat(volume, "/WINDOWS/P2V/FirstBoot/firstboot.cmd"));
        Assert.True(runner.IndexOf("01-set-ip.vbs", StringComparison.Ordinal) < runner.IndexOf("02-install-additions.cmd", StringComparison.Ordinal), runner);
        // The patch library was applied too: the uniprocessor kernel for one vCPU.
        Assert.Equal(fx.Pe["ntoskrnl.exe"], Cat(volume, "/WINDOWS/system32/ntoskrnl.exe"));

        // The fix-up report the agent sent lists the drivers and the scripts (what `p2v report` shows).
        var reports = JsonDocument.Parse(Ok(Curl(token, $"/api/jobs/{job.Id}/reports"))).RootElement;
        var fixup = reports.EnumerateArray().Single(r => r.GetProperty("name").GetString() == "fixup").GetProperty("content").GetString()!;
        var report = JsonDocument.Parse(fixup).RootElement;
        var installed = report.GetProperty("driversInstalled").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(installed, l => l.StartsWith("viostor.inf [RHEL.NTx86.5.2]", StringComparison.Ordinal));
        Assert.Contains(installed, l => l.StartsWith("netkvm.inf", StringComparison.Ordinal));
        Assert.Contains(report.GetProperty("driversSkipped").EnumerateArray(), e => e.GetString()!.Contains("pvscsi.inf", StringComparison.Ordinal));
        Assert.Equal(2, report.GetProperty("firstBootScripts").GetArrayLength());
    }

    [SkippableFact]
    public void A_bad_drivers_or_first_boot_tar_fails_the_job_before_the_disk_is_written()
    {
        Need();
        string token = Serve();
        var drivers = DriverPackages.Build(_tmp.File("drivers"));
        File.AppendAllText(Path.Combine(drivers, "viostor", "2k3", "x86", "viostor.inf"), "\r\n[Broken\r\n");
        Tar(drivers, "broken-inf.tar", ".");
        File.WriteAllBytes(Path.Combine(_bootRoot, "not-a.tar"), Encoding.ASCII.GetBytes(new string('x', 3000)));
        var empty = Directory.CreateDirectory(_tmp.File("empty")).FullName;
        File.WriteAllText(Path.Combine(empty, "readme.txt"), "no drivers here");
        Tar(empty, "no-inf.tar", ".");
        var scripts = Directory.CreateDirectory(_tmp.File("scripts")).FullName;
        File.WriteAllText(Path.Combine(scripts, "setup.sh"), "echo not windows");
        Tar(scripts, "shell-script.tar", "setup.sh");
        string source = Capture(token);

        foreach (var (option, tar, expected) in new[]
        {
            ("--drivers", "broken-inf.tar", "viostor.inf, line"),
            ("--drivers", "not-a.tar", "the drivers tar"),
            ("--drivers", "no-inf.tar", "holds no .inf file"),
            ("--drivers", "missing.tar", "404"),
            ("--firstboot", "shell-script.tar", "setup.sh: a .sh file cannot be run"),
        })
        {
            var (root, disk) = Machine(new FileInfo(source).Length);
            var job = Deploy(token, option, $"{_bootHttp}/{tar}");
            var agent = Agent(root, job.Token);
            Assert.True(agent.WaitForExit(180_000), $"{tar}: the agent did not end");
            Assert.Equal(BootAgent.Failed, agent.ExitCode);
            var shown = JsonDocument.Parse(Ok(P2v(token, "job", "show", job.Id.ToString(), "--json"))).RootElement;
            Assert.Equal("failed", shown.GetProperty("state").GetString(), ignoreCase: true);
            Assert.Contains(expected, shown.GetProperty("error").GetString());
            // Not a byte written: the disk is still all zeros.
            Assert.True(ExternalTool.Try("cmp", "-n", new FileInfo(disk).Length.ToString(), disk, "/dev/zero").ExitCode == 0, $"{tar}: the disk was written");
        }
    }

    private record struct QueuedJob(long Id, string Token);

    private QueuedJob Deploy(string token, params string[] fixup)
    {
        var created = JsonDocument.Parse(Ok(P2v(token, ["job", "create", Mac, "--kind", "deploy", "--image", "SRV", "--fixup-target", "qemu", .. fixup, "--json"]))).RootElement;
        return new(created.GetProperty("job").GetProperty("id").GetInt64(), created.GetProperty("token").GetString()!);
    }

    /// <summary>The fixture disk captured into the controller's store as image SRV, once per test.</summary>
    private string Capture(string token)
    {
        string source = fx.CopyDisk("source-" + Guid.NewGuid().ToString("N")[..8]);
        Ok(P2v(token, "device", "add", Mac, "--control", "--name", "SRV"));
        Ok(P2v(token, "capture", source, "--store", _controller, "--name", "SRV", "--token", token));
        return source;
    }

    /// <summary>A machine for the agent: a sysfs tree with one disk, sda, whose /dev node is a blank (sparse) file of <paramref name="bytes"/>.</summary>
    private (string Root, string Disk) Machine(long bytes)
    {
        var root = Directory.CreateDirectory(_tmp.File("machine-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        var block = Directory.CreateDirectory(Path.Combine(root, "sys", "block", "sda")).FullName;
        File.WriteAllText(Path.Combine(block, "size"), (bytes / 512).ToString() + "\n");
        File.WriteAllText(Path.Combine(block, "removable"), "0\n");
        var disk = Path.Combine(Directory.CreateDirectory(Path.Combine(root, "dev")).FullName, "sda");
        using (var f = File.Create(disk)) f.SetLength(bytes);
        return (root, disk);
    }

    private Process Agent(string root, string jobToken)
    {
        var cmdline = Path.Combine(root, "cmdline");
        File.WriteAllText(cmdline, $"quiet p2v.controller={_controller} p2v.token={jobToken} p2v.role=deploy p2v.mac={Mac}\n");
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "p2v.dll"), "agent", "--cmdline", cmdline, "--root", root }) psi.ArgumentList.Add(a);
        // The agent's tars go to its own /tmp, as in the boot image's memory, not the shared one.
        psi.Environment["TMPDIR"] = Directory.CreateDirectory(Path.Combine(root, "tmp")).FullName;
        var agent = Process.Start(psi)!;
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        _started.Add(agent);
        return agent;
    }

    /// <summary>A tar of <paramref name="names"/> in <paramref name="dir"/>, in that order, in the controller's boot files.</summary>
    private void Tar(string dir, string tar, params string[] names) =>
        ExternalTool.Run("tar", ["-C", dir, "-cf", Path.Combine(_bootRoot, tar), .. names]);

    private static byte[] Cat(string volume, string path) => ExternalTool.RunBytes("ntfscat", volume, path);

    private static string Hivexget(string hive, string key, string value) => ExternalTool.Try("hivexget", hive, key, value).StdOut.Trim();

    private static string Ok(ExternalTool.Result r)
    {
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        return r.StdOut;
    }

    private ExternalTool.Result P2v(string? token, params string[] args) =>
        ExternalTool.RunWith("env", ["P2V_CONTROLLER=" + _controller, "P2V_TOKEN=" + (token ?? ""), "dotnet", Path.Combine(AppContext.BaseDirectory, "p2v.dll"), .. args], stdin: null, check: false);

    private ExternalTool.Result Curl(string token, string path) =>
        ExternalTool.Try("curl", "-sfS", "-H", $"Authorization: Bearer {token}", _controller + path);

    /// <summary>`p2v server` on free loopback ports, its boot files (HTTP) from a folder of this test; returns the admin token.</summary>
    private string Serve()
    {
        var data = Directory.CreateDirectory(_tmp.File("server")).FullName;
        _bootRoot = Directory.CreateDirectory(_tmp.File("boot")).FullName;
        int port = LoopbackPort.Free(), http = LoopbackPort.Free(), tftp = LoopbackPort.Free(udp: true);
        (_controller, var token) = P2vServer.Start(Path.Combine(AppContext.BaseDirectory, "p2v.dll"), data, port, _started,
            "--boot-root", _bootRoot, "--boot-http-port", http.ToString(), "--tftp-port", tftp.ToString());
        _bootHttp = $"http://127.0.0.1:{http}";
        return token;
    }
}
