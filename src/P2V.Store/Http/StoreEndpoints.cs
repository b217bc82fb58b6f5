using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using P2V.Imaging.Images;

namespace P2V.Store.Http;

/// <summary>
/// The store's HTTP API under /api/store (docs/store-protocol.md). The host (the controller, or
/// `p2v image serve`) calls <see cref="MapImageStore"/> on its WebApplication and supplies the access rules.
/// Request bodies are read through the request's PipeReader; every received chunk is verified before it is kept.
/// </summary>
public static class StoreEndpoints
{
    public const string Prefix = "/api/store";
    /// <summary>Hashes per "which are missing" or "send me these" request.</summary>
    public const int MaxHashesPerRequest = 4096;
    public const long MaxManifestBytes = 256L << 20;
    /// <summary>Bytes per hash in the missing-query's answer.</summary>
    public const int HeldAnswerLength = 8;

    public static void WriteHeld(Span<byte> dest, HeldChunk held)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(dest, held.StoredLength);
        dest[4] = held.IsMissing ? (byte)0 : (byte)held.Codec;
        dest[5] = dest[6] = dest[7] = 0;
    }

    public static HeldChunk ReadHeld(ReadOnlySpan<byte> src)
    {
        int stored = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(src);
        var codec = (ChunkCodec)src[4];
        if (stored < 0) return HeldChunk.Missing;
        if (!Enum.IsDefined(codec)) throw new StoreException($"store answered codec {(byte)codec} for a held chunk");
        return new HeldChunk(codec, stored);
    }

    public static IEndpointRouteBuilder MapImageStore(this IEndpointRouteBuilder app, ImageStore store, IStoreAccess access)
    {
        var api = new Api(store, access);
        app.MapGet(Prefix + "/images", api.List);
        app.MapGet(Prefix + "/images/{name}", api.Summary);
        app.MapDelete(Prefix + "/images/{name}", api.Delete);
        app.MapGet(Prefix + "/images/{name}/manifest", api.Manifest);
        app.MapPost(Prefix + "/images/{name}/chunks", api.ReadChunks);
        app.MapPost(Prefix + "/images/{name}/ingest", api.BeginIngest);
        app.MapPost(Prefix + "/images/{name}/ingest/{session}/missing", api.Missing);
        app.MapPost(Prefix + "/images/{name}/ingest/{session}/chunks", api.ReceiveChunks);
        app.MapPut(Prefix + "/images/{name}/ingest/{session}/manifest", api.Commit);
        app.MapDelete(Prefix + "/images/{name}/ingest/{session}", api.Abort);
        app.MapPost(Prefix + "/gc", api.CollectGarbage);
        return app;
    }

    private sealed class Api(ImageStore store, IStoreAccess access)
    {
        public Task List(HttpContext c) => Run(c, StoreOperation.List, null, async () =>
            await Json(c, 200, (await store.ListAsync(c.RequestAborted)).ToList(), StoreJson.Default.ListImageSummary));

        public Task Summary(HttpContext c) => Run(c, StoreOperation.Read, Name(c), async () =>
        {
            var name = Name(c);
            var summary = (await store.ListAsync(c.RequestAborted)).FirstOrDefault(s => s.Name == name) ?? throw new ImageNotFoundException(name);
            await Json(c, 200, summary, StoreJson.Default.ImageSummary);
        });

        public Task Delete(HttpContext c) => Run(c, StoreOperation.Delete, Name(c), async () =>
        {
            await store.DeleteAsync(Name(c), c.RequestAborted);
            c.Response.StatusCode = 204;
        });

        public Task Manifest(HttpContext c) => Run(c, StoreOperation.Read, Name(c), async () =>
        {
            var bytes = await store.GetManifestBytesAsync(Name(c), c.RequestAborted);
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = bytes.Length;
            await c.Response.Body.WriteAsync(bytes, c.RequestAborted);
        });

        /// <summary>Body: hashes; answer: one chunk record per hash, in order. Only chunks of the named image.</summary>
        public Task ReadChunks(HttpContext c) => Run(c, StoreOperation.Read, Name(c), async () =>
        {
            var name = Name(c);
            var hashes = await ReadHashesAsync(c);
            var allowed = await store.ChunksOfAsync(name, c.RequestAborted);
            foreach (var h in hashes)
                if (!allowed.Contains(h)) throw new StoreException($"chunk {h} is not part of image '{name}'");
            var (blobs, rented) = await store.ReadPooledChunksAsync(name, hashes, c.RequestAborted);
            try
            {
                c.Response.ContentType = "application/octet-stream";
                c.Response.ContentLength = blobs.Sum(b => (long)ChunkRecord.PrefixLength + b.Stored.Length);
                var writer = c.Response.BodyWriter;
                for (int i = 0; i < blobs.Length; i++)
                {
                    var b = blobs[i];
                    ChunkRecord.WritePrefix(writer.GetSpan(ChunkRecord.PrefixLength), hashes[i], b.Codec, b.UncompressedLength, b.Stored.Length);
                    writer.Advance(ChunkRecord.PrefixLength);
                    // WriteAsync copies into the pipe (flushing when it holds enough): the buffer can go back right after.
                    await writer.WriteAsync(b.Stored, c.RequestAborted);
                    if (rented[i] is { } done) ArrayPool<byte>.Shared.Return(done);
                    rented[i] = null;
                }
            }
            finally { ImageStore.ReturnAll(rented); }
        });

        public Task BeginIngest(HttpContext c) => Run(c, StoreOperation.Write, Name(c), ingest: true, async () =>
        {
            var session = await store.BeginIngestAsync(Name(c), c.RequestAborted);
            await Json(c, 201, new SessionResponse(session.Id, session.Image, (int)store.SessionLease.TotalSeconds), StoreJson.Default.SessionResponse);
        });

        /// <summary>Body: hashes; answer: per hash 8 bytes, i32 stored length (-1: missing), u8 codec, 3 reserved: how the store holds the chunk.</summary>
        public Task Missing(HttpContext c) => Run(c, StoreOperation.Write, Name(c), ingest: true, async () =>
        {
            var hashes = await ReadHashesAsync(c);
            var held = await store.FindMissingAsync(Session(c), hashes, c.RequestAborted);
            var bytes = new byte[HeldAnswerLength * held.Length];
            for (int i = 0; i < held.Length; i++) WriteHeld(bytes.AsSpan(HeldAnswerLength * i), held[i]);
            c.Response.ContentType = "application/octet-stream";
            c.Response.ContentLength = bytes.Length;
            await c.Response.Body.WriteAsync(bytes, c.RequestAborted);
        });

        /// <summary>
        /// Body: chunk records, read through the PipeReader as they arrive. Each whole record is verified and
        /// kept at once, so when the connection drops, everything before the break is in the store already.
        /// </summary>
        public Task ReceiveChunks(HttpContext c) => Run(c, StoreOperation.Write, Name(c), ingest: true, async () =>
        {
            var session = Session(c);
            // Records are bounded one by one; the body as a whole is as long as the sender's batch.
            if (c.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = null;
            var otherwise = new System.Collections.Concurrent.ConcurrentBag<HeldOtherwise>();
            int received = await ReceiveRecordsAsync(c.Request.BodyReader, session, otherwise, c.RequestAborted);
            await Json(c, 200, new ChunksReceived(received, otherwise.ToList()), StoreJson.Default.ChunksReceived);
        });

        private async Task<int> ReceiveRecordsAsync(PipeReader reader, IngestSession session, System.Collections.Concurrent.ConcurrentBag<HeldOtherwise> otherwise, CancellationToken cancel)
        {
            int received = 0;
            long offset = 0;
            var inFlight = new List<Task>();
            using var slots = new SemaphoreSlim(Environment.ProcessorCount);
            try
            {
                while (true)
                {
                    var result = await reader.ReadAsync(cancel);
                    var buffer = result.Buffer;
                    while (TryTakeRecord(ref buffer, offset, out var upload, out long length))
                    {
                        offset += length;
                        received++;
                        await slots.WaitAsync(cancel);
                        inFlight.Add(Task.Run(async () =>
                        {
                            try
                            {
                                var (hash, blob) = (upload.Upload.Hash, upload.Upload.Blob);
                                var held = await store.PutChunkAsync(session, upload.Upload, CancellationToken.None, upload.ChunkObject);
                                if (held.Codec != blob.Codec || held.StoredLength != blob.Stored.Length)
                                    otherwise.Add(new HeldOtherwise(hash.ToString(), (byte)held.Codec, held.StoredLength));
                            }
                            finally { upload.Return(); slots.Release(); }
                        }, CancellationToken.None));
                        if (inFlight.Count > 64) { await Task.WhenAll(inFlight); inFlight.Clear(); }
                    }
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted)
                    {
                        if (!buffer.IsEmpty) throw new StoreException($"chunk record at body offset {offset} is cut short ({buffer.Length} bytes)");
                        break;
                    }
                }
            }
            finally
            {
                // Records already taken are kept even when the body broke off after them.
                await Task.WhenAll(inFlight);
                await reader.CompleteAsync();
            }
            return received;
        }

        /// <summary>A received record laid out as its chunk object (docs/store-protocol.md, "Objects") in a pooled buffer: kept without another copy.</summary>
        private sealed record PooledUpload(ChunkUpload Upload, byte[] Buffer)
        {
            public ReadOnlyMemory<byte> ChunkObject => Buffer.AsMemory(0, Upload.Blob.Length);
            public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
        }

        private static bool TryTakeRecord(ref ReadOnlySequence<byte> buffer, long offset, out PooledUpload upload, out long length)
        {
            upload = null!;
            length = 0;
            if (buffer.Length < ChunkRecord.PrefixLength) return false;
            Span<byte> prefix = stackalloc byte[ChunkRecord.PrefixLength];
            buffer.Slice(0, ChunkRecord.PrefixLength).CopyTo(prefix);
            var (hash, codec, ulen, stored) = ChunkRecord.ReadPrefix(prefix, offset);
            length = ChunkRecord.PrefixLength + stored;
            if (buffer.Length < length) return false;
            // Copied once, out of the pipe's blocks, behind the chunk object's prefix: the object is then written as it lies.
            var bytes = ArrayPool<byte>.Shared.Rent(ChunkBlob.PrefixLength + stored);
            var blob = new ChunkBlob(codec, ulen, bytes.AsMemory(ChunkBlob.PrefixLength, stored));
            buffer.Slice(ChunkRecord.PrefixLength, stored).CopyTo(bytes.AsSpan(ChunkBlob.PrefixLength));
            blob.WritePrefix(bytes);
            upload = new PooledUpload(new ChunkUpload(hash, blob), bytes);
            buffer = buffer.Slice(length);
            return true;
        }

        public Task Commit(HttpContext c) => Run(c, StoreOperation.Write, Name(c), ingest: true, async () =>
        {
            if (c.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxManifestBytes;
            var manifest = await ReadBodyAsync(c.Request.BodyReader, MaxManifestBytes, "manifest", c.RequestAborted);
            await store.CommitAsync(Session(c), manifest, c.RequestAborted);
            c.Response.StatusCode = 201;
        });

        public Task Abort(HttpContext c) => Run(c, StoreOperation.Write, Name(c), ingest: true, async () =>
        {
            await store.AbortAsync(Session(c), c.RequestAborted);
            c.Response.StatusCode = 204;
        });

        public Task CollectGarbage(HttpContext c) => Run(c, StoreOperation.CollectGarbage, null, async () =>
            await Json(c, 200, await store.CollectGarbageAsync(c.RequestAborted), StoreJson.Default.GcReport));

        private static string Name(HttpContext c) => (string)c.Request.RouteValues["name"]!;

        private static IngestSession Session(HttpContext c) => new((string)c.Request.RouteValues["session"]!, Name(c));

        private static async Task<List<ChunkHash>> ReadHashesAsync(HttpContext c)
        {
            var body = await ReadBodyAsync(c.Request.BodyReader, MaxHashesPerRequest * ChunkHash.Length, "hash list", c.RequestAborted);
            if (body.Length % ChunkHash.Length != 0) throw new StoreException($"hash list of {body.Length} bytes is not a whole number of {ChunkHash.Length}-byte hashes");
            var list = new List<ChunkHash>(body.Length / ChunkHash.Length);
            for (int i = 0; i < body.Length; i += ChunkHash.Length) list.Add(ChunkHash.From(body.AsSpan(i, ChunkHash.Length)));
            return list;
        }

        private static async Task<byte[]> ReadBodyAsync(PipeReader reader, long max, string what, CancellationToken cancel)
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancel);
                if (result.Buffer.Length > max)
                {
                    reader.AdvanceTo(result.Buffer.Start);
                    throw new StoreException($"{what} is longer than {max} bytes");
                }
                if (result.IsCompleted)
                {
                    var bytes = result.Buffer.ToArray();
                    reader.AdvanceTo(result.Buffer.End);
                    return bytes;
                }
                reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }

        private Task Run(HttpContext c, StoreOperation operation, string? image, Func<Task> action) => Run(c, operation, image, ingest: false, action);

        /// <param name="ingest">An ingest request: its format changed in protocol 2, so one without the version header (protocol 1) is refused too.</param>
        private async Task Run(HttpContext c, StoreOperation operation, string? image, bool ingest, Func<Task> action)
        {
            c.Response.Headers[StoreProtocol.Header] = StoreProtocol.VersionText;
            try
            {
                if (StoreProtocol.CheckRequest(c.Request, changedSinceVersion1: ingest) is { } mismatch)
                {
                    await Json(c, 400, new StoreError(mismatch), StoreJson.Default.StoreError);
                    return;
                }
                if (image is not null) ImageStore.CheckName(image);
                switch (await access.AuthorizeAsync(c, operation, image))
                {
                    case StoreAccessDecision.Unauthenticated:
                        await Json(c, 401, new StoreError("a valid token is needed (Authorization: Bearer TOKEN)"), StoreJson.Default.StoreError);
                        return;
                    case StoreAccessDecision.Forbidden:
                        await Json(c, 403, new StoreError($"this token may not {operation.ToString().ToLowerInvariant()} {image ?? "the store"}"), StoreJson.Default.StoreError);
                        return;
                }
                await action();
            }
            catch (Exception e) when (e is StoreException or ImageFormatException && !c.Response.HasStarted)
            {
                int status = e switch { ImageNotFoundException => 404, StoreConflictException => 409, _ => 400 };
                await Json(c, status, new StoreError(e.Message), StoreJson.Default.StoreError);
            }
        }

        private static async Task Json<T>(HttpContext c, int status, T value, JsonTypeInfo<T> type)
        {
            c.Response.StatusCode = status;
            c.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(c.Response.Body, value, type, c.RequestAborted);
        }
    }
}
