using System.Text;
using System.Text.Json;
using P2V.Windows.Tests.Drivers;
using P2V.Windows.Tests.Fixups;
using P2V.Windows.Tests.Registry;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v fixup --drivers DIR --firstboot FILE…` as a process on the Windows Server 2003 fixture disk, with a
/// virtio-win-like driver folder; the result read back with ntfs-3g (ntfscat, ntfsls, ntfsfix -n) and hivex.
/// </summary>
public sealed class FixupDriversCommandTests(FixupFixture fx) : IClassFixture<FixupFixture>, IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static ExternalTool.Result P2v(params string[] args) =>
        ExternalTool.RunWith("dotnet", [Path.Combine(AppContext.BaseDirectory, "p2v.dll"), .. args], stdin: null, check: false);

    private static string Hivexget(string hive, string key, string value) => ExternalTool.Try("hivexget", hive, key, value).StdOut.Trim();

    private static byte[] Cat(string volume, string path) => ExternalTool.RunBytes("ntfscat", volume, path);

    private static string Ls(string volume, string dir) => ExternalTool.Try("ntfsls", "-a", "-p", dir, volume).StdOut;

    private static void AssertNtfsHealthy(string volume)
    {
        var fix = ExternalTool.Try("ntfsfix", "-n", volume);
        Assert.True(fix.ExitCode == 0, fix.StdOut + fix.StdErr);
        var ls = ExternalTool.Try("ntfsls", "-R", "-a", volume);
        Assert.True(ls.ExitCode == 0, ls.StdErr);
    }

    private (string First, string Second) Scripts()
    {
        var first = _tmp.File("install-additions.cmd");
        File.WriteAllText(first, "@echo off\r\necho installing the guest additions\r\n");
        var second = _tmp.File("set-ip.vbs");
        File.WriteAllText(second, "WScript.Echo \"static IP\"\r\n");
        return (first, second);
    }

    [Fact]
    public void DriversAndFirstBootScriptsAreInstalledOfflineAndUndone()
    {
        var drivers = DriverPackages.Build(_tmp.File("pkgs"));
        var (first, second) = Scripts();
        var disk = fx.CopyDisk("drivers");
        var report = disk + ".report.json";
        var run = P2v("fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, "--drivers", drivers, "--firstboot", first, second, "-o", report);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);

        var volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        var pkg = Path.Combine(drivers, "viostor", "2k3", "x86");
        Assert.Equal(File.ReadAllBytes(Path.Combine(pkg, "viostor.sys")), Cat(volume, "/WINDOWS/system32/drivers/viostor.sys"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(drivers, "NetKVM", "2k3", "x86", "netkvm.sys")), Cat(volume, "/WINDOWS/system32/drivers/netkvm.sys"));
        Assert.DoesNotContain("pvscsi.sys", Ls(volume, "/WINDOWS/system32/drivers"));
        // The INF store did not exist: created, with oem0/oem1 in the order the packages were chosen.
        var infs = new[] { Cat(volume, "/WINDOWS/inf/oem0.inf"), Cat(volume, "/WINDOWS/inf/oem1.inf") };
        Assert.Contains(File.ReadAllBytes(Path.Combine(pkg, "viostor.inf")), infs);
        Assert.Contains(File.ReadAllBytes(Path.Combine(drivers, "NetKVM", "2k3", "x86", "netkvm.inf")), infs);
        var viostorOem = infs[0].SequenceEqual(File.ReadAllBytes(Path.Combine(pkg, "viostor.inf"))) ? "oem0" : "oem1";
        Assert.Equal(File.ReadAllBytes(Path.Combine(pkg, "viostor.cat")), Cat(volume, $"/WINDOWS/inf/{viostorOem}.cat"));

        var hive = disk + ".system";
        File.WriteAllBytes(hive, Cat(volume, "/WINDOWS/system32/config/system"));
        foreach (var set in new[] { "ControlSet001", "ControlSet002" })
        {
            Assert.Equal("0", Hivexget(hive, $@"\{set}\Services\viostor", "Start")); // boot start for storage
            Assert.Equal("1", Hivexget(hive, $@"\{set}\Services\viostor", "Type"));
            Assert.Equal("1", Hivexget(hive, $@"\{set}\Services\viostor", "ErrorControl"));
            Assert.Equal(@"system32\DRIVERS\viostor.sys", Hivexget(hive, $@"\{set}\Services\viostor", "ImagePath"));
            Assert.Equal("SCSI miniport", Hivexget(hive, $@"\{set}\Services\viostor", "Group"));
            Assert.Equal("1", Hivexget(hive, $@"\{set}\Services\viostor\Parameters\PnpInterface", "5"));
            foreach (var id in new[] { "pci#ven_1af4&dev_1001&subsys_00021af4&rev_00", "pci#ven_1af4&dev_1042&subsys_11001af4&rev_01" })
            {
                Assert.Equal("viostor", Hivexget(hive, $@"\{set}\Control\CriticalDeviceDatabase\{id}", "Service"));
                Assert.Equal(DriverPackages.StorageClass, Hivexget(hive, $@"\{set}\Control\CriticalDeviceDatabase\{id}", "ClassGUID"));
            }
            Assert.Equal("3", Hivexget(hive, $@"\{set}\Services\netkvm", "Start"));
            Assert.Equal("NDIS", Hivexget(hive, $@"\{set}\Services\netkvm", "Group"));
            Assert.Equal("Red Hat VirtIO Ethernet Adapter Service", Hivexget(hive, $@"\{set}\Services\netkvm", "DisplayName"));
        }
        // No CriticalDeviceDatabase entry for the NIC: Plug and Play installs it from the INF store.
        Assert.Equal("", Hivexget(hive, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_1af4&dev_1000&subsys_00011af4&rev_00", "Service"));

        // First boot: Winlogon runs the runner once, before the logon screen.
        Assert.Equal("2", Hivexget(hive, @"\Setup", "SetupType"));
        Assert.Equal(@"cmd.exe /c %SystemRoot%\P2V\FirstBoot\firstboot.cmd", Hivexget(hive, @"\Setup", "CmdLine"));
        Assert.Equal(File.ReadAllBytes(first), Cat(volume, "/WINDOWS/P2V/FirstBoot/01-install-additions.cmd"));
        Assert.Equal(File.ReadAllBytes(second), Cat(volume, "/WINDOWS/P2V/FirstBoot/02-set-ip.vbs"));
        var runner = Encoding.Latin1.GetString(Cat(volume, "/WINDOWS/P2V/FirstBoot/firstboot.cmd"));
        Assert.StartsWith("@echo off\r\n", runner);
        var lines = runner.Split("\r\n");
        int reset = Array.FindIndex(lines, l => l.StartsWith("regedit /s ")), one = Array.FindIndex(lines, l => l.StartsWith("call ")), two = Array.FindIndex(lines, l => l.StartsWith("cscript "));
        Assert.True(reset >= 0 && reset < one && one < two, runner);
        Assert.Equal(@"call ""%SystemRoot%\P2V\FirstBoot\01-install-additions.cmd"" > ""%SystemRoot%\P2V\FirstBoot\log\01-install-additions.cmd.log"" 2>&1", lines[one]);
        var done = Encoding.ASCII.GetString(Cat(volume, "/WINDOWS/P2V/FirstBoot/firstboot-done.reg"));
        Assert.Contains("[HKEY_LOCAL_MACHINE\\SYSTEM\\Setup]\r\n\"SetupType\"=dword:00000000", done);

        // The report lists what was installed and what was skipped, with the reasons.
        var json = JsonDocument.Parse(File.ReadAllText(report)).RootElement;
        var installed = json.GetProperty("driversInstalled").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(installed, l => l.StartsWith("viostor.inf [RHEL.NTx86.5.2]") && l.Contains("service viostor, Start 0"));
        Assert.Contains(installed, l => l.StartsWith("netkvm.inf [RedHat.NTx86.5.1]"));
        var skipped = json.GetProperty("driversSkipped").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(skipped, l => l.StartsWith(Path.Combine("viostor", "w7", "amd64", "viostor.inf")) && l.Contains("no Models section for Windows 5.2 x86"));
        Assert.Contains(skipped, l => l.StartsWith(Path.Combine("vmware", "pvscsi", "pvscsi.inf")));
        Assert.Equal(2, json.GetProperty("firstBootScripts").GetArrayLength());
        var text = File.ReadAllText(Path.ChangeExtension(report, ".txt"));
        Assert.Contains("Drivers:", text);
        Assert.Contains("skipped: " + Path.Combine("viostor", "xp", "x86", "viostor.inf"), text);

        // The same fix-up again changes nothing: the INF is found in the store, files and values are as wanted.
        var again = P2v("fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, "--drivers", drivers, "--firstboot", first, second, "-o", disk + ".again.json");
        Assert.True(again.ExitCode == 0, again.StdOut + again.StdErr);
        Assert.Empty(JsonDocument.Parse(File.ReadAllText(disk + ".again.json")).RootElement.GetProperty("changes").EnumerateArray());

        var windows = Ls(volume, "/WINDOWS").Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("inf", windows);
        Assert.Contains("P2V", windows);

        // Undo: the hive and every file as they were; what the fix-up created is gone, the volume still clean.
        var undo = P2v("fixup", disk, "--undo", report);
        Assert.True(undo.ExitCode == 0, undo.StdOut + undo.StdErr);
        volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        foreach (var (path, bytes) in fx.Files) Assert.True(bytes.AsSpan().SequenceEqual(Cat(volume, path)), $"{path} differs from the original");
        var listing = ExternalTool.Run("ntfsls", "-R", "-a", "-p", "/WINDOWS", volume);
        foreach (var gone in new[] { "viostor.sys", "netkvm.sys", "oem0.inf", "FirstBoot", "firstboot.cmd" }) Assert.DoesNotContain(gone, listing);
        Assert.DoesNotContain("inf", Ls(volume, "/WINDOWS").Split('\n').Select(l => l.Trim()));
        Assert.DoesNotContain("P2V", Ls(volume, "/WINDOWS").Split('\n').Select(l => l.Trim()));
        File.WriteAllBytes(hive, Cat(volume, "/WINDOWS/system32/config/system"));
        var original = disk + ".orig.system";
        File.WriteAllBytes(original, fx.Files["/WINDOWS/system32/config/system"]);
        Assert.Equal(HiveFixtures.Export(original), HiveFixtures.Export(hive));
    }

    [Theory]
    [InlineData("2")] // boot sector, drivers
    [InlineData("3")] // … first boot
    public void AnInterruptedFixupWithDriversIsUndone(string steps)
    {
        var drivers = DriverPackages.Build(_tmp.File("pkgs"));
        var (first, _) = Scripts();
        var disk = fx.CopyDisk("cut" + steps);
        var report = disk + ".json";
        var run = ExternalTool.RunWith("env", [$"P2V_FAULT_AFTER={steps}", "dotnet", Path.Combine(AppContext.BaseDirectory, "p2v.dll"),
            "fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, "--drivers", drivers, "--firstboot", first, "-o", report], stdin: null, check: false);
        Assert.Equal(70, run.ExitCode);
        var volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        Assert.Contains("viostor.sys", Ls(volume, "/WINDOWS/system32/drivers"));
        Assert.False(JsonDocument.Parse(File.ReadAllText(report)).RootElement.GetProperty("complete").GetBoolean());

        var undo = P2v("fixup", disk, "--undo", report);
        Assert.True(undo.ExitCode == 0, undo.StdOut + undo.StdErr);
        volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        foreach (var (path, bytes) in fx.Files) Assert.True(bytes.AsSpan().SequenceEqual(Cat(volume, path)), $"{path} differs from the original");
        Assert.DoesNotContain("viostor.sys", Ls(volume, "/WINDOWS/system32/drivers"));
        var windows = Ls(volume, "/WINDOWS").Split('\n').Select(l => l.Trim()).ToList();
        Assert.DoesNotContain("inf", windows);
        Assert.DoesNotContain("P2V", windows);
    }

    [Fact]
    public void AMalformedInfStopsTheFixupWithFileAndLineAndWritesNothing()
    {
        var drivers = DriverPackages.Build(_tmp.File("pkgs"));
        var broken = Path.Combine(drivers, "broken", "viostor.inf");
        Directory.CreateDirectory(Path.GetDirectoryName(broken)!);
        File.WriteAllText(broken, "[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=SCSIAdapter\r\nProvider=\"Red Hat\r\n");
        var disk = fx.CopyDisk("badinf");
        var before = ExternalTool.Run("sha256sum", disk).Split(' ')[0];
        var run = P2v("fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, "--drivers", drivers, "-o", disk + ".json");
        Assert.Equal(1, run.ExitCode);
        Assert.Equal($"p2v fixup: {broken}, line 4: a quoted string that is not closed", run.StdErr.Trim());
        Assert.Equal(before, ExternalTool.Run("sha256sum", disk).Split(' ')[0]);
        Assert.False(File.Exists(disk + ".json"));
    }

    [Fact]
    public void DryRunListsDriversAndSkipsForVmwareAndWritesNothing()
    {
        var drivers = DriverPackages.Build(_tmp.File("pkgs"));
        var disk = fx.CopyDisk("drydrivers");
        var before = ExternalTool.Run("sha256sum", disk).Split(' ')[0];
        var run = P2v("fixup", disk, "--target", "vmware", "--patches", fx.PatchLibrary, "--drivers", drivers, "--dry-run");
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Contains(@"pvscsi.sys → \WINDOWS\system32\drivers\pvscsi.sys", run.StdOut);
        Assert.Contains(@"ControlSet001\Control\CriticalDeviceDatabase\pci#ven_15ad&dev_07c0&subsys_07c015ad\Service = ""pvscsi""", run.StdOut);
        Assert.Contains("is a storage device VMware Workstation presents (VMware PVSCSI)", run.StdOut);
        Assert.Equal(before, ExternalTool.Run("sha256sum", disk).Split(' ')[0]);
    }
}
