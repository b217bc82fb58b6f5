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
/// Decides per MAC address what a client boots. The controller implements this from its job database; the
/// command line uses <see cref="BootConfigFile"/>.
/// </summary>
public interface IBootPolicy
{
    BootAction Decide(PhysicalAddress mac);
}

/// <summary>The same action for everyone (tests, benchmarks).</summary>
public sealed class FixedBootPolicy(BootAction action) : IBootPolicy
{
    public BootAction Decide(PhysicalAddress mac) => action;
}
