using System.Buffers.Binary;
using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;
using static P2V.Imaging.Tests.VirtualDisks.VirtualDiskFixture;

namespace P2V.Imaging.Tests.VirtualDisks;

/// <summary>Files made by qemu-img, then truncated or corrupted: each gets a VirtualDiskException naming what and where.</summary>
public sealed class VirtualDiskCorruptionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Make(string qemuFormat, string options, long size = 24 * MiB)
    {
        string raw = _dir.File("src.raw"), file = _dir.File($"d{Guid.NewGuid():N}.{qemuFormat}");
        if (!File.Exists(raw)) MakeRaw(raw, 24 * MiB);
        ExternalTool.Run("qemu-img", "convert", "-f", "raw", "-O", qemuFormat, "-o", options, raw, file);
        if (size != 24 * MiB) ExternalTool.Run("qemu-img", "resize", "-f", qemuFormat, file, size.ToString());
        return file;
    }

    private static void Patch(string file, long offset, ReadOnlySpan<byte> bytes)
    {
        using var f = new FileStream(file, FileMode.Open, FileAccess.Write);
        f.Position = offset < 0 ? f.Length + offset : offset;
        f.Write(bytes);
    }

    private static byte[] ReadBytes(string file, long offset, int count)
    {
        using var f = File.OpenRead(file);
        var b = new byte[count];
        f.Position = offset < 0 ? f.Length + offset : offset;
        f.ReadExactly(b);
        return b;
    }

    private static void Truncate(string file, long length)
    {
        using var f = new FileStream(file, FileMode.Open, FileAccess.Write);
        f.SetLength(length);
    }

    private static VirtualDiskException Fails(Func<IDisposable> open, string expected, long? offset = null)
    {
        var e = Assert.Throws<VirtualDiskException>(() => open().Dispose());
        Assert.Contains(expected, e.Message);
        if (offset != null) Assert.Equal(offset, e.Offset);
        return e;
    }

    // ---- VHD ----

    [Fact]
    public void FixedVhdFooterChecksum()
    {
        var f = Make("vpc", "subformat=fixed");
        Patch(f, -512 + 48, [0x7F]); // current size's top byte, checksum left alone
        Fails(() => VhdDisk.Open(f), "VHD footer checksum is 0x", new FileInfo(f).Length - 512 + 64);
    }

    [Fact]
    public void FixedVhdTruncated()
    {
        var f = Make("vpc", "subformat=fixed");
        Truncate(f, new FileInfo(f).Length - 100);
        Fails(() => VhdDisk.Open(f), "expected 'conectix'");
        Assert.Equal(VirtualDiskFormat.Raw, VirtualDisk.Detect(f)); // without its footer, it is just a raw disk
    }

    [Fact]
    public void FixedVhdFooterSaysMoreThanTheFileHolds()
    {
        var f = Make("vpc", "subformat=fixed");
        var footer = VhdFooter.Parse(ReadBytes(f, -512, 512), f, 0);
        var bytes = new byte[512];
        (footer with { CurrentSize = footer.CurrentSize * 2, OriginalSize = footer.CurrentSize * 2 }).Write(bytes);
        Patch(f, -512, bytes);
        Fails(() => VhdDisk.Open(f), "bytes of data before its footer, but its size is");
    }

    [Fact]
    public void DynamicVhdFallsBackToTheFooterCopy()
    {
        var f = Make("vpc", "subformat=dynamic");
        Patch(f, -512, "garbage!"u8);
        using (var d = VirtualDisk.Open(f)) AssertSameData(_dir.File("src.raw"), d);
        Patch(f, 0, "garbage!"u8);
        Assert.Equal(VirtualDiskFormat.Raw, VirtualDisk.Detect(f));
        Fails(() => VhdDisk.Open(f), "VHD footer cookie is 'garbage!', expected 'conectix'");
    }

    [Fact]
    public void DynamicHeaderChecksumAndCookie()
    {
        var f = Make("vpc", "subformat=dynamic");
        Patch(f, 512 + 32, [0x00, 0x10]); // block size field, checksum left alone
        Fails(() => VirtualDisk.Open(f), "VHD dynamic header checksum", 512 + 36);
        Patch(f, 512, "xxsparse"u8);
        Fails(() => VirtualDisk.Open(f), "dynamic header cookie is 'xxsparse'", 512);
    }

    [Fact]
    public void DynamicHeaderBlockSizeNotAPowerOfTwo()
    {
        var f = Make("vpc", "subformat=dynamic");
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        var b = new byte[1024];
        (h with { BlockSize = 3 << 20 }).Write(b);
        Patch(f, 512, b);
        Fails(() => VirtualDisk.Open(f), "VHD block size 3145728 is not a power of two", 512 + 32);
    }

    [Fact]
    public void VhdBatEntryPastTheEnd()
    {
        var f = Make("vpc", "subformat=dynamic");
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        var entry = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(entry, 0x00FF_FFF0);
        Patch(f, (long)h.TableOffset + 4, entry);
        Fails(() => VirtualDisk.Open(f), "BAT entry 1 points to sector 16777200", (long)h.TableOffset + 4);
    }

    [Fact]
    public void DynamicVhdTruncated()
    {
        var f = Make("vpc", "subformat=dynamic");
        Truncate(f, new FileInfo(f).Length / 2);
        // The end footer is gone; the copy at 0 still describes the disk, whose blocks now lie past the end.
        Fails(() => VirtualDisk.Open(f), "is not inside the");
        Truncate(f, 1000);
        Fails(() => VirtualDisk.Open(f), "the dynamic header lies past the end of the 1000-byte file");
    }

    [Fact]
    public void VhdBatTooSmallForTheDisk()
    {
        var f = Make("vpc", "subformat=dynamic");
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        var b = new byte[1024];
        (h with { MaxTableEntries = 2 }).Write(b);
        Patch(f, 512, b);
        Fails(() => VirtualDisk.Open(f), "BAT has 2 entries, but a");
    }

    // ---- VHDX ----

    [Fact]
    public void VhdxFileIdentifier()
    {
        var f = Make("vhdx", "block_size=1M");
        Patch(f, 0, "vhdxfilf"u8);
        Assert.Equal(VirtualDiskFormat.Raw, VirtualDisk.Detect(f));
        Fails(() => VhdxDisk.Open(f), "VHDX file identifier signature is 'vhdxfilf'", 0);
    }

    [Fact]
    public void VhdxHeadersOneThenBoth()
    {
        var f = Make("vhdx", "block_size=1M");
        Patch(f, VhdxHeader.FirstOffset + 100, [0xEE]);
        using (var d = VirtualDisk.Open(f)) AssertSameData(_dir.File("src.raw"), d); // the other header serves
        Patch(f, VhdxHeader.SecondOffset, "HEAD"u8);
        var e = Fails(() => VirtualDisk.Open(f), "neither VHDX header is valid");
        Assert.Contains("VHDX header checksum is 0x", e.Message);
        Assert.Contains("VHDX header signature is 'HEAD', expected 'head'", e.Message);
    }

    [Fact]
    public void VhdxRegionTablesOneThenBoth()
    {
        var f = Make("vhdx", "block_size=1M");
        Patch(f, VhdxRegionTable.FirstOffset + 20, [0x12]);
        using (var d = VirtualDisk.Open(f)) AssertSameData(_dir.File("src.raw"), d); // the copy serves
        Patch(f, VhdxRegionTable.SecondOffset + 20, [0x12]);
        var e = Fails(() => VirtualDisk.Open(f), "neither VHDX region table is valid", VhdxRegionTable.FirstOffset);
        Assert.Contains("VHDX region table checksum is 0x", e.Message);
    }

    private static void RewriteRegions(string f, Func<VhdxRegionTable, VhdxRegionTable> change)
    {
        var table = VhdxRegionTable.Parse(ReadBytes(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), f, VhdxRegionTable.FirstOffset);
        var b = new byte[VhdxRegionTable.Size];
        change(table).Write(b);
        Patch(f, VhdxRegionTable.FirstOffset, b);
        Patch(f, VhdxRegionTable.SecondOffset, b);
    }

    [Fact]
    public void VhdxRegionTableWithoutBat()
    {
        var f = Make("vhdx", "block_size=1M");
        RewriteRegions(f, t => new VhdxRegionTable(t.Entries.Where(e => e.Guid != VhdxRegionTable.BatRegion).ToList()));
        Fails(() => VirtualDisk.Open(f), "the VHDX region table has no BAT region");
    }

    [Fact]
    public void VhdxRegionUnknownAndRequired()
    {
        var f = Make("vhdx", "block_size=1M");
        var guid = Guid.NewGuid();
        RewriteRegions(f, t => new VhdxRegionTable([.. t.Entries, new VhdxRegionEntry(guid, 1L << 40, 1 << 20, true)]));
        Fails(() => VirtualDisk.Open(f), $"VHDX region {guid} is required but unknown");
    }

    [Fact]
    public void VhdxRegionsOverlapOrMisaligned()
    {
        var f = Make("vhdx", "block_size=1M");
        var b = new byte[VhdxRegionTable.Size];
        var t = VhdxRegionTable.Parse(ReadBytes(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), f, VhdxRegionTable.FirstOffset);
        var bat = t.Entries.First(e => e.Guid == VhdxRegionTable.BatRegion);
        var meta = t.Entries.First(e => e.Guid == VhdxRegionTable.MetadataRegion);
        new VhdxRegionTable([bat, meta with { FileOffset = bat.FileOffset }]).Write(b);
        Assert.Contains("overlaps region", Assert.Throws<VirtualDiskException>(() => VhdxRegionTable.Parse(b, f, 0)).Message);
        new VhdxRegionTable([bat, meta with { FileOffset = meta.FileOffset + 4096 }]).Write(b);
        Assert.Contains("is not a non-empty 1 MiB aligned range", Assert.Throws<VirtualDiskException>(() => VhdxRegionTable.Parse(b, f, 0)).Message);
    }

    private static (long Offset, VhdxMetadataTable Table) MetadataTable(string f)
    {
        var regions = VhdxRegionTable.Parse(ReadBytes(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), f, VhdxRegionTable.FirstOffset);
        var meta = regions.Find(VhdxRegionTable.MetadataRegion)!.Value;
        return (meta.FileOffset, VhdxMetadataTable.Parse(ReadBytes(f, meta.FileOffset, VhdxMetadataTable.Size), meta.Length, f, meta.FileOffset));
    }

    [Fact]
    public void VhdxMetadataBlockSizeAndSectorSize()
    {
        var f = Make("vhdx", "block_size=1M");
        var (offset, table) = MetadataTable(f);
        var fp = table.Entries.First(e => e.ItemId == VhdxMetadata.FileParametersItem);
        var ls = table.Entries.First(e => e.ItemId == VhdxMetadata.LogicalSectorSizeItem);
        var original = ReadBytes(f, offset + fp.Offset, 4);
        Patch(f, offset + fp.Offset, [0x00, 0x00, 0x18, 0x00]); // 1.5 MiB
        Fails(() => VirtualDisk.Open(f), "VHDX block size 1572864 is not a power of two", offset + fp.Offset);
        Patch(f, offset + fp.Offset, original);
        Patch(f, offset + ls.Offset, [0x00, 0x04, 0x00, 0x00]);
        Fails(() => VirtualDisk.Open(f), "VHDX logical sector size 1024, expected 512 or 4096");
    }

    [Fact]
    public void VhdxMetadataMissingItemOrSignature()
    {
        var f = Make("vhdx", "block_size=1M");
        var (offset, table) = MetadataTable(f);
        var b = new byte[VhdxMetadataTable.Size];
        new VhdxMetadataTable(table.Entries.Where(e => e.ItemId != VhdxMetadata.VirtualDiskSizeItem).ToList()).Write(b);
        Patch(f, offset, b);
        Fails(() => VirtualDisk.Open(f), "VHDX metadata lacks the required virtual disk size item");
        Patch(f, offset, "metadat!"u8);
        Fails(() => VirtualDisk.Open(f), "VHDX metadata table signature is 'metadat!'", offset);
    }

    [Fact]
    public void VhdxBatEntries()
    {
        var f = Make("vhdx", "block_size=1M");
        var regions = VhdxRegionTable.Parse(ReadBytes(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), f, VhdxRegionTable.FirstOffset);
        long bat = regions.Find(VhdxRegionTable.BatRegion)!.Value.FileOffset;
        var original = ReadBytes(f, bat, 8);
        var entry = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(entry, 5);
        Patch(f, bat, entry);
        Fails(() => VirtualDisk.Open(f), "VHDX BAT entry 0 has payload state 5", bat);
        BinaryPrimitives.WriteUInt64LittleEndian(entry, (1UL << 40) | 6);
        Patch(f, bat, entry);
        Fails(() => VirtualDisk.Open(f), "VHDX BAT entry 0 places its block at [1099511627776", bat);
        Patch(f, bat, original);
        using (VirtualDisk.Open(f)) { }
    }

    [Fact]
    public void VhdxTruncated()
    {
        var f = Make("vhdx", "block_size=1M");
        long length = new FileInfo(f).Length;
        Truncate(f, length - 3 * MiB);
        Fails(() => VirtualDisk.Open(f), "places its block at");
        Truncate(f, 200 * 1024);
        Fails(() => VhdxDisk.Open(f), "too small to hold the VHDX header section", 0);
    }

    [Fact]
    public void VhdxLogNeedingReplayIsRefused()
    {
        var f = Make("vhdx", "block_size=1M");
        var h1 = VhdxHeader.Parse(ReadBytes(f, VhdxHeader.FirstOffset, VhdxHeader.Size), f, VhdxHeader.FirstOffset);
        var h2 = VhdxHeader.Parse(ReadBytes(f, VhdxHeader.SecondOffset, VhdxHeader.Size), f, VhdxHeader.SecondOffset);
        var b = new byte[VhdxHeader.Size];
        (h1 with { SequenceNumber = Math.Max(h1.SequenceNumber, h2.SequenceNumber) + 1, LogGuid = Guid.NewGuid() }).Write(b);
        Patch(f, VhdxHeader.FirstOffset, b);
        Fails(() => VirtualDisk.Open(f), "holds updates that were never applied", VhdxHeader.FirstOffset + 48);
    }

    [Fact]
    public void ReadsAndWritesOutOfBounds()
    {
        using var d = VirtualDisk.Create(_dir.File("b.vhdx"), VirtualDiskFormat.Vhdx, 4 * MiB);
        Assert.Contains("past the end", Assert.Throws<VirtualDiskException>(() => d.ReadAt(4 * MiB - 10, new byte[11])).Message);
        Assert.Contains("past the end", Assert.Throws<VirtualDiskException>(() => d.WriteAt(-1, new byte[1])).Message);
        using var ro = VirtualDisk.Open(Make("vpc", "subformat=dynamic"));
        Assert.Contains("read-only", Assert.Throws<ReadOnlyDiskException>(() => ro.WriteAt(0, new byte[1])).Message);
    }

    // ---- BAT entries that point into the file's own structures or at another entry's block ----

    private static void PatchVhdBat(string f, int index, uint sector)
    {
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        var entry = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(entry, sector);
        Patch(f, (long)h.TableOffset + index * 4, entry);
    }

    private static uint VhdBat(string f, int index)
    {
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        return BinaryPrimitives.ReadUInt32BigEndian(ReadBytes(f, (long)h.TableOffset + index * 4, 4));
    }

    [Fact]
    public void VhdBatEntryIntoTheDynamicHeaderIsRefused()
    {
        var f = Make("vpc", "subformat=dynamic");
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        PatchVhdBat(f, 3, 1); // sector 1: the dynamic header
        Fails(() => VirtualDisk.Open(f), "VHD BAT entry 3 places its block at [512, ", (long)h.TableOffset + 12);
        Fails(() => VirtualDisk.Open(f, writable: true), "inside the dynamic header [512, 1536)");
    }

    [Fact]
    public void VhdDuplicateBatEntriesAreRefused()
    {
        var f = Make("vpc", "subformat=dynamic");
        var h = VhdDynamicHeader.Parse(ReadBytes(f, 512, 1024), f, 512);
        uint first = VhdBat(f, 0);
        Assert.NotEqual(uint.MaxValue, first);
        int other = Enumerable.Range(1, 11).First(i => VhdBat(f, i) != uint.MaxValue);
        PatchVhdBat(f, other, first);
        Fails(() => VirtualDisk.Open(f), $"VHD BAT entries 0 and {other} both place their block at {first * 512L}", (long)h.TableOffset + other * 4);
    }

    private static (long Bat, long Metadata) VhdxRegions(string f)
    {
        var regions = VhdxRegionTable.Parse(ReadBytes(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), f, VhdxRegionTable.FirstOffset);
        return (regions.Find(VhdxRegionTable.BatRegion)!.Value.FileOffset, regions.Find(VhdxRegionTable.MetadataRegion)!.Value.FileOffset);
    }

    private static void PatchVhdxBat(string f, long bat, int index, long fileOffset)
    {
        var entry = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(entry, new VhdxBatEntry(VhdxBlockState.FullyPresent, fileOffset).Raw);
        Patch(f, bat + index * 8, entry);
    }

    /// <summary>What qemu-img check says about the same file: it must find an error where we refuse.</summary>
    private static void QemuFindsErrors(string f)
    {
        var check = ExternalTool.Try("qemu-img", "check", "-f", "vhdx", f);
        Assert.True(check.ExitCode != 0, $"qemu-img check accepted the file: {check.StdOut}{check.StdErr}");
    }

    [Fact]
    public void VhdxBatEntryIntoItsMetadataIsRefused()
    {
        var f = Make("vhdx", "block_size=1M");
        var (bat, metadata) = VhdxRegions(f);
        PatchVhdxBat(f, bat, 2, metadata);
        Fails(() => VirtualDisk.Open(f), $"VHDX BAT entry 2 places its block at [{metadata}, +{MiB}), inside the metadata region", bat + 16);
        QemuFindsErrors(f);
    }

    [Fact]
    public void VhdxDuplicateBatEntriesAreRefused()
    {
        var f = Make("vhdx", "block_size=1M");
        var (bat, _) = VhdxRegions(f);
        long first = VhdxBatEntry.Parse(BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(f, bat, 8))).FileOffset;
        PatchVhdxBat(f, bat, 5, first);
        Fails(() => VirtualDisk.Open(f), $"VHDX BAT entries 0 and 5 both place their block at {first}", bat + 40);
        // qemu-img check (7.2) does not look for blocks shared by two entries; qemu-io shows what that does: a write to one block changes the other.
        ExternalTool.Run("qemu-io", "-f", "vhdx", "-c", $"write -P 0x5a {5 * MiB} 4k", f);
        Assert.Contains("read 4096/4096", ExternalTool.Run("qemu-io", "-f", "vhdx", "-c", "read -P 0x5a 0 4k", f));
    }

    [Fact]
    public void VhdxOpenedWritableAndLeftUnwrittenIsUnchanged()
    {
        // A restore that refuses its target after opening it (too small) must leave every byte as it was.
        var f = Make("vhdx", "block_size=1M");
        var before = File.ReadAllBytes(f);
        using (var d = VirtualDisk.Open(f, writable: true)) { var b = new byte[512]; d.ReadAt(0, b); d.Flush(); }
        Assert.Equal(before, File.ReadAllBytes(f));
        using (var d = VirtualDisk.Open(f, writable: true)) d.WriteAt(0, new byte[512]);
        Assert.NotEqual(before, File.ReadAllBytes(f));
        ExternalTool.Run("qemu-img", "check", "-f", "vhdx", f);
    }
}
