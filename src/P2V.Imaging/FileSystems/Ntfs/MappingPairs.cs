namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// Mapping pairs, the on-disk encoding of a non-resident attribute's runs, read and written. Encoding: NTFS
/// Documentation, "Concepts: Data Runs" — per run a header byte (low nibble: bytes of the run length, high
/// nibble: bytes of the signed LCN delta from the previous non-sparse run, 0 for a sparse run), those fields
/// little-endian in as few bytes as hold them signed, and a zero header byte at the end.
/// </summary>
internal static class MappingPairs
{
    /// <summary>Decodes one attribute record's mapping pairs, checking that every run lies inside the volume.</summary>
    public static List<DataRun> Decode(ReadOnlySpan<byte> pairs, long startVcn, long totalClusters, long volumeOffset, string what)
    {
        var runs = new List<DataRun>();
        long vcn = startVcn, lcn = 0;
        int pos = 0;
        while (pos < pairs.Length && pairs[pos] != 0)
        {
            int header = pairs[pos];
            int lengthSize = header & 0x0F, deltaSize = header >> 4;
            if (lengthSize == 0 || lengthSize > 8 || deltaSize > 8 || pos + 1 + lengthSize + deltaSize > pairs.Length)
                throw new NtfsException(volumeOffset + pos, $"{what}: data run header 0x{header:X2} is malformed or runs past the attribute");
            long length = ReadSigned(pairs.Slice(pos + 1, lengthSize));
            if (length <= 0 || length > long.MaxValue - vcn)
                throw new NtfsException(volumeOffset + pos, $"{what}: data run at VCN {vcn} has length {length}");
            if (deltaSize == 0)
            {
                runs.Add(new DataRun(vcn, DataRun.SparseLcn, length));
            }
            else
            {
                lcn += ReadSigned(pairs.Slice(pos + 1 + lengthSize, deltaSize));
                if (lcn < 0 || lcn >= totalClusters || length > totalClusters - lcn)
                    throw new NtfsException(volumeOffset + pos, $"{what}: data run at VCN {vcn} maps clusters {lcn}..{lcn + length - 1}, past the end of the {totalClusters}-cluster volume");
                runs.Add(new DataRun(vcn, lcn, length));
            }
            vcn += length;
            pos += 1 + lengthSize + deltaSize;
        }
        return runs;
    }

    public static byte[] Encode(IReadOnlyList<DataRun> runs)
    {
        var output = new List<byte>(runs.Count * 8 + 1);
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

    private static long ReadSigned(ReadOnlySpan<byte> bytes)
    {
        long value = (sbyte)bytes[^1];
        for (int i = bytes.Length - 2; i >= 0; i--) value = (value << 8) | bytes[i];
        return value;
    }
}
