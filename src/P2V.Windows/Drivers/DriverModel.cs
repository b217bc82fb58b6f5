namespace P2V.Windows.Drivers;

/// <summary>One device a Models section installs: <c>device-description = install-section-name, hw-id[, compatible-id…]</c> (INF Models section).</summary>
public sealed record DriverModel(string Description, string InstallSection, IReadOnlyList<string> HardwareIds, int Line);
