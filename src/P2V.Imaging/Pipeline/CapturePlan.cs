using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// One stretch of the disk to read. Mapped regions come from an allocation map and are captured byte for
/// byte; scanned regions (space no file system describes) drop their all-zero blocks.
/// </summary>
public readonly record struct CaptureRegion(Extent Range, int VolumeIndex, bool SkipZeroBlocks);

/// <summary>What a capture will read, and the header that describes it.</summary>
public sealed class CapturePlan
{
    public required ImageHeader Header { get; init; }

    /// <summary>Sorted by offset, non-overlapping.</summary>
    public required IReadOnlyList<CaptureRegion> Regions { get; init; }

    /// <summary>What the capture does differently from what was asked (a damaged volume captured raw).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    public long BytesToRead => Regions.Sum(r => r.Range.Length);
}
