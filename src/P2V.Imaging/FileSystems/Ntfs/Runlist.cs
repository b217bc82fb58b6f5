namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The mapping of a whole non-resident attribute's virtual clusters to volume clusters, joined from the
/// <see cref="MappingPairs"/> of each of its attribute records.
/// </summary>
public sealed class Runlist
{
    private readonly DataRun[] _runs;

    private Runlist(DataRun[] runs) => _runs = runs;

    public static Runlist Empty { get; } = new([]);

    public IReadOnlyList<DataRun> Runs => _runs;

    /// <summary>The VCN after the last mapped cluster.</summary>
    public long NextVcn => _runs.Length == 0 ? 0 : _runs[^1].NextVcn;

    /// <summary>Joins the fragments of an attribute (one per attribute record), which must not overlap.</summary>
    public static Runlist Combine(IEnumerable<IReadOnlyList<DataRun>> fragments, long volumeOffset, string what)
    {
        var runs = fragments.SelectMany(f => f).OrderBy(r => r.Vcn).ToArray();
        for (int i = 1; i < runs.Length; i++)
        {
            if (runs[i].Vcn < runs[i - 1].NextVcn)
                throw new NtfsException(volumeOffset, $"{what}: runs at VCN {runs[i - 1].Vcn} and {runs[i].Vcn} overlap");
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
