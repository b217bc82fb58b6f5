namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A file as a set of attributes: its base MFT record's, plus those in extension records that its
/// $ATTRIBUTE_LIST names.
/// </summary>
internal sealed class NtfsFile(FileRecord baseRecord, IReadOnlyList<AttributeRecord> attributes)
{
    public FileRecord BaseRecord { get; } = baseRecord;
    public IReadOnlyList<AttributeRecord> Attributes { get; } = attributes;
    public long RecordNumber => BaseRecord.RecordNumber;
    public FileReference Reference => FileReference.Of(BaseRecord.RecordNumber, BaseRecord.SequenceNumber);

    public bool IsDirectory => BaseRecord.IsDirectory;

    /// <summary>The attribute records of one attribute; names compare exactly ("$I30", "" for unnamed).</summary>
    public IReadOnlyList<AttributeRecord> Find(AttributeType type, string name = "") =>
        Attributes.Where(a => a.Type == type && string.Equals(a.Name, name, StringComparison.Ordinal)).ToList();

    public AttributeRecord? FindResident(AttributeType type, string name = "") =>
        Attributes.FirstOrDefault(a => a.Type == type && !a.Header.IsNonResident && string.Equals(a.Name, name, StringComparison.Ordinal));
}
