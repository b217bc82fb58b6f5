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

    /// <summary>qemu's driver name for one of our formats.</summary>
    public static string QemuFormat(VirtualDiskFormat format) => format switch
    {
        VirtualDiskFormat.VhdDynamic or VirtualDiskFormat.VhdFixed => "vpc",
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => "vhdx",
        _ => "raw",
    };

    /// <summary>The file's allocated bytes on the host file system (st_blocks × 512), as du reports them.</summary>
    public static long HostAllocated(string path) => long.Parse(ExternalTool.Run("stat", "-c", "%b", path).Trim()) * 512;
}
