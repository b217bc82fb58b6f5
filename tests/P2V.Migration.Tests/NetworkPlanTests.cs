using System.Diagnostics;
using System.Text;
using System.Xml;
using P2V.Migration.Creation;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Migration.VmConfigs;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>
/// Virtual networks: one per source subnet (else VM0), --network overrides, each target's definitions and NIC
/// attachments, checked by virt-xml-validate (network and domain), QEMU's own option parsing, sh -n and bash -n,
/// xmllint, and the bridge script run for real in a network namespace of its own.
/// </summary>
public sealed class NetworkPlanTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    private const string SubnetNet = "net-192.168.10.0-24";

    private MigrationPlan Plan(TargetKind target, string configPath, params string[] networks)
    {
        var inv = GatherTests.Gather("small-server", disks.SystemDisk);
        return MigrationPlanner.Plan(inv, new PlanOptions
        {
            Name = "SMALL", Target = target, VmConfigPath = configPath, VirtualDiskPath = configPath, DestHost = "vmhost.example.com", Networks = networks,
        }).Plan;
    }

    [Fact]
    public void DefaultNetwork_IsTheSourceSubnet_ElseVM0()
    {
        var plan = Plan(TargetKind.Libvirt, "/srv/vm");
        Assert.Equal(SubnetNet, Assert.Single(plan.Nics).Network);
        var net = Assert.Single(plan.Networks);
        Assert.Equal((SubnetNet, "192.168.10.0/24", "brc0a80a00-24", "/srv/vm/net-192.168.10.0-24.network.xml"), (net.Name, net.Subnet, net.Bridge, net.Definition));

        // no Windows, so no IP configuration: both NICs on the seed's VM0, defined once
        var inv = GatherTests.Gather("two-socket-server");
        var (big, _) = MigrationPlanner.Plan(inv, new PlanOptions { Name = "BIG", Target = TargetKind.VirtualServer, VmConfigPath = "D:\\VMs", VirtualDiskPath = "D:\\VMs", DestHost = "vs1" });
        Assert.Equal(["VM0", "VM0"], big.Nics.Select(n => n.Network));
        Assert.Equal(("VM0", (string?)null, "D:\\VMs\\VM0.vnc"), (Assert.Single(big.Networks).Name, big.Networks[0].Subnet, big.Networks[0].Definition));

        // a DHCP lease counts as the NIC's subnet too
        var dhcp = new NetworkAdapterInfo("eth0", "00:11:22:33:44:55", "e1000", "8086", "100e", null, "", new IpConfiguration(true, [new("10.20.30.40", "255.255.252.0")]));
        Assert.Equal("net-10.20.28.0-22", NetworkPlanning.SubnetName(dhcp));
    }

    [Fact]
    public void NetworkOption_OverridesOneNicOrAll_AndRefusesUnknownNics()
    {
        var inv = GatherTests.Gather("two-socket-server");
        var nics = inv.NetworkAdapters;
        Assert.Equal(["lab", "VM0"], NetworkPlanning.Assign(nics, ["eth0=lab"]));
        Assert.Equal(["lab", "dmz"], NetworkPlanning.Assign(nics, ["eth0=lab", "dmz"]));
        var e = Assert.Throws<ArgumentException>(() => NetworkPlanning.Assign(nics, ["eth9=lab"]));
        Assert.Contains("no network adapter 'eth9' (eth0, eth1)", e.Message);
        Assert.Throws<ArgumentException>(() => NetworkPlanning.Assign(nics, ["eth0=a b"]));
        Assert.Throws<ArgumentException>(() => NetworkPlanning.Assign(nics, ["eth0=a", "eth0=b"]));

        var plan = Plan(TargetKind.Qemu, "/srv/vm", "eth0=backbone-network-segment");
        var net = Assert.Single(plan.Networks);
        Assert.Equal(("backbone-network-segment", (string?)null), (net.Name, net.Subnet));
        Assert.Matches("^p2vbr[0-9a-f]{8}$", net.Bridge);   // too long for a Linux interface name: a stable hash
        Assert.Equal(net.Bridge, NetworkPlanning.Bridge("backbone-network-segment", null));
    }

    [Fact]
    public void Libvirt_NetworkAndDomainPassVirtXmlValidate()
    {
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.Libvirt, dir.Path);
        var (network, bytes) = Assert.Single(MigrationFolder.NetworkDefinitions(plan));
        var file = dir.File("net.xml");
        File.WriteAllBytes(file, bytes);
        var r = ExternalTool.Try("virt-xml-validate", file, "network");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        var doc = new XmlDocument();
        doc.Load(file);
        Assert.Equal(SubnetNet, doc.SelectSingleNode("/network/name")!.InnerText);
        Assert.Equal("brc0a80a00-24", doc.SelectSingleNode("/network/bridge/@name")!.Value);
        Assert.Null(doc.SelectSingleNode("/network/forward"));   // isolated: no NAT or DHCP of the host's

        var domain = dir.File("SMALL.xml");
        File.WriteAllText(domain, LibvirtDomain.Write(plan));
        r = ExternalTool.Try("virt-xml-validate", domain, "domain");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        doc.Load(domain);
        Assert.Equal(SubnetNet, doc.SelectSingleNode("/domain/devices/interface[@type='network']/source/@network")!.Value);
        Assert.Equal("00:1e:0b:aa:bb:cc", doc.SelectSingleNode("/domain/devices/interface[@type='network']/mac/@address")!.Value);

        var create = MigrationScripts.Write(plan).Single(f => f.FileName == "SMALL_CreateVM.sh").Text;
        Assert.Contains($"net-define \"{network.Definition}\"", create);
        Assert.True(create.IndexOf("net-define", StringComparison.Ordinal) < create.IndexOf(" define ", StringComparison.Ordinal));
        AssertShellSyntax(dir, "create.sh", create);
    }

    /// <summary>
    /// libvirt itself (its test driver, which needs no daemon and keeps state for one connection) defines and starts
    /// the network, defines the domain and attaches its interface to it.
    /// </summary>
    [Fact]
    public void Libvirt_TestDriverDefinesTheNetworkAndAttachesTheDomain()
    {
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.Libvirt, dir.Path);
        var (network, bytes) = Assert.Single(MigrationFolder.NetworkDefinitions(plan));
        File.WriteAllBytes(dir.File("net.xml"), bytes);
        File.WriteAllText(dir.File("SMALL.xml"), LibvirtDomain.Write(plan, domainType: "test"));
        var r = ExternalTool.Try("virsh", "-c", "test:///default",
            $"net-define {dir.File("net.xml")}; net-start {network.Name}; net-info {network.Name}; define {dir.File("SMALL.xml")}; domiflist SMALL");
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Matches(@"Active:\s+yes", r.StdOut);
        Assert.Matches(@"Bridge:\s+brc0a80a00-24", r.StdOut);
        Assert.Matches(@"network\s+net-192\.168\.10\.0-24\s+rtl8139\s+00:1e:0b:aa:bb:cc", r.StdOut);
    }

    [Fact]
    public void VirtualServer_VncAndRegistrationStep()
    {
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.VirtualServer, "D:\\VMs\\SMALL");
        var (network, bytes) = Assert.Single(MigrationFolder.NetworkDefinitions(plan));
        Assert.Equal("D:\\VMs\\SMALL\\net-192.168.10.0-24.vnc", network.Definition);
        Assert.Equal([0xFF, 0xFE], bytes[..2]);
        File.WriteAllBytes(dir.File("n.vnc"), bytes);
        Assert.Equal(0, ExternalTool.Try("xmllint", "--noout", dir.File("n.vnc")).ExitCode);
        var doc = new XmlDocument();
        doc.Load(dir.File("n.vnc"));
        Assert.Equal(SubnetNet, doc.SelectSingleNode("/preferences/virtual_network/name[@type='string']")!.InnerText);
        Assert.Matches("^[0-9A-F]{32}$", doc.SelectSingleNode("/preferences/virtual_network/id[@type='bytes']")!.InnerText);
        Assert.Equal("false", doc.SelectSingleNode("/preferences/virtual_network/dhcp_server/enabled")!.InnerText);

        doc = new XmlDocument();
        using (var stream = new MemoryStream(VirtualServerVmc.Write(plan))) doc.Load(stream);
        Assert.Equal(SubnetNet, doc.SelectSingleNode("/preferences/hardware/pci_bus/ethernet_adapter/ethernet_controller[@id='0']/virtual_network/name")!.InnerText);

        var ps1 = MigrationScripts.Write(plan).Single(f => f.FileName == "SMALL_CreateVM.ps1").Text;
        Assert.Contains($"if (-not $vs.FindVirtualNetwork('{SubnetNet}')) {{ $vs.RegisterVirtualNetwork('{SubnetNet}.vnc', 'D:\\VMs\\SMALL') | Out-Null }}", ps1);
        Assert.True(ps1.IndexOf("RegisterVirtualNetwork", StringComparison.Ordinal) < ps1.IndexOf("RegisterVirtualMachine", StringComparison.Ordinal));
    }

    [Fact]
    public void HyperV_CreatesTheMissingSwitchBeforeAttaching()
    {
        var plan = Plan(TargetKind.HyperV, "D:\\Hyper-V", "eth0=Lab");
        Assert.Null(Assert.Single(plan.Networks).Definition);
        var ps = HyperVScript.Write(plan);
        var create = $"if (-not (Get-VMSwitch -Name 'Lab' -ComputerName 'vmhost.example.com' -ErrorAction SilentlyContinue)) {{ New-VMSwitch -Name 'Lab' -ComputerName 'vmhost.example.com' -SwitchType Internal | Out-Null }}";
        Assert.Contains(create, ps);
        Assert.Contains("Add-VMNetworkAdapter -VM $vm -Name 'eth0' -SwitchName 'Lab' -StaticMacAddress '001E0BAABBCC'", ps);
        Assert.True(ps.IndexOf(create, StringComparison.Ordinal) < ps.IndexOf("Add-VMNetworkAdapter", StringComparison.Ordinal));
    }

    [Fact]
    public void Vmware_EthernetEntriesNameTheirNetwork()
    {
        var text = VmwareVmx.Write(Plan(TargetKind.Vmware, "/vmfs/volumes/ds1/SMALL"));
        Assert.Contains($"ethernet0.networkName = \"{SubnetNet}\"\n", text);
        Assert.DoesNotContain("ethernet0.vnet", text);   // not a Workstation vmnet switch
        var workstation = VmwareVmx.Write(Plan(TargetKind.Vmware, "/vmfs/volumes/ds1/SMALL", "eth0=vmnet2"));
        Assert.Contains("ethernet0.connectionType = \"custom\"\nethernet0.vnet = \"vmnet2\"\n", workstation);
    }

    [Fact]
    public async Task Qemu_NicOptionsParseAndBridgeScriptIsSound()
    {
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.Qemu, dir.Path);
        var (network, bytes) = Assert.Single(MigrationFolder.NetworkDefinitions(plan));
        var script = Encoding.UTF8.GetString(bytes);
        AssertShellSyntax(dir, "bridge.sh", script);
        var vm = QemuCommandLine.Write(plan);
        Assert.Contains("NETDEV0=${P2V_QEMU_NETDEV:-bridge,br=brc0a80a00-24}", vm);
        Assert.Contains("\"-nic\" \"$NETDEV0,model=rtl8139,mac=00:1e:0b:aa:bb:cc\"", vm);
        AssertShellSyntax(dir, "vm.sh", vm);
        Assert.Contains($"sh \"{network.Definition}\"", MigrationScripts.Write(plan).Single(f => f.FileName == "SMALL_CreateVM.sh").Text);

        // QEMU itself parses the options and builds the machine (stopped with -S, quit from its monitor): the disks
        // and floppy exist as empty files, the NIC on the user backend (the bridge needs qemu-bridge-helper as root).
        foreach (var f in plan.Disks.Select(d => d.File).Append(plan.Floppy))
            ExternalTool.Run("qemu-img", "create", "-q", "-f", "raw", f, "1M");
        File.WriteAllText(dir.File("vm.sh"), vm);
        var psi = new ProcessStartInfo("sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dir.File("vm.sh"), "-S", "-display", "none", "-monitor", "stdio" }) psi.ArgumentList.Add(a);
        psi.Environment["P2V_QEMU_ACCEL"] = "tcg";
        psi.Environment["P2V_QEMU_NETDEV"] = "user";
        using var qemu = Process.Start(psi)!;
        qemu.StandardInput.Write("info network\nquit\n");
        qemu.StandardInput.Close();
        var stdout = qemu.StandardOutput.ReadToEndAsync();
        var stderr = await qemu.StandardError.ReadToEndAsync();
        await qemu.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(qemu.ExitCode == 0, stderr);
        Assert.Contains("model=rtl8139,macaddr=00:1e:0b:aa:bb:cc", await stdout);
    }

    [SkippableFact]
    public void QemuBridgeScript_MakesTheBridgeOnce_InANetworkNamespace()
    {
        Skip.If(Environment.UserName != "root", "needs root for a network namespace");
        Skip.If(ExternalTool.Try("unshare", "-n", "true").ExitCode != 0, "cannot make a network namespace here (unshare -n)");
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.Qemu, dir.Path);
        var (network, bytes) = Assert.Single(MigrationFolder.NetworkDefinitions(plan));
        File.WriteAllBytes(dir.File("bridge.sh"), bytes);
        var acl = dir.File("bridge.conf");
        // twice in the same fresh namespace: the second run finds the bridge and the ACL line and adds nothing
        var r = ExternalTool.RunWith("unshare", ["-n", "sh", "-c",
            $"export P2V_QEMU_BRIDGE_ACL={acl}; sh {dir.File("bridge.sh")} && sh {dir.File("bridge.sh")} && ip -o -d link show dev {network.Bridge}"], stdin: null, check: false);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Single(r.StdOut.Split('\n'), l => l.StartsWith("created bridge", StringComparison.Ordinal));
        Assert.Contains($": {network.Bridge}: <", r.StdOut);
        Assert.Contains(" bridge ", r.StdOut);   // ip -d: the link's kind
        Assert.Equal($"allow {network.Bridge}\n", File.ReadAllText(acl));

        // with an uplink (one end of a veth pair standing for the host's adapter on the source subnet): enslaved to the bridge;
        // a missing one is a clear failure
        r = ExternalTool.RunWith("unshare", ["-n", "sh", "-c",
            $"ip link add up0 type veth peer name up1 && P2V_QEMU_BRIDGE_ACL={acl} P2V_BRIDGE_UPLINK=up0 sh {dir.File("bridge.sh")} && ip -o link show dev up0"], stdin: null, check: false);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Contains($"master {network.Bridge}", r.StdOut);
        r = ExternalTool.RunWith("unshare", ["-n", "sh", "-c", $"P2V_QEMU_BRIDGE_ACL={acl} P2V_BRIDGE_UPLINK=nosuch0 sh {dir.File("bridge.sh")}"], stdin: null, check: false);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("no host interface nosuch0", r.StdErr);
    }

    [Fact]
    public async Task CreateVm_WritesMissingDefinitions_LeavesExistingOnes()
    {
        using var dir = new TempDirectory();
        var plan = Plan(TargetKind.Libvirt, dir.Path, "eth0=lab");
        var floppy = dir.File("given.vfd");
        File.WriteAllBytes(floppy, new byte[1474560]);
        var created = await VmCreator.CreateAsync(plan, new CreateVmOptions { FloppySource = floppy });
        var definition = Assert.Single(created.Networks);
        Assert.Equal(dir.File("lab.network.xml"), definition);
        Assert.Equal(0, ExternalTool.Try("virt-xml-validate", definition, "network").ExitCode);

        File.WriteAllText(definition, "<network><name>lab</name><forward mode='nat'/></network>\n");   // the host's own, edited
        created = await VmCreator.CreateAsync(plan, new CreateVmOptions { FloppySource = floppy, Overwrite = true });
        Assert.Empty(created.Networks);
        Assert.Contains("forward mode='nat'", File.ReadAllText(definition));
        Assert.False(File.Exists(definition + ".partial"));
    }

    private static void AssertShellSyntax(TempDirectory dir, string name, string text)
    {
        var path = dir.File(name);
        File.WriteAllText(path, text);
        foreach (var shell in new[] { "sh", "bash" })
        {
            var r = ExternalTool.Try(shell, "-n", path);
            Assert.True(r.ExitCode == 0, $"{shell} -n {name}: {r.StdErr}");
        }
    }
}
