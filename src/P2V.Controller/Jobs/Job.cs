using System.Text.Json;
using System.Text.Json.Serialization;

namespace P2V.Controller.Jobs;

/// <summary>What a job does; its <see cref="Job.Steps"/> are the task sequence the agent runs.</summary>
public enum JobKind
{
    /// <summary>Image the source's disks into the store (the source document's capture job).</summary>
    [JsonStringEnumMemberName("capture")] Capture,
    /// <summary>Write an image into the target VM's disks and fix Windows up.</summary>
    [JsonStringEnumMemberName("deploy")] Deploy,
    /// <summary>Boot the device from its own disk again (the source document's ResetVM job).</summary>
    [JsonStringEnumMemberName("reset")] Reset,
    /// <summary>Only the steps given.</summary>
    [JsonStringEnumMemberName("custom")] Custom,
}

/// <summary>queued → claimed (its token used for the first time) → running (first progress) → an end state.</summary>
public enum JobState
{
    [JsonStringEnumMemberName("queued")] Queued,
    [JsonStringEnumMemberName("claimed")] Claimed,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

/// <summary>The agent's latest progress report (docs/agent-protocol.md).</summary>
public sealed record JobProgress(string? Phase, long BytesDone, long BytesTotal, double BytesPerSecond, double? EtaSeconds, string? Message);

/// <summary>
/// A task sequence for one device, with its state, latest progress and times. The job's token is not part of it:
/// only the boot script and the creator ever see that.
/// </summary>
public sealed record Job(
    long Id,
    string DeviceMac,
    JobKind Kind,
    IReadOnlyList<string> Steps,
    JobState State,
    string? Image,
    JsonElement? Fixup,
    JobProgress Progress,
    string? Error,
    string? ClaimedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ClaimedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    long Revision)
{
    public bool IsActive => State is JobState.Queued or JobState.Claimed or JobState.Running;
    public bool IsFinished => !IsActive;
}

public static class JobWords
{
    public static string Of(JobKind k) => k.ToString().ToLowerInvariant();
    public static string Of(JobState s) => s.ToString().ToLowerInvariant();

    public static JobKind ParseKind(string word) => word.ToLowerInvariant() switch
    {
        "capture" => JobKind.Capture,
        "deploy" => JobKind.Deploy,
        "reset" or "reset-vm" => JobKind.Reset,
        "custom" => JobKind.Custom,
        _ => throw new ArgumentException($"job kind must be capture, deploy, reset or custom, not '{word}'"),
    };

    public static JobState ParseState(string word) => Enum.TryParse<JobState>(word, ignoreCase: true, out var s) && Enum.IsDefined(s)
        ? s : throw new ArgumentException($"job state must be queued, claimed, running, succeeded, failed or cancelled, not '{word}'");

    /// <summary>The task sequence a kind runs when the creator names no steps.</summary>
    public static IReadOnlyList<string> DefaultSteps(JobKind kind) => kind switch
    {
        JobKind.Capture => ["gather", "capture"],
        JobKind.Deploy => ["deploy", "fixup"],
        JobKind.Reset => ["boot-local-disk"],
        _ => [],
    };
}

/// <summary>A line of a job's log, numbered so a reader can ask for what came after.</summary>
public sealed record JobLogLine(long Id, DateTimeOffset At, string Line);

/// <summary>A named report an agent left with its job (volume checks, the fix-up report).</summary>
public sealed record JobReport(string Name, string Content, DateTimeOffset At);
