using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using P2V.Imaging.Images;

namespace P2V.Imaging.Pipeline;

/// <summary>
/// Where a capture cuts its used-data stream into chunks. Both kinds keep boundaries where they were when
/// data elsewhere on the disk changes, so that a re-capture shares every unchanged chunk with the capture
/// before it (docs/image-format.md, "Chunk boundaries"). A chunk never spans two volumes.
/// </summary>
public abstract class ChunkBoundaries
{
    /// <summary>The largest chunk this kind cuts (the capture's buffers are this size; the image header records it).</summary>
    public abstract int MaxChunkSize { get; }

    /// <summary>How many bytes the chunker reads at a time: a cut moves the bytes read past it into the next chunk (a copy), so less is better, down to where the per-read cost shows.</summary>
    internal virtual int ReadStep => MaxChunkSize;

    /// <summary>Shortens a read of <paramref name="length"/> bytes at <paramref name="diskOffset"/> so that it does not cross a boundary.</summary>
    internal virtual int LimitRead(long diskOffset, int length) => length;

    /// <summary>Whether the bytes at <paramref name="diskOffset"/> must start a new chunk rather than join <paramref name="chunk"/>.</summary>
    internal virtual bool StartsNewChunk(CapturedChunk chunk, long diskOffset) => false;

    /// <summary>Scans what was appended to <paramref name="chunk"/> since the last call; returns where the chunk ends (its length), or -1 when it goes on.</summary>
    internal virtual int FindCut(CapturedChunk chunk) => -1;

    /// <summary>
    /// The capture's default: FastCDC over each volume's used-data stream, 16 KiB minimum, 64 KiB normal,
    /// 256 KiB maximum (chosen by measurement on the bench volume; docs/image-format.md, "Chunk boundaries").
    /// </summary>
    public static ChunkBoundaries ContentDefined { get; } = new ContentDefinedBoundaries(16 << 10, 64 << 10, 256 << 10);

    /// <summary>The measured alternative: chunks aligned to a fixed 256 KiB grid of disk offsets.</summary>
    public static ChunkBoundaries Grid { get; } = new GridBoundaries(256 << 10);
}

/// <summary>Each chunk holds the used bytes of one cell of a fixed grid of disk offsets.</summary>
public sealed class GridBoundaries(int cellSize) : ChunkBoundaries
{
    public override int MaxChunkSize => cellSize;

    internal override int LimitRead(long diskOffset, int length) => (int)Math.Min(length, cellSize - diskOffset % cellSize);

    internal override bool StartsNewChunk(CapturedChunk chunk, long diskOffset) =>
        chunk.RunCount > 0 && chunk.Runs[0].DiskOffset / cellSize != diskOffset / cellSize;
}

/// <summary>
/// FastCDC: W. Xia et al., "FastCDC: a Fast and Efficient Content-Defined Chunking Approach for Data
/// Deduplication", USENIX ATC 2016, Algorithm 1 with normalized chunking at level 2. A Gear rolling hash
/// (fp = (fp &lt;&lt; 1) + Gear[byte]) runs from the minimum size on; before the normal size a cut needs
/// log2(normal)+2 mask bits to be zero, after it log2(normal)-2, and the maximum size cuts regardless. The
/// mask bits are spread over the hash's top 48 bits, so every cut depends on the last 48 bytes or more
/// (the paper's "zero padding"). Boundaries depend only on the bytes, so identical data at different disk
/// offsets (the same file on two servers) cuts into identical chunks once the hash has synchronized.
/// </summary>
public sealed class ContentDefinedBoundaries : ChunkBoundaries
{
    private readonly int _min, _normal, _max;
    private readonly ulong _maskS, _maskL;

    /// <summary>Gear[b] = the first 8 bytes (little-endian) of BLAKE3 of the one byte b: fixed forever, since changing it moves every boundary.</summary>
    private static readonly ulong[] Gear = MakeGear();

    public ContentDefinedBoundaries(int minSize, int normalSize, int maxSize)
    {
        if (minSize <= 0 || normalSize <= minSize || maxSize <= normalSize || maxSize > ImageFormat.MaxChunkSize || !int.IsPow2(normalSize))
            throw new ArgumentException("FastCDC sizes must satisfy 0 < min < normal < max ≤ the format's maximum, normal a power of two");
        (_min, _normal, _max) = (minSize, normalSize, maxSize);
        int bits = int.Log2(normalSize);
        _maskS = Mask(bits + 2);
        _maskL = Mask(bits - 2);
        // A long run of one byte value drives the hash to a constant; it must not match, or runs of zeros would cut at every minimum.
        for (int b = 0; b < 256; b++)
            if ((unchecked(0 - Gear[b]) & _maskL) == 0) throw new InvalidOperationException($"the Gear table's constant for byte {b} matches the mask");
    }

    public int MinSize => _min;

    // Steps of the minimum size: a cut leaves less than that to move, and a chunk's first read is all below any cut.
    internal override int ReadStep => _min;

    public int NormalSize => _normal;
    public override int MaxChunkSize => _max;

    internal override int FindCut(CapturedChunk chunk)
    {
        int end = chunk.Length;
        if (end <= _min) return -1;
        int i = Math.Max(chunk.Scanned, _min);
        ulong fp = chunk.Fingerprint;
        // This loop sees every captured byte on the one thread that reads the source: no bounds checks (end <= Data.Length, a byte indexes Gear's 256).
        ArgumentOutOfRangeException.ThrowIfGreaterThan(chunk.Start + end, chunk.Data.Length);
        ref byte data = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk.Data), chunk.Start);
        int normalEnd = Math.Min(_normal, end);
        int cut = i < normalEnd ? Scan(ref data, ref fp, i, normalEnd, _maskS) : -1;
        if (cut < 0 && normalEnd < end) cut = Scan(ref data, ref fp, Math.Max(i, normalEnd), end, _maskL);
        if (cut >= 0) return cut;
        chunk.Scanned = end;
        chunk.Fingerprint = fp;
        return -1;
    }

    /// <summary>Rolls the hash over <c>data[from..to)</c>; returns the first position whose hash has no bit of <paramref name="mask"/> set, or -1.</summary>
    /// <remarks>Eight bytes per loop turn: 3.6–3.9 GB/s against 3.1–3.3 a byte per turn (docs/capture-and-restore.md).</remarks>
    private static int Scan(ref byte data, ref ulong fp, int from, int to, ulong mask)
    {
        ref ulong gear = ref MemoryMarshal.GetArrayDataReference(Gear);
        ulong f = fp;
        int i = from;
        for (; i + 8 <= to; i += 8)
        {
            ref byte p = ref Unsafe.Add(ref data, i);
            if (Roll(ref f, ref gear, p, mask)) return i;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 1), mask)) return i + 1;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 2), mask)) return i + 2;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 3), mask)) return i + 3;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 4), mask)) return i + 4;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 5), mask)) return i + 5;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 6), mask)) return i + 6;
            if (Roll(ref f, ref gear, Unsafe.Add(ref p, 7), mask)) return i + 7;
        }
        for (; i < to; i++)
            if (Roll(ref f, ref gear, Unsafe.Add(ref data, i), mask)) return i;
        fp = f;
        return -1;
    }

    /// <summary>One step of the Gear hash; true where the hash cuts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Roll(ref ulong f, ref ulong gear, byte b, ulong mask)
    {
        f = (f << 1) + Unsafe.Add(ref gear, b);
        return (f & mask) == 0;
    }

    /// <summary>A mask of <paramref name="bits"/> one-bits spread evenly over bits 16..63.</summary>
    private static ulong Mask(int bits)
    {
        ulong mask = 0;
        for (int k = 0; k < bits; k++) mask |= 1UL << (63 - k * 48 / bits);
        return mask;
    }

    private static ulong[] MakeGear()
    {
        var gear = new ulong[256];
        Span<byte> hash = stackalloc byte[32];
        for (int b = 0; b < 256; b++)
        {
            ChunkEncoder.Hash([(byte)b], hash);
            gear[b] = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(hash);
        }
        return gear;
    }
}
