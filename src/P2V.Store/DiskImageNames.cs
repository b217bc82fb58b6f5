namespace P2V.Store;

/// <summary>
/// The images of a machine with several disks: the job's image holds its first disk, "IMAGE.diskN" its N-th
/// (N ≥ 2). A job's token grants the job's image and these names (docs/agent-protocol.md, "Images of a job").
/// </summary>
public static class DiskImageNames
{
    public static string Of(string image, int diskNumber) => diskNumber switch
    {
        1 => image,
        > 1 => $"{image}.disk{diskNumber}",
        _ => throw new ArgumentOutOfRangeException(nameof(diskNumber), diskNumber, "disks are numbered from 1"),
    };

    /// <summary>True when <paramref name="name"/> ends in ".diskN" (N ≥ 2): the name of a further disk, never a job's image.</summary>
    public static bool IsFurtherDisk(string name)
    {
        int dot = name.LastIndexOf(".disk", StringComparison.Ordinal);
        return dot > 0 && BelongsTo(name, name[..dot]);
    }

    /// <summary>True when <paramref name="name"/> is the image of one of the disks of <paramref name="image"/>.</summary>
    public static bool BelongsTo(string name, string image) =>
        name == image || name.StartsWith(image + ".disk", StringComparison.Ordinal)
            && int.TryParse(name.AsSpan(image.Length + 5), System.Globalization.NumberStyles.None, null, out int n) && n > 1
            && name == Of(image, n);
}
