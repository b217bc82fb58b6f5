namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The write direction of <see cref="Runlist.Decode"/>: runs to mapping pairs. Encoding: NTFS Documentation,
/// "Concepts: Data Runs" — per run a header byte (low nibble: bytes of the length, high nibble: bytes of the
/// signed LCN delta from the previous non-sparse run, 0 for a sparse run), the fields little-endian in as
/// few bytes as hold them signed, and a zero byte at the end.
/// </summary>
internal static class MappingPairs
{
    public static byte[] Encode(IReadOnlyList<DataRun> runs)
    {
        var output = new List<byte>(runs.Count * 8 + 1);
        Span<byte> field = stackalloc byte[8];
        long previousLcn = 0;
        foreach (var run in runs)
        {
            int lengthSize = SignedSize(run.Length);
            int deltaSize = 0;
            long delta = 0;
            if (!run.IsSparse)
            {
                delta = run.Lcn - previousLcn;
                deltaSize = SignedSize(delta);
                previousLcn = run.Lcn;
            }
            output.Add((byte)(deltaSize << 4 | lengthSize));
            for (int i = 0; i < lengthSize; i++) output.Add((byte)(run.Length >> (8 * i)));
            for (int i = 0; i < deltaSize; i++) output.Add((byte)(delta >> (8 * i)));
        }
        output.Add(0);
        return output.ToArray();
    }

    /// <summary>Bytes needed for <paramref name="value"/> as a two's-complement number (a length of 0x80 needs two: its top bit must stay clear).</summary>
    private static int SignedSize(long value)
    {
        int n = 1;
        while (n < 8 && (value < -(1L << (8 * n - 1)) || value >= 1L << (8 * n - 1))) n++;
        return n;
    }

    /// <summary>Joins runs that continue one another on disk, so the encoding stays short.</summary>
    public static List<DataRun> Coalesce(IEnumerable<DataRun> runs)
    {
        var result = new List<DataRun>();
        foreach (var run in runs)
        {
            if (result.Count > 0 && result[^1] is var last && last.NextVcn == run.Vcn
                && (last.IsSparse ? run.IsSparse : !run.IsSparse && last.Lcn + last.Length == run.Lcn))
                result[^1] = last with { Length = last.Length + run.Length };
            else
                result.Add(run);
        }
        return result;
    }
}
