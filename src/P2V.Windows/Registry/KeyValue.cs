using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>A key value cell, "vk" (spec § Cell › Key value). Data of 4 bytes or less lives in the offset field itself (§ Data size).</summary>
internal sealed class KeyValue
{
    public const int FixedLength = 20;
    public const uint InlineFlag = 0x80000000;
    public const ushort FlagCompressedName = 0x0001;

    public uint DataSizeField { get; set; }
    public uint DataOffset { get; set; }
    public uint Type { get; set; }
    public ushort Flags { get; set; }
    public string Name { get; set; } = "";

    public bool IsInline => (DataSizeField & InlineFlag) != 0;
    public int DataLength => (int)(DataSizeField & ~InlineFlag);

    public static KeyValue Parse(ReadOnlySpan<byte> cell, string hive, uint offset)
    {
        if (cell.Length < FixedLength || !cell[..2].SequenceEqual("vk"u8))
            throw new RegistryHiveException(hive, offset, "expected a key value ('vk')");
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]);
        if (FixedLength + nameLength > cell.Length)
            throw new RegistryHiveException(hive, offset, $"value name of {nameLength} bytes runs past its {cell.Length}-byte cell");
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(cell[16..]);
        return new KeyValue
        {
            DataSizeField = BinaryPrimitives.ReadUInt32LittleEndian(cell[4..]),
            DataOffset = BinaryPrimitives.ReadUInt32LittleEndian(cell[8..]),
            Type = BinaryPrimitives.ReadUInt32LittleEndian(cell[12..]),
            Flags = flags,
            Name = CellName.Decode(cell.Slice(FixedLength, nameLength), (flags & FlagCompressedName) != 0),
        };
    }

    public int Length => FixedLength + CellName.Encode(Name, out _).Length;

    public void Write(Span<byte> cell)
    {
        var name = CellName.Encode(Name, out bool compressed);
        Flags = (ushort)(compressed ? Flags | FlagCompressedName : Flags & ~FlagCompressedName);
        "vk"u8.CopyTo(cell);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[2..], (ushort)name.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[4..], DataSizeField);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[8..], DataOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[12..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[16..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[18..], 0);
        name.CopyTo(cell[FixedLength..]);
    }
}
