using P2V.Store.Backends;

namespace P2V.Store.Tests;

/// <summary>The shared s3rver (tests/Shared/S3rver.cs) for a test class, handing out backends on new, empty buckets.</summary>
public sealed class S3rverFixture : IDisposable
{
    private readonly S3rver _server = new();

    /// <summary>Why the S3 tests cannot run here, or null when they can.</summary>
    public string? Unavailable => _server.Unavailable;

    /// <summary>A backend on a new, empty bucket.</summary>
    public async Task<S3Backend> NewBackendAsync()
    {
        var backend = new S3Backend(new S3Location(_server.NewBucketName(), _server.Endpoint, S3rver.AccessKey, S3rver.SecretKey));
        await backend.EnsureBucketAsync(CancellationToken.None);
        return backend;
    }

    public void Dispose() => _server.Dispose();
}
