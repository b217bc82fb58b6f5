using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

public class RegistryHiveTests
{
    [Fact]
    public void EmptyHiveFromOurWriterOpensInHivex()
    {
        using var tmp = new TempDirectory();
        var path = tmp.File("empty");
        RegistryHive.Create("ROOT", 3, "empty").Save(path);
        var result = ExternalTool.RunWith("hivexsh", ["-d", path], "ls\nlsval\nquit\n");
        Assert.Equal("", result.StdOut.Trim());
        Assert.Equal("", ExternalTool.Run("hivexget", path, "\\").Trim());
        var hive = RegistryHive.Open(path);
        Assert.Equal(0, hive.Root.SubkeyCount);
        Assert.Equal(1, hive.Verify());
    }

    [Theory]
    [InlineData(3)]
    [InlineData(5)]
    public void ReadsAHiveHivexFilled(int minor)
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg(), minor);
        var hive = RegistryHive.Open(path);
        Assert.Equal(1u, hive.Root.OpenSubkey("Select")!.GetDWord("Current"));
        var atapi = hive.Root.OpenSubkey(@"ControlSet001\Services\ATAPI")!;
        Assert.Equal("atapi", atapi.Name);
        Assert.Equal(0u, atapi.GetDWord("Start"));
        Assert.Equal(RegistryValueKind.ExpandString, atapi.GetValue("ImagePath")!.Kind);
        Assert.Equal(@"system32\DRIVERS\atapi.sys", atapi.GetString("ImagePath"));
        var tcpip = hive.Root.OpenSubkey(@"ControlSet001\Services\Tcpip\Parameters")!;
        Assert.Equal(["10.0.0.1", "10.0.0.2"], tcpip.GetMultiString("NameServer")!);
        Assert.Equal(0x0102030405060708UL, tcpip.GetValue("Big")!.AsQWord());
        Assert.Equal(
            HiveFixtures.Services.Select(s => s.Name).Order(StringComparer.OrdinalIgnoreCase),
            hive.Root.OpenSubkey(@"ControlSet001\Services")!.SubkeyNames);
    }

    [Fact]
    public void EditsShowInHivexAndNothingElseChanges()
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg());
        var expected = HiveFixtures.ExportMap(path);

        var hive = RegistryHive.Open(path);
        var cs = hive.Root.OpenSubkey("ControlSet001")!;
        cs.OpenSubkey(@"Control\CrashControl")!.SetDWord("AutoReboot", 0);
        cs.OpenSubkey(@"Services\CpqCiDrv")!.SetDWord("Start", 4);
        var pci = cs.CreateSubkey(@"Control\CriticalDeviceDatabase\pci#ven_8086&dev_7111");
        pci.SetString("Service", "intelide");
        pci.SetString("ClassGUID", "{4D36E96A-E325-11CE-BFC1-08002BE10318}");
        cs.OpenSubkey(@"Control\Class\{4D36E97B-E325-11CE-BFC1-08002BE10318}")!.DeleteValue("UpperFilters");
        cs.OpenSubkey("Services")!.DeleteSubkey("Tcpip");
        hive.Save(path);

        Assert.Equal("0", Get(path, @"\ControlSet001\Control\CrashControl", "AutoReboot"));
        Assert.Equal("4", Get(path, @"\ControlSet001\Services\CpqCiDrv", "Start"));
        Assert.Equal("intelide", Get(path, @"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7111", "Service"));

        expected[@"\ControlSet001\Control\CrashControl"]["\"AutoReboot\""] = "dword:00000000";
        expected[@"\ControlSet001\Services\CpqCiDrv"]["\"Start\""] = "dword:00000004";
        expected[@"\ControlSet001\Control\CriticalDeviceDatabase"] = [];
        expected[@"\ControlSet001\Control\CriticalDeviceDatabase\pci#ven_8086&dev_7111"] = new(StringComparer.Ordinal)
        {
            ["\"ClassGUID\""] = Hex1("{4D36E96A-E325-11CE-BFC1-08002BE10318}"),
            ["\"Service\""] = Hex1("intelide"),
        };
        expected[@"\ControlSet001\Control\Class\{4D36E97B-E325-11CE-BFC1-08002BE10318}"].Remove("\"UpperFilters\"");
        expected.Remove(@"\ControlSet001\Services\Tcpip");
        expected.Remove(@"\ControlSet001\Services\Tcpip\Parameters");
        Assert.Equal(HiveFixtures.Describe(expected), HiveFixtures.Describe(HiveFixtures.ExportMap(path)));
        Assert.True(RegistryHive.Open(path).Verify() > 30);
    }

    /// <summary>How hivexregedit exports a REG_SZ.</summary>
    private static string Hex1(string s) => "hex(1):" + string.Join(",", RegistryValue.EncodeString(s).Select(b => b.ToString("x2")));

    private static string Get(string hive, string key, string value) => ExternalTool.Run("hivexget", hive, key, value).Trim();

    private static IEnumerable<string> Normalize(string export) => export.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0);
}
