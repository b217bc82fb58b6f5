using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Fixups;
using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Fixups;

/// <summary>Fix-up plans in-process: where replacement files come from, which are refused, and what errors say.</summary>
public sealed class FixupPlannerTests(FixupFixture fx) : IClassFixture<FixupFixture>
{
    private static FixupPlan Plan(string disk, IVirtualDisk d, TargetKind target, int vcpus, string? patches) =>
        FixupPlanner.Plan(d, disk, new FixupOptions { Target = TargetHypervisor.For(target), Vcpus = vcpus, PatchDirectory = patches });

    [Fact]
    public void WithoutAPatchLibraryTheInstallationsSpCabIsTheSource()
    {
        var disk = fx.CopyDisk("cab");
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var plan = Plan(disk, d, TargetKind.HyperV, 1, patches: null);
            Assert.Empty(plan.Report.Errors);
            var hal = plan.Report.Plan.Single(s => s.Name == FixupPlanner.HalStep);
            Assert.Contains(hal.Details, l => l.Contains(@"Driver Cache\i386\sp2.cab:halaacpi.dll"));
            plan.Apply(disk + ".json");
        }
        var volume = fx.ExtractVolume(disk);
        // What our cabinet reader took out is what cabextract takes out.
        foreach (var (file, name) in new[] { ("hal.dll", "halaacpi.dll"), ("ntoskrnl.exe", "ntoskrnl.exe"), ("ntkrnlpa.exe", "ntkrnlpa.exe") })
            Assert.Equal(File.ReadAllBytes(Path.Combine(fx.CabExtracted, name)), ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/" + file));
    }

    [Fact]
    public void MultiprocessorTargetSwapsBackAndUndoChainsRestoreEachStage()
    {
        var disk = fx.CopyDisk("mp");
        using (var d = RawDisk.OpenReadWrite(disk))
            Plan(disk, d, TargetKind.Qemu, 1, fx.PatchLibrary).Apply(disk + ".up.json");
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var plan = Plan(disk, d, TargetKind.HyperV, 4, fx.PatchLibrary);
            Assert.Contains("AcpiUniprocessor", plan.Report.InstalledHal);
            plan.Apply(disk + ".mp.json");
        }
        var volume = fx.ExtractVolume(disk);
        Assert.Equal(fx.Pe["halmacpi.dll"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/hal.dll"));
        Assert.Equal(fx.Pe["ntkrnlmp.exe"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/ntoskrnl.exe"));
        Assert.Equal(fx.Pe["ntkrpamp.exe"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/ntkrnlpa.exe"));

        using (var d = RawDisk.OpenReadWrite(disk)) FixupUndo.Undo(d, disk + ".mp.json");
        volume = fx.ExtractVolume(disk);
        Assert.Equal(fx.Pe["halaacpi.dll"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/hal.dll"));
        using (var d = RawDisk.OpenReadWrite(disk)) FixupUndo.Undo(d, disk + ".up.json");
        volume = fx.ExtractVolume(disk);
        foreach (var (path, bytes) in fx.Files) Assert.Equal(bytes, ExternalTool.RunBytes("ntfscat", volume, path));
    }

    [Fact]
    public void AReplacementOfAnotherBuildOrKindIsTurnedDown()
    {
        // First to one vCPU (uniprocessor files), then asked for four: the cabinet holds no multiprocessor files,
        // and the library offers only wrong ones.
        var disk = fx.CopyDisk("wrong");
        using (var d = RawDisk.OpenReadWrite(disk))
            Plan(disk, d, TargetKind.Qemu, 1, fx.PatchLibrary).Apply(disk + ".json");
        var library = fx.TempFile("wrong-library");
        var folder = Directory.CreateDirectory(Path.Combine(library, "5.2", "sp2", "x86", FixupFixture.KernelVersion)).FullName;
        File.WriteAllBytes(Path.Combine(folder, "ntkrnlmp.exe"), fx.Pe["ntoskrnl.exe"]); // named right, but it says it is ntoskrnl.exe
        P2V.Windows.Tests.Pe.PeFixtures.Build(folder, "halmacpi.dll", "halmacpi.dll", "5.1.2600.5512"); // Windows XP's
        var before = File.ReadAllBytes(disk);
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var plan = Plan(disk, d, TargetKind.HyperV, 4, library);
            Assert.Contains(plan.Report.Errors, e => e.Contains("no ntkrnlmp.exe 5.2.3790.4354") && e.Contains("OriginalFilename is ntoskrnl.exe, not ntkrnlmp.exe"));
            Assert.Contains(plan.Report.Errors, e => e.Contains("no halmacpi.dll of build 3790") && e.Contains("version 5.1.2600.5512"));
            Assert.Contains(plan.Report.Errors, e => e.Contains("no ntkrpamp.exe") && e.Contains(folder));
            Assert.Throws<InvalidOperationException>(() => plan.Apply(null));
        }
        Assert.Equal(before, File.ReadAllBytes(disk));
    }

    [Fact]
    public void ACorruptHiveIsReportedAndNothingIsWritten()
    {
        var disk = fx.CopyDisk("corrupt-hive");
        var hive = (byte[])fx.Files["/WINDOWS/system32/config/system"].Clone();
        hive[0x1000] = (byte)'x'; // the first hive bin's "hbin" signature
        using (var d = RawDisk.OpenReadWrite(disk))
            NtfsVolume.Open(new DiskSlice(d, FixupFixture.PartitionOffset, d.Length - FixupFixture.PartitionOffset)).ReplaceFile(@"\WINDOWS\system32\config\system", hive);
        var before = File.ReadAllBytes(disk);
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var e = Assert.ThrowsAny<RegistryHiveException>(() => Plan(disk, d, TargetKind.Qemu, 1, fx.PatchLibrary));
            Assert.Contains("hbin", e.Message);
            Assert.Contains("SYSTEM", e.Message, StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(before, File.ReadAllBytes(disk));
    }

    [Fact]
    public void AnEditedServiceListIsFollowed()
    {
        var disk = fx.CopyDisk("services");
        var list = fx.TempFile("services.txt");
        File.WriteAllText(list, "# only this one\nTcpip   test  a service that is not hardware, to see the list is read\n");
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var plan = FixupPlanner.Plan(d, disk, new FixupOptions
            {
                Target = TargetHypervisor.For(TargetKind.Qemu), PatchDirectory = fx.PatchLibrary, HardwareServices = HardwareServiceList.Load(list),
            });
            plan.Apply(disk + ".json");
        }
        var hive = disk + ".system";
        File.WriteAllBytes(hive, ExternalTool.RunBytes("ntfscat", fx.ExtractVolume(disk), "/WINDOWS/system32/config/system"));
        Assert.Equal("4", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Services\Tcpip", "Start").Trim());
        Assert.Equal("2", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Services\CpqCiDrv", "Start").Trim());
        Assert.Equal("CpqCiDrv", ExternalTool.Run("hivexget", hive, @"\ControlSet001\Control\Class\{4D36E97B-E325-11CE-BFC1-08002BE10318}", "UpperFilters").Trim());
    }

    [Fact]
    public void AVhdIsFixedUpThroughTheCommand()
    {
        var vhd = fx.TempFile("disk.vhd");
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic", fx.BaseDisk, vhd);
        var dll = Path.Combine(AppContext.BaseDirectory, "p2v.dll");
        var run = ExternalTool.RunWith("dotnet", [dll, "fixup", vhd, "--target", "virtualserver", "--patches", fx.PatchLibrary], stdin: null, check: false);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Equal("vpc", System.Text.Json.JsonDocument.Parse(ExternalTool.Run("qemu-img", "info", "--output=json", vhd)).RootElement.GetProperty("format").GetString());
        var raw = fx.TempFile("from-vhd.img");
        ExternalTool.Run("qemu-img", "convert", "-f", "vpc", "-O", "raw", vhd, raw);
        var volume = fx.ExtractVolume(raw);
        Assert.Equal(0, ExternalTool.Try("ntfsfix", "-n", volume).ExitCode);
        Assert.Equal(fx.Pe["halacpi.dll"], ExternalTool.RunBytes("ntfscat", volume, "/WINDOWS/system32/hal.dll"));
        Assert.True(File.Exists(vhd + ".fixup.json"));
    }

    [Fact]
    public void UndoAfterTheHiveChangedAgainRevertsOnlyTheFixupsValues()
    {
        var disk = fx.CopyDisk("hive-changed");
        const string hivePath = @"\WINDOWS\system32\config\SYSTEM";
        using (var d = RawDisk.OpenReadWrite(disk))
            Plan(disk, d, TargetKind.Qemu, 1, fx.PatchLibrary).Apply(disk + ".json");
        // As if Windows had booted and changed something of its own.
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var volume = NtfsVolume.Open(new DiskSlice(d, FixupFixture.PartitionOffset, d.Length - FixupFixture.PartitionOffset));
            var hive = RegistryHive.Open(volume.ReadFile(hivePath), "SYSTEM");
            hive.Root.OpenSubkey(@"ControlSet001\Services\Tcpip\Parameters")!.SetString("Hostname", "booted-once");
            volume.ReplaceFile(hivePath, hive.ToArray());
        }
        using (var d = RawDisk.OpenReadWrite(disk)) FixupUndo.Undo(d, disk + ".json");

        var volumeFile = fx.ExtractVolume(disk);
        var after = disk + ".system";
        File.WriteAllBytes(after, ExternalTool.RunBytes("ntfscat", volumeFile, "/WINDOWS/system32/config/system"));
        var original = disk + ".system.orig";
        File.WriteAllBytes(original, fx.Files["/WINDOWS/system32/config/system"]);
        // Exactly the original hive, but for the change made after the fix-up.
        Assert.Equal("booted-once", ExternalTool.Run("hivexget", after, @"\ControlSet001\Services\Tcpip\Parameters", "Hostname").Trim());
        var expected = Registry.HiveFixtures.ExportMap(original);
        var actual = Registry.HiveFixtures.ExportMap(after);
        expected[@"\ControlSet001\Services\Tcpip\Parameters"].Remove("\"Hostname\"");
        actual[@"\ControlSet001\Services\Tcpip\Parameters"].Remove("\"Hostname\"");
        Assert.Equal(Registry.HiveFixtures.Describe(expected), Registry.HiveFixtures.Describe(actual));
        // The other files came back byte for byte.
        Assert.Equal(fx.Files["/WINDOWS/system32/hal.dll"], ExternalTool.RunBytes("ntfscat", volumeFile, "/WINDOWS/system32/hal.dll"));
        Assert.Equal(fx.Files["/boot.ini"], ExternalTool.RunBytes("ntfscat", volumeFile, "/boot.ini"));
    }

    [Fact]
    public void ValuesThatDifferOnlyInLetterCaseAreAlreadyAsWanted()
    {
        var disk = fx.CopyDisk("letter-case");
        const string hivePath = @"\WINDOWS\system32\config\SYSTEM", key = @"ControlSet001\Control\CriticalDeviceDatabase\primary_ide_channel";
        // As setup spells them: the class GUID in lower case, the service name capitalised.
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var volume = NtfsVolume.Open(new DiskSlice(d, FixupFixture.PartitionOffset, d.Length - FixupFixture.PartitionOffset));
            var hive = RegistryHive.Open(volume.ReadFile(hivePath), "SYSTEM");
            var cdd = hive.Root.CreateSubkey(key);
            cdd.SetString("ClassGUID", "{4d36e96a-e325-11ce-bfc1-08002be10318}");
            cdd.SetString("Service", "Atapi");
            volume.ReplaceFile(hivePath, hive.ToArray());
        }
        using (var d = RawDisk.OpenReadWrite(disk))
        {
            var plan = Plan(disk, d, TargetKind.Qemu, 1, fx.PatchLibrary);
            var registry = plan.Report.Plan.Single(s => s.Name == FixupPlanner.RegistryStep);
            Assert.DoesNotContain(registry.Details, l => l.StartsWith(key + @"\"));
            Assert.Contains(registry.Details, l => l.StartsWith(@"ControlSet001\Control\CriticalDeviceDatabase\secondary_ide_channel\ClassGUID"));
            plan.Apply(disk + ".json");
        }
        var after = disk + ".system";
        File.WriteAllBytes(after, ExternalTool.RunBytes("ntfscat", fx.ExtractVolume(disk), "/WINDOWS/system32/config/system"));
        Assert.Equal("{4d36e96a-e325-11ce-bfc1-08002be10318}", ExternalTool.Run("hivexget", after, "\\" + key, "ClassGUID").Trim());
        Assert.Equal("Atapi", ExternalTool.Run("hivexget", after, "\\" + key, "Service").Trim());
    }
}
