namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A corrupt or unsupported NTFS structure. The message names what was read and what was expected;
/// <see cref="Offset"/> is the volume-relative byte offset where the problem was found.
/// (An <see cref="IOException"/>, because <see cref="InvalidDataException"/> is sealed; the CLI reports both as one line.)
/// </summary>
public sealed class NtfsException(string message, long offset)
    : IOException($"NTFS: {message} (volume offset {offset})")
{
    public long Offset { get; } = offset;
}
