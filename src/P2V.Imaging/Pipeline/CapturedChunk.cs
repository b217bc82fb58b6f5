using System.Buffers;
using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// A chunk in flight through a capture: the bytes read, the disk runs they came from, their hash, and
/// (once compressed) the stored form. Buffers are pooled: the pipeline returns them after the sink has seen
/// the chunk, so a sink that needs the bytes later copies them (the store's PendingChunk). A chunk that lies
/// within one piece of the read-ahead views its bytes there rather than holding a copy (<see cref="Place"/>).
/// </summary>
public sealed class CapturedChunk
{
    internal byte[] Data = [];
    // Where the chunk's first byte lies in Data: a view of a read-ahead piece starts inside its buffer.
    internal int Start;
    internal int Length;
    internal ChunkRun[] Runs = new ChunkRun[16];
    internal int[] RunVolumes = new int[16];
    internal int RunCount;
    internal long ZeroBytes;
    internal byte[] Stored = [];
    internal int StoredLength;
    internal ChunkCodec Codec;
    internal bool IsCompressed;
    internal bool IsZero;
    // Where content-defined chunking has scanned to, and its rolling hash there.
    internal int Scanned;
    internal ulong Fingerprint;
    internal readonly byte[] HashBytes = new byte[ImageFormat.HashLength];
    // The read-ahead piece Data belongs to while the chunk is a view; null when Data is the chunk's own (pooled) buffer.
    private ExtentReadAhead.Piece? _piece;
    private int _bufferSize;
    // A chunk with its own buffer keeps the piece its last bytes were copied from (and where they lie in it and in the
    // chunk): a cut falls within those bytes, so the chunk after the cut can view them there instead of copying them.
    private ExtentReadAhead.Piece? _last;
    private int _lastStart, _lastIndex;

    public ReadOnlySpan<byte> Bytes => Data.AsSpan(Start, Length);
    public int UncompressedLength => Length;
    public ReadOnlySpan<byte> Hash => HashBytes;
    public ReadOnlySpan<ChunkRun> DiskRuns => Runs.AsSpan(0, RunCount);

    /// <summary>The stored form; valid after <see cref="Compress"/> (or when the pipeline compressed every chunk).</summary>
    public ChunkCodec StoredCodec => IsCompressed ? Codec : throw new InvalidOperationException("chunk not compressed yet");
    public ReadOnlySpan<byte> StoredBytes => IsCompressed ? Stored.AsSpan(0, StoredLength) : throw new InvalidOperationException("chunk not compressed yet");

    /// <summary>An empty chunk that can grow to <paramref name="size"/> bytes; it takes a buffer only when it cannot view the read-ahead.</summary>
    internal static CapturedChunk Rent(int size) => new() { _bufferSize = size };

    /// <summary>Hashes the chunk and notes whether it is all zeros.</summary>
    internal void Analyze() => IsZero = ChunkEncoder.Analyze(Bytes, HashBytes);

    /// <summary>Picks the codec and fills the stored form (LZ4 or zstd as <paramref name="codecs"/> picks, stored, or nothing for a zero chunk). Thread-safe per chunk.</summary>
    public void Compress(CodecChooser codecs)
    {
        if (IsCompressed) return;
        if (IsZero) { Codec = ChunkCodec.Zero; StoredLength = 0; }
        else
        {
            Stored = ArrayPool<byte>.Shared.Rent(ChunkEncoder.MaxStoredLength(Length));
            (Codec, StoredLength) = codecs.Compress(Bytes, Stored);
        }
        IsCompressed = true;
    }

    /// <summary>
    /// Puts the <paramref name="length"/> bytes at <c>piece.Buffer[start..]</c> after the chunk's end (not yet counted:
    /// <see cref="AppendRun"/> or <see cref="AppendNonZero"/> does that), taking over the caller's reference on the piece.
    /// An empty chunk becomes a view of them, and a view grows over the bytes that follow it in the same piece; anything
    /// else (the bytes lie in the next piece, or zero blocks were dropped between) copies the chunk into a buffer of its own.
    /// </summary>
    internal void Place(ExtentReadAhead.Piece piece, int start, int length)
    {
        ReleaseLast();
        if (Length == 0)
        {
            ReleaseData();
            (_piece, Data, Start) = (piece, piece.Buffer, start);
            return;
        }
        if (_piece == piece && Start + Length == start)
        {
            piece.Release(); // the chunk holds a reference already
            return;
        }
        if (_piece is not null)
        {
            var own = ArrayPool<byte>.Shared.Rent(_bufferSize);
            Data.AsSpan(Start, Length).CopyTo(own);
            _piece.Release();
            (_piece, Data, Start) = (null, own, 0);
        }
        piece.Buffer.AsSpan(start, length).CopyTo(Data.AsSpan(Start + Length));
        (_last, _lastStart, _lastIndex) = (piece, start, Length);
    }

    internal void AppendRun(long diskOffset, int length, int volume)
    {
        if (RunCount > 0 && RunVolumes[RunCount - 1] == volume && Runs[RunCount - 1].DiskOffset + Runs[RunCount - 1].Length == diskOffset)
        {
            Runs[RunCount - 1] = Runs[RunCount - 1] with { Length = Runs[RunCount - 1].Length + length };
        }
        else
        {
            if (RunCount == Runs.Length)
            {
                Array.Resize(ref Runs, RunCount * 2);
                Array.Resize(ref RunVolumes, RunCount * 2);
            }
            Runs[RunCount] = new ChunkRun(diskOffset, length);
            RunVolumes[RunCount++] = volume;
        }
        Length += length;
    }

    /// <summary>Keeps only the blocks of the just-read bytes that are not all zero, compacting them in place; returns the zero bytes dropped.</summary>
    internal long AppendNonZero(long diskOffset, int length, int volume, int blockSize)
    {
        int start = Length, src = 0, kept = 0;
        long zeros = 0;
        var data = Data.AsSpan(Start + start, length);
        while (src < length)
        {
            // Blocks align to the disk, not to the read, so the same data skips the same way however it was read.
            int block = (int)Math.Min(blockSize - (diskOffset + src) % blockSize, length - src);
            var piece = data.Slice(src, block);
            if (piece.ContainsAnyExcept((byte)0))
            {
                if (kept != src)
                {
                    piece.CopyTo(data[kept..]);
                    ReleaseLast(); // the bytes no longer lie in the chunk as in the piece they were copied from
                }
                Length = start + kept; // AppendRun adds the block's length back
                AppendRun(diskOffset + src, block, volume);
                kept += block;
            }
            else
            {
                zeros += block;
            }
            src += block;
        }
        Length = start + kept;
        ZeroBytes += zeros;
        return zeros;
    }

    /// <summary>Ends this chunk after <paramref name="cut"/> bytes; the rest (bytes and runs) moves to a new chunk, which is returned.</summary>
    internal CapturedChunk SplitAt(int cut)
    {
        var next = Rent(_bufferSize);
        int rest = Length - cut;
        if (_piece is not null)
        {
            // Both halves view the same piece.
            _piece.AddReference();
            (next._piece, next.Data, next.Start) = (_piece, Data, Start + cut);
        }
        else if (_last is not null && cut >= _lastIndex)
        {
            // The rest was copied from the piece still held: the next chunk views it there (and takes the reference).
            (next._piece, next.Data, next.Start) = (_last, _last.Buffer, _lastStart + cut - _lastIndex);
            _last = null;
        }
        else
        {
            next.Data = ArrayPool<byte>.Shared.Rent(_bufferSize);
            Data.AsSpan(Start + cut, rest).CopyTo(next.Data);
        }
        int acc = 0, k = 0;
        while (acc + Runs[k].Length <= cut) acc += Runs[k++].Length;
        int inRun = cut - acc;
        for (int i = k; i < RunCount; i++)
        {
            var run = i == k ? new ChunkRun(Runs[i].DiskOffset + inRun, Runs[i].Length - inRun) : Runs[i];
            next.AppendRun(run.DiskOffset, run.Length, RunVolumes[i]);
        }
        if (inRun > 0)
        {
            Runs[k] = Runs[k] with { Length = inRun };
            RunCount = k + 1;
        }
        else RunCount = k;
        Length = cut;
        // Handed out now: the piece its last bytes came from is the next chunk's business, not this one's.
        ReleaseLast();
        return next;
    }

    public void Release()
    {
        ReleaseData();
        ReleaseLast();
        if (Stored.Length > 0) ArrayPool<byte>.Shared.Return(Stored);
        Stored = [];
    }

    private void ReleaseData()
    {
        if (_piece is not null) _piece.Release();
        else if (Data.Length > 0) ArrayPool<byte>.Shared.Return(Data);
        (_piece, Data, Start) = (null, [], 0);
    }

    /// <summary>Drops the piece kept for a cut once the cuts within the bytes last placed are made.</summary>
    internal void ReleaseLast()
    {
        _last?.Release();
        _last = null;
    }
}
