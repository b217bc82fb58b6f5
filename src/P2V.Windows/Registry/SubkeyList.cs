using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>
/// A subkeys list cell (spec § Cell › Index leaf "li", Fast leaf "lf", Hash leaf "lh", Index root "ri"): a
/// signature, a count and the elements. Leaves point to key nodes; an index root points to leaves, never to
/// another index root (§ Index root › Notes).
/// </summary>
internal readonly record struct SubkeyList(SubkeyListKind Kind, uint[] Offsets)
{
    public static SubkeyList Parse(ReadOnlySpan<byte> cell, string hive, uint offset)
    {
        if (cell.Length < 4) throw new RegistryHiveException(hive, offset, "subkeys list cell is shorter than its header");
        SubkeyListKind kind = (cell[0], cell[1]) switch
        {
            ((byte)'l', (byte)'i') => SubkeyListKind.IndexLeaf,
            ((byte)'l', (byte)'f') => SubkeyListKind.FastLeaf,
            ((byte)'l', (byte)'h') => SubkeyListKind.HashLeaf,
            ((byte)'r', (byte)'i') => SubkeyListKind.IndexRoot,
            _ => throw new RegistryHiveException(hive, offset, "expected a subkeys list ('li', 'lf', 'lh' or 'ri')"),
        };
        int count = BinaryPrimitives.ReadUInt16LittleEndian(cell[2..]);
        int stride = kind is SubkeyListKind.FastLeaf or SubkeyListKind.HashLeaf ? 8 : 4;
        if (4 + (long)count * stride > cell.Length)
            throw new RegistryHiveException(hive, offset, $"subkeys list of {count} elements runs past its {cell.Length}-byte cell");
        var offsets = new uint[count];
        for (int i = 0; i < count; i++) offsets[i] = BinaryPrimitives.ReadUInt32LittleEndian(cell[(4 + i * stride)..]);
        return new SubkeyList(kind, offsets);
    }

    public static int LengthFor(SubkeyListKind kind, int count) => 4 + count * (kind is SubkeyListKind.FastLeaf or SubkeyListKind.HashLeaf ? 8 : 4);

    /// <summary>Writes a list; <paramref name="names"/> gives each element's key name for lf hints and lh hashes.</summary>
    public static void Write(Span<byte> cell, SubkeyListKind kind, IReadOnlyList<uint> offsets, IReadOnlyList<string>? names)
    {
        ReadOnlySpan<byte> sig = kind switch
        {
            SubkeyListKind.IndexLeaf => "li"u8, SubkeyListKind.FastLeaf => "lf"u8, SubkeyListKind.HashLeaf => "lh"u8, _ => "ri"u8,
        };
        sig.CopyTo(cell);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[2..], (ushort)offsets.Count);
        int stride = kind is SubkeyListKind.FastLeaf or SubkeyListKind.HashLeaf ? 8 : 4;
        for (int i = 0; i < offsets.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(cell[(4 + i * stride)..], offsets[i]);
            if (stride == 8)
                BinaryPrimitives.WriteUInt32LittleEndian(cell[(8 + i * stride)..],
                    kind == SubkeyListKind.HashLeaf ? CellName.Hash(names![i]) : CellName.Hint(names![i]));
        }
    }
}

internal enum SubkeyListKind { IndexLeaf, FastLeaf, HashLeaf, IndexRoot }
