using System.Text.Json;
using P2V.Windows.Tests.Fixups;
using P2V.Windows.Tests.Registry;

namespace P2V.Cli.Tests;

/// <summary>`p2v fixup` as a process on a disk image, read back with ntfs-3g's tools, hivexget and file(1).</summary>
public sealed class FixupCommandTests(FixupFixture fx) : IClassFixture<FixupFixture>
{
    private static ExternalTool.Result P2v(IEnumerable<string> args, string? faultAfter = null)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "p2v.dll");
        return faultAfter is null
            ? ExternalTool.RunWith("dotnet", [dll, .. args], stdin: null, check: false)
            : ExternalTool.RunWith("env", [$"P2V_FAULT_AFTER={faultAfter}", "dotnet", dll, .. args], stdin: null, check: false);
    }

    private static string Hivexget(string hive, string key, string value) =>
        ExternalTool.Try("hivexget", hive, key, value).StdOut.Trim();

    private static byte[] Cat(string volume, string path) => ExternalTool.RunBytes("ntfscat", volume, path);

    private static void AssertNtfsHealthy(string volume)
    {
        var fix = ExternalTool.Try("ntfsfix", "-n", volume);
        Assert.True(fix.ExitCode == 0, fix.StdOut + fix.StdErr);
        Assert.Equal(0, ExternalTool.Try("ntfsls", "-R", "-a", volume).ExitCode);
    }

    /// <summary>Every file of the tree as the fixture wrote it (the originals), and the boot sectors as mkntfs left them.</summary>
    private void AssertOriginal(string disk)
    {
        var volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        foreach (var (path, bytes) in fx.Files)
            Assert.True(bytes.AsSpan().SequenceEqual(Cat(volume, path)), $"{path} differs from the original");
        Assert.Contains("READONLY HIDDEN SYSTEM", ExternalTool.Run("ntfsinfo", "-F", "/boot.ini", volume));
        var original = fx.ExtractVolume(fx.BaseDisk);
        Assert.Equal(ExternalTool.RunBytes("head", "-c", "512", original), ExternalTool.RunBytes("head", "-c", "512", volume));
        Assert.Equal(ExternalTool.RunBytes("tail", "-c", "512", original), ExternalTool.RunBytes("tail", "-c", "512", volume));
    }

    [Fact]
    public void FixupForQemuSwapsHalAndKernelEditsTheHiveRewritesBootIniAndUndoes()
    {
        var disk = fx.CopyDisk("qemu");
        var report = disk + ".report.json";
        var run = P2v(["fixup", disk, "--target", "qemu", "--vcpus", "1", "--patches", fx.PatchLibrary, "-o", report]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);

        var volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        // Uniprocessor ACPI with an APIC on QEMU: the swapped files are the patch library's, byte for byte.
        Assert.Equal(fx.Pe["halaacpi.dll"], Cat(volume, "/WINDOWS/system32/hal.dll"));
        Assert.Equal(fx.Pe["ntoskrnl.exe"], Cat(volume, "/WINDOWS/system32/ntoskrnl.exe"));
        Assert.Equal(fx.Pe["ntkrnlpa.exe"], Cat(volume, "/WINDOWS/system32/ntkrnlpa.exe"));
        Assert.Equal(FixupFixture.BootIniExpected, System.Text.Encoding.Latin1.GetString(Cat(volume, "/boot.ini")));
        var info = ExternalTool.Run("ntfsinfo", "-F", "/boot.ini", volume);
        Assert.DoesNotContain("HIDDEN", info);
        Assert.DoesNotContain("SYSTEM", info.Split('\n').Where(l => l.Contains("File attributes")).DefaultIfEmpty("").First());

        // The hive as ntfscat extracts it, read by hivex.
        var hive = disk + ".system";
        File.WriteAllBytes(hive, Cat(volume, "/WINDOWS/system32/config/system"));
        Assert.Equal("intelide", Hivexget(hive, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7010", "Service"));
        Assert.Equal("atapi", Hivexget(hive, @"\ControlSet001\Control\CriticalDeviceDatabase\primary_ide_channel", "Service"));
        Assert.Equal("{4D36E96A-E325-11CE-BFC1-08002BE10318}", Hivexget(hive, @"\ControlSet001\Control\CriticalDeviceDatabase\secondary_ide_channel", "ClassGUID"));
        Assert.Equal("0", Hivexget(hive, @"\ControlSet001\Services\pciide", "Start"));
        Assert.Equal("4", Hivexget(hive, @"\ControlSet001\Services\CpqCiDrv", "Start"));
        Assert.Equal("0", Hivexget(hive, @"\ControlSet001\Control\CrashControl", "AutoReboot"));
        Assert.Equal("intelide", Hivexget(hive, @"\ControlSet002\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7010", "Service")); // Last Known Good too
        Assert.Equal("", Hivexget(hive, @"\ControlSet001\Control\Class\{4D36E97B-E325-11CE-BFC1-08002BE10318}", "UpperFilters"));

        // Nothing else in the hive changed: every difference lies in a key the fix-up owns.
        var originalHive = disk + ".system.orig";
        File.WriteAllBytes(originalHive, fx.Files["/WINDOWS/system32/config/system"]);
        var before = HiveFixtures.ExportMap(originalHive);
        var after = HiveFixtures.ExportMap(hive);
        string[] owned = [@"\Control\CriticalDeviceDatabase", @"\Services\atapi", @"\Services\intelide", @"\Services\pciide", @"\Services\CpqCiDrv", @"\Control\Class\{4D36E97B", @"\Control\CrashControl"];
        foreach (var key in before.Keys.Union(after.Keys))
        {
            var b = before.GetValueOrDefault(key);
            var a = after.GetValueOrDefault(key);
            bool same = b is not null && a is not null && b.SequenceEqual(a);
            if (!same) Assert.True(owned.Any(o => key.Contains(o, StringComparison.OrdinalIgnoreCase)) && (key.Contains("ControlSet001") || key.Contains("ControlSet002")), $"unexpected change in [{key}]");
        }
        Assert.True(after.ContainsKey(@"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7010"));
        Assert.False(after.ContainsKey(@"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7111"));

        // Both boot sectors: hidden sectors = the partition start, 16 heads and 63 sectors for a 48 MiB disk.
        foreach (var sector in new[] { ExternalTool.RunBytes("head", "-c", "512", volume), ExternalTool.RunBytes("tail", "-c", "512", volume) })
        {
            var one = disk + ".sector";
            File.WriteAllBytes(one, sector);
            var described = ExternalTool.Run("file", "-b", one);
            Assert.Contains("hidden sectors 2048", described);
            Assert.Contains("heads 16", described);
            Assert.Contains("sectors/track 63", described);
        }

        // The report, as JSON and text.
        var json = JsonDocument.Parse(File.ReadAllText(report)).RootElement;
        Assert.True(json.GetProperty("complete").GetBoolean());
        var kinds = json.GetProperty("changes").EnumerateArray().Select(c => c.GetProperty("kind").GetString()).ToList();
        Assert.Contains("bytes", kinds);
        Assert.Contains("registry", kinds);
        Assert.Equal(5, kinds.Count(k => k == "file")); // hive, hal, two kernels, boot.ini
        Assert.Contains("attributes", kinds);
        Assert.Contains("halaacpi.dll", File.ReadAllText(Path.ChangeExtension(report, ".txt")));

        // Running it again changes nothing more.
        var again = P2v(["fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary, "-o", disk + ".again.json"]);
        Assert.True(again.ExitCode == 0, again.StdOut + again.StdErr);
        Assert.Empty(JsonDocument.Parse(File.ReadAllText(disk + ".again.json")).RootElement.GetProperty("changes").EnumerateArray());

        var undo = P2v(["fixup", disk, "--undo", report]);
        Assert.True(undo.ExitCode == 0, undo.StdOut + undo.StdErr);
        AssertOriginal(disk);
    }

    [Fact]
    public void DryRunShowsThePlanAndWritesNothing()
    {
        var disk = fx.CopyDisk("dry");
        var before = ExternalTool.Run("sha256sum", disk).Split(' ')[0];
        var run = P2v(["fixup", disk, "--target", "hyperv", "--vcpus", "2", "--patches", fx.PatchLibrary, "--dry-run"]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Contains("DRY RUN", run.StdOut);
        Assert.Contains("pci#ven_8086&dev_7111", run.StdOut);
        Assert.Contains("no swap", run.StdOut); // halmacpi + ntkrnlmp already fit two vCPUs
        Assert.Contains("hidden sectors (0x1C): 0 → 2048", run.StdOut);
        Assert.Equal(before, ExternalTool.Run("sha256sum", disk).Split(' ')[0]);
        Assert.False(File.Exists(disk + ".fixup.json"));
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("3")]
    public void InterruptedFixupLeavesAReadableVolumeThatUndoRestores(string steps)
    {
        var disk = fx.CopyDisk("interrupted" + steps);
        var report = disk + ".report.json";
        var run = P2v(["fixup", disk, "--target", "virtualserver", "--patches", fx.PatchLibrary, "-o", report], faultAfter: steps);
        Assert.True(run.ExitCode == 70, run.StdOut + run.StdErr);
        var volume = fx.ExtractVolume(disk);
        AssertNtfsHealthy(volume);
        foreach (var path in fx.Files.Keys) Assert.Equal(0, ExternalTool.Try("ntfscat", volume, path).ExitCode);
        Assert.False(JsonDocument.Parse(File.ReadAllText(report)).RootElement.GetProperty("complete").GetBoolean());
        if (steps == "3") Assert.Equal(fx.Pe["halacpi.dll"], Cat(volume, "/WINDOWS/system32/hal.dll")); // Virtual Server: ACPI PC, no APIC

        var undo = P2v(["fixup", disk, "--undo", report]);
        Assert.True(undo.ExitCode == 0, undo.StdOut + undo.StdErr);
        AssertOriginal(disk);
    }

    [Fact]
    public void CorruptMftRecordIsReportedPrecisely()
    {
        var disk = fx.CopyDisk("corrupt-mft");
        var volume = fx.ExtractVolume(disk);
        // boot.ini's MFT record, found with ntfs-3g: FILE magic damaged.
        long record = long.Parse(ExternalTool.Run("ntfsls", "-i", "-p", "/", volume).Split('\n').First(l => l.EndsWith(" boot.ini")).Trim().Split(' ')[0]);
        long mftLcn = long.Parse(System.Text.RegularExpressions.Regex.Match(ExternalTool.Run("ntfsinfo", "-m", volume), @"LCN of Data Attribute for FILE_MFT:\s*(\d+)").Groups[1].Value);
        using (var f = new FileStream(disk, FileMode.Open, FileAccess.Write))
        {
            f.Position = FixupFixture.PartitionOffset + mftLcn * 4096 + record * 1024;
            f.Write("FILX"u8);
        }
        var before = ExternalTool.Run("sha256sum", disk).Split(' ')[0];
        var run = P2v(["fixup", disk, "--target", "qemu", "--patches", fx.PatchLibrary]);
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"MFT record {record}: magic is \"FILX\", expected \"FILE\"", run.StdErr + run.StdOut);
        Assert.Equal(before, ExternalTool.Run("sha256sum", disk).Split(' ')[0]);
    }

    [Fact]
    public void AVhdIsFixedUpThroughTheCommand()
    {
        var vhd = fx.TempFile("disk.vhd");
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", fx.BaseDisk, vhd);
        var run = P2v(["fixup", vhd, "--target", "virtualserver", "--patches", fx.PatchLibrary]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Equal("vpc", System.Text.Json.JsonDocument.Parse(ExternalTool.Run("qemu-img", "info", "--output=json", vhd)).RootElement.GetProperty("format").GetString());
        var raw = fx.TempFile("from-vhd.img");
        ExternalTool.Run("qemu-img", "convert", "-f", "vpc", "-O", "raw", vhd, raw);
        var volume = fx.ExtractVolume(raw);
        Assert.Equal(0, ExternalTool.Try("ntfsfix", "-n", volume).ExitCode);
        Assert.Equal(fx.Pe["halacpi.dll"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/hal.dll"));
        Assert.True(File.Exists(vhd + ".fixup.json"));
    }
}
