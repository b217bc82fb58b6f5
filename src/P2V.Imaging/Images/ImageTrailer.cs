using System.Buffers.Binary;

namespace P2V.Imaging.Images;

/// <summary>Where a chunk is in the image file and what it holds: one trailer entry (docs/image-format.md, "Trailer").</summary>
public sealed record ChunkEntry(long FrameOffset, int StoredLength, int UncompressedLength, ChunkCodec Codec, byte[] Hash, ChunkRun[] Runs)
{
    /// <summary>Frame offset, stored and uncompressed length, codec, reserved, run count, hash; then 12 bytes per run.</summary>
    public const int FixedLength = 20 + ImageFormat.HashLength;

    public static int LengthFor(int runCount) => FixedLength + 12 * runCount;

    public int Length => LengthFor(Runs.Length);

    /// <summary>The entry for a frame: the trailer repeats the frame header's facts at the frame's file offset.</summary>
    public static ChunkEntry For(long frameOffset, ChunkFrameHeader frame) =>
        new(frameOffset, frame.StoredLength, frame.UncompressedLength, frame.Codec, frame.Hash, frame.Runs);

    public void Write(Span<byte> dest) => Write(dest, FrameOffset, StoredLength, UncompressedLength, Codec, Hash, Runs);

    /// <summary>Writes an entry from its parts (the image writer's path, which holds no ChunkEntry).</summary>
    public static void Write(Span<byte> dest, long frameOffset, int storedLength, int uncompressedLength, ChunkCodec codec,
        ReadOnlySpan<byte> hash, ReadOnlySpan<ChunkRun> runs)
    {
        BinaryPrimitives.WriteInt64LittleEndian(dest, frameOffset);
        BinaryPrimitives.WriteInt32LittleEndian(dest[8..], storedLength);
        BinaryPrimitives.WriteInt32LittleEndian(dest[12..], uncompressedLength);
        dest[16] = (byte)codec;
        dest[17] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(dest[18..], (ushort)runs.Length);
        hash.CopyTo(dest[20..]);
        int p = FixedLength;
        foreach (var run in runs)
        {
            BinaryPrimitives.WriteInt64LittleEndian(dest[p..], run.DiskOffset);
            BinaryPrimitives.WriteInt32LittleEndian(dest[(p + 8)..], run.Length);
            p += 12;
        }
    }

    /// <summary>
    /// Reads entry <paramref name="index"/>. Its runs must lie inside the disk and follow <paramref name="previousEnd"/>
    /// (the end of the previous run of the image): every run of an image is in disk order and none overlaps another,
    /// so a restore writes each disk byte at most once.
    /// </summary>
    internal static ChunkEntry Parse(ref SpanReader r, int index, long diskLength, ref long previousEnd)
    {
        long at = r.FileOffset;
        long frame = r.I64("frame offset");
        uint stored = r.U32("stored length"), length = r.U32("uncompressed length");
        var codec = (ChunkCodec)r.U8("codec");
        r.U8("reserved");
        int runCount = r.U16("run count");
        if (runCount is < 1 or > ImageFormat.MaxRunsPerChunk || !Enum.IsDefined(codec))
            throw new ImageFormatException(r.FileOffset - 2, $"trailer entry {index} is corrupt (codec {(byte)codec}, {runCount} runs)");
        if (length is < 1 or > ImageFormat.MaxChunkSize || !ChunkFrameHeader.StoredLengthFits(codec, stored, length))
            throw new ImageFormatException(at + 8, $"trailer entry {index}: stored length {stored} and length {length} do not fit codec {codec}");
        var hash = r.Bytes(ImageFormat.HashLength, "chunk hash").ToArray();
        var runs = new ChunkRun[runCount];
        long sum = 0;
        for (int k = 0; k < runCount; k++)
        {
            long runAt = r.FileOffset;
            var run = new ChunkRun(r.I64("run offset"), (int)r.U32("run length"));
            ChunkFrameHeader.CheckRun(run, previousEnd, diskLength, runAt, index, k);
            previousEnd = run.DiskOffset + run.Length;
            sum += run.Length;
            runs[k] = run;
        }
        if (sum != length) throw new ImageFormatException(at + 12, $"trailer entry {index}: runs add up to {sum} bytes, not the declared {length}");
        return new ChunkEntry(frame, (int)stored, (int)length, codec, hash, runs);
    }

    /// <summary>What a frame header says differently from this entry, or null when they agree (the trailer must describe the very chunk it points at).</summary>
    public string? DifferenceFrom(ChunkFrameHeader frame) =>
        frame.Codec != Codec ? $"codec {frame.Codec} in the frame, {Codec} in the trailer"
        : frame.UncompressedLength != UncompressedLength ? $"length {frame.UncompressedLength} in the frame, {UncompressedLength} in the trailer"
        : frame.StoredLength != StoredLength ? $"stored length {frame.StoredLength} in the frame, {StoredLength} in the trailer"
        : !frame.Hash.AsSpan().SequenceEqual(Hash) ? "the frame's hash differs from the trailer's"
        : !frame.Runs.AsSpan().SequenceEqual(Runs) ? $"the frame's runs ({Describe(frame.Runs)}) differ from the trailer's ({Describe(Runs)})"
        : null;

    private static string Describe(ChunkRun[] runs) =>
        string.Join(", ", runs.Take(3).Select(r => $"[{r.DiskOffset}, +{r.Length})")) + (runs.Length > 3 ? $", … {runs.Length} runs" : "");
}

/// <summary>What a capture promised and did for one volume: the numbers that must agree for an image to be complete.</summary>
public sealed record VolumeStats(int VolumeIndex, long DeclaredUsedBytes, long BytesRead, long BytesCaptured, long ZeroBytesSkipped);

/// <summary>The trailer: the manifest of every chunk and the per-volume accounting (docs/image-format.md, "Trailer").</summary>
public sealed class ImageTrailer
{
    public required IReadOnlyList<ChunkEntry> Chunks { get; init; }
    public required IReadOnlyList<VolumeStats> Volumes { get; init; }
    public long TotalUncompressed { get; init; }
    public long TotalStored { get; init; }

    public const int VolumeStatsLength = 36;
    internal const int HeadLength = 12, TotalsLength = 16;

    public static ImageTrailer Parse(ReadOnlySpan<byte> data, long fileOffset, long diskLength)
    {
        var r = new SpanReader(data, fileOffset);
        if (!r.Bytes(4, "trailer magic").SequenceEqual(ImageFormat.TrailerMagic))
            throw new ImageFormatException(fileOffset, "expected the trailer (magic 'INDX')");
        uint chunkCount = r.U32("chunk count"), volumeCount = r.U32("volume count");
        // Each chunk entry is at least 64 bytes: a count larger than the data allows is corruption, not a reason to allocate.
        if (chunkCount > r.Remaining / ChunkEntry.LengthFor(1) || volumeCount > r.Remaining / VolumeStatsLength)
            throw new ImageFormatException(fileOffset + 4, $"trailer counts ({chunkCount} chunks, {volumeCount} volumes) exceed its {data.Length} bytes");
        var chunks = new ChunkEntry[chunkCount];
        long previousEnd = 0;
        for (int i = 0; i < chunkCount; i++)
            chunks[i] = ChunkEntry.Parse(ref r, i, diskLength, ref previousEnd);
        var volumes = new VolumeStats[volumeCount];
        for (int i = 0; i < volumeCount; i++)
            volumes[i] = new VolumeStats((int)r.U32("volume index"), r.I64("declared"), r.I64("read"), r.I64("captured"), r.I64("zero skipped"));
        var trailer = new ImageTrailer
        {
            Chunks = chunks,
            Volumes = volumes,
            TotalUncompressed = r.I64("total uncompressed"),
            TotalStored = r.I64("total stored"),
        };
        if (r.Remaining != 0)
            throw new ImageFormatException(r.FileOffset, $"{r.Remaining} unexpected bytes after the trailer's totals");
        return trailer;
    }

    /// <summary>The trailer's bytes: the inverse of <see cref="Parse"/> (the image writer streams the same layout from its spill file).</summary>
    public byte[] ToBytes()
    {
        var bytes = new byte[HeadLength + Chunks.Sum(c => c.Length) + VolumeStatsLength * Volumes.Count + TotalsLength];
        var span = bytes.AsSpan();
        WriteHead(span, Chunks.Count, Volumes.Count);
        int p = HeadLength;
        foreach (var c in Chunks) { c.Write(span[p..]); p += c.Length; }
        foreach (var v in Volumes) { WriteVolume(span[p..], v); p += VolumeStatsLength; }
        WriteTotals(span[p..], TotalUncompressed, TotalStored);
        return bytes;
    }

    internal static void WriteHead(Span<byte> dest, int chunkCount, int volumeCount)
    {
        ImageFormat.TrailerMagic.CopyTo(dest);
        BinaryPrimitives.WriteInt32LittleEndian(dest[4..], chunkCount);
        BinaryPrimitives.WriteInt32LittleEndian(dest[8..], volumeCount);
    }

    internal static void WriteVolume(Span<byte> dest, VolumeStats s)
    {
        BinaryPrimitives.WriteInt32LittleEndian(dest, s.VolumeIndex);
        BinaryPrimitives.WriteInt64LittleEndian(dest[4..], s.DeclaredUsedBytes);
        BinaryPrimitives.WriteInt64LittleEndian(dest[12..], s.BytesRead);
        BinaryPrimitives.WriteInt64LittleEndian(dest[20..], s.BytesCaptured);
        BinaryPrimitives.WriteInt64LittleEndian(dest[28..], s.ZeroBytesSkipped);
    }

    internal static void WriteTotals(Span<byte> dest, long uncompressed, long stored)
    {
        BinaryPrimitives.WriteInt64LittleEndian(dest, uncompressed);
        BinaryPrimitives.WriteInt64LittleEndian(dest[8..], stored);
    }
}

/// <summary>The last 32 bytes of an image: where the trailer is, and CRCs (docs/image-format.md, "Footer").</summary>
public readonly record struct ImageFooter(long TrailerOffset, long TrailerLength, uint TrailerCrc)
{
    public const int Length = 32;

    public void Write(Span<byte> dest)
    {
        BinaryPrimitives.WriteInt64LittleEndian(dest, TrailerOffset);
        BinaryPrimitives.WriteInt64LittleEndian(dest[8..], TrailerLength);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[16..], TrailerCrc);
        BinaryPrimitives.WriteUInt32LittleEndian(dest[20..], Crc32C.Compute(dest[..20]));
        ImageFormat.FooterMagic.CopyTo(dest[24..]);
    }

    public static ImageFooter Parse(ReadOnlySpan<byte> data, long fileOffset, long fileLength)
    {
        if (!data.Slice(24, 8).SequenceEqual(ImageFormat.FooterMagic))
            throw new ImageFormatException(fileOffset + 24, "image is incomplete: no footer (the capture did not finish, or the file was truncated)");
        if (Crc32C.Compute(data[..20]) != BinaryPrimitives.ReadUInt32LittleEndian(data[20..]))
            throw new ImageFormatException(fileOffset + 20, "footer CRC-32C mismatch: the footer is corrupt");
        var f = new ImageFooter(BinaryPrimitives.ReadInt64LittleEndian(data), BinaryPrimitives.ReadInt64LittleEndian(data[8..]), BinaryPrimitives.ReadUInt32LittleEndian(data[16..]));
        if (f.TrailerOffset < 0 || f.TrailerLength < 12 || f.TrailerOffset + f.TrailerLength != fileOffset || f.TrailerLength > int.MaxValue)
            throw new ImageFormatException(fileOffset, $"footer points to a trailer at {f.TrailerOffset} (+{f.TrailerLength}) that does not end where the footer starts");
        return f;
    }
}
