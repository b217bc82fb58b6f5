using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The NTFS boot sector and its BIOS parameter block. Layout: NTFS Documentation (Russon/Fledel),
/// "Files: $Boot"; ntfs-3g layout.h NTFS_BOOT_SECTOR; sanity rules as ntfs-3g bootsect.c
/// ntfs_boot_sector_is_ntfs. A copy lives in the volume's last sector.
/// </summary>
public sealed record NtfsBootSector
{
    public const int Size = 512;

    /// <summary>The largest cluster Windows and mkntfs make (2 MiB, encoded as a negative power of two).</summary>
    public const int MaxClusterSize = 2 * 1024 * 1024;

    public static ReadOnlySpan<byte> OemId => "NTFS    "u8;

    // BIOS parameter block fields.
    public const int OemIdField = 0x03;
    public const int BytesPerSectorField = 0x0B;
    public const int SectorsPerClusterField = 0x0D;
    public const int ReservedSectorsField = 0x0E;
    public const int FatCountField = 0x10;
    public const int RootEntriesField = 0x11;
    public const int SectorCount16Field = 0x13;
    public const int MediaDescriptorField = 0x15;
    public const int SectorsPerFatField = 0x16;
    /// <summary>CHS geometry and the partition's start sector, which the NT boot code uses to load NTLDR.</summary>
    public const int SectorsPerTrackField = 0x18, HeadsField = 0x1A, HiddenSectorsField = 0x1C;
    public const int SectorCount32Field = 0x20;
    public const int TotalSectorsField = 0x28;
    public const int MftLcnField = 0x30;
    public const int MftMirrorLcnField = 0x38;
    public const int ClustersPerFileRecordField = 0x40;
    public const int ClustersPerIndexRecordField = 0x44;
    public const int SerialNumberField = 0x48;

    public int BytesPerSector { get; init; }
    public int ClusterSize { get; init; }
    public byte MediaDescriptor { get; init; }
    /// <summary>Sectors in the file system, excluding the backup boot sector that follows them.</summary>
    public long TotalSectors { get; init; }
    public long MftLcn { get; init; }
    public long MftMirrorLcn { get; init; }
    public int FileRecordSize { get; init; }
    public int IndexRecordSize { get; init; }
    public ulong SerialNumber { get; init; }
    public int SectorsPerTrack { get; init; }
    public int Heads { get; init; }
    public uint HiddenSectors { get; init; }

    public long TotalClusters => TotalSectors * BytesPerSector / ClusterSize;

    /// <summary>Parses and checks the boot sector; a malformed one throws <see cref="NtfsException"/> naming the field.</summary>
    public static NtfsBootSector Parse(ReadOnlySpan<byte> sector)
    {
        var result = TryParse(sector, out var bootSector, out var problem, out var offset);
        return result ? bootSector! : throw new NtfsException(offset, $"boot sector: {problem}");
    }

    public static bool TryParse(ReadOnlySpan<byte> sector, out NtfsBootSector? bootSector, out string problem, out int fieldOffset)
    {
        (bootSector, problem, fieldOffset) = Check(sector);
        return bootSector is not null;
    }

    private static (NtfsBootSector? BootSector, string Problem, int Offset) Check(ReadOnlySpan<byte> sector)
    {
        static (NtfsBootSector?, string, int) Fail(int at, string why) => (null, why, at);

        if (sector.Length < Size) return Fail(0, $"only {sector.Length} bytes, a boot sector needs {Size}");
        if (!sector.Slice(OemIdField, 8).SequenceEqual(OemId)) return Fail(OemIdField, "OEM id is not \"NTFS    \"");

        int bytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(sector[BytesPerSectorField..]);
        if (bytesPerSector < 256 || bytesPerSector > 4096 || !IsPowerOfTwo(bytesPerSector))
            return Fail(BytesPerSectorField, $"bytes per sector {bytesPerSector} is not a power of two in 256..4096");

        // Sectors per cluster: 1..128, or above 128 the negated power of two (mkntfs -c 128K and larger).
        byte spcCode = sector[SectorsPerClusterField];
        long clusterSize;
        if (spcCode <= 0x80)
        {
            if (spcCode == 0 || !IsPowerOfTwo(spcCode)) return Fail(SectorsPerClusterField, $"sectors per cluster {spcCode} is not a power of two");
            clusterSize = (long)spcCode * bytesPerSector;
        }
        else
        {
            int shift = 256 - spcCode;
            if (shift > 24) return Fail(SectorsPerClusterField, $"sectors per cluster code 0x{spcCode:X2} (2^{shift}) is out of range");
            clusterSize = (long)bytesPerSector << shift;
        }
        if (clusterSize > MaxClusterSize) return Fail(SectorsPerClusterField, $"cluster size {clusterSize} exceeds {MaxClusterSize}");

        // Fields that FAT uses must be zero on NTFS.
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[ReservedSectorsField..]) != 0) return Fail(ReservedSectorsField, "reserved sectors is not 0");
        if (sector[FatCountField] != 0) return Fail(FatCountField, "number of FATs is not 0");
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[RootEntriesField..]) != 0) return Fail(RootEntriesField, "root entries is not 0");
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[SectorCount16Field..]) != 0) return Fail(SectorCount16Field, "16-bit sector count is not 0");
        if (BinaryPrimitives.ReadUInt16LittleEndian(sector[SectorsPerFatField..]) != 0) return Fail(SectorsPerFatField, "sectors per FAT is not 0");
        if (BinaryPrimitives.ReadUInt32LittleEndian(sector[SectorCount32Field..]) != 0) return Fail(SectorCount32Field, "32-bit sector count is not 0");

        long totalSectors = BinaryPrimitives.ReadInt64LittleEndian(sector[TotalSectorsField..]);
        if (totalSectors <= 0 || totalSectors > long.MaxValue / 4096) return Fail(TotalSectorsField, $"total sectors {totalSectors} is out of range");
        long totalClusters = totalSectors * bytesPerSector / clusterSize;
        if (totalClusters == 0) return Fail(TotalSectorsField, "the volume holds no whole cluster");

        long mftLcn = BinaryPrimitives.ReadInt64LittleEndian(sector[MftLcnField..]);
        if (mftLcn <= 0 || mftLcn >= totalClusters) return Fail(MftLcnField, $"$MFT cluster {mftLcn} lies outside the {totalClusters}-cluster volume");
        long mirrLcn = BinaryPrimitives.ReadInt64LittleEndian(sector[MftMirrorLcnField..]);
        if (mirrLcn <= 0 || mirrLcn >= totalClusters) return Fail(MftMirrorLcnField, $"$MFTMirr cluster {mirrLcn} lies outside the {totalClusters}-cluster volume");

        if (!TryRecordSize((sbyte)sector[ClustersPerFileRecordField], clusterSize, out int fileRecordSize))
            return Fail(ClustersPerFileRecordField, $"clusters per MFT record code {(sbyte)sector[ClustersPerFileRecordField]} gives no record size in 512..65536");
        if (!TryRecordSize((sbyte)sector[ClustersPerIndexRecordField], clusterSize, out int indexRecordSize))
            return Fail(ClustersPerIndexRecordField, $"clusters per index record code {(sbyte)sector[ClustersPerIndexRecordField]} gives no record size in 512..65536");

        var bootSector = new NtfsBootSector
        {
            BytesPerSector = bytesPerSector,
            ClusterSize = (int)clusterSize,
            MediaDescriptor = sector[MediaDescriptorField],
            TotalSectors = totalSectors,
            MftLcn = mftLcn,
            MftMirrorLcn = mirrLcn,
            FileRecordSize = fileRecordSize,
            IndexRecordSize = indexRecordSize,
            SerialNumber = BinaryPrimitives.ReadUInt64LittleEndian(sector[SerialNumberField..]),
            SectorsPerTrack = BinaryPrimitives.ReadUInt16LittleEndian(sector[SectorsPerTrackField..]),
            Heads = BinaryPrimitives.ReadUInt16LittleEndian(sector[HeadsField..]),
            HiddenSectors = BinaryPrimitives.ReadUInt32LittleEndian(sector[HiddenSectorsField..]),
        };
        return (bootSector, "", 0);
    }

    /// <summary>A positive code counts clusters; a negative one is -log2 of the size in bytes (records smaller than a cluster).</summary>
    private static bool TryRecordSize(sbyte code, long clusterSize, out int size)
    {
        long bytes = code > 0 ? code * clusterSize : code < 0 && code >= -31 ? 1L << -code : 0;
        size = (int)Math.Min(bytes, int.MaxValue);
        return bytes >= 512 && bytes <= 65536 && IsPowerOfTwo(bytes);
    }

    private static bool IsPowerOfTwo(long v) => v > 0 && (v & (v - 1)) == 0;
}
