namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A corrupt or unsupported NTFS structure. The message names what was read and what was expected;
/// <see cref="CorruptDataException.Offset"/> is the volume-relative byte offset where the problem was found.
/// Arguments in the order of every other corrupt-data exception: offset, then message.
/// </summary>
public sealed class NtfsException(long offset, string message)
    : CorruptDataException(offset, $"NTFS: {message} (volume offset {offset})");
