using P2V.Imaging.VirtualDisks;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Cli.Tests;

/// <summary>
/// `p2v plan --network` and `p2v plan|createvm --disk-bus` as processes: a NIC or controller the source or target
/// does not have is one line and exit 2, before any file is written; what they allow reaches the files written.
/// </summary>
public sealed class NetworkAndDiskBusCommandTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private string Inventory()
    {
        var path = _tmp.File("inventory.xml");
        File.WriteAllText(path, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<inventory xmlns=\"urn:p2v-boot:inventory:1\" version=\"1\">"
            + "<memory bytes=\"1073741824\"/><networkAdapters>"
            + "<networkAdapter name=\"eth0\" mac=\"00:11:22:33:44:55\" driver=\"e1000\" vendorId=\"8086\" deviceId=\"100e\">"
            + "<ip dhcp=\"false\"><address ip=\"10.1.2.3\" mask=\"255.255.255.0\"/></ip></networkAdapter>"
            + "<networkAdapter name=\"eth1\" mac=\"00:11:22:33:44:56\" driver=\"e1000\" vendorId=\"8086\" deviceId=\"100e\"/>"
            + "</networkAdapters></inventory>\n");
        return path;
    }

    private ExternalTool.Result Plan(string output, params string[] more) => P2vProcess.Run(["plan", Inventory(), "--name", "WEB01", "--target", "libvirt",
        "--vm-config-path", "/srv/vm", "--virtual-disk-path", "/srv/vm", "--dest-host", "h", "-o", output, "--force", .. more]);

    [Fact]
    public void Plan_NetworkPerSubnetAndOverride_UnknownNicRefused()
    {
        var output = _tmp.File("plan");
        var r = Plan(output, "--network", "eth1=lab");
        Assert.True(r.ExitCode == 0, r.StdErr);
        var plan = MigrationPlan.Load(Path.Combine(output, "plan.json"));
        Assert.Equal(["net-10.1.2.0-24", "lab"], plan.Nics.Select(n => n.Network));
        Assert.True(File.Exists(Path.Combine(output, "net-10.1.2.0-24.network.xml")));
        Assert.True(File.Exists(Path.Combine(output, "lab.network.xml")));

        var refused = _tmp.File("refused");
        r = Plan(refused, "--network", "eth9=lab");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--network eth9=lab: the inventory has no network adapter 'eth9' (eth0, eth1)", P2vProcess.OneLine(r));
        Assert.False(Directory.Exists(refused));
    }

    [Fact]
    public void Plan_DriversAndFirstBoot_RecordedOrRefusedBeforeAnyFile()
    {
        var drivers = Directory.CreateDirectory(_tmp.File("drivers/viostor")).FullName;
        File.WriteAllText(Path.Combine(drivers, "viostor.inf"), "[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=SCSIAdapter\r\n");
        var script = _tmp.File("additions.cmd");
        File.WriteAllText(script, "@echo off\r\n");
        var output = _tmp.File("with-drivers");
        var r = Plan(output, "--drivers", _tmp.File("drivers"), "--firstboot", script);
        Assert.True(r.ExitCode == 0, r.StdErr);
        // This inventory has no Windows: nothing to choose drivers for, said as a warning.
        Assert.Contains("warning plan-drivers", r.StdErr);
        var plan = MigrationPlan.Load(Path.Combine(output, "plan.json"));
        Assert.Equal((_tmp.File("drivers"), script), (plan.Drivers, Assert.Single(plan.FirstBoot)));
        // No disk in this inventory, so no host-side fix-up line (PlanDriversTests checks those scripts): sh still reads it.
        Assert.Equal(0, ExternalTool.Try("sh", "-n", Path.Combine(output, "WEB01_DeployVM.sh")).ExitCode);

        var shell = _tmp.File("setup.sh");
        File.WriteAllText(shell, "echo\n");
        foreach (var (args, expected) in new[]
        {
            (new[] { "--firstboot", shell }, $"--firstboot {shell}: a .sh file cannot be run"),
            (["--drivers", _tmp.File("nowhere")], $"--drivers {_tmp.File("nowhere")}: no such folder"),
        })
        {
            var refused = _tmp.File("refused");
            r = Plan(refused, args);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains(expected, P2vProcess.OneLine(r));
            Assert.False(Directory.Exists(refused));
        }
    }

    [Fact]
    public void Validate_DiskBus_SaysWhichTargetAndGuestAllowIt()
    {
        var r = P2vProcess.Run("validate", Inventory(), "--target", "vmware", "--disk-bus", "virtio");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--disk-bus virtio: VMware Workstation has no virtio disks", P2vProcess.OneLine(r));
        r = P2vProcess.Run("validate", Inventory(), "--disk-bus", "virtio");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--disk-bus needs --target", P2vProcess.OneLine(r));
        // no Windows in this inventory: the guest's version is unknown, so a warning to install the driver
        r = P2vProcess.Run("validate", Inventory(), "--target", "qemu", "--disk-bus", "virtio", "--json");
        Assert.Contains("\"target-disk-bus\"", r.StdOut);
    }

    [Fact]
    public void CreateVm_DiskBusTheTargetLacks_IsRefusedBeforeAnyFile_ElseApplied()
    {
        var floppy = _tmp.File("floppy.img");
        ExternalTool.Run("mkfs.fat", "-C", "-F", "12", floppy, "1440");
        string WritePlan(TargetKind target, string ext)
        {
            var vm = _tmp.File(target + "-vm");
            var plan = new MigrationPlan
            {
                Name = "WEB01", Target = target, VmConfigPath = vm, VirtualDiskPath = vm, DestHost = "localhost",
                MemoryMB = 512, Vcpus = 1, Hal = new PlannedHal(HalAction.Keep, "halaacpi.dll", "kept"),
                Guest = new PlannedGuest("Windows Server 2003", "5.2", "2", true),
                Disks = [new PlannedDisk("sda", 64L << 20, 512, Path.Combine(vm, "WEB01_sda" + ext), target == TargetKind.Qemu ? VirtualDiskFormat.Raw : VirtualDiskFormat.Vhd, VmDiskBus.Ide, 0, 0)],
                Nics = [new PlannedNic("eth0", "00:11:22:33:44:55", "rtl8139", "VM0")],
                Networks = [new PlannedNetwork("VM0", null, "VM0", NetworkPlanning.Definition(target, vm, "VM0"))],
                Floppy = Path.Combine(vm, "WEB01.vfd"), ConfigFile = Path.Combine(vm, "WEB01" + MigrationPlanner.ConfigExtension(target)),
            };
            var path = _tmp.File(target + "-plan.json");
            File.WriteAllText(path, plan.ToJson());
            return path;
        }

        var vs = WritePlan(TargetKind.VirtualServer, ".vhd");
        var r = P2vProcess.Run("createvm", vs, "--disk-bus", "virtio", "--floppy", floppy);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--disk-bus virtio: Virtual Server 2005 has no virtio disks", P2vProcess.OneLine(r));
        Assert.False(Directory.Exists(_tmp.File("VirtualServer-vm")));

        var qemu = WritePlan(TargetKind.Qemu, ".img");
        r = P2vProcess.Run("createvm", qemu, "--disk-bus", "virtio", "--floppy", floppy);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("warning target-disk-bus", r.StdErr);
        Assert.Contains("if=virtio", File.ReadAllText(_tmp.File("Qemu-vm/WEB01.qemu.sh")));
        Assert.Contains("ip link add name \"$br\" type bridge", File.ReadAllText(_tmp.File("Qemu-vm/VM0.bridge.sh")));
    }
}
