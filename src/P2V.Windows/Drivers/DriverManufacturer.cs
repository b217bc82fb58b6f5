namespace P2V.Windows.Drivers;

/// <summary>An entry of [Manufacturer]: <c>%strkey% = models-section-name[, TargetOSVersion…]</c> (INF Manufacturer section).</summary>
public sealed record DriverManufacturer(string Name, string ModelsSection, IReadOnlyList<TargetOsVersion> Decorations, int Line);
