using System.Text.Json.Serialization;

namespace P2V.Migration.Reporting;

/// <summary>`p2v report --json`: the same report, generated at build time (NativeAOT-safe), camelCase.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(MigrationReport))]
public sealed partial class ReportJson : JsonSerializerContext;
