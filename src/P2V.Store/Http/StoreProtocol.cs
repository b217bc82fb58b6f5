using Microsoft.AspNetCore.Http;

namespace P2V.Store.Http;

/// <summary>
/// The store protocol's version (docs/store-protocol.md, "Protocol version"): every request of a client and every
/// answer of a server carries it in the <see cref="Header"/> header, so that a boot image and a server of different
/// versions say so in one line instead of misreading each other's bodies.
/// </summary>
public static class StoreProtocol
{
    public const string Header = "P2V-Store-Protocol";

    /// <summary>
    /// 2: the missing-query answers 8 bytes per hash (stored length and codec) and a chunk upload answers `heldOtherwise`.
    /// 1: before the header existed (the missing-query answered a 4-byte stored length per hash); such peers send none.
    /// </summary>
    public const int Version = 2;

    /// <summary>What a peer without the header speaks.</summary>
    public const int VersionWithoutHeader = 1;

    public static string VersionText { get; } = Version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The version a header's values name: <see cref="VersionWithoutHeader"/> when absent, null when unreadable.</summary>
    public static int? Parse(IEnumerable<string?>? values)
    {
        var list = values?.Where(v => v is not null).ToList();
        if (list is null || list.Count == 0) return VersionWithoutHeader;
        return list.Count == 1 && int.TryParse(list[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v) ? v : null;
    }

    /// <summary>
    /// The server's check of a request: null when it may be served, else the one-line reason. A request without the header
    /// (protocol 1) is served where protocol 1 and 2 agree (reads, lists: also browsers and curl), refused where they differ (ingest).
    /// </summary>
    public static string? CheckRequest(HttpRequest request, bool changedSinceVersion1)
    {
        bool present = request.Headers.TryGetValue(Header, out var values);
        int? version = present ? Parse(values) : VersionWithoutHeader;
        if (version == Version || (!present && !changedSinceVersion1)) return null;
        string theirs = version is { } v ? $"this request speaks protocol {v}{(present ? "" : $" (it has no {Header} header)")}" : $"this request's {Header} header '{values}' is not a version number";
        return $"the store speaks protocol {Version}, {theirs}: use a p2v and boot image that speak protocol {Version} (the same release as the server)";
    }

    /// <summary>The client's check of an answer: null when the server speaks this version, else the one-line reason.</summary>
    public static string? CheckAnswer(System.Net.Http.HttpResponseMessage answer, Uri store)
    {
        bool present = answer.Headers.TryGetValues(Header, out var values);
        int? version = present ? Parse(values) : VersionWithoutHeader;
        if (version == Version) return null;
        string theirs = version is { } v
            ? $"the store at {store} speaks protocol {v}{(present ? "" : $" (its answer has no {Header} header)")}"
            : $"the store at {store} answered a {Header} header that is not a version number";
        return $"{theirs}, this p2v speaks {Version}: use a p2v and boot image of the server's release";
    }
}
