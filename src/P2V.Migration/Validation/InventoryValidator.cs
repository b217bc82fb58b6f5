using P2V.Imaging.VirtualDisks;
using P2V.Migration.Inventory;
using P2V.Migration.Planning;
using P2V.Windows;

namespace P2V.Migration.Validation;

/// <summary>
/// What a rule looks at: the inventory, and the target with its limits, disk format, disk bus (null: IDE, then SCSI
/// when IDE is full) and HAL decision when one is named.
/// </summary>
public sealed record ValidationContext(SourceInventory Inventory, TargetHypervisor? Target, VirtualDiskFormat DiskFormat, HalDecision Hal, VmDiskBus? DiskBus = null)
{
    public static ValidationContext For(SourceInventory inv, TargetKind? target, VirtualDiskFormat? diskFormat = null, VmDiskBus? diskBus = null)
    {
        var limits = target is { } t ? TargetHypervisor.For(t) : null;
        // With no target, the seed's: a Virtual Server VHD.
        return new(inv, limits, diskFormat ?? limits?.DefaultDiskFormat ?? VirtualDiskFormat.Vhd, HalPolicy.Decide(inv, limits), diskBus);
    }
}

/// <summary>A check with a stable id (docs/migration.md lists them), its severity and a one-line title.</summary>
public sealed record ValidationRule(string Id, Severity Severity, string Title, Func<ValidationContext, IEnumerable<Finding>> Check);

/// <summary>The seed's VMScript /hwvalidate: runs every rule and reports the findings, errors first.</summary>
public static class InventoryValidator
{
    public static IReadOnlyList<Finding> Validate(ValidationContext context) =>
        ValidationRules.All.SelectMany(r => r.Check(context)).OrderByDescending(f => f.Severity).ThenBy(f => f.RuleId, StringComparer.Ordinal).ToList();

    public static bool HasErrors(IEnumerable<Finding> findings) => findings.Any(f => f.Severity == Severity.Error);
}
