using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Tests;
using ZstdSharp;
using static P2V.Imaging.Tests.Pipeline.DiskFixtures;

namespace P2V.Imaging.Tests.Pipeline;

/// <summary>
/// The zstd chunk codec beside LZ4: round trips with every codec choice checked by qemu-img, zstd payloads that
/// the independent `zstd` tool decodes, and corrupt payloads refused with a one-line error naming the chunk.
/// </summary>
public sealed class ZstdCodecTests : IDisposable
{
    private readonly TempDirectory _tmp = new();
    private readonly string _volume;

    public ZstdCodecTests()
    {
        _volume = _tmp.File("vol.img");
        MakeNtfsVolume(_tmp, _volume, 24 * MiB, 4096, seed: 9);
    }

    public void Dispose() => _tmp.Dispose();

    private async Task<string> Capture(CodecChoice codec)
    {
        var image = _tmp.File($"vol-{codec}.p2v");
        using var disk = RawDisk.OpenRead(_volume);
        await using var output = File.Create(image);
        await new CapturePipeline().RunAsync(disk, CapturePlanner.Plan(disk), output, codec: codec);
        return image;
    }

    private static async Task<ImageFormatException> Refused(string image) =>
        await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            using var reader = ImageReader.Open(image);
            await new RestorePipeline { VerifyOnly = true }.RunAsync(reader, null);
        });

    [Theory]
    [InlineData(CodecChoice.Lz4)]
    [InlineData(CodecChoice.Zstd)]
    [InlineData(CodecChoice.Auto)]
    public async Task EveryCodecRoundTripsIdentically(CodecChoice choice)
    {
        var image = await Capture(choice);
        var restored = _tmp.File($"restored-{choice}.img");
        using (var reader = ImageReader.Open(image))
        {
            var codecs = reader.Trailer.Chunks.Select(c => c.Codec).Where(c => c is ChunkCodec.Lz4 or ChunkCodec.Zstd).Distinct().ToList();
            if (choice == CodecChoice.Lz4) Assert.Equal([ChunkCodec.Lz4], codecs);
            if (choice == CodecChoice.Zstd) Assert.Equal([ChunkCodec.Zstd], codecs);
            // Auto's choice depends on the measured speeds; whichever it made, the image restores the same.
            if (choice == CodecChoice.Auto) Assert.NotEmpty(codecs);
            using var disk = RawDisk.Create(restored, reader.Header.DiskLength, reader.Header.SectorSize);
            await new RestorePipeline { TargetIsBlank = true }.RunAsync(reader, disk);
        }
        // The fixture's free space is zero, so a restore of its used data equals the volume.
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", _volume, restored));
        Assert.Equal(0, ExternalTool.Try("cmp", _volume, restored).ExitCode);
    }

    [Fact]
    public async Task ZstdIsSmallerThanLz4OnTheSameVolume()
    {
        long lz4 = new FileInfo(await Capture(CodecChoice.Lz4)).Length;
        long zstd = new FileInfo(await Capture(CodecChoice.Zstd)).Length;
        Assert.True(zstd < lz4, $"zstd image {zstd} bytes, LZ4 image {lz4}");
    }

    [SkippableFact]
    public async Task TheZstdToolDecodesEveryPayloadCutOutOfTheImage()
    {
        Requires.Tool("zstd");
        var image = await Capture(CodecChoice.Zstd);
        var bytes = File.ReadAllBytes(image);
        using var reader = ImageReader.Open(image);
        using var volume = File.OpenRead(_volume);
        int checkedChunks = 0;
        foreach (var chunk in reader.Trailer.Chunks.Where(c => c.Codec == ChunkCodec.Zstd).Take(8))
        {
            int at = (int)chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length);
            var payload = bytes.AsSpan(at, chunk.StoredLength);
            Assert.True(payload[..4].SequenceEqual(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }), "payload starts with the zstd frame magic");
            var cut = _tmp.File($"chunk{checkedChunks}.zst");
            File.WriteAllBytes(cut, payload.ToArray());
            var decoded = ExternalTool.RunBytes("zstd", "-d", "-c", "-q", cut);
            // The decoded bytes are the chunk's runs, read straight from the source volume.
            var expected = new byte[chunk.UncompressedLength];
            int p = 0;
            foreach (var run in chunk.Runs)
            {
                volume.Position = run.DiskOffset;
                volume.ReadExactly(expected, p, run.Length);
                p += run.Length;
            }
            Assert.Equal(expected, decoded);
            checkedChunks++;
        }
        Assert.True(checkedChunks > 0);
    }

    [Theory]
    [InlineData("middle")]
    [InlineData("magic")]
    [InlineData("content-size")]
    [InlineData("tail")]
    public async Task CorruptZstdPayloadIsRefusedNamingTheChunk(string where)
    {
        var image = await Capture(CodecChoice.Zstd);
        var bytes = File.ReadAllBytes(image);
        ChunkEntry chunk;
        using (var reader = ImageReader.Open(image))
            chunk = reader.Trailer.Chunks.First(c => c.Codec == ChunkCodec.Zstd && c.StoredLength > 64);
        int at = (int)chunk.FrameOffset + ChunkFrameHeader.LengthFor(chunk.Runs.Length);
        switch (where)
        {
            case "middle": bytes[at + chunk.StoredLength / 2] ^= 0x55; break;
            case "magic": bytes[at] ^= 0x01; break;
            // A chunk fits one segment (Single_Segment_flag): the content size follows the descriptor at once; change it.
            case "content-size": bytes[at + 6] ^= 0x01; break;
            case "tail": bytes[at + chunk.StoredLength - 1] ^= 0xFF; break;
        }
        var broken = _tmp.File($"broken-{where}.p2v");
        File.WriteAllBytes(broken, bytes);
        var e = await Refused(broken);
        Assert.Equal(chunk.FrameOffset, e.Offset);
        Assert.Contains($"chunk at disk offset {chunk.Runs[0].DiskOffset}", e.Message);
        Assert.Matches("zstd|hash mismatch", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void FrameHeaderChecksAreOneLineReasons()
    {
        var data = new byte[100_000];
        new Random(4).NextBytes(data.AsSpan(0, 30_000));
        var packed = new byte[ZstdBlock.MaxCompressedLength(data.Length)];
        int n = ZstdBlock.Compress(data, packed);
        Assert.True(n > 0 && n < data.Length);
        var frame = packed.AsSpan(0, n);
        Assert.Equal((ulong)data.Length, ZstdFrameHeader.TryParse(frame, out _)!.Value.ContentSize);

        var output = new byte[data.Length];
        Assert.True(ZstdBlock.TryDecompress(frame, output, out var error), error);
        Assert.Equal(data, output);

        Assert.False(ZstdBlock.TryDecompress(frame, new byte[data.Length - 1], out error));
        Assert.Contains($"declares {data.Length} bytes, the chunk holds {data.Length - 1}", error);
        Assert.False(ZstdBlock.TryDecompress(frame[..3], output, out error));
        Assert.Contains("not a zstd frame", error);
        Assert.False(ZstdBlock.TryDecompress(frame[..(n / 2)], output, out error));
        Assert.Contains("zstd", error);
        var trailing = frame.ToArray().Concat(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }).ToArray();
        Assert.False(ZstdBlock.TryDecompress(trailing, output, out error));
    }

    [Theory]
    [InlineData("text")]
    [InlineData("random")]
    [InlineData("mixed")]
    public void TheManagedPortAndTheSystemLibraryReadEachOthersFrames(string kind)
    {
        var data = new byte[256 << 10];
        var rng = new Random(kind.Length);
        for (int i = 0; i < data.Length; i++)
            data[i] = kind switch { "text" => (byte)"the quick brown fox "[i % 20], "random" => (byte)rng.Next(), _ => i % 3 == 0 ? (byte)rng.Next() : (byte)(i >> 9) };
        var packed = new byte[ZstdBlock.MaxCompressedLength(data.Length)];
        int n = ZstdBlock.Compress(data, packed);
        Assert.True(n > 0);
        using (var managed = new Decompressor())
            Assert.Equal(data, managed.Unwrap(packed.AsSpan(0, n)).ToArray());
        using var compressor = new Compressor(ZstdBlock.DefaultLevel);
        var managedFrame = compressor.Wrap(data).ToArray();
        var back = new byte[data.Length];
        Assert.True(ZstdBlock.TryDecompress(managedFrame, back, out var error), error);
        Assert.Equal(data, back);
    }

    [Fact]
    public void TheSystemLibraryIsUsedOnDebian() => Assert.True(ZstdBlock.IsNative, "libzstd.so.1 (Debian's libzstd1) did not load");

    [Fact]
    public void AutoPicksZstdForASlowDestinationAndLz4ForAFastOne()
    {
        // The rule, fed measurements: LZ4 at 600 MB/s per worker to 50%, zstd at 250 MB/s to 35%, two workers.
        CodecChooser Fed(double drainBytesPerSecond)
        {
            var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
            for (int i = 0; i < 8; i++)
                chooser.Probed(1_000_000, [(ChunkCodec.Lz4, 0, 500_000, 1 / 600.0), (ChunkCodec.Zstd, 1, 350_000, 1 / 250.0)]);
            chooser.Drained(8 << 20, (8 << 20) / drainBytesPerSecond);
            return chooser;
        }
        List<ChunkCodec> Picks(CodecChooser c) => Enumerable.Range(0, 64).Select(_ => c.Next().Codec).ToList();

        var link = Picks(Fed(117e6));   // a 1 Gb/s link: 0.35/117 MB/s beats 0.5/117 MB/s; 500 MB/s of zstd keeps up
        var file = Picks(Fed(3e9));     // a local file: the CPU is the limit, LZ4's 1.2 GB/s beats zstd's 500 MB/s
        Assert.All(link, c => Assert.Equal(ChunkCodec.Zstd, c));
        Assert.All(file, c => Assert.Equal(ChunkCodec.Lz4, c));

        Assert.All(Picks(new CodecChooser(CodecChoice.Zstd, 2)), c => Assert.Equal(ChunkCodec.Zstd, c));
        Assert.All(Picks(new CodecChooser(CodecChoice.Lz4, 2)), c => Assert.Equal(ChunkCodec.Lz4, c));
        Assert.Equal((ChunkCodec.Zstd, ZstdBlock.DefaultLevel), new CodecChooser(CodecChoice.Zstd, 2).Next());
    }

    [Theory]
    [InlineData(3e9, ChunkCodec.Lz4, 0)]      // the CPU is the limit: LZ4
    [InlineData(117e6, ChunkCodec.Zstd, 1)]   // zstd 3 would leave fewer bytes but cannot keep 117 MB/s fed on two workers
    [InlineData(40e6, ChunkCodec.Zstd, 3)]    // zstd 6 keeps 40 MB/s fed only at 1 / (2 · 60 MB/s) a byte, above 3's 0.33 / 40 MB/s
    [InlineData(12e6, ChunkCodec.Zstd, 9)]    // every rung waits for the link: the smallest output wins
    public void AutoClimbsTheLevelsAsTheLinkSlows(double drainBytesPerSecond, ChunkCodec codec, int level)
    {
        var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
        // Per worker: LZ4 600 MB/s to 50%, zstd 1/3/6/9 at 250/150/60/30 MB/s to 35/33/31/30.5%.
        chooser.Probed(1_000_000, [(ChunkCodec.Lz4, 0, 500_000, 1 / 600.0), (ChunkCodec.Zstd, 1, 350_000, 1 / 250.0),
            (ChunkCodec.Zstd, 3, 330_000, 1 / 150.0), (ChunkCodec.Zstd, 6, 310_000, 1 / 60.0), (ChunkCodec.Zstd, 9, 305_000, 1 / 30.0)]);
        chooser.Drained(8 << 20, (8 << 20) / drainBytesPerSecond);
        // One rung a call, from zstd 1, to where neither neighbour costs less.
        for (int i = 0; i < 5; i++) chooser.Next();
        Assert.Equal((codec, level), chooser.Next());
    }

    [Fact]
    public void TheWorkersOtherWorkCountsAgainstASlowerLevel()
    {
        // A 60 MB/s link, two workers; seconds per MB: zstd 1 max(1/250 / 2, 0.35/60) = max(0.0020, 0.0058),
        // zstd 3 max(1/150 / 2, 0.33/60) = max(0.0033, 0.0055): 3 wins on compression alone.
        var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
        chooser.Probed(1_000_000, [(ChunkCodec.Zstd, 1, 350_000, 1 / 250.0), (ChunkCodec.Zstd, 3, 330_000, 1 / 150.0)]);
        chooser.Drained(8 << 20, (8 << 20) / 60e6);
        Assert.Equal((ChunkCodec.Zstd, 3), chooser.Next());
        // Hashing at 150 MB/s a worker: zstd 3's CPU term becomes (1/150 + 1/150) / 2 = 0.0067, above zstd 1's 0.0058.
        chooser.Analyzed(1_000_000, 1 / 150.0);
        Assert.Equal((ChunkCodec.Zstd, 1), chooser.Next());
    }

    [Fact]
    public void AChoiceTheCoresHoldBackStepsDownWhenTheLinkSpeedsUp()
    {
        var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
        chooser.Probed(1_000_000, [(ChunkCodec.Lz4, 0, 500_000, 1 / 600.0), (ChunkCodec.Zstd, 1, 350_000, 1 / 250.0), (ChunkCodec.Zstd, 3, 330_000, 1 / 150.0)]);
        chooser.Drained(4 << 20, (4 << 20) / 12e6); // 12 MB/s, the sink writing all the time
        for (int i = 0; i < 3; i++) chooser.Next();
        Assert.Equal((ChunkCodec.Zstd, 3), chooser.Next());
        // The link is fast now: the sink writes each 4 MiB in 2 ms and waits 40 ms for the workers. The window's wall time
        // over its bytes is the workers' pace at zstd 3, which alone would never make a faster rung look cheaper.
        for (int i = 0; i < 20; i++)
        {
            Thread.Sleep(40);
            chooser.Drained(4 << 20, 0.002);
        }
        for (int i = 0; i < 3; i++) chooser.Next();
        Assert.Equal((ChunkCodec.Lz4, 0), chooser.Next());
        Assert.True(chooser.DrainRate > 500e6, $"drain rate {chooser.DrainRate:N0} B/s");
    }

    [Fact]
    public void AutoStoresAChunkNoRungShrinks()
    {
        var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
        var data = new byte[64 << 10];
        new Random(3).NextBytes(data);
        var stored = new byte[ChunkEncoder.MaxStoredLength(data.Length)];
        for (int i = 0; i < 40; i++) // probes and chunks alike
        {
            Array.Clear(stored);
            var (codec, n) = chooser.Compress(data, stored);
            Assert.Equal((ChunkCodec.Stored, data.Length), (codec, n));
            Assert.Equal(data, stored.AsSpan(0, n).ToArray());
        }
    }

    [Fact]
    public void EveryLevelWritesFramesBothLibrariesRead()
    {
        var rng = new Random(11);
        var data = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 20_000).Select(_ => $"word{rng.Next(500)} ")));
        var packed = new byte[ZstdBlock.MaxCompressedLength(data.Length)];
        var sizes = new List<int>();
        // The pooled contexts go from level to level and back.
        foreach (int level in new[] { 9, 1, 3, 6, 9, 1 })
        {
            int n = ZstdBlock.Compress(data, packed, level);
            Assert.True(n > 0);
            sizes.Add(n);
            var back = new byte[data.Length];
            Assert.True(ZstdBlock.TryDecompress(packed.AsSpan(0, n), back, out var error), error);
            Assert.Equal(data, back);
            using var managed = new Decompressor();
            Assert.Equal(data, managed.Unwrap(packed.AsSpan(0, n)).ToArray());
        }
        Assert.True(sizes[0] < sizes[1], $"level 9 {sizes[0]} bytes, level 1 {sizes[1]}");
        Assert.Equal(sizes[0], sizes[4]);
        Assert.Equal(sizes[1], sizes[5]);
        Assert.Throws<ArgumentOutOfRangeException>(() => ZstdBlock.Compress(data, packed, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ZstdBlock.Compress(data, packed, ZstdBlock.MaxLevel + 1));
    }

    [Fact]
    public void ProbesOnRealDataClimbToAHigherLevelForASlowLink()
    {
        // Text of random words: each zstd level leaves fewer bytes than the one below it.
        var rng = new Random(7);
        string[] words = ["server", "registry", "service", "driver", "kernel", "volume", "cluster", "sector", "migration", "boot"];
        var text = new System.Text.StringBuilder();
        while (text.Length < 8 << 20) text.Append(words[rng.Next(words.Length)]).Append(rng.Next(1000)).Append(rng.Next(3) == 0 ? "\r\n" : " ");
        var data = System.Text.Encoding.ASCII.GetBytes(text.ToString());
        var chooser = new CodecChooser(CodecChoice.Auto, workers: 2);
        chooser.Drained(4 << 20, 4.2); // a link of 1 MB/s, measured by the writes before
        var stored = new byte[ChunkEncoder.MaxStoredLength(64 << 10)];
        var back = new byte[64 << 10];
        Span<byte> hash = stackalloc byte[ImageFormat.HashLength];
        var levels = new HashSet<int>();
        for (int i = 0; i + (64 << 10) <= data.Length; i += 64 << 10)
        {
            var chunk = data.AsSpan(i, 64 << 10);
            var (codec, n) = chooser.Compress(chunk, stored);
            // A link of 1 MB/s: every rung waits for it.
            chooser.Drained(n, n / 1e6);
            levels.Add(chooser.Next().Level);
            ChunkEncoder.Analyze(chunk, hash);
            Assert.True(ChunkEncoder.TryDecode(codec, stored.AsSpan(0, n), back, hash, out var error), error);
            Assert.Equal(chunk.ToArray(), back);
        }
        Assert.Equal((ChunkCodec.Zstd, 9), chooser.Next());
        Assert.Contains(3, levels); // one rung at a time
    }
}
