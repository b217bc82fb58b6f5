namespace P2V.Imaging.Disks;

/// <summary>A partition table that cannot be trusted: bad signature, bad CRC, an entry out of range or overlapping another.</summary>
public class PartitionTableException(long offset, string message)
    : CorruptDataException(offset, $"partition table at byte {offset:N0}: {message}")
{
}

/// <summary>
/// The disk is a Windows dynamic disk (Logical Disk Manager). The migration toolkit's source document states that
/// dynamic partitions cannot be migrated; only basic disks can.
/// </summary>
public sealed class DynamicDiskException(long offset, string what)
    : PartitionTableException(offset, $"{what}: this is a dynamic (LDM) disk, and dynamic partitions cannot be migrated. "
        + "Convert it to a basic disk in Windows first: back up its volumes, delete them, convert the disk "
        + "(Disk Management: Convert to Basic Disk; or diskpart: select disk N, convert basic), recreate the "
        + "partitions and restore the data; then capture again.")
{
}
