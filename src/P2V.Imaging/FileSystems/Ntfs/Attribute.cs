namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// One attribute record as found in an MFT record (base or extension): its header and its bytes.
/// A non-resident attribute may be split over several such records, each mapping a VCN range.
/// </summary>
public sealed class NtfsAttribute
{
    private readonly byte[] _record;

    private NtfsAttribute(AttributeHeader header, byte[] record, long recordNumber, long volumeOffset)
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
    public IReadOnlyList<DataRun> DecodeRuns(long totalClusters) => Runlist.Decode(
        _record.AsSpan(Header.MappingPairsOffset), Header.LowestVcn, totalClusters, VolumeOffset + Header.MappingPairsOffset,
        $"MFT record {RecordNumber} attribute 0x{(uint)Type:X}");

    public static NtfsAttribute Parse(ReadOnlySpan<byte> record, long recordNumber, long volumeOffset)
    {
        var header = AttributeHeader.Parse(record, volumeOffset, $"MFT record {recordNumber}");
        return new NtfsAttribute(header, record[..header.RecordLength].ToArray(), recordNumber, volumeOffset);
    }

    public override string ToString() => $"0x{(uint)Type:X}{(Name.Length > 0 ? ":" + Name : "")} in record {RecordNumber}";
}
