using P2V.Store.Backends;

namespace P2V.Store;

/// <summary>
/// Where a store is, as the command line names it: an http(s) URL (a controller or `p2v image serve`),
/// s3://BUCKET[/PREFIX] (object storage directly; endpoint and keys from the environment), or a folder.
/// </summary>
public static class StoreLocation
{
    /// <summary>Opens the store at <paramref name="location"/>; the caller disposes the result when it is disposable.</summary>
    /// <param name="token">For an http(s) store: the admin or job token.</param>
    public static IImageStore Open(string location, string? token)
    {
        if (location.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            return new StoreClient(new Uri(location.EndsWith(Http.StoreEndpoints.Prefix, StringComparison.Ordinal) ? location[..^Http.StoreEndpoints.Prefix.Length] : location), token);
        if (location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
            return new ImageStore(new S3Backend(S3FromEnvironment(location, endpoint: null)));
        if (File.Exists(location)) throw new StoreException($"{location} is a file, not a store folder");
        return new ImageStore(new FolderBackend(location));
    }

    /// <summary>
    /// s3://BUCKET[/PREFIX] with the endpoint (or null for AWS) and the keys in AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY; AWS_REGION (default us-east-1); P2V_S3_ENDPOINT when <paramref name="endpoint"/> is null.
    /// </summary>
    public static S3Location S3FromEnvironment(string url, string? endpoint)
    {
        var rest = url["s3://".Length..];
        int slash = rest.IndexOf('/');
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? "" : rest[(slash + 1)..].TrimEnd('/');
        if (bucket.Length == 0) throw new StoreException($"{url}: no bucket named (s3://BUCKET[/PREFIX])");
        string Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v
            : throw new StoreException($"{url}: set {name} (the object store's credentials)");
        return new S3Location(bucket, endpoint ?? Environment.GetEnvironmentVariable("P2V_S3_ENDPOINT"), Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"),
            Environment.GetEnvironmentVariable("AWS_REGION") ?? "us-east-1", prefix.Length > 0 ? prefix + "/" : "");
    }

    /// <summary>Splits STORE/images/NAME (a URL or a folder path) into the store's location and the image's name; null when it has no "/images/" part.</summary>
    public static (string Store, string Image)? ParseImageReference(string reference)
    {
        int at = reference.LastIndexOf("/images/", StringComparison.Ordinal);
        if (at < 0) return null;
        var name = reference[(at + "/images/".Length)..].TrimEnd('/');
        var store = reference[..at];
        // http://host:port/api/store/images/NAME names the same image as http://host:port/images/NAME.
        if (store.EndsWith(Http.StoreEndpoints.Prefix, StringComparison.Ordinal)) store = store[..^Http.StoreEndpoints.Prefix.Length];
        if (name.Length == 0 || name.Contains('/')) return null;
        return (store.Length == 0 ? "/" : store, ImageStore.CheckName(name));
    }

    /// <summary>Whether an argument names a store image rather than a local image file.</summary>
    public static bool IsImageReference(string reference)
    {
        if (!reference.Contains("/images/", StringComparison.Ordinal)) return false;
        if (reference.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || reference.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            || reference.StartsWith("s3://", StringComparison.OrdinalIgnoreCase)) return true;
        // In a folder store, STORE/images/NAME is the manifest's own file: a folder with chunks/ beside images/ is a store.
        return !File.Exists(reference) || (ParseImageReference(reference) is { } r && Directory.Exists(Path.Combine(r.Store, "chunks")));
    }
}
