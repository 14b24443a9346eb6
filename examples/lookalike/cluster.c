/* lookalike: route i2c2u, i2u2u from the clusters of the seed set.
 *
 * i2u2u searches once per seed (up to LK_MAX_SEEDS) and sums the similarities, so its
 * audience is drawn towards the region where most seeds lie. i2c2u clusters the seeds'
 * vectors by k-means (spherical for a cosine index) and makes each centroid one query,
 * scored against the raw user factors like i2u (x_u . centroid): a seed set of thousands
 * costs C searches instead of one per seed. Each cluster fills a
 * share of the audience in proportion to its weight, by D'Hondt apportionment (the next
 * place goes to the cluster with the smallest (places taken + 1) / weight, which takes its
 * best user not yet placed), so a diverse seed set is covered group by group rather than
 * by its biggest group alone. A cluster's weight is the sum of its seeds' cosine
 * similarities to its centroid: its size, discounted for spread, so that a loose cluster
 * of stray buyers (the random purchases every log has) claims less than a tight group.
 * Deterministic: fixed k-means++ seed, ties to the lower cluster and the smaller id. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

static uint64_t mix(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double dist2(const float *a, const float *b, int64_t r) {
    double s = 0;
    for (int64_t j = 0; j < r; j++) {
        double t = (double)a[j] - (double)b[j];
        s += t * t;
    }
    return s;
}

int64_t lk_kmeans(const float *x, int64_t n, int64_t r, int64_t c, int cosine, uint64_t seed,
                  float *centroids, int32_t *assign) {
    if (n < 1 || c < 1) return -1;
    if (c > n) c = n;
    double *d2 = malloc((size_t)n * sizeof *d2), *sum = malloc((size_t)(c * r) * sizeof *sum);
    int64_t *cnt = malloc((size_t)c * sizeof *cnt), *map = malloc((size_t)c * sizeof *map);
    if (!d2 || !sum || !cnt || !map) {
        free(d2); free(sum); free(cnt); free(map);
        return -1;
    }
    uint64_t s = seed;
    /* k-means++: the first centre at random, each next one with probability proportional
     * to the squared distance to the nearest centre so far */
    memcpy(centroids, x + (int64_t)(mix(&s) % (uint64_t)n) * r, (size_t)r * sizeof(float));
    int64_t m = 1;
    for (int64_t i = 0; i < n; i++) d2[i] = dist2(x + i * r, centroids, r);
    while (m < c) {
        double tot = 0;
        for (int64_t i = 0; i < n; i++) tot += d2[i];
        if (!(tot > 0)) break; /* every point sits on a centre: fewer distinct points than c */
        double u = (double)(mix(&s) >> 11) * 0x1.0p-53 * tot, acc = 0;
        int64_t pick = n - 1;
        for (int64_t i = 0; i < n; i++)
            if (d2[i] > 0 && (acc += d2[i]) > u) { pick = i; break; }
        memcpy(centroids + m * r, x + pick * r, (size_t)r * sizeof(float));
        for (int64_t i = 0; i < n; i++) {
            double t = dist2(x + i * r, centroids + m * r, r);
            if (t < d2[i]) d2[i] = t;
        }
        m++;
    }
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < 50; it++) {
        int64_t moved = 0;
        for (int64_t i = 0; i < n; i++) { /* nearest centre (unit vectors: the most similar) */
            int32_t best = 0;
            double bd = dist2(x + i * r, centroids, r);
            for (int64_t k = 1; k < m; k++) {
                double t = dist2(x + i * r, centroids + k * r, r);
                if (t < bd) { bd = t; best = (int32_t)k; }
            }
            moved += assign[i] != best;
            assign[i] = best;
        }
        if (!moved) break;
        memset(sum, 0, (size_t)(m * r) * sizeof *sum);
        memset(cnt, 0, (size_t)m * sizeof *cnt);
        for (int64_t i = 0; i < n; i++) {
            cnt[assign[i]]++;
            for (int64_t j = 0; j < r; j++) sum[assign[i] * r + j] += x[i * r + j];
        }
        for (int64_t k = 0; k < m; k++) {
            if (!cnt[k]) continue; /* an empty cluster keeps its centre (dropped below) */
            double nn = 0;
            for (int64_t j = 0; j < r; j++) nn += sum[k * r + j] * sum[k * r + j];
            double scale = cosine ? (nn > 0 ? 1.0 / sqrt(nn) : 0.0) : 1.0 / (double)cnt[k];
            for (int64_t j = 0; j < r; j++) centroids[k * r + j] = (float)(sum[k * r + j] * scale);
        }
    }
    /* drop empty clusters, keeping the order of the others */
    memset(cnt, 0, (size_t)m * sizeof *cnt);
    for (int64_t i = 0; i < n; i++) cnt[assign[i]]++;
    int64_t kept = 0;
    for (int64_t k = 0; k < m; k++) {
        map[k] = cnt[k] ? kept : -1;
        if (cnt[k]) {
            if (kept != k) memmove(centroids + kept * r, centroids + k * r, (size_t)r * sizeof(float));
            kept++;
        }
    }
    for (int64_t i = 0; i < n; i++) assign[i] = (int32_t)map[assign[i]];
    free(d2); free(sum); free(cnt); free(map);
    return kept;
}

/* Clusters for a seed set of kept vectors: --seed-clusters, or about sqrt(seeds / 8)
 * (2 to 32): a few hundred buyers make 5 or 6 groups, thousands make 20 to 32. */
static int64_t auto_clusters(int64_t kept) {
    int64_t c = (int64_t)llround(sqrt((double)kept / 8.0));
    if (c < 2) c = 2;
    if (c > 32) c = 32;
    return c < kept ? c : kept;
}

int lk_route_i2c2u(const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                   const int64_t *seeds, int64_t ns, const lk_route_opts *o, int64_t n,
                   int64_t *rows_out, float *scores_out, int64_t *found) {
    als_matrix *owner = NULL, *view = NULL, *cq = NULL, *q1 = NULL, *uf = NULL;
    vecidx *exact = NULL;
    vecidx_filter *f = NULL;
    vecidx_params *p = NULL;
    float *cent = NULL, *sc = NULL;
    int32_t *assign = NULL;
    int64_t kept, *ids = NULL, *off = NULL, *pos = NULL, *len = NULL, *places = NULL;
    double *w = NULL;
    unsigned char *placed = NULL;
    int rc = 0;
    *found = 0;
    if (lk_seed_vectors(d, meta, seeds, ns, &owner, &view, &kept)) return LK_EXIT_FAIL;
    int64_t r = d->rank, c = o->clusters > 0 ? o->clusters : auto_clusters(kept);
    const float *x = als_matrix_data_const(view);
    int64_t xs = als_matrix_stride(view);
    float *xd = malloc((size_t)(kept * r) * sizeof *xd); /* dense copy for the k-means */
    if (c > kept) c = kept;
    cent = malloc((size_t)(c * r) * sizeof *cent);
    assign = malloc((size_t)kept * sizeof *assign);
    w = calloc((size_t)c, sizeof *w);
    off = calloc((size_t)c + 1, sizeof *off);
    pos = calloc((size_t)c, sizeof *pos);
    len = calloc((size_t)c, sizeof *len);
    places = calloc((size_t)c, sizeof *places);
    placed = calloc((size_t)d->nu + 1, 1);
    if (!xd || !cent || !assign || !w || !off || !pos || !len || !places || !placed) { rc = lk_fail("out of memory"); goto out; }
    for (int64_t i = 0; i < kept; i++) memcpy(xd + i * r, x + i * xs, (size_t)r * sizeof(float));
    if ((c = lk_kmeans(xd, kept, r, c, meta->cosine, 42, cent, assign)) < 1) { rc = lk_fail("i2c2u: k-means failed (out of memory)"); goto out; }
    /* weights: the seeds' cosine similarity to their centroid, summed */
    double wt = 0;
    for (int64_t i = 0; i < kept; i++) {
        const float *v = xd + i * r, *m = cent + (int64_t)assign[i] * r;
        double dot = 0, nv = 0, nm = 0;
        for (int64_t j = 0; j < r; j++) dot += (double)v[j] * m[j], nv += (double)v[j] * v[j], nm += (double)m[j] * m[j];
        double cs = nv > 0 && nm > 0 ? dot / sqrt(nv * nm) : 0;
        if (cs > 0) w[assign[i]] += cs;
    }
    for (int64_t k = 0; k < c; k++) wt += w[k];
    if (!(wt > 0)) { rc = lk_fail("i2c2u: the seeds' clusters have no weight (opposite vectors)"); goto out; }
    /* each centroid's neighbours: twice its share of the audience and 64 more (the lists
     * overlap), or --k each */
    int64_t size = d->nu;
    for (int64_t k = 0; k < c; k++) {
        int64_t kk = o->k > 0 ? o->k : 2 * (int64_t)ceil((double)n * w[k] / wt) + 64;
        if (w[k] <= 0) kk = 0;
        if (kk > size) kk = size;
        off[k + 1] = off[k] + kk;
    }
    ids = malloc((size_t)(off[c] ? off[c] : 1) * sizeof *ids);
    sc = malloc((size_t)(off[c] ? off[c] : 1) * sizeof *sc);
    if (!ids || !sc) { rc = lk_fail("out of memory"); goto out; }
    if (lk_make_filter(d, seeds, ns, &f)) { rc = LK_EXIT_FAIL; goto out; }
    if ((rc = vecidx_params_create(&p)) || (rc = vecidx_params_set_filter(p, f)) ||
        (o->nprobe > 0 && idx && vecidx_kind(idx) == VECIDX_KIND_IVF &&
         (rc = vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, o->nprobe))) ||
        (rc = als_matrix_wrap(&cq, cent, c, r, r))) {
        rc = lk_lib_fail("i2c2u", rc);
        goto out;
    }
    /* Candidates are scored x_u . centroid on the raw user factors, as i2u scores x_u . y_i:
     * the factor's norm carries how strongly the model believes in a user's taste, which
     * a cosine index discards (measured: raw beats cosine on MovieLens and the harder log,
     * docs/lookalike.md). With an inner-product index that is the index itself; otherwise
     * an exact scan of the raw factors (C queries, cheap next to i2u2u's one per seed). */
    const vecidx *use = idx;
    if (!idx || meta->cosine || meta->metric != VECIDX_METRIC_IP) {
        const als_matrix *raw = als_model_user_factors(d->model);
        if ((rc = als_matrix_wrap(&uf, (float *)als_matrix_data_const(raw), d->nu, d->rank,
                                  als_matrix_stride(raw))) ||
            (rc = vecidx_flat_create(&exact, d->rank, VECIDX_METRIC_IP)) ||
            (rc = vecidx_add(exact, uf, d->user_ids))) {
            rc = lk_lib_fail("i2c2u", rc);
            goto out;
        }
        use = exact;
        vecidx_params_unset(p, VECIDX_PARAM_NPROBE); /* exact: no lists */
    }
    for (int64_t k = 0; k < c; k++) {
        int64_t kk = off[k + 1] - off[k];
        if (kk == 0) continue;
        if ((rc = als_matrix_view_rows(&q1, cq, k, 1)) ||
            (rc = vecidx_search_with(use, q1, kk, p, sc + off[k], ids + off[k]))) {
            rc = lk_lib_fail("i2c2u: searching from a centroid", rc);
            goto out;
        }
        als_matrix_destroy(q1);
        q1 = NULL;
        int64_t got = 0; /* missing results (-1) end a list */
        while (got < kk && ids[off[k] + got] >= 0) got++;
        if (lk_ids_to_rows(d, ids + off[k], got)) { rc = LK_EXIT_FAIL; goto out; }
        len[k] = got;
        pos[k] = off[k];
    }
    /* D'Hondt: the next place goes to the cluster with the smallest (places + 1) / weight */
    int64_t m = 0;
    while (m < n) {
        int64_t best = -1;
        double bq = 0;
        for (int64_t k = 0; k < c; k++) {
            while (pos[k] < off[k] + len[k] && placed[ids[pos[k]]]) pos[k]++;
            if (pos[k] >= off[k] + len[k]) continue;
            double qk = (double)(places[k] + 1) / w[k];
            if (best < 0 || qk < bq) { best = k; bq = qk; }
        }
        if (best < 0) break; /* every list is spent */
        int64_t u = ids[pos[best]++];
        placed[u] = 1;
        places[best]++;
        rows_out[m] = u;
        /* the quotients taken never decrease, so these scores never increase */
        if (scores_out) scores_out[m] = (float)(1.0 / bq);
        m++;
    }
    *found = m;
out:
    vecidx_destroy(exact);
    als_matrix_destroy(uf);
    als_matrix_destroy(q1);
    als_matrix_destroy(cq);
    vecidx_params_destroy(p);
    vecidx_filter_destroy(f);
    als_matrix_destroy(view);
    als_matrix_destroy(owner);
    free(xd); free(cent); free(assign); free(w); free(off); free(pos); free(len); free(places); free(placed);
    free(ids); free(sc);
    return rc;
}
