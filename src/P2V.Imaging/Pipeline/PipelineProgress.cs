namespace P2V.Imaging.Pipeline;

/// <summary>How far a capture or restore has come, in bytes of used (uncompressed) data.</summary>
public readonly record struct PipelineProgress(long BytesDone, long BytesTotal, long BytesStored);
