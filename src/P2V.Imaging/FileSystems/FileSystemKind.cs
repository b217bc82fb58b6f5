namespace P2V.Imaging.FileSystems;

/// <summary>What a volume holds, as far as capture cares: a file system whose allocation map we read, or raw bytes.</summary>
public enum FileSystemKind
{
    Raw,
    Ntfs,
    Fat12,
    Fat16,
    Fat32,
}
