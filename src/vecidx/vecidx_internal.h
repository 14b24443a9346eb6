/* Internal layout of a vecidx handle, shared by the files of libvecidx. */
#ifndef VECIDX_INTERNAL_H
#define VECIDX_INTERNAL_H

#include <stdatomic.h>

#include "core/scan.h"
#include "vecidx.h"

#define VECIDX_MAX_DIM 65536
#define VECIDX_MAX_NLIST ((int64_t)INT32_MAX)

/* A growable panel database: the flat index's storage and each IVF list. */
typedef struct {
    float *panels, *bias; /* bias only for L2 */
    int64_t *ids;         /* NULL while every id equals its position (flat only) */
    int64_t n, cap_panels, cap_ids;
    int borrowed;         /* the arrays point into a mapped file: never freed or grown */
} vecidx__store;

struct vecidx {
    int kind, metric;
    int64_t d;
    int64_t n; /* vectors held in total */
    /* parameters */
    int64_t nprobe, seed, kmeans_iters, train_per_list, num_threads, simd;
    uint64_t run_id; /* training run of the vectors (vecidx_set_run_id), 0 = none */
    void *map;       /* vecidx_load_mmap: the mapped file (read-only index), else NULL */
    size_t map_len;
    uint64_t map_payload; /* payload bytes after the header, for vecidx_verify */
    _Atomic(float *) balls; /* exact.c: each list's ball and cone bounds, or NULL */
    /* flat */
    vecidx__store flat;
    /* IVF */
    int64_t nlist;
    int trained;
    float *centroids;  /* nlist x d, row-major */
    vecidx__store quant; /* the centroids as a panel database (coarse quantizer) */
    vecidx__store *lists;
    /* IVF with many lists: the two-level assignment accelerator of vecidx_add (quantizer.c),
     * built from the centroids on the first add after training or loading; NULL until then
     * and whenever the centroids change. Never saved. */
    struct vecidx__coarse *coarse;
};

/* Per-call search parameters (vecidx_params): each setting is taken from the handle when
 * set there, else from the index. */
struct vecidx_params {
    int64_t v[4];  /* nprobe, num_threads, simd, exact */
    int set[4];
    const vecidx_filter *filter; /* borrowed */
};

/* The settings one search runs with, resolved from the index and a vecidx_params. */
typedef struct {
    int64_t nprobe;
    int nthreads;
    als__scan_fn scan;
    int exact;
    const als__idset *filter;
} vecidx__sopt;

struct vecidx_filter {
    als__idset set;
    int64_t *ids;
};

/* store.c */
void vecidx__store_free(vecidx__store *s);
als__db vecidx__store_db(const vecidx__store *s, int64_t d);
/* Make room for `more` vectors (and explicit ids if ids_needed). No fill. */
int vecidx__store_reserve(vecidx__store *s, int64_t d, int l2, int64_t more, int ids_needed);
/* Append rows (x with stride) and ids (NULL = consecutive from first_id) after reserve. */
void vecidx__store_fill(vecidx__store *s, int64_t d, int l2, const float *x, int64_t rows,
                        int64_t stride, const int64_t *ids, int64_t first_id);

/* Queries copied to a contiguous nq x d buffer after checks; NULL + error set on failure. */
int vecidx__queries(const vecidx *idx, const als_matrix *queries, float **buf, const char *fn);
als__scan_fn vecidx__scan(const vecidx *idx);
/* Internal scores -> public scores (L2: |q|^2 - 2 s, at least 0; padding +inf), with
 * equal distances ordered by id. */
void vecidx__finish_scores(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                           float *scores, int64_t *ids);

/* ivf.c / kmeans.c */
int vecidx__ivf_train(vecidx *idx, const float *x, int64_t n, int64_t stride);
int vecidx__ivf_add(vecidx *idx, const float *x, int64_t n, int64_t stride, const int64_t *ids);
int vecidx__ivf_search(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                       const vecidx__sopt *o, float *scores, int64_t *ids);
/* exact.c: exact search over an IVF index (bounds per list), the per-list scan shared
 * with the approximate search, and the reset of the cached bounds when the lists change. */
int vecidx__ivf_search_exact(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                             const vecidx__sopt *o, float *scores, int64_t *ids);
void vecidx__scan_list(const vecidx *idx, als__scan_fn scan, int64_t l, const int64_t *qs,
                       int64_t m, const float *q, als__heap *heaps, als__heap *gh, float *qbuf,
                       const als__idset *f);
void vecidx__balls_reset(vecidx *idx);
/* index.c: the search behind every public search call (checks, dispatch, finishing). */
int vecidx__search(const vecidx *idx, const als_matrix *queries, int64_t k,
                   const vecidx_params *params, const vecidx_filter *filter, float *scores,
                   int64_t *ids, const char *fn);
/* x: n x d contiguous. Writes nlist x d centroids. */
int vecidx__kmeans(const float *x, int64_t n, int64_t d, int64_t nlist, int spherical,
                   int64_t iters, uint64_t seed, int nthreads, als__scan_fn scan,
                   float *centroids);
void vecidx__ivf_free(vecidx *idx);

#endif
