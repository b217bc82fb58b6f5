/*
 * BLAKE3, the unkeyed hash with its default 32-byte output, of one whole buffer at once: the chunk hash of the image
 * format (ChunkEncoder.Hash in P2V.Imaging). Written from the paper, J. O'Connor, J.-P. Aumasson, S. Neves,
 * Z. Wilcox-O'Hearn, "BLAKE3: one function, fast everywhere" (2021); § below are its sections.
 *
 * Why native: the shipped p2v is NativeAOT for the x86-64 baseline, where .NET decides Avx2.IsSupported at compile
 * time (false), so a managed hasher never reaches AVX2. Here every SIMD path is compiled with a target attribute and
 * chosen at run time from CPUID, so the one binary still runs on servers without AVX2.
 *
 * Four paths, each hashing whole 1 KiB chunks side by side (§5, SIMD: one chunk per SIMD lane, the state transposed so
 * that a vector holds the same word of every lane, and no shuffles between the column and diagonal steps):
 *   level 0 portable C, one compression at a time;
 *   level 1 SSE2, 4 lanes (every x86-64 CPU);
 *   level 2 AVX2, 8 lanes;
 *   level 3 AVX-512 (F), 16 lanes.
 * Parent nodes go through the same lanes (one 64-byte block each, two children's chaining values).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The SIMD levels are x86's; elsewhere only the portable path is compiled. */
#if defined(__x86_64__) || defined(__i386__)
#define P2V_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#define EXPORT __attribute__((visibility("default")))

enum { BLOCK_LEN = 64, CHUNK_LEN = 1024, CV_LEN = 32 };

/* §2.1: the domain-separation flags (the compression function's input d). */
enum { CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8 };

/* §2.1: the IV, SHA-256's initial hash value; in the hash mode also the key (§2.2). */
static const uint32_t IV[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au, 0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/* §2.1: the message words each of the 7 rounds reads, in G order. Round 0 takes them as they come; every later round
 * applies the message permutation of §2.1 once more to the previous round's order (generated, not typed). */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

/* ---- level 0: portable ---- */

static inline uint32_t rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void store_le32(uint8_t *p, uint32_t x) {
    p[0] = (uint8_t)x;
    p[1] = (uint8_t)(x >> 8);
    p[2] = (uint8_t)(x >> 16);
    p[3] = (uint8_t)(x >> 24);
}

/* §2.1: the quarter-round G, rotations 16, 12, 8, 7. */
#define G1(a, b, c, d, x, y)                                                                                           \
    do {                                                                                                               \
        a = a + b + (x);                                                                                               \
        d = rotr32(d ^ a, 16);                                                                                         \
        c = c + d;                                                                                                     \
        b = rotr32(b ^ c, 12);                                                                                         \
        a = a + b + (y);                                                                                               \
        d = rotr32(d ^ a, 8);                                                                                          \
        c = c + d;                                                                                                     \
        b = rotr32(b ^ c, 7);                                                                                          \
    } while (0)

/* §2.1: one round, the quarter-round G (the path's G1, G4, G8 or G16) on the four columns, then on the four diagonals,
 * with the message words in the order of schedule row s. */
#define ROUND(G, v, m, s)                                                                                              \
    do {                                                                                                               \
        G(v[0], v[4], v[8], v[12], m[(s)[0]], m[(s)[1]]);                                                              \
        G(v[1], v[5], v[9], v[13], m[(s)[2]], m[(s)[3]]);                                                              \
        G(v[2], v[6], v[10], v[14], m[(s)[4]], m[(s)[5]]);                                                             \
        G(v[3], v[7], v[11], v[15], m[(s)[6]], m[(s)[7]]);                                                             \
        G(v[0], v[5], v[10], v[15], m[(s)[8]], m[(s)[9]]);                                                             \
        G(v[1], v[6], v[11], v[12], m[(s)[10]], m[(s)[11]]);                                                           \
        G(v[2], v[7], v[8], v[13], m[(s)[12]], m[(s)[13]]);                                                            \
        G(v[3], v[4], v[9], v[14], m[(s)[14]], m[(s)[15]]);                                                            \
    } while (0)

/* §2.1: one compression, keeping only the first 8 output words: the next chaining value, and for the root (output
 * block counter 0) the 32-byte hash itself. The block is read in full before cv_out is written (they may overlap). */
static void compress1(const uint32_t cv[8], const uint8_t block[BLOCK_LEN], uint32_t block_len, uint64_t counter,
                      uint32_t flags, uint32_t cv_out[8]) {
    uint32_t m[16], v[16];
    for (int i = 0; i < 16; i++) m[i] = load_le32(block + 4 * i);
    for (int i = 0; i < 8; i++) v[i] = cv[i];
    v[8] = IV[0], v[9] = IV[1], v[10] = IV[2], v[11] = IV[3];
    v[12] = (uint32_t)counter, v[13] = (uint32_t)(counter >> 32), v[14] = block_len, v[15] = flags;
    for (int r = 0; r < 7; r++) ROUND(G1, v, m, SCHEDULE[r]);
    for (int i = 0; i < 8; i++) cv_out[i] = v[i] ^ v[i + 8];
}

static void store_cv(uint8_t out[CV_LEN], const uint32_t cv[8]) {
    for (int i = 0; i < 8; i++) store_le32(out + 4 * i, cv[i]);
}

/* §2.3: a chunk of 0..1024 bytes chained block by block, the last block zero-padded with its real length (an empty
 * input is one empty block). extra_end is ROOT when this chunk is the whole input. */
static void chunk_cv(const uint8_t *in, size_t len, uint64_t counter, uint32_t extra_end, uint8_t out[CV_LEN]) {
    uint32_t cv[8];
    memcpy(cv, IV, sizeof cv);
    size_t blocks = len == 0 ? 1 : (len + BLOCK_LEN - 1) / BLOCK_LEN;
    for (size_t b = 0; b < blocks; b++) {
        size_t take = len - b * BLOCK_LEN < BLOCK_LEN ? len - b * BLOCK_LEN : BLOCK_LEN;
        uint8_t padded[BLOCK_LEN];
        const uint8_t *block = padded;
        if (take < BLOCK_LEN) {
            memset(padded, 0, sizeof padded);
            if (take) memcpy(padded, in + b * BLOCK_LEN, take); /* an empty input's `in` may be NULL: no arithmetic on it */
        } else {
            block = in + b * BLOCK_LEN;
        }
        uint32_t flags = (b == 0 ? CHUNK_START : 0) | (b + 1 == blocks ? CHUNK_END | extra_end : 0);
        compress1(cv, block, (uint32_t)take, counter, flags, cv);
    }
    store_cv(out, cv);
}

/*
 * The lanes interface that every level implements: `count` inputs at base + i*stride, each `blocks` full 64-byte
 * blocks chained from the IV; input i has counter counter + i*step; every block gets `flags`, the first also `start`,
 * the last also `end`. Chunks: stride 1024, 16 blocks, step 1, CHUNK_START/CHUNK_END. Parents (§2.4): stride 64,
 * one block, step 0 (a parent's counter is 0), PARENT. Output: count chaining values of 32 bytes at out; all inputs
 * of one call are read before any output is written, so parents may be reduced in place. The SIMD levels take
 * one pointer per lane instead of base and stride.
 */
static void lanes1(const uint8_t *base, size_t stride, size_t count, size_t blocks, uint64_t counter, uint64_t step,
                   uint32_t flags, uint32_t start, uint32_t end, uint8_t *out) {
    for (size_t i = 0; i < count; i++) {
        uint32_t cv[8];
        memcpy(cv, IV, sizeof cv);
        for (size_t b = 0; b < blocks; b++) {
            uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);
            compress1(cv, base + i * stride + b * BLOCK_LEN, BLOCK_LEN, counter + i * step, f, cv);
        }
        store_cv(out + i * CV_LEN, cv);
    }
}

#ifdef P2V_X86
/* ---- level 1: SSE2, 4 lanes ----
 * SSE2 rather than SSE4.1: every x86-64 CPU has it, including the Opterons before 2011 and the 64-bit NetBurst Xeons
 * that lack SSSE3 and would otherwise hash in portable C at half the speed; pshufb's rotations would be about 8%
 * faster where they exist (1,400-1,440 against 1,510-1,580 MB/s on 64 KiB here). */

#define SSE __attribute__((target("sse2")))

/* SSE2 only, no SSSE3 byte shuffle: the 16-bit rotation swaps the halves of each word, the 8-bit one shifts. */
SSE static inline __m128i rotr16_4(__m128i x) { return _mm_shufflehi_epi16(_mm_shufflelo_epi16(x, 0xB1), 0xB1); }
SSE static inline __m128i rotr8_4(__m128i x) { return _mm_or_si128(_mm_srli_epi32(x, 8), _mm_slli_epi32(x, 24)); }
SSE static inline __m128i rotr12_4(__m128i x) { return _mm_or_si128(_mm_srli_epi32(x, 12), _mm_slli_epi32(x, 20)); }
SSE static inline __m128i rotr7_4(__m128i x) { return _mm_or_si128(_mm_srli_epi32(x, 7), _mm_slli_epi32(x, 25)); }

#define G4(a, b, c, d, x, y)                                                                                           \
    do {                                                                                                               \
        a = _mm_add_epi32(_mm_add_epi32(a, b), x);                                                                     \
        d = rotr16_4(_mm_xor_si128(d, a));                                                                             \
        c = _mm_add_epi32(c, d);                                                                                       \
        b = rotr12_4(_mm_xor_si128(b, c));                                                                             \
        a = _mm_add_epi32(_mm_add_epi32(a, b), y);                                                                     \
        d = rotr8_4(_mm_xor_si128(d, a));                                                                              \
        c = _mm_add_epi32(c, d);                                                                                       \
        b = rotr7_4(_mm_xor_si128(b, c));                                                                              \
    } while (0)

/* Rows r[0..3] (four words of lanes 0..3) become columns (word k of every lane), in place. */
SSE static inline void transpose4(__m128i r[4]) {
    __m128i t0 = _mm_unpacklo_epi32(r[0], r[1]), t1 = _mm_unpackhi_epi32(r[0], r[1]);
    __m128i t2 = _mm_unpacklo_epi32(r[2], r[3]), t3 = _mm_unpackhi_epi32(r[2], r[3]);
    r[0] = _mm_unpacklo_epi64(t0, t2);
    r[1] = _mm_unpackhi_epi64(t0, t2);
    r[2] = _mm_unpacklo_epi64(t1, t3);
    r[3] = _mm_unpackhi_epi64(t1, t3);
}

SSE static void lanes4(const uint8_t *const in[4], size_t blocks, uint64_t counter, uint64_t step, uint32_t flags,
                       uint32_t start, uint32_t end, uint8_t *out) {
    __m128i h[8];
    for (int i = 0; i < 8; i++) h[i] = _mm_set1_epi32((int)IV[i]);
    uint64_t c[4];
    for (int j = 0; j < 4; j++) c[j] = counter + (uint64_t)j * step;
    const __m128i t_lo = _mm_setr_epi32((int)c[0], (int)c[1], (int)c[2], (int)c[3]);
    const __m128i t_hi = _mm_setr_epi32((int)(c[0] >> 32), (int)(c[1] >> 32), (int)(c[2] >> 32), (int)(c[3] >> 32));
    for (size_t b = 0; b < blocks; b++) {
        __m128i m[16];
        for (int q = 0; q < 4; q++) {
            for (int j = 0; j < 4; j++)
                m[4 * q + j] = _mm_loadu_si128((const __m128i *)(in[j] + b * BLOCK_LEN + 16 * q));
            transpose4(&m[4 * q]);
        }
        uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);
        __m128i v[16] = {
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
            _mm_set1_epi32((int)IV[0]), _mm_set1_epi32((int)IV[1]), _mm_set1_epi32((int)IV[2]), _mm_set1_epi32((int)IV[3]),
            t_lo, t_hi, _mm_set1_epi32(BLOCK_LEN), _mm_set1_epi32((int)f),
        };
        /* Unrolled here and in the wider paths below, so that the schedule is constant: a message word is a register or
         * a fixed stack slot rather than a load through the schedule table. On 64 KiB inputs in the cache, 15% faster
         * on AVX-512, 6-8% on AVX2, 9-13% on SSE2 (the code grows from 13 to 29 KB). */
        #pragma GCC unroll 7
        for (int r = 0; r < 7; r++) ROUND(G4, v, m, SCHEDULE[r]);
        for (int i = 0; i < 8; i++) h[i] = _mm_xor_si128(v[i], v[i + 8]);
    }
    transpose4(&h[0]);
    transpose4(&h[4]);
    for (int j = 0; j < 4; j++) {
        _mm_storeu_si128((__m128i *)(out + j * CV_LEN), h[j]);
        _mm_storeu_si128((__m128i *)(out + j * CV_LEN + 16), h[4 + j]);
    }
}

/* ---- level 2: AVX2, 8 lanes ---- */

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i rotr16_8(__m256i x) {
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
                                                   2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
}
AVX2 static inline __m256i rotr8_8(__m256i x) {
    return _mm256_shuffle_epi8(x, _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
                                                   1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
}
AVX2 static inline __m256i rotr12_8(__m256i x) { return _mm256_or_si256(_mm256_srli_epi32(x, 12), _mm256_slli_epi32(x, 20)); }
AVX2 static inline __m256i rotr7_8(__m256i x) { return _mm256_or_si256(_mm256_srli_epi32(x, 7), _mm256_slli_epi32(x, 25)); }

#define G8(a, b, c, d, x, y)                                                                                           \
    do {                                                                                                               \
        a = _mm256_add_epi32(_mm256_add_epi32(a, b), x);                                                               \
        d = rotr16_8(_mm256_xor_si256(d, a));                                                                          \
        c = _mm256_add_epi32(c, d);                                                                                    \
        b = rotr12_8(_mm256_xor_si256(b, c));                                                                          \
        a = _mm256_add_epi32(_mm256_add_epi32(a, b), y);                                                               \
        d = rotr8_8(_mm256_xor_si256(d, a));                                                                           \
        c = _mm256_add_epi32(c, d);                                                                                    \
        b = rotr7_8(_mm256_xor_si256(b, c));                                                                           \
    } while (0)

/* Rows r[0..7] (eight words of lanes 0..7) become columns (word k of every lane), in place: 32-bit and 64-bit
 * interleaves within each 128-bit half, then the halves exchanged. */
AVX2 static inline void transpose8(__m256i r[8]) {
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

AVX2 static void lanes8(const uint8_t *const in[8], size_t blocks, uint64_t counter, uint64_t step, uint32_t flags,
                        uint32_t start, uint32_t end, uint8_t *out) {
    __m256i h[8];
    for (int i = 0; i < 8; i++) h[i] = _mm256_set1_epi32((int)IV[i]);
    uint32_t lo[8], hi[8];
    for (int j = 0; j < 8; j++) {
        uint64_t c = counter + (uint64_t)j * step;
        lo[j] = (uint32_t)c;
        hi[j] = (uint32_t)(c >> 32);
    }
    const __m256i t_lo = _mm256_loadu_si256((const __m256i *)lo), t_hi = _mm256_loadu_si256((const __m256i *)hi);
    for (size_t b = 0; b < blocks; b++) {
        __m256i m[16];
        for (int q = 0; q < 2; q++) {
            for (int j = 0; j < 8; j++)
                m[8 * q + j] = _mm256_loadu_si256((const __m256i *)(in[j] + b * BLOCK_LEN + 32 * q));
            transpose8(&m[8 * q]);
        }
        uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);
        __m256i v[16] = {
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
            _mm256_set1_epi32((int)IV[0]), _mm256_set1_epi32((int)IV[1]), _mm256_set1_epi32((int)IV[2]),
            _mm256_set1_epi32((int)IV[3]), t_lo, t_hi, _mm256_set1_epi32(BLOCK_LEN), _mm256_set1_epi32((int)f),
        };
        #pragma GCC unroll 7
        for (int r = 0; r < 7; r++) ROUND(G8, v, m, SCHEDULE[r]);
        for (int i = 0; i < 8; i++) h[i] = _mm256_xor_si256(v[i], v[i + 8]);
    }
    transpose8(h);
    for (int j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(out + j * CV_LEN), h[j]);
}

/* ---- level 3: AVX-512, 16 lanes ----
 * AVX-512F alone: every rotation is one vprord, where AVX2 spends a byte shuffle or two shifts and an or; with the
 * doubled lanes, 1.6-1.9 times the AVX2 path on this project's AMD EPYC (Zen 5, full-width 512-bit units). */

#define AVX512 __attribute__((target("avx512f")))

#define G16(a, b, c, d, x, y)                                                                                          \
    do {                                                                                                               \
        a = _mm512_add_epi32(_mm512_add_epi32(a, b), x);                                                               \
        d = _mm512_ror_epi32(_mm512_xor_si512(d, a), 16);                                                              \
        c = _mm512_add_epi32(c, d);                                                                                    \
        b = _mm512_ror_epi32(_mm512_xor_si512(b, c), 12);                                                              \
        a = _mm512_add_epi32(_mm512_add_epi32(a, b), y);                                                               \
        d = _mm512_ror_epi32(_mm512_xor_si512(d, a), 8);                                                               \
        c = _mm512_add_epi32(c, d);                                                                                    \
        b = _mm512_ror_epi32(_mm512_xor_si512(b, c), 7);                                                               \
    } while (0)

/* Rows r[0..15] (sixteen words of lanes 0..15) become columns (word k of every lane), in place. Within each 128-bit
 * quarter, 32- and 64-bit interleaves turn every four lanes' rows into vectors whose quarter q holds word 4q+k of those
 * four lanes; two rounds of quarter shuffles then gather quarter q of the four groups into word 4q+k's vector. */
AVX512 static inline void transpose16(__m512i r[16]) {
    __m512i t[16], x[4][4];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    for (int g = 0; g < 4; g++) {
        x[g][0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        x[g][1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        x[g][2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        x[g][3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int k = 0; k < 4; k++) {
        /* 0x88 takes quarters 0 and 2 of each source, 0xDD quarters 1 and 3. */
        __m512i p = _mm512_shuffle_i32x4(x[0][k], x[1][k], 0x88), q = _mm512_shuffle_i32x4(x[0][k], x[1][k], 0xDD);
        __m512i s = _mm512_shuffle_i32x4(x[2][k], x[3][k], 0x88), u = _mm512_shuffle_i32x4(x[2][k], x[3][k], 0xDD);
        r[k] = _mm512_shuffle_i32x4(p, s, 0x88);
        r[8 + k] = _mm512_shuffle_i32x4(p, s, 0xDD);
        r[4 + k] = _mm512_shuffle_i32x4(q, u, 0x88);
        r[12 + k] = _mm512_shuffle_i32x4(q, u, 0xDD);
    }
}

AVX512 static void lanes16(const uint8_t *const in[16], size_t blocks, uint64_t counter, uint64_t step, uint32_t flags,
                           uint32_t start, uint32_t end, uint8_t *out) {
    __m512i h[16];
    for (int i = 0; i < 8; i++) h[i] = _mm512_set1_epi32((int)IV[i]);
    uint32_t lo[16], hi[16];
    for (int j = 0; j < 16; j++) {
        uint64_t c = counter + (uint64_t)j * step;
        lo[j] = (uint32_t)c;
        hi[j] = (uint32_t)(c >> 32);
    }
    const __m512i t_lo = _mm512_loadu_si512(lo), t_hi = _mm512_loadu_si512(hi);
    for (size_t b = 0; b < blocks; b++) {
        __m512i m[16];
        for (int j = 0; j < 16; j++) m[j] = _mm512_loadu_si512(in[j] + b * BLOCK_LEN);
        transpose16(m);
        uint32_t f = flags | (b == 0 ? start : 0) | (b + 1 == blocks ? end : 0);
        __m512i v[16] = {
            h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
            _mm512_set1_epi32((int)IV[0]), _mm512_set1_epi32((int)IV[1]), _mm512_set1_epi32((int)IV[2]),
            _mm512_set1_epi32((int)IV[3]), t_lo, t_hi, _mm512_set1_epi32(BLOCK_LEN), _mm512_set1_epi32((int)f),
        };
        #pragma GCC unroll 7
        for (int r = 0; r < 7; r++) ROUND(G16, v, m, SCHEDULE[r]);
        for (int i = 0; i < 8; i++) h[i] = _mm512_xor_si512(v[i], v[i + 8]);
    }
    /* Eight words of sixteen lanes, padded to a square: after the transpose row j's first half is lane j's value. */
    for (int i = 8; i < 16; i++) h[i] = _mm512_setzero_si512();
    transpose16(h);
    for (int j = 0; j < 16; j++) _mm256_storeu_si256((__m256i *)(out + j * CV_LEN), _mm512_castsi512_si256(h[j]));
}

#endif /* P2V_X86 */

/* ---- dispatch ---- */

/* The widest level this CPU and its OS support: AVX2 needs the OS to save the YMM state (OSXSAVE, XCR0 bits 1-2),
 * AVX-512 also the opmask and all 32 ZMM registers (XCR0 bits 5-7). */
static int detect_level(void) {
#ifndef P2V_X86
    return 0;
#else
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int sse2 = (d & bit_SSE2) != 0;
    unsigned xcr0 = 0, b7 = 0;
    if ((c & bit_OSXSAVE) && (c & bit_AVX)) {
        unsigned hi, a7, c7, d7;
        __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(hi) : "c"(0));
        if (!__get_cpuid_count(7, 0, &a7, &b7, &c7, &d7)) b7 = 0;
    }
    int avx2 = (xcr0 & 6) == 6 && (b7 & bit_AVX2);
    int avx512 = avx2 && (xcr0 & 0xE6) == 0xE6 && (b7 & bit_AVX512F);
    return avx512 ? 3 : avx2 ? 2 : sse2 ? 1 : 0;
#endif
}

static int best_level(void) {
    static int cached = -1;
    int level = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (level < 0) __atomic_store_n(&cached, level = detect_level(), __ATOMIC_RELAXED);
    return level;
}

/* Runs the lanes interface over any count: full batches of the widest lanes the level has; a remainder of 2 or more
 * in one more batch whose spare lanes repeat the first input (their results dropped), since a SIMD batch of 4 to 16
 * costs about as much as two single compressions in portable C; a last single input in portable C. */
static void lanes(int level, const uint8_t *base, size_t stride, size_t count, size_t blocks, uint64_t counter,
                  uint64_t step, uint32_t flags, uint32_t start, uint32_t end, uint8_t *out) {
#ifdef P2V_X86
    while (count > 1 && level >= 1) {
        size_t width = level >= 3 && count > 8 ? 16 : level >= 2 && count > 4 ? 8 : 4;
        size_t real = count < width ? count : width;
        const uint8_t *in[16];
        for (size_t j = 0; j < width; j++) in[j] = base + (j < real ? j : 0) * stride;
        uint8_t spare[16 * CV_LEN];
        uint8_t *dest = real == width ? out : spare;
        if (width == 16) lanes16(in, blocks, counter, step, flags, start, end, dest);
        else if (width == 8) lanes8(in, blocks, counter, step, flags, start, end, dest);
        else lanes4(in, blocks, counter, step, flags, start, end, dest);
        if (dest == spare) memcpy(out, spare, real * CV_LEN);
        count -= real, base += real * stride, counter += real * step, out += real * CV_LEN;
    }
#else
    (void)level;
#endif
    lanes1(base, stride, count, blocks, counter, step, flags, start, end, out);
}

/* ---- the tree (§2.4) ---- */

/* Chunks hashed into one flat array of chaining values before reducing it; 64 of them are 2 KiB of stack. */
enum { FLAT_CHUNKS = 64 };

static size_t chunk_count(size_t len) { return len == 0 ? 1 : (len + CHUNK_LEN - 1) / CHUNK_LEN; }

/* The chaining values of the chunks of in[0..len), len > 0, first counter `counter`; returns how many. */
static size_t chunk_cvs(int level, const uint8_t *in, size_t len, uint64_t counter, uint8_t *out) {
    size_t full = len / CHUNK_LEN, rest = len % CHUNK_LEN;
    lanes(level, in, CHUNK_LEN, full, CHUNK_LEN / BLOCK_LEN, counter, 1, 0, CHUNK_START, CHUNK_END, out);
    if (rest) chunk_cv(in + full * CHUNK_LEN, rest, counter + full, 0, out + full * CV_LEN);
    return full + (rest != 0);
}

/* §2.4: a left subtree is always complete (a power of two of chunks) and the tree is built from the left. Merging
 * neighbours pairwise level by level, an odd last node rising unmerged, builds that same tree: each level's pairs
 * are aligned, so the root's left child ends up covering the largest power of two of chunks that leaves the right
 * child at least one. Reduces n >= 2 chaining values in place until the root's two children remain. */
static void reduce_to_two(int level, uint8_t *cvs, size_t n) {
    while (n > 2) {
        size_t pairs = n / 2;
        lanes(level, cvs, 2 * CV_LEN, pairs, 1, 0, 0, PARENT, 0, 0, cvs);
        if (n & 1) memmove(cvs + pairs * CV_LEN, cvs + (n - 1) * CV_LEN, CV_LEN);
        n = pairs + (n & 1);
    }
}

/* §2.4: a parent node compresses its children's chaining values (one 64-byte block, counter 0). */
static void parent_cv(const uint8_t children[2 * CV_LEN], uint32_t flags, uint8_t out[CV_LEN]) {
    uint32_t cv[8];
    compress1(IV, children, BLOCK_LEN, 0, PARENT | flags, cv);
    store_cv(out, cv);
}

/* The left subtree's length under §2.4: the largest power of two of chunks below the whole's chunk count. */
static size_t left_len(size_t len) {
    size_t chunks = chunk_count(len), left = 1;
    while (2 * left < chunks) left *= 2;
    return left * CHUNK_LEN;
}

/* The chaining value of the subtree over in[0..len) whose first chunk has counter `counter`; `root` adds ROOT to its
 * top node, whose first 32 output bytes are then the hash (§2.5: output block 0). */
static void subtree(int level, const uint8_t *in, size_t len, uint64_t counter, uint32_t root, uint8_t out[CV_LEN]) {
    size_t chunks = chunk_count(len);
    if (chunks == 1) {
        chunk_cv(in, len, counter, root, out);
        return;
    }
    uint8_t cvs[FLAT_CHUNKS * CV_LEN];
    if (chunks <= FLAT_CHUNKS) {
        reduce_to_two(level, cvs, chunk_cvs(level, in, len, counter, cvs));
    } else {
        size_t left = left_len(len);
        subtree(level, in, left, counter, 0, cvs);
        subtree(level, in + left, len - left, counter + left / CHUNK_LEN, 0, cvs + CV_LEN);
    }
    parent_cv(cvs, root, out);
}

/* The best level this CPU runs: 0 portable, 1 SSE2, 2 AVX2, 3 AVX-512. */
EXPORT int p2v_blake3_level(void) { return best_level(); }

/* BLAKE3 of in[0..len) into out[0..32), at the best level. */
EXPORT void p2v_blake3_hash(const uint8_t *in, size_t len, uint8_t *out) { subtree(best_level(), in, len, 0, ROOT, out); }

/* The same at a given level, so that tests run every path; returns -1 (out untouched) when the CPU lacks it. */
EXPORT int p2v_blake3_hash_at(int level, const uint8_t *in, size_t len, uint8_t *out) {
    if (level < 0 || level > best_level()) return -1;
    subtree(level, in, len, 0, ROOT, out);
    return 0;
}
