using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>What a configuration writer refuses rather than write a VM its hypervisor cannot have.</summary>
internal static class VmConfigGuard
{
    /// <summary>Virtual Server, Hyper-V and VMware have no virtio disks (a plan edited by hand may still ask for them).</summary>
    public static void NoVirtio(MigrationPlan plan)
    {
        if (plan.Disks.FirstOrDefault(d => d.Bus == VmDiskBus.Virtio) is { } d)
            throw new ArgumentException($"disk {d.Source}: {P2V.Windows.TargetHypervisor.For(plan.Target).DisplayName} has no virtio disks (QEMU and libvirt have)");
    }
}
