/* Internal helpers shared by libals and libvecidx. Everything declared here is hidden:
 * each shared library links its own copy, and none of it is exported. */
#ifndef ALS_CORE_INTERNAL_H
#define ALS_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>

/* Hot loops compiled for AVX-512, AVX2 and baseline x86-64, picked at load time, so one .so
 * runs everywhere (GCC; not under the sanitizers, whose runtimes start after the clones'
 * resolvers run). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
#define ALS__MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ALS__MULTIVERSION
#endif
#include <string.h>

#include "als.h"

#define ALS_HIDDEN __attribute__((visibility("hidden")))

#if defined(__GNUC__)
#define ALS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define ALS_PRINTF(a, b)
#endif

/* Format a message, record it with als_error_set and return code. */
ALS_HIDDEN int als__errf(int code, const char *fmt, ...) ALS_PRINTF(2, 3);

/* 64-byte aligned allocation that checks n * size for overflow (NULL on failure).
 * Free with als__afree. */
ALS_HIDDEN void *als__aalloc(size_t n, size_t size);
ALS_HIDDEN void als__afree(void *p);
/* ALS_OK if rows x k cells of `cell` bytes can exist in memory, else ALS_ERANGE with a
 * message naming fn and what (the parameter). */
ALS_HIDDEN int als__out_fits(int64_t rows, int64_t k, size_t cell, const char *fn, const char *what);
/* size_t product with overflow check: 0 on success, -1 on overflow. */
static inline int als__mul(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32). Start with crc = 0. als__crc32 builds
 * its 8 KiB of tables per call: use a table context for many small pieces. */
typedef struct { uint32_t t[8][256]; } als__crctab;
ALS_HIDDEN void als__crc_init(als__crctab *c);
ALS_HIDDEN uint32_t als__crc32_tab(const als__crctab *c, uint32_t crc, const void *buf, size_t n);
ALS_HIDDEN uint32_t als__crc32(uint32_t crc, const void *buf, size_t n);

/* Atomic file writing: a temp file beside the target, fsync, rename, fsync of the folder.
 * Every write also feeds a running CRC-32 of the bytes written since the last reset. */
typedef struct {
    FILE *f;
    char *tmp;
    char *path;
    char *dir; /* the folder of path, synced after the rename */
    als__crctab *tab;
    uint32_t crc;
    int failed;
} als__wfile;
ALS_HIDDEN int als__wfile_open(als__wfile *w, const char *path);
ALS_HIDDEN void als__wfile_write(als__wfile *w, const void *p, size_t n);
ALS_HIDDEN int als__wfile_commit(als__wfile *w); /* closes; on failure removes the temp */
ALS_HIDDEN void als__wfile_abort(als__wfile *w);

/* Checked sequential reads: the file size is known up front, so a header's claimed sizes
 * can be validated before anything is allocated; a read past the end is ALS_EFORMAT.
 * Every read feeds a running CRC-32 (reset it by setting crc = 0). */
typedef struct {
    FILE *f;
    const char *path;
    als__crctab *tab;
    uint64_t size, pos;
    uint32_t crc;
} als__rfile;
ALS_HIDDEN int als__rfile_open(als__rfile *r, const char *path); /* ENOTFOUND, EIO */
ALS_HIDDEN int als__rfile_read(als__rfile *r, void *p, size_t n); /* EFORMAT, EIO */
ALS_HIDDEN void als__rfile_close(als__rfile *r);

/* Little-endian loads/stores for file formats (host order is checked by a marker). */
static inline uint32_t als__ld32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t als__ld64(const unsigned char *p) {
    return (uint64_t)als__ld32(p) | (uint64_t)als__ld32(p + 4) << 32;
}
static inline void als__st32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void als__st64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Correctly rounded a * b + c, the operation every kernel's score is built from. Where the
 * compiler may use an FMA instruction (FP_FAST_FMAF: aarch64, -mfma) that is fmaf itself.
 * Elsewhere fmaf is an out-of-line call (and a slow software routine on CPUs without FMA),
 * so it is computed inline: the product of two floats is exact in double, the double sum
 * is rounded to odd via TwoSum (Boldo & Melquiond), and rounding that to float is then
 * exactly the fused result. An infinite or NaN sum (an accumulator that overflowed)
 * is returned as it is, as fmaf does: its TwoSum error term is NaN, not a rounding. */
static inline float als__fmaf(float a, float b, float c) {
#ifdef FP_FAST_FMAF
    return fmaf(a, b, c);
#else
    double p = (double)a * (double)b, cd = (double)c, s = p + cd;
    double bv = s - p, err = (p - (s - bv)) + (cd - bv);
    uint64_t u;
    memcpy(&u, &s, sizeof u);
    if (err != 0.0 && !(u & 1) && isfinite(s)) {
        u += ((err > 0.0) == (s > 0.0)) ? (uint64_t)1 : ~(uint64_t)0;
        memcpy(&s, &u, sizeof s);
    }
    return (float)s;
#endif
}

/* Best SIMD level of this CPU: 1 portable, 2 AVX2+FMA, 3 AVX-512F. */
ALS_HIDDEN int als__simd_best(void);
/* The level VECIDX_SIMD_AUTO runs: the fastest supported one, measured once (scan.c). */
ALS_HIDDEN int als__simd_auto(void);

/* True if any of the n values (with stride between rows) is NaN or Inf. */
ALS_HIDDEN int64_t als__first_nonfinite_row(const float *x, int64_t rows, int64_t cols,
                                            int64_t stride);

/* Deterministic RNG (xoshiro256**, seeded through splitmix64). */
typedef struct { uint64_t s[4]; } als__rng;
static inline uint64_t als__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline void als__rng_seed(als__rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        r->s[i] = z ^ (z >> 31);
    }
}
static inline uint64_t als__rng_next(als__rng *r) {
    uint64_t *s = r->s, res = als__rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = als__rotl(s[3], 45);
    return res;
}
/* Uniform in [0, n) without modulo bias worth caring about (n < 2^63). */
static inline uint64_t als__rng_below(als__rng *r, uint64_t n) {
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)als__rng_next(r) * n) >> 64);
}
/* The first m entries of perm become m distinct draws from 0..n-1 (a partial
 * Fisher-Yates shuffle of the identity). */
static inline void als__rng_pick(als__rng *r, int64_t *perm, int64_t n, int64_t m) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = 0; i < m; i++) {
        int64_t j = i + (int64_t)als__rng_below(r, (uint64_t)(n - i));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
static inline double als__rng_unit(als__rng *r) {
    return (double)(als__rng_next(r) >> 11) * 0x1.0p-53;
}

#endif
