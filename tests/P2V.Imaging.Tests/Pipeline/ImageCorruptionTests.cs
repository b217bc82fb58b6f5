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
        int payloadAt = (int)chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length) + chunk.StoredLength / 2;
        reader.Dispose();
        var bytes = (byte[])_bytes.Clone();
        bytes[payloadAt] ^= 0x55;
        var e = await Broken(bytes);
        Assert.Matches("hash mismatch|LZ4 data corrupt", e.Message);
        Assert.Equal(chunk.FrameOffset, e.Offset);
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
    public async Task CorruptTrailerIsCaughtByItsCrc()
    {
        var bytes = (byte[])_bytes.Clone();
        bytes[^60] ^= 0x01;
        var e = await Broken(bytes);
        Assert.Contains("trailer CRC-32C mismatch", e.Message);
    }
}
