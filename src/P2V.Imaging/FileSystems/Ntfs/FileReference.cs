namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A reference to an MFT record: the low 48 bits are the record number, the high 16 bits the record's
/// sequence number at the time the reference was made (0 = do not check). Layout: ntfs-3g layout.h MFT_REF.
/// </summary>
public readonly record struct FileReference(ulong Value)
{
    public long RecordNumber => (long)(Value & 0x0000_FFFF_FFFF_FFFF);

    public ushort SequenceNumber => (ushort)(Value >> 48);

    public static FileReference Of(long recordNumber, ushort sequence = 0) => new(((ulong)sequence << 48) | (ulong)recordNumber);

    public override string ToString() => $"{RecordNumber}#{SequenceNumber}";
}
