using System.Buffers.Binary;
using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhdx;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>
/// A log entry written by hand after MS-VHDX 2.3.1 into a file qemu-img made: qemu replays one copy
/// (qemu-img check -r all), we replay another, and both must equal the expected data.
/// </summary>
public sealed class VhdxLogReplayTests
{
    [Fact]
    public void DirtyLogIsRefusedReadOnlyAndReplayedLikeQemu()
    {
        using var dir = new TempDirectory();
        string raw = dir.File("src.raw"), file = dir.File("dirty.vhdx");
        MakeRaw(raw, 16 * MiB);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", raw, file);

        // Where payload block 0 lives, and where the log is.
        long batOffset, block0;
        VhdxHeader header;
        long headerOffset;
        using (var d = VhdxDisk.Open(file))
        {
            header = d.Header;
            var regions = VhdxRegionTable.Parse(Read(file, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), file, 0);
            batOffset = regions.Find(VhdxRegionTable.BatRegion)!.Value.FileOffset;
            block0 = VhdxBatEntry.Parse(BinaryPrimitives.ReadUInt64LittleEndian(Read(file, batOffset, 8))).FileOffset;
            headerOffset = VhdxHeader.Parse(Read(file, VhdxHeader.FirstOffset, VhdxHeader.Size), file, 0).SequenceNumber == header.SequenceNumber
                ? VhdxHeader.FirstOffset : VhdxHeader.SecondOffset;
        }
        Assert.NotEqual(0, block0);

        var logGuid = Guid.NewGuid();
        var sector = new byte[4096];
        new Random(3).NextBytes(sector);
        const ulong sequence = 0x1_0000_0005;
        long fileLength = new FileInfo(file).Length;
        var entry = new byte[8192];
        "loge"u8.CopyTo(entry);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(8), (uint)entry.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(12), 0);            // tail: this entry
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(16), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(24), 2);            // descriptors
        logGuid.TryWriteBytes(entry.AsSpan(32));
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(48), (ulong)fileLength);
        BinaryPrimitives.WriteUInt64LittleEndian(entry.AsSpan(56), (ulong)fileLength);
        var desc = entry.AsSpan(64, 32);                                           // data descriptor: 4 KiB at block 0 + 4 KiB
        "desc"u8.CopyTo(desc);
        sector.AsSpan(4092, 4).CopyTo(desc[4..]);
        sector.AsSpan(0, 8).CopyTo(desc[8..]);
        BinaryPrimitives.WriteUInt64LittleEndian(desc[16..], (ulong)(block0 + 4096));
        BinaryPrimitives.WriteUInt64LittleEndian(desc[24..], sequence);
        var zero = entry.AsSpan(96, 32);                                           // zero descriptor: 8 KiB at block 0 + 16 KiB
        "zero"u8.CopyTo(zero);
        BinaryPrimitives.WriteUInt64LittleEndian(zero[8..], 8192);
        BinaryPrimitives.WriteUInt64LittleEndian(zero[16..], (ulong)(block0 + 16384));
        BinaryPrimitives.WriteUInt64LittleEndian(zero[24..], sequence);
        var data = entry.AsSpan(4096, 4096);                                       // its data sector
        "data"u8.CopyTo(data);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4..], (uint)(sequence >> 32));
        sector.AsSpan(8, 4084).CopyTo(data[8..]);
        BinaryPrimitives.WriteUInt32LittleEndian(data[4092..], unchecked((uint)sequence));
        BinaryPrimitives.WriteUInt32LittleEndian(entry.AsSpan(4), Crc32CForTest(entry));
        Write(file, (long)header.LogOffset, entry);
        var dirty = new byte[VhdxHeader.Size];
        (header with { SequenceNumber = header.SequenceNumber + 1, LogGuid = logGuid }).Write(dirty);
        Write(file, headerOffset == VhdxHeader.FirstOffset ? VhdxHeader.SecondOffset : VhdxHeader.FirstOffset, dirty);

        using (var f = new FileStream(raw, FileMode.Open, FileAccess.Write))
        {
            f.Position = 4096; f.Write(sector);
            f.Position = 16384; f.Write(new byte[8192]);
        }

        var e = Assert.Throws<VirtualDiskException>(() => VirtualDisk.Open(file));
        Assert.Contains("holds updates that were never applied", e.Message);

        string byQemu = dir.File("qemu.vhdx");
        File.Copy(file, byQemu);
        ExternalTool.Try("qemu-img", "check", "-r", "all", byQemu);
        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "vhdx", raw, byQemu);

        using (VirtualDisk.Open(file, writable: true)) { }
        Assert.Contains("No errors were found", ExternalTool.Run("qemu-img", "check", file));
        ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "vhdx", raw, file);
        using (var d = VirtualDisk.Open(file)) AssertSameData(raw, d);
    }

    private static byte[] Read(string file, long offset, int count)
    {
        using var f = File.OpenRead(file);
        var b = new byte[count];
        f.Position = offset;
        f.ReadExactly(b);
        return b;
    }

    private static void Write(string file, long offset, byte[] bytes)
    {
        using var f = new FileStream(file, FileMode.Open, FileAccess.Write);
        f.Position = offset;
        f.Write(bytes);
    }

    /// <summary>CRC-32C (reflected polynomial 0x82F63B78), bit by bit, independent of the production code.</summary>
    private static uint Crc32CForTest(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        for (int i = 0; i < data.Length; i++)
        {
            crc ^= i is >= 4 and < 8 ? 0u : data[i];
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
        }
        return ~crc;
    }
}
