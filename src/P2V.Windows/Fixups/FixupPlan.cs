using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.VirtualDisks;

namespace P2V.Windows.Fixups;

/// <summary>What <c>p2v fixup</c> is asked to do.</summary>
public sealed record FixupOptions
{
    public required TargetHypervisor Target { get; init; }
    public int Vcpus { get; init; } = 1;
    /// <summary>The patch library folder (docs/fixups.md); null to use only the installation's own cabinets.</summary>
    public string? PatchDirectory { get; init; }
    /// <summary>The hardware-specific services to disable; null for the default file beside the program.</summary>
    public HardwareServiceList? HardwareServices { get; init; }
    /// <summary>A folder of Windows driver packages to install the target's paravirtual storage and network drivers from (docs/drivers-and-firstboot.md); null for none.</summary>
    public string? DriverDirectory { get; init; }
    /// <summary>Scripts to run once at the migrated system's first start, in this order; empty for none.</summary>
    public IReadOnlyList<string> FirstBootScripts { get; init; } = [];
    /// <summary>Go ahead on a volume that is marked dirty or whose $LogFile Windows would replay.</summary>
    public bool Force { get; init; }
}

internal sealed record PlannedStep(string Name, string Title, List<string> Details, Action<FixupWriter> Apply);

/// <summary>
/// The fix-ups planned for one disk: built by <see cref="FixupPlanner.Plan"/> from what the volume holds
/// (nothing written), shown by <c>--dry-run</c>, carried out by <see cref="Apply"/>.
/// </summary>
public sealed class FixupPlan
{
    private readonly List<PlannedStep> _steps;

    internal FixupPlan(IVirtualDisk disk, NtfsVolume volume, WindowsFacts facts, FixupReport report, List<PlannedStep> steps)
    {
        Disk = disk;
        Volume = volume;
        Facts = facts;
        Report = report;
        _steps = steps;
        report.Plan.AddRange(steps.Select(s => new FixupStepSummary(s.Name, s.Title, s.Details)));
    }

    public IVirtualDisk Disk { get; }
    public NtfsVolume Volume { get; }
    public WindowsFacts Facts { get; }
    /// <summary>The report so far: the plan, warnings and errors (a plan with errors is not applied).</summary>
    public FixupReport Report { get; }
    public int StepCount => _steps.Count;

    /// <summary>
    /// Carries the plan out, step by step, saving the report (and the old bytes of replaced files, in
    /// "<paramref name="reportPath"/>.files") before each write. <paramref name="afterStep"/> is called with the
    /// number of steps done after each one (the CLI's P2V_FAULT_AFTER uses it to stop the process there).
    /// </summary>
    public FixupReport Apply(string? reportPath, Action<int>? afterStep = null)
    {
        if (Report.Errors.Count > 0)
            throw new InvalidOperationException($"the fix-up plan has errors: {string.Join("; ", Report.Errors)}");
        var writer = new FixupWriter(Disk, Volume, Report, reportPath);
        if (reportPath is not null) Report.Save(reportPath);
        for (int i = 0; i < _steps.Count; i++)
        {
            _steps[i].Apply(writer);
            Disk.Flush();
            if (reportPath is not null) Report.Save(reportPath);
            afterStep?.Invoke(i + 1);
        }
        Report.Complete = true;
        Report.FinishedUtc = DateTime.UtcNow;
        if (reportPath is not null) Report.Save(reportPath);
        return Report;
    }
}
