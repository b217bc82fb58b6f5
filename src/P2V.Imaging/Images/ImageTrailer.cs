using System.Buffers.Binary;

namespace P2V.Imaging.Images;

/// <summary>Where a chunk is in the image file and what it holds.</summary>
public sealed record ChunkEntry(long FrameOffset, int StoredLength, int UncompressedLength, ChunkCodec Codec, byte[] Hash, ChunkRun[] Runs);

/// <summary>What a capture promised and did for one volume: the numbers that must agree for an image to be complete.</summary>
public sealed record VolumeStats(int VolumeIndex, long DeclaredUsedBytes, long BytesRead, long BytesCaptured, long ZeroBytesSkipped);

/// <summary>The trailer: the manifest of every chunk and the per-volume accounting (docs/image-format.md, "Trailer").</summary>
public sealed class ImageTrailer
{
    public required IReadOnlyList<ChunkEntry> Chunks { get; init; }
    public required IReadOnlyList<VolumeStats> Volumes { get; init; }
    public long TotalUncompressed { get; init; }
    public long TotalStored { get; init; }

    public static ImageTrailer Parse(ReadOnlySpan<byte> data, long fileOffset, long diskLength)
    {
        var r = new SpanReader(data, fileOffset);
        if (!r.Bytes(4, "trailer magic").SequenceEqual(ImageFormat.TrailerMagic))
            throw new ImageFormatException(fileOffset, "expected the trailer (magic 'INDX')");
        uint chunkCount = r.U32("chunk count"), volumeCount = r.U32("volume count");
        // Each chunk entry is at least 64 bytes: a count larger than the data allows is corruption, not a reason to allocate.
        if (chunkCount > r.Remaining / 64 || volumeCount > r.Remaining / 36)
            throw new ImageFormatException(fileOffset + 4, $"trailer counts ({chunkCount} chunks, {volumeCount} volumes) exceed its {data.Length} bytes");
        var chunks = new ChunkEntry[chunkCount];
        for (int i = 0; i < chunkCount; i++)
        {
            long frame = r.I64("frame offset");
            int stored = (int)r.U32("stored length"), length = (int)r.U32("uncompressed length");
            var codec = (ChunkCodec)r.U8("codec");
            r.U8("reserved");
            int runCount = r.U16("run count");
            if (runCount is < 1 or > ImageFormat.MaxRunsPerChunk || !Enum.IsDefined(codec))
                throw new ImageFormatException(r.FileOffset - 2, $"trailer entry {i} is corrupt (codec {(byte)codec}, {runCount} runs)");
            var hash = r.Bytes(ImageFormat.HashLength, "chunk hash").ToArray();
            var runs = new ChunkRun[runCount];
            for (int k = 0; k < runCount; k++)
            {
                var run = new ChunkRun(r.I64("run offset"), (int)r.U32("run length"));
                if (run.Length <= 0 || run.DiskOffset + run.Length > diskLength)
                    throw new ImageFormatException(r.FileOffset - 12, $"trailer entry {i} run {k} lies outside the disk");
                runs[k] = run;
            }
            chunks[i] = new ChunkEntry(frame, stored, length, codec, hash, runs);
        }
        var volumes = new VolumeStats[volumeCount];
        for (int i = 0; i < volumeCount; i++)
            volumes[i] = new VolumeStats((int)r.U32("volume index"), r.I64("declared"), r.I64("read"), r.I64("captured"), r.I64("zero skipped"));
        return new ImageTrailer
        {
            Chunks = chunks,
            Volumes = volumes,
            TotalUncompressed = r.I64("total uncompressed"),
            TotalStored = r.I64("total stored"),
        };
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
