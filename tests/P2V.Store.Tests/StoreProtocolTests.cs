using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Http;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Store.Backends;
using P2V.Store.Http;
using static P2V.Store.Tests.StoreFixtures;

namespace P2V.Store.Tests;

/// <summary>The transfer protocol's promises: verification, visibility only on commit, resume, access rules.</summary>
public sealed class StoreProtocolTests : IDisposable
{
    private readonly TempDirectory _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private FolderBackend Backend() => new(_tmp.File("store"));

    private static ChunkUpload Upload(byte[] data, byte[]? claimedHash = null)
    {
        var hash = new byte[32];
        ChunkEncoder.Hash(data, hash);
        return new ChunkUpload(ChunkHash.From(claimedHash ?? hash), new ChunkBlob(ChunkCodec.Stored, data.Length, data));
    }

    [Fact]
    public async Task AChunkWhoseBytesDoNotMatchItsHashIsRefusedAndNotKept()
    {
        var backend = Backend();
        await using var server = await StoreServer.StartAsync(new ImageStore(backend));
        using var client = server.Client();
        var session = await client.BeginIngestAsync("img", CancellationToken.None);
        var good = Upload([1, 2, 3, 4]);
        var bad = Upload([9, 9, 9, 9], claimedHash: good.Hash.ToArray().Select(b => (byte)~b).ToArray());
        var e = await Assert.ThrowsAsync<StoreException>(() => client.PutChunksAsync(session, [bad], CancellationToken.None));
        Assert.Contains("BLAKE3 hash mismatch", e.Message);
        Assert.Equal(new[] { HeldChunk.Missing }, await client.FindMissingAsync(session, [bad.Hash], CancellationToken.None));
        Assert.Equal(new[] { new HeldChunk(ChunkCodec.Stored, 4) }, await client.PutChunksAsync(session, [good], CancellationToken.None));
        Assert.Equal(new[] { new HeldChunk(ChunkCodec.Stored, 4) }, await client.FindMissingAsync(session, [good.Hash], CancellationToken.None));
    }

    [Fact]
    public async Task AnImageIsVisibleOnlyOnceItsManifestIsCommitted()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 1);
        var store = new ImageStore(Backend());
        await using var server = await StoreServer.StartAsync(store);
        using var client = server.Client();

        // A capture that stops half-way (the sender dies): chunks were sent, nothing is visible.
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            using var source = Imaging.VirtualDisks.VirtualDisk.Open(volume);
            var plan = CapturePlanner.Plan(source);
            using var sink = await StoreCaptureSink.OpenAsync(client, "half", plan.Header, CancellationToken.None);
            await new CapturePipeline
            {
                Progress = p => { if (p.BytesDone > 2 * MiB) cancel.Cancel(); },
            }.RunAsync(source, plan, sink, cancel.Token);
        });
        Assert.Empty(await client.ListAsync(CancellationToken.None));
        await Assert.ThrowsAsync<ImageNotFoundException>(() => client.GetManifestAsync("half", CancellationToken.None));

        // A manifest that names a chunk the store lacks is refused, and nothing becomes visible.
        var session = await client.BeginIngestAsync("liar", CancellationToken.None);
        var manifest = await ManifestNamingAsync(store, volume);
        var e = await Assert.ThrowsAsync<StoreException>(() => client.CommitAsync(session, manifest, CancellationToken.None));
        Assert.Contains("does not hold", e.Message);
        Assert.Empty(await client.ListAsync(CancellationToken.None));

        // Committed once; a second image of the same name is refused.
        await CaptureAsync(volume, client, "whole");
        await Assert.ThrowsAsync<StoreConflictException>(() => CaptureAsync(volume, client, "whole"));
        Assert.Equal(["whole"], (await client.ListAsync(CancellationToken.None)).Select(i => i.Name));
    }

    /// <summary>A real manifest of <paramref name="volume"/>, captured into a scratch store (so its chunks are not in <paramref name="store"/>).</summary>
    private async Task<byte[]> ManifestNamingAsync(ImageStore store, string volume)
    {
        var scratch = new ImageStore(new FolderBackend(_tmp.File("scratch")));
        await CaptureAsync(volume, scratch, "x");
        return await scratch.GetManifestBytesAsync("x", CancellationToken.None);
    }

    /// <summary>
    /// Issue 13: after a zstd capture, an LZ4 capture of the same data sends nothing, and its manifest records every
    /// chunk as the store holds it (zstd), not as the codec it would have sent; the store refuses a manifest that says otherwise.
    /// </summary>
    [Fact]
    public async Task TheManifestRecordsTheCodecTheStoreHoldsEachChunkIn()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 6);
        var backend = Backend();
        var store = new ImageStore(backend);
        await using var server = await StoreServer.StartAsync(store);
        using var client = server.Client();
        await CaptureAsync(volume, client, "z", codecs: new CodecChooser(CodecChoice.Zstd, 2));
        var (_, sink) = await CaptureAsync(volume, client, "l", codecs: CodecChooser.Lz4);
        Assert.Equal(0, sink.ChunksSent);

        var manifest = await store.GetManifestAsync("l", CancellationToken.None);
        Assert.Contains(manifest.Trailer.Chunks, c => c.Codec == ChunkCodec.Zstd);
        foreach (var c in manifest.Trailer.Chunks)
        {
            // The chunk object itself (docs/store-protocol.md, "Objects"): u8 codec, …, then the stored bytes.
            var path = Path.Combine(backend.Location, ImageStore.ChunkKey(ChunkHash.From(c.Hash)));
            Assert.Equal(File.ReadAllBytes(path)[0], (byte)c.Codec);
            Assert.Equal(new FileInfo(path).Length - ChunkBlob.PrefixLength, c.StoredLength);
        }

        // Read back with the manifest's records checked against the chunk objects, over HTTP and from the folder.
        foreach (IImageStore reader in new IImageStore[] { client, store })
        {
            var restored = _tmp.File($"r-{Guid.NewGuid():N}.img");
            var image = await StoreImageSource.OpenAsync(reader, "l", CancellationToken.None, checkRecordedForms: true);
            using (var disk = RawDisk.Create(restored, image.Header.DiskLength, image.Header.SectorSize))
                await new RestorePipeline { TargetIsBlank = true }.RunAsync(image, disk);
            Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
        }

        // A manifest that records a zstd chunk as LZ4 is refused at commit.
        var lie = ManifestRecordingAsLz4(await store.GetManifestBytesAsync("l", CancellationToken.None), manifest);
        var session = await client.BeginIngestAsync("liar", CancellationToken.None);
        await client.FindMissingAsync(session, manifest.Trailer.Chunks.Select(c => ChunkHash.From(c.Hash)).Distinct().ToList(), CancellationToken.None);
        var e = await Assert.ThrowsAsync<StoreException>(() => client.CommitAsync(session, lie, CancellationToken.None));
        Assert.Contains("the store holds it as codec Zstd", e.Message);
        await Assert.ThrowsAsync<ImageNotFoundException>(() => client.GetManifestAsync("liar", CancellationToken.None));
    }

    /// <summary>The manifest with its first zstd chunk's codec byte set to LZ4 (trailer CRC recomputed, so only the record lies).</summary>
    private static byte[] ManifestRecordingAsLz4(byte[] bytes, ImageManifest parsed)
    {
        bool changed = false;
        return Rewritten(parsed, c =>
        {
            if (c.Codec != ChunkCodec.Zstd || changed) return (c.Codec, c.StoredLength);
            changed = true;
            return (ChunkCodec.Lz4, c.StoredLength);
        });
    }

    /// <summary>The manifest with each chunk's record (codec, stored length) as <paramref name="record"/> says; at least one changed.</summary>
    private static byte[] Rewritten(ImageManifest parsed, Func<ChunkEntry, (ChunkCodec Codec, int Stored)> record)
    {
        var header = parsed.Header.ToBytes();
        using var trailer = new ImageTrailerWriter();
        bool changed = false;
        foreach (var c in parsed.Trailer.Chunks)
        {
            var (codec, stored) = record(c);
            changed |= codec != c.Codec || stored != c.StoredLength;
            trailer.Add(c.FrameOffset, codec, c.UncompressedLength, stored, c.Hash, c.Runs);
        }
        Assert.True(changed);
        using var output = new MemoryStream();
        ImageManifest.Write(output, header, trailer, parsed.Trailer.Volumes);
        return output.ToArray();
    }

    /// <summary>
    /// Images committed before the codec fix (3e139aa) record codec 1 (LZ4) for compressed chunks the capture did not send
    /// itself, whatever codec the store holds them in: `image verify` checks them (every chunk against its hash, the stored
    /// lengths against the chunk objects) and counts them instead of calling the image corrupt; any other disagreement still fails.
    /// </summary>
    [Fact]
    public async Task VerifyChecksImagesCommittedBeforeTheCodecFixAndCountsTheirOldRecords()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 7);
        var backend = Backend();
        var store = new ImageStore(backend);
        await using var server = await StoreServer.StartAsync(store);
        using var client = server.Client();
        await CaptureAsync(volume, client, "z", codecs: new CodecChooser(CodecChoice.Zstd, 2));
        var manifest = await store.GetManifestAsync("z", CancellationToken.None);
        int zstd = manifest.Trailer.Chunks.Count(c => c.Codec == ChunkCodec.Zstd);
        Assert.True(zstd > 0);
        // What a capture before the fix committed for the same data after that zstd capture: each compressed chunk as codec 1.
        Assert.True(await backend.PutIfAbsentAsync("images/old", Rewritten(manifest, c => (c.Codec == ChunkCodec.Zstd ? ChunkCodec.Lz4 : c.Codec, c.StoredLength)), CancellationToken.None));
        foreach (IImageStore reader in new IImageStore[] { client, store })
        {
            var image = await StoreImageSource.OpenAsync(reader, "old", CancellationToken.None, checkRecordedForms: true);
            var result = await new RestorePipeline { VerifyOnly = true }.RunAsync(image, null);
            Assert.Equal(manifest.Trailer.Chunks.Count, result.Chunks);
            Assert.Equal(zstd, image.LegacyRecords);
        }

        // A record whose stored length disagrees is no old form: still an error naming the chunk.
        bool changed = false;
        Assert.True(await backend.PutIfAbsentAsync("images/bad", Rewritten(manifest, c =>
        {
            if (c.Codec != ChunkCodec.Zstd || changed) return (c.Codec, c.StoredLength);
            changed = true;
            return (ChunkCodec.Lz4, c.StoredLength - 1);
        }), CancellationToken.None));
        var bad = await StoreImageSource.OpenAsync(client, "bad", CancellationToken.None, checkRecordedForms: true);
        var e = await Assert.ThrowsAsync<StoreException>(() => new RestorePipeline { VerifyOnly = true }.RunAsync(bad, null));
        Assert.Contains("is held as codec Zstd", e.Message);
    }

    [Fact]
    public async Task ADroppedConnectionResumesWhereItStopped()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 48 * MiB, seed: 2, files: 16);
        var backend = Backend();
        await using var server = await StoreServer.StartAsync(new ImageStore(backend));
        await using var proxy = new DroppingProxy(server.Address, cutAfterBytes: MiB);
        using var client = new StoreClient(proxy.Address, StoreServer.AdminToken);

        var (result, sink) = await CaptureAsync(volume, client, "resumed");
        Assert.True(proxy.Cuts >= 1, "the proxy never cut the connection");
        int distinct = (await server.Store.GetManifestAsync("resumed", CancellationToken.None)).Trailer.Chunks.Select(c => ChunkHash.From(c.Hash)).Distinct().Count();
        // Chunks that arrived whole before the cut were kept and not sent again.
        Assert.True(sink.ChunksSent < distinct, $"{sink.ChunksSent} of {distinct} chunks were sent after the cut: nothing was resumed");
        var restored = _tmp.File("r.img");
        await RestoreAsync(server.Client(), "resumed", restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", volume, restored));
    }

    [Fact]
    public async Task AnIngestSessionOutlivesARestartOfTheServer()
    {
        var root = _tmp.File("store");
        var data = Upload(new byte[] { 5, 6, 7 });
        IngestSession session;
        await using (var first = await StoreServer.StartAsync(new ImageStore(new FolderBackend(root))))
        {
            using var client = first.Client();
            session = await client.BeginIngestAsync("img", CancellationToken.None);
            await client.PutChunksAsync(session, [data], CancellationToken.None);
        }
        await using var second = await StoreServer.StartAsync(new ImageStore(new FolderBackend(root)));
        using var again = second.Client();
        Assert.Equal(new[] { new HeldChunk(ChunkCodec.Stored, 3) }, await again.FindMissingAsync(session, [data.Hash], CancellationToken.None));
        await again.AbortAsync(session, CancellationToken.None);
        await Assert.ThrowsAsync<StoreConflictException>(() => again.FindMissingAsync(session, [data.Hash], CancellationToken.None));
    }

    [Fact]
    public async Task GarbageCollectionRemovesOnlyUnreferencedChunksAndWaitsForIngests()
    {
        var a = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 3);
        var b = MakeNtfsVolume(_tmp, "b.vol", 32 * MiB, seed: 4);
        var backend = Backend();
        var store = new ImageStore(backend) { GcWait = TimeSpan.FromSeconds(1) };
        await CaptureAsync(a, store, "a");
        await CaptureAsync(b, store, "b");
        var summaries = await store.ListAsync(CancellationToken.None);
        long aUnique = summaries.Single(s => s.Name == "a").UniqueBytes;

        // An open ingest holds its lease: no collection meanwhile.
        var session = await store.BeginIngestAsync("c", CancellationToken.None);
        await store.PutChunksAsync(session, [Upload(new byte[] { 1, 1, 1 })], CancellationToken.None);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.CollectGarbageAsync(CancellationToken.None));
        await store.AbortAsync(session, CancellationToken.None);

        await store.DeleteAsync("a", CancellationToken.None);
        var report = await store.CollectGarbageAsync(CancellationToken.None);
        Assert.Equal(1, report.Images);
        // a's own chunks and the aborted session's chunk go (the chunk objects have an 8-byte prefix each).
        Assert.Equal(aUnique + ChunkBlob.PrefixLength + 3, report.BytesRemoved);
        var bChunks = (await store.GetManifestAsync("b", CancellationToken.None)).Trailer.Chunks.Select(c => ChunkHash.From(c.Hash)).Distinct().Count();
        Assert.Equal(bChunks, report.ChunksKept);
        var restored = _tmp.File("b.img");
        await RestoreAsync(store, "b", restored);
        Assert.Contains("Images are identical", ExternalTool.Run("qemu-img", "compare", "-f", "raw", "-F", "raw", b, restored));

        // A collection under way (its lock) keeps a new ingest waiting, then refuses it.
        await backend.PutAsync("locks/gc-other", System.Text.Encoding.UTF8.GetBytes($"gc\n{DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds()}"), CancellationToken.None);
        await Assert.ThrowsAsync<StoreConflictException>(() => store.BeginIngestAsync("d", CancellationToken.None));
        await backend.DeleteAsync("locks/gc-other", CancellationToken.None);
        await store.AbortAsync(await store.BeginIngestAsync("d", CancellationToken.None), CancellationToken.None);
    }

    [Fact]
    public async Task TokensGetExactlyWhatTheirAccessAllows()
    {
        var volume = MakeNtfsVolume(_tmp, "a.vol", 32 * MiB, seed: 5);
        var other = MakeNtfsVolume(_tmp, "b.vol", 32 * MiB, seed: 6);
        await using var server = await StoreServer.StartAsync(new ImageStore(Backend()), new JobAccess());
        using (var admin = server.Client("admin"))
        {
            await CaptureAsync(volume, admin, "x");
            await CaptureAsync(other, admin, "y");
        }
        using (var none = server.Client(null))
            await Assert.ThrowsAsync<StoreAccessException>(() => none.ListAsync(CancellationToken.None));
        using (var wrong = server.Client("not-a-token"))
            await Assert.ThrowsAsync<StoreAccessException>(() => wrong.GetManifestAsync("x", CancellationToken.None));

        using var reader = server.Client("job-read-x");
        await RestoreAsync(reader, "x", _tmp.File("x.img"));
        await Assert.ThrowsAsync<StoreAccessException>(() => reader.GetManifestAsync("y", CancellationToken.None));
        await Assert.ThrowsAsync<StoreAccessException>(() => reader.ListAsync(CancellationToken.None));
        await Assert.ThrowsAsync<StoreAccessException>(() => reader.BeginIngestAsync("x2", CancellationToken.None));
        // Chunks are read through an image: y's chunks cannot be fetched under x's name.
        var yManifest = await server.Store.GetManifestAsync("y", CancellationToken.None);
        var yChunk = ChunkHash.From(yManifest.Trailer.Chunks.First(c => c.Codec != ChunkCodec.Zero).Hash);
        var e = await Assert.ThrowsAsync<StoreException>(() => reader.ReadChunksAsync("x", [yChunk], CancellationToken.None));
        Assert.Contains("not part of image 'x'", e.Message);

        using var writer = server.Client("job-write-z");
        await Assert.ThrowsAsync<StoreAccessException>(() => CaptureAsync(volume, writer, "x3"));
        await CaptureAsync(volume, writer, "z");
        await Assert.ThrowsAsync<StoreAccessException>(() => writer.GetManifestAsync("z", CancellationToken.None));
        await Assert.ThrowsAsync<StoreAccessException>(() => writer.DeleteAsync("x", CancellationToken.None));
    }

    /// <summary>The controller's rule, by token name: admin → everything; job-read-NAME → read NAME; job-write-NAME → write NAME.</summary>
    private sealed class JobAccess : IStoreAccess
    {
        public ValueTask<StoreAccessDecision> AuthorizeAsync(HttpContext context, StoreOperation operation, string? image)
        {
            var token = AdminTokenAccess.BearerToken(context);
            var decision = token switch
            {
                "admin" => StoreAccessDecision.Allow,
                _ when token is not null && token.StartsWith("job-read-") =>
                    operation == StoreOperation.Read && image == token["job-read-".Length..] ? StoreAccessDecision.Allow : StoreAccessDecision.Forbidden,
                _ when token is not null && token.StartsWith("job-write-") =>
                    operation == StoreOperation.Write && image == token["job-write-".Length..] ? StoreAccessDecision.Allow : StoreAccessDecision.Forbidden,
                _ => StoreAccessDecision.Unauthenticated,
            };
            return ValueTask.FromResult(decision);
        }
    }

    /// <summary>A loopback TCP forwarder that resets the first connection that carries more than a given number of bytes upstream.</summary>
    private sealed class DroppingProxy : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Uri _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accept;
        private long _cutAfter;

        public DroppingProxy(Uri target, long cutAfterBytes)
        {
            _target = target;
            _cutAfter = cutAfterBytes;
            _listener.Start();
            Address = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
            _accept = AcceptAsync();
        }

        public Uri Address { get; }
        public int Cuts;

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = ForwardAsync(client);
                }
            }
            catch (OperationCanceledException) { }
        }

        private async Task ForwardAsync(TcpClient client)
        {
            using var upstream = new TcpClient();
            try
            {
                await upstream.ConnectAsync(_target.Host, _target.Port);
                var up = Pump(client, upstream, countUp: true);
                var down = Pump(upstream, client, countUp: false);
                await Task.WhenAny(up, down);
            }
            catch (Exception) { }
            finally
            {
                client.Client.LingerState = new LingerOption(true, 0);
                client.Dispose();
            }
        }

        private async Task Pump(TcpClient from, TcpClient to, bool countUp)
        {
            var buffer = new byte[64 << 10];
            long total = 0;
            var src = from.GetStream();
            var dst = to.GetStream();
            int n;
            while ((n = await src.ReadAsync(buffer, _stop.Token)) > 0)
            {
                await dst.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
                total += n;
                if (countUp && Interlocked.Read(ref _cutAfter) > 0 && total > Interlocked.Read(ref _cutAfter))
                {
                    Interlocked.Exchange(ref _cutAfter, 0);
                    Interlocked.Increment(ref Cuts);
                    // The link drops: the server gets what was on the wire, then the end of the connection
                    // mid-body; the sender gets a reset.
                    to.Client.Shutdown(SocketShutdown.Send);
                    await Task.Delay(500);
                    from.Client.LingerState = new LingerOption(true, 0);
                    from.Client.Close();
                    to.Client.Close();
                    return;
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            await _accept;
        }
    }
}
