using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using P2V.Imaging.Images;
using P2V.Store.Http;

namespace P2V.Store;

/// <summary>
/// The image store of a controller (or `p2v image serve`), over HTTP (docs/store-protocol.md). Used by
/// `p2v capture --store`, `p2v restore URL/images/NAME`, `p2v image list|rm|gc` and the boot agent.
/// </summary>
public sealed class StoreClient : IImageStore, IDisposable
{
    private readonly HttpClient _http;

    /// <param name="baseAddress">The server's root, e.g. http://10.0.0.1:8080/ (the API lives under /api/store).</param>
    /// <param name="token">Sent as "Authorization: Bearer TOKEN": the admin token or a job's token.</param>
    public StoreClient(Uri baseAddress, string? token, HttpMessageHandler? handler = null)
    {
        _http = new HttpClient(handler ?? new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = new Uri(baseAddress.ToString().TrimEnd('/') + StoreEndpoints.Prefix + "/"),
            Timeout = TimeSpan.FromMinutes(10),
        };
        if (token is { Length: > 0 }) _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        _http.DefaultRequestHeaders.Add(StoreProtocol.Header, StoreProtocol.VersionText);
    }

    public Uri BaseAddress => _http.BaseAddress!;

    private static string Image(string name) => "images/" + Uri.EscapeDataString(ImageStore.CheckName(name));

    private static string Session(IngestSession s) => $"{Image(s.Image)}/ingest/{Uri.EscapeDataString(s.Id)}";

    public async Task<IngestSession> BeginIngestAsync(string image, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Post, Image(image) + "/ingest", null, cancel).ConfigureAwait(false);
        var s = await ReadJsonAsync(response, StoreJson.Default.SessionResponse, cancel).ConfigureAwait(false);
        return new IngestSession(s.Session, s.Image);
    }

    public async Task<HeldChunk[]> FindMissingAsync(IngestSession session, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel)
    {
        var result = new HeldChunk[hashes.Count];
        for (int start = 0; start < hashes.Count; start += StoreEndpoints.MaxHashesPerRequest)
        {
            int count = Math.Min(StoreEndpoints.MaxHashesPerRequest, hashes.Count - start);
            using var response = await SendAsync(HttpMethod.Post, Session(session) + "/missing", HashList(hashes, start, count), cancel).ConfigureAwait(false);
            var bytes = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
            if (bytes.Length != StoreEndpoints.HeldAnswerLength * count) throw new StoreException($"store answered {bytes.Length} bytes for {count} hashes");
            for (int i = 0; i < count; i++) result[start + i] = StoreEndpoints.ReadHeld(bytes.AsSpan(StoreEndpoints.HeldAnswerLength * i));
        }
        return result;
    }

    public async Task<HeldChunk[]> PutChunksAsync(IngestSession session, IReadOnlyList<ChunkUpload> chunks, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Post, Session(session) + "/chunks", new ChunkRecordsContent(chunks), cancel).ConfigureAwait(false);
        var answer = await ReadJsonAsync(response, StoreJson.Default.ChunksReceived, cancel).ConfigureAwait(false);
        var otherwise = (answer.HeldOtherwise ?? []).ToDictionary(h => h.Hash, h => new HeldChunk((ChunkCodec)h.Codec, h.Stored));
        return chunks.Select(c => otherwise.TryGetValue(c.Hash.ToString(), out var h) ? h : new HeldChunk(c.Blob.Codec, c.Blob.Stored.Length)).ToArray();
    }

    public async Task CommitAsync(IngestSession session, byte[] manifest, CancellationToken cancel)
    {
        var content = new ByteArrayContent(manifest);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await SendAsync(HttpMethod.Put, Session(session) + "/manifest", content, cancel).ConfigureAwait(false);
    }

    public async Task AbortAsync(IngestSession session, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Delete, Session(session), null, cancel).ConfigureAwait(false);
    }

    public async Task<ImageManifest> GetManifestAsync(string image, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Get, Image(image) + "/manifest", null, cancel, notFound: () => new ImageNotFoundException(image)).ConfigureAwait(false);
        var bytes = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
        try { return ImageManifest.Parse(bytes); }
        catch (ImageFormatException e) { throw new StoreException($"manifest of '{image}' from {BaseAddress} is corrupt: {e.Message}"); }
    }

    public async Task<ChunkBlob[]> ReadChunksAsync(string image, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel)
    {
        var blobs = new ChunkBlob[hashes.Count];
        for (int start = 0; start < hashes.Count; start += StoreEndpoints.MaxHashesPerRequest)
        {
            int count = Math.Min(StoreEndpoints.MaxHashesPerRequest, hashes.Count - start);
            using var response = await SendAsync(HttpMethod.Post, Image(image) + "/chunks", HashList(hashes, start, count), cancel, streamResponse: true).ConfigureAwait(false);
            try
            {
                await ReadRecordsAsync(response, hashes, start, count, blobs, cancel).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not StoreException)
            {
                throw new StoreConnectionException($"reading chunks of '{image}' from {BaseAddress}", e);
            }
        }
        return blobs;
    }

    private static async Task ReadRecordsAsync(HttpResponseMessage response, IReadOnlyList<ChunkHash> hashes, int start, int count, ChunkBlob[] blobs, CancellationToken cancel)
    {
        {
            await using var body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
            var prefix = new byte[ChunkRecord.PrefixLength];
            long offset = 0;
            for (int i = 0; i < count; i++)
            {
                await body.ReadExactlyAsync(prefix, cancel).ConfigureAwait(false);
                var (hash, codec, length, stored) = ChunkRecord.ReadPrefix(prefix, offset);
                if (hash != hashes[start + i]) throw new StoreException($"store sent chunk {hash} where {hashes[start + i]} was asked for");
                // Pooled: chunks of up to 256 KiB would otherwise be large-object-heap garbage, one per chunk restored.
                var payload = ArrayPool<byte>.Shared.Rent(Math.Max(1, stored));
                try { await body.ReadExactlyAsync(payload.AsMemory(0, stored), cancel).ConfigureAwait(false); }
                catch
                {
                    ArrayPool<byte>.Shared.Return(payload);
                    throw;
                }
                blobs[start + i] = new ChunkBlob(codec, length, payload.AsMemory(0, stored)) { Rented = payload };
                offset += ChunkRecord.PrefixLength + stored;
            }
        }
    }

    public async Task<IReadOnlyList<ImageSummary>> ListAsync(CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Get, "images", null, cancel).ConfigureAwait(false);
        return await ReadJsonAsync(response, StoreJson.Default.ListImageSummary, cancel).ConfigureAwait(false);
    }

    public async Task DeleteAsync(string image, CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Delete, Image(image), null, cancel).ConfigureAwait(false);
    }

    public async Task<GcReport> CollectGarbageAsync(CancellationToken cancel)
    {
        using var response = await SendAsync(HttpMethod.Post, "gc", null, cancel).ConfigureAwait(false);
        return await ReadJsonAsync(response, StoreJson.Default.GcReport, cancel).ConfigureAwait(false);
    }

    private static ByteArrayContent HashList(IReadOnlyList<ChunkHash> hashes, int start, int count)
    {
        var bytes = new byte[count * ChunkHash.Length];
        for (int i = 0; i < count; i++) hashes[start + i].WriteTo(bytes.AsSpan(i * ChunkHash.Length));
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return content;
    }

    /// <summary>Sends a request; a non-success answer becomes the store's one-line reason as an exception.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancel, bool streamResponse = false,
        Func<StoreException>? notFound = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, streamResponse ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, cancel).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException && e is not StoreException)
        {
            throw new StoreConnectionException($"{method} {BaseAddress}{path}", e);
        }
        catch (TaskCanceledException e) when (!cancel.IsCancellationRequested)
        {
            throw new StoreConnectionException($"{method} {BaseAddress}{path}: no answer within {_http.Timeout.TotalSeconds:F0} s", e);
        }
        // Another protocol's answer is not read at all: its body may mean something else (docs/store-protocol.md, "Protocol version").
        // An error without the header is left to the status line: a proxy in front of the store, or a server that is not one.
        if ((response.IsSuccessStatusCode || response.Headers.Contains(StoreProtocol.Header)) && StoreProtocol.CheckAnswer(response, BaseAddress) is { } mismatch)
        {
            response.Dispose();
            throw new StoreProtocolException(mismatch);
        }
        if (response.IsSuccessStatusCode) return response;
        using (response)
        {
            string reason;
            try { reason = (await ReadJsonAsync(response, StoreJson.Default.StoreError, cancel).ConfigureAwait(false)).Error; }
            catch (Exception e) when (e is JsonException or StoreException) { reason = response.ReasonPhrase ?? "no reason given"; }
            string what = $"{method} {BaseAddress}{path}: {(int)response.StatusCode} {reason}";
            throw response.StatusCode switch
            {
                HttpStatusCode.Conflict => new StoreConflictException(what),
                HttpStatusCode.NotFound when notFound is not null => notFound(),
                // A server that failed (or a proxy in front of one that is restarting) may answer the same request later.
                >= HttpStatusCode.InternalServerError => new StoreConnectionException(what),
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new StoreAccessException(what),
                _ => new StoreException(what),
            };
        }
    }

    private static async Task<T> ReadJsonAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancel)
    {
        await using var body = await response.Content.ReadAsStreamAsync(cancel).ConfigureAwait(false);
        return await JsonSerializer.DeserializeAsync(body, type, cancel).ConfigureAwait(false)
            ?? throw new StoreException($"the store's answer to {response.RequestMessage?.RequestUri} is empty");
    }

    public void Dispose() => _http.Dispose();

    /// <summary>Chunk records written straight onto the request stream, one after another.</summary>
    private sealed class ChunkRecordsContent(IReadOnlyList<ChunkUpload> chunks) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancel)
        {
            var prefix = new byte[ChunkRecord.PrefixLength];
            foreach (var c in chunks)
            {
                if (c.Record.Length == ChunkRecord.PrefixLength + c.Blob.Stored.Length)
                {
                    // One write (one send(2), one TCP segment train) per record: a 44-byte write of its own cost a system call and a wake-up of the store.
                    ChunkRecord.WritePrefix(c.Record.Span, c.Hash, c.Blob.Codec, c.Blob.UncompressedLength, c.Blob.Stored.Length);
                    await stream.WriteAsync(c.Record, cancel).ConfigureAwait(false);
                    continue;
                }
                ChunkRecord.WritePrefix(prefix, c.Hash, c.Blob.Codec, c.Blob.UncompressedLength, c.Blob.Stored.Length);
                await stream.WriteAsync(prefix, cancel).ConfigureAwait(false);
                await stream.WriteAsync(c.Blob.Stored, cancel).ConfigureAwait(false);
            }
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = chunks.Sum(c => (long)ChunkRecord.PrefixLength + c.Blob.Stored.Length);
            return true;
        }
    }
}

/// <summary>The store speaks another version of the protocol than this client (docs/store-protocol.md, "Protocol version").</summary>
public sealed class StoreProtocolException(string message) : StoreException(message);

/// <summary>The store refused the token (401) or what it may do (403).</summary>
public sealed class StoreAccessException(string message) : StoreException(message);
