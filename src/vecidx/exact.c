/* Exact search on an IVF index (VECIDX_PARAM_EXACT): the flat index's results, bit for bit,
 * while skipping the lists that cannot hold a result.
 *
 * Every list l has a ball: its centroid c_l and R_l = max |y - c_l| over its vectors, and a
 * cone: the widest angle theta_l between a member and c_l's direction, and the largest
 * member norm Y_l (found once, on the first exact search after the lists last changed).
 * For a query q at angle phi from c_l nothing in list l scores above
 *   IP:  min(q.c_l + |q| R_l,  |q| Y_l max(0, cos(max(0, phi - theta_l))))
 *   L2:  (|q|^2 - max(0, |q - c_l| - R_l)^2) / 2     (the internal "bigger is better" score)
 * plus a margin for the float rounding of the kernels' own scores (phi is taken smaller by
 * the rounding of q.c). For normalized vectors the cone is much the tighter: a ball around
 * a mean inside the sphere reaches past it. A chunk of queries first scans, for each query,
 * the few lists with the highest bounds; the k-th best score found is then a threshold,
 * and every other list whose bound reaches it is scanned too, the (list, query) pairs
 * gathered so that each list is scanned once for all its queries of the chunk, as the
 * flat scan batches queries. Lists below it cannot change the top k (ties included: a
 * list is skipped only when its bound is strictly below the threshold), so the result
 * equals a full scan's, and the full scan's equals the flat index's (same kernel, same
 * total order). With bounds that prune nothing (uniform data) the cost is a full probe
 * plus the bounds (twice nlist x d per query, small next to n x d). */
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

#define EXACT_CHUNK 2048 /* queries per chunk: more queries per list scan, as the flat scan's */
#define FIRST_LISTS 8    /* lists per query scanned before the threshold is taken */
#define PAIR_CAP (1 << 20) /* (list, query) pairs held before they are scanned, at most */


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

/* The lists' bounds, BALL_FIELDS x nlist floats, each rounded the safe way: the radius R_l
 * (up), |c_l| (up), the cosine of the widest angle between a member and the centroid's
 * direction (down; -1 when the centroid is 0), the largest member norm (up). Computed once
 * per state of the lists and shared by concurrent searches (first one to finish installs). */
#define BALL_FIELDS 4
static const float *balls(const vecidx *idx) {
    float *b = atomic_load_explicit(&((vecidx *)idx)->balls, memory_order_acquire);
    if (b) return b;
    int64_t nlist = idx->nlist, d = idx->d;
    b = malloc((size_t)nlist * BALL_FIELDS * sizeof(float));
    float *row = malloc((size_t)d * sizeof(float));
    if (!b || !row) {
        free(b);
        free(row);
        return NULL;
    }
    for (int64_t l = 0; l < nlist; l++) {
        const float *c = idx->centroids + l * d;
        const vecidx__store *st = &idx->lists[l];
        double r2 = 0.0, cn2 = 0.0, cmin = 1.0, y2max = 0.0;
        for (int64_t j = 0; j < d; j++) cn2 += (double)c[j] * c[j];
        double cn = sqrt(cn2);
        for (int64_t i = 0; i < st->n; i++) {
            als__panels_get(st->panels, d, i, row);
            double s = 0.0, y2 = 0.0, yc = 0.0;
            for (int64_t j = 0; j < d; j++) {
                s += ((double)row[j] - c[j]) * ((double)row[j] - c[j]);
                y2 += (double)row[j] * row[j];
                yc += (double)row[j] * c[j];
            }
            if (s > r2) r2 = s;
            if (y2 > y2max) y2max = y2;
            if (y2 > 0) {
                double cs = cn > 0 ? yc / (sqrt(y2) * cn) : -1.0;
                if (cs < cmin) cmin = cs;
            }
        }
        /* a relative 1e-6 (cosine: an absolute 1e-6) the safe way: the double sums above
         * round too, and so does the float stored */
        b[l] = (float)(sqrt(r2) * (1.0 + 1e-6) + 1e-30);
        b[nlist + l] = (float)(cn * (1.0 + 1e-6));
        cmin -= 1e-6;
        b[2 * nlist + l] = (float)(cmin < -1.0 ? -1.0 : cmin);
        b[3 * nlist + l] = (float)(sqrt(y2max) * (1.0 + 1e-6) + 1e-30);
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

/* The bounds of one query against every list (see the top of the file), u[0..nlist):
 * q . c_l (IP) or |q - c_l|^2 (L2) from the quantizer's panels, 16 lists at a time (a sum
 * of squares keeps its relative accuracy: no cancellation), then the bounds in double with
 * the kernels' rounding margin. rp holds 5 x nlist per-list numbers (IP; see
 * vecidx__ivf_search_exact): R_l + eps (|c_l| + R_l), 1 / |c_l| (0 for c_l = 0), cos and
 * sin of the cone's angle, the largest member norm. */
ALS__MULTIVERSION
static void bounds_row(const float *restrict qi, int64_t d, int64_t nlist,
                       const float *restrict panels, const float *restrict bl,
                       const double *restrict rp, int l2, float *restrict cdot, float *restrict u) {
    const double *cn = rp + nlist /* 1 / |c| */, *ct = rp + 2 * nlist, *st = rp + 3 * nlist, *ym = rp + 4 * nlist;
    for (int64_t p = 0; p * ALS_PANEL < nlist; p++) {
        const float *pp = panels + p * d * ALS_PANEL;
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
        for (int t = 0; t < ALS_PANEL; t++) cdot[p * ALS_PANEL + t] = acc[t];
    }
    double qn2 = 0.0;
    for (int64_t j = 0; j < d; j++) qn2 += (double)qi[j] * qi[j];
    double qn = sqrt(qn2), eps = 1e-5 + 2.4e-7 * (double)d, iq = qn > 0 ? 1.0 / qn : 0.0;
    if (!l2) {
        for (int64_t l = 0; l < nlist; l++) {
            double bound = (double)cdot[l] + qn * rp[l] + 1e-30;
            /* the cone: cos(phi) taken larger by q.c's rounding (eps |q| |c|), so the angle
             * is a lower bound; the kernels' rounding (eps |q| Y) on top */
            double cq = cn[l] > 0 ? (double)cdot[l] * cn[l] * iq + eps + 1e-9 : 1.0;
            cq = cq > 1.0 ? 1.0 : cq < -1.0 ? -1.0 : cq;
            double f = cq >= ct[l] ? 1.0 : cq * ct[l] + sqrt(1.0 - cq * cq) * st[l];
            double cone = qn * ym[l] * ((f > 0 ? f : 0.0) + eps) + 1e-30;
            if (cone < bound) bound = cone;
            u[l] = (float)(bound * (1.0 + 1e-6) + (bound < 0 ? -bound * 2e-6 : 0.0));
        }
    } else {
        for (int64_t l = 0; l < nlist; l++) {
            double R = bl[l], y = bl[nlist + l] + R, v = cdot[l]; /* |y| <= |c| + R */
            double gap = sqrt(v > 0 ? v : 0.0) - R - eps * (qn + y);
            double bound = 0.5 * (qn2 - (gap > 0 ? gap * gap : 0.0)) + eps * (qn * y + y * y) + 1e-30;
            u[l] = (float)(bound * (1.0 + 1e-6) + (bound < 0 ? -bound * 2e-6 : 0.0));
        }
    }
}

/* Per-thread buffers of the exact search. */
typedef struct {
    float *hs;         /* chunk x kc heap scores */
    int64_t *hid;      /* chunk x kc heap ids */
    als__heap *heaps, *gh;
    float *u, *cdot;   /* one query's bounds; its q . c */
    int64_t cap;       /* pairs held: PAIR_CAP, or fewer when a chunk cannot make more */
    int32_t *pl;       /* cap pairs: list, */
    uint16_t *pq;      /* query in the chunk, */
    float *pb;         /* bound */
    int64_t *cnt;      /* nlist + 1 */
    int32_t *order;    /* cap: the pairs by list */
    int64_t *qs;       /* chunk: one list's queries */
    float *qbuf;       /* chunk x d */
} xbufs;

/* Scans the np pending pairs (list pl, query pq, bound pb) list by list (a counting sort;
 * a list's queries in the order they were added), each query only while its bound still
 * reaches its k-th best. */
static void flush_pairs(const vecidx *idx, const vecidx__sopt *o, const float *qc, xbufs *b,
                        int64_t np) {
    int64_t nlist = idx->nlist;
    if (np == 0) return;
    memset(b->cnt, 0, (size_t)(nlist + 1) * sizeof(int64_t));
    for (int64_t t = 0; t < np; t++) b->cnt[b->pl[t] + 1]++;
    for (int64_t l = 0; l < nlist; l++) b->cnt[l + 1] += b->cnt[l];
    for (int64_t t = 0; t < np; t++) b->order[b->cnt[b->pl[t]]++] = (int32_t)t;
    for (int64_t l = 0, t = 0; l < nlist; l++) { /* cnt[l] is now the end of list l's run */
        int64_t m = 0;
        for (; t < b->cnt[l]; t++) {
            int32_t e = b->order[t];
            int64_t i = b->pq[e];
            if (b->pb[e] >= als__heap_thr(&b->heaps[i])) b->qs[m++] = i;
        }
        vecidx__scan_list(idx, o->scan, l, b->qs, m, qc, b->heaps, b->gh, b->qbuf, o->filter);
    }
}

/* One chunk of queries (an <= EXACT_CHUNK) searched exactly; results emitted at a0. Each
 * query first scans its FIRST_LISTS highest-bound lists alone, which gives its k-th best
 * so far; the other lists whose bounds reach it become (list, query) pairs, scanned list by
 * list for all the chunk's queries together (flush_pairs). */
static void exact_chunk(const vecidx *idx, const vecidx__sopt *o, const float *q, int64_t a0,
                        int64_t an, int64_t k, int64_t kc, const float *bl, const double *rp,
                        float *scores, int64_t *ids, xbufs *b) {
    int64_t d = idx->d, nlist = idx->nlist;
    int l2 = idx->metric == VECIDX_METRIC_L2;
    const float *qc = q + a0 * d, *panels = idx->quant.panels, *u = b->u;
    int64_t first = nlist < FIRST_LISTS ? nlist : FIRST_LISTS, np = 0;
    for (int64_t i = 0; i < an; i++) b->heaps[i] = (als__heap){b->hs + i * kc, b->hid + i * kc, kc, 0};
    for (int64_t i = 0; i < an; i++) {
        bounds_row(qc + i * d, d, nlist, panels, bl, rp, l2, b->cdot, b->u);
        int64_t top[FIRST_LISTS], nt = 0;
        float low = -INFINITY; /* the lowest kept bound once `first` are kept */
        for (int64_t l = 0; l < nlist; l++) { /* the best `first`, kept sorted */
            if (nt == first && !(u[l] > low)) continue;
            int64_t at = nt < first ? nt++ : nt - 1;
            while (at > 0 && u[top[at - 1]] < u[l]) {
                top[at] = top[at - 1];
                at--;
            }
            top[at] = l;
            if (nt == first) low = u[top[nt - 1]];
        }
        int64_t one = i;
        for (int64_t r = 0; r < nt; r++)
            vecidx__scan_list(idx, o->scan, top[r], &one, 1, qc, b->heaps, b->gh, b->qbuf, o->filter);
        /* every other list whose bound reaches the k-th best so far (all of them while the
         * heap is not full: its threshold is -inf); ties reach */
        float thr = als__heap_thr(&b->heaps[i]);
        for (int64_t l = 0; l < nlist; l++) {
            if (!(u[l] >= thr)) continue;
            int done = 0;
            for (int64_t r = 0; r < nt; r++) done |= top[r] == l;
            if (done) continue;
            if (np == b->cap) {
                flush_pairs(idx, o, qc, b, np);
                np = 0;
            }
            b->pl[np] = (int32_t)l;
            b->pq[np] = (uint16_t)i;
            b->pb[np++] = u[l];
        }
    }
    flush_pairs(idx, o, qc, b, np);
    for (int64_t i = 0; i < an; i++)
        als__heap_emit(&b->heaps[i], k, scores ? scores + (a0 + i) * k : NULL, ids + (a0 + i) * k);
}

static void xbufs_free(xbufs *b) {
    free(b->hs);
    free(b->hid);
    free(b->heaps);
    free(b->gh);
    free(b->u);
    free(b->cdot);
    free(b->pl);
    free(b->pq);
    free(b->pb);
    free(b->cnt);
    free(b->order);
    free(b->qs);
    als__afree(b->qbuf);
}

int vecidx__ivf_search_exact(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                             const vecidx__sopt *o, float *scores, int64_t *ids) {
    if (nq == 0) return ALS_OK;
    const float *bl = balls(idx);
    if (!bl) return als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the list bounds");
    int64_t d = idx->d, nlist = idx->nlist;
    int64_t kc = k < idx->n ? k : idx->n;
    if (kc < 1) kc = 1;
    /* IP, per list: the ball's R + eps (|c| + R); the cone's exact |c|, cos and sin of its
     * angle, largest member norm (bounds_row) */
    double *rp = malloc((size_t)(nlist ? nlist : 1) * 5 * sizeof(double)), eps = 1e-5 + 2.4e-7 * (double)d;
    if (!rp) return als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the list bounds");
    for (int64_t l = 0; l < nlist; l++) {
        const float *c = idx->centroids + l * d;
        double cn2 = 0.0, ct = bl[2 * nlist + l];
        for (int64_t j = 0; j < d; j++) cn2 += (double)c[j] * c[j];
        rp[l] = (double)bl[l] + eps * ((double)bl[nlist + l] + bl[l]);
        rp[nlist + l] = cn2 > 0 ? 1.0 / sqrt(cn2) : 0.0; /* 1 / |c| */
        rp[2 * nlist + l] = ct;
        rp[3 * nlist + l] = sqrt(1.0 - ct * ct) * (1.0 + 1e-12) + 1e-12;
        rp[4 * nlist + l] = bl[3 * nlist + l];
    }
    int nt = o->nthreads;
    /* chunks large enough to batch many queries per list, small enough to keep the
     * threads busy to the end */
    int64_t chunk = (nq + 4 * nt - 1) / (4 * nt);
    if (chunk > EXACT_CHUNK) chunk = EXACT_CHUNK;
    if (chunk < 1) chunk = 1;
    int64_t nchunks = (nq + chunk - 1) / chunk;
    int failed = 0;
#pragma omp parallel num_threads(nt) if (nchunks > 1)
    {
        xbufs b;
        size_t C = (size_t)chunk;
        b.hs = malloc(C * (size_t)kc * sizeof(float));
        b.hid = malloc(C * (size_t)kc * sizeof(int64_t));
        b.heaps = malloc(C * sizeof(als__heap));
        b.gh = malloc(C * sizeof(als__heap));
        b.u = malloc((size_t)(nlist + ALS_PANEL) * sizeof(float));
        b.cdot = malloc((size_t)(nlist + ALS_PANEL) * sizeof(float));
        b.cap = (int64_t)C * (nlist ? nlist : 1) < PAIR_CAP ? (int64_t)C * (nlist ? nlist : 1) : PAIR_CAP;
        b.pl = malloc((size_t)b.cap * sizeof(int32_t));
        b.pq = malloc((size_t)b.cap * sizeof(uint16_t));
        b.pb = malloc((size_t)b.cap * sizeof(float));
        b.cnt = malloc((size_t)(nlist + 1) * sizeof(int64_t));
        b.order = malloc((size_t)b.cap * sizeof(int32_t));
        b.qs = malloc(C * sizeof(int64_t));
        b.qbuf = als__aalloc(C, (size_t)d * sizeof(float));
        int ok = b.hs && b.hid && b.heaps && b.gh && b.u && b.cdot && b.pl && b.pq &&
                 b.pb && b.cnt && b.order && b.qs && b.qbuf;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunks; c++) {
            if (!ok) continue;
            int64_t a0 = c * chunk, an = nq - a0 < chunk ? nq - a0 : chunk;
            exact_chunk(idx, o, q, a0, an, k, kc, bl, rp, scores, ids, &b);
        }
        xbufs_free(&b);
    }
    free(rp);
    if (failed) return als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the search buffers");
    return ALS_OK;
}
