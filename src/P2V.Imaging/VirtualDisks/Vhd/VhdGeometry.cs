namespace P2V.Imaging.VirtualDisks.Vhd;

/// <summary>
/// The cylinder/head/sector geometry a VHD footer records. Computed as the Virtual Hard Disk Image Format
/// Specification's appendix "CHS Calculation" does; Virtual PC (and qemu for images it did not write with
/// a size-based creator) take the disk size from this geometry, not from the footer's current size.
/// </summary>
public readonly record struct VhdGeometry(ushort Cylinders, byte Heads, byte SectorsPerTrack)
{
    /// <summary>65535 cylinders × 16 heads × 255 sectors: the largest geometry; past it only the current size tells the size.</summary>
    public const long MaxSectors = 65535L * 16 * 255;

    public long Sectors => (long)Cylinders * Heads * SectorsPerTrack;

    /// <summary>The spec's algorithm, for a disk of <paramref name="totalSectors"/> 512-byte sectors.</summary>
    public static VhdGeometry FromSectors(long totalSectors)
    {
        long sectorsPerTrack, heads, cylinderTimesHeads;
        if (totalSectors > MaxSectors) totalSectors = MaxSectors;
        if (totalSectors >= 65535L * 16 * 63)
        {
            sectorsPerTrack = 255;
            heads = 16;
            cylinderTimesHeads = totalSectors / sectorsPerTrack;
        }
        else
        {
            sectorsPerTrack = 17;
            cylinderTimesHeads = totalSectors / sectorsPerTrack;
            heads = Math.Max(4, (cylinderTimesHeads + 1023) / 1024);
            if (cylinderTimesHeads >= heads * 1024 || heads > 16)
            {
                sectorsPerTrack = 31;
                heads = 16;
                cylinderTimesHeads = totalSectors / sectorsPerTrack;
            }
            if (cylinderTimesHeads >= heads * 1024)
            {
                sectorsPerTrack = 63;
                heads = 16;
                cylinderTimesHeads = totalSectors / sectorsPerTrack;
            }
        }
        return new VhdGeometry((ushort)(cylinderTimesHeads / heads), (byte)heads, (byte)sectorsPerTrack);
    }

    /// <summary>
    /// The smallest geometry that holds at least <paramref name="totalSectors"/>, so that a reader going by
    /// CHS and one going by the current size see the same disk (qemu's vpc driver rounds the same way).
    /// Past <see cref="MaxSectors"/> the geometry is the maximum and readers use the current size.
    /// </summary>
    public static VhdGeometry Covering(long totalSectors)
    {
        if (totalSectors >= MaxSectors) return FromSectors(MaxSectors);
        for (long n = totalSectors; ; n++)
        {
            var g = FromSectors(n);
            if (g.Sectors >= totalSectors) return g;
        }
    }

    public override string ToString() => $"{Cylinders}/{Heads}/{SectorsPerTrack}";
}
