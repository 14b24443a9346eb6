/* Lloyd's k-means for the IVF coarse quantizer. Assignment is a k=1 search with the same
 * fused kernels as the index: a flat scan of the centroids below VECIDX_COARSE_MIN_NLIST
 * lists, the two-level accelerator of quantizer.c (rebuilt from the centroids of every
 * iteration) from there on, where the first iterations also run on a subsample. The update
 * sums in double, serially in point order, so the centroids are the same for every thread
 * count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/quantizer.h"

/* Give an empty cluster half of the largest one: copy its centroid and push the two
 * copies apart slightly (Faiss does the same with a random donor). */
static void split_empty(float *c, int64_t *count, int64_t nlist, int64_t d) {
    const float eps = 1.0f / 1024.0f;
    for (int64_t e = 0; e < nlist; e++) {
        if (count[e] != 0) continue;
        int64_t big = 0;
        for (int64_t j = 1; j < nlist; j++)
            if (count[j] > count[big]) big = j;
        if (count[big] < 2) return;
        for (int64_t j = 0; j < d; j++) {
            float v = c[big * d + j], s = (j % 2 == 0) ? eps : -eps;
            c[e * d + j] = v * (1.0f + s);
            c[big * d + j] = v * (1.0f - s);
        }
        count[e] = count[big] / 2;
        count[big] -= count[e];
    }
}

static void normalize(float *c, int64_t nlist, int64_t d) {
    for (int64_t i = 0; i < nlist; i++) {
        double ss = 0.0;
        for (int64_t j = 0; j < d; j++) ss += (double)c[i * d + j] * c[i * d + j];
        if (ss > 0.0) {
            float inv = (float)(1.0 / sqrt(ss));
            for (int64_t j = 0; j < d; j++) c[i * d + j] *= inv;
        }
    }
}

/* Nearest centroid of every point. From the second iteration on, each point's heap starts
 * with its previous centroid (score computed with the kernels' exact fma order), so the
 * kernel's threshold is tight from the first panel and almost no lane needs a look. */
static int assign_points(const als__db *cdb, als__scan_fn scan, int nt, const float *x, int64_t n,
                         int64_t d, int warm, int64_t *assign) {
    const int64_t chunk = 512;
    int64_t nchunks = (n + chunk - 1) / chunk;
    int failed = 0;
#pragma omp parallel num_threads(nt)
    {
        float *hs = malloc((size_t)chunk * sizeof(float));
        int64_t *hid = malloc((size_t)chunk * sizeof(int64_t));
        als__heap *h = malloc((size_t)chunk * sizeof(als__heap));
        float *c = malloc((size_t)d * sizeof(float));
        int ok = hs && hid && h && c;
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (int64_t ch = 0; ch < nchunks; ch++) {
            if (!ok) continue;
            int64_t a0 = ch * chunk, an = n - a0 < chunk ? n - a0 : chunk;
            for (int64_t i = 0; i < an; i++) {
                h[i] = (als__heap){hs + i, hid + i, 1, 0};
                if (!warm) continue;
                int64_t prev = assign[a0 + i];
                als__panels_get(cdb->panels, d, prev, c);
                float acc = cdb->bias ? cdb->bias[prev] : 0.0f;
                for (int64_t j = 0; j < d; j++) acc = als__fmaf(x[(a0 + i) * d + j], c[j], acc);
                hs[i] = acc;
                hid[i] = prev;
                h[i].n = 1;
            }
            scan(cdb, 0, cdb->npanels, x + a0 * d, an, h, NULL);
            for (int64_t i = 0; i < an; i++) assign[a0 + i] = hid[i];
        }
        free(hs);
        free(hid);
        free(h);
        free(c);
    }
    return failed ? als__errf(ALS_ENOMEM, "vecidx_train: out of memory") : ALS_OK;
}

/* Many lists (VECIDX_COARSE_MIN_NLIST and up): all but the last FULL_ITERS iterations run on
 * a subsample of SUB_PER_LIST points per list, a warm start for the full sample (measured in
 * docs/performance.md, "IVF build at scale": recall as with every iteration on the full
 * sample, within the noise of the seed). */
#define SUB_PER_LIST 48
#define FULL_ITERS 1

/* m distinct rows of 0..n-1 drawn with rng, in increasing order (a bitmap, no sort). */
static int pick_sorted(als__rng *rng, int64_t *perm, int64_t n, int64_t m) {
    unsigned char *mark = calloc((size_t)n, 1);
    if (!mark) return ALS_ENOMEM;
    als__rng_pick(rng, perm, n, m);
    for (int64_t i = 0; i < m; i++) mark[perm[i]] = 1;
    for (int64_t i = 0, k = 0; i < n; i++)
        if (mark[i]) perm[k++] = i;
    free(mark);
    return ALS_OK;
}

int vecidx__kmeans(const float *x, int64_t n, int64_t d, int64_t nlist, int spherical,
                   int64_t iters, uint64_t seed, int nthreads, als__scan_fn scan,
                   float *centroids) {
    int coarse = nlist >= VECIDX_COARSE_MIN_NLIST;
    int64_t n_sub = n, it_sub = 0;
    if (coarse && nlist * SUB_PER_LIST < n && iters > FULL_ITERS) {
        n_sub = nlist * SUB_PER_LIST;
        it_sub = iters - FULL_ITERS;
    }
    int64_t *assign = malloc((size_t)n * sizeof(int64_t));
    int64_t *perm = malloc((size_t)n * sizeof(int64_t));
    int64_t *count = malloc((size_t)nlist * sizeof(int64_t));
    double *sum = malloc((size_t)nlist * (size_t)d * sizeof(double));
    float *xs = it_sub ? malloc((size_t)n_sub * (size_t)d * sizeof(float)) : NULL;
    int rc = ALS_OK;
    if (!assign || !perm || !count || !sum || (it_sub && !xs)) {
        rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory for k-means on %lld points", (long long)n);
        goto done;
    }
    /* Initial centroids: nlist distinct points drawn with the seed. */
    als__rng rng;
    als__rng_seed(&rng, seed);
    als__rng_pick(&rng, perm, n, nlist);
    for (int64_t i = 0; i < nlist; i++) memcpy(centroids + i * d, x + perm[i] * d, (size_t)d * sizeof(float));
    if (spherical) normalize(centroids, nlist, d);
    if (it_sub) { /* n_sub distinct points, another stream of the seed, in row order */
        als__rng_seed(&rng, seed ^ 0x5B5A3B1E5ull);
        if (pick_sorted(&rng, perm, n, n_sub)) {
            rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory for k-means on %lld points", (long long)n);
            goto done;
        }
        for (int64_t i = 0; i < n_sub; i++) memcpy(xs + i * d, x + perm[i] * d, (size_t)d * sizeof(float));
    }

    for (int64_t it = 0; it < iters; it++) {
        const float *xi = it < it_sub ? xs : x;
        int64_t ni = it < it_sub ? n_sub : n;
        int warm = it > 0 && it != it_sub; /* assign holds this set's previous assignment */
        if (coarse) {
            vecidx__coarse *cq = NULL;
            rc = vecidx__coarse_build(centroids, nlist, d, !spherical, VECIDX_COARSE_REACH_TRAIN,
                                      seed + (uint64_t)it, nthreads, scan, &cq);
            if (!rc) rc = vecidx__coarse_assign(cq, scan, nthreads, xi, ni, d, warm ? assign : NULL, assign);
            vecidx__coarse_free(cq);
            if (rc) goto done;
        } else {
            float *cp, *cb;
            if (als__panels_build(centroids, nlist, d, d, !spherical, &cp, &cb)) {
                rc = als__errf(ALS_ENOMEM, "vecidx_train: out of memory");
                goto done;
            }
            als__db cdb = {cp, cb, NULL, 0, nlist, d, (nlist + ALS_PANEL - 1) / ALS_PANEL};
            rc = assign_points(&cdb, scan, nthreads, xi, ni, d, warm, assign);
            als__afree(cp);
            als__afree(cb);
            if (rc) goto done;
        }
        memset(count, 0, (size_t)nlist * sizeof(int64_t));
        memset(sum, 0, (size_t)nlist * (size_t)d * sizeof(double));
        for (int64_t i = 0; i < ni; i++) {
            int64_t c = assign[i];
            count[c]++;
            for (int64_t j = 0; j < d; j++) sum[c * d + j] += xi[i * d + j];
        }
        for (int64_t c = 0; c < nlist; c++)
            if (count[c] > 0)
                for (int64_t j = 0; j < d; j++) centroids[c * d + j] = (float)(sum[c * d + j] / (double)count[c]);
        split_empty(centroids, count, nlist, d);
        if (spherical) normalize(centroids, nlist, d);
    }
done:
    free(assign);
    free(perm);
    free(count);
    free(sum);
    free(xs);
    return rc;
}
