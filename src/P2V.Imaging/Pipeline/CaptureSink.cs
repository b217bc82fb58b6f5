using System.Diagnostics;
using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Where a capture's chunks go, in disk order: an image file (<see cref="ImageFileSink"/>) or the image store,
/// which first learns which chunks it already holds and compresses only the rest.
/// </summary>
public abstract class CaptureSink : IDisposable
{
    /// <summary>Which codec each chunk gets; a sink that measures its destination tells it how fast that drains (<see cref="CodecChooser.Drained"/>).</summary>
    public CodecChooser Codecs { get; init; } = CodecChooser.Lz4;

    /// <summary>True: the pipeline's workers compress every chunk. False: they only hash, and the sink calls <see cref="CapturedChunk.Compress"/> on the chunks it needs.</summary>
    public abstract bool WantsEveryChunkCompressed { get; }

    /// <summary>Takes the next chunk. The chunk's buffers return to the pool after this call (its bytes may view the read-ahead, which reads into them again): a sink that needs them later copies them.</summary>
    public abstract ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel);

    /// <summary>Completes the image (trailer, manifest commit): only now does it exist.</summary>
    public abstract ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel);

    /// <summary>Bytes written or sent so far.</summary>
    public abstract long BytesWritten { get; }

    public abstract int ChunkCount { get; }

    public virtual void Dispose() { }
}

/// <summary>A capture into an image file or any stream (docs/image-format.md).</summary>
public sealed class ImageFileSink(Stream output, ImageHeader header) : CaptureSink
{
    private readonly ImageWriter _writer = new(output, header);

    public override bool WantsEveryChunkCompressed => true;
    public override long BytesWritten => _writer.BytesWritten;
    public override int ChunkCount => _writer.ChunkCount;

    public override ValueTask WriteAsync(CapturedChunk chunk, CancellationToken cancel)
    {
        long start = Stopwatch.GetTimestamp();
        _writer.WriteChunk(chunk.StoredCodec, chunk.UncompressedLength, chunk.StoredBytes, chunk.Hash, chunk.DiskRuns);
        // A pipe or socket blocks this write while its reader is behind: the time says how fast the destination drains.
        Codecs.Drained(chunk.StoredBytes.Length, Stopwatch.GetElapsedTime(start).TotalSeconds);
        return ValueTask.CompletedTask;
    }

    public override ValueTask FinishAsync(IReadOnlyList<VolumeStats> volumes, CancellationToken cancel)
    {
        _writer.Finish(volumes);
        return ValueTask.CompletedTask;
    }

    public override void Dispose() => _writer.Dispose();
}
