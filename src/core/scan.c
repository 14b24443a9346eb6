/* Threaded exact search over a panel database: tiles of the database sized to stay in L2,
 * blocks of queries run against each tile by the fused kernels; parallel over query
 * chunks when there are many queries, over database tiles (with a merge) when few. */
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/scan.h"

#define TILE_BYTES (256 * 1024)

static als__scan_fn scan_of(int level) {
    switch (level) {
    case 1: return als__scan_portable;
    case 2: return als__scan_avx2;
    case 3: return als__scan_avx512;
    default: return NULL;
    }
}

static double secs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The fastest of the SIMD levels this CPU supports, measured once per process on a small
 * scan (a few milliseconds): a CPU whose AVX-512 units are half as wide (AMD Zen 4) runs
 * the AVX2 kernel faster. Every level gives the same results bit for bit, so the choice
 * changes only the speed. The portable level is never chosen over a SIMD one. */
int als__simd_auto(void) {
    static _Atomic int chosen; /* 0 until measured; the value is the same for every thread */
    int c = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (c) return c;
    int best = als__simd_best();
    c = best;
    if (best >= 3) {
        enum { N = 8192, D = 16, NQ = 64, K = 10 };
        float *panels = als__aalloc((size_t)N * D, sizeof(float));
        float *q = als__aalloc((size_t)NQ * D, sizeof(float));
        float *hs = malloc((size_t)NQ * K * sizeof(float));
        int64_t *hid = malloc((size_t)NQ * K * sizeof(int64_t));
        als__heap *h = malloc((size_t)NQ * sizeof *h);
        if (panels && q && hs && hid && h) {
            uint64_t r = 88172645463325252ull;
            for (int64_t i = 0; i < (int64_t)N * D; i++) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                panels[i] = (float)((double)(r >> 40) / 16777216.0 - 0.5);
            }
            for (int64_t i = 0; i < (int64_t)NQ * D; i++) q[i] = panels[i * 7 % ((int64_t)N * D)];
            als__db db = {panels, NULL, NULL, 0, N, D, N / ALS_PANEL};
            double t[4] = {0, 0, 0, 0};
            for (int rep = 0; rep < 5; rep++)
                for (int lv = 2; lv <= 3; lv++) {
                    for (int i = 0; i < NQ; i++) h[i] = (als__heap){hs + i * K, hid + i * K, K, 0};
                    double t0 = secs();
                    scan_of(lv)(&db, 0, db.npanels, q, NQ, h, NULL);
                    double dt = secs() - t0;
                    if (rep == 0 || dt < t[lv]) t[lv] = dt; /* best of five */
                }
            c = t[2] < t[3] * 0.97 ? 2 : 3; /* AVX2 only when clearly faster */
        }
        als__afree(panels);
        als__afree(q);
        free(hs);
        free(hid);
        free(h);
    }
    atomic_store_explicit(&chosen, c, memory_order_relaxed);
    return c;
}

als__scan_fn als__scan_for(int level) {
    int best = als__simd_best();
    if (level == 0) level = als__simd_auto();
    if (level > best) return NULL;
    return scan_of(level);
}

/* Many queries: each thread takes chunks of queries and runs them over every tile, with
 * heaps for one chunk at a time, and writes finished rows straight to the output. */
static int search_by_query(const als__db *db, als__scan_fn scan, int nt, const float *q,
                           int64_t nq, int64_t k, int64_t kc, int64_t tp, int64_t ntiles,
                           const als__idset *f, float *scores, int64_t *ids) {
    int64_t d = db->d;
    int64_t qc = nq / ((int64_t)nt * 4);
    qc = (qc + 7) / 8 * 8;
    if (qc < 16 * d) qc = (16 * d + 7) / 8 * 8;
    if (qc > 1024) qc = 1024;
    if (qc > nq) qc = (nq + 7) / 8 * 8;
    int64_t nchunks = (nq + qc - 1) / qc;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nchunks > 1)
    {
        float *hs = malloc((size_t)(qc * kc) * sizeof(float));
        int64_t *hid = malloc((size_t)(qc * kc) * sizeof(int64_t));
        als__heap *heaps = malloc((size_t)qc * sizeof(als__heap));
        int ok = hs && hid && heaps;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunks; c++) {
            if (!ok) continue;
            int64_t a0 = c * qc, an = nq - a0 < qc ? nq - a0 : qc;
            for (int64_t i = 0; i < an; i++) heaps[i] = (als__heap){hs + i * kc, hid + i * kc, kc, 0};
            for (int64_t t = 0; t < ntiles; t++) {
                int64_t p1 = (t + 1) * tp < db->npanels ? (t + 1) * tp : db->npanels;
                scan(db, t * tp, p1, q + a0 * d, an, heaps, f);
            }
            for (int64_t i = 0; i < an; i++)
                als__heap_emit(&heaps[i], k, scores ? scores + (a0 + i) * k : NULL, ids + (a0 + i) * k);
        }
        free(hs);
        free(hid);
        free(heaps);
    }
    return failed ? als__errf(ALS_ENOMEM, "search: cannot allocate top-k buffers") : ALS_OK;
}

/* Few queries: threads split the database tiles, each with heaps for every query, and
 * the heaps are merged; the (score, id) order is total, so the result does not depend
 * on which thread saw which tile. */
static int search_by_tile(const als__db *db, als__scan_fn scan, int nt, const float *q,
                          int64_t nq, int64_t k, int64_t kc, int64_t tp, int64_t ntiles,
                          const als__idset *f, float *scores, int64_t *ids) {
    size_t cells;
    if (als__mul((size_t)nq * (size_t)nt, (size_t)kc, &cells))
        return als__errf(ALS_ENOMEM, "search: result buffers overflow");
    float *hs = malloc(cells * sizeof(float));
    int64_t *hid = malloc(cells * sizeof(int64_t));
    als__heap *heaps = malloc((size_t)nq * (size_t)nt * sizeof(als__heap));
    if (!hs || !hid || !heaps) {
        free(hs), free(hid), free(heaps);
        return als__errf(ALS_ENOMEM, "search: cannot allocate top-k buffers for %lld queries x k=%lld",
                         (long long)nq, (long long)k);
    }
    for (int64_t i = 0; i < nq * nt; i++) heaps[i] = (als__heap){hs + i * kc, hid + i * kc, kc, 0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t t = 0; t < ntiles; t++) {
        int64_t p1 = (t + 1) * tp < db->npanels ? (t + 1) * tp : db->npanels;
        scan(db, t * tp, p1, q, nq, heaps + (int64_t)omp_get_thread_num() * nq, f);
    }
    for (int64_t c = 1; c < nt; c++)
        for (int64_t i = 0; i < nq; i++) {
            als__heap *src = &heaps[c * nq + i], *dst = &heaps[i];
            for (int64_t r = 0; r < src->n; r++)
                if (als__heap_accepts(dst, src->s[r], src->id[r])) als__heap_push(dst, src->s[r], src->id[r]);
        }
    for (int64_t i = 0; i < nq; i++)
        als__heap_emit(&heaps[i], k, scores ? scores + i * k : NULL, ids + i * k);
    free(hs);
    free(hid);
    free(heaps);
    return ALS_OK;
}

int als__search_db(const als__db *db, als__scan_fn scan, int nthreads, const float *q,
                   int64_t nq, int64_t k, const als__idset *f, float *scores, int64_t *ids) {
    if (nq <= 0) return ALS_OK;
    int64_t kc = k < db->n ? k : db->n;
    if (kc == 0) {
        for (int64_t i = 0; i < nq * k; i++) {
            if (scores) scores[i] = -INFINITY;
            ids[i] = -1;
        }
        return ALS_OK;
    }
    int64_t tp = TILE_BYTES / (db->d * ALS_PANEL * (int64_t)sizeof(float) + 64);
    if (tp < 1) tp = 1;
    int64_t ntiles = (db->npanels + tp - 1) / tp;
    int nt = nthreads < 1 ? 1 : nthreads;
    /* A query chunk streams the whole database from memory once; below about 16 * d
     * queries per thread that stream costs more than the arithmetic, so few queries share
     * each tile instead (threads split the tiles). */
    int64_t qmin = 16 * db->d < 64 ? 64 : 16 * db->d;
    if (nq >= qmin * nt || ntiles < 2 * (int64_t)nt || nt == 1)
        return search_by_query(db, scan, nt, q, nq, k, kc, tp, ntiles, f, scores, ids);
    return search_by_tile(db, scan, nt, q, nq, k, kc, tp, ntiles, f, scores, ids);
}
