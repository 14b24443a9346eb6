/* Exact search on an IVF index (VECIDX_PARAM_EXACT): the flat index's results, bit for bit,
 * while skipping the lists that cannot hold a result.
 *
 * Every list l has a ball: its centroid c_l and R_l = max |y - c_l| over its vectors (found
 * once, on the first exact search after the lists last changed). For a query q nothing in
 * list l scores above
 *   IP:  q.c_l + |q| R_l
 *   L2:  (|q|^2 - max(0, |q - c_l| - R_l)^2) / 2     (the internal "bigger is better" score)
 * plus a margin for the float rounding of the kernels' own scores. A chunk of queries
 * first scans, for each query, the few lists with the highest bounds; the k-th best score
 * found is then a threshold, and every other list whose bound reaches it is scanned too.
 * Lists below it cannot change the top k (ties included: a list is skipped only when its
 * bound is strictly below the threshold), so the result equals a full scan's, and the
 * full scan's equals the flat index's (same kernel, same total order). With bounds that
 * prune nothing (uniform data) the cost is a full probe plus the bounds (nlist x d per
 * query, small next to n x d). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

#define EXACT_CHUNK 256 /* queries per chunk: the bounds are chunk x nlist floats */
#define FIRST_LISTS 8   /* lists per query scanned before the threshold is taken */

void vecidx__scan_list(const vecidx *idx, als__scan_fn scan, int64_t l, const int64_t *qs,
                       int64_t m, const float *q, als__heap *heaps, als__heap *gh, float *qbuf,
                       const als__idset *f) {
    int64_t d = idx->d;
    const vecidx__store *st = &idx->lists[l];
    if (m == 0 || st->n == 0) return;
    for (int64_t t = 0; t < m; t++) {
        memcpy(qbuf + t * d, q + qs[t] * d, (size_t)d * sizeof(float));
        gh[t] = heaps[qs[t]];
    }
    /* Large lists (small nlist) are taken in L2-sized tiles, as the flat search does. */
    als__db db = vecidx__store_db(st, d);
    int64_t tp = (256 * 1024) / (d * ALS_PANEL * (int64_t)sizeof(float) + 64);
    if (tp < 1) tp = 1;
    for (int64_t p0 = 0; p0 < db.npanels; p0 += tp)
        scan(&db, p0, p0 + tp < db.npanels ? p0 + tp : db.npanels, qbuf, m, gh, f);
    for (int64_t t = 0; t < m; t++) heaps[qs[t]].n = gh[t].n;
}

/* The lists' balls: radius[l] (rounded up) then |c_l|, 2 x nlist floats, computed once per
 * state of the lists and shared by concurrent searches (first one to finish installs). */
static const float *balls(const vecidx *idx) {
    float *b = atomic_load_explicit(&((vecidx *)idx)->balls, memory_order_acquire);
    if (b) return b;
    int64_t nlist = idx->nlist, d = idx->d;
    b = malloc((size_t)nlist * 2 * sizeof(float));
    float *row = malloc((size_t)d * sizeof(float));
    if (!b || !row) {
        free(b);
        free(row);
        return NULL;
    }
    for (int64_t l = 0; l < nlist; l++) {
        const float *c = idx->centroids + l * d;
        const vecidx__store *st = &idx->lists[l];
        double r2 = 0.0, cn = 0.0;
        for (int64_t j = 0; j < d; j++) cn += (double)c[j] * c[j];
        for (int64_t i = 0; i < st->n; i++) {
            als__panels_get(st->panels, d, i, row);
            double s = 0.0;
            for (int64_t j = 0; j < d; j++) s += ((double)row[j] - c[j]) * ((double)row[j] - c[j]);
            if (s > r2) r2 = s;
        }
        /* a relative 1e-6 up: the double sums above round too */
        b[l] = (float)(sqrt(r2) * (1.0 + 1e-6) + 1e-30);
        b[nlist + l] = (float)(sqrt(cn) * (1.0 + 1e-6));
    }
    free(row);
    float *expect = NULL;
    if (!atomic_compare_exchange_strong(&((vecidx *)idx)->balls, &expect, b)) {
        free(b); /* another search installed the same numbers first */
        return expect;
    }
    return b;
}

void vecidx__balls_reset(vecidx *idx) {
    free(atomic_exchange(&idx->balls, NULL));
}

/* One chunk of queries (an <= EXACT_CHUNK) searched exactly; results emitted at a0. */
static void exact_chunk(const vecidx *idx, const vecidx__sopt *o, const float *q, int64_t a0,
                        int64_t an, int64_t k, int64_t kc, const float *bl, float *scores,
                        int64_t *ids, float *hs, int64_t *hid, als__heap *heaps, als__heap *gh,
                        float *ub, int64_t *qs, float *qbuf, float *cdot) {
    int64_t d = idx->d, nlist = idx->nlist;
    int l2 = idx->metric == VECIDX_METRIC_L2;
    const float *qc = q + a0 * d;
    for (int64_t i = 0; i < an; i++) heaps[i] = (als__heap){hs + i * kc, hid + i * kc, kc, 0};
    /* IP: q . c, L2: |q - c|^2, for every (query, list), from the quantizer's panels, 16
     * lists at a time (a sum of squares keeps its relative accuracy: no cancellation) */
    const vecidx__store *cs = &idx->quant;
    for (int64_t i = 0; i < an; i++) {
        const float *qi = qc + i * d;
        for (int64_t p = 0; p * ALS_PANEL < nlist; p++) {
            const float *pp = cs->panels + p * d * ALS_PANEL;
            float acc[ALS_PANEL] = {0};
            if (l2) {
                for (int64_t j = 0; j < d; j++)
                    for (int t = 0; t < ALS_PANEL; t++) {
                        float df = qi[j] - pp[j * ALS_PANEL + t];
                        acc[t] += df * df;
                    }
            } else {
                for (int64_t j = 0; j < d; j++)
                    for (int t = 0; t < ALS_PANEL; t++) acc[t] += qi[j] * pp[j * ALS_PANEL + t];
            }
            int64_t m = nlist - p * ALS_PANEL < ALS_PANEL ? nlist - p * ALS_PANEL : ALS_PANEL;
            memcpy(cdot + p * ALS_PANEL, acc, (size_t)m * sizeof(float));
        }
        double qn2 = 0.0;
        for (int64_t j = 0; j < d; j++) qn2 += (double)qi[j] * qi[j];
        double qn = sqrt(qn2), eps = 1e-5 + 2.4e-7 * (double)d;
        float *u = ub + i * nlist;
        for (int64_t l = 0; l < nlist; l++) {
            double R = bl[l], cn = bl[nlist + l], y = cn + R; /* |y| <= |c| + R */
            /* |q.c| computed in float above: its own error is below eps |q| |c| too */
            double v = cdot[l], bound;
            if (!l2) {
                bound = v + qn * R;
            } else {
                double gap = sqrt(v > 0 ? v : 0.0) - R - eps * (qn + y);
                bound = 0.5 * (qn2 - (gap > 0 ? gap * gap : 0.0));
            }
            bound += eps * (qn * y + (l2 ? y * y : 0.0)) + 1e-30;
            u[l] = (float)(bound * (1.0 + 1e-6) + (bound < 0 ? -bound * 2e-6 : 0.0));
        }
    }
    /* Round 1: each query's FIRST_LISTS highest bounds (then marked -inf: done). The pass
     * goes list by list so that each list is streamed once for all the queries it serves. */
    int64_t first = nlist < FIRST_LISTS ? nlist : FIRST_LISTS;
    unsigned char *mark = (unsigned char *)qs + (size_t)an * sizeof(int64_t); /* an x nlist */
    memset(mark, 0, (size_t)(an * nlist));
    for (int64_t i = 0; i < an; i++) {
        const float *u = ub + i * nlist;
        int64_t top[FIRST_LISTS], nt = 0;
        for (int64_t l = 0; l < nlist; l++) { /* the best `first`, kept sorted */
            if (nt == first && !(u[l] > u[top[nt - 1]])) continue;
            int64_t at = nt < first ? nt++ : nt - 1;
            while (at > 0 && u[top[at - 1]] < u[l]) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = l;
        }
        for (int64_t r = 0; r < nt; r++) mark[i * nlist + top[r]] = 1;
    }
    for (int64_t l = 0; l < nlist; l++) {
        int64_t m = 0;
        for (int64_t i = 0; i < an; i++)
            if (mark[i * nlist + l]) qs[m++] = i;
        vecidx__scan_list(idx, o->scan, l, qs, m, qc, heaps, gh, qbuf, o->filter);
    }
    /* Round 2: every other list whose bound reaches the query's k-th best so far. */
    for (int64_t l = 0; l < nlist; l++) {
        int64_t m = 0;
        for (int64_t i = 0; i < an; i++)
            if (!mark[i * nlist + l] && ub[i * nlist + l] >= als__heap_thr(&heaps[i])) qs[m++] = i;
        vecidx__scan_list(idx, o->scan, l, qs, m, qc, heaps, gh, qbuf, o->filter);
    }
    for (int64_t i = 0; i < an; i++)
        als__heap_emit(&heaps[i], k, scores ? scores + (a0 + i) * k : NULL, ids + (a0 + i) * k);
}

int vecidx__ivf_search_exact(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                             const vecidx__sopt *o, float *scores, int64_t *ids) {
    if (nq == 0) return ALS_OK;
    const float *bl = balls(idx);
    if (!bl) return als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the list bounds");
    int64_t d = idx->d, nlist = idx->nlist;
    int64_t kc = k < idx->n ? k : idx->n;
    if (kc < 1) kc = 1;
    int nt = o->nthreads;
    int64_t chunk = nq < EXACT_CHUNK ? nq : EXACT_CHUNK, nchunks = (nq + chunk - 1) / chunk;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nchunks > 1)
    {
        float *hs = malloc((size_t)(chunk * kc) * sizeof(float));
        int64_t *hid = malloc((size_t)(chunk * kc) * sizeof(int64_t));
        als__heap *heaps = malloc((size_t)chunk * sizeof(als__heap));
        als__heap *gh = malloc((size_t)chunk * sizeof(als__heap));
        float *ub = malloc((size_t)(chunk * nlist) * sizeof(float));
        int64_t *qs = malloc((size_t)chunk * sizeof(int64_t) + (size_t)(chunk * nlist));
        float *qbuf = als__aalloc((size_t)chunk, (size_t)d * sizeof(float));
        float *cdot = malloc((size_t)(nlist + ALS_PANEL) * sizeof(float));
        int ok = hs && hid && heaps && gh && ub && qs && qbuf && cdot;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunks; c++) {
            if (!ok) continue;
            int64_t a0 = c * chunk, an = nq - a0 < chunk ? nq - a0 : chunk;
            exact_chunk(idx, o, q, a0, an, k, kc, bl, scores, ids, hs, hid, heaps, gh, ub, qs,
                        qbuf, cdot);
        }
        free(hs);
        free(hid);
        free(heaps);
        free(gh);
        free(ub);
        free(qs);
        als__afree(qbuf);
        free(cdot);
    }
    if (failed) return als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the search buffers");
    return ALS_OK;
}
