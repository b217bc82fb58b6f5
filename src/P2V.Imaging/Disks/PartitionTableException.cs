namespace P2V.Imaging.Disks;

/// <summary>
/// A partition table that cannot be trusted: bad signature, bad CRC, an entry out of range or overlapping another.
/// An <see cref="IOException"/> (as <c>VirtualDiskException</c> is) because <see cref="InvalidDataException"/> is sealed.
/// </summary>
public class PartitionTableException : IOException
{
    public PartitionTableException(long offset, string message)
        : base($"partition table at byte {offset:N0}: {message}") => Offset = offset;

    /// <summary>Byte offset on the disk of the structure that was wrong.</summary>
    public long Offset { get; }
}

/// <summary>
/// The disk is a Windows dynamic disk (Logical Disk Manager). The migration toolkit's source document states that
/// dynamic partitions cannot be migrated; only basic disks can.
/// </summary>
public sealed class DynamicDiskException : PartitionTableException
{
    public DynamicDiskException(long offset, string what)
        : base(offset, $"{what}: this is a dynamic (LDM) disk, and dynamic partitions cannot be migrated. "
            + "Convert the disk to a basic disk in Windows first (Disk Management → Convert to Basic Disk, or "
            + "diskpart: select disk N, clean, convert basic — after backing up its volumes), then capture again.")
    {
    }
}
