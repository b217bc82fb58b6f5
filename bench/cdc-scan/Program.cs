using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// `dotnet run -c Release --project bench/cdc-scan -- [ROUNDS]`: FastCDC's Gear scan (ContentDefinedBoundaries.Scan) against
// vector forms of it, over 64 MiB of random data with runs of one byte value, chunked as the capture does (16/64/256 KiB).
// Every variant's cut points are first checked equal to the scalar scan's, with whole chunks and with the bytes
// appearing 4099 and 3 at a time (the fingerprint carried between calls). Then ROUNDS rounds (default 7), each
// variant once per round, interleaved; the first round is dropped (tiering). GB/s of input (as the capture sees it), and the ratio to the scalar scan
// of the same round.
//
// The vector forms keep the hashes of 8 (or 4) consecutive positions in the lanes of one vector. With G = Gear[byte],
// f_p = Σ_{k=0..63} G[b_{p-k}] << k (mod 2^64), so f_{p+8} = (f_p << 8) + W_{p+8}, W_p = Σ_{k=0..7} G[b_{p-k}] << k:
// W comes from a three-step prefix across lanes (lane shifted in from the previous vector, << 1, 2, 4, add), and the
// only loop-carried step is one shift and one add per 8 bytes. The Gear values come from 8 table loads put into a
// vector, or from AVX2 gathers (.NET 10 has no AVX-512 gather).
unsafe
{
    var rnd = new Random(1);
    var gearArray = GC.AllocateArray<ulong>(256, pinned: true);
    for (int b = 0; b < 256; b++) gearArray[b] = (ulong)rnd.NextInt64() ^ ((ulong)rnd.NextInt64() << 32);
    ulong* gear = (ulong*)Unsafe.AsPointer(ref gearArray[0]);
    var dataArray = GC.AllocateArray<byte>(64 << 20, pinned: true);
    rnd.NextBytes(dataArray);
    for (int at = 1 << 20; at < dataArray.Length; at += 997 << 10) dataArray.AsSpan(at, 20_000 + at % 50_000).Fill((byte)(at >> 20));
    dataArray.AsSpan(40 << 20, 300_000).Clear();
    byte* data = (byte*)Unsafe.AsPointer(ref dataArray[0]);
    ulong maskS = Mask(18), maskL = Mask(14);
    const int Min = 16 << 10, Normal = 64 << 10, Max = 256 << 10;

    // As ContentDefinedBoundaries.FindCut: the chunk's bytes appear `step` at a time (0: all at once).
    List<int> Run(Scanner scan, int step)
    {
        var cuts = new List<int>();
        for (int start = 0; start < dataArray.Length;)
        {
            int avail = Math.Min(Max, dataArray.Length - start), scanned = 0, cut = -1;
            int end = step == 0 ? avail : Math.Min(step, avail);
            ulong fp = 0;
            byte* d = data + start;
            while (true)
            {
                if (end > Min)
                {
                    int i = Math.Max(scanned, Min), normalEnd = Math.Min(Normal, end);
                    cut = i < normalEnd ? scan(d, gear, ref fp, i, normalEnd, maskS) : -1;
                    if (cut < 0 && normalEnd < end) cut = scan(d, gear, ref fp, Math.Max(i, normalEnd), end, maskL);
                    if (cut >= 0) break;
                    scanned = end;
                }
                if (end == avail) break;
                end = Math.Min(end + step, avail);
            }
            cuts.Add(cut < 0 ? avail : cut);
            start += cut < 0 ? avail : cut;
        }
        return cuts;
    }

    var variants = new List<(string Name, Scanner Scan)> { ("scalar", Scans.Scalar) };
    if (Avx512F.IsSupported)
    {
        variants.Add(("v512-loads", Scans.V512Loads));
        variants.Add(("v512-avx2gather", Scans.V512Gather));
        variants.Add(("v256-loads", Scans.V256Loads));
    }
    var reference = Run(Scans.Scalar, 0);
    Console.WriteLine($"{reference.Count} chunks, mean {dataArray.Length / reference.Count} bytes");
    foreach (var (name, scan) in variants)
        foreach (int step in new[] { 0, 4099, 3 })
            if (!Run(scan, step).SequenceEqual(reference)) throw new InvalidOperationException($"{name}: other cut points (step {step})");
    var rates = variants.ToDictionary(v => v.Name, _ => new List<double>());
    int rounds = args.Length > 0 ? int.Parse(args[0]) : 7;
    for (int round = 0; round <= rounds; round++)
        foreach (var (name, scan) in variants)
        {
            var sw = Stopwatch.StartNew();
            Run(scan, 0);
            if (round > 0) rates[name].Add(dataArray.Length / sw.Elapsed.TotalSeconds / 1e9);
        }
    // The machine may be shared: each round's ratio to the scalar scan of the same round says more than the rates.
    foreach (var (name, r) in rates)
    {
        var ratios = r.Select((x, k) => x / rates["scalar"][k]).ToList();
        Console.WriteLine($"{name,-16} {r.Min():F2}–{r.Max():F2} GB/s, {ratios.Min():F2}–{ratios.Max():F2}× scalar  [{string.Join(" ", r.Select(x => x.ToString("F2")))}]");
    }
}

static ulong Mask(int bits)
{
    ulong m = 0;
    for (int k = 0; k < bits; k++) m |= 1UL << (63 - k * 48 / bits);
    return m;
}

internal unsafe delegate int Scanner(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask);

internal static unsafe class Scans
{
    /// <summary>ContentDefinedBoundaries.Scan as in src (eight bytes per loop turn).</summary>
    public static int Scalar(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask)
    {
        ulong f = fp;
        int i = from;
        for (; i + 8 <= to; i += 8)
        {
            byte* p = data + i;
            f = (f << 1) + gear[p[0]]; if ((f & mask) == 0) return i;
            f = (f << 1) + gear[p[1]]; if ((f & mask) == 0) return i + 1;
            f = (f << 1) + gear[p[2]]; if ((f & mask) == 0) return i + 2;
            f = (f << 1) + gear[p[3]]; if ((f & mask) == 0) return i + 3;
            f = (f << 1) + gear[p[4]]; if ((f & mask) == 0) return i + 4;
            f = (f << 1) + gear[p[5]]; if ((f & mask) == 0) return i + 5;
            f = (f << 1) + gear[p[6]]; if ((f & mask) == 0) return i + 6;
            f = (f << 1) + gear[p[7]]; if ((f & mask) == 0) return i + 7;
        }
        for (; i < to; i++)
        {
            f = (f << 1) + gear[data[i]];
            if ((f & mask) == 0) return i;
        }
        fp = f;
        return -1;
    }

    public static int V512Loads(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask) => V512<Loads>(data, gear, ref fp, from, to, mask);

    public static int V512Gather(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask) => V512<Gathers>(data, gear, ref fp, from, to, mask);

    private interface ILookup8
    {
        static abstract Vector512<ulong> Get(byte* p, ulong* gear);
    }

    private struct Loads : ILookup8
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<ulong> Get(byte* p, ulong* g) => Vector512.Create(g[p[0]], g[p[1]], g[p[2]], g[p[3]], g[p[4]], g[p[5]], g[p[6]], g[p[7]]);
    }

    private struct Gathers : ILookup8
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<ulong> Get(byte* p, ulong* g) =>
            Vector512.Create(Avx2.GatherVector256(g, Sse41.ConvertToVector128Int32(p), 8), Avx2.GatherVector256(g, Sse41.ConvertToVector128Int32(p + 4), 8));
    }

    private static int V512<TLookup>(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask) where TLookup : struct, ILookup8
    {
        int i = from;
        if (to - i >= 8)
        {
            var vmask = Vector512.Create(mask);
            // Lane j of the first vector: f_{from+j} = (fp << (j+1)) + W with no bytes before `from`.
            var shifted = Avx512F.ShiftLeftLogicalVariable(Vector512.Create(fp), Vector512.Create(1UL, 2, 3, 4, 5, 6, 7, 8));
            Vector512<ulong> gPrev = default, t1Prev = default, t2Prev = default, f = default;
            for (; i + 8 <= to; i += 8)
            {
                var g = TLookup.Get(data + i, gear);
                var t1 = g + (Avx512F.AlignRight64(g, gPrev, 7) << 1);     // lane j: G_j + G_{j-1}<<1
                var t2 = t1 + (Avx512F.AlignRight64(t1, t1Prev, 6) << 2);  // … + G_{j-3}<<3
                var w = t2 + (Avx512F.AlignRight64(t2, t2Prev, 4) << 4);   // … + G_{j-7}<<7
                f = shifted + w;
                ulong hits = Vector512.Equals(f & vmask, Vector512<ulong>.Zero).ExtractMostSignificantBits();
                if (hits != 0) return i + BitOperations.TrailingZeroCount(hits);
                shifted = f << 8;
                (gPrev, t1Prev, t2Prev) = (g, t1, t2);
            }
            fp = f.GetElement(7);
        }
        return Scalar(data, gear, ref fp, i, to, mask);
    }

    /// <summary>Four lanes: f_{p+4} = (f_p &lt;&lt; 4) + W4, a two-step prefix (AVX-512VL's lane shift).</summary>
    public static int V256Loads(byte* data, ulong* gear, ref ulong fp, int from, int to, ulong mask)
    {
        int i = from;
        if (to - i >= 4)
        {
            var vmask = Vector256.Create(mask);
            var shifted = Avx2.ShiftLeftLogicalVariable(Vector256.Create(fp), Vector256.Create(1UL, 2, 3, 4));
            Vector256<ulong> gPrev = default, t1Prev = default, f = default;
            for (; i + 4 <= to; i += 4)
            {
                byte* p = data + i;
                var g = Vector256.Create(gear[p[0]], gear[p[1]], gear[p[2]], gear[p[3]]);
                var t1 = g + (Avx512F.VL.AlignRight64(g, gPrev, 3) << 1);
                var w = t1 + (Avx512F.VL.AlignRight64(t1, t1Prev, 2) << 2);
                f = shifted + w;
                uint hits = Vector256.Equals(f & vmask, Vector256<ulong>.Zero).ExtractMostSignificantBits();
                if (hits != 0) return i + BitOperations.TrailingZeroCount(hits);
                shifted = f << 4;
                (gPrev, t1Prev) = (g, t1);
            }
            fp = f.GetElement(3);
        }
        return Scalar(data, gear, ref fp, i, to, mask);
    }
}
