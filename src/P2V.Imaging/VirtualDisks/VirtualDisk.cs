namespace P2V.Imaging.VirtualDisks;

/// <summary>The container formats a disk can be stored in.</summary>
public enum VirtualDiskFormat
{
    Raw,
    VhdDynamic,
    VhdFixed,
    Vhdx,
    VhdxFixed,
}

/// <summary>Opens and creates virtual disks of any supported format.</summary>
public static class VirtualDisk
{
    /// <summary>Opens a disk file or device, recognising the format by its content.</summary>
    /// <param name="sectorSize">The logical sector size of a raw disk (a VHD/VHDX records its own).</param>
    public static IVirtualDisk Open(string path, bool writable = false, int sectorSize = 512) =>
        writable ? RawDisk.OpenReadWrite(path, sectorSize) : RawDisk.OpenRead(path, sectorSize);

    /// <summary>Creates a new, empty disk of <paramref name="length"/> bytes.</summary>
    public static IVirtualDisk Create(string path, VirtualDiskFormat format, long length, int sectorSize = 512) => format switch
    {
        VirtualDiskFormat.Raw => RawDisk.Create(path, length, sectorSize),
        _ => throw new NotSupportedException($"creating {format} disks is not supported yet"),
    };

    public static VirtualDiskFormat ParseFormat(string name) => name.ToLowerInvariant() switch
    {
        "raw" or "img" => VirtualDiskFormat.Raw,
        "vhd" or "vpc" => VirtualDiskFormat.VhdDynamic,
        "vhd-fixed" => VirtualDiskFormat.VhdFixed,
        "vhdx" => VirtualDiskFormat.Vhdx,
        "vhdx-fixed" => VirtualDiskFormat.VhdxFixed,
        _ => throw new ArgumentException($"unknown disk format '{name}' (raw, vhd, vhd-fixed, vhdx, vhdx-fixed)"),
    };
}
