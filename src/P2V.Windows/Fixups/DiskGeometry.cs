namespace P2V.Windows.Fixups;

/// <summary>
/// The BIOS geometry Windows 2000/XP/2003 expect in an NTFS boot sector's heads (0x1A) and sectors-per-track
/// (0x18) fields. Their boot code falls back to CHS reads when INT 13h extensions are not used, and setup
/// records the geometry of the BIOS's LBA-assisted translation (Phoenix "BIOS Enhanced Disk Drive Specification",
/// LBA assist: 63 sectors per track, heads doubled from 16 until the cylinders fit in 1024): up to 504 MiB 16 heads,
/// 1008 MiB 32, 2016 MiB 64, 4032 MiB 128, and 255 heads beyond — every disk over about 8 GB (the 1024 × 255 × 63
/// CHS limit) is 255/63. A mismatch stops the loader with "A disk read error occurred".
/// </summary>
public static class DiskGeometry
{
    public const int SectorsPerTrack = 63;

    public static int Heads(long diskBytes)
    {
        long sectors = diskBytes / 512;
        foreach (int heads in new[] { 16, 32, 64, 128 })
            if (sectors <= 1024L * heads * SectorsPerTrack) return heads;
        return 255;
    }
}
