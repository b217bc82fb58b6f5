using System.Text.Json.Serialization;

namespace P2V.Store.Http;

/// <summary>The answer to opening an ingest session.</summary>
public sealed record SessionResponse(string Session, string Image, int LeaseSeconds);

/// <summary>
/// The answer to a chunk upload: records received, and those the store holds otherwise than they were sent (another
/// sender's copy got there first, perhaps in another codec): what the sender's manifest must record for them.
/// </summary>
public sealed record ChunksReceived(int Received, List<HeldOtherwise> HeldOtherwise);

/// <summary>A chunk as the store holds it: hash (hex), codec byte, stored length.</summary>
public sealed record HeldOtherwise(string Hash, byte Codec, int Stored);

/// <summary>A failed request's one-line reason.</summary>
public sealed record StoreError(string Error);

/// <summary>Source-generated JSON for the store's HTTP API (trim- and NativeAOT-clean).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(SessionResponse))]
[JsonSerializable(typeof(ChunksReceived))]
[JsonSerializable(typeof(StoreError))]
[JsonSerializable(typeof(ImageSummary))]
[JsonSerializable(typeof(List<ImageSummary>))]
[JsonSerializable(typeof(GcReport))]
public sealed partial class StoreJson : JsonSerializerContext;
