namespace P2V.Windows.Fixups;

/// <summary>The virtual machine a migrated installation will boot in.</summary>
public enum FixupTarget
{
    /// <summary>Microsoft Virtual Server 2005 (R2): Intel 440BX with a PIIX4 IDE controller, ACPI without an APIC, one vCPU.</summary>
    VirtualServer,
    /// <summary>Hyper-V generation 1: Intel 440BX with a PIIX4 IDE controller, ACPI with an APIC.</summary>
    HyperV,
    /// <summary>QEMU's i440fx machine: PIIX3 IDE controller, ACPI with an APIC.</summary>
    Qemu,
}

/// <summary>What a target looks like to Windows: its IDE controller and the HAL that fits it.</summary>
public static class FixupTargets
{
    public static FixupTarget Parse(string name) => name.ToLowerInvariant() switch
    {
        "virtualserver" or "virtual-server" or "vs" => FixupTarget.VirtualServer,
        "hyperv" or "hyper-v" => FixupTarget.HyperV,
        "qemu" or "kvm" => FixupTarget.Qemu,
        _ => throw new ArgumentException($"unknown target '{name}' (virtualserver, hyperv or qemu)"),
    };

    public static string Name(this FixupTarget t) => t switch
    {
        FixupTarget.VirtualServer => "virtualserver",
        FixupTarget.HyperV => "hyperv",
        _ => "qemu",
    };

    /// <summary>
    /// The PCI id of the emulated IDE controller, as a CriticalDeviceDatabase key name ('\' becomes '#'):
    /// PIIX4 (8086:7111) on Virtual Server and Hyper-V generation 1, PIIX3 (8086:7010) on QEMU's i440fx.
    /// </summary>
    public static string IdeControllerDeviceKey(this FixupTarget t) => t == FixupTarget.Qemu ? "pci#ven_8086&dev_7010" : "pci#ven_8086&dev_7111";

    /// <summary>Virtual Server 2005 gives a guest one processor.</summary>
    public static int MaxVcpus(this FixupTarget t) => t == FixupTarget.VirtualServer ? 1 : 64;

    /// <summary>
    /// The HAL Windows setup would pick on the target: ACPI everywhere; uniprocessor for one vCPU — "ACPI PC"
    /// (halacpi.dll, PIC only) on Virtual Server, which emulates no APIC, "ACPI Uniprocessor PC" (halaacpi.dll) on
    /// Hyper-V and QEMU — and "ACPI Multiprocessor PC" (halmacpi.dll) for several vCPUs.
    /// </summary>
    public static HalType Hal(this FixupTarget t, int vcpus) =>
        vcpus > 1 ? HalType.AcpiMultiprocessor : t == FixupTarget.VirtualServer ? HalType.AcpiPc : HalType.AcpiUniprocessor;
}
