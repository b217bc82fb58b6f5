using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>Many edits at once, checked by hivexregedit --export against the exact expected content.</summary>
public class RegistryEditTests
{
    [Theory]
    [InlineData(5)]
    [InlineData(3)]
    public void HundredsOfKeysBigValuesAndDeletionsRoundTripThroughHivex(int minor)
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "software", HiveFixtures.SoftwareReg(), minor);
        var expected = HiveFixtures.ExportMap(path);

        var hive = RegistryHive.Open(path);
        var stress = hive.Root.CreateSubkey("Stress");
        expected[@"\Stress"] = new(StringComparer.Ordinal);
        var rnd = new Random(5);
        // 1600 subkeys, 1066 after the deletions below: more than one leaf holds (1012), so the list stays an
        // index root of leaves, which hivex then reads and inserts into.
        for (int i = 0; i < 1600; i++)
        {
            var name = $"Key{rnd.Next(1_000_000):D6}_{i}";
            var k = stress.CreateSubkey(name);
            k.SetDWord("Index", (uint)i);
            k.SetString("Name", name);
            expected[$@"\Stress\{name}"] = new(StringComparer.Ordinal)
            {
                ["\"Index\""] = $"dword:{i:x8}",
                ["\"Name\""] = Hex(1, RegistryValue.EncodeString(name)),
            };
        }
        var big = new byte[40_000];
        rnd.NextBytes(big);
        var text = new string('x', 10_000); // 20002 bytes as UTF-16: past one cell's 16344
        var cv = hive.Root.OpenSubkey(@"Microsoft\Windows NT\CurrentVersion")!;
        cv.SetValue("DigitalProductId", RegistryValueKind.Binary, big);
        cv.SetString("LongText", text);
        cv.SetQWord("InstallTime", 0x01D0_1234_5678_9ABC);
        cv.SetMultiString("Paths", ["a", "bb", "ccc"]);
        cv.SetValue("Nothing", RegistryValueKind.None, []);
        var k1 = expected[@"\Microsoft\Windows NT\CurrentVersion"];
        k1["\"DigitalProductId\""] = Hex(3, big);
        k1["\"LongText\""] = Hex(1, RegistryValue.EncodeString(text));
        k1["\"InstallTime\""] = Hex(0xb, BitConverter.GetBytes(0x01D0_1234_5678_9ABCUL));
        k1["\"Paths\""] = Hex(7, RegistryValue.EncodeMultiString(["a", "bb", "ccc"]));
        k1["\"Nothing\""] = "hex(0):";

        // Delete a third of the new keys, and a value.
        foreach (var name in stress.SubkeyNames.Where((_, i) => i % 3 == 0).ToList())
        {
            Assert.True(stress.DeleteSubkey(name));
            expected.Remove($@"\Stress\{name}");
        }
        Assert.True(cv.DeleteValue("RegisteredOwner"));
        k1.Remove("\"RegisteredOwner\"");
        hive.Save(path);

        Assert.Equal(HiveFixtures.Describe(expected), HiveFixtures.Describe(HiveFixtures.ExportMap(path)));
        var reread = RegistryHive.Open(path);
        Assert.Equal(big, reread.Root.OpenSubkey(@"Microsoft\Windows NT\CurrentVersion")!.GetValue("DigitalProductId")!.Data);
        Assert.Equal(text, reread.Root.OpenSubkey(@"Microsoft\Windows NT\CurrentVersion")!.GetString("LongText"));
        var names = reread.Root.OpenSubkey("Stress")!.SubkeyNames.ToList();
        Assert.Equal(1066, names.Count);
        var stressNk = File.ReadAllBytes(path).AsSpan(4096 + (int)reread.Root.OpenSubkey("Stress")!.Offset + 4);
        uint list = BitConverter.ToUInt32(stressNk[28..32]);
        Assert.Equal("ri"u8.ToArray(), File.ReadAllBytes(path).AsSpan(4096 + (int)list + 4, 2).ToArray());
        Assert.Equal(names.Order(StringComparer.OrdinalIgnoreCase), names);

        // hivex writes on top of our output; we read hivex's result.
        var more = tmp.File("more.reg");
        File.WriteAllText(more, HiveFixtures.Header + "[\\Stress\\FromHivex]\n" + HiveFixtures.Sz("Who", "hivex") + "\n");
        ExternalTool.Run("hivexregedit", "--merge", path, more);
        var afterHivex = RegistryHive.Open(path);
        Assert.Equal("hivex", afterHivex.Root.OpenSubkey(@"Stress\FromHivex")!.GetString("Who"));
        Assert.Equal(names.Count + 1, afterHivex.Root.OpenSubkey("Stress")!.SubkeyCount);
        Assert.Equal(big, afterHivex.Root.OpenSubkey(@"Microsoft\Windows NT\CurrentVersion")!.GetValue("DigitalProductId")!.Data);
        afterHivex.Verify();
    }

    [Fact]
    public void FreedCellsAreReusedSoRepeatedEditsDoNotGrowTheHive()
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg(), 5);
        var hive = RegistryHive.Open(path);
        var key = hive.Root.CreateSubkey(@"ControlSet001\Services\Scratch");
        key.SetValue("Blob", RegistryValueKind.Binary, new byte[30_000]);
        key.DeleteSubkey("x");
        int size = hive.HiveBinsDataSize;
        for (int i = 0; i < 50; i++)
        {
            key.SetValue("Blob", RegistryValueKind.Binary, new byte[20_000 + i * 100]);
            var sub = key.CreateSubkey($"Sub{i}");
            sub.SetString("S", new string('s', i * 10));
            Assert.True(key.DeleteSubkey($"Sub{i}"));
        }
        Assert.Equal(size, hive.HiveBinsDataSize);
        hive.Save(path);
        var scratch = HiveFixtures.ExportMap(path)[@"\ControlSet001\Services\Scratch"];
        Assert.Equal("hex(3):" + string.Join(",", Enumerable.Repeat("00", 20_000 + 49 * 100)), Assert.Single(scratch).Value);
    }

    [Fact]
    public void SavedHiveHasEqualSequenceNumbersAndAValidChecksum()
    {
        using var tmp = new TempDirectory();
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg(), 3);
        var hive = RegistryHive.Open(path);
        hive.Root.CreateSubkey("New").SetDWord("V", 7);
        var bytes = hive.ToArray();
        uint primary = BitConverter.ToUInt32(bytes, 4), secondary = BitConverter.ToUInt32(bytes, 8);
        Assert.Equal(primary, secondary);
        uint xor = 0;
        for (int i = 0; i < 508; i += 4) xor ^= BitConverter.ToUInt32(bytes, i);
        Assert.Equal(xor, BitConverter.ToUInt32(bytes, 508));
        Assert.Equal((uint)(bytes.Length - 4096), BitConverter.ToUInt32(bytes, 40));
        // An unmodified hive is written back byte for byte.
        var original = File.ReadAllBytes(path);
        Assert.Equal(original, RegistryHive.Open(File.ReadAllBytes(path), "system").ToArray());
    }

    internal static string Hex(int type, byte[] data) => $"hex({type:x}):" + string.Join(",", data.Select(b => b.ToString("x2")));
}
