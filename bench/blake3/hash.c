/* bench/blake3/run's harness: p2v's BLAKE3 (src/P2V.Imaging/Native/blake3.c, included whole) on every path this CPU
   has, one thread: FILE read in 64 KiB pieces (read(2) into one buffer, a capture's average chunk) and each piece
   hashed while it is in the cache, as `b3sum --no-mmap` reads and hashes. Prints "LEVEL SECONDS" per path, the read
   included, then the hash of the whole file on the best path, which run checks against b3sum's. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c11 */
#include "../../src/P2V.Imaging/Native/blake3.c"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

enum { PIECE = 64 << 10 };

/* Reads and hashes FILE piece by piece on `level`; returns the seconds taken, or -1 on a read error. */
static double pieces(const char *path, int level) {
    static uint8_t buf[PIECE];
    uint8_t out[CV_LEN];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    double t = now();
    ssize_t n;
    while ((n = read(fd, buf, PIECE)) > 0) subtree(level, buf, (size_t)n, 0, ROOT, out);
    t = now() - t;
    close(fd);
    return n < 0 ? -1 : t;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: hash FILE\n"); return 2; }
    static const char *names[] = {"portable", "sse2", "avx2", "avx512"};
    for (int level = 0; level <= best_level(); level++) {
        double t = pieces(argv[1], level);
        if (t < 0) { perror(argv[1]); return 1; }
        printf("%s %.4f\n", names[level], t);
    }
    /* The whole file as one input, as b3sum hashes it: the check that this path is BLAKE3. */
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    rewind(f);
    uint8_t *data = malloc(len ? len : 1), out[CV_LEN];
    if (!data || fread(data, 1, len, f) != len) { fprintf(stderr, "hash: cannot read %s\n", argv[1]); return 1; }
    fclose(f);
    subtree(best_level(), data, len, 0, ROOT, out);
    printf("hash ");
    for (int i = 0; i < CV_LEN; i++) printf("%02x", out[i]);
    printf("\n");
    free(data);
    return 0;
}
