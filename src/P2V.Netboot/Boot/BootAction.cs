using System.Net.NetworkInformation;

namespace P2V.Netboot.Boot;

/// <summary>What a network-booting machine is told to do.</summary>
public enum BootAction
{
    /// <summary>No job: leave PXE and boot the machine's own disk.</summary>
    LocalDisk,
    /// <summary>Boot the capture image (a source server being imaged).</summary>
    Capture,
    /// <summary>Boot the deploy image (a target VM being written).</summary>
    Deploy,
}

/// <summary>
/// What one client boots: the action, and the kernel arguments its boot image gets beside the standard ones
/// (the controller passes its address and the job's token this way: "p2v.controller=URL p2v.token=T").
/// </summary>
public sealed record BootDecision(BootAction Action, string KernelArguments = "");

/// <summary>
/// Decides per MAC address what a client boots. The controller implements this from its job database; the
/// command line uses <see cref="BootConfigFile"/>.
/// </summary>
public interface IBootPolicy
{
    BootDecision Decide(PhysicalAddress mac);
}

/// <summary>The same action for everyone (tests, benchmarks).</summary>
public sealed class FixedBootPolicy(BootAction action) : IBootPolicy
{
    public BootDecision Decide(PhysicalAddress mac) => new(action);
}
