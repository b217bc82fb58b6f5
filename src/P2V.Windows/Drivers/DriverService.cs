namespace P2V.Windows.Drivers;

/// <summary>
/// A service an AddService directive installs (INF AddService directive): ServiceType, StartType, ErrorControl,
/// ServiceBinary (→ ImagePath), LoadOrderGroup (→ Group), DisplayName, and the service section's AddReg HKR values.
/// </summary>
public sealed record DriverService(string Name, uint Flags, uint Type, uint Start, uint ErrorControl, string ImagePath, string? Group, string? DisplayName,
    IReadOnlyList<DriverServiceValue> Values)
{
    /// <summary>SPSVCINST_ASSOCSERVICE (0x2): the device's function driver, the one its CriticalDeviceDatabase entry names.</summary>
    public bool IsAssociated => (Flags & 0x2) != 0;
}
