using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;

namespace P2V.Imaging.VirtualDisks;

/// <summary>The container formats a disk can be stored in.</summary>
public enum VirtualDiskFormat
{
    Raw,
    /// <summary>A dynamic VHD.</summary>
    Vhd,
    VhdFixed,
    Vhdx,
    VhdxFixed,
    /// <summary>VMware's monolithic flat layout: a text descriptor naming a raw "-flat.vmdk" extent. Only <c>p2v createvm</c> makes one (VmCreator); it is read through its extent, as raw.</summary>
    Vmdk,
}

/// <summary>How to make a new disk: the sector size, the block size of dynamic formats, and how fixed ones get their space.</summary>
public sealed record VirtualDiskCreateOptions
{
    public int SectorSize { get; init; } = 512;
    /// <summary>Dynamic VHD: 2 MiB by default; VHDX: 32 MiB by default (1–256 MiB).</summary>
    public int? BlockSize { get; init; }
    public Preallocation Preallocation { get; init; } = Preallocation.Sparse;
}

/// <summary>What <c>p2v disk info</c> shows about a disk.</summary>
public sealed record VirtualDiskInfo(
    string Format, long Length, int LogicalSectorSize, int PhysicalSectorSize, long? BlockSize,
    long FileSize, long AllocatedBytes, int AllocatedExtents, string? Creator, string? DiskId, string? Parent, string? Geometry);

/// <summary>Opens and creates virtual disks of any supported format.</summary>
public static class VirtualDisk
{
    /// <summary>Opens a disk file or device, recognising VHDX, VHD and raw by their content.</summary>
    /// <param name="sectorSize">The logical sector size of a raw disk (a VHD/VHDX records its own).</param>
    public static IVirtualDisk Open(string path, bool writable = false, int sectorSize = 512) => Open(path, writable, 0, sectorSize);

    internal static IVirtualDisk Open(string path, bool writable, int depth, int sectorSize = 512)
    {
        CheckIsDisk(path);
        return Detect(path) switch
        {
            VirtualDiskFormat.Vhdx => VhdxDisk.Open(path, writable),
            VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => VhdDisk.Open(path, writable, depth),
            _ => writable ? RawDisk.OpenReadWrite(path, sectorSize) : RawDisk.OpenRead(path, sectorSize),
        };
    }

    /// <summary>
    /// Refuses what cannot hold a disk before anything reads it: a folder, a FIFO (would wait for a writer), a
    /// character device such as /dev/zero or /dev/null (endless or empty), an empty file.
    /// </summary>
    public static void CheckIsDisk(string path)
    {
        var status = FileStatus.Of(path);
        switch (status.Kind)
        {
            case FileKind.Missing: throw new FileNotFoundException($"{path}: no such file or device", path);
            case FileKind.Regular when status.Size == 0: throw new InvalidDataException($"{path} is empty (0 bytes), not a disk");
            case FileKind.Regular or FileKind.BlockDevice: return;
            default: throw new IOException($"{path} is {status.Describe()}, not a disk: name a block device or a disk image file");
        }
    }

    /// <summary>
    /// The format by content: "vhdxfile" at offset 0 is a VHDX; "conectix" at 0 (the footer copy of a dynamic
    /// VHD) or in the last 512 bytes is a VHD; anything else, a block device included, is raw.
    /// </summary>
    public static VirtualDiskFormat Detect(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Span<byte> head = stackalloc byte[VhdFooter.Size];
        int n = RandomAccess.Read(handle, head, 0);
        if (VhdxFileIdentifier.HasSignature(head[..n])) return VirtualDiskFormat.Vhdx;
        if (VhdFooter.HasCookie(head[..n])) return VirtualDiskFormat.Vhd;
        long length = RandomAccess.GetLength(handle);
        if (length >= VhdFooter.Size && RandomAccess.Read(handle, head, length - VhdFooter.Size) == VhdFooter.Size
            && VhdFooter.HasCookie(head))
            return head[63] == (byte)VhdDiskType.Fixed ? VirtualDiskFormat.VhdFixed : VirtualDiskFormat.Vhd;
        return VirtualDiskFormat.Raw;
    }

    /// <summary>Creates a new, empty disk of at least <paramref name="length"/> bytes (VHD rounds up to whole CHS geometry).</summary>
    public static IVirtualDisk Create(string path, VirtualDiskFormat format, long length, int sectorSize = 512) =>
        Create(path, format, length, new VirtualDiskCreateOptions { SectorSize = sectorSize });

    public static IVirtualDisk Create(string path, VirtualDiskFormat format, long length, VirtualDiskCreateOptions options)
    {
        if (options.SectorSize is not (512 or 4096))
            throw new ArgumentException($"sector size must be 512 or 4096, not {options.SectorSize}");
        if (format is VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed && options.SectorSize != 512)
            throw new ArgumentException("VHD files have 512-byte sectors only; use VHDX for 4096-byte sectors");
        return format switch
        {
            VirtualDiskFormat.Raw => CreateRaw(path, length, options),
            VirtualDiskFormat.VhdFixed => VhdDisk.CreateFixed(path, length, options.Preallocation),
            VirtualDiskFormat.Vhd => VhdDisk.CreateDynamic(path, length, options.BlockSize ?? VhdDynamicHeader.DefaultBlockSize),
            VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => VhdxDisk.Create(path, length, options.SectorSize,
                options.BlockSize ?? VhdxDisk.DefaultBlockSize, format == VirtualDiskFormat.VhdxFixed, options.Preallocation),
            VirtualDiskFormat.Vmdk => throw new ArgumentException($"{path}: a VMDK is made only by p2v createvm, as a descriptor and a raw extent; write raw here"),
            _ => throw new ArgumentException($"unknown disk format {format}"),
        };
    }

    private static RawDisk CreateRaw(string path, long length, VirtualDiskCreateOptions options)
    {
        if (length <= 0) throw new ArgumentException($"{path}: a raw disk holds at least 1 byte, not {length} bytes");
        if (options.Preallocation != Preallocation.Sparse)
        {
            using var file = HostFile.Create(path);
            file.Reserve(0, length, options.Preallocation);
            file.SetLength(length);
        }
        return options.Preallocation == Preallocation.Sparse ? RawDisk.Create(path, length, options.SectorSize) : RawDisk.OpenReadWrite(path, options.SectorSize);
    }

    /// <summary>The format a new disk file gets when none is asked for: by its extension, .vhd (dynamic) or .vhdx, else raw.</summary>
    public static VirtualDiskFormat FormatFromExtension(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".vhd" => VirtualDiskFormat.Vhd,
        ".vhdx" => VirtualDiskFormat.Vhdx,
        _ => VirtualDiskFormat.Raw,
    };

    /// <summary>Whether an existing disk of <paramref name="existing"/> format is one of <paramref name="asked"/> (fixed or dynamic alike).</summary>
    public static bool SameContainer(VirtualDiskFormat existing, VirtualDiskFormat asked) => Container(existing) == Container(asked);

    private static int Container(VirtualDiskFormat f) => f switch
    {
        VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => 1,
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => 2,
        _ => 0,
    };

    /// <summary>
    /// The sector size of a new <paramref name="format"/> disk that holds a copy of a disk with
    /// <paramref name="sourceSectorSize"/>-byte sectors: <paramref name="asked"/> if given, else the source's.
    /// A VHD has 512-byte sectors only, and a 4 KiB-sector disk's partition table counts 4 KiB sectors: copied into
    /// a VHD it would misplace every partition, so that takes an explicit --sector-size 512.
    /// </summary>
    public static int SectorSizeFor(VirtualDiskFormat format, int sourceSectorSize, int? asked)
    {
        bool vhd = format is VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed;
        if (vhd && asked == null && sourceSectorSize != 512)
            throw new ArgumentException($"the source has {sourceSectorSize}-byte sectors and VHD has 512-byte sectors only: use vhdx, or sector size 512 to copy the bytes anyway");
        return asked ?? (vhd ? 512 : sourceSectorSize);
    }

    public static VirtualDiskFormat ParseFormat(string name) => name.ToLowerInvariant() switch
    {
        "raw" or "img" => VirtualDiskFormat.Raw,
        "vhd" or "vpc" => VirtualDiskFormat.Vhd,
        "vhd-fixed" => VirtualDiskFormat.VhdFixed,
        "vhdx" => VirtualDiskFormat.Vhdx,
        "vhdx-fixed" => VirtualDiskFormat.VhdxFixed,
        "vmdk" => VirtualDiskFormat.Vmdk,
        _ => throw new ArgumentException($"unknown disk format '{name}' (raw, vhd, vhd-fixed, vhdx, vhdx-fixed, vmdk)"),
    };

    /// <summary>The name <see cref="ParseFormat"/> takes for a format (also its name in plan files).</summary>
    public static string FormatName(VirtualDiskFormat format) => format switch
    {
        VirtualDiskFormat.VhdFixed => "vhd-fixed",
        VirtualDiskFormat.VhdxFixed => "vhdx-fixed",
        _ => format.ToString().ToLowerInvariant(),
    };

    /// <summary>The file extension a new disk of a format gets.</summary>
    public static string Extension(VirtualDiskFormat format) => format switch
    {
        VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => ".vhd",
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => ".vhdx",
        VirtualDiskFormat.Vmdk => ".vmdk",
        _ => ".img",
    };

    /// <summary>The largest disk a format holds: VHD the spec's 2040 GiB, VHDX 64 TiB, VMDK 62 TiB.</summary>
    public static long MaxLength(VirtualDiskFormat format) => format switch
    {
        VirtualDiskFormat.Vhd or VirtualDiskFormat.VhdFixed => VhdFooter.MaxDiskSize,
        VirtualDiskFormat.Vhdx or VirtualDiskFormat.VhdxFixed => 64L << 40,
        VirtualDiskFormat.Vmdk => 62L << 40,
        _ => long.MaxValue,
    };

    /// <summary>The format, geometry and allocation of an open disk.</summary>
    public static VirtualDiskInfo Describe(IVirtualDisk disk, string path)
    {
        long fileSize = File.Exists(path) ? new FileInfo(path).Length : disk.Length;
        long allocated = 0;
        int extents = 0;
        foreach (var e in disk.AllocatedExtents()) { allocated += e.Length; extents++; }
        return disk switch
        {
            VhdxDisk x => new VirtualDiskInfo(x.IsFixed ? "vhdx-fixed" : "vhdx", x.Length, x.SectorSize, x.Metadata.PhysicalSectorSize,
                x.BlockSize, fileSize, allocated, extents, x.Creator, x.Metadata.VirtualDiskId.ToString(), null, null),
            VhdDisk v => new VirtualDiskInfo(v.DiskType switch
                {
                    VhdDiskType.Fixed => "vhd-fixed",
                    VhdDiskType.Dynamic => "vhd",
                    _ => "vhd-differencing",
                }, v.Length, 512, 512, v.DynamicHeader?.BlockSize, fileSize, allocated, extents,
                v.Footer.CreatorApplication.TrimEnd(' ', '\0'), v.Footer.UniqueId.ToString(), v.ParentPath, v.Footer.Geometry.ToString()),
            _ => new VirtualDiskInfo("raw", disk.Length, disk.SectorSize, disk.SectorSize, null, fileSize, allocated, extents, null, null, null, null),
        };
    }
}
