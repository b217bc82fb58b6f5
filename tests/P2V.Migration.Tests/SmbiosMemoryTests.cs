using System.Buffers.Binary;
using System.Text.RegularExpressions;
using P2V.Migration.Inventory;

namespace P2V.Migration.Tests;

/// <summary>The installed memory read from an SMBIOS table, checked against dmidecode reading the same table.</summary>
public sealed partial class SmbiosMemoryTests
{
    private const long MiB = 1L << 20;

    /// <summary>A table as firmware lays it out (DSP0134 6.1): structures with strings, handles from 0x100 on.</summary>
    private sealed class Table
    {
        private readonly List<byte> _bytes = [];
        private ushort _next = 0x100;

        public ushort Structure(byte type, int length, Action<byte[]> fill, params string[] strings)
        {
            var s = new byte[length];
            s[0] = type; s[1] = (byte)length;
            ushort handle = _next++;
            BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(2), handle);
            fill(s);
            _bytes.AddRange(s);
            foreach (var text in strings) { _bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(text)); _bytes.Add(0); }
            if (strings.Length == 0) _bytes.Add(0);
            _bytes.Add(0);
            return handle;
        }

        public ushort Array(byte use) => Structure(16, 0x17, s => s[0x05] = use);

        public void Device(ushort array, ushort size, uint extended = 0, int length = 0x28, byte technology = 0x03) => Structure(17, length, s =>
        {
            BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(0x04), array);
            BinaryPrimitives.WriteUInt16LittleEndian(s.AsSpan(0x0C), size);
            if (length >= 0x20) BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(0x1C), extended);
            if (length > 0x28) s[0x28] = technology;
            s[0x10] = 1; // device locator: string 1
        }, "DIMM " + size.ToString("X4"));

        public byte[] End()
        {
            Structure(127, 4, _ => { });
            return [.. _bytes];
        }
    }

    // Every size encoding of a system-memory array: MB, KB, an empty socket, 7FFFh + Extended Size, and 7FFFh in a
    // structure from before SMBIOS 2.7 (no Extended Size: 32,767 MB as written).
    private static byte[] Plain()
    {
        var t = new Table();
        t.Structure(0, 0x18, s => { s[4] = 1; s[5] = 2; }, "P2V test firmware", "1.0");
        var ram = t.Array(0x03);
        t.Device(ram, 0x0100);
        t.Device(ram, 0x8100);
        t.Device(ram, 0x0000);
        t.Device(ram, 0x7FFF, 32768);
        t.Device(ram, 0x7FFF, length: 0x1B);
        return t.End();
    }

    private const long PlainBytes = 256 * MiB + (256L << 10) + 32768 * MiB + 32767 * MiB;

    [Fact]
    public void Sums_the_memory_devices_in_every_size_encoding() =>
        Assert.Equal(PlainBytes, SmbiosMemory.InstalledBytes(Plain()));

    [Fact]
    public void Devices_of_flash_or_video_arrays_and_persistent_memory_are_not_RAM()
    {
        var t = new Table();
        var ram = t.Array(0x03);
        var flash = t.Array(0x06);
        t.Device(ram, 0x0400);                                  // 1 GiB of RAM
        t.Device(flash, 0x0010);                                // 16 MB of flash
        t.Device(ram, 0x4000, length: 0x54, technology: 0x07);  // 16 GiB of Optane persistent memory
        t.Device(0xFFFE, 0x0200);                               // 512 MB, no array given
        Assert.Equal(1536 * MiB, SmbiosMemory.InstalledBytes(t.End()));
    }

    [Fact]
    public void A_device_of_unknown_size_makes_the_sum_unknown()
    {
        var t = new Table();
        var ram = t.Array(0x03);
        t.Device(ram, 0x0800);
        t.Device(ram, 0xFFFF);
        Assert.Equal(0, SmbiosMemory.InstalledBytes(t.End()));
    }

    [Fact]
    public void A_table_cut_short_says_nothing()
    {
        var table = Plain();
        Assert.Equal(0, SmbiosMemory.InstalledBytes(table.AsSpan(0, 0x18 + 5)));   // inside the first structure's strings
        var broken = (byte[])table.Clone();
        broken[1] = 2;                                                                // a length shorter than a header
        Assert.Equal(0, SmbiosMemory.InstalledBytes(broken));
        Assert.Equal(0, SmbiosMemory.InstalledBytes([]));
    }

    [Theory]
    [InlineData(true, 4L << 30, 4L << 30)]          // the table: 4 GiB installed, the kernel manages 3.9
    [InlineData(false, 0, 4027L << 20)]             // no table (no DMI, or not readable): MemTotal
    [InlineData(true, 1L << 20, 4027L << 20)]       // a table that says less than the kernel has left something out
    public void The_gatherer_takes_the_table_and_never_less_than_MemTotal(bool table, long installed, long expected)
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(dir.File("proc"));
        File.WriteAllText(dir.File("proc/meminfo"), "MemTotal:        4123648 kB\nMemAvailable:    3000000 kB\n");
        if (table)
        {
            var t = new Table();
            var ram = t.Array(0x03);
            t.Device(ram, 0x7FFF, (uint)(installed >> 20));
            Directory.CreateDirectory(dir.File("sys/firmware/dmi/tables"));
            File.WriteAllBytes(dir.File("sys/firmware/dmi/tables/DMI"), t.End());
        }
        Assert.Equal(expected, new HardwareGatherer(new SysfsTree(dir.Path)).MemoryBytes());
    }

    [SkippableFact]
    public void Agrees_with_dmidecode_on_the_same_table()
    {
        Requires.Tool("dmidecode");
        var table = Plain();
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
            Assert.Equal(PlainBytes, sum);
        }
        finally { File.Delete(file); }
    }

    [GeneratedRegex(@"^\tSize: (\d+) (kB|MB|GB|TB)$", RegexOptions.Multiline)]
    private static partial Regex SizeLine();
}
