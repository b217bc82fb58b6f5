using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Store.Backends;

namespace P2V.Store;

/// <summary>
/// The image store over a backend (docs/store-protocol.md): chunks kept once by hash, one manifest per
/// committed image, ingest sessions that hold a lease against garbage collection, and the collection itself.
/// Safe for many readers and writers at once, in one process or in several sharing a backend.
/// </summary>
public sealed partial class ImageStore(IStoreBackend backend) : IImageStore
{
    private const string ChunkPrefix = "chunks/", ImagePrefix = "images/", LockPrefix = "locks/";
    private const string IngestLock = "ingest-", GcLock = "gc-";
    private const int Parallelism = 16;

    private readonly ConcurrentDictionary<string, SessionState> _sessions = new();
    private readonly ManifestCache _manifests = new(backend, ImageKey);

    public IStoreBackend Backend => backend;

    /// <summary>How long an ingest session's lease lasts without activity (each request renews it).</summary>
    public TimeSpan SessionLease { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>How long an ingest waits for a running garbage collection to finish.</summary>
    public TimeSpan GcWait { get; init; } = TimeSpan.FromMinutes(2);

    public static string ChunkKey(ChunkHash hash)
    {
        var hex = hash.ToString();
        return $"{ChunkPrefix}{hex[..2]}/{hex}";
    }

    private static string ImageKey(string image) => ImagePrefix + image;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex NamePattern();

    /// <summary>Image names: letters, digits, '.', '_', '-', up to 128, not starting with a punctuation mark.</summary>
    public static string CheckName(string image) => NamePattern().IsMatch(image)
        ? image
        : throw new StoreException($"image name '{image}' is not valid: use letters, digits, '.', '_' and '-' (up to 128, starting with a letter or digit)");

    // ---- ingest -------------------------------------------------------------------------------------

    public async Task<IngestSession> BeginIngestAsync(string image, CancellationToken cancel)
    {
        CheckName(image);
        if (await backend.SizeAsync(ImageKey(image), cancel).ConfigureAwait(false) is not null)
            throw new StoreConflictException($"image '{image}' already exists in the store");
        var deadline = DateTimeOffset.UtcNow + GcWait;
        while (true)
        {
            var id = Guid.NewGuid().ToString("N");
            var key = LockPrefix + IngestLock + id;
            await WriteLockAsync(key, image, cancel).ConfigureAwait(false);
            // Lock first, then look: a collection that starts later sees this lease, one that started earlier is seen here.
            if (!await AnyLiveLockAsync(GcLock, except: null, cancel).ConfigureAwait(false))
            {
                _sessions[id] = new SessionState(image, DateTimeOffset.UtcNow);
                return new IngestSession(id, image);
            }
            await backend.DeleteAsync(key, cancel).ConfigureAwait(false);
            if (DateTimeOffset.UtcNow > deadline)
                throw new StoreConflictException("a garbage collection is running in the store; try again when it has finished");
            await Task.Delay(TimeSpan.FromMilliseconds(200 + Random.Shared.Next(800)), cancel).ConfigureAwait(false);
        }
    }

    public async Task<HeldChunk[]> FindMissingAsync(IngestSession session, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel)
    {
        var state = await SessionAsync(session, cancel).ConfigureAwait(false);
        var held = new HeldChunk[hashes.Count];
        await Parallel.ForAsync(0, hashes.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel }, async (i, ct) =>
        {
            if (state.TryGet(hashes[i], out held[i])) return;
            held[i] = await HeldAsync(hashes[i], ct).ConfigureAwait(false);
            if (!held[i].IsMissing) state.Add(hashes[i], held[i]);
        }).ConfigureAwait(false);
        return held;
    }

    /// <summary>How the chunk object holds the chunk, from its prefix (the codec) and size: what a manifest must record.</summary>
    private async Task<HeldChunk> HeldAsync(ChunkHash hash, CancellationToken cancel)
    {
        var key = ChunkKey(hash);
        if (await backend.HeadAsync(key, ChunkBlob.PrefixLength, cancel).ConfigureAwait(false) is not { } head) return HeldChunk.Missing;
        ChunkBlob blob;
        try { blob = ChunkBlob.Parse(head.Prefix.AsMemory(), key, head.Size - ChunkBlob.PrefixLength); }
        // A torn object (a power cut before the commit's flush left it short or empty) counts as missing: it is sent again and replaced.
        catch (StoreException) { return HeldChunk.Missing; }
        return new HeldChunk(blob.Codec, (int)(head.Size - ChunkBlob.PrefixLength));
    }

    /// <summary>Whether the object under <paramref name="hash"/>'s key decodes to the data of that hash.</summary>
    private async Task<bool> IntactAsync(ChunkHash hash, CancellationToken cancel)
    {
        var key = ChunkKey(hash);
        if (await backend.GetAsync(key, cancel).ConfigureAwait(false) is not { } bytes) return false;
        try
        {
            var blob = ChunkBlob.Parse(bytes, key);
            blob.Verify(hash.ToArray(), new byte[blob.UncompressedLength]);
            return true;
        }
        catch (StoreException) { return false; }
    }

    public async Task<HeldChunk[]> PutChunksAsync(IngestSession session, IReadOnlyList<ChunkUpload> chunks, CancellationToken cancel)
    {
        var state = await SessionAsync(session, cancel).ConfigureAwait(false);
        var held = new HeldChunk[chunks.Count];
        await Parallel.ForAsync(0, chunks.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Min(Parallelism, Environment.ProcessorCount), CancellationToken = cancel },
            async (i, ct) => held[i] = await PutChunkAsync(state, chunks[i], ct).ConfigureAwait(false)).ConfigureAwait(false);
        return held;
    }

    /// <summary>
    /// Verifies one received chunk (decompress, BLAKE3) and keeps it unless the store has it already; answers how the store holds it.
    /// <paramref name="chunkObject"/>: the chunk object's bytes (docs/store-protocol.md, "Objects") when the receiver laid the
    /// record out that way already (its payload is <c>chunk.Blob.Stored</c>), so it is written without another copy.
    /// </summary>
    internal async Task<HeldChunk> PutChunkAsync(IngestSession session, ChunkUpload chunk, CancellationToken cancel, ReadOnlyMemory<byte>? chunkObject = null) =>
        await PutChunkAsync(await SessionAsync(session, cancel).ConfigureAwait(false), chunk, cancel, chunkObject).ConfigureAwait(false);

    private async Task<HeldChunk> PutChunkAsync(SessionState state, ChunkUpload chunk, CancellationToken cancel, ReadOnlyMemory<byte>? chunkObject = null)
    {
        Verify(chunk);
        if (state.TryGet(chunk.Hash, out var known)) return known;
        // Create-only: a copy another sender kept first (perhaps in another codec) stays, and is what this session's manifest must name.
        // Not durable one by one: the commit flushes the backend once before the manifest is written.
        // The object's bytes in a pooled buffer: a fresh array per chunk (most are over 85 KB) churned the large-object heap.
        byte[]? rented = null;
        if (chunkObject is not { } bytes)
        {
            rented = ArrayPool<byte>.Shared.Rent(chunk.Blob.Length);
            chunk.Blob.Write(rented);
            bytes = rented.AsMemory(0, chunk.Blob.Length);
        }
        bool created;
        try
        {
            created = await backend.PutIfAbsentAsync(ChunkKey(chunk.Hash), bytes, cancel, durable: false).ConfigureAwait(false);
            // Someone's copy is there: normally whole (another sender's, kept first), but a torn one is replaced by this verified copy.
            if (!created && !await IntactAsync(chunk.Hash, cancel).ConfigureAwait(false))
            {
                await backend.PutAsync(ChunkKey(chunk.Hash), bytes, cancel).ConfigureAwait(false);
                created = true;
            }
        }
        finally { if (rented is not null) ArrayPool<byte>.Shared.Return(rented); }
        var held = created ? new HeldChunk(chunk.Blob.Codec, chunk.Blob.Stored.Length) : await HeldAsync(chunk.Hash, cancel).ConfigureAwait(false);
        if (held.IsMissing) throw new StoreException($"chunk {chunk.Hash} vanished from the store while it was being kept");
        state.Add(chunk.Hash, held);
        return held;
    }

    private static void Verify(ChunkUpload chunk)
    {
        if (chunk.Blob.Codec == ChunkCodec.Stored && chunk.Blob.Stored.Length == chunk.Blob.UncompressedLength)
        {
            // The bytes as they are: hashed where they lie, not copied out first (a third of a capture is incompressible).
            Span<byte> actual = stackalloc byte[ChunkHash.Length];
            ChunkEncoder.Hash(chunk.Blob.Stored.Span, actual);
            if (ChunkHash.From(actual) != chunk.Hash) throw new StoreException($"chunk {chunk.Hash}: BLAKE3 hash mismatch, the chunk's data is corrupt");
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(chunk.Blob.UncompressedLength);
        try
        {
            Span<byte> hash = stackalloc byte[ChunkHash.Length];
            chunk.Hash.WriteTo(hash);
            chunk.Blob.Verify(hash, buffer);
        }
        finally { ArrayPool<byte>.Shared.Return(buffer); }
    }

    public async Task CommitAsync(IngestSession session, byte[] manifest, CancellationToken cancel)
    {
        var state = await SessionAsync(session, cancel).ConfigureAwait(false);
        ImageManifest parsed;
        try { parsed = ImageManifest.Parse(manifest); }
        catch (ImageFormatException e) { throw new StoreException($"manifest of '{session.Image}' is corrupt: {e.Message}"); }
        // Every chunk named must be held, and recorded as held (codec, stored length): the chunk object is the one source of truth.
        var entries = parsed.Trailer.Chunks.DistinctBy(c => ChunkHash.From(c.Hash)).ToList();
        var wrong = new ConcurrentBag<string>();
        int absent = 0;
        await Parallel.ForEachAsync(entries, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel }, async (c, ct) =>
        {
            var h = ChunkHash.From(c.Hash);
            if (!state.TryGet(h, out var held))
            {
                held = await HeldAsync(h, ct).ConfigureAwait(false);
                if (held.IsMissing) { Interlocked.Increment(ref absent); wrong.Add($"names chunk {h} the store does not hold"); return; }
                state.Add(h, held);
            }
            if (held.Codec != c.Codec || held.StoredLength != c.StoredLength)
                wrong.Add($"records chunk {h} as codec {c.Codec}, {c.StoredLength} bytes; the store holds it as codec {held.Codec}, {held.StoredLength} bytes");
        }).ConfigureAwait(false);
        if (!wrong.IsEmpty)
            throw new StoreException($"manifest of '{session.Image}' {wrong.First()} ({wrong.Count} chunks wrong, {absent} missing); nothing was committed");
        // The chunks first, durably; only then the manifest that names them.
        await backend.FlushAsync(cancel).ConfigureAwait(false);
        if (!await backend.PutIfAbsentAsync(ImageKey(session.Image), manifest, cancel).ConfigureAwait(false))
            throw new StoreConflictException($"image '{session.Image}' already exists in the store");
        await EndSessionAsync(session, cancel).ConfigureAwait(false);
    }

    public Task AbortAsync(IngestSession session, CancellationToken cancel) => EndSessionAsync(session, cancel);

    private async Task EndSessionAsync(IngestSession session, CancellationToken cancel)
    {
        _sessions.TryRemove(session.Id, out _);
        await backend.DeleteAsync(LockPrefix + IngestLock + session.Id, cancel).ConfigureAwait(false);
    }

    /// <summary>The session's state; renews its lease when a quarter of it has passed. A session whose lease ran out is gone: a collection may have run since.</summary>
    private async Task<SessionState> SessionAsync(IngestSession session, CancellationToken cancel)
    {
        if (!Guid.TryParseExact(session.Id, "N", out _)) throw new StoreException($"'{session.Id}' is not an ingest session id");
        var key = LockPrefix + IngestLock + session.Id;
        if (!_sessions.TryGetValue(session.Id, out var state))
        {
            // Another server (or this one before a restart) opened it: its lease object is the truth.
            var lease = await ReadLockAsync(key, cancel).ConfigureAwait(false);
            if (lease is null || lease.Value.Expires < DateTimeOffset.UtcNow || lease.Value.Image != session.Image)
                throw new StoreConflictException($"ingest session {session.Id} for '{session.Image}' is unknown or expired; start the capture again");
            state = _sessions.GetOrAdd(session.Id, _ => new SessionState(session.Image, DateTimeOffset.MinValue));
        }
        if (state.Image != session.Image) throw new StoreConflictException($"ingest session {session.Id} belongs to another image");
        if (DateTimeOffset.UtcNow - state.LeaseWritten > SessionLease / 4)
        {
            if (state.LeaseWritten > DateTimeOffset.MinValue && state.LeaseWritten + SessionLease < DateTimeOffset.UtcNow)
            {
                _sessions.TryRemove(session.Id, out _);
                throw new StoreConflictException($"ingest session {session.Id} for '{session.Image}' expired; start the capture again");
            }
            state.LeaseWritten = DateTimeOffset.UtcNow;
            await WriteLockAsync(key, session.Image, cancel).ConfigureAwait(false);
        }
        return state;
    }

    private sealed class SessionState(string image, DateTimeOffset leaseWritten)
    {
        // The chunks this session was told the store holds, or sent: as the store holds them.
        private readonly Dictionary<ChunkHash, HeldChunk> _known = [];
        public string Image { get; } = image;
        public DateTimeOffset LeaseWritten { get; set; } = leaseWritten;
        public bool TryGet(ChunkHash h, out HeldChunk held) { lock (_known) return _known.TryGetValue(h, out held); }
        public void Add(ChunkHash h, HeldChunk held) { lock (_known) _known[h] = held; }
    }

    // ---- locks: "image\nexpiry (Unix ms)" ---------------------------------------------------------

    private Task WriteLockAsync(string key, string owner, CancellationToken cancel, TimeSpan? lease = null) =>
        backend.PutAsync(key, Encoding.UTF8.GetBytes($"{owner}\n{(DateTimeOffset.UtcNow + (lease ?? SessionLease)).ToUnixTimeMilliseconds()}"), cancel);

    private async Task<(string Image, DateTimeOffset Expires)?> ReadLockAsync(string key, CancellationToken cancel)
    {
        var bytes = await backend.GetAsync(key, cancel).ConfigureAwait(false);
        if (bytes is null) return null;
        var parts = Encoding.UTF8.GetString(bytes).Split('\n');
        // An unreadable lock counts as live until the longest lease has passed: safer to wait than to collect.
        return parts.Length == 2 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out long ms)
            ? (parts[0], DateTimeOffset.FromUnixTimeMilliseconds(ms))
            : (parts[0], DateTimeOffset.MaxValue);
    }

    private async Task<int> CountLiveLocksAsync(string kind, string? except, CancellationToken cancel, bool removeExpired = false)
    {
        int live = 0;
        await foreach (var o in backend.ListAsync(LockPrefix + kind, cancel).ConfigureAwait(false))
        {
            if (o.Key == except) continue;
            var l = await ReadLockAsync(o.Key, cancel).ConfigureAwait(false);
            if (l is null) continue;
            if (l.Value.Expires >= DateTimeOffset.UtcNow) live++;
            else if (removeExpired) await backend.DeleteAsync(o.Key, cancel).ConfigureAwait(false);
        }
        return live;
    }

    private async Task<bool> AnyLiveLockAsync(string kind, string? except, CancellationToken cancel) =>
        await CountLiveLocksAsync(kind, except, cancel).ConfigureAwait(false) > 0;

    // ---- reads --------------------------------------------------------------------------------------

    public async Task<byte[]> GetManifestBytesAsync(string image, CancellationToken cancel) =>
        await backend.GetAsync(ImageKey(CheckName(image)), cancel).ConfigureAwait(false) ?? throw new ImageNotFoundException(image);

    public async Task<ImageManifest> GetManifestAsync(string image, CancellationToken cancel) =>
        (await _manifests.GetAsync(image, cancel).ConfigureAwait(false)).Manifest;

    public async Task<ChunkBlob[]> ReadChunksAsync(string image, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel)
    {
        var (blobs, rented) = await ReadPooledChunksAsync(image, hashes, cancel).ConfigureAwait(false);
        // Callers of the interface own what they get: copies, and the pooled objects go back.
        var owned = blobs.Select(b => b with { Stored = b.Stored.ToArray() }).ToArray();
        ReturnAll(rented);
        return owned;
    }

    /// <summary>
    /// The chunks in pooled buffers (a fresh array per chunk, most over 85 KB, churned the large-object heap): each blob's
    /// bytes lie in <c>Rented[i]</c>, which the caller returns with <see cref="ReturnAll"/> once it has written them out.
    /// </summary>
    internal async Task<(ChunkBlob[] Blobs, byte[]?[] Rented)> ReadPooledChunksAsync(string image, IReadOnlyList<ChunkHash> hashes, CancellationToken cancel)
    {
        var blobs = new ChunkBlob[hashes.Count];
        var rented = new byte[]?[hashes.Count];
        try
        {
            await Parallel.ForAsync(0, hashes.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel }, async (i, ct) =>
            {
                var key = ChunkKey(hashes[i]);
                var (bytes, length) = await backend.GetPooledAsync(key, ct).ConfigureAwait(false)
                    ?? throw new StoreException($"image '{image}': chunk {hashes[i]} is missing from the store ({backend.Location})");
                rented[i] = bytes;
                blobs[i] = ChunkBlob.Parse(bytes.AsMemory(0, length), hashes[i].ToString());
            }).ConfigureAwait(false);
        }
        catch
        {
            ReturnAll(rented);
            throw;
        }
        return (blobs, rented);
    }

    internal static void ReturnAll(byte[]?[] rented)
    {
        for (int i = 0; i < rented.Length; i++)
            if (Interlocked.Exchange(ref rented[i], null) is { } b) ArrayPool<byte>.Shared.Return(b);
    }

    /// <summary>The hashes an image's manifest names (for checking what a reader of that image may fetch).</summary>
    public async Task<IReadOnlySet<ChunkHash>> ChunksOfAsync(string image, CancellationToken cancel) =>
        (await _manifests.GetAsync(image, cancel).ConfigureAwait(false)).Chunks;

    public async Task<bool> ExistsAsync(string image, CancellationToken cancel) =>
        await backend.SizeAsync(ImageKey(CheckName(image)), cancel).ConfigureAwait(false) is not null;

    public async Task<IReadOnlyList<ImageSummary>> ListAsync(CancellationToken cancel)
    {
        var manifests = await LoadManifestsAsync(cancel).ConfigureAwait(false);
        var sizes = new Dictionary<ChunkHash, long>();
        await foreach (var o in backend.ListAsync(ChunkPrefix, cancel).ConfigureAwait(false))
            if (ChunkHash.TryParse(o.Key[(o.Key.LastIndexOf('/') + 1)..], out var h)) sizes[h] = o.Size;
        var users = new Dictionary<ChunkHash, int>();
        var sets = manifests.ToDictionary(m => m.Name, m => m.Manifest.Trailer.Chunks.Select(c => ChunkHash.From(c.Hash)).ToHashSet());
        foreach (var set in sets.Values)
            foreach (var h in set) users[h] = users.GetValueOrDefault(h) + 1;
        return manifests.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m =>
        {
            var set = sets[m.Name];
            long stored = set.Sum(h => sizes.GetValueOrDefault(h));
            long unique = set.Where(h => users[h] == 1).Sum(h => sizes.GetValueOrDefault(h));
            var t = m.Manifest.Trailer;
            return new ImageSummary(m.Name, m.Manifest.Header.Created, m.Manifest.Header.DiskLength, t.Chunks.Count, t.TotalUncompressed, stored, unique);
        }).ToList();
    }

    private async Task<List<(string Name, ImageManifest Manifest)>> LoadManifestsAsync(CancellationToken cancel)
    {
        var list = new List<(string, ImageManifest)>();
        await foreach (var o in backend.ListAsync(ImagePrefix, cancel).ConfigureAwait(false))
        {
            var name = o.Key[ImagePrefix.Length..];
            var bytes = await backend.GetAsync(o.Key, cancel).ConfigureAwait(false);
            if (bytes is null) continue; // removed meanwhile
            try { list.Add((name, ImageManifest.Parse(bytes))); }
            catch (ImageFormatException e) { throw new StoreException($"manifest of '{name}' is corrupt: {e.Message}"); }
        }
        return list;
    }

    public async Task DeleteAsync(string image, CancellationToken cancel)
    {
        var key = ImageKey(CheckName(image));
        if (await backend.SizeAsync(key, cancel).ConfigureAwait(false) is null) throw new ImageNotFoundException(image);
        _manifests.Forget(image);
        await backend.DeleteAsync(key, cancel).ConfigureAwait(false);
        _manifests.Forget(image);
    }

    // ---- garbage collection -------------------------------------------------------------------------

    /// <summary>
    /// Removes every chunk no committed manifest names. It runs only while no ingest session holds a lease,
    /// and no ingest starts while it runs (docs/store-protocol.md, "Garbage collection"): a chunk an ingest
    /// was told the store holds, or has sent but not yet committed, is never removed under it.
    /// </summary>
    public async Task<GcReport> CollectGarbageAsync(CancellationToken cancel)
    {
        var key = LockPrefix + GcLock + Guid.NewGuid().ToString("N");
        await WriteLockAsync(key, "gc", cancel, TimeSpan.FromHours(1)).ConfigureAwait(false);
        try
        {
            int ingests = await CountLiveLocksAsync(IngestLock, null, cancel, removeExpired: true).ConfigureAwait(false);
            if (ingests > 0)
                throw new StoreConflictException($"{ingests} ingest session(s) are open; garbage collection runs when none is");
            if (await AnyLiveLockAsync(GcLock, except: key, cancel).ConfigureAwait(false))
                throw new StoreConflictException("another garbage collection is running");

            var manifests = await LoadManifestsAsync(cancel).ConfigureAwait(false);
            var referenced = manifests.SelectMany(m => m.Manifest.Trailer.Chunks).Select(c => ChunkHash.From(c.Hash)).ToHashSet();
            int kept = 0, removed = 0;
            long bytes = 0;
            var doomed = new List<StoreObject>();
            await foreach (var o in backend.ListAsync(ChunkPrefix, cancel).ConfigureAwait(false))
            {
                if (ChunkHash.TryParse(o.Key[(o.Key.LastIndexOf('/') + 1)..], out var h) && referenced.Contains(h)) kept++;
                else doomed.Add(o);
            }
            await Parallel.ForEachAsync(doomed, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancel },
                async (o, ct) => await backend.DeleteAsync(o.Key, ct).ConfigureAwait(false)).ConfigureAwait(false);
            removed = doomed.Count;
            bytes = doomed.Sum(o => o.Size);
            if (backend is FolderBackend folder) folder.RemoveStaleTemporaries(TimeSpan.FromHours(1));
            return new GcReport(manifests.Count, kept, removed, bytes);
        }
        finally
        {
            await backend.DeleteAsync(key, CancellationToken.None).ConfigureAwait(false);
        }
    }
}
