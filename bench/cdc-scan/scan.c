/* The same comparison in C, for what .NET 10 cannot express (AVX-512's own gather, vpgatherqq) and to see that the
   JIT is not what holds the vector forms back: `gcc -O2 -march=native bench/cdc-scan/scan.c -o /tmp/cdc-scan && /tmp/cdc-scan`.
   Whole chunks (16/64/256 KiB) over 64 MiB of random data; cut points checked equal to the scalar scan's; 7 rounds,
   each variant once per round, interleaved; GB/s of input and the ratio to the scalar scan of the same round.
   `/tmp/cdc-scan parts`: the vector form taken apart, over 64 MiB that never cuts (mask all ones): the lane
   arithmetic alone (the Gear lookups replaced by the bytes zero-extended) and the lookups alone (into a vector). */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t G[256];
enum { MIN = 16 << 10, NORMAL = 64 << 10, MAX = 256 << 10, ROUNDS = 7 };
typedef long (*scan_fn)(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m);

static uint64_t mask_of(int bits) { uint64_t m = 0; for (int k = 0; k < bits; k++) m |= 1ULL << (63 - k * 48 / bits); return m; }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static long scalar(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m)
{
    uint64_t f = *fp;
    for (; i + 8 <= to; i += 8) {
        const uint8_t *p = d + i;
#define STEP(j) f = (f << 1) + G[p[j]]; if (__builtin_expect(!(f & m), 0)) return i + j;
        STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
    }
    for (; i < to; i++) { f = (f << 1) + G[d[i]]; if (!(f & m)) return i; }
    *fp = f;
    return -1;
}

/* Lanes j = 8 consecutive positions: f_{p+8} = (f_p << 8) + W_{p+8}, W by a three-step prefix across lanes. */
#define V512_BODY(LOOKUP)                                                                                         \
    if (to - i >= 8) {                                                                                            \
        __m512i vm = _mm512_set1_epi64(m), f = _mm512_setzero_si512();                                            \
        __m512i shifted = _mm512_sllv_epi64(_mm512_set1_epi64(*fp), _mm512_setr_epi64(1, 2, 3, 4, 5, 6, 7, 8));    \
        __m512i gp = f, t1p = f, t2p = f;                                                                         \
        for (; i + 8 <= to; i += 8) {                                                                             \
            const uint8_t *p = d + i;                                                                             \
            __m512i g = LOOKUP;                                                                                   \
            __m512i t1 = _mm512_add_epi64(g, _mm512_slli_epi64(_mm512_alignr_epi64(g, gp, 7), 1));                \
            __m512i t2 = _mm512_add_epi64(t1, _mm512_slli_epi64(_mm512_alignr_epi64(t1, t1p, 6), 2));             \
            __m512i w = _mm512_add_epi64(t2, _mm512_slli_epi64(_mm512_alignr_epi64(t2, t2p, 4), 4));              \
            f = _mm512_add_epi64(shifted, w);                                                                     \
            __mmask8 hits = _mm512_testn_epi64_mask(f, vm);                                                       \
            if (__builtin_expect(hits != 0, 0)) return i + __builtin_ctz(hits);                                   \
            shifted = _mm512_slli_epi64(f, 8); gp = g; t1p = t1; t2p = t2;                                        \
        }                                                                                                         \
        *fp = _mm_extract_epi64(_mm512_extracti64x2_epi64(f, 3), 1);                                              \
    }                                                                                                             \
    return scalar(d, fp, i, to, m);

static long v512_loads(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m)
{
    V512_BODY(_mm512_setr_epi64(G[p[0]], G[p[1]], G[p[2]], G[p[3]], G[p[4]], G[p[5]], G[p[6]], G[p[7]]))
}

static long v512_gather(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m)
{
    V512_BODY(_mm512_i64gather_epi64(_mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)p)), (const long long *)G, 8))
}

/* The parts: not a scan (wrong hashes), only their cost. */
static long lanes_only(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m)
{
    V512_BODY(_mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)p)))
}

static long lookups_only(const uint8_t *d, uint64_t *fp, long i, long to, uint64_t m)
{
    __m512i acc = _mm512_setzero_si512();
    for (; i + 8 <= to; i += 8) {
        const uint8_t *p = d + i;
        acc = _mm512_xor_si512(acc, _mm512_setr_epi64(G[p[0]], G[p[1]], G[p[2]], G[p[3]], G[p[4]], G[p[5]], G[p[6]], G[p[7]]));
    }
    *fp ^= (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(acc)) & m;
    return -1;
}

static long run(const uint8_t *d, long n, scan_fn scan, long *cuts)
{
    uint64_t mS = mask_of(18), mL = mask_of(14);
    long count = 0;
    for (long start = 0; start < n;) {
        long avail = n - start < MAX ? n - start : MAX, cut = -1, normal_end = avail < NORMAL ? avail : NORMAL;
        uint64_t fp = 0;
        if (avail > MIN) {
            cut = scan(d + start, &fp, MIN, normal_end, mS);
            if (cut < 0 && normal_end < avail) cut = scan(d + start, &fp, normal_end, avail, mL);
        }
        if (cut < 0) cut = avail;
        if (cuts) cuts[count] = cut;
        count++;
        start += cut;
    }
    return count;
}

static void report(const char *name, const double *rate, const double *base)
{
    double lo = 1e9, hi = 0, rlo = 1e9, rhi = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double x = rate[r], q = x / base[r];
        lo = x < lo ? x : lo; hi = x > hi ? x : hi; rlo = q < rlo ? q : rlo; rhi = q > rhi ? q : rhi;
    }
    printf("%-12s %.2f-%.2f GB/s, %.2f-%.2fx scalar\n", name, lo, hi, rlo, rhi);
}

int main(int argc, char **argv)
{
    srand(1);
    for (int b = 0; b < 256; b++) G[b] = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
    long n = 64L << 20;
    uint8_t *d = malloc(n);
    for (long i = 0; i < n; i++) d[i] = (uint8_t)rand();
    for (long at = 1 << 20; at + 70000 < n; at += 997 << 10) memset(d + at, (int)(at >> 20), 20000 + at % 50000);
    if (argc > 1 && !strcmp(argv[1], "parts")) {
        scan_fn parts[] = { scalar, lanes_only, lookups_only, v512_loads };
        const char *part_names[] = { "scalar", "lanes-only", "lookups-only", "v512-loads" };
        double rate[4][ROUNDS];
        uint64_t sink = 0;
        for (int r = 0; r < ROUNDS; r++)
            for (int v = 0; v < 4; v++) {
                uint64_t fp = 0;
                double t = now();
                if (parts[v](d, &fp, 0, n, ~0ULL) >= 0) printf("%s: a cut\n", part_names[v]);
                rate[v][r] = n / (now() - t) / 1e9;
                sink ^= fp;
            }
        for (int v = 0; v < 4; v++) report(part_names[v], rate[v], rate[0]);
        return (int)(sink & 0);
    }
    scan_fn fns[] = { scalar, v512_loads, v512_gather };
    const char *names[] = { "scalar", "v512-loads", "v512-gather" };
    long *ref = malloc(8 * (n / MIN + 1)), *cuts = malloc(8 * (n / MIN + 1));
    long nref = run(d, n, scalar, ref);
    for (int v = 1; v < 3; v++)
        if (run(d, n, fns[v], cuts) != nref || memcmp(ref, cuts, 8 * nref)) { printf("%s: other cut points\n", names[v]); return 1; }
    printf("%ld chunks\n", nref);
    double rate[3][ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        for (int v = 0; v < 3; v++) { double t = now(); run(d, n, fns[v], 0); rate[v][r] = n / (now() - t) / 1e9; }
    for (int v = 0; v < 3; v++) report(names[v], rate[v], rate[0]);
    return 0;
}
