using System.Buffers.Binary;
using System.IO.Hashing;
using P2V.Imaging;
using P2V.Imaging.Images;
using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;

namespace P2V.Cli.Tests.Hostile;

/// <summary>A field of an on-disk structure: its file offset and width (little-endian unless said).</summary>
public sealed record Field(string Name, long At, int Width, bool BigEndian = false);

/// <summary>
/// An on-disk structure of a file p2v reads: where it is, its fields, and how to make its checksum right again
/// after a field changed, so that a mutation reaches the checks behind the checksum.
/// </summary>
public sealed record Structure(string Name, long At, int Length, IReadOnlyList<Field> Fields, Action<FileStream>? FixChecksum = null);

/// <summary>Where the structures are in the suite's files (found by parsing them once) and how their checksums are computed.</summary>
public static class Structures
{
    public static IReadOnlyList<Structure> Image(string path)
    {
        long headerLength, trailerOffset, fileLength = new FileInfo(path).Length;
        ChunkEntry second;
        ImageTrailer trailer;
        using (var r = ImageReader.Open(path)) (headerLength, trailerOffset, second, trailer) = (r.HeaderLength, r.TrailerOffset, r.Trailer.Chunks[1], r.Trailer);
        // The disk section's fields start after the 16-byte prefix and the 8-byte section head.
        var header = new Structure("image-header", 0, (int)headerLength,
            [new("header length", 12, 4), new("disk length", 24, 8), new("sector size", 32, 4), new("table kind", 36, 1), new("chunk size", 40, 4)],
            f => Crc32CAt(f, 0, (int)headerLength - 4, headerLength - 4));
        long frame = second.FrameOffset;
        int frameHeader = ChunkFrameHeader.LengthFor(second.Runs.Length);
        var frames = new Structure("image-frame", frame, frameHeader,
            [new("codec", frame + 4, 1), new("run count", frame + 6, 2), new("length", frame + 8, 4), new("stored length", frame + 12, 4),
             new("run 0 offset", frame + 48, 8), new("run 0 length", frame + 56, 4)],
            f => Crc32CAt(f, frame, frameHeader - 4, frame + frameHeader - 4));
        long entry1 = trailerOffset + 12 + trailer.Chunks[0].Length;
        long runs1 = entry1 + ChunkEntry.FixedLength;
        long footer = fileLength - ImageFooter.Length;
        var trailerStructure = new Structure("image-trailer", trailerOffset, (int)(footer - trailerOffset),
            [new("chunk count", trailerOffset + 4, 4), new("frame offset", entry1, 8), new("stored length", entry1 + 8, 4), new("length", entry1 + 12, 4),
             new("codec", entry1 + 16, 1), new("run count", entry1 + 18, 2), new("run 0 offset", runs1, 8), new("run 0 length", runs1 + 8, 4)],
            f =>
            {
                Crc32CAt(f, trailerOffset, (int)(footer - trailerOffset), footer + 16);
                Crc32CAt(f, footer, 20, footer + 20);
            });
        var footerStructure = new Structure("image-footer", footer, ImageFooter.Length,
            [new("trailer offset", footer, 8), new("trailer length", footer + 8, 8)], f => Crc32CAt(f, footer, 20, footer + 20));
        return [header, frames, trailerStructure, footerStructure];
    }

    public static IReadOnlyList<Structure> Vhd(string path)
    {
        long length = new FileInfo(path).Length;
        var h = VhdDynamicHeader.Parse(Read(path, 512, 1024), path, 512);
        var footer = new Structure("vhd-footer", length - 512, 512,
            [new("data offset", length - 512 + 16, 8, true), new("current size", length - 512 + 48, 8, true), new("disk type", length - 512 + 60, 4, true)],
            f => VhdChecksum(f, length - 512, VhdFooter.Size, 64));
        var header = new Structure("vhd-header", 512, 1024,
            [new("table offset", 512 + 16, 8, true), new("max table entries", 512 + 28, 4, true), new("block size", 512 + 32, 4, true)],
            f => VhdChecksum(f, 512, VhdDynamicHeader.Size, 36));
        long bat = (long)h.TableOffset;
        var batStructure = new Structure("vhd-bat", bat, 4 * 8, [.. Enumerable.Range(0, 8).Select(i => new Field($"entry {i}", bat + 4 * i, 4, true))]);
        return [footer, header, batStructure];
    }

    public static IReadOnlyList<Structure> Vhdx(string path)
    {
        var regions = VhdxRegionTable.Parse(Read(path, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size), path, VhdxRegionTable.FirstOffset);
        long bat = regions.Find(VhdxRegionTable.BatRegion)!.Value.FileOffset;
        long meta = regions.Find(VhdxRegionTable.MetadataRegion)!.Value.FileOffset;
        // Both headers change together, so that the mutated one is the current one whichever it was.
        var header = new Structure("vhdx-header", VhdxHeader.FirstOffset, VhdxHeader.Size,
            [new("log length", VhdxHeader.FirstOffset + 68, 4), new("log offset", VhdxHeader.FirstOffset + 72, 8)],
            f =>
            {
                var bytes = new byte[VhdxHeader.Size];
                f.Position = VhdxHeader.FirstOffset;
                f.ReadExactly(bytes);
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), ulong.MaxValue / 2); // the higher sequence number: current
                f.Position = VhdxHeader.FirstOffset;
                f.Write(bytes);
                Crc32CAt(f, VhdxHeader.FirstOffset, VhdxHeader.Size, VhdxHeader.FirstOffset + 4, zeroChecksum: true);
            });
        var regionTable = new Structure("vhdx-regions", VhdxRegionTable.FirstOffset, VhdxRegionTable.Size,
            [new("entry count", VhdxRegionTable.FirstOffset + 8, 4), new("entry 0 offset", VhdxRegionTable.FirstOffset + 16 + 16, 8),
             new("entry 0 length", VhdxRegionTable.FirstOffset + 16 + 24, 4), new("entry 1 offset", VhdxRegionTable.FirstOffset + 48 + 16, 8)],
            f => Crc32CAt(f, VhdxRegionTable.FirstOffset, VhdxRegionTable.Size, VhdxRegionTable.FirstOffset + 4, zeroChecksum: true));
        var batStructure = new Structure("vhdx-bat", bat, 8 * 8, [.. Enumerable.Range(0, 8).Select(i => new Field($"entry {i}", bat + 8 * i, 8))]);
        var metadata = new Structure("vhdx-metadata", meta, 64 * 1024,
            [new("entry count", meta + 10, 2), new("entry 0 offset", meta + 32 + 16, 4), new("entry 0 length", meta + 32 + 20, 4), new("entry 1 offset", meta + 64 + 16, 4)]);
        return [header, regionTable, batStructure, metadata];
    }

    /// <summary>An MBR disk whose partition 1 is NTFS at <paramref name="partition"/>: the table, the boot sector, the first MFT records.</summary>
    public static IReadOnlyList<Structure> MbrNtfs(string path, long partition)
    {
        var mbr = new Structure("mbr", 446, 64,
            [new("entry 0 type", 446 + 4, 1), new("entry 0 start", 446 + 8, 4), new("entry 0 sectors", 446 + 12, 4), new("entry 1 type", 462 + 4, 1),
             new("entry 1 start", 462 + 8, 4), new("entry 1 sectors", 462 + 12, 4), new("signature", 510, 2)]);
        var boot = Read(path, partition, 512);
        long p = partition;
        var bootSector = new Structure("ntfs-boot", p, 512,
            [new("bytes per sector", p + 11, 2), new("sectors per cluster", p + 13, 1), new("total sectors", p + 40, 8), new("MFT cluster", p + 48, 8),
             new("MFT mirror cluster", p + 56, 8), new("record size", p + 64, 1), new("index record size", p + 68, 1)]);
        long mft = partition + BinaryPrimitives.ReadInt64LittleEndian(boot.AsSpan(48)) * boot[13] * BinaryPrimitives.ReadUInt16LittleEndian(boot.AsSpan(11));
        var records = new Structure("ntfs-mft", mft, 16 * 1024,
            [.. new[] { 0, 1, 5, 6 }.SelectMany(r => new Field[]
            {
                new($"record {r} fixup offset", mft + r * 1024 + 4, 2), new($"record {r} first attribute", mft + r * 1024 + 20, 2),
                new($"record {r} used size", mft + r * 1024 + 24, 4), new($"record {r} attribute 0 length", mft + r * 1024 + 56 + 4, 4),
            })]);
        return [mbr, bootSector, records];
    }

    public static IReadOnlyList<Structure> Gpt(string path)
    {
        var h = Read(path, 512, 512);
        int size = (int)BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(12));
        var header = new Structure("gpt-header", 512, 512,
            [new("header size", 512 + 12, 4), new("my LBA", 512 + 24, 8), new("first usable", 512 + 40, 8), new("last usable", 512 + 48, 8),
             new("entries LBA", 512 + 72, 8), new("entry count", 512 + 80, 4), new("entry size", 512 + 84, 4)],
            f =>
            {
                var b = new byte[size];
                f.Position = 512; f.ReadExactly(b);
                b.AsSpan(16, 4).Clear();
                f.Position = 512 + 16; f.Write(BitConverter.GetBytes(Crc32.HashToUInt32(b)));
            });
        // The entry array's CRC is fixed too, so that a bad entry gets past the array check.
        long entries = (long)BinaryPrimitives.ReadUInt64LittleEndian(h.AsSpan(72)) * 512;
        int arrayBytes = (int)(BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(80)) * BinaryPrimitives.ReadUInt32LittleEndian(h.AsSpan(84)));
        var entryArray = new Structure("gpt-entries", entries, 256,
            [new("entry 0 first LBA", entries + 32, 8), new("entry 0 last LBA", entries + 40, 8), new("entry 1 first LBA", entries + 128 + 32, 8),
             new("entry 1 last LBA", entries + 128 + 40, 8), new("entry 0 type", entries, 8)],
            f =>
            {
                var b = new byte[arrayBytes];
                f.Position = entries; f.ReadExactly(b);
                f.Position = 512 + 88; f.Write(BitConverter.GetBytes(Crc32.HashToUInt32(b)));
                header.FixChecksum!(f);
            });
        return [header, entryArray];
    }

    private static byte[] Read(string path, long offset, int count)
    {
        using var f = File.OpenRead(path);
        var b = new byte[count];
        f.Position = offset;
        f.ReadExactly(b);
        return b;
    }

    private static void Crc32CAt(FileStream f, long from, int length, long at, bool zeroChecksum = false)
    {
        var b = new byte[length];
        f.Position = from;
        f.ReadExactly(b);
        if (zeroChecksum) b.AsSpan((int)(at - from), 4).Clear();
        f.Position = at;
        f.Write(BitConverter.GetBytes(Crc32C.Compute(b)));
    }

    /// <summary>The VHD checksum: the one's complement of the byte sum, its own field excluded.</summary>
    private static void VhdChecksum(FileStream f, long from, int length, int checksumAt)
    {
        var b = new byte[length];
        f.Position = from;
        f.ReadExactly(b);
        uint sum = 0;
        for (int i = 0; i < length; i++) if (i < checksumAt || i >= checksumAt + 4) sum += b[i];
        var c = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(c, ~sum);
        f.Position = from + checksumAt;
        f.Write(c);
    }
}
