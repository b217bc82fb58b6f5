namespace P2V.Imaging.FileSystems.Fat;

/// <summary>A FAT volume whose boot sector, FAT or directory is corrupt; the offset is volume-relative.</summary>
public sealed class FatException(long offset, string message)
    : CorruptDataException(offset, $"FAT volume at byte {offset:N0}: {message}")
{
}
