using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>A key node cell, "nk" (spec § Cell › Key node). Offsets are relative to the hive bins data; 0xFFFFFFFF means none.</summary>
internal sealed class KeyNode
{
    public const int FixedLength = 76;
    public const ushort FlagHiveEntry = 0x0004, FlagNoDelete = 0x0008, FlagCompressedName = 0x0020;

    public ushort Flags { get; set; }
    public long LastWritten { get; set; }
    public uint AccessBits { get; set; }
    public uint Parent { get; set; }
    public uint SubkeyCount { get; set; }
    public uint VolatileSubkeyCount { get; set; }
    public uint SubkeyList { get; set; } = RegistryHive.NoCell;
    public uint VolatileSubkeyList { get; set; } = RegistryHive.NoCell;
    public uint ValueCount { get; set; }
    public uint ValueList { get; set; } = RegistryHive.NoCell;
    public uint Security { get; set; } = RegistryHive.NoCell;
    public uint ClassName { get; set; } = RegistryHive.NoCell;
    /// <summary>Bits 0–15: largest subkey name in bytes (UTF-16); later Windows keeps flags in bits 16–31, preserved as read.</summary>
    public uint MaxSubkeyNameField { get; set; }
    public uint MaxSubkeyClassLength { get; set; }
    public uint MaxValueNameLength { get; set; }
    public uint MaxValueDataLength { get; set; }
    public uint WorkVar { get; set; }
    public ushort ClassNameLength { get; set; }
    public string Name { get; set; } = "";

    public int MaxSubkeyNameLength
    {
        get => (int)(MaxSubkeyNameField & 0xFFFF);
        set => MaxSubkeyNameField = (MaxSubkeyNameField & 0xFFFF0000) | (uint)Math.Min(value, 0xFFFF);
    }

    public static KeyNode Parse(ReadOnlySpan<byte> cell, string hive, uint offset)
    {
        if (cell.Length < FixedLength || !cell[..2].SequenceEqual("nk"u8))
            throw new RegistryHiveException(hive, offset, "expected a key node ('nk')");
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(cell[72..]);
        if (FixedLength + nameLength > cell.Length)
            throw new RegistryHiveException(hive, offset, $"key name of {nameLength} bytes runs past its {cell.Length}-byte cell");
        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]);
        return new KeyNode
        {
            Flags = flags,
            LastWritten = BinaryPrimitives.ReadInt64LittleEndian(cell[4..]),
            AccessBits = BinaryPrimitives.ReadUInt32LittleEndian(cell[12..]),
            Parent = BinaryPrimitives.ReadUInt32LittleEndian(cell[16..]),
            SubkeyCount = BinaryPrimitives.ReadUInt32LittleEndian(cell[20..]),
            VolatileSubkeyCount = BinaryPrimitives.ReadUInt32LittleEndian(cell[24..]),
            SubkeyList = BinaryPrimitives.ReadUInt32LittleEndian(cell[28..]),
            VolatileSubkeyList = BinaryPrimitives.ReadUInt32LittleEndian(cell[32..]),
            ValueCount = BinaryPrimitives.ReadUInt32LittleEndian(cell[36..]),
            ValueList = BinaryPrimitives.ReadUInt32LittleEndian(cell[40..]),
            Security = BinaryPrimitives.ReadUInt32LittleEndian(cell[44..]),
            ClassName = BinaryPrimitives.ReadUInt32LittleEndian(cell[48..]),
            MaxSubkeyNameField = BinaryPrimitives.ReadUInt32LittleEndian(cell[52..]),
            MaxSubkeyClassLength = BinaryPrimitives.ReadUInt32LittleEndian(cell[56..]),
            MaxValueNameLength = BinaryPrimitives.ReadUInt32LittleEndian(cell[60..]),
            MaxValueDataLength = BinaryPrimitives.ReadUInt32LittleEndian(cell[64..]),
            WorkVar = BinaryPrimitives.ReadUInt32LittleEndian(cell[68..]),
            ClassNameLength = BinaryPrimitives.ReadUInt16LittleEndian(cell[74..]),
            Name = CellName.Decode(cell.Slice(FixedLength, nameLength), (flags & FlagCompressedName) != 0),
        };
    }

    public int Length => FixedLength + CellName.Encode(Name, out _).Length;

    /// <summary>Writes the node into its cell's data; the name's encoding flag follows the name.</summary>
    public void Write(Span<byte> cell)
    {
        var name = CellName.Encode(Name, out bool compressed);
        Flags = (ushort)(compressed ? Flags | FlagCompressedName : Flags & ~FlagCompressedName);
        "nk"u8.CopyTo(cell);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[2..], Flags);
        BinaryPrimitives.WriteInt64LittleEndian(cell[4..], LastWritten);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[12..], AccessBits);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[16..], Parent);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[20..], SubkeyCount);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[24..], VolatileSubkeyCount);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[28..], SubkeyList);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[32..], VolatileSubkeyList);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[36..], ValueCount);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[40..], ValueList);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[44..], Security);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[48..], ClassName);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[52..], MaxSubkeyNameField);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[56..], MaxSubkeyClassLength);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[60..], MaxValueNameLength);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[64..], MaxValueDataLength);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[68..], WorkVar);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[72..], (ushort)name.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[74..], ClassNameLength);
        name.CopyTo(cell[FixedLength..]);
    }
}
