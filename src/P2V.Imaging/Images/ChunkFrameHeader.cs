using System.Buffers.Binary;

namespace P2V.Imaging.Images;

/// <summary>One byte range of the disk that a chunk carries.</summary>
public readonly record struct ChunkRun(long DiskOffset, int Length);

/// <summary>The header in front of every chunk's payload (docs/image-format.md, "Chunk frames").</summary>
public sealed class ChunkFrameHeader
{
    public const int FixedLength = 48;

    public required ChunkCodec Codec { get; init; }
    public required int UncompressedLength { get; init; }
    public required int StoredLength { get; init; }
    public required byte[] Hash { get; init; }
    public required ChunkRun[] Runs { get; init; }

    public int Length => FixedLength + 12 * Runs.Length + 4;

    public static int LengthFor(int runCount) => FixedLength + 12 * runCount + 4;

    public void Write(Span<byte> dest)
    {
        ImageFormat.FrameMagic.CopyTo(dest);
        dest[4] = (byte)Codec;
        dest[5] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(dest[6..], (ushort)Runs.Length);
        BinaryPrimitives.WriteInt32LittleEndian(dest[8..], UncompressedLength);
        BinaryPrimitives.WriteInt32LittleEndian(dest[12..], StoredLength);
        Hash.CopyTo(dest[16..]);
        int p = FixedLength;
        foreach (var run in Runs)
        {
            BinaryPrimitives.WriteInt64LittleEndian(dest[p..], run.DiskOffset);
            BinaryPrimitives.WriteInt32LittleEndian(dest[(p + 8)..], run.Length);
            p += 12;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(dest[p..], Crc32C.Compute(dest[..p]));
    }

    /// <summary>
    /// The stored length each codec allows: 0 for a zero chunk, exactly the uncompressed length when stored as is,
    /// 1 to the uncompressed length for LZ4 and zstd (a chunk the codec does not shrink is stored as is instead).
    /// </summary>
    public static bool StoredLengthFits(ChunkCodec codec, uint stored, uint uncompressed) => codec switch
    {
        ChunkCodec.Zero => stored == 0,
        ChunkCodec.Stored => stored == uncompressed,
        _ => stored >= 1 && stored <= uncompressed,
    };

    /// <summary>A run is non-empty, inside the disk, and starts at or after <paramref name="previousEnd"/> (in disk order, no overlap).</summary>
    /// <param name="entry">The trailer entry the run belongs to, or -1 for a frame header's run.</param>
    /// <param name="index">The run's place in its entry or frame.</param>
    internal static void CheckRun(ChunkRun run, long previousEnd, long diskLength, long fileOffset, int entry, int index)
    {
        // The error's text is made only on error: this runs for every run of every chunk a restore reads.
        string What() => entry < 0 ? $"chunk run {index}" : $"trailer entry {entry} run {index}";
        // Compared as differences: an offset near 2^63 plus a length must not wrap around to a small number.
        if (run.Length <= 0 || run.DiskOffset < 0 || run.DiskOffset > diskLength - run.Length)
            throw new ImageFormatException(fileOffset, $"{What()} [{run.DiskOffset}, +{run.Length}) lies outside the {diskLength}-byte disk");
        if (run.DiskOffset < previousEnd)
            throw new ImageFormatException(fileOffset, $"{What()} [{run.DiskOffset}, +{run.Length}) starts before the previous run ends at {previousEnd}: runs must be in disk order and never overlap");
    }

    /// <summary>How many runs the frame starting with these 48 bytes declares (to know how much more to read).</summary>
    public static int RunCount(ReadOnlySpan<byte> fixedPart, long fileOffset)
    {
        if (fixedPart.Length < FixedLength) throw new ImageFormatException(fileOffset, $"chunk frame header truncated: {fixedPart.Length} of at least {LengthFor(1)} bytes");
        int runs = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[6..]);
        if (runs is < 1 or > ImageFormat.MaxRunsPerChunk)
            throw new ImageFormatException(fileOffset + 6, $"chunk run count {runs} is out of range (1..{ImageFormat.MaxRunsPerChunk})");
        return runs;
    }

    /// <summary>Parses a whole frame header (fixed part, runs, CRC) and checks it against the disk size.</summary>
    public static ChunkFrameHeader Parse(ReadOnlySpan<byte> data, long fileOffset, long diskLength)
    {
        if (data.Length < FixedLength) throw new ImageFormatException(fileOffset, $"chunk frame header truncated: {data.Length} of at least {LengthFor(1)} bytes");
        if (!data[..4].SequenceEqual(ImageFormat.FrameMagic))
            throw new ImageFormatException(fileOffset, "expected a chunk frame (magic 'CHNK')");
        int runCount = RunCount(data, fileOffset);
        int crcAt = FixedLength + 12 * runCount;
        if (data.Length < crcAt + 4) throw new ImageFormatException(fileOffset, "chunk frame header truncated");
        if (Crc32C.Compute(data[..crcAt]) != BinaryPrimitives.ReadUInt32LittleEndian(data[crcAt..]))
            throw new ImageFormatException(fileOffset + crcAt, "chunk frame header CRC-32C mismatch: the frame header is corrupt");
        var codec = (ChunkCodec)data[4];
        if (!Enum.IsDefined(codec)) throw new ImageFormatException(fileOffset + 4, $"unknown chunk codec {(byte)codec}");
        int uncompressed = BinaryPrimitives.ReadInt32LittleEndian(data[8..]);
        int stored = BinaryPrimitives.ReadInt32LittleEndian(data[12..]);
        if (uncompressed is < 1 or > ImageFormat.MaxChunkSize)
            throw new ImageFormatException(fileOffset + 8, $"chunk length {uncompressed} is out of range");
        if (!StoredLengthFits(codec, (uint)stored, (uint)uncompressed))
            throw new ImageFormatException(fileOffset + 12, $"stored length {(uint)stored} does not fit codec {codec} and length {uncompressed}");
        var runs = new ChunkRun[runCount];
        long sum = 0, prevEnd = 0;
        for (int i = 0; i < runCount; i++)
        {
            int p = FixedLength + 12 * i;
            var run = new ChunkRun(BinaryPrimitives.ReadInt64LittleEndian(data[p..]), BinaryPrimitives.ReadInt32LittleEndian(data[(p + 8)..]));
            CheckRun(run, prevEnd, diskLength, fileOffset + p, -1, i);
            prevEnd = run.DiskOffset + run.Length;
            sum += run.Length;
            runs[i] = run;
        }
        if (sum != uncompressed) throw new ImageFormatException(fileOffset + 8, $"chunk runs add up to {sum} bytes, not the declared {uncompressed}");
        return new ChunkFrameHeader
        {
            Codec = codec,
            UncompressedLength = uncompressed,
            StoredLength = stored,
            Hash = data.Slice(16, ImageFormat.HashLength).ToArray(),
            Runs = runs,
        };
    }
}
