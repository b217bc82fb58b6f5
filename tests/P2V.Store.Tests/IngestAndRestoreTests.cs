using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store.Backends;
using static P2V.Store.Tests.StoreFixtures;

namespace P2V.Store.Tests;

/// <summary>Capture into the store over loopback HTTP and restore from it, checked with qemu-img and ntfs-3g's ntfscat.</summary>
public sealed class IngestAndRestoreTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private ImageStore NewStore() => new(new FolderBackend(_tmp.File("store")));

    [Fact]
    public async Task CaptureOverHttpRestoresIdenticallyAndASecondImageSendsNothingNew()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 48 * MiB, seed: 1);
        await using var server = await StoreServer.StartAsync(NewStore());
        using var client = server.Client();

        var (first, firstSink) = await CaptureAsync(volume, client, "server-a");
        Assert.True(firstSink.ChunksSent > 0);
        var restored = _tmp.File("restored.img");
        var result = await RestoreAsync(client, "server-a", restored);
        Assert.Equal(first.BytesCaptured, result.BytesWritten + result.ZeroBytesSkipped);
        // mkntfs -Q leaves free space as holes, so the used data restored alone equals the source volume.
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
        Assert.Equal(ExternalTool.RunBytes("ntfscat", volume, "file1_03.bin"), ExternalTool.RunBytes("ntfscat", restored, "file1_03.bin"));

        // The same disk again under another name: every chunk is in the store already.
        var (_, again) = await CaptureAsync(volume, client, "server-a-again");
        Assert.Equal(0, again.ChunksSent);
        Assert.Equal(0, again.BytesWritten);

        var list = await client.ListAsync(CancellationToken.None);
        Assert.Equal(["server-a", "server-a-again"], list.Select(i => i.Name));
        Assert.All(list, i => Assert.Equal(0, i.UniqueBytes));
        Assert.All(list, i => Assert.Equal(1.0, i.DedupSavings));
    }

    [Fact]
    public async Task ChunkObjectsTornByAPowerCutAreSentAgainAndReplaced()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 4);
        var store = NewStore();
        var (_, first) = await CaptureAsync(volume, store, "first");
        // What ext4 can leave after a power cut before the commit's flush: chunk objects empty, or cut short, under their names.
        var chunks = Directory.GetFiles(Path.Combine(_tmp.File("store"), "chunks"), "*", SearchOption.AllDirectories).Order().ToList();
        Assert.True(chunks.Count > 4);
        File.WriteAllBytes(chunks[0], []);
        File.WriteAllBytes(chunks[1], File.ReadAllBytes(chunks[1])[..7]);

        // The empty and short objects are missing to the query and sent again; restoring the second capture reads them whole.
        var (_, second) = await CaptureAsync(volume, store, "second");
        Assert.Equal(2, second.ChunksSent);
        var restored = _tmp.File("second.img");
        await RestoreAsync(store, "second", restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
    }

    [Fact]
    public async Task ARecaptureAfterAddingAFileSendsLittleMoreThanTheFile()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 64 * MiB, seed: 2, files: 30);
        var store = NewStore();
        var (_, before) = await CaptureAsync(volume, store, "before");
        var added = new byte[3 * MiB];
        new Random(9).NextBytes(added);
        AddFile(_tmp, volume, "/added.bin", added);
        var (_, after) = await CaptureAsync(volume, store, "after");
        // The file itself (random: stored as is), plus the chunks around it and the metadata that records it
        // ($MFT record, $Bitmap, directory index): a handful of chunks of at most 256 KiB each.
        Assert.InRange(after.BytesWritten, added.Length, added.Length + 8 * ChunkBoundaries.ContentDefined.MaxChunkSize);
        var restored = _tmp.File("after.img");
        await RestoreAsync(store, "after", restored);
        Assert.Equal(added, ExternalTool.RunBytes("ntfscat", restored, "added.bin"));
    }

    [Fact]
    public async Task TheSameFilesOnTwoSeparatelyPopulatedVolumesShareChunks()
    {
        var big = new byte[6 * MiB];
        new Random(5).NextBytes(big);
        var a = MakeNtfsVolume(_tmp, "a.vol", 48 * MiB, seed: 3, files: 4);
        var b = MakeNtfsVolume(_tmp, "b.vol", 48 * MiB, seed: 4, files: 9);
        AddFile(_tmp, a, "/shared.bin", big);
        AddFile(_tmp, b, "/shared.bin", big);
        var store = NewStore();
        await CaptureAsync(a, store, "a");
        var (_, second) = await CaptureAsync(b, store, "b");
        // The shared file lies at different disk offsets on the two volumes; content-defined boundaries still
        // cut it the same way once the rolling hash has synchronized (within one chunk of its start).
        Assert.True(second.ChunksDeduplicated > 0);
        using var bDisk = VirtualDisk.Open(b);
        var bBytes = CapturePlanner.Plan(bDisk).BytesToRead;
        var list = await store.ListAsync(CancellationToken.None);
        var bSummary = list.Single(i => i.Name == "b");
        Assert.True(bSummary.StoredBytes - bSummary.UniqueBytes >= big.Length - 2 * ChunkBoundaries.ContentDefined.MaxChunkSize,
            $"b shares {bSummary.StoredBytes - bSummary.UniqueBytes} bytes with a ({bBytes} used)");
    }

    [Fact]
    public async Task ManyReadersRestoreOneImageAtOnce()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 6);
        await using var server = await StoreServer.StartAsync(NewStore());
        using (var client = server.Client()) await CaptureAsync(volume, client, "shared");
        var targets = Enumerable.Range(0, 4).Select(i => _tmp.File($"r{i}.img")).ToArray();
        await Task.WhenAll(targets.Select(async t =>
        {
            using var client = server.Client();
            await RestoreAsync(client, "shared", t);
        }));
        foreach (var t in targets)
            Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, t));
    }

    [Fact]
    public async Task AnImageFromTheStoreEqualsTheSameCaptureToAnImageFile()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 7);
        var store = NewStore();
        await CaptureAsync(volume, store, "img");
        var file = _tmp.File("img.p2v");
        using (var disk = VirtualDisk.Open(volume))
        await using (var output = File.Create(file))
            await new CapturePipeline().RunAsync(disk, CapturePlanner.Plan(disk, sourceDescription: "store test", toolVersion: "test"), output);
        using var reader = ImageReader.Open(file);
        var manifest = await store.GetManifestAsync("img", CancellationToken.None);
        Assert.Equal(reader.Trailer.Chunks.Select(c => Convert.ToHexString(c.Hash) + string.Join(",", c.Runs)),
            manifest.Trailer.Chunks.Select(c => Convert.ToHexString(c.Hash) + string.Join(",", c.Runs)));
        Assert.Equal(reader.Trailer.Volumes, manifest.Trailer.Volumes);
    }
}
