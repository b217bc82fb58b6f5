using P2V.Imaging;
using P2V.Imaging.Disks;
using P2V.Imaging.FileSystems.Fat;
using P2V.Imaging.FileSystems.Ntfs;
using P2V.Imaging.Images;
using P2V.Imaging.Pipeline;
using P2V.Imaging.VirtualDisks;
using P2V.Imaging.VirtualDisks.Vhd;
using P2V.Imaging.VirtualDisks.Vhdx;
using P2V.Windows.Boot;
using P2V.Windows.Cabinet;
using P2V.Windows.Drivers;
using P2V.Windows.Pe;
using P2V.Windows.Registry;

namespace P2V.Fuzz;

/// <summary>The fuzz targets by name: each feeds the input to one parser, the way p2v meets those bytes.</summary>
internal static class Targets
{
    private const long FuzzDiskLength = 1L << 40;

    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        // virtual disks
        ["vhd-footer"] = b => VhdFooter.Parse(b, "fuzz", 0),
        ["vhd-header"] = b =>
        {
            var h = VhdDynamicHeader.Parse(b, "fuzz", 0);
            foreach (var l in h.ParentLocators) l.DecodePath(b.AsSpan(0, (int)Math.Min(l.DataLength, (uint)b.Length)));
        },
        ["vhdx-header"] = b => VhdxHeader.Parse(b, "fuzz", 0),
        ["vhdx-regions"] = b => VhdxRegionTable.Parse(b, "fuzz", 0),
        ["vhdx-metadata"] = b =>
        {
            var table = VhdxMetadataTable.Parse(b, b.Length, "fuzz", 0);
            if (VhdxMetadata.NeededLength(table) <= b.Length) VhdxMetadata.Parse(table, b, "fuzz", 0);
        },
        ["vhdx-log"] = b =>
        {
            // The log GUID is taken from where the first entry keeps it, so valid entries can be found and mutated.
            if (b.Length >= 4096) VhdxLog.ActiveSequence(b.AsSpan(0, b.Length / 4096 * 4096), new Guid(b.AsSpan(32, 16)));
        },
        ["open"] = b => WithFile(b, OpenAsDisk),

        // partition tables: the input is the start of a disk (MBR, EBR chain, GPT header and entries)
        ["mbr"] = b => { if (b.Length >= 512) MasterBootRecord.Parse(b.AsSpan(0, 512)); },
        ["gpt"] = b =>
        {
            if (b.Length < 512) return;
            var h = GptHeader.Parse(b.AsSpan(0, 512), 512);
            int size = (int)Math.Max(128u, h.SizeOfPartitionEntry);
            for (int i = 0; i < Math.Min(h.NumberOfPartitionEntries, 128u) && 512 + (i + 1) * size <= b.Length; i++)
                GptPartitionEntry.Parse(b.AsSpan(512 + i * size, 128));
        },
        ["disk-layout"] = b => WithFile(b, path => { using var d = RawDisk.OpenRead(path); DiskLayout.Read(d); }),

        // file systems
        ["ntfs-boot"] = b => { if (b.Length >= 512) NtfsBootSector.Parse(b.AsSpan(0, 512)); },
        ["ntfs-record"] = b => { if (b.Length >= 1024) FileRecord.Parse(b.AsSpan(0, 1024), 0, 0); },
        ["ntfs-index"] = b => { if (b.Length >= 4096) IndexRecord.Parse(b.AsSpan(0, 4096), 0, 0, "fuzz"); },
        ["ntfs-runlist"] = b => MappingPairs.Decode(b, 0, FuzzDiskLength / 4096, 0, "fuzz"),
        ["ntfs"] = b => WithFile(b, path =>
        {
            using var d = RawDisk.OpenRead(path);
            var v = NtfsVolume.Open(d);
            foreach (var e in v.ListDirectory("/").Take(64)) if (!e.IsDirectory) v.ReadFile("/" + e.Name, 1 << 20);
            v.GetUsedExtents();
        }),
        ["fat"] = b => WithFile(b, path =>
        {
            using var d = RawDisk.OpenRead(path);
            var v = FatVolume.Open(d);
            _ = v.Label;
            v.GetUsedExtents();
        }),

        // the P2V image format
        ["image-header"] = b => ImageHeader.Parse(b),
        ["image-frame"] = b => ChunkFrameHeader.Parse(b, 0, FuzzDiskLength),
        ["image-trailer"] = b => ImageTrailer.Parse(b, 0, FuzzDiskLength),
        ["image-footer"] = b => { if (b.Length >= ImageFooter.Length) ImageFooter.Parse(b.AsSpan(0, ImageFooter.Length), 1 << 20, (1 << 20) + ImageFooter.Length); },
        // a zstd chunk's payload: the frame header check and the decoder must refuse, never throw
        ["zstd-chunk"] = b =>
        {
            ulong declared = ZstdFrameHeader.TryParse(b, out _)?.ContentSize ?? 65536;
            var output = new byte[(int)Math.Clamp(declared, 1UL, (ulong)ImageFormat.MaxChunkSize)];
            ChunkEncoder.TryDecode(ChunkCodec.Zstd, b, output, new byte[ImageFormat.HashLength], out _);
        },
        ["image"] = b => WithFile(b, path =>
        {
            using var reader = ImageReader.Open(path);
            new RestorePipeline { VerifyOnly = true, Workers = 1 }.RunAsync(reader, null).GetAwaiter().GetResult();
        }),

        // Windows
        ["regf"] = b => RegistryHive.Open(b, "fuzz").Verify(),
        ["bcd"] = b => BcdStore.Read(RegistryHive.Open(b, "fuzz")),
        ["pe"] = b => PeImage.Parse(b, "fuzz").ReadVersionInfo(),
        ["cab"] = b =>
        {
            using var cab = CabinetArchive.Open(new MemoryStream(b), "fuzz");
            foreach (var f in cab.Files.Take(16)) cab.Extract(f);
        },
        ["inf"] = b =>
        {
            var inf = InfFile.Parse(InfFile.Decode(b), "fuzz");
            foreach (var section in inf.SectionNames) _ = inf.Section(section).Sum(l => l.Values.Count);
        },
    };

    /// <summary>
    /// Runs a target; the corrupt-data exceptions are the expected way to refuse bad input, and NotSupportedException
    /// the way to refuse a valid structure the reader does not implement (an LZX cabinet, a multi-cabinet set).
    /// </summary>
    public static void Run(Action<byte[]> target, byte[] input)
    {
        try
        {
            target(input);
        }
        catch (Exception e) when (e is CorruptDataException or RegistryHiveException or CabinetException or PeFormatException or NotSupportedException or InfFormatException)
        {
        }
    }

    private static void WithFile(byte[] input, Action<string> use)
    {
        string path = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"p2v-fuzz-{Environment.ProcessId}.img");
        File.WriteAllBytes(path, input);
        try
        {
            use(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void OpenAsDisk(string path)
    {
        using var disk = VirtualDisk.Open(path);
        if (disk is RawDisk) return;
        var buf = new byte[64 * 1024];
        foreach (var e in disk.AllocatedExtents().Take(16))
            disk.ReadAt(e.Offset, buf.AsSpan(0, (int)Math.Min(buf.Length, e.Length)));
        disk.ReadAt(0, buf.AsSpan(0, (int)Math.Min(buf.Length, disk.Length)));
    }
}
