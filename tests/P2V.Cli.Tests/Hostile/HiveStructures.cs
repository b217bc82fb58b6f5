using System.Buffers.Binary;

namespace P2V.Cli.Tests.Hostile;

/// <summary>
/// The structures of a regf hive file that p2v reads ("Windows registry file format specification", M. Suhanov):
/// the base block (§ Base block, its XOR-32 checksum over the first 508 bytes), a hive bin header (§ Hive bin) and
/// allocated cells of each kind (§ Cells: key node, key value, subkeys list, key security), found by walking the bins.
/// </summary>
public static class HiveStructures
{
    public static IReadOnlyList<Structure> Of(byte[] hive, Random pick)
    {
        var cells = Cells(hive);
        Structure Cell(string name, string signatures, Func<long, Field[]> fields)
        {
            var ofKind = cells.Where(c => signatures.Split('|').Contains(c.Signature)).ToList();
            var (at, length, _) = ofKind[pick.Next(ofKind.Count)];
            return new Structure(name, at, length, fields(at));
        }
        int root = BinaryPrimitives.ReadInt32LittleEndian(hive.AsSpan(36));
        long rootAt = 4096 + root;
        Field[] KeyNode(long c) =>
        [
            new("cell size", c, 4), new("flags", c + 6, 2), new("parent", c + 20, 4), new("subkey count", c + 24, 4),
            new("subkeys list", c + 32, 4), new("value count", c + 40, 4), new("values list", c + 44, 4),
            new("security", c + 48, 4), new("class name", c + 52, 4), new("name length", c + 76, 2), new("class length", c + 78, 2),
        ];
        long bin = 4096 + 4096L * pick.Next(Math.Max(1, BinaryPrimitives.ReadInt32LittleEndian(hive.AsSpan(40)) / 4096));
        while (bin > 4096 && !hive.AsSpan((int)bin, 4).SequenceEqual("hbin"u8)) bin -= 4096; // a bin may span several 4 KiB pages
        return
        [
            new Structure("regf-base", 0, 512,
                [new("primary sequence", 4, 4), new("secondary sequence", 8, 4), new("major version", 20, 4), new("minor version", 24, 4),
                 new("file type", 28, 4), new("file format", 32, 4), new("root cell", 36, 4), new("hive bins size", 40, 4)],
                FixBaseBlockChecksum),
            new Structure("regf-hbin", bin, 32, [new("offset", bin + 4, 4), new("size", bin + 8, 4)]),
            new Structure("regf-root", rootAt, 80, KeyNode(rootAt)),
            Cell("regf-nk", "nk", KeyNode),
            Cell("regf-vk", "vk", c => [new("cell size", c, 4), new("name length", c + 6, 2), new("data size", c + 8, 4), new("data", c + 12, 4), new("type", c + 16, 4), new("flags", c + 20, 2)]),
            Cell("regf-list", "lf|lh|li|ri", c => [new("cell size", c, 4), new("count", c + 6, 2), new("element 0", c + 8, 4)]),
            Cell("regf-sk", "sk", c => [new("cell size", c, 4), new("next", c + 8, 4), new("previous", c + 12, 4), new("references", c + 16, 4), new("descriptor size", c + 20, 4)]),
        ];
    }

    /// <summary>Every allocated cell: its file offset, length and two-letter signature.</summary>
    private static List<(long At, int Length, string Signature)> Cells(byte[] hive)
    {
        var cells = new List<(long, int, string)>();
        long end = 4096L + BinaryPrimitives.ReadUInt32LittleEndian(hive.AsSpan(40));
        for (long bin = 4096; bin + 32 <= end;)
        {
            int binSize = BinaryPrimitives.ReadInt32LittleEndian(hive.AsSpan((int)bin + 8));
            for (long c = bin + 32; c + 8 <= bin + binSize;)
            {
                int size = BinaryPrimitives.ReadInt32LittleEndian(hive.AsSpan((int)c));
                if (size == 0) break;
                if (size < 0) cells.Add((c, -size, System.Text.Encoding.ASCII.GetString(hive, (int)c + 4, 2)));
                c += Math.Abs(size);
            }
            bin += binSize;
        }
        return cells;
    }

    private static void FixBaseBlockChecksum(FileStream f)
    {
        var block = new byte[508];
        f.Position = 0;
        f.ReadExactly(block);
        uint x = 0;
        for (int i = 0; i < 508; i += 4) x ^= BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(i));
        x = x switch { 0 => 1, uint.MaxValue => uint.MaxValue - 1, _ => x };
        var sum = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(sum, x);
        f.Position = 508;
        f.Write(sum);
    }
}
