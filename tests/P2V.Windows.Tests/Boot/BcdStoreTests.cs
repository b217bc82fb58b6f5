using System.Text;
using P2V.Windows.Boot;
using P2V.Windows.Registry;
using P2V.Windows.Tests.Registry;

namespace P2V.Windows.Tests.Boot;

public class BcdStoreTests
{
    public const string OsLoader = "{6a5c8f1e-2b3d-11e0-8c4a-001122334455}";
    public const string Resume = "{6a5c8f1f-2b3d-11e0-8c4a-001122334455}";

    /// <summary>.reg text for a BCD store shaped like Windows Server 2008 R2's: boot manager, one OS loader, one resume object.</summary>
    public static string BcdReg()
    {
        var device = new byte[0x58];
        device[0x10] = 6; // partition
        var sb = new StringBuilder(HiveFixtures.Header);
        sb.Append("[\\Description]\n").Append(HiveFixtures.Sz("KeyName", "BCD00000000")).Append('\n');
        const string mgr = "{9dea862c-5cdd-4e70-acc1-f32b344d4795}";
        sb.Append($"[\\Objects\\{mgr}\\Description]\n").Append(HiveFixtures.Dword("Type", 0x10100002)).Append('\n');
        sb.Append($"[\\Objects\\{mgr}\\Elements\\11000001]\n").Append(HiveFixtures.Hex("Element", 3, device)).Append('\n');
        sb.Append($"[\\Objects\\{mgr}\\Elements\\12000004]\n").Append(HiveFixtures.Sz("Element", "Windows Boot Manager")).Append('\n');
        sb.Append($"[\\Objects\\{mgr}\\Elements\\23000003]\n").Append(HiveFixtures.Sz("Element", OsLoader)).Append('\n');
        sb.Append($"[\\Objects\\{mgr}\\Elements\\24000001]\n").Append(HiveFixtures.Multi("Element", OsLoader)).Append('\n');
        sb.Append($"[\\Objects\\{mgr}\\Elements\\25000004]\n").Append(HiveFixtures.Hex("Element", 3, BitConverter.GetBytes(30UL))).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Description]\n").Append(HiveFixtures.Dword("Type", 0x10200003)).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Elements\\11000001]\n").Append(HiveFixtures.Hex("Element", 3, device)).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Elements\\12000002]\n").Append(HiveFixtures.Sz("Element", @"\Windows\system32\winload.exe")).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Elements\\12000004]\n").Append(HiveFixtures.Sz("Element", "Windows Server 2008 R2")).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Elements\\21000001]\n").Append(HiveFixtures.Hex("Element", 3, device)).Append('\n');
        sb.Append($"[\\Objects\\{OsLoader}\\Elements\\22000002]\n").Append(HiveFixtures.Sz("Element", @"\Windows")).Append('\n');
        sb.Append($"[\\Objects\\{Resume}\\Description]\n").Append(HiveFixtures.Dword("Type", 0x10200004)).Append('\n');
        sb.Append($"[\\Objects\\{Resume}\\Elements\\12000004]\n").Append(HiveFixtures.Sz("Element", "Windows Resume Application")).Append('\n');
        return sb.ToString();
    }

    [Fact]
    public void ReportsTheBootEntriesOfAHivexBuiltStore()
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "BCD", BcdReg(), 5);
        var hive = RegistryHive.Open(path);
        Assert.True(BcdStore.IsBcd(hive));
        var store = BcdStore.Read(hive);
        Assert.Equal(3, store.Entries.Count);
        Assert.Equal("Windows Boot Manager", store.BootManager!.Description);
        var os = store.Default!;
        Assert.True(os.IsOsLoader);
        Assert.Equal(Guid.Parse(OsLoader), os.Id);
        Assert.Equal("Windows Server 2008 R2", os.Description);
        Assert.Equal(@"\Windows\system32\winload.exe", os.ApplicationPath);
        Assert.Equal(@"\Windows", os.SystemRoot);
        Assert.Equal("partition", os.OsDevice!.Kind);
        Assert.Equal([Guid.Parse(OsLoader)], store.DisplayOrder);
        Assert.Equal(30UL, store.Timeout);
        Assert.Equal("Windows Resume Application", store.Entries.Single(e => e.Type == BcdEntry.ResumeType).Description);
        Assert.False(BcdStore.IsBcd(RegistryHive.Open(HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg()))));
    }
}
