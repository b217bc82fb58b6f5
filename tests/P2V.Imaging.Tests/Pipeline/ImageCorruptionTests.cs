using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>Truncated, corrupted and foreign files get a precise ImageFormatException, never a crash or a silent success.</summary>
public sealed class ImageCorruptionTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly string _image;
    private readonly byte[] _bytes;

    public ImageCorruptionTests()
    {
        // A bare NTFS volume (no partition table): the smallest real capture source.
        var vol = _tmp.File("vol.img");
        DiskFixtures.MakeNtfsVolume(_tmp, vol, 24 * DiskFixtures.MiB, 4096, seed: 3);
        _image = _tmp.File("vol.p2v");
        using (var disk = RawDisk.OpenRead(vol))
        using (var output = File.Create(_image))
            new CapturePipeline().RunAsync(disk, CapturePlanner.Plan(disk), output).GetAwaiter().GetResult();
        _bytes = File.ReadAllBytes(_image);
    }

    public void Dispose() => _tmp.Dispose();

    private async Task<ImageFormatException> Broken(byte[] bytes)
    {
        var path = _tmp.File($"broken-{Guid.NewGuid():N}.p2v");
        File.WriteAllBytes(path, bytes);
        return await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            using var reader = ImageReader.Open(path);
            await new RestorePipeline { VerifyOnly = true }.RunAsync(reader, null);
        });
    }

    [Fact]
    public async Task IntactImageVerifies()
    {
        using var reader = ImageReader.Open(_image);
        var result = await new RestorePipeline { VerifyOnly = true }.RunAsync(reader, null);
        Assert.Equal(reader.Trailer.Chunks.Count, result.Chunks);
        Assert.True(result.Chunks > 3);
    }

    [Theory]
    [InlineData(0.999)]
    [InlineData(0.5)]
    [InlineData(0.01)]
    public async Task TruncatedImageIsIncomplete(double keep)
    {
        var e = await Broken(_bytes[..(int)(_bytes.Length * keep)]);
        Assert.Matches("incomplete|truncated|footer", e.Message);
    }

    [Fact]
    public async Task ForeignFileIsNotAnImage()
    {
        var e = await Broken("PK\x03\x04 this is a zip, not an image"u8.ToArray());
        Assert.Contains("not a P2V image", e.Message);
        Assert.Equal(0, e.Offset);
    }

    [Fact]
    public async Task CorruptHeaderIsCaughtByItsCrc()
    {
        var bytes = (byte[])_bytes.Clone();
        bytes[40] ^= 0xFF;
        var e = await Broken(bytes);
        Assert.Contains("header CRC-32C mismatch", e.Message);
    }

    [Fact]
    public async Task CorruptChunkPayloadIsCaughtByItsHash()
    {
        using var reader = ImageReader.Open(_image);
        var chunk = reader.Trailer.Chunks.First(c => c.Codec == ChunkCodec.Lz4 || c.Codec == ChunkCodec.Stored);
        int payloadStart = (int)chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length);
        reader.Dispose();
        // A flipped LZ4 match offset can point at equal bytes (runs of zeros) and decode to the same data, which is
        // no corruption at all; flip the first byte from the middle on whose change the decoded data sees.
        var bytes = (byte[])_bytes.Clone();
        for (int at = payloadStart + chunk.StoredLength / 2; ; at++)
        {
            Assert.True(at < payloadStart + chunk.StoredLength, "no payload byte changes the decoded data");
            bytes[at] ^= 0x55;
            if (!DecodesTo(chunk, bytes.AsSpan(payloadStart, chunk.StoredLength), _bytes.AsSpan(payloadStart, chunk.StoredLength))) break;
            bytes[at] ^= 0x55;
        }
        var e = await Broken(bytes);
        Assert.Matches("hash mismatch|LZ4 data corrupt", e.Message);
        Assert.Equal(chunk.FrameOffset, e.Offset);
    }

    private static bool DecodesTo(ChunkEntry chunk, ReadOnlySpan<byte> changed, ReadOnlySpan<byte> original)
    {
        if (chunk.Codec == ChunkCodec.Stored) return changed.SequenceEqual(original);
        var a = new byte[chunk.UncompressedLength];
        var b = new byte[chunk.UncompressedLength];
        return Lz4Block.Decompress(changed, a) == a.Length && Lz4Block.Decompress(original, b) == b.Length && a.AsSpan().SequenceEqual(b);
    }

    [Fact]
    public async Task CorruptFrameHeaderIsCaughtByItsCrc()
    {
        using var reader = ImageReader.Open(_image);
        var chunk = reader.Trailer.Chunks[2];
        reader.Dispose();
        var bytes = (byte[])_bytes.Clone();
        bytes[chunk.FrameOffset + 50] ^= 0x01; // inside the first run's disk offset
        var e = await Broken(bytes);
        Assert.Contains("chunk frame header CRC-32C mismatch", e.Message);
    }

    [Fact]
    public async Task FrameDeclaringMoreRunsThanItsTrailerEntryIsRefused()
    {
        // The reader reads as many header bytes as the trailer entry's runs make: a frame declaring more runs must be
        // refused by its length, not parsed past them, both when the frames are read and when only their headers are checked.
        ImageTrailer trailer;
        using (var reader = ImageReader.Open(_image)) trailer = reader.Trailer;
        const int k = 2;
        var bytes = (byte[])_bytes.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)trailer.Chunks[k].FrameOffset + 6), ImageFormat.MaxRunsPerChunk);
        string expected = $"chunk {k}: the frame and the trailer disagree: the frame's header is {ChunkFrameHeader.LengthFor(ImageFormat.MaxRunsPerChunk)} bytes";
        Assert.Contains(expected, (await Broken(bytes)).Message);
        var path = _tmp.File("more-runs.p2v");
        File.WriteAllBytes(path, bytes);
        using var broken = ImageReader.Open(path);
        Assert.Contains(expected, Assert.Throws<ImageFormatException>(() => broken.CheckFrameHeaders()).Message);
    }

    [Fact]
    public async Task CorruptTrailerIsCaughtByItsCrc()
    {
        var bytes = (byte[])_bytes.Clone();
        bytes[^60] ^= 0x01;
        var e = await Broken(bytes);
        Assert.Contains("trailer CRC-32C mismatch", e.Message);
    }

    /// <summary>The image with its trailer replaced by <paramref name="change"/>'s, CRCs recomputed: damage that only the cross-checks can see.</summary>
    private byte[] WithTrailer(Func<ImageTrailer, ImageTrailer> change)
    {
        ImageTrailer trailer;
        long trailerOffset;
        using (var reader = ImageReader.Open(_image)) (trailer, trailerOffset) = (reader.Trailer, reader.TrailerOffset);
        var bytes = change(trailer).ToBytes();
        var footer = new byte[ImageFooter.Length];
        new ImageFooter(trailerOffset, bytes.Length, Crc32C.Compute(bytes)).Write(footer);
        return [.. _bytes.AsSpan(0, (int)trailerOffset), .. bytes, .. footer];
    }

    private static ImageTrailer WithEntry(ImageTrailer t, int index, Func<ChunkEntry, ChunkEntry> change) => new()
    {
        Chunks = t.Chunks.Select((c, i) => i == index ? change(c) : c).ToList(),
        Volumes = t.Volumes,
        TotalUncompressed = t.TotalUncompressed,
        TotalStored = t.TotalStored,
    };

    [Fact]
    public void TrailerRoundTripsThroughItsWriter()
    {
        using var reader = ImageReader.Open(_image);
        var again = ImageTrailer.Parse(reader.Trailer.ToBytes(), reader.TrailerOffset, reader.Header.DiskLength);
        Assert.Equal(_bytes.AsSpan((int)reader.TrailerOffset, (int)(_bytes.Length - ImageFooter.Length - reader.TrailerOffset)).ToArray(), again.ToBytes());
    }

    [Fact]
    public async Task TrailerRunThatDiffersFromItsFrameIsRefused()
    {
        // A chunk's first run split in two in the trailer only: the same bytes, in order and inside the disk, yet not what the frame says.
        int k;
        using (var reader = ImageReader.Open(_image)) k = reader.Trailer.Chunks.Select((c, i) => (c, i)).First(x => x.c.Runs[0].Length > 512).i;
        var bytes = WithTrailer(t => WithEntry(t, k, c =>
        {
            var r = c.Runs[0];
            return c with { Runs = [r with { Length = r.Length - 512 }, new ChunkRun(r.DiskOffset + r.Length - 512, 512), .. c.Runs[1..]] };
        }));
        var e = await Broken(bytes);
        Assert.Contains($"chunk {k}: the frame and the trailer disagree: the frame's runs", e.Message);
    }

    [Fact]
    public async Task ChunksOutOfDiskOrderAreRefused()
    {
        // Two neighbours of one size (content-defined chunks differ in size; zeros make equal maximum-size ones),
        // so that only their order is wrong once their runs are swapped.
        int k;
        using (var reader = ImageReader.Open(_image))
            k = Enumerable.Range(0, reader.Trailer.Chunks.Count - 1).First(i =>
                reader.Trailer.Chunks[i].UncompressedLength == reader.Trailer.Chunks[i + 1].UncompressedLength
                && reader.Trailer.Chunks[i].Runs.Length == reader.Trailer.Chunks[i + 1].Runs.Length);
        var bytes = WithTrailer(t =>
        {
            var chunks = t.Chunks.ToList();
            (chunks[k], chunks[k + 1]) = (chunks[k] with { Runs = chunks[k + 1].Runs }, chunks[k + 1] with { Runs = chunks[k].Runs });
            return new ImageTrailer { Chunks = chunks, Volumes = t.Volumes, TotalUncompressed = t.TotalUncompressed, TotalStored = t.TotalStored };
        });
        var e = await Broken(bytes);
        Assert.Contains($"trailer entry {k + 1} run 0", e.Message);
        Assert.Contains("runs must be in disk order and never overlap", e.Message);
    }

    [Fact]
    public async Task OverlappingRunsAreRefused()
    {
        var bytes = WithTrailer(t => WithEntry(t, 2, c =>
            c with { Runs = [c.Runs[0] with { DiskOffset = t.Chunks[1].Runs[^1].DiskOffset }, .. c.Runs[1..]] }));
        var e = await Broken(bytes);
        Assert.Contains("starts before the previous run ends", e.Message);
    }

    [Fact]
    public async Task RunWrappingPastTwoToThe63IsOutsideTheDisk()
    {
        var bytes = WithTrailer(t => WithEntry(t, 0, c => c with { Runs = [c.Runs[0] with { DiskOffset = long.MaxValue - 100 }, .. c.Runs[1..]] }));
        var e = await Broken(bytes);
        Assert.Contains("trailer entry 0 run 0", e.Message);
        Assert.Contains("lies outside the", e.Message);
    }

    /// <summary>A one-chunk image whose header says what <paramref name="header"/> says, written by our writer.</summary>
    private string ImageWithHeader(ImageHeader header)
    {
        var path = _tmp.File($"made-{Guid.NewGuid():N}.p2v");
        var data = new byte[4096];
        data[0] = 0xEB;
        var stored = new byte[ChunkEncoder.MaxStoredLength(data.Length)];
        var hash = new byte[ImageFormat.HashLength];
        var (codec, length) = ChunkEncoder.Encode(data, stored, hash);
        using (var output = File.Create(path))
        using (var writer = new ImageWriter(output, header))
        {
            writer.WriteChunk(codec, data.Length, stored.AsSpan(0, length), hash, [new ChunkRun(0, data.Length)]);
            writer.Finish([]);
        }
        return path;
    }

    [Fact]
    public void PartitionTableRegionBeyondTheDiskIsRefused()
    {
        var path = ImageWithHeader(new ImageHeader { DiskLength = 1 << 20, SectorSize = 512, TableRegions = [new TableRegion((1 << 20) - 256, new byte[512])] });
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.Open(path).Dispose());
        Assert.Contains($"partition-table region [{(1 << 20) - 256}, +512) lies outside the {1 << 20}-byte disk", e.Message);
    }

    [Fact]
    public void DiskLengthNearTwoToThe63IsRefusedWithAReason()
    {
        var path = ImageWithHeader(new ImageHeader { DiskLength = long.MaxValue - 511, SectorSize = 512 });
        var e = Assert.Throws<ImageFormatException>(() => ImageReader.Open(path).Dispose());
        Assert.Contains($"disk length {long.MaxValue - 511} is beyond", e.Message);
    }

    [Fact]
    public async Task HeaderLengthIsReportedUnsigned()
    {
        var bytes = (byte[])_bytes.Clone();
        BitConverter.TryWriteBytes(bytes.AsSpan(12), 0xFFFFFFF0u);
        var e = await Broken(bytes);
        Assert.Contains("header length 4294967280 is out of range", e.Message);
        Assert.Equal(12, e.Offset);
    }
}

/// <summary>Inputs the fuzz harness found (tests/P2V.Fuzz): each must end in ImageFormatException, not a crash.</summary>
public sealed class ImageFuzzFindingsTests
{
    [Theory]
    [InlineData(new byte[] { 0x50, 0x32 })]
    [InlineData(new byte[] { 0x50, 0x32, 0x56, 0x49, 0x4D, 0x41, 0x47, 0x45, 1, 0, 0, 0, 3, 0, 0, 0 })]
    public void ShortHeaderIsCorruptData(byte[] input) => Assert.Throws<ImageFormatException>(() => ImageHeader.Parse(input));

    [Theory]
    [InlineData(new byte[] { 0x43, 0x48, 0x4E })]
    [InlineData(new byte[] { 0x43, 0x48, 0x4E, 0x4B, 1, 0, 1, 0, 0, 0 })]
    public void ShortFrameHeaderIsCorruptData(byte[] input) => Assert.Throws<ImageFormatException>(() => ChunkFrameHeader.Parse(input, 0, 1 << 20));
}
