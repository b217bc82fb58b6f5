using System.Buffers.Binary;
using System.Text;

namespace P2V.Imaging.FileSystems.Fat;

/// <summary>
/// The FAT boot sector and BIOS parameter block (Microsoft "FAT: General Overview of On-Disk Format" v1.03,
/// a.k.a. fatgen103, section "Boot Sector and BPB": the common BPB, then the FAT12/16 or the FAT32 fields from
/// offset 36). The FAT type is decided only by the count of data clusters (section "FAT Type Determination"):
/// below 4085 FAT12, below 65525 FAT16, else FAT32 — never by the BS_FilSysType string.
/// </summary>
public sealed record FatBootSector(
    string OemName,
    int BytesPerSector,
    int SectorsPerCluster,
    int ReservedSectors,
    int NumberOfFats,
    int RootEntryCount,
    long TotalSectors,
    byte Media,
    long SectorsPerFat,
    long HiddenSectors,
    ushort ExtFlags,
    uint RootCluster,
    int FsInfoSector,
    int BackupBootSector,
    uint VolumeId,
    string VolumeLabel,
    string FileSystemType)
{
    public const int Fat12MaxClusters = 4084, Fat16MaxClusters = 65524;

    /// <summary>Bytes a volume needs before the boot sector can be read: BPB fields are within the first 90 bytes, the signature at 510.</summary>
    public const int Size = 512;

    public int ClusterSize => BytesPerSector * SectorsPerCluster;

    /// <summary>Sectors of the FAT12/16 fixed root directory; 0 on FAT32 ("FAT Type Determination": RootDirSectors).</summary>
    public long RootDirectorySectors => ((long)RootEntryCount * 32 + BytesPerSector - 1) / BytesPerSector;

    public long FirstFatSector => ReservedSectors;

    public long RootDirectorySector => ReservedSectors + NumberOfFats * SectorsPerFat;

    public long FirstDataSector => RootDirectorySector + RootDirectorySectors;

    public long DataSectors => TotalSectors - FirstDataSector;

    /// <summary>Data clusters, numbered 2 … ClusterCount + 1.</summary>
    public long ClusterCount => DataSectors / SectorsPerCluster;

    public FileSystemKind Kind => ClusterCount switch
    {
        <= Fat12MaxClusters => FileSystemKind.Fat12,
        <= Fat16MaxClusters => FileSystemKind.Fat16,
        _ => FileSystemKind.Fat32,
    };

    /// <summary>FAT32 BPB_ExtFlags bit 7: mirroring off, only the FAT numbered in bits 0–3 is active.</summary>
    public int ActiveFat => Kind == FileSystemKind.Fat32 && (ExtFlags & 0x80) != 0 ? ExtFlags & 0xF : 0;

    /// <summary>Byte offset of the first sector of <paramref name="cluster"/> (fatgen103 "FAT Data Structure": FirstSectorofCluster).</summary>
    public long ClusterOffset(long cluster) => (FirstDataSector + (cluster - 2) * SectorsPerCluster) * BytesPerSector;

    /// <summary>Parses and validates the boot sector; <paramref name="volumeLength"/> bounds the sizes it may claim.</summary>
    public static FatBootSector Parse(ReadOnlySpan<byte> sector, long volumeLength)
    {
        if (sector.Length < Size) throw new FatException(0, $"the boot sector needs {Size} bytes; the volume has {sector.Length}");
        // BS_jmpBoot: EB ?? 90 or E9 ?? ??.
        if (!(sector[0] == 0xEB && sector[2] == 0x90) && sector[0] != 0xE9)
            throw new FatException(0, $"boot sector starts with 0x{sector[0]:X2} 0x{sector[1]:X2} 0x{sector[2]:X2}; expected a jump (EB xx 90 or E9 xx xx)");
        // fatgen103: the 0x55AA signature is at offset 510 whatever the sector size.
        if (sector[510] != 0x55 || sector[511] != 0xAA)
            throw new FatException(510, $"boot sector signature is 0x{sector[510]:X2}{sector[511]:X2}; expected 0x55AA");

        int bytesPerSector = BinaryPrimitives.ReadUInt16LittleEndian(sector[11..]);
        if (bytesPerSector is not (512 or 1024 or 2048 or 4096))
            throw new FatException(11, $"BPB_BytsPerSec is {bytesPerSector}; expected 512, 1024, 2048 or 4096");
        int sectorsPerCluster = sector[13];
        if (sectorsPerCluster == 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) != 0)
            throw new FatException(13, $"BPB_SecPerClus is {sectorsPerCluster}; expected a power of two from 1 to 128");
        int reserved = BinaryPrimitives.ReadUInt16LittleEndian(sector[14..]);
        if (reserved == 0) throw new FatException(14, "BPB_RsvdSecCnt is 0; expected at least 1");
        int fats = sector[16];
        if (fats == 0) throw new FatException(16, "BPB_NumFATs is 0; expected at least 1");
        int rootEntries = BinaryPrimitives.ReadUInt16LittleEndian(sector[17..]);
        int totalSectors16 = BinaryPrimitives.ReadUInt16LittleEndian(sector[19..]);
        byte media = sector[21];
        int fatSize16 = BinaryPrimitives.ReadUInt16LittleEndian(sector[22..]);
        uint hidden = BinaryPrimitives.ReadUInt32LittleEndian(sector[28..]);
        uint totalSectors32 = BinaryPrimitives.ReadUInt32LittleEndian(sector[32..]);
        long totalSectors = totalSectors16 != 0 ? totalSectors16 : totalSectors32;
        if (totalSectors == 0) throw new FatException(19, "BPB_TotSec16 and BPB_TotSec32 are both 0");

        // FAT32 has BPB_FATSz16 = 0 and BPB_FATSz32 at 36; FAT12/16 have BS_DrvNum… there instead.
        bool fat32Layout = fatSize16 == 0;
        long fatSize = fat32Layout ? BinaryPrimitives.ReadUInt32LittleEndian(sector[36..]) : fatSize16;
        if (fatSize == 0) throw new FatException(22, "BPB_FATSz16 and BPB_FATSz32 are both 0");
        int ext = fat32Layout ? 64 : 36; // BS_DrvNum onwards
        bool hasExtendedBootSignature = sector[ext + 2] == 0x29;
        var boot = new FatBootSector(
            OemName: Encoding.ASCII.GetString(sector.Slice(3, 8)),
            BytesPerSector: bytesPerSector,
            SectorsPerCluster: sectorsPerCluster,
            ReservedSectors: reserved,
            NumberOfFats: fats,
            RootEntryCount: rootEntries,
            TotalSectors: totalSectors,
            Media: media,
            SectorsPerFat: fatSize,
            HiddenSectors: hidden,
            ExtFlags: fat32Layout ? BinaryPrimitives.ReadUInt16LittleEndian(sector[40..]) : (ushort)0,
            RootCluster: fat32Layout ? BinaryPrimitives.ReadUInt32LittleEndian(sector[44..]) : 0,
            FsInfoSector: fat32Layout ? BinaryPrimitives.ReadUInt16LittleEndian(sector[48..]) : 0,
            BackupBootSector: fat32Layout ? BinaryPrimitives.ReadUInt16LittleEndian(sector[50..]) : 0,
            VolumeId: hasExtendedBootSignature ? BinaryPrimitives.ReadUInt32LittleEndian(sector[(ext + 3)..]) : 0,
            VolumeLabel: hasExtendedBootSignature ? Encoding.Latin1.GetString(sector.Slice(ext + 7, 11)) : "",
            FileSystemType: hasExtendedBootSignature ? Encoding.ASCII.GetString(sector.Slice(ext + 18, 8)) : "");

        if (boot.FirstDataSector >= totalSectors)
            throw new FatException(14, $"reserved, FAT and root directory sectors ({boot.FirstDataSector}) leave no data area in {totalSectors} sectors");
        if (boot.ClusterCount < 1)
            throw new FatException(13, $"the data area of {boot.DataSectors} sectors holds no whole {sectorsPerCluster}-sector cluster");
        if (totalSectors * bytesPerSector > volumeLength)
            throw new FatException(19, $"the BPB claims {totalSectors} sectors ({totalSectors * bytesPerSector:N0} bytes) but the volume has {volumeLength:N0} bytes");
        // The FAT type follows from the cluster count alone; the layout of the BPB must agree with it.
        if (fat32Layout != (boot.Kind == FileSystemKind.Fat32))
            throw new FatException(22, $"{boot.ClusterCount} clusters make this {boot.Kind}, but BPB_FATSz16 is {fatSize16}");
        if (boot.Kind == FileSystemKind.Fat32 && rootEntries != 0)
            throw new FatException(17, $"BPB_RootEntCnt is {rootEntries}; FAT32 expects 0");
        if (boot.Kind != FileSystemKind.Fat32 && rootEntries == 0)
            throw new FatException(17, "BPB_RootEntCnt is 0; FAT12/16 need a root directory");
        long neededFatBytes = boot.Kind switch
        {
            FileSystemKind.Fat12 => ((boot.ClusterCount + 2) * 3 + 1) / 2,
            FileSystemKind.Fat16 => (boot.ClusterCount + 2) * 2,
            _ => (boot.ClusterCount + 2) * 4,
        };
        if (fatSize * bytesPerSector < neededFatBytes)
            throw new FatException(fat32Layout ? 36 : 22, $"a FAT of {fatSize} sectors cannot map {boot.ClusterCount} clusters ({neededFatBytes} bytes needed)");
        if (boot.Kind == FileSystemKind.Fat32 && (boot.RootCluster < 2 || boot.RootCluster > boot.ClusterCount + 1))
            throw new FatException(44, $"BPB_RootClus is {boot.RootCluster}; expected a cluster from 2 to {boot.ClusterCount + 1}");
        if (boot.ActiveFat >= fats)
            throw new FatException(40, $"BPB_ExtFlags makes FAT {boot.ActiveFat} active, but there are {fats} FATs");
        return boot;
    }
}
