namespace P2V.Imaging.Pipeline;

/// <summary>What `p2v capture --codec` asks for: one codec for every chunk, or a choice per chunk (<see cref="CodecChooser"/>).</summary>
public enum CodecChoice
{
    Lz4,
    Zstd,
    Auto,
}
