using System.Buffers.Binary;

namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Builds attribute records (header + name + value or mapping pairs), the write direction of
/// <see cref="AttributeHeader.Parse"/>. Layout: NTFS Documentation, "Concepts: Attribute Header"; ntfs-3g
/// layout.h ATTR_RECORD — the name follows the header, the value or mapping pairs start 8-byte aligned after
/// it, and the whole record is a multiple of 8 bytes.
/// </summary>
internal static class AttributeRecord
{
    /// <summary>Resident flag 0x01 (RESIDENT_ATTR_IS_INDEXED): set on $FILE_NAME, which a $I30 index refers to.</summary>
    public const byte ResidentIndexed = 0x01;

    public static int Align8(int n) => (n + 7) & ~7;

    public static byte[] Resident(AttributeType type, string name, ushort id, ReadOnlySpan<byte> value, byte residentFlags = 0)
    {
        int valueOffset = Align8(AttributeHeader.ResidentHeaderSize + 2 * name.Length);
        var b = new byte[Align8(valueOffset + value.Length)];
        WriteCommon(b, type, name, id, nonResident: false, AttributeFlags.None);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(0x10), (uint)value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(0x14), (ushort)valueOffset);
        b[0x16] = residentFlags;
        value.CopyTo(b.AsSpan(valueOffset));
        return b;
    }

    /// <summary>A non-resident record mapping <paramref name="runs"/> (VCN 0 onwards); highest VCN is -1 when there are none.</summary>
    public static byte[] NonResident(AttributeType type, string name, ushort id, IReadOnlyList<DataRun> runs, long allocatedSize, long dataSize, long initializedSize)
    {
        var pairs = MappingPairs.Encode(runs);
        int pairsOffset = Align8(AttributeHeader.NonResidentHeaderSize + 2 * name.Length);
        var b = new byte[Align8(pairsOffset + pairs.Length)];
        WriteCommon(b, type, name, id, nonResident: true, AttributeFlags.None);
        long next = runs.Count == 0 ? 0 : runs[^1].NextVcn;
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(0x10), 0);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(0x18), next - 1);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(0x20), (ushort)pairsOffset);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(0x28), allocatedSize);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(0x30), dataSize);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(0x38), initializedSize);
        pairs.CopyTo(b.AsSpan(pairsOffset));
        return b;
    }

    private static void WriteCommon(Span<byte> b, AttributeType type, string name, ushort id, bool nonResident, AttributeFlags flags)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)type);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], (uint)b.Length);
        b[8] = nonResident ? (byte)1 : (byte)0;
        b[9] = (byte)name.Length;
        int nameOffset = nonResident ? AttributeHeader.NonResidentHeaderSize : AttributeHeader.ResidentHeaderSize;
        BinaryPrimitives.WriteUInt16LittleEndian(b[0x0A..], (ushort)nameOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(b[0x0C..], (ushort)flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[0x0E..], id);
        for (int i = 0; i < name.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(b[(nameOffset + 2 * i)..], name[i]);
    }
}
