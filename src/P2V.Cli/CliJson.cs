using System.Text.Json.Serialization;

namespace P2V.Cli;

// What --json prints, one record per command; the field names are the scripts' contract (camelCase).

public sealed record CaptureSummary(string Image, long BytesRead, long BytesCaptured, long ZeroBytesSkipped, long ImageBytes, int Chunks,
    double Seconds, double CpuSeconds, IReadOnlyList<CapturedVolume> Volumes,
    long? BytesSent = null, long? ChunksSent = null, long? ChunksDeduplicated = null, long? StoredBytes = null,
    IReadOnlyList<string>? Warnings = null);

public sealed record CapturedVolume(int Index, long DeclaredUsedBytes, long BytesRead, long BytesCaptured, long ZeroBytesSkipped);

public sealed record RestoreSummary(string Target, string Format, long BytesWritten, long ZeroBytesSkipped, int Chunks, double Seconds, double CpuSeconds);

public sealed record ImageSummary(long DiskBytes, int SectorSize, string PartitionTable, string Created, string Tool, int Chunks,
    long UncompressedBytes, long StoredBytes, long FileBytes, IReadOnlyList<ImageCodec> Codecs, IReadOnlyList<ImageVolume> Volumes, string Source);

/// <summary>The chunks of one codec in an image: how many, their bytes, and what they take stored.</summary>
public sealed record ImageCodec(string Codec, int Chunks, long UncompressedBytes, long StoredBytes);

public sealed record ImageVolume(int Index, string Kind, int Partition, long Offset, long Length, int ClusterSize, string Label, int Extents,
    long DeclaredUsedBytes, long? BytesRead, long? BytesCaptured, long? ZeroBytesSkipped);

/// <param name="LegacyRecords">A store image's chunks its manifest records in the form before the codec fix (docs/store-protocol.md, "Codecs").</param>
public sealed record VerifySummary(string Image, bool Ok, int Chunks, long Bytes, int LegacyRecords = 0);

public sealed record DiskSummary(string File, string Format, long VirtualSize, int LogicalSectorSize, int PhysicalSectorSize, long? BlockSize,
    long FileSize, long AllocatedBytes, int AllocatedExtents, string? Creator, string? DiskId, string? Parent, string? Geometry);

public sealed record ValidationSummary(string Inventory, string? Target, int Errors, int Warnings, IReadOnlyList<ValidationFinding> Findings);

public sealed record ValidationFinding(string Rule, string Severity, string Subject, string Message, string Fix);

public sealed record CreateVmSummary(string Name, string Config, string Floppy, string Device, bool Registered, IReadOnlyList<string> Disks,
    string? Controller, string? DeviceMac, long? DeployJob, string? Image);

/// <summary>The assembly's one serializer: every --json result and the job settings it sends, generated at build time: no reflection, NativeAOT-safe.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(CaptureSummary))]
[JsonSerializable(typeof(RestoreSummary))]
[JsonSerializable(typeof(ImageSummary))]
[JsonSerializable(typeof(VerifySummary))]
[JsonSerializable(typeof(DiskSummary))]
[JsonSerializable(typeof(ValidationSummary))]
[JsonSerializable(typeof(CreateVmSummary))]
[JsonSerializable(typeof(P2V.Controller.Client.CleanupResult))]
[JsonSerializable(typeof(P2V.Agent.FixupSettings))] // a deploy job's fix-up settings (`p2v job create --fixup-target`)
public sealed partial class CliJsonContext : JsonSerializerContext;
