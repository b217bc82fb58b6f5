namespace P2V.Imaging.VirtualDisks;

/// <summary>A virtual disk file is corrupt or unreadable: what was wrong, at which offset of the file.</summary>
public sealed class VirtualDiskException(string path, long offset, string message)
    : CorruptDataException(offset, $"{path}: at offset {offset}: {message}")
{
    public string DiskPath { get; } = path;
}

/// <summary>A write to a disk that was opened read-only: a mistake of the caller, not damage in the file.</summary>
public sealed class ReadOnlyDiskException(string path)
    : InvalidOperationException($"{path}: the disk is open read-only")
{
    public string DiskPath { get; } = path;
}
