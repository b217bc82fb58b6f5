using System.Buffers;
using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// What the MFT says is in use, independently of $Bitmap: the clusters of every non-resident attribute of
/// every in-use MFT record (base and extension records alike), and among them the file system's own metadata
/// (records 0–11 but $BadClus). Capture copies what $Bitmap marks used; a damaged $Bitmap (all zeros, random
/// bytes) would silently drop files and even the boot sector, so capture checks the bitmap against this first.
/// The scan reads $MFT once, in large pieces, and parses only record and attribute headers and mapping pairs.
/// </summary>
internal sealed class MftClusterUsage
{
    private const int ReadChunk = 1 << 20;

    /// <summary>The last of the fixed system files ($Extend); records 12–15 are reserved, 16 on are files.</summary>
    private const long LastSystemRecord = 11;

    private const long BadClusRecord = 8;

    /// <summary>One run of clusters and the record whose attribute maps it (for the error message).</summary>
    public readonly record struct Use(long Lcn, long Length, long Record, AttributeType Type);

    private MftClusterUsage(List<Use> uses, List<Extent> metadata, long recordsScanned)
    {
        Uses = uses;
        Metadata = metadata;
        RecordsScanned = recordsScanned;
    }

    /// <summary>Every non-sparse run of every in-use record, sorted by LCN (runs may overlap when the MFT is cross-linked).</summary>
    public IReadOnlyList<Use> Uses { get; }

    /// <summary>Volume byte ranges of the system files' attributes ($MFT, $MFTMirr, $LogFile, $Bitmap, $Boot, root index, $UpCase …).</summary>
    public IReadOnlyList<Extent> Metadata { get; }

    public long RecordsScanned { get; }

    /// <summary>
    /// Scans $MFT. A record that $MFT's $BITMAP marks in use but that does not parse is damage: the runs it
    /// holds are unknown, so nothing can be concluded about the bitmap, and the scan throws.
    /// </summary>
    public static MftClusterUsage Scan(AttributeReader io, NtfsBootSector bootSector, AttributeData mft, byte[] mftBitmap)
    {
        int size = bootSector.FileRecordSize, cluster = bootSector.ClusterSize;
        long total = bootSector.TotalClusters, records = mft.InitializedSize / size;
        var uses = new List<Use>();
        var metadata = new List<Extent>();
        int perChunk = Math.Max(1, ReadChunk / size);
        var buffer = ArrayPool<byte>.Shared.Rent(perChunk * size);
        long scanned = 0;
        try
        {
            for (long first = 0; first < records; first += perChunk)
            {
                int count = (int)Math.Min(perChunk, records - first);
                io.Read(mft, first * size, buffer.AsSpan(0, count * size));
                for (int i = 0; i < count; i++)
                {
                    long number = first + i;
                    var record = buffer.AsSpan(i * size, size);
                    // The system files must be there whatever $MFT's $BITMAP says.
                    bool marked = number <= LastSystemRecord || IsSet(mftBitmap, number);
                    if (!record[..4].SequenceEqual(FileRecord.Magic))
                    {
                        if (marked) throw new NtfsException(io.VolumeOffsetOf(mft, number * size), $"MFT record {number} is marked in use in $MFT's $BITMAP but has no FILE header");
                        continue;
                    }
                    try
                    {
                        scanned++;
                        Collect(record, number, io.VolumeOffsetOf(mft, number * size), total, cluster, uses, metadata);
                    }
                    catch (NtfsException) when (!marked) { } // a damaged free record holds nothing
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        uses.Sort((a, b) => a.Lcn.CompareTo(b.Lcn));
        return new MftClusterUsage(uses, metadata, scanned);
    }

    private static void Collect(Span<byte> record, long number, long volumeOffset, long totalClusters, int cluster, List<Use> uses, List<Extent> metadata)
    {
        string what = $"MFT record {number}";
        UpdateSequence.Apply(record, volumeOffset, what);
        var flags = (FileRecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(record[FileRecord.FlagsField..]);
        if ((flags & FileRecordFlags.InUse) == 0) return;
        bool isMetadata = number <= LastSystemRecord && number != BadClusRecord;
        int used = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(record[FileRecord.BytesInUseField..]), (uint)record.Length);
        int pos = BinaryPrimitives.ReadUInt16LittleEndian(record[FileRecord.FirstAttributeField..]);
        while (pos + 4 <= used && BinaryPrimitives.ReadUInt32LittleEndian(record[pos..]) != (uint)AttributeType.End)
        {
            var header = AttributeHeader.Parse(record[pos..used], volumeOffset + pos, what);
            if (header.IsNonResident)
            {
                var pairs = record.Slice(pos + header.MappingPairsOffset, header.RecordLength - header.MappingPairsOffset);
                foreach (var run in MappingPairs.Decode(pairs, header.LowestVcn, totalClusters, volumeOffset + pos + header.MappingPairsOffset, $"{what} attribute 0x{(uint)header.Type:X}"))
                {
                    if (run.IsSparse) continue;
                    uses.Add(new Use(run.Lcn, run.Length, number, header.Type));
                    if (isMetadata) metadata.Add(new Extent(run.Lcn * cluster, run.Length * cluster));
                }
            }
            pos += header.RecordLength;
        }
    }

    private static bool IsSet(byte[] bitmap, long bit) => bit / 8 < bitmap.Length && (bitmap[bit / 8] & (1 << (int)(bit % 8))) != 0;
}
