using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using P2V.Imaging;

namespace P2V.Windows.Fixups;

/// <summary>
/// One change made to the disk, with what undoing it needs: a replaced file's old bytes (kept in the
/// report's backup folder, named by their SHA-256), a file's old attributes, a registry value's old type and
/// data (informational: the hive file's own "file" change restores it), or a byte range's old bytes.
/// </summary>
public sealed record FixupChange
{
    public const string FileKind = "file", AttributesKind = "attributes", RegistryKind = "registry", BytesKind = "bytes",
        NewFileKind = "new file", NewDirectoryKind = "new directory";

    /// <summary>"file", "attributes", "registry", "bytes", "new file" (undo deletes it) or "new directory" (undo removes it when empty).</summary>
    public required string Kind { get; init; }
    /// <summary>The fix-up it belongs to: "boot sector", "drivers", "first boot", "registry", "hal", "boot.ini".</summary>
    public required string Step { get; init; }
    public required string Description { get; init; }

    /// <summary>A path on the volume (file, attributes) or the hive file (registry).</summary>
    public string? Path { get; init; }

    public string? OldSha256 { get; init; }
    public string? NewSha256 { get; init; }
    public long? OldLength { get; init; }
    public long? NewLength { get; init; }
    /// <summary>The old content, relative to the report's folder.</summary>
    public string? Backup { get; init; }
    /// <summary>Where the new content came from (a patch library file, a cabinet, or "edited").</summary>
    public string? Source { get; init; }

    public uint? OldAttributes { get; init; }
    public uint? NewAttributes { get; init; }

    public string? Key { get; init; }
    public string? Value { get; init; }
    public string? OldKind { get; init; }
    /// <summary>Hex; null when the value did not exist.</summary>
    public string? OldData { get; init; }
    public string? NewKind { get; init; }
    /// <summary>Hex; null when the value was deleted.</summary>
    public string? NewData { get; init; }
    public bool KeyCreated { get; init; }
    /// <summary>The highest key the fix-up created on the way to <see cref="Key"/> (undo removes the keys up to it when empty).</summary>
    public string? CreatedKey { get; init; }

    /// <summary>Byte offset on the disk (boot sector fields).</summary>
    public long? DiskOffset { get; init; }
    public string? OldBytes { get; init; }
    public string? NewBytes { get; init; }
}

/// <summary>A planned fix-up: what it will do, line by line.</summary>
public sealed record FixupStepSummary(string Name, string Title, IReadOnlyList<string> Details);

/// <summary>The fix-up report (JSON and text): the installation, the plan, every change made, and what went wrong.</summary>
public sealed record FixupReport
{
    public const int CurrentVersion = 1;
    public int FormatVersion { get; init; } = CurrentVersion;
    public required string Disk { get; init; }
    /// <summary>Where the system volume starts on the disk.</summary>
    public long VolumeOffset { get; init; }
    public int? PartitionNumber { get; init; }
    public required string Target { get; init; }
    public int Vcpus { get; init; }
    public bool DryRun { get; init; }
    /// <summary>False while the fix-up runs (the report is rewritten after each step) and when it was interrupted.</summary>
    public bool Complete { get; set; }
    public DateTime StartedUtc { get; init; }
    public DateTime? FinishedUtc { get; set; }
    public string? Windows { get; init; }
    public string? InstalledHal { get; init; }
    public string? InstalledKernel { get; init; }
    public List<FixupStepSummary> Plan { get; init; } = [];
    public List<FixupChange> Changes { get; init; } = [];
    /// <summary>The driver packages installed (--drivers), one line each: INF, model, devices, service.</summary>
    public List<string> DriversInstalled { get; init; } = [];
    /// <summary>The driver packages left out, with the reason.</summary>
    public List<string> DriversSkipped { get; init; } = [];
    /// <summary>The first-boot scripts installed (--firstboot), as paths on the volume, in the order they run.</summary>
    public List<string> FirstBootScripts { get; init; } = [];
    public List<string> Warnings { get; init; } = [];
    public List<string> Errors { get; init; } = [];
    /// <summary>Set by --undo once every change was reverted.</summary>
    public DateTime? UndoneUtc { get; set; }

    public string ToJson() => JsonSerializer.Serialize(this, FixupJsonContext.Default.FixupReport);

    public static FixupReport FromJson(string json, string name)
    {
        try
        {
            var report = JsonSerializer.Deserialize(json, FixupJsonContext.Default.FixupReport)
                ?? throw new InvalidDataException($"{name}: empty fix-up report");
            if (report.FormatVersion != CurrentVersion) throw new InvalidDataException($"{name}: fix-up report format {report.FormatVersion}, expected {CurrentVersion}");
            return report;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{name}: not a fix-up report: {e.Message}", e);
        }
    }

    /// <summary>Writes the JSON through a temporary file renamed over the target, so a crash never leaves half a report.</summary>
    public void Save(string path)
    {
        AtomicFile.WriteAllText(path, ToJson());
        AtomicFile.WriteAllText(System.IO.Path.ChangeExtension(path, ".txt"), ToText());
    }

    public string ToText()
    {
        var sb = new StringBuilder();
        sb.AppendLine($"p2v fixup of {Disk} (volume at byte {VolumeOffset}{(PartitionNumber is int n ? $", partition {n}" : "")}) for {Target}, {Vcpus} vCPU{(Vcpus == 1 ? "" : "s")}{(DryRun ? " — DRY RUN, nothing written" : "")}");
        if (Windows is not null) sb.AppendLine($"Windows: {Windows}");
        if (InstalledHal is not null) sb.AppendLine($"HAL: {InstalledHal}");
        if (InstalledKernel is not null) sb.AppendLine($"Kernel: {InstalledKernel}");
        sb.AppendLine();
        sb.AppendLine("Plan:");
        foreach (var step in Plan)
        {
            sb.AppendLine($"  [{step.Name}] {step.Title}");
            foreach (var d in step.Details) sb.AppendLine($"      {d}");
        }
        if (!DryRun)
        {
            sb.AppendLine();
            sb.AppendLine($"Changes made ({Changes.Count}){(Complete ? "" : " — INCOMPLETE: the fix-up stopped before its end")}:");
            foreach (var c in Changes) sb.AppendLine($"  [{c.Step}] {c.Description}");
        }
        if (DriversInstalled.Count > 0 || DriversSkipped.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Drivers:");
            foreach (var d in DriversInstalled) sb.AppendLine($"  installed: {d}");
            foreach (var d in DriversSkipped) sb.AppendLine($"  skipped: {d}");
        }
        if (FirstBootScripts.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("First-boot scripts (run once, in this order):");
            foreach (var f in FirstBootScripts) sb.AppendLine($"  {f}");
        }
        foreach (var w in Warnings) sb.AppendLine($"warning: {w}");
        foreach (var e in Errors) sb.AppendLine($"error: {e}");
        if (UndoneUtc is { } u) sb.AppendLine($"Undone at {u:u}.");
        return sb.ToString();
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(FixupReport))]
internal sealed partial class FixupJsonContext : JsonSerializerContext;
