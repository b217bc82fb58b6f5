namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// What a volume says about itself: label ($Volume $VOLUME_NAME), NTFS version and dirty flag
/// ($VOLUME_INFORMATION), serial number (boot sector), and the space in use by $Bitmap.
/// <see cref="TotalBytes"/> is the size of all clusters; <see cref="UsedBytes"/> those set in $Bitmap.
/// </summary>
public sealed record NtfsVolumeInfo(
    string Label,
    Version Version,
    ulong SerialNumber,
    bool IsDirty,
    VolumeFlags Flags,
    long UsedBytes,
    long TotalBytes,
    int ClusterSize);
