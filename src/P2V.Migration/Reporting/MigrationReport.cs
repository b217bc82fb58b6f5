namespace P2V.Migration.Reporting;

/// <summary>
/// `p2v report`: one migration from its folder and, when given, the controller's job history and store — what was
/// moved, what validation said, what the VM is, what the capture checked, what the fix-up changed and how long each
/// phase took. Written as a self-contained HTML page (<see cref="ReportHtml"/>) or as JSON (<see cref="ReportJson"/>).
/// </summary>
public sealed record MigrationReport
{
    public required string Name { get; init; }
    public required DateTimeOffset Generated { get; init; }
    public required string Folder { get; init; }
    /// <summary>The controller the history came from; null when the report was made from the folder alone.</summary>
    public string? Controller { get; init; }
    public ReportSource? Source { get; init; }
    public IReadOnlyList<ReportFinding> Findings { get; init; } = [];
    public required ReportTarget Target { get; init; }
    public IReadOnlyList<ReportImage> Images { get; init; } = [];
    /// <summary>Each captured volume's used-cluster check: what its file system declares used, what was read, captured.</summary>
    public IReadOnlyList<ReportVolume> Volumes { get; init; } = [];
    public IReadOnlyList<ReportFixup> Fixups { get; init; } = [];
    /// <summary>Drivers and first-boot actions the fix-up installed (<see cref="ReportFixup.Installed"/>), gathered.</summary>
    public IReadOnlyList<ReportInstalled> Installed { get; init; } = [];
    public IReadOnlyList<ReportPhase> Phases { get; init; } = [];
    /// <summary>What the report could not read, one line each (a missing file, a store that did not answer).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

public sealed record ReportSource(string? Computer, string? Windows, string System, string Processors, long MemoryBytes,
    IReadOnlyList<ReportSourceDisk> Disks, IReadOnlyList<ReportSourceNic> Nics, DateTimeOffset Gathered);

public sealed record ReportSourceDisk(string Name, long SizeBytes, string Bus, string Model, IReadOnlyList<string> Partitions);

public sealed record ReportSourceNic(string Name, string Mac, string Driver);

public sealed record ReportFinding(string Rule, string Severity, string Subject, string Message, string Fix);

public sealed record ReportTarget(string Hypervisor, long MemoryMB, int Vcpus, string Hal, IReadOnlyList<string> Disks, IReadOnlyList<string> Nics,
    string Floppy, string ConfigFile, string? Configuration);

/// <summary>An image in the store: its disk's size, what it stores, what only it holds, and the share it shares with others.</summary>
public sealed record ReportImage(string Name, long DiskBytes, long StoredBytes, long UniqueBytes, double DedupSavings);

public sealed record ReportVolume(string Image, int Index, string Kind, string Label, long DeclaredUsedBytes, long BytesRead, long BytesCaptured,
    long ZeroBytesSkipped)
{
    /// <summary>Every cluster the file system declares used was read, and each read byte was captured or skipped as zero.</summary>
    public bool Consistent => BytesRead >= DeclaredUsedBytes && BytesCaptured + ZeroBytesSkipped == BytesRead;
}

/// <summary>One fix-up report (P2V.Windows' FixupReport), where it came from and how to undo it.</summary>
public sealed record ReportFixup(string Origin, string Target, int Vcpus, string? Windows, string? Hal, string? Kernel, bool Complete, bool DryRun,
    DateTime Started, DateTime? Finished, IReadOnlyList<string> Plan, IReadOnlyList<string> Changes, IReadOnlyList<string> Warnings,
    IReadOnlyList<string> Errors, string UndoFile, string UndoCommand, string ReportJson);

/// <summary>A driver or first-boot action the fix-up put into the installation.</summary>
public sealed record ReportInstalled(string Kind, string Name, string Detail);

/// <summary>A phase of the migration with its times; <see cref="Origin"/> says whether a controller job or a file's time gave them.</summary>
public sealed record ReportPhase(string Name, string State, DateTimeOffset? Started, DateTimeOffset? Finished, string Origin)
{
    public double? Seconds => Started is { } s && Finished is { } f ? (f - s).TotalSeconds : null;
}
