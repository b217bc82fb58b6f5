using System.Globalization;
using System.Text;
using P2V.Migration.Planning;

namespace P2V.Migration.VmConfigs;

/// <summary>
/// A PowerShell script that creates the VM on a Hyper-V host with the Hyper-V module: generation 1 (BIOS, IDE boot,
/// a floppy drive, legacy network adapters — the devices pre-Vista Windows has drivers for), static memory.
/// </summary>
public static class HyperVScript
{
    public static string Write(MigrationPlan plan)
    {
        VmConfigGuard.NoVirtio(plan);
        var s = new StringBuilder();
        void L(string line) => s.Append(line).Append("\r\n");
        L($"# Hyper-V VM '{plan.Name}' for a migrated {plan.Guest.Product ?? "machine"}: written by p2v plan; run by {plan.Name}_CreateVM.ps1 after p2v createvm made the disks.");
        L("#Requires -Modules Hyper-V");
        L("$ErrorActionPreference = 'Stop'");
        // The seed's step 2, "creates virtual networks": a switch the host lacks is made internal (host and guests);
        // binding it to a physical adapter (-NetAdapterName) is the administrator's choice.
        foreach (var net in plan.Networks)
            L($"if (-not (Get-VMSwitch -Name {Q(net.Name)} -ComputerName {Q(plan.DestHost)} -ErrorAction SilentlyContinue)) {{ New-VMSwitch -Name {Q(net.Name)} -ComputerName {Q(plan.DestHost)} -SwitchType Internal | Out-Null }}");
        L($"$vm = New-VM -Name {Q(plan.Name)} -ComputerName {Q(plan.DestHost)} -Generation 1 -MemoryStartupBytes {plan.MemoryMB}MB -Path {Q(plan.VmConfigPath)} -NoVHD");
        L("Set-VMMemory -VM $vm -DynamicMemoryEnabled $false");
        L($"Set-VMProcessor -VM $vm -Count {plan.Vcpus.ToString(CultureInfo.InvariantCulture)}");
        L("# New-VM adds a DVD drive on IDE 1:0 and a synthetic adapter; the disks may need the slot, the guest a legacy adapter.");
        L("Get-VMDvdDrive -VM $vm | Remove-VMDvdDrive");
        L("Get-VMNetworkAdapter -VM $vm | Remove-VMNetworkAdapter");
        foreach (var n in plan.Nics)
            L($"Add-VMNetworkAdapter -VM $vm -Name {Q(n.Source)} -SwitchName {Q(n.Network)} -StaticMacAddress {Q(n.Mac.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant())}{(n.Model == "legacy" ? " -IsLegacy $true" : "")}");
        // Generation 1 VMs start without SCSI controllers; they are added in order 0, 1, ...
        int scsiControllers = plan.Disks.Where(d => d.Bus == VmDiskBus.Scsi).Select(d => d.Controller + 1).DefaultIfEmpty(0).Max();
        for (int i = 0; i < scsiControllers; i++)
            L("Add-VMScsiController -VM $vm");
        foreach (var d in plan.Disks)
            L($"Add-VMHardDiskDrive -VM $vm -ControllerType {(d.Bus == VmDiskBus.Ide ? "IDE" : "SCSI")} -ControllerNumber {d.Controller} -ControllerLocation {d.Unit} -Path {Q(d.File)}");
        L($"Set-VMFloppyDiskDrive -VM $vm -Path {Q(plan.Floppy)}");
        // Generation 1 wants all four devices in the order; the floppy's iPXE runs first, then the disk once deployed.
        L("Set-VMBios -VM $vm -StartupOrder @('Floppy', 'IDE', 'LegacyNetworkAdapter', 'CD')");
        return s.ToString();
    }

    /// <summary>A PowerShell single-quoted string: nothing expands; a quote is doubled.</summary>
    internal static string Q(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
