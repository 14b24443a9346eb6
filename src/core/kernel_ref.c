/* Portable kernel: plain C, any CPU. als__fmaf rounds exactly like the SIMD paths' FMA
 * instructions, so every path returns bit-identical scores. */
#include "core/scan.h"

void als__scan_portable(const als__db *db, int64_t p0, int64_t p1, const float *q, int64_t nq,
                        als__heap *heaps, const als__idset *f) {
    const int64_t d = db->d;
    for (int64_t a = 0; a < nq; a++) {
        const float *qa = q + a * d;
        als__heap *h = &heaps[a];
        for (int64_t p = p0; p < p1; p++) {
            const float *y = db->panels + p * d * ALS_PANEL;
            float acc[ALS_PANEL];
            for (int l = 0; l < ALS_PANEL; l++) acc[l] = db->bias ? db->bias[p * ALS_PANEL + l] : 0.0f;
            for (int64_t j = 0; j < d; j++)
                for (int l = 0; l < ALS_PANEL; l++) acc[l] = als__fmaf(qa[j], y[j * ALS_PANEL + l], acc[l]);
            float t = als__heap_thr(h);
            unsigned m = 0;
            for (int l = 0; l < ALS_PANEL; l++) m |= (unsigned)(acc[l] >= t) << l;
            if (m) als__hits(db, p * ALS_PANEL, m, acc, h, f);
        }
    }
}
