using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>Names stored compressed (Latin-1) and as UTF-16 (§ Key node › Flags KEY_COMP_NAME), read back by hivex.</summary>
public class RegistryNameTests
{
    [Fact]
    public void LatinAndUnicodeNamesRoundTripThroughHivex()
    {
        using var tmp = new TempDirectory();
        var path = tmp.File("names");
        var hive = RegistryHive.Create("ROOT", 5, "names");
        var cafe = hive.Root.CreateSubkey("Caf\u00e9");
        var cyr = hive.Root.CreateSubkey("\u041a\u043b\u044e\u0447");
        cafe.SetString("N\u00e4me", "latin");
        cyr.SetString("\u540d\u524d", "unicode");
        cyr.SetDWord("", 5); // the default value: an empty name
        hive.Save(path);

        // hivex's C tools print names as UTF-8 (hivexregedit's Perl prints Latin-1 bytes, so it is not used here).
        Assert.Equal("latin", ExternalTool.Run("hivexget", path, "\\Caf\u00e9", "N\u00e4me").Trim());
        Assert.Equal("unicode", ExternalTool.Run("hivexget", path, "\\\u041a\u043b\u044e\u0447", "\u540d\u524d").Trim());
        Assert.Equal("5", ExternalTool.Run("hivexget", path, "\\\u041a\u043b\u044e\u0447", "@").Trim());
        Assert.Equal(["Caf\u00e9", "\u041a\u043b\u044e\u0447"], ExternalTool.RunWith("hivexsh", [path], "ls\n").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var reread = RegistryHive.Open(path);
        Assert.Equal(["Caf\u00e9", "\u041a\u043b\u044e\u0447"], reread.Root.SubkeyNames);
        Assert.Equal("unicode", reread.Root.OpenSubkey("\u043a\u043b\u044e\u0447")!.GetString("\u540d\u524d")); // case-insensitive beyond ASCII
    }
}
