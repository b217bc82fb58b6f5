using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// One attribute record as found in an MFT record (base or extension): its header and its bytes; and the
/// builders of new ones. A non-resident attribute may be split over several such records, each mapping a VCN
/// range. Layout: NTFS Documentation, "Concepts: Attribute Header"; ntfs-3g layout.h ATTR_RECORD — the name
/// follows the header, the value or mapping pairs start 8-byte aligned after it, and the whole record is a
/// multiple of 8 bytes.
/// </summary>
public sealed class AttributeRecord
{
    private readonly byte[] _record;

    private AttributeRecord(AttributeHeader header, byte[] record, long recordNumber, long volumeOffset)
    {
        Header = header;
        _record = record;
        RecordNumber = recordNumber;
        VolumeOffset = volumeOffset;
    }

    public AttributeHeader Header { get; }

    /// <summary>The MFT record that holds this attribute record.</summary>
    public long RecordNumber { get; }

    /// <summary>Where the attribute record starts on the volume, for error messages.</summary>
    public long VolumeOffset { get; }

    public AttributeType Type => Header.Type;
    public string Name => Header.Name;

    /// <summary>The value of a resident attribute.</summary>
    public ReadOnlySpan<byte> ResidentValue => Header.IsNonResident
        ? throw new InvalidOperationException("the attribute is non-resident")
        : _record.AsSpan(Header.ValueOffset, Header.ValueLength);

    /// <summary>The runs of this fragment of a non-resident attribute, starting at its lowest VCN.</summary>
    public IReadOnlyList<DataRun> DecodeRuns(long totalClusters) => MappingPairs.Decode(
        _record.AsSpan(Header.MappingPairsOffset), Header.LowestVcn, totalClusters, VolumeOffset + Header.MappingPairsOffset,
        $"MFT record {RecordNumber} attribute 0x{(uint)Type:X}");

    public static AttributeRecord Parse(ReadOnlySpan<byte> record, long recordNumber, long volumeOffset)
    {
        var header = AttributeHeader.Parse(record, volumeOffset, $"MFT record {recordNumber}");
        return new AttributeRecord(header, record[..header.RecordLength].ToArray(), recordNumber, volumeOffset);
    }

    public override string ToString() => $"0x{(uint)Type:X}{(Name.Length > 0 ? ":" + Name : "")} in record {RecordNumber}";

    // ---- Building records ---------------------------------------------------------------------------------

    public static int Align8(int n) => (n + 7) & ~7;

    internal static byte[] Resident(AttributeType type, string name, ushort id, ReadOnlySpan<byte> value, byte residentFlags = 0)
    {
        int valueOffset = Align8(AttributeHeader.ResidentHeaderSize + 2 * name.Length);
        var b = new byte[Align8(valueOffset + value.Length)];
        AttributeHeader.WriteCommon(b, type, name, id, nonResident: false, AttributeFlags.None, AttributeHeader.ResidentHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(AttributeHeader.ValueLengthField), (uint)value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(AttributeHeader.ValueOffsetField), (ushort)valueOffset);
        b[AttributeHeader.ResidentFlagsField] = residentFlags;
        value.CopyTo(b.AsSpan(valueOffset));
        return b;
    }

    /// <summary>
    /// A non-resident record mapping <paramref name="runs"/> from <paramref name="lowestVcn"/> on; the highest VCN is
    /// the last run's (lowest - 1 when there are none). Sizes count only in the record that maps VCN 0 (ntfs-3g
    /// writes zeros in the others).
    /// </summary>
    internal static byte[] NonResident(AttributeType type, string name, ushort id, IReadOnlyList<DataRun> runs, long allocatedSize, long dataSize, long initializedSize, long lowestVcn = 0)
    {
        var pairs = MappingPairs.Encode(runs);
        int pairsOffset = Align8(AttributeHeader.NonResidentHeaderSize + 2 * name.Length);
        var b = new byte[Align8(pairsOffset + pairs.Length)];
        AttributeHeader.WriteCommon(b, type, name, id, nonResident: true, AttributeFlags.None, AttributeHeader.NonResidentHeaderSize);
        long next = runs.Count == 0 ? lowestVcn : runs[^1].NextVcn;
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(AttributeHeader.LowestVcnField), lowestVcn);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(AttributeHeader.HighestVcnField), next - 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(AttributeHeader.MappingPairsOffsetField), (ushort)pairsOffset);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(AttributeHeader.AllocatedSizeField), allocatedSize);
        AttributeHeader.SetSizes(b, dataSize, initializedSize);
        pairs.CopyTo(b.AsSpan(pairsOffset));
        return b;
    }
}
