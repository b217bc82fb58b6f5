namespace P2V.Imaging.FileSystems.Fat;

/// <summary>
/// A FAT volume whose boot sector, FAT or directory is corrupt. An <see cref="IOException"/> (as
/// <c>VirtualDiskException</c> is) because <see cref="InvalidDataException"/> is sealed.
/// </summary>
public sealed class FatException(long offset, string message)
    : IOException($"FAT volume at byte {offset:N0}: {message}")
{
    /// <summary>Volume-relative byte offset of the structure that was wrong.</summary>
    public long Offset { get; } = offset;
}
