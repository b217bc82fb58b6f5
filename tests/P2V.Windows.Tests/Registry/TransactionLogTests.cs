using System.Buffers.Binary;
using P2V.Windows.Registry;

namespace P2V.Windows.Tests.Registry;

/// <summary>
/// A dirty hive (sequence numbers differ) brought up to date from a log. The logs are written here in the
/// layouts of the spec's § Format of transaction log files (no tool on Linux writes them); the recovered hive is
/// checked with hivexget.
/// </summary>
public class TransactionLogTests
{
    internal static (byte[] Before, byte[] After) TwoVersions(TempDirectory tmp)
    {
        var path = HiveFixtures.Build(tmp, "system", HiveFixtures.SystemReg(), 5);
        var before = File.ReadAllBytes(path);
        var hive = RegistryHive.Open(File.ReadAllBytes(path), "system");
        hive.Root.OpenSubkey(@"ControlSet001\Control\CrashControl")!.SetDWord("AutoReboot", 0);
        var k = hive.Root.CreateSubkey(@"ControlSet001\Services\NewDriver");
        k.SetDWord("Start", 0);
        k.SetValue("Blob", RegistryValueKind.Binary, new byte[9000]);
        return (before, hive.ToArray());
    }

    /// <summary>The primary as an interrupted write leaves it: old content, primary sequence one ahead.</summary>
    internal static byte[] Dirty(byte[] before)
    {
        var b = (byte[])before.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(8)) + 1);
        Checksum(b);
        return b;
    }

    private static void Checksum(Span<byte> b)
    {
        uint x = 0;
        for (int i = 0; i < 508; i += 4) x ^= BinaryPrimitives.ReadUInt32LittleEndian(b[i..]);
        BinaryPrimitives.WriteUInt32LittleEndian(b[508..], x);
    }

    private static IEnumerable<int> ChangedPages(byte[] before, byte[] after, int page)
    {
        for (int at = 4096; at < after.Length; at += page)
            if (at + page > before.Length || !before.AsSpan(at, page).SequenceEqual(after.AsSpan(at, page))) yield return at - 4096;
    }

    private static byte[] LogBase(byte[] after, uint fileType, uint sequence, long? timestamp = null)
    {
        var b = after[..512];
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), sequence);
        if (timestamp is { } t) BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(12), t);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(28), fileType);
        Checksum(b);
        return b;
    }

    /// <summary>A new-format log (§ New format): base block copy, file type 6, one HvLE entry with the changed 4 KiB pages.</summary>
    internal static byte[] NewFormatLog(byte[] before, byte[] after, uint sequence, bool corruptHash = false)
    {
        var pages = ChangedPages(before, after, 4096).ToList();
        int body = 40 + pages.Count * 8 + pages.Count * 4096;
        int size = (body + 511) / 512 * 512;
        var entry = new byte[size];
        "HvLE"u8.CopyTo(entry);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(12), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(16), (uint)(after.Length - 4096));
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(20), (uint)pages.Count);
        int at = 40 + pages.Count * 8;
        for (int i = 0; i < pages.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(40 + i * 8), (uint)pages[i]);
            BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(44 + i * 8), 4096);
            after.AsSpan(4096 + pages[i], 4096).CopyTo(entry.AsSpan(at));
            at += 4096;
        }
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(24), Marvin32.Compute(entry.AsSpan(40)));
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(32), Marvin32.Compute(entry.AsSpan(0, 32)));
        if (corruptHash) entry[^1] ^= 1;
        return [.. LogBase(before, 6, sequence), .. entry];
    }

    /// <summary>An old-format log (§ Old format): base block copy, "DIRT" + bitmap of 512-byte pages, the pages.</summary>
    private static byte[] OldFormatLog(byte[] before, byte[] after)
    {
        int binsSize = after.Length - 4096;
        var pages = ChangedPages(before, after, 512).ToList();
        int bitmapBytes = binsSize / 512 / 8;
        int pagesAt = (512 + 4 + bitmapBytes + 511) / 512 * 512;
        var log = new byte[pagesAt + pages.Count * 512];
        var baseCopy = LogBase(after, 1, BinaryPrimitives.ReadUInt32LittleEndian(before.AsSpan(8)) + 1,
            BinaryPrimitives.ReadInt64LittleEndian(before.AsSpan(12)));
        baseCopy.CopyTo(log, 0);
        "DIRT"u8.CopyTo(log.AsSpan(512));
        for (int i = 0; i < pages.Count; i++)
        {
            int bit = pages[i] / 512;
            log[516 + bit / 8] |= (byte)(1 << (bit % 8));
            after.AsSpan(4096 + pages[i], 512).CopyTo(log.AsSpan(pagesAt + i * 512));
        }
        return log;
    }

    private static void CheckRecovered(TempDirectory tmp, RegistryHive hive)
    {
        Assert.True(hive.RecoveredFromLog);
        var path = tmp.File("recovered");
        hive.Save(path);
        Assert.Equal("0", ExternalTool.Run("hivexget", path, @"\ControlSet001\Control\CrashControl", "AutoReboot").Trim());
        Assert.Equal("0", ExternalTool.Run("hivexget", path, @"\ControlSet001\Services\NewDriver", "Start").Trim());
        var saved = File.ReadAllBytes(path);
        Assert.Equal(BitConverter.ToUInt32(saved, 4), BitConverter.ToUInt32(saved, 8));
    }

    [Fact]
    public void NewFormatLogEntriesBringADirtyHiveUpToDate()
    {
        using var tmp = new TempDirectory();
        var (before, after) = TwoVersions(tmp);
        var dirty = Dirty(before);
        uint secondary = BinaryPrimitives.ReadUInt32LittleEndian(dirty.AsSpan(8));
        var hive = RegistryHive.Open(dirty, "SYSTEM", log1: NewFormatLog(before, after, secondary));
        CheckRecovered(tmp, hive);
        Assert.Equal(9000, hive.Root.OpenSubkey(@"ControlSet001\Services\NewDriver")!.GetValue("Blob")!.Data.Length);
    }

    [Fact]
    public void NewFormatLogWithABadHashIsRefused()
    {
        using var tmp = new TempDirectory();
        var (before, after) = TwoVersions(tmp);
        var dirty = Dirty(before);
        uint secondary = BinaryPrimitives.ReadUInt32LittleEndian(dirty.AsSpan(8));
        var e = Assert.Throws<RegistryHiveException>(() => RegistryHive.Open(dirty, "SYSTEM", log1: NewFormatLog(before, after, secondary, corruptHash: true)));
        Assert.Contains("'SYSTEM'", e.Message);
        Assert.Contains("dirty", e.Message);
    }

    [Fact]
    public void OldFormatDirtyVectorBringsADirtyHiveUpToDate()
    {
        using var tmp = new TempDirectory();
        var (before, after) = TwoVersions(tmp);
        var hive = RegistryHive.Open(Dirty(before), "SYSTEM", log: OldFormatLog(before, after));
        CheckRecovered(tmp, hive);
    }

    [Fact]
    public void CleanHiveIgnoresItsLogs()
    {
        using var tmp = new TempDirectory();
        var (before, after) = TwoVersions(tmp);
        var hive = RegistryHive.Open((byte[])before.Clone(), "SYSTEM", log1: NewFormatLog(before, after, 99));
        Assert.False(hive.RecoveredFromLog);
        Assert.Equal(1u, hive.Root.OpenSubkey(@"ControlSet001\Control\CrashControl")!.GetDWord("AutoReboot"));
    }

    [Fact]
    public void Marvin32MatchesTheRuntimesOwn()
    {
        // System.Marvin (the runtime's string hash) is internal; its 32-bit result is both halves XORed.
        var marvin = typeof(string).Assembly.GetType("System.Marvin")!;
        var method = marvin.GetMethods(System.Reflection.BindingFlags.Static | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)
            .Single(m => m.Name == "ComputeHash32" && m.GetParameters() is [{ ParameterType.Name: "ReadOnlySpan`1" }, { ParameterType.Name: "UInt64" }]);
        var f = method.CreateDelegate<Hash32>();
        var rnd = new Random(1);
        for (int n = 0; n < 40; n++)
        {
            var data = new byte[n];
            rnd.NextBytes(data);
            Assert.Equal(f(data, Marvin32.RegistryLogSeed), Marvin32.Compute32(data, Marvin32.RegistryLogSeed));
        }
    }

    public delegate int Hash32(ReadOnlySpan<byte> data, ulong seed);
}

/// <summary>Damaged logs either recover the hive or are refused with <see cref="RegistryHiveException"/>; nothing else escapes.</summary>
public class TransactionLogDamageTests
{
    [Fact]
    public void RandomlyDamagedLogsNeverEscapeAsAnotherException()
    {
        using var tmp = new TempDirectory();
        var (before, after) = TransactionLogTests.TwoVersions(tmp);
        var dirty = TransactionLogTests.Dirty(before);
        var log = TransactionLogTests.NewFormatLog(before, after, BitConverter.ToUInt32(dirty, 8));
        var rnd = new Random(11);
        for (int round = 0; round < 200; round++)
        {
            var damaged = (byte[])log.Clone();
            for (int i = 0; i < 1 + rnd.Next(4); i++) damaged[rnd.Next(Math.Min(damaged.Length, 1200))] = (byte)rnd.Next(256);
            try { RegistryHive.Open((byte[])dirty.Clone(), "SYSTEM", log1: damaged).Verify(); }
            catch (RegistryHiveException) { }
        }
    }
}
