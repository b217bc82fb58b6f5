using System.Diagnostics;
using System.Xml;
using P2V.Migration.Planning;
using P2V.Migration.Validation;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>
/// --disk-bus: every disk on IDE, SCSI or virtio where the target has that controller; the guest's findings by
/// Windows version; the configurations checked by virt-xml-validate and by QEMU building the machine.
/// </summary>
public sealed class DiskBusTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    private (MigrationPlan Plan, IReadOnlyList<Finding> Findings) Plan(TargetKind target, VmDiskBus? bus, string path = "/srv/vm", string machine = "small-server")
    {
        var inv = machine == "small-server" ? GatherTests.Gather(machine, disks.SystemDisk) : GatherTests.Gather(machine);
        return MigrationPlanner.Plan(inv, new PlanOptions { Name = "SMALL", Target = target, VmConfigPath = path, VirtualDiskPath = path, DestHost = "h", DiskBus = bus });
    }

    [Theory]
    [InlineData(TargetKind.VirtualServer, VmDiskBus.Virtio)]
    [InlineData(TargetKind.HyperV, VmDiskBus.Virtio)]
    [InlineData(TargetKind.Vmware, VmDiskBus.Virtio)]
    [InlineData(TargetKind.HyperV, VmDiskBus.Scsi)]
    public void TargetWithoutTheController_IsAClearError(TargetKind target, VmDiskBus bus)
    {
        var e = Assert.Throws<ArgumentException>(() => Plan(target, bus));
        Assert.StartsWith($"--disk-bus {bus.ToString().ToLowerInvariant()}: {TargetHypervisor.For(target).DisplayName}", e.Message);
    }

    [Fact]
    public void Virtio_OnLibvirt_PassesVirtXmlValidate_WithTheDriverWarning()
    {
        var (plan, findings) = Plan(TargetKind.Libvirt, VmDiskBus.Virtio);
        Assert.Equal((VmDiskBus.Virtio, 0, 0), (plan.Disks[0].Bus, plan.Disks[0].Controller, plan.Disks[0].Unit));
        var warning = Assert.Single(findings, f => f.RuleId == DiskBusSupport.RuleId);
        Assert.Equal(Severity.Warning, warning.Severity);
        Assert.Contains("p2v fixup DISK --target libvirt --drivers DIR", warning.Fix);

        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("SMALL.xml"), LibvirtDomain.Write(plan));
        var r = ExternalTool.Try("virt-xml-validate", dir.File("SMALL.xml"), "domain");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var doc = new XmlDocument();
        doc.Load(dir.File("SMALL.xml"));
        Assert.Equal("vda", doc.SelectSingleNode("/domain/devices/disk[@device='disk']/target[@bus='virtio']/@dev")!.Value);
        Assert.Null(doc.SelectSingleNode("/domain/devices/disk[@device='disk']/address"));

        // libvirt's own parser (the test driver, no daemon) takes it and lists the disk as vda
        File.WriteAllText(dir.File("test.xml"), LibvirtDomain.Write(plan, domainType: "test"));
        r = ExternalTool.Try("virsh", "-c", "test:///default", $"define {dir.File("test.xml")}; domblklist SMALL");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Matches(@"vda\s+/srv/vm/SMALL_sda\.img", r.StdOut);
    }

    [Fact]
    public void Virtio_ForWindows2000OrNt4_IsAnError_AndCreateVmRefusesIt()
    {
        var (plan, _) = Plan(TargetKind.Qemu, null);
        var old = plan with { Guest = plan.Guest with { Version = "5.0" } };
        var e = Assert.Throws<ArgumentException>(() => MigrationPlanner.WithDiskBus(old, VmDiskBus.Virtio));
        Assert.Contains("no virtio storage driver exists for Windows 5.0", e.Message);
        Assert.Equal(Severity.Error, DiskBusSupport.Check(TargetHypervisor.For(TargetKind.Qemu), "4.0", VmDiskBus.Virtio).Single().Severity);
        Assert.Empty(DiskBusSupport.Check(TargetHypervisor.For(TargetKind.Qemu), "4.0", VmDiskBus.Ide));

        // Windows Server 2003: moved onto virtio, with the warning
        var (moved, findings) = MigrationPlanner.WithDiskBus(plan, VmDiskBus.Virtio);
        Assert.Equal(VmDiskBus.Virtio, Assert.Single(moved.Disks).Bus);
        Assert.Equal(Severity.Warning, Assert.Single(findings).Severity);
        Assert.Equal(plan.Disks[0] with { Bus = VmDiskBus.Virtio }, moved.Disks[0]);
    }

    [Fact]
    public void Scsi_OnVirtualServer_PutsTheSystemDiskOnTheScsiAdapter()
    {
        var (plan, findings) = Plan(TargetKind.VirtualServer, VmDiskBus.Scsi, "D:\\VMs");
        Assert.Equal((VmDiskBus.Scsi, 0, 0), (plan.Disks[0].Bus, plan.Disks[0].Controller, plan.Disks[0].Unit));
        Assert.Contains(findings, f => f.RuleId == DiskBusSupport.RuleId && f.Severity == Severity.Warning);
        Assert.DoesNotContain(findings, f => f.RuleId == "target-disk-on-scsi");   // chosen, not forced by full IDE slots
        var doc = new XmlDocument();
        using (var stream = new MemoryStream(VirtualServerVmc.Write(plan))) doc.Load(stream);
        Assert.Equal("D:\\VMs\\SMALL_sda.vhd", doc.SelectSingleNode("/preferences/hardware/pci_bus/scsi_adapter/scsi_controller[@id='0']/location[@id='0']/pathname/absolute")!.InnerText);
    }

    [Fact]
    public void Ide_WhenADiskIsOverTheIdeLimit_IsAValidationError()
    {
        // the two-socket server's 146 GB system disk: over Virtual Server's 127 GB IDE limit
        var (plan, findings) = Plan(TargetKind.VirtualServer, VmDiskBus.Ide, "D:\\VMs", "two-socket-server");
        Assert.Empty(plan.Disks);
        var error = Assert.Single(findings, f => f.RuleId == "target-disks");
        Assert.Contains("at most 4 IDE disks of up to 127 GB", error.Message);
    }

    [Fact]
    public async Task Virtio_OnQemu_MachineBuildsWithAVirtioBlockDevice()
    {
        using var dir = new TempDirectory();
        var (plan, _) = Plan(TargetKind.Qemu, VmDiskBus.Virtio, dir.Path);
        foreach (var f in plan.Disks.Select(d => d.File).Append(plan.Floppy))
            ExternalTool.Run("qemu-img", "create", "-q", "-f", "raw", f, "1M");
        File.WriteAllText(dir.File("vm.sh"), QemuCommandLine.Write(plan));
        var psi = new ProcessStartInfo("sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dir.File("vm.sh"), "-S", "-display", "none", "-monitor", "stdio" }) psi.ArgumentList.Add(a);
        psi.Environment["P2V_QEMU_ACCEL"] = "tcg";
        psi.Environment["P2V_QEMU_NETDEV"] = "user";
        using var qemu = Process.Start(psi)!;
        qemu.StandardInput.Write("info pci\nquit\n");
        qemu.StandardInput.Close();
        var stdout = qemu.StandardOutput.ReadToEndAsync();
        var stderr = await qemu.StandardError.ReadToEndAsync();
        await qemu.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(qemu.ExitCode == 0, stderr);
        Assert.Contains("PCI device 1af4:1001", await stdout);   // virtio-blk (legacy id), as QEMU lists it
    }
}
