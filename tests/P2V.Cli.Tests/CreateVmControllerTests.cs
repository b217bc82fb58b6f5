using P2V.Imaging.VirtualDisks;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v createvm --controller` against a real `p2v server` process on loopback: the VM becomes a controlled device
/// with its inventory and a deploy job per disk, read back with curl through the admin API (docs/controller.md).
/// </summary>
public sealed class CreateVmControllerTests : IDisposable
{
    private const string BootMac = "00:1e:0b:aa:bb:cc";
    private readonly TempDirectory _tmp = new();
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var p in _started.Where(p => !p.HasExited)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        _tmp.Dispose();
    }

    [Fact]
    public void Createvm_registers_the_vm_as_a_controlled_device_with_one_deploy_job_for_its_disks()
    {
        Requires.Tool("curl");
        var (url, token) = Serve();
        var plan = WritePlan("a", url);

        var r = CreateVm(plan, token, "--json", "--image", "web01-capture", "--patches", "http://10.0.0.1:8080/patches.tar");
        Assert.True(r.ExitCode == 0, r.StdErr);
        var summary = JsonDocument.Parse(r.StdOut).RootElement;
        Assert.True(summary.GetProperty("registered").GetBoolean());
        Assert.Equal(BootMac, summary.GetProperty("deviceMac").GetString());
        long jobId = summary.GetProperty("deployJob").GetInt64();

        // What the controller holds, read by curl.
        var device = Curl(url, token, $"/api/devices/{BootMac}");
        Assert.Equal("WEB01", device.GetProperty("name").GetString());
        Assert.True(device.GetProperty("controlled").GetBoolean());
        Assert.Equal("none", device.GetProperty("defaultTemplate").GetString());
        Assert.True(device.GetProperty("hasInventory").GetBoolean());
        Assert.Equal(File.ReadAllText(Path.Combine(Path.GetDirectoryName(plan)!, "inventory.xml")),
            ExternalTool.Run("curl", "-sfS", "-H", $"Authorization: Bearer {token}", $"{url}/api/devices/{BootMac}/inventory"));

        // One job deploys both disks: web01-capture onto the first, web01-capture.disk2 onto the second (docs/agent-protocol.md).
        var job = Assert.Single(Curl(url, token, $"/api/jobs?device={BootMac}").EnumerateArray());
        Assert.Equal(jobId, job.GetProperty("id").GetInt64());
        Assert.Equal(("deploy", "queued", "web01-capture"), (job.GetProperty("kind").GetString(), job.GetProperty("state").GetString(), job.GetProperty("image").GetString()));
        Assert.Equal(["deploy", "fixup"], job.GetProperty("steps").EnumerateArray().Select(s => s.GetString()));
        var fixup = job.GetProperty("fixup");
        Assert.Equal(("qemu", 2, "http://10.0.0.1:8080/patches.tar"),
            (fixup.GetProperty("target").GetString(), fixup.GetProperty("vcpus").GetInt32(), fixup.GetProperty("patches").GetString()));

        // Again with --force: the device is updated, the queued deploy job is not doubled.
        r = CreateVm(plan, token, "--force", "--json", "--image", "web01-capture", "--patches", "http://10.0.0.1:8080/patches.tar");
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(jobId, JsonDocument.Parse(r.StdOut).RootElement.GetProperty("deployJob").GetInt64());
        Assert.Equal(1, Curl(url, token, $"/api/jobs?device={BootMac}").GetArrayLength());
    }

    [Fact]
    public void A_refused_token_or_none_stops_createvm_before_any_file_is_made()
    {
        Requires.Tool("curl");
        var (url, token) = Serve();

        var plan = WritePlan("wrong", url);
        var r = CreateVm(plan, "adm_not-the-token");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("401", P2vProcess.OneLine(r));
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(plan)!, "vm")), "createvm made the VM's files although the controller refused it");

        plan = WritePlan("none", url);
        r = ExternalTool.RunWith("env", ["-u", "P2V_TOKEN", "-u", "P2V_CONTROLLER", "dotnet", P2vProcess.Dll, "createvm", plan, "--floppy", Floppy()], stdin: null, check: false);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no admin token", P2vProcess.OneLine(r));
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(plan)!, "vm")));

        Assert.Equal(0, Curl(url, token, "/api/devices").GetArrayLength());
    }

    [Fact]
    public async Task The_generated_capture_script_takes_the_server_under_control_queues_its_capture_and_waits_for_it()
    {
        Requires.Tool("curl");
        var (url, token) = Serve();
        var planFile = WritePlan("scripts", url);
        string folder = Directory.CreateDirectory(_tmp.File("scripts-folder")).FullName;
        foreach (var (name, text) in MigrationScripts.Write(MigrationPlan.Load(planFile))) File.WriteAllText(Path.Combine(folder, name), text);

        // The script as an operator runs it, with p2v on PATH; the job it queues is cancelled here (no machine boots).
        string bin = Directory.CreateDirectory(_tmp.File("bin")).FullName;
        File.WriteAllText(Path.Combine(bin, "p2v"), $"#!/bin/sh\nexec dotnet {P2vProcess.Dll} \"$@\"\n");
        ExternalTool.Run("chmod", "755", Path.Combine(bin, "p2v"));
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(folder, "WEB01_Capture.sh"));
        psi.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
        psi.Environment["P2V_TOKEN"] = token;
        psi.Environment.Remove("P2V_CONTROLLER");
        using var script = Process.Start(psi)!;
        var stderr = script.StandardError.ReadToEndAsync();
        var stdout = script.StandardOutput.ReadToEndAsync();
        for (int i = 0; i < 300 && Curl(url, token, $"/api/jobs?device={BootMac}") is var jobs && jobs.GetArrayLength() == 0; i++) Thread.Sleep(200);
        var job = Assert.Single(Curl(url, token, $"/api/jobs?device={BootMac}").EnumerateArray());
        Assert.Equal(("capture", "queued", "WEB01"), (job.GetProperty("kind").GetString(), job.GetProperty("state").GetString(), job.GetProperty("image").GetString()));
        var device = Curl(url, token, $"/api/devices/{BootMac}");
        Assert.Equal(("WEB01", true), (device.GetProperty("name").GetString(), device.GetProperty("controlled").GetBoolean()));

        ExternalTool.Run("curl", "-sfS", "-X", "POST", "-H", $"Authorization: Bearer {token}", $"{url}/api/jobs/{job.GetProperty("id").GetInt64()}/cancel");
        await script.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(1)).Token);
        Assert.NotEqual(0, script.ExitCode);
        Assert.Contains("cancelled", await stderr + await stdout);

        foreach (var sh in Directory.GetFiles(folder, "*.sh")) Assert.Equal(0, ExternalTool.Try("sh", "-n", sh).ExitCode);
        var deploy = File.ReadAllText(Path.Combine(folder, "WEB01_DeployVM.sh"));
        Assert.Contains($"p2v job wait {BootMac}", deploy);
        Assert.Contains($"p2v job create {BootMac} --kind reset", deploy);
    }

    [Fact]
    public void Createvm_gives_the_deploy_job_the_plans_drivers_and_first_boot_tars_and_refuses_without_them()
    {
        Requires.Tool("curl");
        var (url, token) = Serve();
        var drivers = Directory.CreateDirectory(_tmp.File("virtio-win")).FullName;
        var scripts = Directory.CreateDirectory(_tmp.File("my scripts")).FullName;
        string[] firstBoot = [Path.Combine(scripts, "b.cmd"), Path.Combine(scripts, "a.vbs")];
        foreach (var f in firstBoot) File.WriteAllText(f, "rem\r\n");
        var plan = WritePlan("extras", url, p => p with { Drivers = drivers, FirstBoot = firstBoot });

        // Without the tars' URLs: refused before any file, with the tar command to make each.
        var r = CreateVm(plan, token);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"give --drivers URL", r.StdErr);
        Assert.Contains($"tar -C {drivers} -cf drivers.tar .", r.StdErr);
        r = CreateVm(plan, token, "--drivers", "http://10.0.0.1:8080/drivers.tar");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"tar -cf firstboot.tar -C '{scripts}' b.cmd -C '{scripts}' a.vbs", r.StdErr);
        Assert.False(Directory.Exists(Path.Combine(Path.GetDirectoryName(plan)!, "vm")), "createvm made the VM's files although it refused");
        // That command makes the tar the agent reads: the scripts at its top, in the plan's order.
        var tar = _tmp.File("firstboot.tar");
        ExternalTool.Run("tar", "-cf", tar, "-C", scripts, "b.cmd", "-C", scripts, "a.vbs");
        Assert.Equal("b.cmd\na.vbs\n", ExternalTool.Run("tar", "-tf", tar));

        r = CreateVm(plan, token, "--json", "--drivers", "http://10.0.0.1:8080/drivers.tar", "--firstboot", "http://10.0.0.1:8080/firstboot.tar");
        Assert.True(r.ExitCode == 0, r.StdErr);
        var fixup = Assert.Single(Curl(url, token, $"/api/jobs?device={BootMac}").EnumerateArray()).GetProperty("fixup");
        Assert.Equal(("http://10.0.0.1:8080/drivers.tar", "http://10.0.0.1:8080/firstboot.tar"),
            (fixup.GetProperty("drivers").GetString(), fixup.GetProperty("firstboot").GetString()));

        // A tar URL for what the plan does not have is a mistake, not ignored.
        var bare = WritePlan("bare", url);
        r = CreateVm(bare, token, "--drivers", "http://10.0.0.1:8080/drivers.tar");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("the plan has no drivers folder", r.StdErr);
    }

    private ExternalTool.Result CreateVm(string plan, string token, params string[] more) =>
        ExternalTool.RunWith("env", ["-u", "P2V_CONTROLLER", "P2V_TOKEN=" + token, "dotnet", P2vProcess.Dll, "createvm", plan, "--floppy", Floppy(), .. more],
            stdin: null, check: false);

    private string Floppy()
    {
        var path = _tmp.File("floppy.img");
        if (!File.Exists(path)) ExternalTool.Run("mkfs.fat", "-C", "-F", "12", path, "1440");
        return path;
    }

    /// <summary>A migration folder: plan.json for a two-disk qemu VM (disks of 64 MiB) naming the controller, and its inventory.</summary>
    private string WritePlan(string folder, string controller, Func<MigrationPlan, MigrationPlan>? change = null)
    {
        var dir = Directory.CreateDirectory(_tmp.File(folder)).FullName;
        var vm = Path.Combine(dir, "vm");
        PlannedDisk Disk(string source, int unit) => new(source, 64L << 20, 512, Path.Combine(vm, $"WEB01_{source}.img"), VirtualDiskFormat.Raw, VmDiskBus.Ide, 0, unit);
        var plan = new MigrationPlan
        {
            Name = "WEB01", Target = TargetKind.Qemu, VmConfigPath = vm, VirtualDiskPath = vm, DestHost = "localhost",
            MemoryMB = 512, Vcpus = 2, Hal = new PlannedHal(HalAction.Keep, "halmacpi.dll", "a multi-CPU target keeps the MP HAL"),
            Guest = new PlannedGuest("Windows Server 2003", "5.2", "2", true),
            Disks = [Disk("sda", 0), Disk("sdb", 1)],
            Nics = [new PlannedNic("eth0", BootMac, "rtl8139", "VM0")],
            Floppy = Path.Combine(vm, "WEB01.flp"), ConfigFile = Path.Combine(vm, "WEB01.qemu.sh"), Controller = controller,
        };
        var path = Path.Combine(dir, "plan.json");
        File.WriteAllText(path, (change?.Invoke(plan) ?? plan).ToJson());
        File.WriteAllText(Path.Combine(dir, "inventory.xml"), "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<inventory name=\"WEB01\"><nic mac=\"00:1e:0b:aa:bb:cc\"/></inventory>\n");
        return path;
    }

    private static JsonElement Curl(string url, string token, string path) =>
        JsonDocument.Parse(ExternalTool.Run("curl", "-sfS", "-H", $"Authorization: Bearer {token}", url + path)).RootElement;

    /// <summary>`p2v server` on a free loopback port, no netboot; its URL and the admin token it wrote.</summary>
    private (string Url, string Token) Serve() =>
        P2vServer.Start(P2vProcess.Dll, Directory.CreateDirectory(_tmp.File("server")).FullName, LoopbackPort.Free(), _started, "--no-netboot");
}
