/* AVX2+FMA kernel (compiled with -mavx2 -mfma; called only when the CPU has both).
 * Same blocking as the AVX-512 kernel with each 16-wide panel held as two 8-wide halves;
 * 16 ymm registers allow 4 queries x 1 panel (8 accumulators) or 1 query x 4 panels. */
#include <immintrin.h>

#include "core/scan.h"

#define PRAGMA(x) _Pragma(#x)
#define UNROLL PRAGMA(GCC unroll 16)

#define DEF_MK(QB, PB)                                                                    \
    static void mk_##QB##_##PB(const als__db *db, int64_t p0, int64_t p1, const float *q, \
                               als__heap *h, const als__idset *f, int64_t *pdone) {       \
        const int64_t d = db->d;                                                          \
        int64_t p = p0;                                                                   \
        for (; p + PB <= p1; p += PB) {                                                   \
            __m256 acc[QB][2 * PB];                                                       \
            const float *base = db->panels + p * d * ALS_PANEL;                           \
            UNROLL for (int b = 0; b < 2 * PB; b++) {                                     \
                __m256 init = db->bias ? _mm256_load_ps(db->bias + p * ALS_PANEL + b * 8) \
                                       : _mm256_setzero_ps();                             \
                UNROLL for (int a = 0; a < QB; a++) acc[a][b] = init;                     \
            }                                                                             \
            for (int64_t j = 0; j < d; j++) {                                             \
                __m256 y[2 * PB];                                                         \
                UNROLL for (int b = 0; b < 2 * PB; b++)                                   \
                    y[b] = _mm256_load_ps(base + ((b / 2) * d + j) * ALS_PANEL + (b % 2) * 8); \
                UNROLL for (int a = 0; a < QB; a++) {                                     \
                    __m256 qa = _mm256_broadcast_ss(q + a * d + j);                       \
                    UNROLL for (int b = 0; b < 2 * PB; b++)                               \
                        acc[a][b] = _mm256_fmadd_ps(qa, y[b], acc[a][b]);                 \
                }                                                                         \
            }                                                                             \
            UNROLL for (int a = 0; a < QB; a++) {                                         \
                __m256 t = _mm256_set1_ps(als__heap_thr(&h[a]));                          \
                unsigned m[PB], any = 0;                                                  \
                UNROLL for (int b = 0; b < PB; b++) {                                     \
                    m[b] = (unsigned)_mm256_movemask_ps(                                  \
                               _mm256_cmp_ps(acc[a][2 * b], t, _CMP_GE_OQ)) |             \
                           (unsigned)_mm256_movemask_ps(                                  \
                               _mm256_cmp_ps(acc[a][2 * b + 1], t, _CMP_GE_OQ)) << 8;     \
                    any |= m[b];                                                          \
                }                                                                         \
                if (__builtin_expect(any != 0, 0)) {                                      \
                    for (int b = 0; b < PB; b++) {                                        \
                        if (!m[b]) continue;                                              \
                        float sc[ALS_PANEL];                                              \
                        _mm256_storeu_ps(sc, acc[a][2 * b]);                              \
                        _mm256_storeu_ps(sc + 8, acc[a][2 * b + 1]);                      \
                        als__hits(db, (p + b) * ALS_PANEL, m[b], sc, &h[a], f);           \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        *pdone = p;                                                                       \
    }

DEF_MK(4, 1)
DEF_MK(2, 2)
DEF_MK(2, 1)
DEF_MK(1, 4)
DEF_MK(1, 1)

#define RUN(QB, PB)                                                                       \
    do {                                                                                  \
        int64_t done;                                                                     \
        mk_##QB##_##PB(db, p0, p1, q + a * d, heaps + a, f, &done);                       \
        if (done < p1) mk_##QB##_1(db, done, p1, q + a * d, heaps + a, f, &done);         \
    } while (0)

void als__scan_avx2(const als__db *db, int64_t p0, int64_t p1, const float *q, int64_t nq,
                    als__heap *heaps, const als__idset *f) {
    const int64_t d = db->d;
    int64_t a = 0;
    for (; a + 4 <= nq; a += 4) RUN(4, 1);
    if (a + 2 <= nq) { RUN(2, 2); a += 2; }
    if (a < nq) RUN(1, 4);
}
