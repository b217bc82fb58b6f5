using System.Text.Json;
using System.Text.Json.Serialization;
using P2V.Controller.Devices;
using P2V.Controller.Jobs;

namespace P2V.Controller.Api;

/// <summary>Every type the API reads or writes, serialized by source generation (no reflection: the p2v binary is NativeAOT).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(IReadOnlyList<string>))]
[JsonSerializable(typeof(Device))]
[JsonSerializable(typeof(List<Device>))]
[JsonSerializable(typeof(DeviceRequest))]
[JsonSerializable(typeof(DeviceChange))]
[JsonSerializable(typeof(Job))]
[JsonSerializable(typeof(List<Job>))]
[JsonSerializable(typeof(JobRequest))]
[JsonSerializable(typeof(CreatedJob))]
[JsonSerializable(typeof(List<JobLogLine>))]
[JsonSerializable(typeof(List<JobReport>))]
[JsonSerializable(typeof(AgentJob))]
[JsonSerializable(typeof(JobProgress))]
[JsonSerializable(typeof(AgentReport))]
[JsonSerializable(typeof(AgentCompletion))]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(Health))]
// The route and query parameters' types: the OpenAPI document describes them through this context too (under NativeAOT
// there is no reflection fallback to ask instead).
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(long))]
[JsonSerializable(typeof(long?))]
[JsonSerializable(typeof(int?))]
[JsonSerializable(typeof(bool?))]
public sealed partial class ControllerJson : JsonSerializerContext;

/// <summary>Every error answer: one line.</summary>
public sealed record ErrorBody(string Error);

public sealed record Health(string Status, string Database, int SchemaVersion);

/// <summary>POST /api/devices: create a device or update its name and inventory (inventory XML as text).</summary>
public sealed record DeviceRequest(string Mac, string? Name = null, string? Inventory = null, bool? Controlled = null,
    DeviceBootAction? BootAction = null, JobTemplate? DefaultTemplate = null);

/// <summary>PATCH /api/devices/{mac}: what to change; absent fields stay.</summary>
public sealed record DeviceChange(bool? Controlled = null, DeviceBootAction? BootAction = null, JobTemplate? DefaultTemplate = null);

/// <summary>POST /api/jobs.</summary>
public sealed record JobRequest(string Device, JobKind Kind, string? Image = null, IReadOnlyList<string>? Steps = null, JsonElement? Fixup = null);

/// <summary>The created job and its token (shown once; the boot script carries it to the agent).</summary>
public sealed record CreatedJob(Job Job, string Token);

/// <summary>GET /api/agent/job and /api/agent/next (docs/agent-protocol.md); next also carries the new job's token.</summary>
public sealed record AgentJob(long Id, JobKind Kind, string DeviceMac, string? Image, string Store, JsonElement? Fixup, JobState State,
    IReadOnlyList<string> Steps, string? Token = null);

public sealed record AgentReport(string Name, string Content);

public sealed record AgentCompletion(bool Succeeded, string? Error);
