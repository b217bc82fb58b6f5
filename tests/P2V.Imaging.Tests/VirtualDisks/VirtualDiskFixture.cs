using System.Text.Json;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>Source disks for the virtual-disk tests: raw files written with plain file I/O, and helpers to compare.</summary>
public static class VirtualDiskFixture
{
    public const long MiB = 1 << 20;

    /// <summary>
    /// A raw disk of <paramref name="length"/> bytes with random data in a few places (block-aligned, unaligned,
    /// straddling block boundaries, at the very end) and holes everywhere else.
    /// </summary>
    public static void MakeRaw(string path, long length, int seed = 1)
    {
        var rng = new Random(seed);
        using var f = new FileStream(path, FileMode.Create, FileAccess.ReadWrite);
        f.SetLength(length);
        foreach (var (offset, count) in Regions(length))
        {
            var data = new byte[count];
            rng.NextBytes(data);
            f.Position = offset;
            f.Write(data);
        }
    }

    public static IEnumerable<(long Offset, int Count)> Regions(long length)
    {
        yield return (0, (int)(3 * MiB));                      // the first blocks, as a partition table and boot code would be
        yield return (5 * MiB + 4096, 700 * 1024);             // inside one block, 4 KiB aligned
        yield return (8 * MiB - 12345, 40_000);                // straddles a 1/2/4/8 MiB boundary, unaligned
        yield return (33 * MiB - 512, (int)(2 * MiB));         // straddles the 32 MiB boundary
        yield return (length - 3 * 4096, 3 * 4096);            // the last sectors, as a GPT backup would be
    }

    /// <summary>Reads the whole disk and checks it equals the raw file, with anything past the raw file's end zero.</summary>
    public static void AssertSameData(string rawPath, IVirtualDisk disk)
    {
        long rawLength = new FileInfo(rawPath).Length;
        Assert.True(disk.Length >= rawLength, $"disk is {disk.Length} bytes, source {rawLength}");
        using var raw = File.OpenRead(rawPath);
        var expected = new byte[MiB];
        var actual = new byte[MiB];
        for (long at = 0; at < disk.Length; at += MiB)
        {
            int n = (int)Math.Min(MiB, disk.Length - at);
            disk.ReadAt(at, actual.AsSpan(0, n));
            Array.Clear(expected);
            if (at < rawLength)
            {
                raw.Position = at;
                raw.ReadExactly(expected, 0, (int)Math.Min(n, rawLength - at));
            }
            if (!expected.AsSpan(0, n).SequenceEqual(actual.AsSpan(0, n)))
            {
                int i = expected.AsSpan(0, n).CommonPrefixLength(actual.AsSpan(0, n));
                Assert.Fail($"data differs at byte {at + i}: expected {expected[i]:X2}, read {actual[i]:X2}");
            }
        }
    }

    /// <summary>Every non-zero 4 KiB of the source lies inside the disk's allocated extents.</summary>
    public static void AssertExtentsCoverData(string rawPath, IVirtualDisk disk)
    {
        var map = UsedExtentMap.From(disk.AllocatedExtents(), disk.Length);
        using var raw = File.OpenRead(rawPath);
        var buf = new byte[4096];
        for (long at = 0; at < raw.Length; at += buf.Length)
        {
            int n = (int)Math.Min(buf.Length, raw.Length - at);
            raw.Position = at;
            raw.ReadExactly(buf, 0, n);
            if (buf.AsSpan(0, n).IndexOfAnyExcept((byte)0) >= 0)
                Assert.True(map.Covers(at, n), $"data at {at} is not inside the allocated extents {string.Join(", ", map.Extents)}");
        }
    }

    /// <summary>qemu-img info --output=json: the format and the virtual size qemu sees.</summary>
    public static (string Format, long VirtualSize) QemuInfo(string path, string? format = null)
    {
        var args = new List<string> { "info", "--output=json" };
        if (format != null) args.AddRange(["-f", format]);
        args.Add(path);
        using var doc = JsonDocument.Parse(ExternalTool.RunWith("qemu-img", args, null).StdOut);
        return (doc.RootElement.GetProperty("format").GetString()!, doc.RootElement.GetProperty("virtual-size").GetInt64());
    }

    /// <summary>
    /// Checks that the blocks holding data lie in the file in disk order, as one writer appending them would have put
    /// them. VHD: from qemu-img map, which gives each guest range's file offset. VHDX: qemu's driver gives no offsets, so
    /// the BAT is read here straight from the file after MS-VHDX 2.2.3 (region table at 192 KiB, the BAT region's
    /// GUID) and 2.5 (a payload entry's state in bits 0–2, its file offset in MiB in bits 20–63; one sector bitmap
    /// entry after every chunk-ratio payload entries). Returns the file offsets in disk order.
    /// </summary>
    public static List<long> AssertDataInDiskOrder(string path, string qemuFormat, long blockSize = 32 * MiB, int sectorSize = 512)
    {
        var offsets = new List<long>();
        if (qemuFormat == "vhdx")
        {
            using var f = File.OpenRead(path);
            var table = new byte[64 * 1024];
            f.Position = 192 * 1024;
            f.ReadExactly(table);
            var batGuid = new Guid("2DC27766-F623-4200-9D64-115E9BFD4A08");
            int count = BitConverter.ToInt32(table, 8);
            long batOffset = -1;
            for (int i = 0; i < count; i++)
                if (new Guid(table.AsSpan(16 + 32 * i, 16)) == batGuid) batOffset = BitConverter.ToInt64(table, 16 + 32 * i + 16);
            Assert.True(batOffset > 0, "no BAT region in the VHDX region table");
            long virtualSize = QemuInfo(path, "vhdx").VirtualSize;
            long blocks = (virtualSize + blockSize - 1) / blockSize, chunkRatio = (1L << 23) * sectorSize / blockSize;
            var entry = new byte[8];
            for (long b = 0; b < blocks; b++)
            {
                f.Position = batOffset + 8 * (b + b / chunkRatio);
                f.ReadExactly(entry);
                ulong e = BitConverter.ToUInt64(entry);
                if ((e & 7) is 6 or 7) offsets.Add((long)(e >> 20) << 20); // fully or partially present
            }
        }
        else
        {
            using var doc = JsonDocument.Parse(ExternalTool.Run("qemu-img", "map", "--output=json", "-f", qemuFormat, path));
            var data = new List<(long Start, long FileOffset)>();
            foreach (var e in doc.RootElement.EnumerateArray())
            {
                if (!e.GetProperty("data").GetBoolean()) continue;
                Assert.True(e.TryGetProperty("offset", out var offset), $"qemu-img map gives no file offset for {e}");
                data.Add((e.GetProperty("start").GetInt64(), offset.GetInt64()));
            }
            offsets.AddRange(data.OrderBy(d => d.Start).Select(d => d.FileOffset));
        }
        for (int i = 1; i < offsets.Count; i++)
            Assert.True(offsets[i] > offsets[i - 1], $"data number {i} lies at file offset {offsets[i]}, before the data before it ({offsets[i - 1]})");
        return offsets;
    }

    /// <summary>qemu's driver name for one of our formats.</summary>
    public static string QemuFormat(VirtualDiskFormat format) => format switch
    {
        VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => "vpc",
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => "vhdx",
        _ => "raw",
    };

    /// <summary>The file's allocated bytes on the host file system (st_blocks × 512), as du reports them.</summary>
    public static long HostAllocated(string path) => long.Parse(ExternalTool.Run("stat", "-c", "%b", path).Trim()) * 512;
}
