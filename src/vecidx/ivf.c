/* IVF-flat: a k-means coarse quantizer and one panel store per list. Training samples at
 * most nlist x train_per_list rows; adding is a k=1 search against the centroids: with the
 * flat engine below VECIDX_COARSE_MIN_NLIST lists, with the two-level accelerator of
 * quantizer.c (built from the centroids on the first add) from there on; searching probes
 * the nprobe best lists of each query, always by the flat list of centroids. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/quantizer.h"

#define ADD_CHUNK 65536

void vecidx__ivf_free(vecidx *idx) {
    if (idx->lists)
        for (int64_t i = 0; i < idx->nlist; i++) vecidx__store_free(&idx->lists[i]);
    free(idx->lists);
    idx->lists = NULL;
    als__afree(idx->centroids);
    idx->centroids = NULL;
    vecidx__store_free(&idx->quant);
    vecidx__coarse_free(idx->coarse);
    idx->coarse = NULL;
}

/* Install centroids (nlist x d) and build the quantizer's panel store. */
static int set_centroids(vecidx *idx, float *c) {
    vecidx__store q = {0};
    int l2 = idx->metric == VECIDX_METRIC_L2;
    if (vecidx__store_reserve(&q, idx->d, l2, idx->nlist, 0)) return ALS_ENOMEM;
    vecidx__store_fill(&q, idx->d, l2, c, idx->nlist, idx->d, NULL, 0);
    vecidx__store_free(&idx->quant);
    als__afree(idx->centroids);
    idx->quant = q;
    idx->centroids = c;
    idx->trained = 1;
    vecidx__coarse_free(idx->coarse); /* rebuilt from the new centroids by the next add */
    idx->coarse = NULL;
    return ALS_OK;
}

int vecidx__ivf_train(vecidx *idx, const float *x, int64_t n, int64_t stride) {
    int64_t d = idx->d, m = n;
    if (idx->train_per_list < n / idx->nlist + 1 && idx->nlist * idx->train_per_list < n)
        m = idx->nlist * idx->train_per_list;
    float *sample = als__aalloc((size_t)m, (size_t)d * sizeof(float));
    float *c = als__aalloc((size_t)idx->nlist, (size_t)d * sizeof(float));
    int64_t *pick = m < n ? malloc((size_t)n * sizeof(int64_t)) : NULL;
    int rc = ALS_OK;
    if (!sample || !c || (m < n && !pick)) {
        rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory for a %lld-row sample", (long long)m);
        goto fail;
    }
    if (m < n) { /* m distinct rows drawn with the seed, then kept in row order */
        als__rng rng;
        als__rng_seed(&rng, (uint64_t)idx->seed ^ 0x5A17E5EEDull);
        als__rng_pick(&rng, pick, n, m);
        unsigned char *mark = calloc((size_t)n, 1); /* row order by a bitmap: no sort */
        if (!mark) {
            rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory for a %lld-row sample", (long long)m);
            goto fail;
        }
        for (int64_t i = 0; i < m; i++) mark[pick[i]] = 1;
        for (int64_t i = 0, k = 0; i < n; i++)
            if (mark[i]) pick[k++] = i;
        free(mark);
    }
    for (int64_t i = 0; i < m; i++)
        memcpy(sample + i * d, x + (pick ? pick[i] : i) * stride, (size_t)d * sizeof(float));
    rc = vecidx__kmeans(sample, m, d, idx->nlist, idx->metric == VECIDX_METRIC_IP,
                        idx->kmeans_iters, (uint64_t)idx->seed, als__threads(idx->num_threads),
                        vecidx__scan(idx), c);
    if (rc) goto fail;
    if (set_centroids(idx, c)) {
        rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory");
        goto fail;
    }
    c = NULL;
fail:
    als__afree(sample);
    als__afree(c);
    free(pick);
    return rc;
}

/* Append rows[0..m) of x to list s (reserved), with their ids (ids NULL: first_id + row).
 * Rows come in list order, so they are read at random: each is prefetched a few rows ahead.
 * Inner product stores need no bias, so the vectors go straight into the panel layout (as
 * als__panels_fill lays them out); L2 stores take the shared fill for the bias. */
static void fill_list(vecidx__store *s, int64_t d, int l2, const float *x, int64_t stride,
                      const int64_t *rows, int64_t m, const int64_t *ids, int64_t first_id) {
    const int64_t ahead = 8;
    for (int64_t t = 0; t < m; t++) {
        if (t + ahead < m) __builtin_prefetch(x + rows[t + ahead] * stride);
        int64_t r = rows[t], id = ids ? ids[r] : first_id + r;
        const float *src = x + r * stride;
        if (l2) {
            vecidx__store_fill(s, d, l2, src, 1, stride, &id, 0);
            continue;
        }
        int64_t v = s->n, p = v / ALS_PANEL, l = v % ALS_PANEL;
        float *dst = s->panels + p * d * ALS_PANEL + l;
        for (int64_t j = 0; j < d; j++) dst[j * ALS_PANEL] = src[j];
        s->ids[v] = id;
        s->n = v + 1;
    }
}

int vecidx__ivf_add(vecidx *idx, const float *x, int64_t n, int64_t stride, const int64_t *ids) {
    if (n == 0) return ALS_OK;
    int64_t d = idx->d, nlist = idx->nlist;
    int l2 = idx->metric == VECIDX_METRIC_L2;
    int nt = als__threads(idx->num_threads);
    int64_t *assign = malloc((size_t)n * sizeof(int64_t));
    int64_t *start = calloc((size_t)nlist + 1, sizeof(int64_t));
    int64_t *order = malloc((size_t)n * sizeof(int64_t));
    int coarse = nlist >= VECIDX_COARSE_MIN_NLIST;
    float *buf = coarse ? NULL : als__aalloc((size_t)(n < ADD_CHUNK ? n : ADD_CHUNK), (size_t)d * sizeof(float));
    int rc = ALS_OK;
    if (!assign || !start || !order || (!coarse && !buf)) {
        rc = als__errf(ALS_ENOMEM, "vecidx_add: out of memory for %lld vectors", (long long)n);
        goto done;
    }
    if (coarse) {
        /* The accelerator depends on the centroids alone (a fixed seed), so an index
         * assigns alike whether it was trained here or loaded, and whatever its parameters. */
        if (!idx->coarse)
            rc = vecidx__coarse_build(idx->centroids, nlist, d, l2, VECIDX_COARSE_REACH_ADD, 0, nt,
                                      vecidx__scan(idx), &idx->coarse);
        if (!rc) rc = vecidx__coarse_assign(idx->coarse, vecidx__scan(idx), nt, x, n, stride, NULL, assign);
    } else {
        als__db qdb = vecidx__store_db(&idx->quant, d);
        for (int64_t r0 = 0; r0 < n && !rc; r0 += ADD_CHUNK) {
            int64_t rn = n - r0 < ADD_CHUNK ? n - r0 : ADD_CHUNK;
            for (int64_t i = 0; i < rn; i++)
                memcpy(buf + i * d, x + (r0 + i) * stride, (size_t)d * sizeof(float));
            rc = als__search_db(&qdb, vecidx__scan(idx), nt, buf, rn, 1, NULL, NULL, assign + r0);
        }
    }
    if (rc) goto done;
    /* A vector whose every centroid score overflowed (NaN) was assigned no list: list 0. */
    for (int64_t i = 0; i < n; i++)
        if (assign[i] < 0) assign[i] = 0;
    /* Counting sort of rows by list (stable: row order is kept inside each list). */
    for (int64_t i = 0; i < n; i++) start[assign[i] + 1]++;
    for (int64_t c = 0; c < nlist; c++) start[c + 1] += start[c];
    {
        int64_t *pos = malloc((size_t)nlist * sizeof(int64_t));
        if (!pos) {
            rc = als__errf(ALS_ENOMEM, "vecidx_add: out of memory");
            goto done;
        }
        memcpy(pos, start, (size_t)nlist * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) order[pos[assign[i]]++] = i;
        free(pos);
    }
    /* Reserve every list first, so a failure adds nothing. */
    for (int64_t c = 0; c < nlist; c++)
        if (start[c + 1] > start[c] &&
            vecidx__store_reserve(&idx->lists[c], d, l2, start[c + 1] - start[c], 1)) {
            rc = als__errf(ALS_ENOMEM, "vecidx_add: cannot grow list %lld", (long long)c);
            goto done;
        }
#pragma omp parallel for schedule(dynamic, 16) num_threads(nt)
    for (int64_t c = 0; c < nlist; c++)
        fill_list(&idx->lists[c], d, l2, x, stride, order + start[c], start[c + 1] - start[c], ids,
                  idx->n);
    idx->n += n;
done:
    free(assign);
    free(start);
    free(order);
    als__afree(buf);
    return rc;
}

/* Queries are taken in chunks; inside a chunk the (query, list) probes are inverted so
 * that each list is scanned once by all the chunk's queries that probe it, with the
 * multi-query kernels (a list streamed once per chunk, not once per query). A chunk's
 * heaps belong to one thread, so no two threads touch one query. */
static void search_chunk(const vecidx *idx, als__scan_fn scan, const float *q, int64_t a0,
                         int64_t an, int64_t np, const int64_t *probe, int64_t k, int64_t kc,
                         const als__idset *f, float *scores, int64_t *ids, float *hs,
                         int64_t *hid, als__heap *heaps, als__heap *gh, int64_t *start,
                         int64_t *order, float *qbuf) {
    int64_t d = idx->d, nlist = idx->nlist;
    for (int64_t i = 0; i < an; i++) heaps[i] = (als__heap){hs + i * kc, hid + i * kc, kc, 0};
    memset(start, 0, (size_t)(nlist + 1) * sizeof(int64_t));
    /* a probe of -1 (fewer lists scored than nprobe: a centroid whose score overflowed to
     * NaN) names no list and is skipped */
    for (int64_t t = 0; t < an * np; t++)
        if (probe[a0 * np + t] >= 0) start[probe[a0 * np + t] + 1]++;
    for (int64_t l = 0; l < nlist; l++) start[l + 1] += start[l];
    for (int64_t t = 0; t < an * np; t++)
        if (probe[a0 * np + t] >= 0) order[start[probe[a0 * np + t]]++] = t / np;
    for (int64_t l = nlist; l > 0; l--) start[l] = start[l - 1]; /* undo the fill's advance */
    start[0] = 0;
    for (int64_t l = 0; l < nlist && kc > 0; l++)
        vecidx__scan_list(idx, scan, l, order + start[l], start[l + 1] - start[l], q + a0 * d,
                          heaps, gh, qbuf, f);
    for (int64_t i = 0; i < an; i++)
        als__heap_emit(&heaps[i], k, scores ? scores + (a0 + i) * k : NULL, ids + (a0 + i) * k);
}

int vecidx__ivf_search(const vecidx *idx, const float *q, int64_t nq, int64_t k,
                       const vecidx__sopt *o, float *scores, int64_t *ids) {
    if (nq == 0) return ALS_OK;
    if (o->exact) return vecidx__ivf_search_exact(idx, q, nq, k, o, scores, ids);
    int64_t d = idx->d, nlist = idx->nlist;
    int64_t np = o->nprobe >= nlist ? nlist : o->nprobe;
    int64_t kc = k < idx->n ? k : idx->n;
    if (kc < 1) kc = 1;
    int nt = o->nthreads;
    als__scan_fn scan = o->scan;
    const als__idset *f = o->filter;
    int64_t chunk = nq / ((int64_t)nt * 4);
    if (chunk < 64) chunk = 64;
    if (chunk > 4096) chunk = 4096;
    if (chunk > nq) chunk = nq;
    int64_t nchunks = (nq + chunk - 1) / chunk;
    int64_t *probe = malloc((size_t)nq * (size_t)np * sizeof(int64_t));
    int rc = probe ? ALS_OK : als__errf(ALS_ENOMEM, "vecidx_search: out of memory for %lld queries", (long long)nq);
    if (!rc) {
        als__db qdb = vecidx__store_db(&idx->quant, d);
        rc = als__search_db(&qdb, scan, nt, q, nq, np, NULL, NULL, probe);
    }
    int failed = 0;
#pragma omp parallel num_threads(nt) if (!rc && nchunks > 1)
    {
        float *hs = malloc((size_t)(chunk * kc) * sizeof(float));
        int64_t *hid = malloc((size_t)(chunk * kc) * sizeof(int64_t));
        als__heap *heaps = malloc((size_t)chunk * sizeof(als__heap));
        als__heap *gh = malloc((size_t)chunk * sizeof(als__heap));
        int64_t *start = malloc((size_t)(nlist + 1) * sizeof(int64_t));
        int64_t *order = malloc((size_t)(chunk * np) * sizeof(int64_t));
        float *qbuf = als__aalloc((size_t)chunk, (size_t)d * sizeof(float));
        int ok = !rc && hs && hid && heaps && gh && start && order && qbuf;
        if (!ok && !rc) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < nchunks; c++) {
            if (!ok) continue;
            int64_t a0 = c * chunk, an = nq - a0 < chunk ? nq - a0 : chunk;
            search_chunk(idx, scan, q, a0, an, np, probe, k, kc, f, scores, ids, hs, hid, heaps,
                         gh, start, order, qbuf);
        }
        free(hs);
        free(hid);
        free(heaps);
        free(gh);
        free(start);
        free(order);
        als__afree(qbuf);
    }
    free(probe);
    if (!rc && failed) rc = als__errf(ALS_ENOMEM, "vecidx_search: out of memory for the search buffers");
    return rc;
}
