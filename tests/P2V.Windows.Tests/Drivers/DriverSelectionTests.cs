using P2V.Windows.Drivers;

namespace P2V.Windows.Tests.Drivers;

/// <summary>Which packages of a virtio-win-like folder an installation gets on a target, and why the others are skipped.</summary>
public sealed class DriverSelectionTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly string _folder;

    public DriverSelectionTests() => _folder = DriverPackages.Build(_tmp.File("drivers"));

    public void Dispose() => _tmp.Dispose();

    private static WindowsFacts Windows(string version, string arch) =>
        new() { SystemRoot = @"\WINDOWS", Version = version, Architecture = arch, ProductName = "Microsoft Windows Server 2003" };

    [Fact]
    public void Server2003X86OnQemuGetsViostorFor2003AndNetKvm()
    {
        var s = DriverSelection.Choose(_folder, Windows("5.2", "x86"), TargetHypervisor.For(TargetKind.Qemu));
        var storage = s.Installs.Where(i => i.Package.IsStorage).ToList();
        Assert.All(storage, i => Assert.Equal(Path.Combine(_folder, "viostor", "2k3", "x86", "viostor.inf"), i.Package.InfPath));
        Assert.Equal(["virtio-blk (transitional)", "virtio-blk (modern)"], storage.SelectMany(i => i.Matches).Select(m => m.Device.Name));
        var viostor = storage[0];
        Assert.Equal("RHEL.NTx86.5.2", viostor.ModelsSection);
        Assert.Equal(Path.Combine("system32", "drivers", "viostor.sys").Replace('/', '\\'), Assert.Single(viostor.Files).Destination);
        var service = Assert.Single(viostor.Services);
        Assert.Equal(("viostor", 1u, 0u, 1u, @"system32\DRIVERS\viostor.sys", "SCSI miniport"), (service.Name, service.Type, service.Start, service.ErrorControl, service.ImagePath, service.Group));
        Assert.True(service.IsAssociated);
        var pnp = Assert.Single(service.Values);
        Assert.Equal((@"Parameters\PnpInterface", "5"), (pnp.Subkey, pnp.Name));
        Assert.Equal(BitConverter.GetBytes(1u), pnp.Data);

        var net = s.Installs.Where(i => !i.Package.IsStorage).ToList();
        Assert.Equal(["virtio-net (transitional)", "virtio-net (modern)"], net.SelectMany(i => i.Matches).Select(m => m.Device.Name));
        Assert.All(net, i => Assert.Equal("kvmnet5.ndi.NTx86", i.InstallSection));
        Assert.Equal(3u, net[0].Services[0].Start);

        Assert.Contains(s.Skipped, k => k.Inf == Path.Combine("viostor", "w7", "amd64", "viostor.inf") && k.Reason.Contains("no Models section for Windows 5.2 x86 (the INF offers NTamd64.6.1)"));
        Assert.Contains(s.Skipped, k => k.Inf == Path.Combine("viostor", "xp", "x86", "viostor.inf") && k.Reason.Contains("already driven by " + Path.Combine("viostor", "2k3", "x86", "viostor.inf")));
        Assert.Contains(s.Skipped, k => k.Inf == Path.Combine("vmware", "pvscsi", "pvscsi.inf") && k.Reason.Contains("is a storage device QEMU presents"));
    }

    [Fact]
    public void XpGetsTheXpPackageAndVmwareGetsPvscsi()
    {
        var xp = DriverSelection.Choose(_folder, Windows("5.1", "x86") with { ProductName = "Microsoft Windows XP" }, TargetHypervisor.For(TargetKind.Libvirt));
        Assert.All(xp.Installs.Where(i => i.Package.IsStorage), i => Assert.Contains(Path.Combine("xp", "x86"), i.Package.InfPath));
        Assert.Contains(xp.Skipped, k => k.Inf.Contains("2k3") && k.Reason.Contains("no Models section for Windows 5.1 x86 (the INF offers NTx86.5.2)"));

        var vmware = DriverSelection.Choose(_folder, Windows("5.2", "x86"), TargetHypervisor.For(TargetKind.Vmware));
        var pvscsi = Assert.Single(vmware.Installs);
        Assert.Equal(@"PCI\VEN_15AD&DEV_07C0&SUBSYS_07C015AD", Assert.Single(pvscsi.Matches).HardwareId);
        Assert.Contains(vmware.Skipped, k => k.Inf.Contains("netkvm") && k.Reason.Contains("VMware VMXNET3"));
    }

    [Fact]
    public void Windows7X64GetsTheAmd64PackageAndVirtualServerNothing()
    {
        var w7 = DriverSelection.Choose(_folder, Windows("6.1", "AMD64"), TargetHypervisor.For(TargetKind.Qemu));
        Assert.All(w7.Installs, i => Assert.Contains("amd64", i.Package.InfPath));
        Assert.Contains(w7.Skipped, k => k.Inf.Contains("2k3") && k.Reason.Contains("no Models section for Windows 6.1 amd64"));
        var vs = DriverSelection.Choose(_folder, Windows("5.2", "x86"), TargetHypervisor.For(TargetKind.VirtualServer));
        Assert.Empty(vs.Installs);
        Assert.Contains(vs.Skipped, k => k.Reason.Contains("Virtual Server 2005 presents no paravirtual storage device"));
    }

    [Fact]
    public void Windows2000ReadsOnlyUndecoratedModelsAndXpPrefersItsDecoration()
    {
        // viostor as a Windows 2000 package ships it: [Manufacturer] without a TargetOSVersion.
        var folder = Directory.CreateDirectory(Path.Combine(_folder, "viostor", "2k", "x86")).FullName;
        File.WriteAllText(Path.Combine(folder, "viostor.inf"), DriverPackages.Viostor("NTx86.5.1").Replace("RHEL,NTx86.5.1", "RHEL").Replace("[RHEL.NTx86.5.1]", "[RHEL]"));
        File.Copy(Path.Combine(_folder, "viostor", "xp", "x86", "viostor.sys"), Path.Combine(folder, "viostor.sys"));
        var w2k = DriverSelection.Choose(_folder, Windows("5.0", "x86") with { ProductName = "Microsoft Windows 2000" }, TargetHypervisor.For(TargetKind.Qemu));
        var storage = w2k.Installs.Where(i => i.Package.IsStorage).ToList();
        Assert.NotEmpty(storage);
        Assert.All(storage, i => Assert.Equal(("RHEL", (TargetOsVersion?)null), (i.ModelsSection, i.Decoration)));
        Assert.Contains(w2k.Skipped, k => k.Inf.Contains(Path.Combine("xp", "x86")) && k.Reason.Contains("no Models section for Windows 5.0 x86 (the INF offers NTx86.5.1)"));
        Assert.Contains(w2k.Skipped, k => k.Inf.Contains("netkvm") && k.Reason.Contains("no Models section for Windows 5.0 x86"));

        var xp = DriverSelection.Choose(_folder, Windows("5.1", "x86") with { ProductName = "Microsoft Windows XP" }, TargetHypervisor.For(TargetKind.Qemu));
        Assert.All(xp.Installs.Where(i => i.Package.IsStorage), i => Assert.Equal("RHEL.NTx86.5.1", i.ModelsSection));
        Assert.Contains(xp.Skipped, k => k.Inf.Contains(Path.Combine("2k", "x86")) && k.Reason.Contains("already driven by"));
    }

    [Fact]
    public void AMissingFileSkipsThePackageAndAMissingSectionIsAnErrorWithItsLine()
    {
        File.Delete(Path.Combine(_folder, "vmware", "pvscsi", "pvscsi.sys"));
        var vmware = DriverSelection.Choose(_folder, Windows("5.2", "x86"), TargetHypervisor.For(TargetKind.Vmware));
        Assert.Empty(vmware.Installs);
        Assert.Contains(vmware.Skipped, k => k.Reason.Contains("pvscsi.sys (CopyFiles, line 18) is not in"));

        var broken = Path.Combine(_folder, "vmware", "pvscsi", "pvscsi.inf");
        File.WriteAllText(broken, DriverPackages.Pvscsi.Replace("AddService = pvscsi, 2, pvscsi_Service", "AddService = pvscsi, 2, nowhere"));
        var e = Assert.Throws<InfFormatException>(() => DriverSelection.Choose(_folder, Windows("5.2", "x86"), TargetHypervisor.For(TargetKind.Vmware)));
        Assert.Equal($"{broken}, line 21: AddService names the service-install section [nowhere], which the file does not have", e.Message);
    }
}
