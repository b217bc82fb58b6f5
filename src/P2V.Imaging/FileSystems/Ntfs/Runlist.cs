namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The mapping of a non-resident attribute's virtual clusters to volume clusters, decoded from its
/// mapping pairs. Encoding: NTFS Documentation, "Concepts: Data Runs" — a header byte whose low nibble
/// is the size of the run length and high nibble the size of the signed LCN delta (0 = sparse run),
/// then those little-endian fields; a zero header byte ends the list.
/// </summary>
public sealed class Runlist
{
    private readonly DataRun[] _runs;

    private Runlist(DataRun[] runs) => _runs = runs;

    public static Runlist Empty { get; } = new([]);

    public IReadOnlyList<DataRun> Runs => _runs;

    /// <summary>The VCN after the last mapped cluster.</summary>
    public long NextVcn => _runs.Length == 0 ? 0 : _runs[^1].NextVcn;

    /// <summary>Decodes one attribute record's mapping pairs, checking that every run lies inside the volume.</summary>
    public static IReadOnlyList<DataRun> Decode(ReadOnlySpan<byte> pairs, long startVcn, long totalClusters, long volumeOffset, string what)
    {
        var runs = new List<DataRun>();
        long vcn = startVcn, lcn = 0;
        int pos = 0;
        while (pos < pairs.Length && pairs[pos] != 0)
        {
            int header = pairs[pos];
            int lengthSize = header & 0x0F, deltaSize = header >> 4;
            if (lengthSize == 0 || lengthSize > 8 || deltaSize > 8 || pos + 1 + lengthSize + deltaSize > pairs.Length)
                throw new NtfsException($"{what}: data run header 0x{header:X2} is malformed or runs past the attribute", volumeOffset + pos);
            long length = ReadSigned(pairs.Slice(pos + 1, lengthSize));
            if (length <= 0 || length > long.MaxValue - vcn)
                throw new NtfsException($"{what}: data run at VCN {vcn} has length {length}", volumeOffset + pos);
            if (deltaSize == 0)
            {
                runs.Add(new DataRun(vcn, DataRun.SparseLcn, length));
            }
            else
            {
                lcn += ReadSigned(pairs.Slice(pos + 1 + lengthSize, deltaSize));
                if (lcn < 0 || lcn >= totalClusters || length > totalClusters - lcn)
                    throw new NtfsException($"{what}: data run at VCN {vcn} maps clusters {lcn}..{lcn + length - 1}, past the end of the {totalClusters}-cluster volume", volumeOffset + pos);
                runs.Add(new DataRun(vcn, lcn, length));
            }
            vcn += length;
            pos += 1 + lengthSize + deltaSize;
        }
        return runs;
    }

    /// <summary>Joins the fragments of an attribute (one per attribute record), which must not overlap.</summary>
    public static Runlist Combine(IEnumerable<IReadOnlyList<DataRun>> fragments, long volumeOffset, string what)
    {
        var runs = fragments.SelectMany(f => f).OrderBy(r => r.Vcn).ToArray();
        for (int i = 1; i < runs.Length; i++)
        {
            if (runs[i].Vcn < runs[i - 1].NextVcn)
                throw new NtfsException($"{what}: runs at VCN {runs[i - 1].Vcn} and {runs[i].Vcn} overlap", volumeOffset);
        }
        return new Runlist(runs);
    }

    /// <summary>The run holding <paramref name="vcn"/>, or null when the runlist does not map it.</summary>
    public DataRun? Find(long vcn)
    {
        int lo = 0, hi = _runs.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            var run = _runs[mid];
            if (run.NextVcn <= vcn) lo = mid + 1;
            else if (run.Vcn > vcn) hi = mid - 1;
            else return run;
        }
        return null;
    }

    private static long ReadSigned(ReadOnlySpan<byte> bytes)
    {
        long value = (sbyte)bytes[^1];
        for (int i = bytes.Length - 2; i >= 0; i--) value = (value << 8) | bytes[i];
        return value;
    }
}
