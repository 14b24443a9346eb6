/* The vecidx handle: creation, parameters, add and search dispatch for flat and IVF. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vecidx/vecidx_internal.h"

VECIDX_API int vecidx_version_number(void) { return VECIDX_VERSION_NUMBER; }

typedef struct {
    int key;
    int64_t lo, hi, def;
    const char *name;
} param_info;

static const param_info PARAMS[] = {
    {VECIDX_PARAM_NPROBE, 1, INT32_MAX, 1, "nprobe"},
    {VECIDX_PARAM_SEED, 0, INT64_MAX, 1234, "seed"},
    {VECIDX_PARAM_KMEANS_ITERS, 1, 1000, 10, "kmeans_iters"},
    {VECIDX_PARAM_TRAIN_PER_LIST, 1, 1000000, 256, "train_per_list"},
    {VECIDX_PARAM_NUM_THREADS, 0, 4096, 0, "num_threads"},
    {VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO, VECIDX_SIMD_AVX512, VECIDX_SIMD_AUTO, "simd"},
};

static const param_info *param_find(int key) {
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++)
        if (PARAMS[i].key == key) return &PARAMS[i];
    return NULL;
}

static int64_t *param_slot(vecidx *idx, int key) {
    switch (key) {
    case VECIDX_PARAM_NPROBE: return &idx->nprobe;
    case VECIDX_PARAM_SEED: return &idx->seed;
    case VECIDX_PARAM_KMEANS_ITERS: return &idx->kmeans_iters;
    case VECIDX_PARAM_TRAIN_PER_LIST: return &idx->train_per_list;
    case VECIDX_PARAM_NUM_THREADS: return &idx->num_threads;
    case VECIDX_PARAM_SIMD: return &idx->simd;
    default: return NULL;
    }
}

VECIDX_API int vecidx_param_bounds(int key, int64_t *lo, int64_t *hi, int64_t *def) {
    const param_info *p = param_find(key);
    if (!p) return als__errf(ALS_EINVAL, "vecidx_param_bounds: unknown parameter key %d", key);
    if (lo) *lo = p->lo;
    if (hi) *hi = p->hi;
    if (def) *def = p->def;
    return ALS_OK;
}

VECIDX_API int vecidx_set_int(vecidx *idx, int key, int64_t value) {
    if (!idx) return als__errf(ALS_EINVAL, "vecidx_set_int: index is NULL");
    const param_info *p = param_find(key);
    if (!p) return als__errf(ALS_EINVAL, "vecidx_set_int: unknown parameter key %d", key);
    if (value < p->lo || value > p->hi)
        return als__errf(ALS_ERANGE, "vecidx_set_int: %s = %lld is outside [%lld, %lld]", p->name,
                         (long long)value, (long long)p->lo, (long long)p->hi);
    if (key == VECIDX_PARAM_SIMD && value != VECIDX_SIMD_AUTO && !als__scan_for((int)value))
        return als__errf(ALS_EUNSUPPORTED, "vecidx_set_int: this CPU lacks SIMD level %lld",
                         (long long)value);
    *param_slot(idx, key) = value;
    return ALS_OK;
}

VECIDX_API int vecidx_get_int(const vecidx *idx, int key, int64_t *value) {
    if (!idx || !value) return als__errf(ALS_EINVAL, "vecidx_get_int: NULL argument");
    if (!param_find(key)) return als__errf(ALS_EINVAL, "vecidx_get_int: unknown parameter key %d", key);
    int64_t v = *param_slot((vecidx *)idx, key);
    if (key == VECIDX_PARAM_SIMD && v == VECIDX_SIMD_AUTO) v = als__simd_auto();
    *value = v;
    return ALS_OK;
}

static int create(vecidx **out, int64_t dim, int metric, int kind, int64_t nlist, const char *fn) {
    if (!out) return als__errf(ALS_EINVAL, "%s: out is NULL", fn);
    *out = NULL;
    if (metric != VECIDX_METRIC_IP && metric != VECIDX_METRIC_L2)
        return als__errf(ALS_EINVAL, "%s: unknown metric %d (VECIDX_METRIC_IP or _L2)", fn, metric);
    if (dim < 1 || dim > VECIDX_MAX_DIM)
        return als__errf(ALS_ERANGE, "%s: dim %lld outside [1, %d]", fn, (long long)dim, VECIDX_MAX_DIM);
    if (kind == VECIDX_KIND_IVF && (nlist < 1 || nlist > VECIDX_MAX_NLIST))
        return als__errf(ALS_ERANGE, "%s: nlist %lld outside [1, %lld]", fn, (long long)nlist,
                         (long long)VECIDX_MAX_NLIST);
    vecidx *idx = calloc(1, sizeof *idx);
    if (!idx) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    idx->kind = kind;
    idx->metric = metric;
    idx->d = dim;
    for (size_t i = 0; i < sizeof PARAMS / sizeof PARAMS[0]; i++)
        *param_slot(idx, PARAMS[i].key) = PARAMS[i].def;
    if (kind == VECIDX_KIND_IVF) {
        idx->nlist = nlist;
        idx->lists = calloc((size_t)nlist, sizeof *idx->lists);
        if (!idx->lists) {
            free(idx);
            return als__errf(ALS_ENOMEM, "%s: cannot allocate %lld lists", fn, (long long)nlist);
        }
    }
    *out = idx;
    return ALS_OK;
}

VECIDX_API int vecidx_flat_create(vecidx **out, int64_t dim, int metric) {
    return create(out, dim, metric, VECIDX_KIND_FLAT, 0, "vecidx_flat_create");
}

VECIDX_API int vecidx_ivf_create(vecidx **out, int64_t dim, int metric, int64_t nlist) {
    return create(out, dim, metric, VECIDX_KIND_IVF, nlist, "vecidx_ivf_create");
}

VECIDX_API void vecidx_destroy(vecidx *idx) {
    if (!idx) return;
    vecidx__store_free(&idx->flat);
    vecidx__ivf_free(idx);
    vecidx__balls_reset(idx);
    if (idx->map) munmap(idx->map, idx->map_len);
    free(idx);
}

VECIDX_API int vecidx_is_mapped(const vecidx *idx) { return idx && idx->map != NULL; }

VECIDX_API int vecidx_is_trained(const vecidx *idx) {
    return idx && (idx->kind == VECIDX_KIND_FLAT || idx->trained);
}
VECIDX_API int64_t vecidx_size(const vecidx *idx) { return idx ? idx->n : 0; }
VECIDX_API int64_t vecidx_dim(const vecidx *idx) { return idx ? idx->d : 0; }
VECIDX_API int vecidx_metric(const vecidx *idx) { return idx ? idx->metric : -1; }
VECIDX_API int vecidx_kind(const vecidx *idx) { return idx ? idx->kind : -1; }
VECIDX_API uint64_t vecidx_run_id(const vecidx *idx) { return idx ? idx->run_id : 0; }
VECIDX_API int vecidx_set_run_id(vecidx *idx, uint64_t run_id) {
    if (!idx) return als__errf(ALS_EINVAL, "vecidx_set_run_id: idx is NULL");
    idx->run_id = run_id;
    return ALS_OK;
}
VECIDX_API int64_t vecidx_nlist(const vecidx *idx) { return idx ? idx->nlist : 0; }

/* Shape and finiteness checks shared by train, add and search. */
static int check_matrix(const vecidx *idx, const als_matrix *x, const char *fn, const char *what) {
    if (!idx || !x) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (als_matrix_cols(x) != idx->d)
        return als__errf(ALS_EDIM, "%s: %s have %lld columns, the index has dimension %lld", fn,
                         what, (long long)als_matrix_cols(x), (long long)idx->d);
    int64_t bad = als__first_nonfinite_row(als_matrix_data_const(x), als_matrix_rows(x), idx->d,
                                           als_matrix_stride(x));
    if (bad >= 0) return als__errf(ALS_EINVAL, "%s: %s row %lld holds NaN or Inf", fn, what, (long long)bad);
    return ALS_OK;
}

VECIDX_API int vecidx_train(vecidx *idx, const als_matrix *x) {
    int rc = check_matrix(idx, x, "vecidx_train", "training vectors");
    if (!rc && idx->map)
        return als__errf(ALS_ESTATE, "vecidx_train: the index is memory-mapped (read-only)");
    if (rc || idx->kind == VECIDX_KIND_FLAT) return rc;
    if (idx->n > 0)
        return als__errf(ALS_ESTATE, "vecidx_train: the index already holds %lld vectors",
                         (long long)idx->n);
    if (als_matrix_rows(x) < idx->nlist)
        return als__errf(ALS_ERANGE, "vecidx_train: %lld training rows for %lld lists (need >= nlist)",
                         (long long)als_matrix_rows(x), (long long)idx->nlist);
    vecidx__balls_reset(idx); /* exact search's list bounds describe the old lists */
    return vecidx__ivf_train(idx, als_matrix_data_const(x), als_matrix_rows(x), als_matrix_stride(x));
}

VECIDX_API int vecidx_add(vecidx *idx, const als_matrix *x, const int64_t *ids) {
    int rc = check_matrix(idx, x, "vecidx_add", "vectors");
    if (rc) return rc;
    if (idx->map)
        return als__errf(ALS_ESTATE, "vecidx_add: the index is memory-mapped (read-only): "
                         "load it with vecidx_load to change it");
    int64_t n = als_matrix_rows(x);
    if (ids)
        for (int64_t i = 0; i < n; i++)
            if (ids[i] == -1) return als__errf(ALS_EINVAL, "vecidx_add: ids[%lld] is -1 (reserved)", (long long)i);
    if (idx->n > INT64_MAX / 2 - n) return als__errf(ALS_ERANGE, "vecidx_add: index too large");
    if (idx->kind == VECIDX_KIND_IVF) {
        if (!idx->trained) return als__errf(ALS_ESTATE, "vecidx_add: the IVF index is not trained");
        vecidx__balls_reset(idx);
        return vecidx__ivf_add(idx, als_matrix_data_const(x), n, als_matrix_stride(x), ids);
    }
    if (n == 0) return ALS_OK;
    int l2 = idx->metric == VECIDX_METRIC_L2;
    if (vecidx__store_reserve(&idx->flat, idx->d, l2, n, ids != NULL))
        return als__errf(ALS_ENOMEM, "vecidx_add: cannot grow the index to %lld vectors",
                         (long long)(idx->n + n));
    vecidx__store_fill(&idx->flat, idx->d, l2, als_matrix_data_const(x), n, als_matrix_stride(x),
                       ids, idx->n);
    idx->n += n;
    return ALS_OK;
}

als__scan_fn vecidx__scan(const vecidx *idx) {
    als__scan_fn f = als__scan_for((int)idx->simd);
    return f ? f : als__scan_for(0);
}

int vecidx__queries(const vecidx *idx, const als_matrix *queries, float **buf, const char *fn) {
    *buf = NULL;
    int rc = check_matrix(idx, queries, fn, "queries");
    if (rc) return rc;
    int64_t nq = als_matrix_rows(queries), st = als_matrix_stride(queries);
    const float *src = als_matrix_data_const(queries);
    float *q = als__aalloc((size_t)(nq ? nq : 1), (size_t)idx->d * sizeof(float));
    if (!q) return als__errf(ALS_ENOMEM, "%s: cannot copy %lld queries", fn, (long long)nq);
    for (int64_t i = 0; i < nq; i++) memcpy(q + i * idx->d, src + i * st, (size_t)idx->d * sizeof(float));
    *buf = q;
    return ALS_OK;
}

void vecidx__finish_scores(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                           float *scores, int64_t *ids) {
    if (idx->metric != VECIDX_METRIC_L2 || !scores) return;
    for (int64_t i = 0; i < nq; i++) {
        const float *qi = q + i * idx->d;
        float *s = scores + i * k;
        int64_t *id = ids + i * k;
        float qn = 0.0f;
        for (int64_t j = 0; j < idx->d; j++) qn = als__fmaf(qi[j], qi[j], qn);
        for (int64_t r = 0; r < k; r++) {
            if (s[r] == -INFINITY) {
                s[r] = INFINITY;
                continue;
            }
            float dist = qn - 2.0f * s[r];
            s[r] = dist > 0.0f ? dist : 0.0f;
        }
        /* Distinct internal scores can round to one distance: the conversion keeps the
         * order non-decreasing, so only runs of equal distances need their ids sorted. */
        for (int64_t r = 1; r < k; r++) {
            float sv = s[r];
            int64_t iv = id[r];
            int64_t t = r;
            while (t > 0 && s[t - 1] == sv && id[t - 1] > iv && iv != -1) {
                id[t] = id[t - 1];
                t--;
            }
            id[t] = iv;
        }
    }
}

/* ------------------------------------------------------------------ per-call parameters */

static int pslot(int key) {
    switch (key) {
    case VECIDX_PARAM_NPROBE: return 0;
    case VECIDX_PARAM_NUM_THREADS: return 1;
    case VECIDX_PARAM_SIMD: return 2;
    case VECIDX_PARAM_EXACT: return 3;
    default: return -1;
    }
}

VECIDX_API int vecidx_params_create(vecidx_params **out) {
    if (!out) return als__errf(ALS_EINVAL, "vecidx_params_create: out is NULL");
    *out = calloc(1, sizeof **out);
    return *out ? ALS_OK : als__errf(ALS_ENOMEM, "vecidx_params_create: out of memory");
}

VECIDX_API void vecidx_params_destroy(vecidx_params *p) { free(p); }

VECIDX_API int vecidx_params_set_int(vecidx_params *p, int key, int64_t value) {
    if (!p) return als__errf(ALS_EINVAL, "vecidx_params_set_int: params is NULL");
    int s = pslot(key);
    if (s < 0)
        return als__errf(ALS_EINVAL, "vecidx_params_set_int: key %d is not a search-time "
                         "parameter (nprobe, num_threads, simd, exact)", key);
    int64_t lo = 0, hi = 1;
    if (key != VECIDX_PARAM_EXACT) vecidx_param_bounds(key, &lo, &hi, NULL);
    if (value < lo || value > hi)
        return als__errf(ALS_ERANGE, "vecidx_params_set_int: key %d = %lld is outside [%lld, %lld]",
                         key, (long long)value, (long long)lo, (long long)hi);
    if (key == VECIDX_PARAM_SIMD && value != VECIDX_SIMD_AUTO && !als__scan_for((int)value))
        return als__errf(ALS_EUNSUPPORTED, "vecidx_params_set_int: this CPU lacks SIMD level %lld",
                         (long long)value);
    p->v[s] = value;
    p->set[s] = 1;
    return ALS_OK;
}

VECIDX_API int vecidx_params_get_int(const vecidx_params *p, int key, int64_t *value) {
    if (!p || !value) return als__errf(ALS_EINVAL, "vecidx_params_get_int: NULL argument");
    int s = pslot(key);
    if (s < 0) return als__errf(ALS_EINVAL, "vecidx_params_get_int: unknown key %d", key);
    if (!p->set[s]) return als__errf(ALS_ENOTFOUND, "vecidx_params_get_int: key %d is not set "
                                     "(the index's value applies)", key);
    *value = p->v[s];
    return ALS_OK;
}

VECIDX_API int vecidx_params_unset(vecidx_params *p, int key) {
    if (!p) return als__errf(ALS_EINVAL, "vecidx_params_unset: params is NULL");
    int s = pslot(key);
    if (s < 0) return als__errf(ALS_EINVAL, "vecidx_params_unset: unknown key %d", key);
    p->set[s] = 0;
    return ALS_OK;
}

VECIDX_API int vecidx_params_set_filter(vecidx_params *p, const vecidx_filter *filter) {
    if (!p) return als__errf(ALS_EINVAL, "vecidx_params_set_filter: params is NULL");
    p->filter = filter;
    return ALS_OK;
}

static void resolve(const vecidx *idx, const vecidx_params *p, const vecidx_filter *filter,
                    vecidx__sopt *o) {
    int64_t np = idx->nprobe, nt = idx->num_threads, simd = idx->simd, exact = 0;
    if (p) {
        if (p->set[0]) np = p->v[0];
        if (p->set[1]) nt = p->v[1];
        if (p->set[2]) simd = p->v[2];
        if (p->set[3]) exact = p->v[3];
        if (!filter) filter = p->filter;
    }
    als__scan_fn f = als__scan_for((int)simd);
    o->nprobe = np;
    o->nthreads = als__threads(nt);
    o->scan = f ? f : als__scan_for(0);
    o->exact = (int)exact;
    o->filter = filter ? &filter->set : NULL;
}

int vecidx__search(const vecidx *idx, const als_matrix *queries, int64_t k,
                   const vecidx_params *params, const vecidx_filter *filter, float *scores,
                   int64_t *ids, const char *fn) {
    if (!idx || !queries || !ids) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (k < 1) return als__errf(ALS_ERANGE, "%s: k = %lld, must be >= 1", fn, (long long)k);
    int rc0 = als__out_fits(als_matrix_rows(queries), k, sizeof(int64_t) + (scores ? sizeof(float) : 0), fn, "k");
    if (rc0) return rc0;
    if (idx->kind == VECIDX_KIND_IVF && !idx->trained)
        return als__errf(ALS_ESTATE, "%s: the IVF index is not trained", fn);
    float *q;
    int rc = vecidx__queries(idx, queries, &q, fn);
    if (rc) return rc;
    int64_t nq = als_matrix_rows(queries);
    vecidx__sopt o;
    resolve(idx, params, filter, &o);
    if (idx->kind == VECIDX_KIND_FLAT) {
        als__db db = vecidx__store_db(&idx->flat, idx->d);
        rc = als__search_db(&db, o.scan, o.nthreads, q, nq, k, o.filter, scores, ids);
    } else {
        rc = vecidx__ivf_search(idx, q, nq, k, &o, scores, ids);
    }
    if (!rc) vecidx__finish_scores(idx, q, nq, k, scores, ids);
    als__afree(q);
    return rc;
}

VECIDX_API int vecidx_search_filtered(const vecidx *idx, const als_matrix *queries, int64_t k,
                                      const vecidx_filter *filter, float *scores, int64_t *ids) {
    return vecidx__search(idx, queries, k, NULL, filter, scores, ids,
                          filter ? "vecidx_search_filtered" : "vecidx_search");
}

VECIDX_API int vecidx_search(const vecidx *idx, const als_matrix *queries, int64_t k,
                             float *scores, int64_t *ids) {
    return vecidx__search(idx, queries, k, NULL, NULL, scores, ids, "vecidx_search");
}

VECIDX_API int vecidx_search_with(const vecidx *idx, const als_matrix *queries, int64_t k,
                                  const vecidx_params *params, float *scores, int64_t *ids) {
    return vecidx__search(idx, queries, k, params, NULL, scores, ids, "vecidx_search_with");
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

VECIDX_API int vecidx_filter_create(vecidx_filter **out, const int64_t *ids, int64_t n, int mode) {
    if (!out) return als__errf(ALS_EINVAL, "vecidx_filter_create: out is NULL");
    *out = NULL;
    if (n < 0) return als__errf(ALS_ERANGE, "vecidx_filter_create: n = %lld < 0", (long long)n);
    if (!ids && n > 0) return als__errf(ALS_EINVAL, "vecidx_filter_create: ids is NULL with n > 0");
    if (mode != VECIDX_FILTER_EXCLUDE && mode != VECIDX_FILTER_INCLUDE)
        return als__errf(ALS_EINVAL, "vecidx_filter_create: unknown mode %d", mode);
    vecidx_filter *f = calloc(1, sizeof *f);
    int64_t *copy = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    if (!f || !copy) {
        free(f);
        free(copy);
        return als__errf(ALS_ENOMEM, "vecidx_filter_create: cannot copy %lld ids", (long long)n);
    }
    if (n) memcpy(copy, ids, (size_t)n * sizeof(int64_t));
    qsort(copy, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || copy[u - 1] != copy[i]) copy[u++] = copy[i];
    f->ids = copy;
    f->set.ids = copy;
    f->set.n = u;
    f->set.include = mode == VECIDX_FILTER_INCLUDE;
    *out = f;
    return ALS_OK;
}

VECIDX_API void vecidx_filter_destroy(vecidx_filter *f) {
    if (!f) return;
    free(f->ids);
    free(f);
}

VECIDX_API int vecidx_filter_allows(const vecidx_filter *f, int64_t id) {
    return f ? als__idset_allows(&f->set, id) : 1;
}
