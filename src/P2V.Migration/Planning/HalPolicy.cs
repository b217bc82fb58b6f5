using P2V.Migration.Inventory;
using P2V.Windows;

namespace P2V.Migration.Planning;

public enum HalAction
{
    /// <summary>The installed HAL stays: a uniprocessor HAL, a HAL-adaptive Windows (6.0+), or an MP HAL on a multi-CPU target.</summary>
    Keep,
    /// <summary>The deploy fix-up swaps the multiprocessor HAL and kernel for their uniprocessor versions (the seed's VSMT patches).</summary>
    SwapToUniprocessor,
}

public sealed record HalDecision(HalAction Action, int Vcpus, string Reason);

/// <summary>
/// How many virtual CPUs the VM gets and whether the HAL is swapped; one decision used by validation, the plan
/// and every configuration writer so they cannot disagree.
/// </summary>
public static class HalPolicy
{
    public static HalDecision Decide(SourceInventory inv, TargetHypervisor? target)
    {
        int sourceCpus = Math.Max(1, inv.Processors.Threads);
        int max = target?.MaxVcpus ?? 1;
        var w = inv.Windows?.Facts;
        if (w == null || !w.HasFixedHal)
            return new(HalAction.Keep, Math.Min(sourceCpus, max),
                w == null ? "no Windows installation found: as many vCPUs as the source has, up to the target's limit"
                          : $"Windows {w.Version} picks its HAL at boot");
        if (w.HalType.IsMultiprocessor())
        {
            // The seed's targets emulate one processor; with no target named, plan for that.
            if (max == 1)
                return new(HalAction.SwapToUniprocessor, 1, $"{w.HalName} drives several processors and the VM has one: swapped for the uniprocessor HAL and kernel");
            return new(HalAction.Keep, Math.Min(sourceCpus, max), $"{w.HalName} drives several processors; the VM gets {Math.Min(sourceCpus, max)}");
        }
        return new(HalAction.Keep, 1, w.HalName == null ? "the HAL could not be identified: one vCPU is safe for any HAL" : $"{w.HalName} drives one processor");
    }
}
