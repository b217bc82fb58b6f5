using System.Buffers.Binary;
using System.Text;

namespace P2V.Windows.Registry;

// Keys, values and their lists: reading with every offset checked, editing as Windows does (spec § Cell).
public sealed partial class RegistryHive
{
    internal KeyNode ReadKey(uint offset) => KeyNode.Parse(Cell(offset, "key node"), Name, offset);

    private void WriteKey(uint offset, KeyNode nk)
    {
        var cell = Cell(offset, "key node");
        if (cell.Length < nk.Length) throw Corrupt(offset, "key node no longer fits its cell");
        nk.Write(cell);
        _modified = true;
    }

    private static long Now => DateTime.UtcNow.ToFileTimeUtc();

    internal string? ReadClassName(uint offset)
    {
        var nk = ReadKey(offset);
        if (nk.ClassName == NoCell || nk.ClassNameLength == 0) return null;
        var cell = Cell(nk.ClassName, "class name");
        if (nk.ClassNameLength > cell.Length) throw Corrupt(nk.ClassName, $"class name of {nk.ClassNameLength} bytes runs past its cell");
        return Encoding.Unicode.GetString(cell[..nk.ClassNameLength]);
    }

    // ---- Subkeys ---------------------------------------------------------------------------------------

    /// <summary>The key node offsets in a key's subkeys list, through an index root if there is one (§ Index root).</summary>
    private List<uint> SubkeyOffsets(uint keyOffset, KeyNode nk)
    {
        var result = new List<uint>();
        if (nk.SubkeyCount == 0) return result;
        var top = SubkeyList.Parse(Cell(nk.SubkeyList, "subkeys list"), Name, nk.SubkeyList);
        if (top.Kind == SubkeyListKind.IndexRoot)
        {
            foreach (var leafOffset in top.Offsets)
            {
                var leaf = SubkeyList.Parse(Cell(leafOffset, "subkeys list"), Name, leafOffset);
                if (leaf.Kind == SubkeyListKind.IndexRoot) throw Corrupt(leafOffset, "an index root points to another index root");
                result.AddRange(leaf.Offsets);
                if (result.Count > nk.SubkeyCount) break;
            }
        }
        else result.AddRange(top.Offsets);
        if (result.Count != nk.SubkeyCount)
            throw Corrupt(nk.SubkeyList, $"subkeys list of the key at 0x{keyOffset:X} holds {result.Count} keys, its key node says {nk.SubkeyCount}");
        return result;
    }

    /// <summary>
    /// A key's children. Each must name this key as its parent, which is what Windows checks too; a subkey list
    /// pointing back up the tree (a cycle) fails here or at the depth limit, never loops.
    /// </summary>
    internal List<(uint Offset, string Name)> Children(uint offset)
    {
        var nk = ReadKey(offset);
        var result = new List<(uint, string)>();
        foreach (var child in SubkeyOffsets(offset, nk))
        {
            var c = ReadKey(child);
            if (child == offset || c.Parent != offset)
                throw Corrupt(child, $"subkey '{c.Name}' at 0x{child:X} listed under the key at 0x{offset:X} names 0x{c.Parent:X} as its parent (cross-linked or cyclic subkey list)");
            result.Add((child, c.Name));
        }
        return result;
    }

    internal uint? FindChild(uint offset, string name)
    {
        foreach (var (child, childName) in Children(offset))
            if (CellName.Compare(childName, name) == 0) return child;
        return null;
    }

    internal uint AddSubkey(uint parentOffset, string name)
    {
        if (name.Length == 0 || name.Length > 255 || name.Contains('\\'))
            throw new ArgumentException($"'{name}' is not a valid key name (1–255 characters, no backslash)", nameof(name));
        var children = Children(parentOffset);
        var parent = ReadKey(parentOffset);
        var nk = new KeyNode { LastWritten = Now, Parent = parentOffset, Security = parent.Security, Name = name };
        uint offset = Allocate(nk.Length);
        WriteKey(offset, nk);
        if (parent.Security != NoCell) AddSecurityReference(parent.Security);
        children.Add((offset, name));
        parent.SubkeyList = WriteSubkeyList(parent.SubkeyList, parent.SubkeyCount, children);
        parent.SubkeyCount = (uint)children.Count;
        parent.MaxSubkeyNameLength = Math.Max(parent.MaxSubkeyNameLength, name.Length * 2);
        parent.LastWritten = Now;
        WriteKey(parentOffset, parent);
        return offset;
    }

    internal bool DeleteSubkey(uint parentOffset, string name)
    {
        var children = Children(parentOffset);
        int index = children.FindIndex(c => CellName.Compare(c.Name, name) == 0);
        if (index < 0) return false;
        DeleteTree(children[index].Offset, 0);
        children.RemoveAt(index);
        var parent = ReadKey(parentOffset);
        parent.SubkeyList = WriteSubkeyList(parent.SubkeyList, parent.SubkeyCount, children);
        parent.SubkeyCount = (uint)children.Count;
        parent.MaxSubkeyNameLength = children.Count == 0 ? 0 : children.Max(c => c.Name.Length * 2);
        parent.LastWritten = Now;
        WriteKey(parentOffset, parent);
        return true;
    }

    private void DeleteTree(uint offset, int depth)
    {
        if (depth > MaxDepth) throw Corrupt(offset, $"key tree deeper than {MaxDepth} levels (a cycle in the subkey lists?)");
        var nk = ReadKey(offset);
        if ((nk.Flags & KeyNode.FlagHiveEntry) != 0) throw Corrupt(offset, "the hive's root key appears as a subkey");
        foreach (var (child, _) in Children(offset)) DeleteTree(child, depth + 1);
        foreach (var vk in ValueOffsets(nk))
        {
            FreeData(KeyValue.Parse(Cell(vk, "key value"), Name, vk));
            Free(vk);
        }
        if (nk.ValueCount > 0) Free(nk.ValueList);
        FreeSubkeyList(nk.SubkeyList, nk.SubkeyCount);
        if (nk.ClassName != NoCell && nk.ClassNameLength > 0) Free(nk.ClassName);
        if (nk.Security != NoCell) ReleaseSecurity(nk.Security);
        Free(offset);
    }

    /// <summary>
    /// Writes a new subkeys list for <paramref name="children"/> sorted as Windows requires (upper-cased names,
    /// § Hash leaf) and frees the old one: a hash leaf in 1.5+ hives, a fast leaf before; an index root of leaves
    /// when the list is long.
    /// </summary>
    private uint WriteSubkeyList(uint oldList, uint oldCount, List<(uint Offset, string Name)> children)
    {
        children.Sort((a, b) => CellName.Compare(a.Name, b.Name));
        var kind = _base.MinorVersion >= 5 ? SubkeyListKind.HashLeaf : SubkeyListKind.FastLeaf;
        // A single leaf that still fits its cell is rewritten in place, as Windows grows lists where they are.
        if (children.Count is > 0 and <= MaxLeafElements && oldCount > 0 && oldList != NoCell
            && SubkeyList.Parse(Cell(oldList, "subkeys list"), Name, oldList).Kind != SubkeyListKind.IndexRoot
            && Cell(oldList).Length >= SubkeyList.LengthFor(kind, children.Count))
        {
            SubkeyList.Write(Cell(oldList), kind, children.Select(c => c.Offset).ToList(), children.Select(c => c.Name).ToList());
            return oldList;
        }
        FreeSubkeyList(oldList, oldCount);
        if (children.Count == 0) return NoCell;
        uint Leaf(List<(uint Offset, string Name)> part)
        {
            uint cell = Allocate(SubkeyList.LengthFor(kind, part.Count));
            SubkeyList.Write(Cell(cell), kind, part.Select(c => c.Offset).ToList(), part.Select(c => c.Name).ToList());
            return cell;
        }
        if (children.Count <= MaxLeafElements) return Leaf(children);
        var leaves = children.Chunk(IndexRootLeafElements).Select(chunk => Leaf([.. chunk])).ToList();
        uint root = Allocate(SubkeyList.LengthFor(SubkeyListKind.IndexRoot, leaves.Count));
        SubkeyList.Write(Cell(root), SubkeyListKind.IndexRoot, leaves, null);
        return root;
    }

    private void FreeSubkeyList(uint list, uint count)
    {
        if (count == 0 || list == NoCell) return;
        var top = SubkeyList.Parse(Cell(list, "subkeys list"), Name, list);
        if (top.Kind == SubkeyListKind.IndexRoot)
            foreach (var leaf in top.Offsets) Free(leaf);
        Free(list);
    }

    // ---- Security cells (§ Key security) -------------------------------------------------------------

    private void AddSecurityReference(uint sk)
    {
        var s = KeySecurity.Parse(Cell(sk, "key security"), Name, sk);
        s.ReferenceCount++;
        s.Write(Cell(sk));
    }

    /// <summary>Drops one reference; the last one unlinks the cell from the hive's sk list and frees it.</summary>
    private void ReleaseSecurity(uint sk)
    {
        var s = KeySecurity.Parse(Cell(sk, "key security"), Name, sk);
        if (s.ReferenceCount > 1 || s.Flink == sk)
        {
            s.ReferenceCount = Math.Max(1, s.ReferenceCount - 1);
            s.Write(Cell(sk));
            return;
        }
        var prev = KeySecurity.Parse(Cell(s.Blink, "key security"), Name, s.Blink);
        prev.Flink = s.Flink;
        prev.Write(Cell(s.Blink));
        var next = KeySecurity.Parse(Cell(s.Flink, "key security"), Name, s.Flink);
        next.Blink = s.Blink;
        next.Write(Cell(s.Flink));
        Free(sk);
    }

    // ---- Values (§ Key values list, § Key value, § Big data) ------------------------------------------

    private uint[] ValueOffsets(KeyNode nk)
    {
        if (nk.ValueCount == 0) return [];
        var cell = Cell(nk.ValueList, "key values list");
        if (nk.ValueCount > cell.Length / 4)
            throw Corrupt(nk.ValueList, $"key values list of {nk.ValueCount} values runs past its {cell.Length}-byte cell");
        var result = new uint[nk.ValueCount];
        for (int i = 0; i < result.Length; i++) result[i] = BinaryPrimitives.ReadUInt32LittleEndian(cell[(i * 4)..]);
        return result;
    }

    internal IReadOnlyList<RegistryValue> Values(uint offset)
    {
        var nk = ReadKey(offset);
        return ValueOffsets(nk).Select(ReadValue).ToList();
    }

    private RegistryValue ReadValue(uint vkOffset)
    {
        var vk = KeyValue.Parse(Cell(vkOffset, "key value"), Name, vkOffset);
        return new RegistryValue(vk.Name, (RegistryValueKind)vk.Type, ReadData(vk, vkOffset));
    }

    internal (uint Offset, RegistryValue Value)? FindValue(uint keyOffset, string name)
    {
        foreach (var vk in ValueOffsets(ReadKey(keyOffset)))
        {
            var v = KeyValue.Parse(Cell(vk, "key value"), Name, vk);
            if (string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase))
                return (vk, new RegistryValue(v.Name, (RegistryValueKind)v.Type, ReadData(v, vk)));
        }
        return null;
    }

    private bool IsBigData(KeyValue vk, ReadOnlySpan<byte> cell) =>
        vk.DataLength > BigData.SegmentSize && _base.MinorVersion >= 4 && BigData.IsBigData(cell);

    private byte[] ReadData(KeyValue vk, uint vkOffset)
    {
        int length = vk.DataLength;
        if (vk.IsInline)
        {
            if (length > 4) throw Corrupt(vkOffset, $"value '{vk.Name}' claims {length} bytes stored in the key value itself, at most 4 fit");
            var inline = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(inline, vk.DataOffset);
            return inline[..length];
        }
        if (length == 0) return [];
        var cell = Cell(vk.DataOffset, "value data");
        if (IsBigData(vk, cell))
        {
            var db = BigData.Parse(cell, Name, vk.DataOffset);
            var list = Cell(db.SegmentList, "big data segment list");
            if (db.SegmentCount > list.Length / 4 || (long)db.SegmentCount * BigData.SegmentSize < length)
                throw Corrupt(vk.DataOffset, $"big data of {length} bytes has {db.SegmentCount} segments, too few or past its list");
            var segments = new uint[db.SegmentCount];
            for (int i = 0; i < segments.Length; i++) segments[i] = BinaryPrimitives.ReadUInt32LittleEndian(Cell(db.SegmentList)[(i * 4)..]);
            var data = new byte[length];
            int at = 0;
            foreach (var segment in segments)
            {
                if (at == length) break;
                var s = Cell(segment, "big data segment");
                int n = Math.Min(BigData.SegmentSize, length - at);
                if (s.Length < n) throw Corrupt(segment, $"big data segment is {s.Length} bytes, expected {n}");
                s[..n].CopyTo(data.AsSpan(at));
                at += n;
            }
            return data;
        }
        if (length > cell.Length) throw Corrupt(vk.DataOffset, $"value '{vk.Name}' data of {length} bytes runs past its {cell.Length}-byte cell");
        return cell[..length].ToArray();
    }

    /// <summary>Stores data the way Windows does: ≤ 4 bytes in the key value, ≤ 16344 in one cell, more in big data segments (1.4+).</summary>
    private (uint SizeField, uint Offset) WriteData(ReadOnlySpan<byte> data)
    {
        if (data.Length <= 4)
        {
            Span<byte> inline = stackalloc byte[4];
            inline.Clear();
            data.CopyTo(inline);
            return ((uint)data.Length | KeyValue.InlineFlag, BinaryPrimitives.ReadUInt32LittleEndian(inline));
        }
        if (data.Length > BigData.SegmentSize && _base.MinorVersion >= 4)
        {
            int count = (data.Length + BigData.SegmentSize - 1) / BigData.SegmentSize;
            if (count > ushort.MaxValue) throw new ArgumentException($"value data of {data.Length} bytes is too large for a registry hive");
            var segments = new uint[count];
            for (int i = 0; i < count; i++)
            {
                var part = data.Slice(i * BigData.SegmentSize, Math.Min(BigData.SegmentSize, data.Length - i * BigData.SegmentSize));
                // 4 spare bytes: hivex takes a segment's data as its cell size less 8, so a cell with no padding
                // would lose its last bytes there; Windows reads only the data length and ignores the spare.
                segments[i] = Allocate(part.Length + 4);
                part.CopyTo(Cell(segments[i]));
            }
            uint list = Allocate(count * 4);
            for (int i = 0; i < count; i++) BinaryPrimitives.WriteUInt32LittleEndian(Cell(list)[(i * 4)..], segments[i]);
            uint db = Allocate(BigData.Length);
            new BigData((ushort)count, list).Write(Cell(db));
            return ((uint)data.Length, db);
        }
        uint cell = Allocate(data.Length);
        data.CopyTo(Cell(cell));
        return ((uint)data.Length, cell);
    }

    private void FreeData(KeyValue vk)
    {
        if (vk.IsInline || vk.DataLength == 0 || vk.DataOffset == NoCell) return;
        var cell = Cell(vk.DataOffset, "value data");
        if (IsBigData(vk, cell))
        {
            var db = BigData.Parse(cell, Name, vk.DataOffset);
            var list = Cell(db.SegmentList, "big data segment list");
            if (db.SegmentCount > list.Length / 4) throw Corrupt(db.SegmentList, "big data segment list runs past its cell");
            var segments = new uint[db.SegmentCount];
            for (int i = 0; i < segments.Length; i++) segments[i] = BinaryPrimitives.ReadUInt32LittleEndian(list[(i * 4)..]);
            foreach (var s in segments) Free(s);
            Free(db.SegmentList);
        }
        Free(vk.DataOffset);
    }

    internal void SetValue(uint keyOffset, string name, RegistryValueKind kind, ReadOnlySpan<byte> data)
    {
        if (name.Length > 16383) throw new ArgumentException("value names are at most 16383 characters", nameof(name));
        var existing = FindValue(keyOffset, name);
        uint vkOffset;
        KeyValue vk;
        if (existing is { } e)
        {
            vkOffset = e.Offset;
            vk = KeyValue.Parse(Cell(vkOffset), Name, vkOffset);
            FreeData(vk);
        }
        else
        {
            vk = new KeyValue { Name = name, DataOffset = NoCell };
            vkOffset = Allocate(vk.Length);
            vk.Write(Cell(vkOffset));
            var nk0 = ReadKey(keyOffset);
            var offsets = ValueOffsets(nk0).Append(vkOffset).ToArray();
            nk0.ValueList = WriteValueList(nk0.ValueList, offsets);
            nk0.ValueCount = (uint)offsets.Length;
            WriteKey(keyOffset, nk0);
        }
        (vk.DataSizeField, vk.DataOffset) = WriteData(data);
        vk.Type = (uint)kind;
        vk.Write(Cell(vkOffset));
        var nk = ReadKey(keyOffset);
        nk.MaxValueNameLength = Math.Max(nk.MaxValueNameLength, (uint)name.Length * 2);
        nk.MaxValueDataLength = Math.Max(nk.MaxValueDataLength, (uint)data.Length);
        nk.LastWritten = Now;
        WriteKey(keyOffset, nk);
    }

    /// <summary>Rewrites a key values list, in place when the cell is big enough (§ Key values list).</summary>
    private uint WriteValueList(uint oldList, uint[] offsets)
    {
        if (offsets.Length == 0)
        {
            if (oldList != NoCell) Free(oldList);
            return NoCell;
        }
        uint list = oldList;
        if (oldList == NoCell || Cell(oldList, "key values list").Length < offsets.Length * 4)
        {
            list = Allocate(offsets.Length * 4);
            if (oldList != NoCell) Free(oldList);
        }
        var cell = Cell(list);
        for (int i = 0; i < offsets.Length; i++) BinaryPrimitives.WriteUInt32LittleEndian(cell[(i * 4)..], offsets[i]);
        return list;
    }

    internal bool DeleteValue(uint keyOffset, string name)
    {
        if (FindValue(keyOffset, name) is not { } e) return false;
        FreeData(KeyValue.Parse(Cell(e.Offset), Name, e.Offset));
        Free(e.Offset);
        var nk = ReadKey(keyOffset);
        var offsets = ValueOffsets(nk).Where(o => o != e.Offset).ToArray();
        nk.ValueList = WriteValueList(nk.ValueList, offsets);
        nk.ValueCount = (uint)offsets.Length;
        uint maxName = 0, maxData = 0;
        foreach (var o in offsets)
        {
            var v = KeyValue.Parse(Cell(o, "key value"), Name, o);
            maxName = Math.Max(maxName, (uint)v.Name.Length * 2);
            maxData = Math.Max(maxData, (uint)v.DataLength);
        }
        nk.MaxValueNameLength = maxName;
        nk.MaxValueDataLength = maxData;
        nk.LastWritten = Now;
        WriteKey(keyOffset, nk);
        return true;
    }

    /// <summary>
    /// Reads every key and value of the hive once (depth-limited), so a corrupt hive fails here with its offset
    /// rather than later; returns the number of keys. Also the entry point for fuzzing the parser.
    /// </summary>
    public int Verify()
    {
        int keys = 0;
        var stack = new Stack<(uint Offset, int Depth)>();
        stack.Push((_base.RootCellOffset, 0));
        while (stack.Count > 0)
        {
            var (offset, depth) = stack.Pop();
            if (depth > MaxDepth) throw Corrupt(offset, $"key tree deeper than {MaxDepth} levels (a cycle in the subkey lists?)");
            if (++keys > _binsSize / KeyNode.FixedLength + 1) throw Corrupt(offset, "more keys than the hive can hold (a cycle in the subkey lists)");
            _ = Values(offset);
            _ = ReadClassName(offset);
            foreach (var (child, _) in Children(offset)) stack.Push((child, depth + 1));
        }
        return keys;
    }
}
