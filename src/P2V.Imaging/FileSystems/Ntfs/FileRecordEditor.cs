using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// An MFT record held as bytes (fix-ups removed) while a write changes it: attribute records are found,
/// replaced, inserted in type order and removed, and the header's used-bytes count follows. Layout: NTFS
/// Documentation, "Concepts: File Record"; ntfs-3g layout.h MFT_RECORD (NTFS 3.1: record number at 0x2C,
/// update sequence array at 0x30). <see cref="Protected"/> gives the bytes to write, fix-ups applied.
/// </summary>
internal sealed class FileRecordEditor
{
    public FileRecordEditor(byte[] bytes, long recordNumber, long volumeOffset)
    {
        Bytes = bytes;
        RecordNumber = recordNumber;
        VolumeOffset = volumeOffset;
    }

    public byte[] Bytes { get; }
    public long RecordNumber { get; }
    public long VolumeOffset { get; }
    private string What => $"MFT record {RecordNumber}";

    public int BytesInUse
    {
        get => (int)BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(FileRecord.BytesInUseField));
        private set => BinaryPrimitives.WriteUInt32LittleEndian(Bytes.AsSpan(FileRecord.BytesInUseField), (uint)value);
    }

    public int BytesAllocated => Math.Min((int)BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(FileRecord.BytesAllocatedField)), Bytes.Length);
    public int FreeBytes => BytesAllocated - BytesInUse;
    public ushort SequenceNumber => BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.SequenceNumberField));
    public FileRecordFlags Flags => (FileRecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.FlagsField));

    /// <summary>A new, empty, in-use record: header, update sequence array, the end marker (ntfs-3g mft.c ntfs_mft_record_layout).</summary>
    public static FileRecordEditor CreateEmpty(int size, long recordNumber, long volumeOffset, ushort sequence, ushort usn, FileRecordFlags flags)
    {
        var b = new byte[size];
        int usaCount = size / UpdateSequence.StrideSize + 1;
        int firstAttribute = AttributeRecord.Align8(FileRecord.HeaderSize31 + 2 * usaCount);
        FileRecord.Magic.CopyTo(b);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(UpdateSequence.ArrayOffsetField), FileRecord.HeaderSize31);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(UpdateSequence.ArrayCountField), (ushort)usaCount);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(FileRecord.SequenceNumberField), sequence);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(FileRecord.LinkCountField), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(FileRecord.FirstAttributeField), (ushort)firstAttribute);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(FileRecord.FlagsField), (ushort)flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(FileRecord.BytesInUseField), (uint)(firstAttribute + 8));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(FileRecord.BytesAllocatedField), (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(FileRecord.RecordNumberField), (uint)recordNumber);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(FileRecord.HeaderSize31), usn);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(firstAttribute), (uint)AttributeType.End);
        return new FileRecordEditor(b, recordNumber, volumeOffset);
    }

    /// <summary>Offsets of the attribute records, in order.</summary>
    public List<int> AttributeOffsets()
    {
        var offsets = new List<int>();
        int pos = BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.FirstAttributeField));
        int used = BytesInUse;
        while (pos + 4 <= used && BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(pos)) != (uint)AttributeType.End)
        {
            offsets.Add(pos);
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(Bytes.AsSpan(pos + 4));
            if (length <= 0 || pos + length > used) throw new NtfsException(VolumeOffset + pos, $"{What}: attribute at {pos} has length {length}");
            pos += length;
        }
        return offsets;
    }

    public AttributeHeader HeaderAt(int offset) => AttributeHeader.Parse(Bytes.AsSpan(offset, BytesInUse - offset), VolumeOffset + offset, What);

    /// <summary>The offset of the first record of attribute <paramref name="type"/> named <paramref name="name"/>, or -1.</summary>
    public int Find(AttributeType type, string name = "")
    {
        foreach (int offset in AttributeOffsets())
        {
            var header = HeaderAt(offset);
            if (header.Type == type && string.Equals(header.Name, name, StringComparison.Ordinal)) return offset;
        }
        return -1;
    }

    /// <summary>The offset of the attribute record of <paramref name="type"/> with instance <paramref name="id"/>, or -1.</summary>
    public int FindInstance(AttributeType type, ushort id)
    {
        foreach (int offset in AttributeOffsets())
        {
            var header = HeaderAt(offset);
            if (header.Type == type && header.Id == id) return offset;
        }
        return -1;
    }

    public bool HasAttributes => AttributeOffsets().Count > 0;

    /// <summary>Marks the record free, bumping its sequence number (skipping 0) so that old references to it go stale (ntfs-3g mft.c ntfs_mft_record_free).</summary>
    public void MarkFree()
    {
        var flags = (FileRecordFlags)BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.FlagsField)) & ~FileRecordFlags.InUse;
        BinaryPrimitives.WriteUInt16LittleEndian(Bytes.AsSpan(FileRecord.FlagsField), (ushort)flags);
        ushort sequence = (ushort)(SequenceNumber + 1);
        BinaryPrimitives.WriteUInt16LittleEndian(Bytes.AsSpan(FileRecord.SequenceNumberField), sequence == 0 ? (ushort)1 : sequence);
    }

    public Span<byte> ResidentValue(int offset)
    {
        var header = HeaderAt(offset);
        if (header.IsNonResident) throw new NtfsException(VolumeOffset + offset, $"{What}: attribute 0x{(uint)header.Type:X} is not resident");
        return Bytes.AsSpan(offset + header.ValueOffset, header.ValueLength);
    }

    public byte[] AttributeBytes(int offset) => Bytes.AsSpan(offset, HeaderAt(offset).RecordLength).ToArray();

    /// <summary>Replaces the attribute record at <paramref name="offset"/>; false (and nothing changed) when the record has no room.</summary>
    public bool TryReplace(int offset, ReadOnlySpan<byte> attribute)
    {
        int oldLength = HeaderAt(offset).RecordLength;
        if (attribute.Length - oldLength > FreeBytes) return false;
        Move(offset + oldLength, attribute.Length - oldLength);
        attribute.CopyTo(Bytes.AsSpan(offset));
        return true;
    }

    /// <summary>Inserts an attribute record where its type (then name) sorts, giving it the next instance id.</summary>
    public bool TryInsert(byte[] attribute)
    {
        if (attribute.Length > FreeBytes) return false;
        var type = AttributeHeader.TypeOf(attribute);
        string name = AttributeHeader.NameOf(attribute);
        var offsets = AttributeOffsets();
        int at = offsets.Count == 0 ? BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.FirstAttributeField)) : offsets[^1] + HeaderAt(offsets[^1]).RecordLength; // the end marker
        foreach (int offset in offsets)
        {
            var header = HeaderAt(offset);
            if (header.Type > type || (header.Type == type && string.CompareOrdinal(header.Name, name) > 0)) { at = offset; break; }
        }
        AttributeHeader.SetInstance(attribute, NextInstance());
        Move(at, attribute.Length);
        attribute.CopyTo(Bytes.AsSpan(at));
        return true;
    }

    public void Remove(int offset) => Move(offset + HeaderAt(offset).RecordLength, -HeaderAt(offset).RecordLength);

    private ushort NextInstance()
    {
        ushort id = BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(FileRecord.NextAttributeInstanceField));
        BinaryPrimitives.WriteUInt16LittleEndian(Bytes.AsSpan(FileRecord.NextAttributeInstanceField), (ushort)(id + 1));
        return id;
    }

    /// <summary>Moves everything from <paramref name="from"/> to the end of the used bytes by <paramref name="delta"/>.</summary>
    private void Move(int from, int delta)
    {
        int used = BytesInUse;
        Bytes.AsSpan(from, used - from).CopyTo(Bytes.AsSpan(from + delta));
        if (delta < 0) Bytes.AsSpan(used + delta, -delta).Clear();
        BytesInUse = used + delta;
    }

    /// <summary>A copy with the update sequence number bumped and stamped: what goes to the disk.</summary>
    public byte[] Protected()
    {
        var copy = (byte[])Bytes.Clone();
        UpdateSequence.Protect(copy);
        // Keep the bumped number, so the next write of this editor bumps it again.
        int usa = BinaryPrimitives.ReadUInt16LittleEndian(Bytes.AsSpan(UpdateSequence.ArrayOffsetField));
        copy.AsSpan(usa, 2).CopyTo(Bytes.AsSpan(usa));
        return copy;
    }

    /// <summary>$STANDARD_INFORMATION times: last write (when the content changed), MFT change and last access.</summary>
    public void TouchStandardInformation(long now, bool modified)
    {
        int at = Find(AttributeType.StandardInformation);
        if (at < 0) return;
        var si = ResidentValue(at);
        if (si.Length >= StandardInformation.MinSize) StandardInformation.Touch(si, now, modified);
    }
}
