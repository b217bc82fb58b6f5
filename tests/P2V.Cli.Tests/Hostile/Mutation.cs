namespace P2V.Cli.Tests.Hostile;

/// <summary>Deterministic mutations of an on-disk structure, for the hostile suites.</summary>
public static class Mutation
{
    /// <summary>Mutations per structure: P2V_SUITE_MUTATIONS (default 2); P2V_SUITE_SEED (default 1) makes a different run.</summary>
    public static int PerStructure => int.TryParse(Environment.GetEnvironmentVariable("P2V_SUITE_MUTATIONS"), out var n) ? n : 2;
    public static int Seed => int.TryParse(Environment.GetEnvironmentVariable("P2V_SUITE_SEED"), out var n) ? n : 1;

    /// <summary>The random source of one case (string.GetHashCode differs per process: the structure's name counts by a fixed rule).</summary>
    public static Random RandomFor(string structure, int index) => new(Seed * 1_000_003 + structure.Aggregate(17, (h, c) => h * 31 + c) + index * 7919);

    /// <summary>One mutation of <paramref name="s"/>: a field set to a boundary value (checksum fixed), or flipped bytes (checksum left stale).</summary>
    public static string Apply(string path, Structure s, Random random)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        if (random.Next(4) == 0 || s.Fields.Count == 0)
        {
            int flips = 1 + random.Next(4);
            var at = new List<long>();
            for (int i = 0; i < flips; i++)
            {
                long p = s.At + random.Next(s.Length);
                f.Position = p;
                int b = f.ReadByte();
                f.Position = p;
                f.WriteByte((byte)(b ^ (1 << random.Next(8))));
                at.Add(p);
            }
            return $"{s.Name}: bits flipped at {string.Join(", ", at)}";
        }
        var field = s.Fields[random.Next(s.Fields.Count)];
        var old = new byte[8];
        f.Position = field.At;
        f.ReadExactly(old.AsSpan(0, field.Width));
        ulong value = Read(old.AsSpan(0, field.Width), field.BigEndian);
        ulong max = field.Width == 8 ? ulong.MaxValue : (1UL << (8 * field.Width)) - 1;
        ulong[] candidates = [0, 1, max, max >> 1, (max >> 1) + 1, value + 1, value - 1, value * 2, value / 2, value + 512, value ^ (1UL << random.Next(8 * field.Width)), (ulong)random.NextInt64() & max];
        ulong v = candidates[random.Next(candidates.Length)] & max;
        var bytes = new byte[field.Width];
        Write(bytes, v, field.BigEndian);
        f.Position = field.At;
        f.Write(bytes);
        s.FixChecksum?.Invoke(f);
        return $"{s.Name}: {field.Name} {value} → {v}";
    }

    private static ulong Read(ReadOnlySpan<byte> b, bool bigEndian)
    {
        ulong v = 0;
        for (int i = 0; i < b.Length; i++) v |= (ulong)b[bigEndian ? b.Length - 1 - i : i] << (8 * i);
        return v;
    }

    private static void Write(Span<byte> b, ulong v, bool bigEndian)
    {
        for (int i = 0; i < b.Length; i++) b[bigEndian ? b.Length - 1 - i : i] = (byte)(v >> (8 * i));
    }
}
