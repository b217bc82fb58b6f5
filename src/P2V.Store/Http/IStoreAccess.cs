using Microsoft.AspNetCore.Http;

namespace P2V.Store.Http;

/// <summary>What a request wants to do in the store.</summary>
public enum StoreOperation
{
    /// <summary>List the committed images.</summary>
    List,
    /// <summary>Read one image: its manifest and its chunks.</summary>
    Read,
    /// <summary>Ingest (create) one image.</summary>
    Write,
    /// <summary>Remove one image.</summary>
    Delete,
    /// <summary>Collect garbage.</summary>
    CollectGarbage,
}

/// <summary>The answer to a request: go on, who are you (401), or not you (403).</summary>
public enum StoreAccessDecision
{
    Allow,
    Unauthenticated,
    Forbidden,
}

/// <summary>
/// The authorization seam the host implements (docs/store-protocol.md, "Authorization"): the controller
/// maps an admin token to everything and a job token to reading the image its job names or writing the
/// image its job creates. <paramref name="image"/> is null for store-wide operations.
/// </summary>
public interface IStoreAccess
{
    ValueTask<StoreAccessDecision> AuthorizeAsync(HttpContext context, StoreOperation operation, string? image);
}

/// <summary>One bearer token that may do everything (a standalone store, tests); no token or another gets 401.</summary>
public sealed class AdminTokenAccess(string adminToken) : IStoreAccess
{
    public ValueTask<StoreAccessDecision> AuthorizeAsync(HttpContext context, StoreOperation operation, string? image) =>
        ValueTask.FromResult(BearerToken(context) is { } t && FixedTimeEquals(t, adminToken)
            ? StoreAccessDecision.Allow : StoreAccessDecision.Unauthenticated);

    /// <summary>The token of an "Authorization: Bearer TOKEN" header, or null.</summary>
    public static string? BearerToken(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
    }

    public static bool FixedTimeEquals(string a, string b) =>
        System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));
}
