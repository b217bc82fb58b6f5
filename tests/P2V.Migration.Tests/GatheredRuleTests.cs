using P2V.Migration.Planning;
using P2V.Migration.Validation;
using P2V.Windows;

namespace P2V.Migration.Tests;

/// <summary>The disk rules on inventories gathered from disks made by real tools, not only on hand-built inventories.</summary>
public sealed class GatheredRuleTests(WindowsDisks disks) : IClassFixture<WindowsDisks>
{
    private static HashSet<string> Rules(string target, params string[] sources) =>
        InventoryValidator.Validate(ValidationContext.For(GatherTests.Gather("dynamic-disk", sources), TargetHypervisor.ParseKind(target)))
            .Select(f => f.RuleId).ToHashSet();

    [Fact]
    public void BasicSystemDisk_FatNoteHalSwapAndLowSpaceOnly()
    {
        var ids = Rules("virtualserver", disks.SystemDisk);
        Assert.Contains("fat-volume", ids);
        Assert.Contains("multiprocessor-hal", ids);   // halmacpi.dll (setup.log) on a one-CPU target
        Assert.Contains("system-volume-low-free-space", ids);   // the fixture's Windows volume is 32 MiB: under 100 MiB free
        foreach (var absent in new[] { "os-unsupported", "os-unknown", "dynamic-disk", "system-volume-on-dynamic-disk", "hibernated-volume", "bitlocker-volume" })
            Assert.DoesNotContain(absent, ids);
        Assert.DoesNotContain("multiprocessor-hal", Rules("qemu", disks.SystemDisk));   // QEMU takes the MP HAL with 1 vCPU per source CPU
    }

    [Fact]
    public void DynamicSystemDisk_BothDynamicRules() =>
        Assert.Superset(new HashSet<string> { "dynamic-disk", "system-volume-on-dynamic-disk" }, Rules("hyperv", disks.DynamicSystemDisk));

    [Fact]
    public void DynamicDataDisk_OnlyDynamicDisk()
    {
        var ids = Rules("hyperv", disks.SystemDisk, disks.DynamicDataDisk);
        Assert.Contains("dynamic-disk", ids);
        Assert.DoesNotContain("system-volume-on-dynamic-disk", ids);
    }

    [Fact]
    public void HibernatedAndBitLocker_AreErrors()
    {
        var findings = InventoryValidator.Validate(ValidationContext.For(GatherTests.Gather("dynamic-disk", disks.HibernatedDisk, disks.BitLockerDisk), TargetKind.Libvirt));
        Assert.Contains(findings, f => f.RuleId == "hibernated-volume" && f.Severity == Severity.Error);
        Assert.Contains(findings, f => f.RuleId == "bitlocker-volume" && f.Severity == Severity.Error);
        Assert.True(InventoryValidator.HasErrors(findings));
    }
}
