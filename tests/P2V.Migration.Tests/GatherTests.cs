using P2V.Windows;
using P2V.Migration.Inventory;

namespace P2V.Migration.Tests;

/// <summary>Gathers the fixture machines (sysfs/procfs/DMI trees, disks made by real tools) and checks the XML with xmllint against docs/inventory.xsd.</summary>
public sealed class GatherTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    internal static SourceInventory Gather(string machine, params string[] diskSources) =>
        new InventoryGatherer { Root = FixtureMachines.Root(machine), DiskSources = diskSources, Tool = "p2v-test" }.Gather();

    private static void AssertSchemaValid(SourceInventory inv)
    {
        using var dir = new TempDirectory();
        var xml = dir.File("inventory.xml");
        InventoryXml.Save(inv, xml);
        var r = ExternalTool.Try("xmllint", "--noout", "--schema", TestPaths.Xsd, xml);
        Assert.True(r.ExitCode == 0, r.StdErr);
        // and it reads back to the same facts
        var back = InventoryXml.Load(xml);
        Assert.Equal(inv.Disks.Count, back.Disks.Count);
        Assert.Equal(inv.Windows?.Facts.HalName, back.Windows?.Facts.HalName);
        Assert.Equal(InventoryXml.ToXml(inv).ToString(), InventoryXml.ToXml(back with { Gathered = inv.Gathered }).ToString());
    }

    [Fact]
    public void TwoSocketServer_RaidFcUsbDongleAndPorts()
    {
        var inv = Gather("two-socket-server", "sda=" + disks.SystemDisk);
        AssertSchemaValid(inv);

        Assert.Equal(("Dell Inc.", "PowerEdge 2950", "CN7X9K2", "2.7.0"), (inv.System.Vendor, inv.System.Model, inv.System.Serial, inv.System.BiosVersion));
        Assert.Equal((2, 4, 8), (inv.Processors.Sockets, inv.Processors.Cores, inv.Processors.Threads));
        Assert.Equal(8174812L * 1024, inv.MemoryBytes);

        Assert.Equal(["sda", "sdb"], inv.Disks.Select(d => d.Name));   // loop0 is left out
        var sda = inv.Disks[0];
        Assert.Equal((DiskBus.Raid, "megaraid_sas", 285474816L * 512, "DELL PERC 6/i"), (sda.Bus, sda.Driver, sda.SizeBytes, sda.Model));
        Assert.Equal((DiskBus.FibreChannel, "qla2xxx"), (inv.Disks[1].Bus, inv.Disks[1].Driver));

        Assert.Equal(["eth0", "eth1"], inv.NetworkAdapters.Select(n => n.Name));   // lo has no device
        Assert.Equal(("00:1a:a0:11:22:33", "bnx2", "14e4", "164c", (int?)1000), (inv.NetworkAdapters[0].Mac, inv.NetworkAdapters[0].Driver,
            inv.NetworkAdapters[0].VendorId, inv.NetworkAdapters[0].DeviceId, inv.NetworkAdapters[0].SpeedMbps));
        Assert.Null(inv.NetworkAdapters[1].SpeedMbps);   // link down: speed -1

        Assert.Contains(inv.PciDevices, p => p.Address == "0000:03:00.0" && p.Kind == PciDeviceKind.Raid && p.ClassCode == "010400");
        Assert.Contains(inv.PciDevices, p => p.Address == "0000:05:00.0" && p.Kind == PciDeviceKind.FibreChannel && p.Driver == "qla2xxx");

        var dongle = Assert.Single(inv.UsbDevices, u => u.VendorId == "0529");
        Assert.Equal(("0001", "00", "HASP HL 3.25", "SafeNet Inc."), (dongle.ProductId, dongle.DeviceClass, dongle.Product, dongle.Manufacturer));
        Assert.Equal(["ff"], dongle.InterfaceClasses);
        Assert.True(Assert.Single(inv.UsbDevices, u => u.Address == "usb1").IsHub);

        Assert.Equal([(PortKind.Parallel, "parport0"), (PortKind.Serial, "ttyS0")], inv.Ports.Select(p => (p.Kind, p.Name)));   // ttyS1 has no UART
        Assert.Equal("serial8250", inv.Ports[1].Driver);
    }

    [Fact]
    public void SmallServer_SataDiskWithWindowsAndFatVolume()
    {
        var inv = Gather("small-server", disks.SystemDisk);
        AssertSchemaValid(inv);

        Assert.Equal((1, 1, 2), (inv.Processors.Sockets, inv.Processors.Cores, inv.Processors.Threads));
        var sda = Assert.Single(inv.Disks);
        Assert.Equal((DiskBus.Sata, "ahci"), (sda.Bus, sda.Driver));
        Assert.Equal(disks.SystemDisk, sda.Source);
        var table = sda.Table!;
        Assert.Equal((PartitionStyle.Mbr, "5EED0001"), (table.Style, table.Identifier));
        Assert.Equal(2, table.Partitions.Count);

        var ntfs = table.Partitions[0];
        Assert.Equal((1, 2048L * 512, 65536L * 512, "07", true), (ntfs.Number, ntfs.OffsetBytes, ntfs.LengthBytes, ntfs.Type, ntfs.Bootable));
        Assert.Equal((VolumeFileSystem.Ntfs, "SYSTEM", false), (ntfs.Volume!.FileSystem, ntfs.Volume.Label, ntfs.Volume.Hibernated));
        // ntfsinfo, independent of our reader: the label and the size in clusters
        var info = ExternalTool.Run("ntfsinfo", "-m", disks.SystemVolume);
        Assert.Contains("Volume Name: SYSTEM", info);
        long clusters = long.Parse(System.Text.RegularExpressions.Regex.Match(info, @"Volume Size in Clusters: (\d+)").Groups[1].Value);
        long clusterSize = long.Parse(System.Text.RegularExpressions.Regex.Match(info, @"Cluster Size: (\d+)").Groups[1].Value);
        Assert.Equal(clusters * clusterSize, ntfs.Volume.TotalBytes);
        Assert.InRange(ntfs.Volume.UsedBytes!.Value, 128 << 10, ntfs.Volume.TotalBytes - (1 << 20));

        var fat = table.Partitions[1];
        Assert.Equal(("06", VolumeFileSystem.Fat16, "DATA"), (fat.Type, fat.Volume!.FileSystem, fat.Volume.Label));

        Assert.Equal(("sda", 1), (inv.Windows!.Disk, inv.Windows.Partition));
        var w = inv.Windows.Facts;
        // hal.dll here is no PE file: repair\setup.log names what setup installed as hal.dll
        Assert.Equal(("\\WINDOWS", "halmacpi.dll"), (w.SystemRoot, w.HalName));
        Assert.True(w.Hal is not null && w.Kernel is not null && w.HasSystemHive);
        Assert.Contains("Windows Server 2003, Enterprise", w.BootIni!.ToString());
        Assert.True(w.HalType.IsMultiprocessor());
        // from the SOFTWARE and SYSTEM hives, through P2V.Windows
        Assert.Equal(("Microsoft Windows Server 2003", "5.2", "Service Pack 2", "SRV-OLD"), (w.ProductName, w.Version, w.ServicePack, w.ComputerName));
        Assert.Contains(w.Services, s => s.Name == "atapi" && s.Start == 0u);
        Assert.Contains(w.Services, s => s.Name == "W32Time" && s.Start == 2u);
    }

    [Fact]
    public void DynamicDiskMachine_DataDiskDynamic()
    {
        var inv = Gather("dynamic-disk", disks.SystemDisk, disks.DynamicDataDisk);
        AssertSchemaValid(inv);
        Assert.Equal((DiskBus.Ide, "ata_piix"), (inv.Disks[0].Bus, inv.Disks[0].Driver));
        Assert.Equal(PartitionStyle.Mbr, inv.Disks[0].Table!.Style);
        Assert.True(inv.Disks[1].IsDynamic);
        Assert.Equal("sda", inv.Windows!.Disk);
    }

    [Fact]
    public void DynamicDiskMachine_SystemVolumeOnDynamicDisk()
    {
        var inv = Gather("dynamic-disk", "sda=" + disks.DynamicSystemDisk);
        AssertSchemaValid(inv);
        var sda = inv.Disks[0];
        Assert.True(sda.IsDynamic);
        // The 0x42 entry Windows keeps for the boot volume still leads to the volume and its Windows.
        var p = Assert.Single(sda.Table!.Partitions);
        Assert.Equal(("42", VolumeFileSystem.Ntfs), (p.Type, p.Volume!.FileSystem));
        Assert.Equal(("sda", 1), (inv.Windows!.Disk, inv.Windows.Partition));
        Assert.Null(inv.Disks[1].Table);   // sdb: no contents given
    }

    [Fact]
    public void HibernatedAndBitLockerVolumes()
    {
        var inv = Gather("dynamic-disk", disks.HibernatedDisk, disks.BitLockerDisk);
        AssertSchemaValid(inv);
        Assert.True(inv.Disks[0].Table!.Partitions[0].Volume!.Hibernated);
        var locked = inv.Disks[1].Table!.Partitions[0].Volume!;
        Assert.Equal((VolumeFileSystem.BitLocker, (long?)null), (locked.FileSystem, locked.UsedBytes));
    }

    [Fact]
    public void DiskBeyondSysfsBecomesFileDisk()
    {
        var inv = Gather("small-server", disks.SystemDisk, disks.DynamicDataDisk);
        Assert.Equal(2, inv.Disks.Count);
        Assert.Equal((DiskBus.File, 48L << 20), (inv.Disks[1].Bus, inv.Disks[1].SizeBytes));
    }

    [Fact]
    public void EmptyRoot_GathersNothingButValidXml()
    {
        using var dir = new TempDirectory();
        var inv = new InventoryGatherer { Root = dir.Path }.Gather();
        AssertSchemaValid(inv);
        Assert.Empty(inv.Disks);
        Assert.Equal(0, inv.MemoryBytes);
    }
}
