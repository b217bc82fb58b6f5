using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using P2V.Controller.Tests;
using P2V.Migration.Inventory;
using P2V.Migration.Reporting;
using P2V.Windows.Fixups;

namespace P2V.Cli.Tests;

/// <summary>
/// After the deploy, against a real `p2v server` on loopback: a migration's capture (real `p2v capture` into the
/// controller's store with the capture job's token), `p2v createvm` registering the VM, its deploy job claimed with the
/// token from the iPXE script the VM would boot, the reset job answered with "boot from local disk", then `p2v report`
/// (its JSON read back by the source-generated context, its page opened in headless chromium) and `p2v cleanup
/// --drop-images`, twice.
/// </summary>
public sealed partial class PostMigrationTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private const string BootMac = "00:1e:0b:aa:bb:cd";
    private const string HostileLabel = "<script>alert('x')</script> & \"C\"";
    private readonly TempDirectory _tmp = new();
    private readonly List<Process> _started = [];

    public void Dispose()
    {
        foreach (var p in _started.Where(p => !p.HasExited)) { p.Kill(entireProcessTree: true); p.WaitForExit(); }
        _tmp.Dispose();
    }

    [SkippableFact]
    public async Task Reset_report_and_cleanup_of_a_deployed_vm()
    {
        Requires.Tool("curl");
        Requires.Tool("mkntfs");
        Requires.Tool("sfdisk");
        Requires.Tool("qemu-img");
        var (url, token, bootHttp) = Serve();
        var folder = Plan(url);
        string[] disks = [MakeDisk("sda"), MakeDisk("sdb")];

        // Capture, as the capture agent does: claim the job with its token, capture each disk into the store, complete.
        Ok(P2v(token, "device", "add", BootMac, "--control", "--name", "WEB01"));
        var capture = JsonDocument.Parse(Ok(P2v(token, "job", "create", BootMac, "--kind", "capture", "--image", "WEB01", "--json"))).RootElement;
        string captureToken = capture.GetProperty("token").GetString()!;
        long captureJob = capture.GetProperty("job").GetProperty("id").GetInt64();
        Curl(url, captureToken, "/api/agent/job");
        Ok(P2v(null, "capture", disks[0], "--store", url, "--name", "WEB01", "--token", captureToken));
        Ok(P2v(null, "capture", disks[1], "--store", url, "--name", "WEB01.disk2", "--token", captureToken));
        Curl(url, captureToken, $"/api/agent/jobs/{captureJob}/complete", "{\"succeeded\": true, \"error\": null}");
        // Another machine's image holding the same second disk: WEB01.disk2's chunks are all shared with it.
        Ok(P2v(token, "capture", disks[1], "--store", url, "--name", "OTHER", "--token", token));

        // createvm registers the VM and its deploy job; the VM boots the floppy's iPXE, which fetches this script.
        var created = JsonDocument.Parse(Ok(P2v(token, "createvm", Path.Combine(folder, "plan.json"), "--floppy", Floppy(), "--image", "WEB01", "--json"))).RootElement;
        long deployJob = created.GetProperty("deployJob").GetInt64();
        var script = ExternalTool.Run("curl", "-sSf", $"{bootHttp}/ipxe/{BootMac.Replace(':', '-')}.ipxe");
        Assert.Contains("p2v.role=deploy", script);
        string deployToken = JobToken().Match(script).Groups["token"].Value;
        Curl(url, deployToken, "/api/agent/job");
        Curl(url, deployToken, $"/api/agent/jobs/{deployJob}/progress", "{\"phase\": \"deploy WEB01\", \"bytesDone\": 1, \"bytesTotal\": 2, \"bytesPerSecond\": 1, \"etaSeconds\": 1, \"message\": null}");
        Curl(url, deployToken, $"/api/agent/jobs/{deployJob}/report",
            JsonSerializer.Serialize(new Dictionary<string, string> { ["name"] = "fixup", ["content"] = FixupReportJson() }));
        Curl(url, deployToken, $"/api/agent/jobs/{deployJob}/complete", "{\"succeeded\": true, \"error\": null}");

        // 1. Reset: the VM's next boot (PXE or the floppy's iPXE, the same script) boots its disk, and that ends the job.
        long resetJob = long.Parse(Ok(P2v(token, "job", "create", BootMac, "--kind", "reset")).Trim());
        script = ExternalTool.Run("curl", "-sSf", $"{bootHttp}/ipxe/{BootMac.Replace(':', '-')}.ipxe");
        Assert.Contains("booting from local disk", script);
        Assert.Contains("sanboot", script);
        var reset = JsonDocument.Parse(Ok(P2v(token, "job", "show", resetJob.ToString(), "--json"))).RootElement;
        Assert.Equal(("reset", "succeeded"), (reset.GetProperty("kind").GetString(), reset.GetProperty("state").GetString()));
        Ok(P2v(token, "job", "wait", resetJob.ToString(), "--timeout", "60"));

        // 2. The report, as JSON through the source-generated context and as a page.
        var html = _tmp.File("report.html");
        var json = Ok(P2v(token, "report", folder, "-o", html, "--controller", url, "--json"));
        var report = JsonSerializer.Deserialize(json, ReportJson.Default.MigrationReport)!;
        Assert.Equal("WEB01", report.Name);
        Assert.Equal(url, report.Controller);
        Assert.Empty(report.Notes);
        Assert.Equal(["WEB01", "WEB01.disk2"], report.Images.Select(i => i.Name));
        Assert.True(report.Images[1].DedupSavings > 0.99, $"WEB01.disk2 shares its chunks with OTHER: {report.Images[1].DedupSavings}");
        Assert.Contains(report.Volumes, v => v.Image == "WEB01" && v.Kind == "Ntfs" && v.DeclaredUsedBytes > 0);
        Assert.All(report.Volumes, v => Assert.True(v.Consistent, $"{v.Image} volume {v.Index}: declared {v.DeclaredUsedBytes}, read {v.BytesRead}, captured {v.BytesCaptured}, zero {v.ZeroBytesSkipped}"));
        Assert.All(report.Volumes.Where(v => v.Kind == "Ntfs"), v => Assert.Equal(v.DeclaredUsedBytes, v.BytesRead));
        var fixup = Assert.Single(report.Fixups);
        Assert.Equal($"deploy job {deployJob} (controller)", fixup.Origin);
        Assert.Contains("--undo", fixup.UndoCommand);
        Assert.Equal([("driver", "viostor.inf"), ("driver skipped", "netkvm.inf"), ("first-boot", "C:\\P2V\\firstboot\\01-additions.cmd")],
            report.Installed.Select(i => (i.Kind, i.Name)));
        Assert.Equal(["gather", "plan", "create VM", "capture WEB01", "deploy WEB01", "reset"], report.Phases.Select(p => p.Name));
        Assert.All(report.Phases.Where(p => p.Origin.StartsWith("controller", StringComparison.Ordinal)), p => Assert.True(p.Finished >= p.Started, p.Name));
        Assert.Contains(report.Findings, f => f.Fix.Length > 0);
        Assert.Contains(HostileLabel, report.Source!.Disks[0].Partitions[0]);
        Assert.Contains("if=floppy", report.Target.Configuration);
        await OpenInChromiumAsync(html);

        // 3. Clean-up: device released, default job none, floppy out of both configurations, the migration's images dropped.
        var images = JsonDocument.Parse(Ok(P2v(token, "image", "list", "--store", url, "--token", token, "--json"))).RootElement.EnumerateArray()
            .ToDictionary(i => i.GetProperty("name").GetString()!, i => i.GetProperty("uniqueBytes").GetInt64());
        var cleanup = JsonDocument.Parse(Ok(P2v(token, "cleanup", folder, "--controller", url, "--drop-images", "--json"))).RootElement;
        Assert.True(cleanup.GetProperty("released").GetBoolean());
        Assert.Equal(2, cleanup.GetProperty("detached").GetArrayLength());
        Assert.Equal(["WEB01", "WEB01.disk2"], cleanup.GetProperty("removedImages").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        long freed = cleanup.GetProperty("garbage").GetProperty("bytesRemoved").GetInt64();
        Assert.True(freed >= images["WEB01"] + images["WEB01.disk2"] && freed > 0, $"gc freed {freed}, the images' own bytes were {images["WEB01"]} + {images["WEB01.disk2"]}");
        var device = JsonDocument.Parse(Curl(url, token, $"/api/devices/{BootMac}")).RootElement;
        Assert.Equal((false, "none"), (device.GetProperty("controlled").GetBoolean(), device.GetProperty("defaultTemplate").GetString()));
        foreach (var config in new[] { Path.Combine(folder, "WEB01.qemu.sh"), Path.Combine(folder, "vm", "WEB01.qemu.sh") })
        {
            var text = File.ReadAllText(config);
            Assert.DoesNotContain("if=floppy", text);
            Assert.Equal(0, ExternalTool.Try("sh", "-n", config).ExitCode);
            Assert.False(File.Exists(config + ".partial"));
        }
        Assert.Equal(["OTHER"], JsonDocument.Parse(Ok(P2v(token, "image", "list", "--store", url, "--token", token, "--json"))).RootElement.EnumerateArray()
            .Select(i => i.GetProperty("name").GetString()));
        // The chunks OTHER shares with the dropped WEB01.disk2 survived the garbage collection: it restores to the same disk (qemu-img compares).
        var restored = _tmp.File("other.img");
        Ok(P2v(token, "restore", $"{url}/images/OTHER", restored, "--format", "raw"));
        Assert.Equal(0, ExternalTool.Try("qemu-img", "compare", "-f", "raw", "-F", "raw", disks[1], restored).ExitCode);
        Assert.Contains("booting from local disk", ExternalTool.Run("curl", "-sSf", $"{bootHttp}/ipxe/{BootMac.Replace(':', '-')}.ipxe"));

        // Twice: nothing left to do, and it says so.
        var again = P2v(token, "cleanup", folder, "--controller", url, "--drop-images");
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Contains("was released already", again.StdErr);
        Assert.Contains("holds no boot floppy any more", again.StdErr);
        Assert.Contains("no image of this migration left in the store; garbage collection freed 0", again.StdErr);

        // A report after the clean-up says the images are gone instead of failing.
        var after = JsonSerializer.Deserialize(Ok(P2v(token, "report", folder, "--controller", url, "--json")), ReportJson.Default.MigrationReport)!;
        Assert.Empty(after.Images);
        Assert.Contains(after.Notes, n => n.Contains("dropped by p2v cleanup", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Cleanup_of_an_unknown_vm_is_a_one_line_error_and_changes_nothing()
    {
        Requires.Tool("curl");
        var (url, token, _) = Serve(netboot: false);
        var folder = Plan(url);
        var config = Path.Combine(folder, "WEB01.qemu.sh");
        var before = File.ReadAllText(config);
        var r = P2v(token, "cleanup", folder, "--controller", url);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"device {BootMac} is not known to the controller", P2vProcess.OneLine(r));
        Assert.Equal(before, File.ReadAllText(config));

        r = P2v(token, "cleanup", _tmp.Path, "--controller", url);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no plan.json", P2vProcess.OneLine(r));
        r = P2v(token, "report", _tmp.File("nowhere"));
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no such migration folder", P2vProcess.OneLine(r));
    }

    [SkippableFact]
    public void Cleanup_refuses_while_a_job_of_the_vm_runs()
    {
        Requires.Tool("curl");
        var (url, token, _) = Serve(netboot: false);
        var folder = Plan(url);
        Ok(P2v(token, "device", "add", BootMac, "--control"));
        var job = JsonDocument.Parse(Ok(P2v(token, "job", "create", BootMac, "--kind", "capture", "--image", "WEB01", "--json"))).RootElement;
        Curl(url, job.GetProperty("token").GetString()!, "/api/agent/job");
        var r = P2v(token, "cleanup", folder, "--controller", url, "--drop-images");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains($"job {job.GetProperty("job").GetProperty("id").GetInt64()} (capture) is claimed", P2vProcess.OneLine(r));
        Assert.Contains("if=floppy", File.ReadAllText(Path.Combine(folder, "WEB01.qemu.sh")));
        Assert.True(JsonDocument.Parse(Curl(url, token, $"/api/devices/{BootMac}")).RootElement.GetProperty("controlled").GetBoolean());
    }

    [SkippableFact]
    public void Report_from_the_folder_alone_reads_its_fixup_report_and_the_files_times()
    {
        var folder = Plan("http://127.0.0.1:9");
        var undo = Path.Combine(folder, "WEB01.fixup.json");
        File.WriteAllText(undo, FixupReportJson());
        var html = Path.Combine(folder, "report.html");
        var report = JsonSerializer.Deserialize(Ok(P2v(null, "report", folder, "--json", "-o", html)), ReportJson.Default.MigrationReport)!;
        Assert.Null(report.Controller);
        Assert.Empty(report.Volumes);
        var fixup = Assert.Single(report.Fixups);
        Assert.Equal((undo, $"p2v fixup /dev/sda --undo {undo}"), (fixup.UndoFile, fixup.UndoCommand));
        Assert.Equal(3, report.Installed.Count);
        Assert.Equal(["gather", "plan"], report.Phases.Select(p => p.Name));
        var page = File.ReadAllText(html);
        Assert.DoesNotContain("<script", page);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;C&quot;", page);
        Assert.Contains("Windows Server 2003 &lt;b&gt;SP2&lt;/b&gt;", page);
        Assert.Equal(0, ExternalTool.Try("xmllint", "--html", "--noout", html).ExitCode);
    }

    /// <summary>The page in chromium, offline: it must ask for nothing but itself, run no script from the source, show each section.</summary>
    private static async Task OpenInChromiumAsync(string html)
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is not installed (tools/setup installs Debian's chromium)");
        await using var chromium = await HeadlessChromium.LaunchAsync(Chromium);
        var page = await chromium.Browser.NewPageAsync();
        var requests = new List<string>();
        page.Request += (_, request) => requests.Add(request.Url);
        var dialogs = 0;
        page.Dialog += (_, dialog) => { dialogs++; _ = dialog.DismissAsync(); };
        await page.GotoAsync(new Uri(html).AbsoluteUri);
        Assert.Equal([new Uri(html).AbsoluteUri], requests);
        Assert.Equal(0, dialogs);
        Assert.Equal(0, await page.Locator("script").CountAsync());
        Assert.Equal("WEB01", await page.Locator("#vm-name").InnerTextAsync());
        Assert.Contains(HostileLabel, await page.Locator("#source-disks").InnerTextAsync());
        Assert.Equal(2, await page.Locator("#images tr").CountAsync() - 1);
        Assert.True(await page.Locator("#volumes tr.ok").CountAsync() >= 2);
        Assert.Equal(0, await page.Locator("#volumes tr.error").CountAsync());
        Assert.Contains("viostor.inf: storage, boot start", await page.Locator("#installed").InnerTextAsync());
        Assert.Contains("reset", await page.Locator("#phase-times").InnerTextAsync());
        var undo = page.Locator("a.undo");
        Assert.StartsWith("data:application/json;base64,", await undo.GetAttributeAsync("href"));
        var download = await page.RunAndWaitForDownloadAsync(() => undo.ClickAsync());
        var saved = html + ".undo.json";
        await download.SaveAsAsync(saved);
        // The undo file is the agent's report as it came, fields this build does not know included.
        Assert.Equal("qemu", FixupReport.FromJson(File.ReadAllText(saved), saved).Target);
        Assert.Contains("firstBootScripts", File.ReadAllText(saved));
        var shot = Environment.GetEnvironmentVariable("P2V_REPORT_SCREENSHOT") is { Length: > 0 } s ? s : html + ".png";
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, File.ReadAllBytes(shot)[..4]);
    }

    /// <summary>
    /// The fix-up report the deploy agent sends (the agent's fixup step writes it; here it is the report's input), with
    /// the lists `p2v fixup --drivers/--firstboot` add to it (driversInstalled, driversSkipped, firstBootScripts).
    /// </summary>
    private static string FixupReportJson()
    {
        var json = System.Text.Json.Nodes.JsonNode.Parse(new FixupReport
        {
            Disk = "/dev/sda", Target = "qemu", Vcpus = 2, Complete = true, StartedUtc = DateTime.UtcNow.AddMinutes(-1), FinishedUtc = DateTime.UtcNow,
            Windows = "Windows Server 2003 <b>SP2</b>", InstalledHal = "halmacpi.dll", InstalledKernel = "ntkrnlmp.exe",
            Plan = [new FixupStepSummary("hal", "HAL and kernel", ["keep halmacpi.dll"]), new FixupStepSummary("drivers", "virtio storage", ["viostor.inf"])],
        }.ToJson())!.AsObject();
        json["driversInstalled"] = new System.Text.Json.Nodes.JsonArray("viostor.inf: storage, boot start");
        json["driversSkipped"] = new System.Text.Json.Nodes.JsonArray("netkvm.inf: no model for 5.2 x86");
        json["firstBootScripts"] = new System.Text.Json.Nodes.JsonArray("C:\\P2V\\firstboot\\01-additions.cmd");
        return json.ToJsonString();
    }

    private static string Ok(ExternalTool.Result r)
    {
        Assert.True(r.ExitCode == 0, r.StdErr);
        return r.StdOut;
    }

    private string _controller = "";

    /// <summary>p2v with the controller test's server and <paramref name="token"/> in the environment, as an operator's shell has them.</summary>
    private ExternalTool.Result P2v(string? token, params string[] args) =>
        ExternalTool.RunWith("env", ["P2V_CONTROLLER=" + _controller, "P2V_TOKEN=" + (token ?? ""), "dotnet", P2vProcess.Dll, .. args], stdin: null, check: false);

    private static string Curl(string url, string token, string path, string? post = null) => ExternalTool.Run("curl",
        [.. new[] { "-sfS", "-H", $"Authorization: Bearer {token}" }, .. post is null ? Array.Empty<string>() : ["-H", "Content-Type: application/json", "--data-binary", post], url + path]);

    /// <summary>An MBR disk of 24 MiB with one NTFS partition (sfdisk, mkntfs).</summary>
    private string MakeDisk(string name)
    {
        var disk = _tmp.File(name + ".img");
        using (var f = File.Create(disk)) f.SetLength(24 << 20);
        ExternalTool.RunWith("sfdisk", ["--no-reread", "--no-tell-kernel", disk], "label: dos\nstart=2048, type=7\n");
        var vol = _tmp.File(name + ".vol");
        using (var f = File.Create(vol)) f.SetLength((24 << 20) - (2048 * 512));
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-s", "512", "-c", "4096", "-L", name, vol);
        ExternalTool.Run("dd", $"if={vol}", $"of={disk}", "bs=512", "seek=2048", "conv=notrunc,sparse", "status=none");
        return disk;
    }

    private string Floppy()
    {
        var path = _tmp.File("floppy.img");
        if (!File.Exists(path)) ExternalTool.Run("mkfs.fat", "-C", "-F", "12", path, "1440");
        return path;
    }

    /// <summary>A migration folder by `p2v plan` for QEMU, from an inventory of two disks whose volume label is hostile HTML.</summary>
    private string Plan(string controller)
    {
        var folder = _tmp.File("migration");
        var inventory = _tmp.File("inventory.xml");
        DiskInfo Disk(string name) => new(name, 24 << 20, 512, 512, DiskBus.Sata, "Disk <i>", "ahci", false, null,
            new PartitionTableInfo(PartitionStyle.Mbr, "0x1234", [new PartitionInfo(1, 1 << 20, 23 << 20, "07", true,
                new VolumeInfo(VolumeFileSystem.Ntfs, HostileLabel, 23 << 20, 4 << 20, false, false))]));
        InventoryXml.Save(new SourceInventory(DateTimeOffset.UtcNow.AddHours(-1), "test", new SystemInfo("Acme & Co", "Server <1>", "SN1", "0000", "BIOS", "1", "2006"),
            new ProcessorInfo(1, 2, 2, "Xeon"), 512L << 20, [Disk("sda"), Disk("sdb")], [new NetworkAdapterInfo("eth0", BootMac, "tg3", "14e4", "1659", 1000)],
            [], [], [], null), inventory);
        var vm = Path.Combine(folder, "vm");
        Ok(P2v(null, "plan", inventory, "--name", "WEB01", "--target", "qemu", "--vm-config-path", vm, "--virtual-disk-path", vm, "--dest-host", "localhost",
            "-o", folder, "--controller", controller, "--disk-format", "raw", "--force"));
        return folder;
    }

    /// <summary>`p2v server` on free loopback ports (API, and boot files over HTTP/TFTP unless <paramref name="netboot"/> is false).</summary>
    private (string Url, string Token, string BootHttp) Serve(bool netboot = true)
    {
        var data = Directory.CreateDirectory(_tmp.File("server")).FullName;
        int port = LoopbackPort.Free(), http = LoopbackPort.Free(), tftp = LoopbackPort.Free(udp: true);
        var (url, token) = P2vServer.Start(P2vProcess.Dll, data, port, _started,
            netboot ? ["--boot-http-port", http.ToString(), "--tftp-port", tftp.ToString()] : ["--no-netboot"]);
        _controller = url;
        return (url, token, $"http://127.0.0.1:{http}");
    }

    [GeneratedRegex(@"p2v\.token=(?<token>job_[A-Za-z0-9_-]+)")]
    private static partial Regex JobToken();
}
