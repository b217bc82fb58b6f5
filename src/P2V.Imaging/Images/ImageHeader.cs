using System.Buffers.Binary;
using P2V.Imaging.Disks;

namespace P2V.Imaging.Images;

/// <summary>The bytes of one partition-table structure (MBR, EBR, GPT header or entry array) at its disk offset.</summary>
public sealed record TableRegion(long Offset, byte[] Bytes);

/// <summary>One volume (or the disk's metadata and unpartitioned space) and the extents its map declares used.</summary>
public sealed record VolumeRecord(
    int Index, VolumeKind Kind, int PartitionNumber, long Offset, long Length, int ClusterSize,
    long DeclaredUsedBytes, string Label, IReadOnlyList<Extent> Extents);

/// <summary>The image header: disk geometry, partition-table bytes, volumes, source description (docs/image-format.md, "Header").</summary>
public sealed class ImageHeader
{
    private const ushort DiskTag = 1, TableRegionTag = 2, VolumeTag = 3, SourceTag = 4;
    private const int PrefixLength = 16;
    private const byte Blake3HashId = 1;

    public required long DiskLength { get; init; }
    public required int SectorSize { get; init; }
    public PartitionTableKind TableKind { get; init; }
    public int ChunkSize { get; init; } = ImageFormat.DefaultChunkSize;
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;
    public string ToolVersion { get; init; } = "";
    public IReadOnlyList<TableRegion> TableRegions { get; init; } = [];
    public IReadOnlyList<VolumeRecord> Volumes { get; init; } = [];
    public string SourceDescription { get; init; } = "";

    /// <summary>The header's bytes, laid out by the same section code that <see cref="Parse"/> reads.</summary>
    public byte[] ToBytes()
    {
        var measure = SpanWriter.Measuring();
        Write(ref measure, 0);
        int length = measure.Position + 4;
        var bytes = new byte[length];
        var w = new SpanWriter(bytes, measure: false);
        Write(ref w, (uint)length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(length - 4), Crc32C.Compute(bytes.AsSpan(0, length - 4)));
        return bytes;
    }

    private void Write(ref SpanWriter w, uint length)
    {
        w.Bytes(ImageFormat.HeaderMagic);
        w.U16(ImageFormat.MajorVersion);
        w.U16(ImageFormat.MinorVersion);
        w.U32(length);

        int body = BeginSection(ref w, DiskTag);
        w.I64(DiskLength);
        w.U32((uint)SectorSize);
        w.U8((byte)TableKind);
        w.U8(Blake3HashId);
        w.U16(0);
        w.U32((uint)ChunkSize);
        w.I64(Created.ToUnixTimeMilliseconds());
        w.String(ToolVersion, "tool version");
        EndSection(ref w, body);
        foreach (var t in TableRegions)
        {
            body = BeginSection(ref w, TableRegionTag);
            w.I64(t.Offset);
            w.Bytes(t.Bytes);
            EndSection(ref w, body);
        }
        foreach (var v in Volumes)
        {
            body = BeginSection(ref w, VolumeTag);
            w.U32((uint)v.Index);
            w.U8((byte)v.Kind);
            w.U8((byte)v.PartitionNumber);
            w.U16(0);
            w.I64(v.Offset);
            w.I64(v.Length);
            w.U32((uint)v.ClusterSize);
            w.I64(v.DeclaredUsedBytes);
            w.String(v.Label, "volume label");
            w.U32((uint)v.Extents.Count);
            foreach (var e in v.Extents) { w.I64(e.Offset); w.I64(e.Length); }
            EndSection(ref w, body);
        }
        if (SourceDescription.Length > 0)
        {
            body = BeginSection(ref w, SourceTag);
            w.Bytes(System.Text.Encoding.UTF8.GetBytes(SourceDescription));
            EndSection(ref w, body);
        }
    }

    /// <summary>u16 tag, u16 reserved, u32 length (patched by <see cref="EndSection"/>); returns where the body starts.</summary>
    private static int BeginSection(ref SpanWriter w, ushort tag)
    {
        w.U16(tag);
        w.U16(0);
        w.U32(0);
        return w.Position;
    }

    private static void EndSection(ref SpanWriter w, int body) => w.PatchU32(body - 4, (uint)(w.Position - body));

    /// <summary>Reads and checks the header at the start of <paramref name="stream"/>, leaving the stream just after it.</summary>
    public static ImageHeader Read(Stream stream)
    {
        var prefix = new byte[PrefixLength];
        int got = stream.ReadAtLeast(prefix, PrefixLength, throwOnEndOfStream: false);
        if (got < PrefixLength || !prefix.AsSpan(0, 8).SequenceEqual(ImageFormat.HeaderMagic))
            throw new ImageFormatException(0, got < 8 ? "file too short to be a P2V image" : "not a P2V image (magic 'P2VIMAGE' missing)");
        ushort major = BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8));
        if (major != ImageFormat.MajorVersion)
            throw new ImageFormatException(8, $"image format version {major} is not supported (this p2v reads version {ImageFormat.MajorVersion})");
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(prefix.AsSpan(12));
        if (length < PrefixLength + 4 || length > ImageFormat.MaxHeaderLength)
            throw new ImageFormatException(12, $"header length {length} is out of range ({PrefixLength + 4} to {ImageFormat.MaxHeaderLength} bytes)");
        var all = new byte[length];
        prefix.CopyTo(all, 0);
        if (stream.ReadAtLeast(all.AsSpan(PrefixLength), (int)length - PrefixLength, throwOnEndOfStream: false) < length - PrefixLength)
            throw new ImageFormatException(PrefixLength, $"image truncated inside its {length}-byte header");
        return Parse(all);
    }

    public static ImageHeader Parse(ReadOnlySpan<byte> all)
    {
        int length = all.Length;
        if (length < PrefixLength + 4 || !all[..8].SequenceEqual(ImageFormat.HeaderMagic))
            throw new ImageFormatException(0, length < PrefixLength + 4 ? $"a {length}-byte header is too short" : "not a P2V image (magic 'P2VIMAGE' missing)");
        if (BinaryPrimitives.ReadUInt32LittleEndian(all[12..]) != length)
            throw new ImageFormatException(12, $"header length {BinaryPrimitives.ReadUInt32LittleEndian(all[12..])} is not the {length} bytes given");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(all[(length - 4)..]);
        if (Crc32C.Compute(all[..(length - 4)]) != stored)
            throw new ImageFormatException(length - 4, "header CRC-32C mismatch: the header is corrupt");

        var r = new SpanReader(all[..(length - 4)], 0) { Position = PrefixLength };
        long diskLength = -1; int sectorSize = 0, chunkSize = 0; byte tableKind = 0; long created = 0; string tool = "", source = "";
        var regions = new List<TableRegion>();
        var volumes = new List<VolumeRecord>();
        while (r.Remaining > 0)
        {
            ushort tag = r.U16("section tag");
            r.U16("section reserved");
            uint len = r.U32("section length");
            long at = r.FileOffset;
            var body = new SpanReader(r.Bytes(checked((int)Math.Min(len, int.MaxValue)), $"section {tag}"), at);
            if (diskLength < 0 && tag is TableRegionTag or VolumeTag)
                throw new ImageFormatException(at - 8, $"section {tag} comes before the disk section, which must be first");
            switch (tag)
            {
                case DiskTag:
                    diskLength = body.I64("disk length");
                    if (diskLength > ImageFormat.MaxDiskLength)
                        throw new ImageFormatException(body.FileOffset - 8, $"disk length {diskLength} is beyond {ImageFormat.MaxDiskLength} bytes (1 EiB): no disk is that large");
                    sectorSize = (int)body.U32("sector size");
                    tableKind = body.U8("partition table kind");
                    if (body.U8("hash algorithm") != Blake3HashId) throw new ImageFormatException(body.FileOffset - 1, "unknown hash algorithm (expected 1, BLAKE3)");
                    body.U16("reserved");
                    chunkSize = (int)body.U32("chunk size");
                    created = body.I64("creation time");
                    tool = body.String("tool version");
                    break;
                case TableRegionTag:
                    long off = body.I64("table region offset");
                    var table = body.Bytes(body.Remaining, "table region");
                    if (table.Length == 0 || off > diskLength - table.Length)
                        throw new ImageFormatException(at, $"partition-table region [{off}, +{table.Length}) lies outside the {diskLength}-byte disk");
                    regions.Add(new TableRegion(off, table.ToArray()));
                    break;
                case VolumeTag:
                    volumes.Add(ParseVolume(ref body, diskLength));
                    break;
                case SourceTag:
                    source = System.Text.Encoding.UTF8.GetString(body.Bytes(body.Remaining, "source"));
                    break;
            }
        }
        if (diskLength < 0) throw new ImageFormatException(PrefixLength, "header has no disk section");
        if (sectorSize is not (512 or 4096)) throw new ImageFormatException(PrefixLength, $"sector size {sectorSize} is not 512 or 4096");
        if (chunkSize <= 0 || chunkSize > ImageFormat.MaxChunkSize) throw new ImageFormatException(PrefixLength, $"chunk size {chunkSize} is out of range");
        if (tableKind > (byte)PartitionTableKind.Gpt) throw new ImageFormatException(PrefixLength, $"unknown partition table kind {tableKind}");
        return new ImageHeader
        {
            DiskLength = diskLength,
            SectorSize = sectorSize,
            TableKind = (PartitionTableKind)tableKind,
            ChunkSize = chunkSize,
            Created = DateTimeOffset.FromUnixTimeMilliseconds(created),
            ToolVersion = tool,
            TableRegions = regions,
            Volumes = volumes,
            SourceDescription = source,
        };
    }

    private static VolumeRecord ParseVolume(ref SpanReader b, long diskLength)
    {
        long at = b.FileOffset;
        int index = (int)b.U32("volume index");
        var kind = (VolumeKind)b.U8("volume kind");
        if (!Enum.IsDefined(kind)) throw new ImageFormatException(b.FileOffset - 1, $"unknown volume kind {(byte)kind}");
        int part = b.U8("partition number");
        b.U16("reserved");
        long offset = b.I64("volume offset"), length = b.I64("volume length");
        int cluster = (int)b.U32("cluster size");
        long declared = b.I64("declared used bytes");
        string label = b.String("volume label");
        uint count = b.U32("extent count");
        if (count > b.Remaining / 16) throw new ImageFormatException(b.FileOffset - 4, $"extent count {count} exceeds the section");
        var extents = new Extent[count];
        for (int i = 0; i < count; i++)
        {
            var e = new Extent(b.I64("extent offset"), b.I64("extent length"));
            if (e.Length <= 0 || e.Offset > diskLength - e.Length) throw new ImageFormatException(b.FileOffset - 16, $"volume {index} extent {e} lies outside the {diskLength}-byte disk");
            extents[i] = e;
        }
        if (offset > diskLength - length) throw new ImageFormatException(at, $"volume {index} [{offset}, {offset + length}) lies outside the disk");
        return new VolumeRecord(index, kind, part, offset, length, cluster, declared, label, extents);
    }
}
