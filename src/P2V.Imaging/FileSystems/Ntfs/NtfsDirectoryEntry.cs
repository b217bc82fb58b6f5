namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// One name in a directory: its Win32 or POSIX name (DOS 8.3 aliases are left out), the size of its
/// unnamed $DATA (0 for a directory), and its Windows attributes from $STANDARD_INFORMATION.
/// </summary>
public sealed record NtfsDirectoryEntry(string Name, bool IsDirectory, long Size, FileReference FileReference, FileAttributes Attributes);
