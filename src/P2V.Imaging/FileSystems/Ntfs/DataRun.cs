namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// A run of a non-resident attribute: <see cref="Length"/> clusters starting at virtual cluster
/// <see cref="Vcn"/> of the attribute, stored at logical cluster <see cref="Lcn"/> of the volume,
/// or nowhere (a sparse run, <see cref="Lcn"/> = -1, which reads as zeros).
/// </summary>
public readonly record struct DataRun(long Vcn, long Lcn, long Length)
{
    public const long SparseLcn = -1;

    public bool IsSparse => Lcn < 0;

    public long NextVcn => Vcn + Length;
}
