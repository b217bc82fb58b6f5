namespace P2V.Migration.Creation;

/// <summary>
/// NAME_device.json, and the body `p2v createvm` posts to the controller: what it needs to know of the target
/// device, its MACs (how it will PXE-boot) and the images to deploy. Serialized by <see cref="MigrationJson"/>.
/// </summary>
public sealed record TargetDeviceRecord(string Name, IReadOnlyList<string> Macs, string Role, DeployJobRecord Job);

/// <summary>The deploy job the target device gets: the HAL decision and one image per VM disk.</summary>
public sealed record DeployJobRecord(string Kind, string HalAction, IReadOnlyList<DeployDiskRecord> Disks);

public sealed record DeployDiskRecord(int Index, string Source, string Image, long SizeBytes);
