using System.Buffers.Binary;
using System.Text.RegularExpressions;
using P2V.Migration.Inventory;

namespace P2V.Migration.Tests;

/// <summary>The installed memory read from an SMBIOS table, checked against dmidecode reading the same table.</summary>
public sealed partial class SmbiosMemoryTests
{
    private const long MiB = 1L << 20;

    // A table as firmware lays it out (DSP0134 6.1): BIOS info with strings, a memory array, memory devices of every
    // size encoding (MB, KB, an empty socket, unknown, 7FFFh + Extended Size), the end-of-table structure.
    private static byte[] Table()
    {
        var t = new List<byte>();
        void Structure(byte type, int length, Action<byte[]> fill, params string[] strings)
        {
            var s = new byte[length];
            s[0] = type; s[1] = (byte)length;
            BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(2), (ushort)(t.Count + 0x100));
            fill(s);
            t.AddRange(s);
            foreach (var text in strings) { t.AddRange(System.Text.Encoding.ASCII.GetBytes(text)); t.Add(0); }
            if (strings.Length == 0) t.Add(0);
            t.Add(0);
        }
        void Device(ushort size, uint extended = 0) => Structure(17, 0x28, s =>
        {
            BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(0x0C), size);
            BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(0x1C), extended);
            s[0x10] = 1; // device locator: string 1
        }, "DIMM " + size.ToString("X4"));
        Structure(0, 0x18, s => { s[4] = 1; s[5] = 2; }, "P2V test firmware", "1.0");
        Structure(16, 0x17, _ => { });
        Device(0x0100);            // 256 MB
        Device(0x8100);            // 256 KB
        Device(0x0000);            // empty socket
        Device(0xFFFF);            // unknown
        Device(0x7FFF, 32768);     // 32 GiB, in Extended Size
        Structure(127, 4, _ => { });
        return [.. t];
    }

    private const long Expected = 256 * MiB + (256L << 10) + 32768 * MiB;

    [Fact]
    public void Sums_the_memory_devices_in_every_size_encoding() =>
        Assert.Equal(Expected, SmbiosMemory.InstalledBytes(Table()));

    [Fact]
    public void A_table_cut_short_says_nothing()
    {
        var table = Table();
        Assert.Equal(0, SmbiosMemory.InstalledBytes(table.AsSpan(0, 0x18 + 5)));   // inside the first structure's strings
        var broken = (byte[])table.Clone();
        broken[1] = 2;                                                                // a length shorter than a header
        Assert.Equal(0, SmbiosMemory.InstalledBytes(broken));
        Assert.Equal(0, SmbiosMemory.InstalledBytes([]));
    }

    [SkippableFact]
    public void Agrees_with_dmidecode_on_the_same_table()
    {
        Requires.Tool("dmidecode");
        var table = Table();
        // dmidecode --from-dump: an SMBIOS 3 entry point at offset 0 (DSP0134 5.2.2) whose table address is 32, the table there.
        var dump = new byte[32 + table.Length];
        "_SM3_"u8.CopyTo(dump);
        dump[6] = 0x18; dump[7] = 3; dump[8] = 0; dump[10] = 1;
        BinaryPrimitives.WriteUInt32LittleEndian(dump.AsSpan(12), (uint)table.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(dump.AsSpan(16), 32);
        dump[5] = (byte)-dump.AsSpan(0, 0x18).ToArray().Sum(b => b);
        table.CopyTo(dump, 32);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(file, dump);
            var text = ExternalTool.Run("dmidecode", "--from-dump", file, "-t", "17");
            long sum = 0;
            foreach (Match m in SizeLine().Matches(text))
                sum += long.Parse(m.Groups[1].Value) << (m.Groups[2].Value switch { "kB" => 10, "MB" => 20, "GB" => 30, _ => 40 });
            Assert.Equal(5, Regex.Matches(text, @"^Memory Device$", RegexOptions.Multiline).Count);
            Assert.Equal(sum, SmbiosMemory.InstalledBytes(table));
            Assert.Equal(Expected, sum);
        }
        finally { File.Delete(file); }
    }

    [GeneratedRegex(@"^\tSize: (\d+) (kB|MB|GB|TB)$", RegexOptions.Multiline)]
    private static partial Regex SizeLine();
}
