using System.Text.Json.Serialization;

namespace P2V.Store.Http;

/// <summary>The answer to opening an ingest session.</summary>
public sealed record SessionResponse(string Session, string Image, int LeaseSeconds);

/// <summary>The answer to a chunk upload: records received, and of those newly kept (the rest were there already).</summary>
public sealed record ChunksReceived(int Received);

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
