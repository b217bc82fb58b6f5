using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;
using P2V.Windows.Boot;
using P2V.Windows.Pe;
using P2V.Windows.Tests.Boot;
using P2V.Windows.Tests.Pe;
using P2V.Windows.Tests.Registry;

namespace P2V.Windows.Tests;

/// <summary>Windows-like NTFS volumes: mkntfs, then wimapply of a generated tree with real hives and PE stand-ins.</summary>
public class WindowsInstallationTests
{
    private const string BootIniText =
        "[boot loader]\r\ntimeout=30\r\ndefault=multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS\r\n[operating systems]\r\n" +
        "multi(0)disk(0)rdisk(0)partition(1)\\WINDOWS=\"Windows Server 2003, Enterprise\" /noexecute=optout /fastdetect\r\n" +
        "C:\\CMDCONS\\BOOTSECT.DAT=\"Microsoft Windows Recovery Console\" /cmdcons\r\n";

    private static NtfsVolume MakeVolume(TempDirectory tmp, string tree)
    {
        var volume = tmp.File("volume.img");
        using (var f = File.Create(volume)) f.SetLength(24L << 20);
        ExternalTool.Run("mkntfs", "-F", "-Q", "-q", "-L", "SYSTEM", volume);
        var wim = tmp.File("tree.wim");
        ExternalTool.Run("wimcapture", tree, wim, "--compress=none");
        ExternalTool.Run("wimapply", wim, "1", volume);
        return NtfsVolume.Open(RawDisk.OpenRead(volume));
    }

    [Fact]
    public void ReadsAWindowsServer2003Installation()
    {
        using var tmp = new TempDirectory();
        var tree = tmp.File("tree");
        var system32 = Path.Combine(tree, "WINDOWS", "system32");
        var config = Path.Combine(system32, "config");
        Directory.CreateDirectory(config);
        File.WriteAllText(Path.Combine(tree, "boot.ini"), BootIniText);
        File.Copy(HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg("SRV-DB01", controlSet: 2), 3), Path.Combine(config, "system"));
        File.Copy(HiveFixtures.Build(tmp, "software", HiveFixtures.SoftwareReg(), 3), Path.Combine(config, "software"));
        PeFixtures.Build(system32, "hal.dll", "halmacpi.dll", "5.2.3790.3959");
        PeFixtures.Build(system32, "ntoskrnl.exe", "ntkrnlmp.exe", "5.2.3790.4354");
        PeFixtures.Build(system32, "ntkrnlpa.exe", "ntkrpamp.exe", "5.2.3790.4354");

        var facts = WindowsInstallation.Read(MakeVolume(tmp, tree));

        Assert.Equal(@"\WINDOWS", facts.SystemRoot);
        Assert.Equal("Microsoft Windows Server 2003", facts.ProductName);
        Assert.Equal("5.2", facts.Version);
        Assert.Equal("3790", facts.Build);
        Assert.Equal("Service Pack 2", facts.ServicePack);
        Assert.Equal("x86", facts.Architecture);
        Assert.Equal(2, facts.ControlSet);
        Assert.Equal("SRV-DB01", facts.ComputerName);
        Assert.Equal("halmacpi.dll", facts.Hal!.OriginalFilename);
        Assert.Equal(HalType.AcpiMultiprocessor, facts.HalType);
        Assert.True(facts.HalType.IsAcpi() && facts.HalType.IsMultiprocessor());
        Assert.Equal("ntkrnlmp.exe", facts.Kernel!.OriginalFilename);
        Assert.True(facts.Kernel.IsMultiprocessorKernel);
        Assert.Equal(3790, facts.Kernel.Build);
        Assert.Equal(new Version(5, 2, 3790, 4354), facts.Kernel.FileVersion);
        Assert.Equal(PeMachine.I386, facts.Kernel.Machine);
        Assert.Equal(HiveFixtures.Services.Length, facts.Services.Count);
        var atapi = facts.Services.Single(s => s.Name == "atapi");
        Assert.Equal((0u, 1u, @"system32\DRIVERS\atapi.sys", "SCSI miniport"), (atapi.Start!.Value, atapi.Type!.Value, atapi.ImagePath, atapi.Group));
        Assert.True(atapi.IsDriver);
        Assert.False(facts.Services.Single(s => s.Name == "Dhcp").IsDriver);
        Assert.Equal(2, facts.BootIni!.OperatingSystems.Count);
        Assert.Equal("Windows Server 2003, Enterprise", facts.BootIni.DefaultEntry!.Description);
        Assert.Empty(facts.BcdEntries);
        Assert.Empty(facts.Warnings);
    }

    [Fact]
    public void ProbesTheSystemRootAndReadsABcdStore()
    {
        using var tmp = new TempDirectory();
        var tree = tmp.File("tree");
        var system32 = Path.Combine(tree, "Windows", "System32");
        var config = Path.Combine(system32, "config");
        Directory.CreateDirectory(config);
        Directory.CreateDirectory(Path.Combine(tree, "Boot"));
        File.Copy(HiveFixtures.Build(tmp, "BCD", BcdStoreTests.BcdReg(), 5), Path.Combine(tree, "Boot", "BCD"));
        // SYSTEM as an interrupted write leaves it: the primary one write behind, the change in SYSTEM.LOG1.
        var (before, after) = TransactionLogTests.TwoVersions(tmp);
        var dirty = TransactionLogTests.Dirty(before);
        File.WriteAllBytes(Path.Combine(config, "SYSTEM"), dirty);
        File.WriteAllBytes(Path.Combine(config, "SYSTEM.LOG1"), TransactionLogTests.NewFormatLog(before, after, BitConverter.ToUInt32(dirty, 8)));
        File.Copy(HiveFixtures.Build(tmp, "SOFTWARE", HiveFixtures.SoftwareReg("Windows Server 2008 R2 Enterprise", "6.1", "7601", "Service Pack 1"), 5),
            Path.Combine(config, "SOFTWARE"));
        PeFixtures.Build(system32, "hal.dll", "halmacpi.dll", "6.1.7601.17514", pe32Plus: true);

        var facts = WindowsInstallation.Read(MakeVolume(tmp, tree));

        Assert.Equal(@"\Windows", facts.SystemRoot);
        Assert.Equal("7601", facts.Build);
        Assert.Equal("SRV-DB01", facts.ComputerName);
        Assert.Equal(@"\Windows\system32\config\SYSTEM", Assert.Single(facts.RecoveredHives));
        Assert.Equal(0u, facts.Services.Single(s => s.Name == "NewDriver").Start); // only in the log
        Assert.Equal(PeMachine.Amd64, facts.Hal!.Machine);
        Assert.Null(facts.Kernel);
        Assert.Contains(facts.Warnings, w => w.Contains("ntoskrnl.exe"));
        Assert.Null(facts.BootIni);
        Assert.Equal("Windows Server 2008 R2", facts.BcdEntries.Single(e => e.IsOsLoader).Description);
    }

    [Fact]
    public void VolumeWithoutWindowsIsReported()
    {
        using var tmp = new TempDirectory();
        var tree = tmp.File("tree");
        Directory.CreateDirectory(Path.Combine(tree, "data"));
        File.WriteAllText(Path.Combine(tree, "data", "x.txt"), "x");
        Assert.Throws<FileNotFoundException>(() => WindowsInstallation.Read(MakeVolume(tmp, tree)));
    }
}
