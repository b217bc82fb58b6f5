using System.Net;
using System.Runtime.CompilerServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace P2V.Store.Backends;

/// <summary>Where an S3-compatible store is and how to sign in.</summary>
/// <param name="Endpoint">The service URL (http://127.0.0.1:9000 for a local server); null for AWS itself.</param>
public sealed record S3Location(string Bucket, string? Endpoint, string AccessKey, string SecretKey, string Region = "us-east-1", string Prefix = "");

/// <summary>
/// Objects in an S3-compatible bucket (AWSSDK.S3), one S3 object per key: a PUT is atomic, so no reader
/// ever sees part of an object. Path-style addressing, so any S3-speaking server works.
/// </summary>
public sealed class S3Backend : IStoreBackend, IDisposable
{
    private readonly AmazonS3Client _s3;
    private readonly S3Location _location;

    public S3Backend(S3Location location)
    {
        _location = location;
        var config = new AmazonS3Config
        {
            ForcePathStyle = true,
            AuthenticationRegion = location.Region,
            // Chunks are checked by their BLAKE3; a request checksum on top is work without news.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (location.Endpoint is { } endpoint) config.ServiceURL = endpoint;
        else config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(location.Region);
        _s3 = new AmazonS3Client(new BasicAWSCredentials(location.AccessKey, location.SecretKey), config);
    }

    public string Location => $"s3://{_location.Bucket}/{_location.Prefix}" + (_location.Endpoint is { } e ? $" at {e}" : "");

    private string Key(string key) => _location.Prefix + key;

    /// <summary>Creates the bucket when it does not exist yet.</summary>
    public async Task EnsureBucketAsync(CancellationToken cancel)
    {
        try { await _s3.PutBucketAsync(new PutBucketRequest { BucketName = _location.Bucket }, cancel).ConfigureAwait(false); }
        catch (AmazonS3Exception e) when (e.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists") { }
    }

    public async Task PutAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel)
    {
        using var body = new MemoryStream(data.ToArray(), writable: false);
        await Wrap(key, () => _s3.PutObjectAsync(new PutObjectRequest
        {
            BucketName = _location.Bucket,
            Key = Key(key),
            InputStream = body,
            AutoCloseStream = false,
            UseChunkEncoding = false,
        }, cancel)).ConfigureAwait(false);
    }

    /// <summary>
    /// HEAD, then PUT: S3 servers without conditional writes (If-None-Match) leave a window in which two
    /// writers of one key both succeed. Image names are unique per capture job, so two commits of one
    /// name at the same instant do not happen in practice; the folder backend closes the window.
    /// </summary>
    public async Task<bool> PutIfAbsentAsync(string key, ReadOnlyMemory<byte> data, CancellationToken cancel, bool durable = true)
    {
        if (await SizeAsync(key, cancel).ConfigureAwait(false) is not null) return false;
        await PutAsync(key, data, cancel).ConfigureAwait(false);
        return true;
    }

    public async Task<byte[]?> GetAsync(string key, CancellationToken cancel)
    {
        try
        {
            using var response = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _location.Bucket, Key = Key(key) }, cancel).ConfigureAwait(false);
            var bytes = new byte[response.ContentLength];
            await response.ResponseStream.ReadExactlyAsync(bytes, cancel).ConfigureAwait(false);
            return bytes;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (AmazonServiceException e)
        {
            throw new StoreException($"{Location}: reading {key}: {e.Message}");
        }
    }

    /// <summary>A ranged GET: the prefix, and the object's size from Content-Range ("bytes 0-7/SIZE").</summary>
    public async Task<(long Size, byte[] Prefix)?> HeadAsync(string key, int length, CancellationToken cancel)
    {
        try
        {
            using var response = await _s3.GetObjectAsync(new GetObjectRequest { BucketName = _location.Bucket, Key = Key(key), ByteRange = new ByteRange(0, length - 1) }, cancel).ConfigureAwait(false);
            var prefix = new byte[response.ContentLength];
            await response.ResponseStream.ReadExactlyAsync(prefix, cancel).ConfigureAwait(false);
            var range = response.ContentRange;
            long size = range is { } r && r.LastIndexOf('/') is int slash and >= 0 && long.TryParse(r.AsSpan(slash + 1), out long total) ? total : prefix.Length;
            return (size, prefix);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (AmazonServiceException e)
        {
            throw new StoreException($"{Location}: reading the start of {key}: {e.Message}");
        }
    }

    public async Task<long?> SizeAsync(string key, CancellationToken cancel)
    {
        try
        {
            var meta = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _location.Bucket, Key = Key(key) }, cancel).ConfigureAwait(false);
            return meta.ContentLength;
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (AmazonServiceException e)
        {
            throw new StoreException($"{Location}: looking up {key}: {e.Message}");
        }
    }

    public async IAsyncEnumerable<StoreObject> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancel)
    {
        var request = new ListObjectsV2Request { BucketName = _location.Bucket, Prefix = Key(prefix) };
        while (true)
        {
            ListObjectsV2Response page;
            try { page = await _s3.ListObjectsV2Async(request, cancel).ConfigureAwait(false); }
            catch (AmazonServiceException e) { throw new StoreException($"{Location}: listing {prefix}: {e.Message}"); }
            foreach (var o in page.S3Objects ?? [])
                yield return new StoreObject(o.Key[_location.Prefix.Length..], o.Size ?? 0, o.LastModified is { } t ? new DateTimeOffset(t.ToUniversalTime()) : DateTimeOffset.MinValue);
            if (page.IsTruncated != true) yield break;
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    /// <summary>An S3 PUT is durable when it returns.</summary>
    public Task FlushAsync(CancellationToken cancel) => Task.CompletedTask;

    public Task DeleteAsync(string key, CancellationToken cancel) =>
        Wrap(key, () => _s3.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _location.Bucket, Key = Key(key) }, cancel));

    private async Task Wrap<T>(string key, Func<Task<T>> call)
    {
        try { await call().ConfigureAwait(false); }
        catch (AmazonServiceException e) { throw new StoreException($"{Location}: writing {key}: {e.Message}"); }
    }

    public void Dispose() => _s3.Dispose();
}
