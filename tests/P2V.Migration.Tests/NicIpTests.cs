using P2V.Migration.Inventory;
using P2V.Windows;
using P2V.Windows.Registry;

namespace P2V.Migration.Tests;

/// <summary>
/// Each NIC's IP configuration from the SYSTEM hive's Tcpip keys (hives filled by hivexregedit, read back by hivexget),
/// matched to the adapters sysfs found: Windows 2000+ layout through the network class and Enum\PCI, NT 4.0's
/// Services\&lt;adapter&gt;\Parameters\Tcpip.
/// </summary>
public sealed class NicIpTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    [Fact]
    public void SmallServer_StaticAddressMatchedByPciLocation()
    {
        var inv = GatherTests.Gather("small-server", disks.SystemDisk);
        var nic = Assert.Single(inv.NetworkAdapters);
        Assert.Equal("0000:02:00.0", nic.PciAddress);
        Assert.NotNull(nic.Ip);
        Assert.False(nic.Ip.Dhcp);
        var address = Assert.Single(nic.Ip.Addresses);
        Assert.Equal(("192.168.10.20", "255.255.255.0", ("192.168.10.0", 24)), (address.Address, address.Mask, address.Subnet!.Value));
        // the WAN miniport's interface (software, 0.0.0.0) is not an adapter
        Assert.Single(inv.Windows!.Facts.Tcpip);

        // hivexget reads the same value from the hive as ntfscat copies it off the volume
        using var dir = new TempDirectory();
        var hive = dir.File("SYSTEM");
        File.WriteAllBytes(hive, ExternalTool.RunBytes("ntfscat", disks.SystemVolume, "WINDOWS/system32/config/SYSTEM"));
        var ip = ExternalTool.Run("hivexget", hive, $"\\ControlSet001\\Services\\Tcpip\\Parameters\\Interfaces\\{WindowsDisks.NicGuid}", "IPAddress");
        Assert.Equal("192.168.10.20", ip.Trim());

        // and the inventory file carries it through the schema and back
        var xml = dir.File("inventory.xml");
        InventoryXml.Save(inv, xml);
        var r = ExternalTool.Try("xmllint", "--noout", "--schema", TestPaths.Xsd, xml);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var back = Assert.Single(InventoryXml.Load(xml).NetworkAdapters);
        Assert.Equal(("0000:02:00.0", false, "192.168.10.20", "255.255.255.0"), (back.PciAddress, back.Ip!.Dhcp, back.Ip.Addresses[0].Address, back.Ip.Addresses[0].Mask));
    }

    private static RegistryKey ControlSet(TempDirectory dir, string reg)
    {
        var path = dir.File("SYSTEM");
        RegistryHive.Create("CMI-CreateHive{SYSTEM}", 3, "SYSTEM").Save(path);
        File.WriteAllText(dir.File("system.reg"), "Windows Registry Editor Version 5.00\n\n[\\ControlSet001]\n\n[\\ControlSet001\\Services]\n\n" + reg);
        ExternalTool.Run("hivexregedit", "--merge", path, dir.File("system.reg"));
        return RegistryHive.Open(path).Root.OpenSubkey("ControlSet001")!;
    }

    [Fact]
    public void Nt4_AdapterServiceParametersTcpip_DhcpAndStatic()
    {
        using var dir = new TempDirectory();
        var set = ControlSet(dir,
            "[\\ControlSet001\\Services\\Tcpip]\n\n[\\ControlSet001\\Services\\Tcpip\\Linkage]\n"
            + "\"Bind\"=" + WindowsDisks.RegMultiSz("\\Device\\E100B1", "\\Device\\El90x2", "\\Device\\NdisWan4") + "\n\n"
            + "[\\ControlSet001\\Services\\E100B1]\n\"DisplayName\"=\"Intel 82557-based PRO Adapter\"\n\n"
            + "[\\ControlSet001\\Services\\E100B1\\Parameters]\n\"BusNumber\"=dword:00000000\n\"SlotNumber\"=dword:0000000e\n\n"
            + "[\\ControlSet001\\Services\\E100B1\\Parameters\\Tcpip]\n\"EnableDHCP\"=dword:00000000\n"
            + "\"IPAddress\"=" + WindowsDisks.RegMultiSz("10.1.2.3", "10.1.3.3") + "\n\"SubnetMask\"=" + WindowsDisks.RegMultiSz("255.255.255.0", "255.255.255.0") + "\n\n"
            + "[\\ControlSet001\\Services\\El90x2]\n\n[\\ControlSet001\\Services\\El90x2\\Parameters]\n\n"
            + "[\\ControlSet001\\Services\\El90x2\\Parameters\\Tcpip]\n\"EnableDHCP\"=dword:00000001\n"
            + "\"DhcpIPAddress\"=\"172.16.5.9\"\n\"DhcpSubnetMask\"=\"255.255.0.0\"\n\n");
        var bindings = TcpipBindings.Read(set);
        Assert.Equal(["E100B1", "El90x2"], bindings.Select(b => b.Binding));   // NdisWan4 has no service key of its own here
        Assert.Equal(((0, 14, 0), false), (bindings[0].PciLocation!.Value, bindings[0].Ip.Dhcp));
        Assert.Equal(["10.1.2.3", "10.1.3.3"], bindings[0].Ip.Addresses.Select(a => a.Address));
        Assert.Equal((true, "172.16.0.0", 16), (bindings[1].Ip.Dhcp, bindings[1].Ip.Addresses[0].Subnet!.Value.Network, bindings[1].Ip.Addresses[0].Subnet!.Value.Prefix));

        // The dynamic-disk machine's eth0 sits at 0000:00:0e.0: the E100B1 binding by its slot; El90x2 matches no adapter.
        var nics = new List<NetworkAdapterInfo> { new("eth0", "00:0c:29:00:00:01", "e100", "8086", "1229", 100, "0000:00:0e.0"),
            new("eth1", "00:0c:29:00:00:02", "3c59x", "10b7", "9200", 100, "0000:00:0f.0") };
        var notes = new List<string>();
        var matched = NicMatcher.Match(nics, bindings, notes);
        Assert.Equal("10.1.2.3", matched[0].Ip!.Addresses[0].Address);
        // one adapter and one binding left, neither with ids that disagree: they are each other's
        Assert.Equal("172.16.5.9", matched[1].Ip!.Addresses[0].Address);
        Assert.Empty(notes);
    }

    [Fact]
    public void TwoIdenticalAdapters_MatchedByLocation_UnknownOneIsANote()
    {
        var ip = (string a) => new IpConfiguration(false, [new IpAddressWithMask(a, "255.255.255.0")]);
        var bindings = new List<TcpipBinding>
        {
            new("{B}", "Broadcom", "14e4", "164c", (6, 0, 0), ip("10.0.6.1")),
            new("{A}", "Broadcom", "14e4", "164c", (4, 0, 0), ip("10.0.4.1")),
            new("{C}", "Intel", "8086", "100e", (9, 0, 0), ip("10.0.9.1")),
        };
        var nics = new List<NetworkAdapterInfo> { new("eth0", "00:1a:a0:11:22:33", "bnx2", "14e4", "164c", 1000, "0000:04:00.0"),
            new("eth1", "00:1a:a0:11:22:34", "bnx2", "14e4", "164c", null, "0000:06:00.0") };
        var notes = new List<string>();
        var matched = NicMatcher.Match(nics, bindings, notes);
        Assert.Equal(["10.0.4.1", "10.0.6.1"], matched.Select(n => n.Ip!.Addresses[0].Address));
        Assert.Contains("{C} (Intel)", Assert.Single(notes));
    }

    [Theory]
    [InlineData("255.255.255.0", 24)]
    [InlineData("255.255.254.0", 23)]
    [InlineData("0.0.0.0", 0)]
    [InlineData("255.255.255.255", 32)]
    [InlineData("255.0.255.0", null)]
    [InlineData("not a mask", null)]
    public void PrefixLength(string mask, int? prefix) => Assert.Equal(prefix, new IpAddressWithMask("10.0.0.1", mask).PrefixLength);
}
