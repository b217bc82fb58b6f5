using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>
/// A big data cell, "db" (spec § Cell › Big data): the number of segments and the offset of the cell listing them.
/// Used for value data over 16344 bytes in hives of version 1.4 and later.
/// </summary>
internal readonly record struct BigData(ushort SegmentCount, uint SegmentList)
{
    public const int Length = 8;
    /// <summary>The most data a value keeps in one cell, and the size of each big data segment but the last.</summary>
    public const int SegmentSize = 16344;

    public static bool IsBigData(ReadOnlySpan<byte> cell) => cell.Length >= Length && cell[..2].SequenceEqual("db"u8);

    public static BigData Parse(ReadOnlySpan<byte> cell, string hive, uint offset)
    {
        if (!IsBigData(cell)) throw new RegistryHiveException(hive, offset, "expected a big data cell ('db')");
        return new BigData(BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]), BinaryPrimitives.ReadUInt32LittleEndian(cell[4..]));
    }

    public void Write(Span<byte> cell)
    {
        "db"u8.CopyTo(cell);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[2..], SegmentCount);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[4..], SegmentList);
    }
}
