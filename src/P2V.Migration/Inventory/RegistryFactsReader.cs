using P2V.Windows;

namespace P2V.Migration.Inventory;

/// <summary>
/// Fills product, version, service pack, computer name, services and the HAL from the installation's registry
/// hives and hal.dll's version resource, through P2V.Windows's <see cref="WindowsInstallation.Read"/>.
/// What cannot be read (a corrupt hive, a HAL without version resource) stays as the volume showed it,
/// with the reason in <see cref="WindowsFacts.Notes"/>.
/// </summary>
public sealed class RegistryFactsReader : IWindowsFactsReader
{
    public static readonly RegistryFactsReader Instance = new();

    public WindowsFacts Complete(WindowsFacts found, IOfflineVolume volume)
    {
        if (volume.Ntfs is not { } ntfs) return found;
        P2V.Windows.WindowsFacts facts;
        try
        {
            facts = WindowsInstallation.Read(ntfs);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException)
        {
            return found with { Notes = [.. found.Notes, $"registry not read: {e.Message}"] };
        }
        return found with
        {
            Product = facts.ProductName ?? found.Product,
            Version = facts.Version ?? found.Version,
            ServicePack = facts.ServicePack ?? (facts.Version != null ? "" : found.ServicePack),
            ComputerName = facts.ComputerName ?? found.ComputerName,
            Hal = facts.Hal?.OriginalFilename?.ToLowerInvariant() ?? found.Hal,
            Services = facts.Services.Count > 0
                ? facts.Services.Select(s => new WindowsService(s.Name, s.Start is { } st ? (int)st : -1, s.ImagePath)).ToList()
                : found.Services,
            Notes = [.. found.Notes, .. facts.Warnings],
        };
    }
}
