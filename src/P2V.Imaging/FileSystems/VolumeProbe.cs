using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.VirtualDisks;

namespace P2V.Imaging.FileSystems;

/// <summary>Decides how a volume is captured: through its file system's allocation map, or raw.</summary>
public static class VolumeProbe
{
    /// <summary>
    /// NTFS when the boot sector carries the OEM id "NTFS    " at offset 3 and the 0x55AA signature (the NTFS
    /// reader validates the rest when it opens the volume); a FAT type when the FAT BPB is sound; else Raw.
    /// </summary>
    public static FileSystemKind Detect(IVirtualDisk volume)
    {
        if (volume.Length < 512) return FileSystemKind.Raw;
        Span<byte> sector = stackalloc byte[512];
        volume.ReadAt(0, sector);
        if (sector[510] == 0x55 && sector[511] == 0xAA && sector[3..11].SequenceEqual("NTFS    "u8))
            return FileSystemKind.Ntfs;
        return FatVolume.Probe(volume) ?? FileSystemKind.Raw;
    }
}
