/* The search engine shared by libvecidx (flat and IVF search, k-means) and libals
 * (recommend): a database held in panels, fused dot-product + threshold kernels per SIMD
 * level, exact top-k heaps, and a threaded driver. All hidden.
 *
 * Database layout: vectors in panels of 16, dimension-major inside a panel, so one SIMD
 * load gives dimension j of 16 vectors: panel p, dim j, lane l is at
 * panels[(p * d + j) * 16 + l]. The last panel is zero-padded; lanes past n are skipped.
 *
 * Internal score: always "bigger is better". IP: q.y. L2: q.y - |y|^2 / 2 (the bias),
 * so that |q - y|^2 = |q|^2 - 2 * score. Every SIMD path computes a score as
 * acc = bias (or 0); acc = fma(q[j], y[j], acc) for j = 0..d-1, in that order, so all
 * paths give bit-identical scores. */
#ifndef ALS_CORE_SCAN_H
#define ALS_CORE_SCAN_H

#include <math.h>

#include "core/internal.h"

#define ALS_PANEL 16

typedef struct {
    const float *panels; /* npanels * d * 16 floats, 64-byte aligned */
    const float *bias;   /* npanels * 16 floats, or NULL (inner product) */
    const int64_t *ids;  /* n ids, or NULL: id = id_base + index */
    int64_t id_base;
    int64_t n, d, npanels;
} als__db;

/* A set of ids (sorted, unique) used to exclude or include candidates. */
typedef struct {
    const int64_t *ids;
    int64_t n;
    int include;
} als__idset;

ALS_HIDDEN int als__idset_allows(const als__idset *f, int64_t id);

/* Top-k heap: root = worst kept. Order: bigger score first, then smaller id. */
typedef struct {
    float *s;
    int64_t *id;
    int64_t k, n;
} als__heap;

static inline float als__heap_thr(const als__heap *h) {
    return h->n < h->k ? -INFINITY : h->s[0];
}
/* True if (s, id) would enter the heap. */
static inline int als__heap_accepts(const als__heap *h, float s, int64_t id) {
    if (h->n < h->k) return 1;
    return s > h->s[0] || (s == h->s[0] && id < h->id[0]);
}
ALS_HIDDEN void als__heap_push(als__heap *h, float s, int64_t id); /* call if accepts */
ALS_HIDDEN void als__heap_sort(als__heap *h); /* best first; the heap is spent */
/* Sort h and write k results (padded with -inf / -1) to scores (may be NULL) and ids. */
ALS_HIDDEN void als__heap_emit(als__heap *h, int64_t k, float *scores, int64_t *ids);

/* Handle the lanes set in mask for vectors vbase..vbase+15 with scores sc[16]. */
ALS_HIDDEN void als__hits(const als__db *db, int64_t vbase, unsigned mask, const float *sc,
                          als__heap *h, const als__idset *f);

/* Scan panels [p0, p1) for nq queries (row-major nq x d, contiguous), feeding heaps[0..nq). */
typedef void (*als__scan_fn)(const als__db *db, int64_t p0, int64_t p1, const float *q,
                             int64_t nq, als__heap *heaps, const als__idset *f);
ALS_HIDDEN void als__scan_portable(const als__db *, int64_t, int64_t, const float *, int64_t,
                                   als__heap *, const als__idset *);
ALS_HIDDEN void als__scan_avx2(const als__db *, int64_t, int64_t, const float *, int64_t,
                               als__heap *, const als__idset *);
ALS_HIDDEN void als__scan_avx512(const als__db *, int64_t, int64_t, const float *, int64_t,
                                 als__heap *, const als__idset *);
/* Kernel for a SIMD level (1..3); NULL if the CPU lacks it. 0 = best available. */
ALS_HIDDEN als__scan_fn als__scan_for(int level);

/* Build the panel layout of rows x d vectors (row stride `stride`); bias for L2 if
 * want_bias. Returns ALS_OK or ALS_ENOMEM. Outputs are 64-byte aligned (als__afree). */
ALS_HIDDEN int als__panels_build(const float *x, int64_t rows, int64_t d, int64_t stride,
                                 int want_bias, float **panels, float **bias);
/* Append rows to an existing panel layout of n vectors, growing capacity (in panels). */
ALS_HIDDEN int als__panels_append(float **panels, float **bias, int64_t *cap_panels,
                                  int64_t n, const float *x, int64_t rows, int64_t d,
                                  int64_t stride);
/* Grow capacity (no fill) so that n_after vectors fit; existing n are kept. */
ALS_HIDDEN int als__panels_reserve(float **panels, float **bias, int64_t *cap_panels, int64_t n,
                                   int64_t n_after, int64_t d);
/* Write rows as vectors n..n+rows-1 into a layout with room for them. */
ALS_HIDDEN void als__panels_fill(float *panels, float *bias, int64_t n, const float *x,
                                 int64_t rows, int64_t d, int64_t stride);
/* Vector i of a panel layout, copied out to dst[d]. */
ALS_HIDDEN void als__panels_get(const float *panels, int64_t d, int64_t i, float *dst);

/* Exact top-k of nq queries (row-major, contiguous, nq x d) over db, threaded.
 * Writes raw internal scores and ids, best first, padded with (-inf, -1).
 * Returns ALS_OK or ALS_ENOMEM. */
ALS_HIDDEN int als__search_db(const als__db *db, als__scan_fn scan, int nthreads,
                              const float *q, int64_t nq, int64_t k, const als__idset *f,
                              float *scores, int64_t *ids);

/* Thread count for a "0 = all" parameter. */
ALS_HIDDEN int als__threads(int64_t requested);

#endif
