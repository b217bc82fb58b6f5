namespace P2V.Imaging.Images;

/// <summary>An image to restore from: an image file (<see cref="ImageReader"/>) or an image in the image store.</summary>
public interface IImageSource
{
    ImageHeader Header { get; }
    ImageTrailer Trailer { get; }

    /// <summary>The chunks in trailer order, each with its stored payload in a pooled buffer the consumer returns.</summary>
    IEnumerable<ChunkFrame> ReadFrames(CancellationToken cancel = default);
}
