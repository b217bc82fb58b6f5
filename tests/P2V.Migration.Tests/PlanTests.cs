using P2V.Imaging.VirtualDisks;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>
/// Plans for every target from a gathered machine: the decisions (RAM, MACs, disks, HAL/vCPUs), the scripts
/// (sh -n), the libvirt XML (virt-xml-validate), and the .vmc and .vmx against golden files and their formats.
/// Set P2V_UPDATE_GOLDEN=1 to rewrite the golden files after a deliberate change.
/// </summary>
public sealed class PlanTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    internal static (MigrationPlan Plan, SourceInventory Inventory) SmallServerPlan(WindowsDisks disks, TargetKind target, string configPath, string diskPath,
        VirtualDiskFormat? format = null, string name = "SMALL")
    {
        var inv = GatherTests.Gather("small-server", disks.SystemDisk);
        var (plan, _) = MigrationPlanner.Plan(inv, new PlanOptions
        {
            Name = name, Target = target, VmConfigPath = configPath, VirtualDiskPath = diskPath, DestHost = "vmhost.example.com", DiskFormat = format,
        });
        return (plan, inv);
    }

    [Fact]
    public void Plan_SameRamMacsAndDisks_HalDecidesVcpus()
    {
        var (vs, _) = SmallServerPlan(disks, TargetKind.VirtualServer, "D:\\VMs\\SMALL", "D:\\VMs\\SMALL");
        Assert.Equal(512, vs.MemoryMB);   // MemTotal 508000 kB rounded up to 32 MB
        var nic = Assert.Single(vs.Nics);
        Assert.Equal(("eth0", "00:1e:0b:aa:bb:cc", "net-192.168.10.0-24"), (nic.Source, nic.Mac, nic.Network));   // its subnet, from the SYSTEM hive
        var disk = Assert.Single(vs.Disks);
        Assert.Equal(("sda", 156301488L * 512, "D:\\VMs\\SMALL\\SMALL_sda.vhd", VirtualDiskFormat.Vhd, VmDiskBus.Ide, 0, 0),
            (disk.Source, disk.SizeBytes, disk.File, disk.Format, disk.Bus, disk.Controller, disk.Unit));
        // halmacpi.dll and a one-CPU target: swapped, one vCPU
        Assert.Equal((HalAction.SwapToUniprocessor, 1), (vs.Hal.Action, vs.Vcpus));
        Assert.Equal("D:\\VMs\\SMALL\\SMALL.vmc", vs.ConfigFile);

        var (qemu, _) = SmallServerPlan(disks, TargetKind.Qemu, "/srv/vm", "/srv/vm");
        Assert.Equal((HalAction.Keep, 2, "rtl8139"), (qemu.Hal.Action, qemu.Vcpus, qemu.Nics[0].Model));
        Assert.Equal(VirtualDiskFormat.Raw, qemu.Disks[0].Format);

        var back = MigrationPlan.Load(WriteTemp(qemu.ToJson()));
        Assert.Equal(qemu.ToJson(), back.ToJson());
    }

    private static string WriteTemp(string text)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData(TargetKind.VirtualServer, "SMALL.vmc")]
    [InlineData(TargetKind.HyperV, "SMALL.hyperv.ps1")]
    [InlineData(TargetKind.Libvirt, "SMALL.xml")]
    [InlineData(TargetKind.Qemu, "SMALL.qemu.sh")]
    [InlineData(TargetKind.Vmware, "SMALL.vmx")]
    public void MigrationFolder_HoldsPlanInventoryScriptsAndConfig(TargetKind target, string config)
    {
        using var dir = new TempDirectory();
        var (plan, inv) = SmallServerPlan(disks, target, "/srv/vm", "/srv/vm");
        MigrationFolder.Write(plan, inv, dir.Path);
        foreach (var f in new[] { "plan.json", "inventory.xml", config, "SMALL_Capture.sh", "SMALL_Capture.ps1", "SMALL_CreateVM.sh", "SMALL_CreateVM.ps1", "SMALL_DeployVM.sh", "SMALL_DeployVM.ps1" })
            Assert.True(File.Exists(Path.Combine(dir.Path, f)), f);
        Assert.Equal(0, ExternalTool.Try("xmllint", "--noout", "--schema", TestPaths.Xsd, dir.File("inventory.xml")).ExitCode);
        foreach (var sh in Directory.GetFiles(dir.Path, "*.sh"))
        {
            var r = ExternalTool.Try("sh", "-n", sh);
            Assert.True(r.ExitCode == 0, $"{sh}: {r.StdErr}");
        }
        Assert.Contains("p2v capture \"/dev/sda\"", File.ReadAllText(dir.File("SMALL_Capture.sh")));
        Assert.Contains("p2v createvm \"$here/plan.json\"", File.ReadAllText(dir.File("SMALL_CreateVM.sh")));
    }

    [Fact]
    public void Libvirt_PassesVirtXmlValidate()
    {
        using var dir = new TempDirectory();
        var (plan, _) = SmallServerPlan(disks, TargetKind.Libvirt, "/srv/vm", "/srv/vm");
        // A second, large data disk and a SAN-free SCSI placement exercise the SCSI controller path too.
        plan = plan with { Disks = [.. plan.Disks, plan.Disks[0] with { Source = "sdb", File = "/srv/vm/SMALL_sdb.img", Bus = VmDiskBus.Scsi, Controller = 0, Unit = 0 }] };
        var xml = dir.File("SMALL.xml");
        File.WriteAllText(xml, LibvirtDomain.Write(plan));
        var r = ExternalTool.Try("virt-xml-validate", xml, "domain");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);

        var doc = new XmlDocument();
        doc.Load(xml);
        Assert.Equal("00:1e:0b:aa:bb:cc", doc.SelectSingleNode("/domain/devices/interface/mac/@address")!.Value);
        Assert.Equal("512", doc.SelectSingleNode("/domain/memory")!.InnerText);
        Assert.Equal("fd", doc.SelectSingleNode("/domain/os/boot[1]/@dev")!.Value);
        Assert.Equal("/srv/vm/SMALL_boot.vfd", doc.SelectSingleNode("/domain/devices/disk[@device='floppy']/source/@file")!.Value);
        Assert.Equal("lsilogic", doc.SelectSingleNode("/domain/devices/controller[@type='scsi']/@model")!.Value);
    }

    [Fact]
    public void VirtualServerVmc_MatchesGoldenAndFormat()
    {
        var (plan, _) = SmallServerPlan(disks, TargetKind.VirtualServer, "D:\\VMs\\SMALL", "D:\\VMs\\SMALL");
        var bytes = VirtualServerVmc.Write(plan);
        Golden("small-server.vmc", bytes);

        // UTF-16LE with a BOM, as Virtual Server writes it; xmllint reads it by its declaration.
        Assert.Equal([0xFF, 0xFE], bytes[..2]);
        using var dir = new TempDirectory();
        File.WriteAllBytes(dir.File("SMALL.vmc"), bytes);
        Assert.Equal(0, ExternalTool.Try("xmllint", "--noout", dir.File("SMALL.vmc")).ExitCode);
        var doc = new XmlDocument();
        doc.Load(dir.File("SMALL.vmc"));
        string V(string xpath) => doc.SelectSingleNode(xpath)?.InnerText ?? throw new Xunit.Sdk.XunitException($"missing {xpath}");
        Assert.Equal("512", V("/preferences/hardware/memory/ram_size[@type='integer']"));
        Assert.Equal("1", V("/preferences/hardware/pci_bus/ethernet_adapter/controller_count"));
        Assert.Equal("001E0BAABBCC", V("/preferences/hardware/pci_bus/ethernet_adapter/ethernet_controller[@id='0']/ethernet_card_address[@type='bytes']"));
        Assert.Equal("D:\\VMs\\SMALL\\SMALL_sda.vhd", V("/preferences/hardware/pci_bus/ide_adapter/ide_controller[@id='0']/location[@id='0']/pathname/absolute"));
        Assert.Equal(".\\SMALL_sda.vhd", V("/preferences/hardware/pci_bus/ide_adapter/ide_controller[@id='0']/location[@id='0']/pathname/relative"));
        Assert.Equal("D:\\VMs\\SMALL\\SMALL_boot.vfd", V("/preferences/hardware/super_io/floppy[@id='0']/pathname/absolute"));
    }

    [Fact]
    public void VmwareVmx_MatchesGoldenAndFormat()
    {
        var (plan, _) = SmallServerPlan(disks, TargetKind.Vmware, "/vmfs/volumes/ds1/SMALL", "/vmfs/volumes/ds1/SMALL");
        var text = VmwareVmx.Write(plan);
        Golden("small-server.vmx", Encoding.UTF8.GetBytes(text));

        var settings = new Dictionary<string, string>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var m = Regex.Match(line, "^([A-Za-z0-9.:_]+) = \"([^\"]*)\"$");
            Assert.True(m.Success, $"not a .vmx line: {line}");
            Assert.True(settings.TryAdd(m.Groups[1].Value, m.Groups[2].Value), $"duplicate key {m.Groups[1].Value}");
        }
        Assert.Equal("512", settings["memsize"]);
        Assert.Equal("2", settings["numvcpus"]);
        Assert.Equal("00:1E:0B:AA:BB:CC", settings["ethernet0.address"]);
        Assert.Equal("FALSE", settings["ethernet0.checkMACAddress"]);
        Assert.Equal("SMALL_sda.vmdk", settings["ide0:0.fileName"]);
        Assert.Equal("SMALL_boot.vfd", settings["floppy0.fileName"]);
        Assert.Equal("floppy,hdd", settings["bios.bootOrder"]);
    }

    [Fact]
    public void HyperV_Generation1WithLegacyAdapterAndFloppy()
    {
        var (plan, _) = SmallServerPlan(disks, TargetKind.HyperV, "D:\\Hyper-V", "D:\\Hyper-V\\Disks");
        var ps = HyperVScript.Write(plan);
        Assert.Contains("-Generation 1 -MemoryStartupBytes 512MB", ps);
        Assert.Contains("-StaticMacAddress '001E0BAABBCC' -IsLegacy $true", ps);
        Assert.Contains("Add-VMHardDiskDrive -VM $vm -ControllerType IDE -ControllerNumber 0 -ControllerLocation 0 -Path 'D:\\Hyper-V\\Disks\\SMALL_sda.vhdx'", ps);
        Assert.Contains("Set-VMFloppyDiskDrive -VM $vm -Path 'D:\\Hyper-V\\SMALL_boot.vfd'", ps);
        Assert.Contains("Set-VMProcessor -VM $vm -Count 2", ps);
    }

    [Fact]
    public void TwoSocketServer_OnVirtualServer_CapsRamLeavesSanLunAndUsesScsi()
    {
        var inv = GatherTests.Gather("two-socket-server");
        var (plan, findings) = MigrationPlanner.Plan(inv, new PlanOptions
        {
            Name = "BIG", Target = TargetKind.VirtualServer, VmConfigPath = "D:\\VMs", VirtualDiskPath = "D:\\VMs", DestHost = "vs1",
        });
        Assert.Equal((3686L, 1), (plan.MemoryMB, plan.Vcpus));
        Assert.Equal(["00:1a:a0:11:22:33", "00:1a:a0:11:22:34"], plan.Nics.Select(n => n.Mac));
        var disk = Assert.Single(plan.Disks);   // sdb is a SAN LUN: re-attached, not copied
        Assert.Equal(("sda", VmDiskBus.Scsi, 0, 0), (disk.Source, disk.Bus, disk.Controller, disk.Unit));   // 146 GB: over the 127 GB IDE limit
        Assert.Contains(findings, f => f.RuleId == "target-memory");

        var doc = new XmlDocument();
        using (var stream = new MemoryStream(VirtualServerVmc.Write(plan))) doc.Load(stream);
        Assert.Equal("3686", doc.SelectSingleNode("/preferences/hardware/memory/ram_size")!.InnerText);
        Assert.Equal("2", doc.SelectSingleNode("/preferences/hardware/pci_bus/ethernet_adapter/controller_count")!.InnerText);
        Assert.Equal("001AA0112234", doc.SelectSingleNode("/preferences/hardware/pci_bus/ethernet_adapter/ethernet_controller[@id='1']/ethernet_card_address")!.InnerText);
        Assert.Equal("D:\\VMs\\BIG_sda.vhd", doc.SelectSingleNode("/preferences/hardware/pci_bus/scsi_adapter/scsi_controller[@id='0']/location[@id='0']/pathname/absolute")!.InnerText);
        Assert.Empty(doc.SelectNodes("/preferences/hardware/pci_bus/ide_adapter/ide_controller")!);
    }

    [Fact]
    public void Plan_RefusesUnknownFormatForTarget() =>
        Assert.Throws<ArgumentException>(() => SmallServerPlan(disks, TargetKind.VirtualServer, "/v", "/v", VirtualDiskFormat.Vhdx));

    private static void Golden(string name, byte[] actual)
    {
        var path = TestPaths.Golden(name);
        if (Environment.GetEnvironmentVariable("P2V_UPDATE_GOLDEN") == "1") File.WriteAllBytes(path, actual);
        Assert.True(File.Exists(path), $"golden file {path} missing (P2V_UPDATE_GOLDEN=1 writes it)");
        var expected = File.ReadAllBytes(path);
        if (!expected.AsSpan().SequenceEqual(actual))
            Assert.Fail($"{name} differs from its golden file:\n--- expected\n{Decode(expected)}\n--- actual\n{Decode(actual)}");
    }

    private static string Decode(byte[] b) => b.Length >= 2 && b[0] == 0xFF && b[1] == 0xFE ? Encoding.Unicode.GetString(b, 2, b.Length - 2) : Encoding.UTF8.GetString(b);
}
