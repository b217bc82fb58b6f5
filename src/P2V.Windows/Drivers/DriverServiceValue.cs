using P2V.Windows.Registry;

namespace P2V.Windows.Drivers;

/// <summary>A value an AddReg line writes under the service key (HKR in a service-install section).</summary>
public sealed record DriverServiceValue(string Subkey, string Name, RegistryValueKind Kind, byte[] Data, string Shown);
