/* Two-level assignment accelerator for IVF with many lists: see quantizer.h.
 *
 * Build: the nlist ("fine") centroids are clustered by k-means into ntop "top" centroids
 * (ntop ~ 0.4 sqrt(nlist), in whole panels of 16); each fine centroid joins the cell of its
 * nearest top centroid; each cell's fine centroids are laid out as one panel database, with
 * the flat quantizer's exact layout and L2 bias, so the kernels score them bit-identically;
 * each cell also keeps a panel of 16 representatives spread over it.
 *
 * Assignment of a point x, for a chunk of points at a time:
 *   A. scores against every top centroid, in plain C (one multiply and one add per term,
 *      the same on every CPU; they only steer the probing): the nearest top cell t1, at
 *      distance D1; a sentinel just below the best plain-C score of t1's representatives,
 *      less a margin larger than both roundings;
 *   B. the kernels scan t1's fine centroids for all the chunk's points of that cell at once
 *      into k=1 heaps seeded with the sentinel (only candidates that can win call back); the
 *      best found is at distance r from x;
 *   C. the other top cells whose centroid lies within D1 + reach r of x (by the plain-C
 *      scores), at most PROBE - 1 of them (the nearest), are scanned the same way.
 * The answer is the best (score, then smaller centroid number) over the scanned fine
 * centroids with the flat quantizer's own scores: exactly the flat quantizer's answer
 * whenever x's nearest centroid c* lies in a scanned cell. reach 2 would make that certain
 * (c* in cell t means |c* - t| <= |c* - t1|, so |x - t| <= |x - c*| + |c* - t| <=
 * r + (r + D1)); reach 1 keeps 99.95% of the assignments exact on the benchmark's clustered
 * data at a fraction of the cost (docs/performance.md, "IVF build at scale").
 *
 * k-means passes each point's previous centroid: its cell is scanned in B too and its score
 * seeds the heap, so an assignment never gets worse and B costs little. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/quantizer.h"

#define CHUNK 1024    /* points per work item of an assignment */
#define TOP_ITERS 10  /* k-means iterations of the top level (over the fine centroids) */
#define TOP_SCALE 0.4 /* ntop = TOP_SCALE sqrt(nlist), rounded up to whole panels */
#define PROBE 12      /* top cells scanned per point, at most (plus the previous one's) */
#define SENTINEL INT64_MAX

struct vecidx__coarse {
    int64_t d, nlist, ntop, tnp; /* tnp: panels of top centroids */
    int64_t probe;               /* at most this many top cells per point */
    double reach;                /* probe the cells within D1 + reach r */
    int l2;
    float *tp, *tb;   /* top centroids: panels; bias (L2: -|t|^2/2, IP: 0), -inf for lanes
                       * past ntop and for empty cells, so that those never win */
    float *fp, *fb;   /* fine centroids grouped by top cell, each cell on whole panels */
    int64_t *fid;     /* centroid number of every slot of fp */
    float *fnorm;     /* |c| of every slot (the sentinel's rounding margin) */
    int64_t *cp0;     /* ntop + 1: first panel of each cell */
    int64_t *cn;      /* ntop: fine centroids in each cell */
    int64_t *rep;     /* ntop: slot of the cell's fine centroid nearest its top centroid */
    float *rp, *rb;   /* per cell, one panel of 16 representatives spread over the cell (that
                       * one, then each the farthest from those before): vectors, bias */
    float *rmargin;   /* per cell: max |c| and max |bias| of its representatives (2 floats) */
    int64_t *slot;    /* nlist: slot of each fine centroid */
    int64_t *cell;    /* nlist: top cell of each fine centroid */
    int64_t first;    /* the first cell that holds fine centroids */
    float *c;         /* the fine centroids, row-major */
};

void vecidx__coarse_free(vecidx__coarse *q) {
    if (!q) return;
    als__afree(q->tp);
    als__afree(q->tb);
    als__afree(q->fp);
    als__afree(q->fb);
    free(q->fid);
    free(q->fnorm);
    free(q->cp0);
    free(q->cn);
    free(q->rep);
    als__afree(q->rp);
    als__afree(q->rb);
    free(q->rmargin);
    free(q->slot);
    free(q->cell);
    free(q->c);
    free(q);
}

/* ------------------------------------------------------------ plain-C top-level scores */

/* GCC's vector extension (GCC and Clang, any target: scalar code where there is no SIMD)
 * keeps a panel's 16 sums in registers. Each sum is bias, then + x[j] * y[j] for j in order,
 * a multiply and an add (ISO C mode never contracts them into a fused multiply-add), so
 * every CPU computes the same bits. */
typedef float vq_v4 __attribute__((vector_size(16)));
typedef int32_t vq_i4 __attribute__((vector_size(16)));

static inline vq_v4 vq_ld(const float *p) {
    vq_v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline vq_v4 vq_max(vq_v4 a, vq_v4 b) { /* a > b ? a : b, lane by lane */
    vq_i4 m = a > b;
    return (vq_v4)(((vq_i4)a & m) | ((vq_i4)b & ~m));
}

static inline float vq_hmax(vq_v4 a) {
    float u = a[0] > a[1] ? a[0] : a[1], v = a[2] > a[3] ? a[2] : a[3];
    return u > v ? u : v;
}

/* Plain-C scores of x against the 16 vectors of one panel (the arithmetic of top_scores2). */
static void panel_scores(const float *panel, const float *bias, const float *x, int64_t d,
                         float *out) {
    vq_v4 a0 = vq_ld(bias), a1 = vq_ld(bias + 4), a2 = vq_ld(bias + 8), a3 = vq_ld(bias + 12);
    for (int64_t j = 0; j < d; j++) {
        const float *y = panel + j * ALS_PANEL;
        vq_v4 u = {x[j], x[j], x[j], x[j]};
        a0 = a0 + u * vq_ld(y);
        a1 = a1 + u * vq_ld(y + 4);
        a2 = a2 + u * vq_ld(y + 8);
        a3 = a3 + u * vq_ld(y + 12);
    }
    memcpy(out, &a0, sizeof a0);
    memcpy(out + 4, &a1, sizeof a1);
    memcpy(out + 8, &a2, sizeof a2);
    memcpy(out + 12, &a3, sizeof a3);
}

/* The first top cell whose score in s equals the best (the lane maxima are in mx). */
static int64_t top_first(const vecidx__coarse *q, const float *s, vq_v4 mx) {
    float m = vq_hmax(mx);
    vq_v4 mv = {m, m, m, m};
    for (int64_t p = 0; p < q->tnp; p++) {
        const float *sp = s + p * ALS_PANEL;
        vq_i4 e = (vq_ld(sp) == mv) | (vq_ld(sp + 4) == mv) | (vq_ld(sp + 8) == mv) |
                  (vq_ld(sp + 12) == mv);
        if (!(e[0] | e[1] | e[2] | e[3])) continue;
        for (int l = 0; l < ALS_PANEL; l++)
            if (sp[l] == m && p * ALS_PANEL + l < q->ntop) return p * ALS_PANEL + l;
    }
    return q->first; /* no cell reaches the maximum: NaN or infinite scores (huge inputs) */
}

/* Scores of two points x0, x1 against every top centroid into s0, s1, each panel loaded
 * once for both; the best score of each panel into pm0, pm1; the first best top cell of
 * each into b[0], b[1]. */
static void top_scores2(const vecidx__coarse *q, const float *x0, const float *x1, float *s0,
                        float *s1, float *pm0, float *pm1, int64_t *b) {
    const int64_t d = q->d;
    const vq_v4 ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    vq_v4 mx0 = ninf, mx1 = ninf;
    for (int64_t p = 0; p < q->tnp; p++) {
        const float *panel = q->tp + p * d * ALS_PANEL, *bias = q->tb + p * ALS_PANEL;
        vq_v4 a0 = vq_ld(bias), a1 = vq_ld(bias + 4), a2 = vq_ld(bias + 8), a3 = vq_ld(bias + 12);
        vq_v4 c0 = a0, c1 = a1, c2 = a2, c3 = a3;
        for (int64_t j = 0; j < d; j++) {
            const float *y = panel + j * ALS_PANEL;
            vq_v4 y0 = vq_ld(y), y1 = vq_ld(y + 4), y2 = vq_ld(y + 8), y3 = vq_ld(y + 12);
            vq_v4 u = {x0[j], x0[j], x0[j], x0[j]}, v = {x1[j], x1[j], x1[j], x1[j]};
            a0 = a0 + u * y0;
            a1 = a1 + u * y1;
            a2 = a2 + u * y2;
            a3 = a3 + u * y3;
            c0 = c0 + v * y0;
            c1 = c1 + v * y1;
            c2 = c2 + v * y2;
            c3 = c3 + v * y3;
        }
        float *o0 = s0 + p * ALS_PANEL, *o1 = s1 + p * ALS_PANEL;
        memcpy(o0, &a0, sizeof a0);
        memcpy(o0 + 4, &a1, sizeof a1);
        memcpy(o0 + 8, &a2, sizeof a2);
        memcpy(o0 + 12, &a3, sizeof a3);
        memcpy(o1, &c0, sizeof c0);
        memcpy(o1 + 4, &c1, sizeof c1);
        memcpy(o1 + 8, &c2, sizeof c2);
        memcpy(o1 + 12, &c3, sizeof c3);
        vq_v4 e0 = vq_max(vq_max(a0, a1), vq_max(a2, a3));
        vq_v4 e1 = vq_max(vq_max(c0, c1), vq_max(c2, c3));
        mx0 = vq_max(e0, mx0);
        mx1 = vq_max(e1, mx1);
        pm0[p] = vq_hmax(e0);
        pm1[p] = vq_hmax(e1);
    }
    b[0] = top_first(q, s0, mx0);
    b[1] = top_first(q, s1, mx1);
}

/* ------------------------------------------------------------------------------ build */

int vecidx__coarse_build(const float *c, int64_t nlist, int64_t d, int l2, double reach,
                         uint64_t seed, int nthreads, als__scan_fn scan, vecidx__coarse **out) {
    *out = NULL;
    vecidx__coarse *q = calloc(1, sizeof *q);
    if (!q) return als__errf(ALS_ENOMEM, "vecidx: out of memory for the assignment accelerator");
    int64_t ntop = (int64_t)ceil(TOP_SCALE * sqrt((double)nlist));
    ntop = (ntop + ALS_PANEL - 1) / ALS_PANEL * ALS_PANEL;
    if (ntop > nlist) ntop = nlist;
    if (ntop < 1) ntop = 1;
    q->d = d;
    q->nlist = nlist;
    q->ntop = ntop;
    q->tnp = (ntop + ALS_PANEL - 1) / ALS_PANEL;
    q->l2 = l2;
    q->probe = PROBE < ntop ? PROBE : ntop;
    q->reach = reach;
    const int64_t tw = q->tnp * ALS_PANEL;
    float *top = malloc((size_t)ntop * (size_t)d * sizeof(float));
    float *sc = malloc((size_t)tw * 2 * sizeof(float)), *pm = malloc((size_t)q->tnp * 2 * sizeof(float));
    float *best = malloc((size_t)ntop * sizeof(float));
    q->cell = malloc((size_t)nlist * sizeof(int64_t));
    q->slot = malloc((size_t)nlist * sizeof(int64_t));
    q->cp0 = calloc((size_t)ntop + 1, sizeof(int64_t));
    q->cn = calloc((size_t)ntop, sizeof(int64_t));
    q->rep = malloc((size_t)ntop * sizeof(int64_t));
    q->c = malloc((size_t)nlist * (size_t)d * sizeof(float));
    q->tp = als__aalloc((size_t)tw, (size_t)d * sizeof(float));
    q->tb = als__aalloc((size_t)tw, sizeof(float));
    int rc = ALS_OK;
    if (!top || !sc || !pm || !best || !q->cell || !q->slot || !q->cp0 || !q->cn || !q->rep ||
        !q->c || !q->tp || !q->tb)
        goto nomem;
    memcpy(q->c, c, (size_t)nlist * (size_t)d * sizeof(float));
    /* top level: k-means of the fine centroids (spherical for inner product) */
    rc = vecidx__kmeans(c, nlist, d, ntop, !l2, TOP_ITERS, seed ^ 0x70BC0A25Eull, nthreads, scan, top);
    if (rc) goto fail;
    memset(q->tp, 0, (size_t)tw * (size_t)d * sizeof(float));
    memset(q->tb, 0, (size_t)tw * sizeof(float));
    als__panels_fill(q->tp, l2 ? q->tb : NULL, 0, top, ntop, d, d);
    for (int64_t t = ntop; t < tw; t++) q->tb[t] = -INFINITY;
    /* each fine centroid joins the cell of its nearest top centroid, by the plain-C scores
     * that steer the assignment (two at a time; an odd last one is paired with itself) */
    for (int64_t i = 0; i < nlist; i += 2) {
        int64_t i1 = i + 1 < nlist ? i + 1 : i, b[2];
        top_scores2(q, c + i * d, c + i1 * d, sc, sc + tw, pm, pm + q->tnp, b);
        q->cell[i] = b[0];
        q->cell[i1] = b[1];
    }
    for (int64_t i = 0; i < nlist; i++) q->cn[q->cell[i]]++;
    for (int64_t t = 0; t < ntop; t++) {
        q->cp0[t + 1] = q->cp0[t] + (q->cn[t] + ALS_PANEL - 1) / ALS_PANEL;
        if (q->cn[t] == 0) q->tb[t] = -INFINITY; /* an empty cell never wins */
        best[t] = -INFINITY;
        q->rep[t] = -1;
    }
    while (q->cn[q->first] == 0) q->first++; /* nlist >= 1: some cell holds a centroid */
    int64_t slots = q->cp0[ntop] * ALS_PANEL;
    q->fp = als__aalloc((size_t)slots, (size_t)d * sizeof(float));
    q->fb = l2 ? als__aalloc((size_t)slots, sizeof(float)) : NULL;
    q->fid = malloc((size_t)slots * sizeof(int64_t));
    q->fnorm = malloc((size_t)slots * sizeof(float));
    if (!q->fp || (l2 && !q->fb) || !q->fid || !q->fnorm) goto nomem;
    memset(q->fp, 0, (size_t)slots * (size_t)d * sizeof(float));
    if (l2) memset(q->fb, 0, (size_t)slots * sizeof(float));
    memset(q->cn, 0, (size_t)ntop * sizeof(int64_t));
    for (int64_t i = 0; i < nlist; i++) { /* inside a cell: by centroid number */
        int64_t t = q->cell[i], s = q->cp0[t] * ALS_PANEL + q->cn[t]++;
        const float *ci = c + i * d;
        als__panels_fill(q->fp, q->fb, s, ci, 1, d, d); /* the flat quantizer's layout and bias */
        q->fid[s] = i;
        q->slot[i] = s;
        double cc = 0.0, ct = 0.0;
        for (int64_t j = 0; j < d; j++) {
            cc += (double)ci[j] * ci[j];
            ct += (double)ci[j] * top[t * d + j];
        }
        q->fnorm[s] = (float)sqrt(cc);
        float close = (float)(l2 ? ct - cc / 2.0 : ct); /* larger: nearer the top centroid */
        if (close > best[t]) {
            best[t] = close;
            q->rep[t] = s;
        }
    }
    for (int64_t t = 0; t < ntop; t++)
        if (q->cn[t] > 0 && q->rep[t] < 0) q->rep[t] = q->cp0[t] * ALS_PANEL; /* NaN guard */
    /* representatives: farthest-point sampling inside each cell (plain double distances) */
    q->rp = als__aalloc((size_t)ntop * ALS_PANEL, (size_t)d * sizeof(float));
    q->rb = als__aalloc((size_t)ntop * ALS_PANEL, sizeof(float));
    q->rmargin = malloc((size_t)ntop * 2 * sizeof(float));
    double *dmin = malloc((size_t)(slots > 0 ? slots : 1) * sizeof(double));
    if (!q->rp || !q->rb || !q->rmargin || !dmin) {
        free(dmin);
        goto nomem;
    }
    memset(q->rp, 0, (size_t)ntop * ALS_PANEL * (size_t)d * sizeof(float));
    for (int64_t t = 0; t < ntop; t++) {
        float *rp = q->rp + t * d * ALS_PANEL, *rb = q->rb + t * ALS_PANEL;
        float mn = 0.0f, mb = 0.0f;
        int64_t s0 = q->cp0[t] * ALS_PANEL, m = q->cn[t], r = q->rep[t];
        for (int l = 0; l < ALS_PANEL; l++) {
            if (m == 0) { /* never scored: the cell never wins the top level */
                rb[l] = 0.0f;
                continue;
            }
            als__panels_fill(rp, NULL, l, q->c + q->fid[r] * d, 1, d, d);
            rb[l] = q->fb ? q->fb[r] : 0.0f;
            mn = q->fnorm[r] > mn ? q->fnorm[r] : mn;
            mb = fabsf(rb[l]) > mb ? fabsf(rb[l]) : mb;
            /* the next: the member farthest from the representatives so far (ties: first) */
            const float *e = q->c + q->fid[r] * d;
            int64_t far = r;
            double fd = -1.0;
            for (int64_t v = s0; v < s0 + m; v++) {
                const float *a = q->c + q->fid[v] * d;
                double dd = 0.0;
                for (int64_t j = 0; j < d; j++) dd += ((double)a[j] - e[j]) * ((double)a[j] - e[j]);
                if (l == 0 || dd < dmin[v]) dmin[v] = dd;
                if (dmin[v] > fd) {
                    fd = dmin[v];
                    far = v;
                }
            }
            r = far;
        }
        q->rmargin[2 * t] = mn;
        q->rmargin[2 * t + 1] = mb;
    }
    free(dmin);
    free(top);
    free(sc);
    free(pm);
    free(best);
    *out = q;
    return ALS_OK;
nomem:
    rc = als__errf(ALS_ENOMEM, "vecidx: out of memory for the assignment accelerator");
fail:
    free(top);
    free(sc);
    free(pm);
    free(best);
    vecidx__coarse_free(q);
    return rc;
}

/* ------------------------------------------------------------------------- assignment */

/* A score below the kernels' score of x against the fine centroid in slot s by more than
 * both roundings (d + 1 rounded terms here and there, each within |x| |c| FLT_EPSILON / 2
 * of the exact sum, plus the bias): a scan that includes s ends at or above it. */
static float sentinel(const vecidx__coarse *q, const float *x, double xnorm, int64_t s) {
    const int64_t d = q->d;
    const float *c = q->c + q->fid[s] * d;
    float acc = q->fb ? q->fb[s] : 0.0f;
    for (int64_t j = 0; j < d; j++) acc += x[j] * c[j];
    double bias = q->fb ? fabs((double)q->fb[s]) : 0.0;
    double margin = 4.0 * (double)(d + 2) * FLT_EPSILON * ((double)q->fnorm[s] * xnorm + bias);
    return (float)((double)acc - margin) - (float)margin;
}

/* Squared distance from an internal score: L2 |x|^2 - 2 s; inner product (unit centroids),
 * between the directions: 2 - 2 s / |x|. */
static double dist2(int l2, double x2, double s) {
    double v = l2 ? x2 - 2.0 * s : 2.0 - 2.0 * s / sqrt(x2);
    return v > 0.0 ? v : 0.0;
}

/* The score at distance r from x (the inverse of dist2). */
static double score_at(int l2, double x2, double r) {
    return l2 ? (x2 - r * r) / 2.0 : (2.0 - r * r) / 2.0 * sqrt(x2);
}

typedef struct { /* one thread's buffers, for CHUNK points */
    float *xb, *qb;  /* the points; the points of one cell, gathered */
    float *ts, *pm;  /* top scores (tnp x 16 per point), best per top panel */
    float *hs;       /* k=1 heaps: score */
    int64_t *hid;    /* k=1 heaps: centroid */
    als__heap *h, *gh;
    double *x2;      /* |x|^2 */
    int64_t *t1, *pc; /* nearest top cell, previous centroid's cell (or t1) */
    int64_t *pair;   /* (point, cell) pairs to scan */
    int64_t *order, *start, *cand;
} work;

/* Scan, for npairs (point, cell) pairs, each cell once for all its points (in point order:
 * a counting sort), into the points' k=1 heaps. */
static void scan_cells(const vecidx__coarse *q, als__scan_fn scan, work *w, int64_t npairs) {
    const int64_t d = q->d, ntop = q->ntop;
    int64_t *start = w->start, *order = w->order;
    memset(start, 0, (size_t)(ntop + 1) * sizeof(int64_t));
    for (int64_t u = 0; u < npairs; u++) start[w->pair[2 * u + 1] + 1]++;
    for (int64_t t = 0; t < ntop; t++) start[t + 1] += start[t];
    for (int64_t u = 0; u < npairs; u++) order[start[w->pair[2 * u + 1]]++] = w->pair[2 * u];
    for (int64_t t = ntop; t > 0; t--) start[t] = start[t - 1];
    start[0] = 0;
    for (int64_t t = 0; t < ntop; t++) {
        int64_t m = start[t + 1] - start[t];
        if (m == 0 || q->cn[t] == 0) continue;
        const int64_t *qs = order + start[t];
        for (int64_t u = 0; u < m; u++) {
            memcpy(w->qb + u * d, w->xb + qs[u] * d, (size_t)d * sizeof(float));
            w->gh[u] = w->h[qs[u]];
        }
        int64_t p0 = q->cp0[t];
        als__db db = {q->fp + p0 * d * ALS_PANEL, q->fb ? q->fb + p0 * ALS_PANEL : NULL,
                      q->fid + p0 * ALS_PANEL, 0, q->cn[t], d, q->cp0[t + 1] - p0};
        scan(&db, 0, db.npanels, w->qb, m, w->gh, NULL);
        for (int64_t u = 0; u < m; u++) w->h[qs[u]].n = w->gh[u].n;
    }
}

static void assign_chunk(const vecidx__coarse *q, als__scan_fn scan, work *w, const float *x,
                         int64_t a0, int64_t an, int64_t stride, const int64_t *prev,
                         int64_t *assign) {
    const int64_t d = q->d, tnp = q->tnp, tw = tnp * ALS_PANEL;
    /* A */
    for (int64_t i = 0; i < an; i++)
        memcpy(w->xb + i * d, x + (a0 + i) * stride, (size_t)d * sizeof(float));
    for (int64_t i = 0; i < an; i += 2) { /* an odd last point is paired with itself */
        int64_t i1 = i + 1 < an ? i + 1 : i, b[2];
        top_scores2(q, w->xb + i * d, w->xb + i1 * d, w->ts + i * tw, w->ts + i1 * tw,
                    w->pm + i * tnp, w->pm + i1 * tnp, b);
        w->t1[i] = b[0];
        w->t1[i1] = b[1];
    }
    int64_t np = 0;
    for (int64_t i = 0; i < an; i++) {
        const float *xi = w->xb + i * d;
        double x2 = 0.0;
        for (int64_t j = 0; j < d; j++) x2 += (double)xi[j] * xi[j];
        w->x2[i] = x2;
        int64_t t1 = w->t1[i];
        if (q->cn[t1] == 0) t1 = w->t1[i] = q->first; /* only with non-finite scores */
        float sv;
        { /* the best of t1's representatives, less the rounding margin */
            float sc[ALS_PANEL];
            panel_scores(q->rp + t1 * d * ALS_PANEL, q->rb + t1 * ALS_PANEL, xi, d, sc);
            float best = sc[0];
            for (int l = 1; l < ALS_PANEL; l++) best = sc[l] > best ? sc[l] : best;
            double margin = 4.0 * (double)(d + 2) * FLT_EPSILON *
                            ((double)q->rmargin[2 * t1] * sqrt(x2) + (double)q->rmargin[2 * t1 + 1]);
            sv = (float)((double)best - margin) - (float)margin;
        }
        w->pc[i] = t1;
        w->pair[2 * np] = i;
        w->pair[2 * np + 1] = t1;
        np++;
        if (prev) { /* the previous centroid: a tighter start, and its cell is scanned too */
            int64_t pv = prev[a0 + i], pc = q->cell[pv];
            float ps = sentinel(q, xi, sqrt(x2), q->slot[pv]);
            sv = ps > sv ? ps : sv;
            w->pc[i] = pc;
            if (pc != t1) {
                w->pair[2 * np] = i;
                w->pair[2 * np + 1] = pc;
                np++;
            }
        }
        w->hs[i] = sv;
        w->hid[i] = SENTINEL;
        w->h[i] = (als__heap){w->hs + i, w->hid + i, 1, 1};
    }
    /* B */
    scan_cells(q, scan, w, np);
    /* C */
    np = 0;
    for (int64_t i = 0; i < an; i++) {
        int64_t t1 = w->t1[i], pc = w->pc[i];
        if (w->hid[i] == SENTINEL) { /* the sentinel cannot win; should it, rescan plainly */
            w->h[i].n = 0;
            w->pair[2 * np] = i;
            w->pair[2 * np + 1] = t1;
            np++;
            continue;
        }
        if (q->probe < 2) continue;
        const float *s = w->ts + i * tw;
        double x2 = w->x2[i];
        double d1 = sqrt(dist2(q->l2, x2, s[t1])), r = sqrt(dist2(q->l2, x2, w->hs[i]));
        /* a heuristic threshold: it only has to be the same on every run; never below
         * -FLT_MAX, so that the -inf lanes (padding, empty cells) never pass */
        float tf = x2 > 0.0 ? (float)score_at(q->l2, x2, d1 + q->reach * r) : -FLT_MAX;
        if (!(tf >= -FLT_MAX)) tf = -FLT_MAX;
        /* the cells reaching tf (their scanning order does not matter: a heap keeps the best
         * by score, then id); more than probe - 1: the nearest, ties to the smaller cell */
        int64_t *cand = w->cand, nc = 0, cap = q->probe - 1;
        for (int64_t p = 0; p < tnp; p++) { /* few panels hold a cell that reaches tf */
            if (!(w->pm[i * tnp + p] >= tf)) continue;
            const float *sp = s + p * ALS_PANEL;
            for (int l = 0; l < ALS_PANEL; l++) { /* branch-free */
                int64_t t = p * ALS_PANEL + l;
                cand[nc] = t;
                nc += (sp[l] >= tf) & (t != t1) & (t != pc);
            }
        }
        if (nc > cap) { /* keep the best cap: insertion into a sorted prefix */
            int64_t m = 0;
            for (int64_t u = 0; u < nc; u++) {
                int64_t t = cand[u];
                float v = s[t];
                if (m == cap && !(v > s[cand[m - 1]])) continue; /* ties: the smaller t came first */
                int64_t k = m < cap ? m++ : m - 1;
                while (k > 0 && v > s[cand[k - 1]]) {
                    cand[k] = cand[k - 1];
                    k--;
                }
                cand[k] = t;
            }
            nc = cap;
        }
        for (int64_t k = 0; k < nc; k++) {
            w->pair[2 * np] = i;
            w->pair[2 * np + 1] = cand[k];
            np++;
        }
    }
    if (np) scan_cells(q, scan, w, np);
    for (int64_t i = 0; i < an; i++) assign[a0 + i] = w->h[i].n ? w->hid[i] : q->fid[q->rep[q->first]];
}

int vecidx__coarse_assign(const vecidx__coarse *q, als__scan_fn scan, int nthreads,
                          const float *x, int64_t n, int64_t stride, const int64_t *prev,
                          int64_t *assign) {
    const int64_t d = q->d, tw = q->tnp * ALS_PANEL;
    const size_t pairs = (size_t)CHUNK * (size_t)(q->probe + 1);
    int64_t nchunks = (n + CHUNK - 1) / CHUNK;
    int failed = 0;
#pragma omp parallel num_threads(nthreads) if (nchunks > 1)
    {
        work w;
        w.xb = als__aalloc(CHUNK, (size_t)d * sizeof(float));
        w.qb = als__aalloc(CHUNK, (size_t)d * sizeof(float));
        w.ts = malloc((size_t)CHUNK * (size_t)tw * sizeof(float));
        w.pm = malloc((size_t)CHUNK * (size_t)q->tnp * sizeof(float));
        w.hs = malloc(CHUNK * sizeof(float));
        w.hid = malloc(CHUNK * sizeof(int64_t));
        w.h = malloc(CHUNK * sizeof(als__heap));
        w.gh = malloc(CHUNK * sizeof(als__heap));
        w.x2 = malloc(CHUNK * sizeof(double));
        w.t1 = malloc(CHUNK * sizeof(int64_t));
        w.pc = malloc(CHUNK * sizeof(int64_t));
        w.pair = malloc(pairs * 2 * sizeof(int64_t));
        w.order = malloc(pairs * sizeof(int64_t));
        w.start = malloc((size_t)(q->ntop + 1) * sizeof(int64_t));
        w.cand = malloc((size_t)(tw + 1) * sizeof(int64_t));
        int ok = w.xb && w.qb && w.ts && w.pm && w.hs && w.hid && w.h && w.gh && w.x2 && w.t1 &&
                 w.pc && w.pair && w.order && w.start && w.cand;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t ch = 0; ch < nchunks; ch++) {
            if (!ok) continue;
            int64_t a0 = ch * CHUNK, an = n - a0 < CHUNK ? n - a0 : CHUNK;
            assign_chunk(q, scan, &w, x, a0, an, stride, prev, assign);
        }
        als__afree(w.xb);
        als__afree(w.qb);
        free(w.ts);
        free(w.pm);
        free(w.hs);
        free(w.hid);
        free(w.h);
        free(w.gh);
        free(w.x2);
        free(w.t1);
        free(w.pc);
        free(w.pair);
        free(w.order);
        free(w.start);
        free(w.cand);
    }
    return failed ? als__errf(ALS_ENOMEM, "vecidx: out of memory for the assignment buffers") : ALS_OK;
}
