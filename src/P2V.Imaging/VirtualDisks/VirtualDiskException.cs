namespace P2V.Imaging.VirtualDisks;

/// <summary>A virtual disk file or device is unreadable, corrupt or was used out of bounds.</summary>
public sealed class VirtualDiskException(string path, long offset, string message)
    : IOException($"{path}: at offset {offset}: {message}")
{
    public string DiskPath { get; } = path;
    public long Offset { get; } = offset;
}
