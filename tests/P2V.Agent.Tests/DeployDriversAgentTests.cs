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
    private const string Mac = HostAgent.Mac;
    private HostAgent? _host;

    public void Dispose() => _host?.Dispose();

    private static void Need()
    {
        foreach (var tool in new[] { "curl", "tar", "ntfscat", "hivexget", "cmp", "i686-w64-mingw32-gcc" }) Requires.Tool(tool);
    }

    [SkippableFact]
    public void A_deploy_job_with_drivers_and_first_boot_scripts_installs_them_on_the_deployed_disk()
    {
        Need();
        var host = Serve();
        var drivers = DriverPackages.Build(host.File("drivers"));
        var scripts = Directory.CreateDirectory(host.File("firstboot")).FullName;
        File.WriteAllText(Path.Combine(scripts, "install-additions.cmd"), "@echo off\r\necho installing the guest additions\r\n");
        File.WriteAllText(Path.Combine(scripts, "set-ip.vbs"), "WScript.Echo \"static IP\"\r\n");
        host.Tar(fx.PatchLibrary, "patches.tar", ".");
        host.Tar(drivers, "drivers.tar", ".");
        // The tar's order is the order they run: set-ip first, though it sorts second.
        host.Tar(scripts, "firstboot.tar", "set-ip.vbs", "install-additions.cmd");
        string source = Capture(host);

        var (root, disk) = host.Machine(new FileInfo(source).Length);
        var job = Deploy(host, "--patches", host.BootHttp + "/patches.tar", "--drivers", host.BootHttp + "/drivers.tar", "--firstboot", host.BootHttp + "/firstboot.tar");
        var agent = host.Agent(root, job.Token, "deploy");
        HostAgent.Ok(host.P2v("job", "wait", job.Id.ToString()));
        // The deploy target waits for its reset job; this one ends it.
        HostAgent.Ok(host.P2v("job", "create", Mac, "--kind", "reset"));
        Assert.True(agent.WaitForExit(120_000), "the agent did not end after its reset job");
        Assert.Equal(0, agent.ExitCode);

        var volume = fx.ExtractVolume(disk);
        Assert.Equal(File.ReadAllBytes(Path.Combine(drivers, "viostor", "2k3", "x86", "viostor.sys")), Cat(volume, "/WINDOWS/system32/drivers/viostor.sys"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(drivers, "NetKVM", "2k3", "x86", "netkvm.sys")), Cat(volume, "/WINDOWS/system32/drivers/netkvm.sys"));
        var hive = host.File("system");
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
        var reports = JsonDocument.Parse(HostAgent.Ok(host.Curl($"/api/jobs/{job.Id}/reports"))).RootElement;
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
        var host = Serve();
        var drivers = DriverPackages.Build(host.File("drivers"));
        File.AppendAllText(Path.Combine(drivers, "viostor", "2k3", "x86", "viostor.inf"), "\r\n[Broken\r\n");
        host.Tar(drivers, "broken-inf.tar", ".");
        File.WriteAllBytes(Path.Combine(host.BootRoot, "not-a.tar"), Encoding.ASCII.GetBytes(new string('x', 3000)));
        var empty = Directory.CreateDirectory(host.File("empty")).FullName;
        File.WriteAllText(Path.Combine(empty, "readme.txt"), "no drivers here");
        host.Tar(empty, "no-inf.tar", ".");
        var scripts = Directory.CreateDirectory(host.File("scripts")).FullName;
        File.WriteAllText(Path.Combine(scripts, "setup.sh"), "echo not windows");
        host.Tar(scripts, "shell-script.tar", "setup.sh");
        string source = Capture(host);

        foreach (var (option, tar, expected) in new[]
        {
            ("--drivers", "broken-inf.tar", "viostor.inf, line"),
            ("--drivers", "not-a.tar", "the drivers tar"),
            ("--drivers", "no-inf.tar", "holds no .inf file"),
            ("--drivers", "missing.tar", "404"),
            ("--firstboot", "shell-script.tar", "setup.sh: a .sh file cannot be run"),
        })
        {
            var (root, disk) = host.Machine(new FileInfo(source).Length);
            var job = Deploy(host, option, $"{host.BootHttp}/{tar}");
            var agent = host.Agent(root, job.Token, "deploy");
            Assert.True(agent.WaitForExit(180_000), $"{tar}: the agent did not end");
            Assert.Equal(BootAgent.Failed, agent.ExitCode);
            var shown = JsonDocument.Parse(HostAgent.Ok(host.P2v("job", "show", job.Id.ToString(), "--json"))).RootElement;
            Assert.Equal("failed", shown.GetProperty("state").GetString(), ignoreCase: true);
            Assert.Contains(expected, shown.GetProperty("error").GetString());
            // Not a byte written: the disk is still all zeros.
            Assert.True(ExternalTool.Try("cmp", "-n", new FileInfo(disk).Length.ToString(), disk, "/dev/zero").ExitCode == 0, $"{tar}: the disk was written");
        }
    }

    private static HostAgent.QueuedJob Deploy(HostAgent host, params string[] fixup) =>
        host.CreateJob(["--kind", "deploy", "--image", "SRV", "--fixup-target", "qemu", .. fixup]);

    /// <summary>The fixture disk captured into the controller's store as image SRV, once per test.</summary>
    private string Capture(HostAgent host)
    {
        string source = fx.CopyDisk("source-" + Guid.NewGuid().ToString("N")[..8]);
        HostAgent.Ok(host.P2v("device", "add", Mac, "--control", "--name", "SRV"));
        HostAgent.Ok(host.P2v("capture", source, "--store", host.Controller, "--name", "SRV", "--token", host.Token));
        return source;
    }

    private static byte[] Cat(string volume, string path) => ExternalTool.RunBytes("ntfscat", volume, path);

    private static string Hivexget(string hive, string key, string value) => ExternalTool.Try("hivexget", hive, key, value).StdOut.Trim();

    /// <summary>A `p2v server` for this test (its boot files serve the tars).</summary>
    private HostAgent Serve() => _host = new HostAgent();
}
