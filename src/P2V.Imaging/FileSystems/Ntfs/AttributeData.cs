namespace P2V.Imaging.FileSystems.Ntfs;

/// <summary>
/// The value of one attribute of a file, put together from all its attribute records: resident bytes, or
/// the sizes and the whole runlist of a non-resident attribute.
/// </summary>
internal sealed class AttributeData
{
    public required string What { get; init; }
    public byte[]? Resident { get; init; }
    public Runlist Runs { get; init; } = Runlist.Empty;
    public long DataSize { get; init; }
    public long InitializedSize { get; init; }
    public long AllocatedSize { get; init; }
    public AttributeFlags Flags { get; init; }
    /// <summary>log2 of the compression unit in clusters (compressed attributes only).</summary>
    public int CompressionUnit { get; init; }
    /// <summary>Where the first attribute record starts, for error messages.</summary>
    public long VolumeOffset { get; init; }

    public bool IsCompressed => (Flags & AttributeFlags.CompressionMask) != 0;
    public bool IsEncrypted => (Flags & AttributeFlags.Encrypted) != 0;

    // The last compression unit decompressed, since reads usually walk a file forwards in smaller pieces.
    internal long CachedUnit { get; set; } = -1;
    internal byte[]? CachedUnitData { get; set; }

    public static AttributeData FromFragments(IReadOnlyList<AttributeRecord> fragments, long totalClusters, string what)
    {
        var first = fragments.FirstOrDefault(f => !f.Header.IsNonResident) ?? fragments.MinBy(f => f.Header.LowestVcn)!;
        if (!first.Header.IsNonResident)
        {
            var bytes = first.ResidentValue.ToArray();
            return new AttributeData { What = what, Resident = bytes, DataSize = bytes.Length, InitializedSize = bytes.Length, AllocatedSize = bytes.Length, Flags = first.Header.Flags, VolumeOffset = first.VolumeOffset };
        }
        if (first.Header.LowestVcn != 0)
            throw new NtfsException(first.VolumeOffset, $"{what}: no attribute record maps VCN 0 (the lowest starts at VCN {first.Header.LowestVcn})");
        var runs = Runlist.Combine(fragments.Select(f => f.DecodeRuns(totalClusters)), first.VolumeOffset, what);
        return new AttributeData
        {
            What = what,
            Runs = runs,
            DataSize = first.Header.DataSize,
            InitializedSize = first.Header.InitializedSize,
            AllocatedSize = first.Header.AllocatedSize,
            Flags = first.Header.Flags,
            CompressionUnit = first.Header.CompressionUnit,
            VolumeOffset = first.VolumeOffset,
        };
    }
}
