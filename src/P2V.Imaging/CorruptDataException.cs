namespace P2V.Imaging;

/// <summary>
/// Base of each area's corrupt-input exception (NtfsException, PartitionTableException, ImageFormatException …):
/// what was expected, and the byte offset where it was not found. (InvalidDataException is sealed.)
/// </summary>
public abstract class CorruptDataException(long offset, string message, Exception? inner = null) : IOException(message, inner)
{
    public long Offset { get; } = offset;
}
