using System.Text.Json;
using System.Text.Json.Serialization;

namespace P2V.Agent;

// The agent's side of the wire (docs/agent-protocol.md, "Endpoints"). Kinds and states stay strings here: an
// agent must tell an unknown kind from a broken answer, and say which.

/// <summary>GET /api/agent/job and /api/agent/next: the job, its image, the store's URL, the fix-up settings; next also carries the new job's token.</summary>
public sealed record AgentJob(long Id, string Kind, string DeviceMac, string? Image, string? Store, JsonElement? Fixup, string State,
    IReadOnlyList<string>? Steps, string? Token = null);

/// <summary>
/// A deploy job's "fixup": the hypervisor Windows is fixed up for, the VM's vCPUs, and the URLs of three tars: the patch
/// library, the driver packages, the first-boot scripts (in the order they run).
/// </summary>
public sealed record FixupSettings(string Target, int Vcpus = 1,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Patches = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Drivers = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonPropertyName("firstboot")] string? FirstBoot = null);

/// <summary>POST /api/agent/jobs/{id}/progress.</summary>
public sealed record AgentProgress(string Phase, long BytesDone, long BytesTotal, double BytesPerSecond, double? EtaSeconds, string? Message);

/// <summary>POST /api/agent/jobs/{id}/report.</summary>
public sealed record AgentReport(string Name, string Content);

/// <summary>POST /api/agent/jobs/{id}/complete.</summary>
public sealed record AgentCompletion(bool Succeeded, string? Error);

/// <summary>Every error answer of the controller.</summary>
public sealed record AgentErrorBody(string? Error);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AgentJob))]
[JsonSerializable(typeof(AgentProgress))]
[JsonSerializable(typeof(AgentReport))]
[JsonSerializable(typeof(AgentCompletion))]
[JsonSerializable(typeof(AgentErrorBody))]
[JsonSerializable(typeof(IReadOnlyList<P2V.Imaging.Images.VolumeStats>))] // the capture report of each image
internal sealed partial class AgentJson : JsonSerializerContext;
