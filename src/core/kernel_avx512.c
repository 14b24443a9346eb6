/* AVX-512F kernel (compiled with -mavx512f; called only when the CPU has it).
 * A block of QB queries x PB panels keeps QB * PB accumulators in registers; the scores
 * never touch memory unless a lane beats its query's current k-th best. */
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
            __m512 acc[QB][PB];                                                           \
            const float *base = db->panels + p * d * ALS_PANEL;                           \
            UNROLL for (int b = 0; b < PB; b++) {                                         \
                __m512 init = db->bias ? _mm512_load_ps(db->bias + (p + b) * ALS_PANEL)   \
                                       : _mm512_setzero_ps();                             \
                UNROLL for (int a = 0; a < QB; a++) acc[a][b] = init;                     \
            }                                                                             \
            for (int64_t j = 0; j < d; j++) {                                             \
                __m512 y[PB];                                                             \
                UNROLL for (int b = 0; b < PB; b++)                                       \
                    y[b] = _mm512_load_ps(base + (b * d + j) * ALS_PANEL);                \
                UNROLL for (int a = 0; a < QB; a++) {                                     \
                    __m512 qa = _mm512_set1_ps(q[a * d + j]);                             \
                    UNROLL for (int b = 0; b < PB; b++)                                   \
                        acc[a][b] = _mm512_fmadd_ps(qa, y[b], acc[a][b]);                 \
                }                                                                         \
            }                                                                             \
            UNROLL for (int a = 0; a < QB; a++) {                                         \
                __m512 t = _mm512_set1_ps(als__heap_thr(&h[a]));                          \
                __mmask16 m[PB];                                                          \
                unsigned any = 0;                                                         \
                UNROLL for (int b = 0; b < PB; b++) {                                     \
                    m[b] = _mm512_cmp_ps_mask(acc[a][b], t, _CMP_GE_OQ);                  \
                    any |= m[b];                                                          \
                }                                                                         \
                if (__builtin_expect(any != 0, 0)) {                                      \
                    for (int b = 0; b < PB; b++) {                                        \
                        if (!m[b]) continue;                                              \
                        float sc[ALS_PANEL];                                              \
                        _mm512_storeu_ps(sc, acc[a][b]);                                  \
                        als__hits(db, (p + b) * ALS_PANEL, m[b], sc, &h[a], f);           \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
        *pdone = p;                                                                       \
    }

DEF_MK(8, 3)
DEF_MK(8, 1)
DEF_MK(4, 3)
DEF_MK(4, 1)
DEF_MK(2, 4)
DEF_MK(2, 1)
DEF_MK(1, 8)
DEF_MK(1, 1)

#define RUN(QB, PB)                                                                       \
    do {                                                                                  \
        int64_t done;                                                                     \
        mk_##QB##_##PB(db, p0, p1, q + a * d, heaps + a, f, &done);                       \
        if (done < p1) mk_##QB##_1(db, done, p1, q + a * d, heaps + a, f, &done);         \
    } while (0)

void als__scan_avx512(const als__db *db, int64_t p0, int64_t p1, const float *q, int64_t nq,
                      als__heap *heaps, const als__idset *f) {
    const int64_t d = db->d;
    int64_t a = 0;
    for (; a + 8 <= nq; a += 8) RUN(8, 3);
    if (a + 4 <= nq) { RUN(4, 3); a += 4; }
    if (a + 2 <= nq) { RUN(2, 4); a += 2; }
    if (a < nq) RUN(1, 8);
}
