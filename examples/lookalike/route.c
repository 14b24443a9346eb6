/* lookalike: the expansion routes from target items to an audience of users.
 *   i2u2u  buyers of the target -> their user vectors (seeds) -> each seed's k most similar
 *          users in the index (seeds excluded) -> merged by vecidx_expand (sum by default)
 *   i2i2u  target -> its most similar items (cosine over item factors) -> the users of
 *          those items, scored by the sum of the similarities of the items they used
 *          (once per user-item), the target's buyers excluded
 *   i2u    the model's own score x_u . y_i for the target, best first, buyers excluded
 *   seedclf, blend: below; i2c2u (centroids of the seeds' clusters): cluster.c; i2s2u
 *   (activity x the target's rate in the user's taste segments): segments.c */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

static int simple_route(const char *s, size_t n) {
    static const struct { const char *name; int route; } names[] = {
        {"i2u2u", LK_ROUTE_I2U2U}, {"i2i2u", LK_ROUTE_I2I2U}, {"i2u", LK_ROUTE_I2U},
        {"seedclf", LK_ROUTE_SEEDCLF}, {"i2c2u", LK_ROUTE_I2C2U}, {"i2s2u", LK_ROUTE_I2S2U}};
    for (size_t r = 0; r < sizeof names / sizeof names[0]; r++)
        if (strlen(names[r].name) == n && !strncmp(s, names[r].name, n)) return names[r].route;
    return -1;
}

int lk_route_parse_opts(const char *s, lk_route_opts *o) {
    if (strncmp(s, "blend:", 6) != 0) return simple_route(s, strlen(s));
    int comps[LK_MAX_BLEND], nc = 0;
    for (const char *p = s + 6;;) {
        size_t n = strcspn(p, ",");
        int r = simple_route(p, n);
        if (r < 0 || nc == LK_MAX_BLEND) return -1;
        for (int i = 0; i < nc; i++)
            if (comps[i] == r) return -1; /* a route twice would only weigh it twice */
        comps[nc++] = r;
        if (!p[n]) break;
        p += n + 1;
    }
    if (nc < 2) return -1;
    if (o) {
        memcpy(o->blend, comps, sizeof comps);
        o->nblend = nc;
    }
    return LK_ROUTE_BLEND;
}

int lk_route_parse(const char *s) { return lk_route_parse_opts(s, NULL); }

const char *lk_route_name(int route) {
    static const char *const names[LK_NROUTES] = {"i2u2u", "i2i2u", "i2u", "seedclf", "blend", "i2c2u", "i2s2u"};
    return route >= 0 && route < LK_NROUTES ? names[route] : "?";
}

int lk_buyers(const lk_data *d, const int64_t *items, int64_t n_items, int64_t **out,
              int64_t *n) {
    unsigned char *seen = calloc((size_t)d->nu + 1, 1);
    int64_t total = 0;
    for (int64_t t = 0; t < n_items; t++) total += d->item_ptr[items[t] + 1] - d->item_ptr[items[t]];
    int64_t *b = malloc((size_t)(total ? total : 1) * sizeof *b);
    if (!seen || !b) {
        free(seen);
        free(b);
        return lk_fail("out of memory");
    }
    int64_t m = 0;
    for (int64_t t = 0; t < n_items; t++)
        for (int64_t p = d->item_ptr[items[t]]; p < d->item_ptr[items[t] + 1]; p++) {
            int32_t u = d->item_users[p];
            if (!seen[u]) {
                seen[u] = 1;
                b[m++] = u;
            }
        }
    free(seen);
    *out = b;
    *n = m;
    return 0;
}

/* Copy the given factor rows into a new dense matrix, normalized when cosine. Rows with a
 * zero vector are dropped (*kept says how many remain). */
int lk_gather(const als_matrix *f, const int64_t *rows, int64_t n, int cosine,
              als_matrix **out, int64_t *kept) {
    int64_t r = als_matrix_cols(f), st = als_matrix_stride(f), m = 0;
    const float *src = als_matrix_data_const(f);
    int rc = als_matrix_create(out, n, r);
    if (rc) return lk_lib_fail("seed vectors", rc);
    float *dst = als_matrix_data(*out);
    for (int64_t i = 0; i < n; i++) {
        const float *v = src + rows[i] * st;
        double nn = 0;
        for (int64_t c = 0; c < r; c++) nn += (double)v[c] * v[c];
        if (nn == 0) continue;
        memcpy(dst + m * r, v, (size_t)r * sizeof(float));
        m++;
    }
    als_matrix *view;
    if ((rc = als_matrix_view_rows(&view, *out, 0, m))) {
        als_matrix_destroy(*out);
        return lk_lib_fail("seed vectors", rc);
    }
    if (cosine) als_matrix_normalize_rows(view);
    /* keep the owning matrix alive behind the view: the caller destroys both */
    *kept = m;
    als_matrix_destroy(view);
    return 0;
}

/* vecidx_expand's external ids back to factor rows. An id the model does not know means
 * the index is not this model's: never used as a row. */
int lk_ids_to_rows(const lk_data *d, int64_t *ids, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        int64_t row = als_model_user_row(d->model, ids[i]);
        if (row < 0 || row >= d->nu)
            return lk_fail("the index returned user id %lld, which the model does not have: "
                           "the index was not built from this model", (long long)ids[i]);
        ids[i] = row;
    }
    return 0;
}

int lk_make_filter(const lk_data *d, const int64_t *rows, int64_t n, vecidx_filter **f) {
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) return lk_fail("out of memory");
    for (int64_t i = 0; i < n; i++) ids[i] = d->user_ids[rows[i]];
    int rc = vecidx_filter_create(f, ids, n, VECIDX_FILTER_EXCLUDE);
    free(ids);
    return rc ? lk_lib_fail("filter", rc) : 0;
}

/* The audience of the query vectors: each one's k best (the excluded users filtered out),
 * merged by agg. nprobe (IVF) is this call's own setting: the shared index is never
 * modified to serve one request. */
static int expand_vectors(const lk_data *d, const vecidx *idx, const als_matrix *q, int64_t k,
                          int agg, const int64_t *excl, int64_t n_excl, int64_t nprobe,
                          int64_t n, int64_t *rows_out, float *scores_out, int64_t *found) {
    vecidx_filter *f = NULL;
    vecidx_params *p = NULL;
    if (lk_make_filter(d, excl, n_excl, &f)) return LK_EXIT_FAIL;
    int64_t size = vecidx_size(idx);
    if (k > size) k = size;
    if (k < 1) k = 1;
    int rc = vecidx_params_create(&p);
    if (!rc) rc = vecidx_params_set_filter(p, f);
    if (!rc && nprobe > 0 && vecidx_kind(idx) == VECIDX_KIND_IVF)
        rc = vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, nprobe);
    if (!rc) rc = vecidx_expand_with(idx, q, k, agg, p, n, rows_out, scores_out, found);
    vecidx_params_destroy(p);
    vecidx_filter_destroy(f);
    if (rc) return lk_lib_fail("expanding the audience", rc);
    if (lk_ids_to_rows(d, rows_out, *found)) {
        *found = 0;
        return LK_EXIT_FAIL;
    }
    return 0;
}

int lk_seed_vectors(const lk_data *d, const lk_index_meta *meta, const int64_t *seeds,
                    int64_t ns, als_matrix **owner, als_matrix **view, int64_t *kept) {
    int64_t nsample = ns < LK_MAX_SEEDS ? ns : LK_MAX_SEEDS;
    int64_t *sample = malloc((size_t)(nsample ? nsample : 1) * sizeof *sample);
    *owner = *view = NULL;
    if (!sample) return lk_fail("out of memory");
    /* a popular item has a large share of all users as buyers: an evenly spaced sample of
     * them describes it as well and keeps the search cost bounded */
    for (int64_t i = 0; i < nsample; i++) sample[i] = seeds[(int64_t)((double)i * (double)ns / (double)nsample)];
    int grc = lk_gather(als_model_user_factors(d->model), sample, nsample, meta->cosine, owner, kept);
    free(sample);
    if (grc) return LK_EXIT_FAIL;
    if (*kept == 0) {
        als_matrix_destroy(*owner);
        *owner = NULL;
        return lk_fail("none of the %lld seed users has a (non-zero) vector in the model",
                       (long long)ns);
    }
    int rc = als_matrix_view_rows(view, *owner, 0, *kept);
    if (rc) {
        als_matrix_destroy(*owner);
        *owner = NULL;
        return lk_lib_fail("seed vectors", rc);
    }
    return 0;
}

/* auto k: neighbours enough to fill the audience four times over (they overlap), at least
 * 32 (more neighbours smooth the sum, docs/lookalike.md) */
int64_t lk_i2u2u_auto_k(int64_t n, int64_t kept) {
    int64_t k = kept > 0 ? (4 * n + kept - 1) / kept : 32;
    return k < 32 ? 32 : k;
}

int64_t lk_seed_kept(const lk_data *d, const int64_t *seeds, int64_t ns) {
    const als_matrix *f = als_model_user_factors(d->model);
    int64_t r = als_matrix_cols(f), st = als_matrix_stride(f), m = 0;
    int64_t nsample = ns < LK_MAX_SEEDS ? ns : LK_MAX_SEEDS;
    const float *src = als_matrix_data_const(f);
    for (int64_t i = 0; i < nsample; i++) { /* the sample and the test of lk_gather */
        const float *v = src + seeds[(int64_t)((double)i * (double)ns / (double)nsample)] * st;
        double nn = 0;
        for (int64_t c = 0; c < r; c++) nn += (double)v[c] * v[c];
        m += nn != 0;
    }
    return m;
}

static int route_i2u2u(const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                       const int64_t *seeds, int64_t ns, const lk_route_opts *o, int64_t n,
                       int64_t *rows_out, float *scores_out, int64_t *found) {
    als_matrix *q = NULL, *view = NULL;
    int64_t kept;
    if (lk_seed_vectors(d, meta, seeds, ns, &q, &view, &kept)) return LK_EXIT_FAIL;
    int64_t k = o->k > 0 ? o->k : lk_i2u2u_auto_k(n, kept);
    int agg = o->agg >= 0 ? o->agg : meta->metric == VECIDX_METRIC_L2 ? VECIDX_AGG_MAX : VECIDX_AGG_SUM;
    int rc = expand_vectors(d, idx, view, k, agg, seeds, ns, o->nprobe, n, rows_out, scores_out, found);
    als_matrix_destroy(view);
    als_matrix_destroy(q);
    return rc;
}

static int route_i2u(const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                     const int64_t *items, int64_t n_items, const int64_t *buyers, int64_t nb,
                     int64_t nprobe, int64_t n, int64_t *rows_out, float *scores_out,
                     int64_t *found) {
    als_matrix *q = NULL, *view = NULL, *uf = NULL;
    vecidx *exact = NULL;
    int64_t kept;
    if (lk_gather(als_model_item_factors(d->model), items, n_items, 0, &q, &kept))
        return LK_EXIT_FAIL;
    if (kept == 0) {
        als_matrix_destroy(q);
        return lk_fail("i2u: the target item has a zero vector (no usable interactions)");
    }
    int rc = als_matrix_view_rows(&view, q, 0, kept);
    /* The model's score is x_u . y_i. A cosine or L2 index ranks by something else, so then
     * the raw user factors are scanned exactly (one query: cheap next to anything else). */
    const vecidx *use = idx;
    if (!rc && (meta->cosine || meta->metric != VECIDX_METRIC_IP || !idx)) {
        const als_matrix *f = als_model_user_factors(d->model);
        rc = als_matrix_wrap(&uf, (float *)als_matrix_data_const(f), d->nu, d->rank,
                             als_matrix_stride(f));
        if (!rc) rc = vecidx_flat_create(&exact, d->rank, VECIDX_METRIC_IP);
        if (!rc) rc = vecidx_add(exact, uf, d->user_ids);
        use = exact;
    } else if (!rc && vecidx_kind(idx) == VECIDX_KIND_IVF) {
        /* probe enough lists to hold the audience twice over */
        int64_t nl = vecidx_nlist(idx);
        int64_t need = (int64_t)ceil(2.0 * (double)(n + nb) * (double)nl / (double)d->nu);
        if (need > nprobe) nprobe = need > nl ? nl : need;
    }
    if (rc) {
        rc = lk_lib_fail("i2u", rc);
    } else {
        rc = expand_vectors(d, use, view, n + nb, VECIDX_AGG_MAX, buyers, nb, nprobe, n, rows_out,
                            scores_out, found);
    }
    vecidx_destroy(exact);
    als_matrix_destroy(uf);
    als_matrix_destroy(view);
    als_matrix_destroy(q);
    return rc;
}

typedef struct {
    double s;
    int64_t id, row;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int route_i2i2u(const lk_data *d, const int64_t *items, int64_t n_items,
                       const int64_t *buyers, int64_t nb, const lk_route_opts *o, int64_t n,
                       int64_t *rows_out, float *scores_out, int64_t *found) {
    const als_matrix *itf = als_model_item_factors(d->model);
    als_matrix *all = NULL, *q = NULL, *view = NULL;
    vecidx *ii = NULL;
    vecidx_filter *f = NULL;
    float *sc = NULL;
    int64_t *id = NULL, kept;
    double *best = NULL, *score = NULL;
    unsigned char *excl = NULL;
    int64_t *order = NULL;
    cand *c = NULL;
    int rc = 0;
    /* similar items: cosine over the item factors, the targets themselves excluded */
    int64_t ni = d->ni;
    if ((rc = als_matrix_create(&all, ni, d->rank))) goto lib;
    for (int64_t j = 0; j < ni; j++)
        memcpy(als_matrix_data(all) + j * d->rank,
               als_matrix_data_const(itf) + j * als_matrix_stride(itf),
               (size_t)d->rank * sizeof(float));
    if ((rc = als_matrix_normalize_rows(all)) || (rc = vecidx_flat_create(&ii, d->rank, VECIDX_METRIC_IP)) ||
        (rc = vecidx_add(ii, all, NULL)) || (rc = vecidx_filter_create(&f, items, n_items, VECIDX_FILTER_EXCLUDE)))
        goto lib;
    if (lk_gather(itf, items, n_items, 1, &q, &kept)) { rc = LK_EXIT_FAIL; goto out; }
    if (kept == 0) {
        rc = lk_fail("i2i2u: the target item has a zero vector (no usable interactions)");
        goto out;
    }
    if ((rc = als_matrix_view_rows(&view, q, 0, kept))) goto lib;
    sc = malloc((size_t)(kept * ni) * sizeof *sc);
    id = malloc((size_t)(kept * ni) * sizeof *id);
    best = malloc((size_t)ni * sizeof *best);
    order = malloc((size_t)ni * sizeof *order);
    score = calloc((size_t)d->nu, sizeof *score);
    excl = calloc((size_t)d->nu + 1, 1);
    if (!sc || !id || !best || !order || !score || !excl) { rc = lk_fail("out of memory"); goto out; }
    if ((rc = vecidx_search_filtered(ii, view, ni, f, sc, id))) goto lib;
    /* an item's similarity to several targets: the best one */
    for (int64_t j = 0; j < ni; j++) best[j] = -INFINITY;
    for (int64_t t = 0; t < kept * ni; t++)
        if (id[t] >= 0 && sc[t] > best[id[t]]) best[id[t]] = sc[t];
    int64_t no = 0;
    for (int64_t t = 0; t < ni; t++) /* the first query's order, then the others' */
        if (id[t] >= 0) order[no++] = id[t];
    if (kept > 1) { /* re-sort by best similarity (few items: insertion sort is fine) */
        for (int64_t a = 1; a < no; a++) {
            int64_t x = order[a], b = a;
            while (b > 0 && best[order[b - 1]] < best[x]) { order[b] = order[b - 1]; b--; }
            order[b] = x;
        }
    }
    for (int64_t i = 0; i < nb; i++) excl[buyers[i]] = 1;
    int64_t ncand = 0, used = 0;
    for (int64_t t = 0; t < no; t++) {
        int64_t j = order[t];
        if (o->k > 0 ? used >= o->k : (used >= 10 && ncand >= n)) break;
        if (!(best[j] > 0)) break; /* dissimilar items only add noise */
        used++;
        for (int64_t p = d->item_ptr[j]; p < d->item_ptr[j + 1]; p++) {
            int32_t u = d->item_users[p];
            if (excl[u]) continue;
            if (score[u] == 0) ncand++;
            score[u] += best[j];
        }
    }
    c = malloc((size_t)(ncand ? ncand : 1) * sizeof *c);
    if (!c) { rc = lk_fail("out of memory"); goto out; }
    int64_t m = 0;
    for (int64_t u = 0; u < d->nu; u++)
        if (score[u] > 0) c[m++] = (cand){score[u], d->user_ids[u], u};
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
    *found = m < n ? m : n;
    for (int64_t i = 0; i < *found; i++) {
        rows_out[i] = c[i].row;
        if (scores_out) scores_out[i] = (float)c[i].s;
    }
    goto out;
lib:
    rc = lk_lib_fail("i2i2u", rc);
out:
    free(c);
    free(excl);
    free(score);
    free(order);
    free(best);
    free(id);
    free(sc);
    vecidx_filter_destroy(f);
    vecidx_destroy(ii);
    als_matrix_destroy(view);
    als_matrix_destroy(q);
    als_matrix_destroy(all);
    return rc;
}

/* seedclf: a logistic scorer of the seeds against a sample of the other users (their
 * vectors in the index's space: normalized for cosine), then every non-seed user scored
 * by it, best first (ties: smaller id). */
static int route_seedclf(const lk_data *d, const lk_index_meta *meta, const int64_t *seeds,
                         int64_t ns, double activity, int64_t n, int64_t *rows_out,
                         float *scores_out, int64_t *found) {
    const als_matrix *uf = als_model_user_factors(d->model);
    int64_t r = d->rank, st = als_matrix_stride(uf), nu = d->nu;
    const float *U = als_matrix_data_const(uf);
    unsigned char *is_seed = calloc((size_t)nu + 1, 1);
    if (!is_seed) return lk_fail("out of memory");
    for (int64_t i = 0; i < ns; i++) is_seed[seeds[i]] = 1;
    int64_t n_other = 0;
    for (int64_t u = 0; u < nu; u++) n_other += !is_seed[u];
    /* at most 100 K seeds (evenly spaced), unlabeled: 4 per seed, 20 K to 200 K */
    int64_t np = ns < 100000 ? ns : 100000, nn = 4 * np;
    if (nn < 20000) nn = 20000;
    if (nn > 200000) nn = 200000;
    if (nn > n_other) nn = n_other;
    int rc = 0;
    als_matrix *pos = NULL, *unl = NULL;
    float *w = malloc((size_t)r * sizeof *w);
    double *sc = NULL;
    cand *c = NULL;
    if (!w || np == 0 || nn == 0) {
        rc = !w ? lk_fail("out of memory")
                : lk_fail("seedclf: needs seeds and other users (%lld seeds, %lld others)",
                          (long long)ns, (long long)n_other);
        goto out;
    }
    if ((rc = als_matrix_create(&pos, np, r)) || (rc = als_matrix_create(&unl, nn, r))) {
        rc = lk_lib_fail("seedclf", rc);
        goto out;
    }
    for (int64_t i = 0; i < np; i++)
        memcpy(als_matrix_data(pos) + i * r, U + seeds[(int64_t)((double)i * (double)ns / (double)np)] * st,
               (size_t)r * sizeof(float));
    for (int64_t u = 0, k = 0, seen = 0; u < nu && k < nn; u++) { /* evenly over the others */
        if (is_seed[u]) continue;
        if ((int64_t)((double)seen++ * (double)nn / (double)n_other) == k)
            memcpy(als_matrix_data(unl) + k++ * r, U + u * st, (size_t)r * sizeof(float));
    }
    if (meta->cosine && ((rc = als_matrix_normalize_rows(pos)) || (rc = als_matrix_normalize_rows(unl)))) {
        rc = lk_lib_fail("seedclf", rc);
        goto out;
    }
    float bias = 0;
    if ((rc = vecidx_seed_scorer(pos, unl, 0.01, 15, w, &bias))) {
        rc = lk_lib_fail("seedclf", rc);
        goto out;
    }
    c = malloc((size_t)(n_other ? n_other : 1) * sizeof *c);
    if (!c) { rc = lk_fail("out of memory"); goto out; }
    int64_t m = 0;
    for (int64_t u = 0; u < nu; u++) {
        if (is_seed[u]) continue;
        const float *x = U + u * st;
        double s = 0, nrm = 0;
        for (int64_t j = 0; j < r; j++) s += (double)w[j] * x[j], nrm += (double)x[j] * x[j];
        if (meta->cosine) s = nrm > 0 ? s / sqrt(nrm) : 0;
        if (activity > 0) { /* log(P(seed-like | x) x activity^a): taste times how much one buys */
            double z = s + bias, lp = z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z));
            s = lp + activity * log((double)(d->user_count[u] > 0 ? d->user_count[u] : 1));
        }
        c[m++] = (cand){s, d->user_ids[u], u};
    }
    qsort(c, (size_t)m, sizeof *c, cand_cmp);
    *found = m < n ? m : n;
    for (int64_t i = 0; i < *found; i++) {
        rows_out[i] = c[i].row;
        if (scores_out) scores_out[i] = (float)c[i].s;
    }
out:
    free(c);
    free(sc);
    free(w);
    free(is_seed);
    als_matrix_destroy(pos);
    als_matrix_destroy(unl);
    return rc;
}

/* blend: reciprocal-rank fusion (Cormack et al., 2009) of the routes in o->blend, each
 * asked for the same audience size: score(u) = sum over routes of 1 / (60 + rank), rank
 * 1-based, a user absent from a route's audience adding nothing; best first, ties by
 * smaller id. Each route already excludes the seeds; the fusion de-duplicates. */
int lk_blend_fuse(const lk_data *d, const int64_t *const *lists, const int64_t *lens, int nl,
                  int64_t n, int64_t *rows_out, float *scores_out, int64_t *found) {
    int64_t total = 0, nt = 0;
    for (int b = 0; b < nl; b++) total += lens[b];
    double *fused = calloc((size_t)d->nu + 1, sizeof *fused);
    int64_t *touched = malloc((size_t)(total ? total : 1) * sizeof *touched);
    cand *c = NULL;
    int rc = fused && touched ? 0 : lk_fail("out of memory");
    for (int b = 0; b < nl && !rc; b++)
        for (int64_t i = 0; i < lens[b]; i++) {
            int64_t u = lists[b][i];
            if (fused[u] == 0) touched[nt++] = u;
            fused[u] += 1.0 / (60.0 + (double)(i + 1));
        }
    if (!rc && !(c = malloc((size_t)(nt ? nt : 1) * sizeof *c))) rc = lk_fail("out of memory");
    if (!rc) {
        for (int64_t i = 0; i < nt; i++) c[i] = (cand){fused[touched[i]], d->user_ids[touched[i]], touched[i]};
        qsort(c, (size_t)nt, sizeof *c, cand_cmp);
        *found = nt < n ? nt : n;
        for (int64_t i = 0; i < *found; i++) {
            rows_out[i] = c[i].row;
            if (scores_out) scores_out[i] = (float)c[i].s;
        }
    }
    free(c);
    free(touched);
    free(fused);
    return rc;
}

static int route_blend(const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                       const int64_t *items, int64_t n_items, const int64_t *seed_users,
                       int64_t n_seeds, const lk_route_opts *o, int64_t n, int64_t *rows_out,
                       float *scores_out, int64_t *found) {
    int64_t *lists[LK_MAX_BLEND] = {NULL}, lens[LK_MAX_BLEND];
    int rc = 0, ran = 0;
    lk_route_opts sub = *o;
    sub.nblend = 0;
    for (int b = 0; b < o->nblend && !rc; b++) {
        if (seed_users && o->blend[b] != LK_ROUTE_I2U2U && o->blend[b] != LK_ROUTE_SEEDCLF &&
            o->blend[b] != LK_ROUTE_I2C2U && o->blend[b] != LK_ROUTE_I2S2U)
            continue; /* routes that start from an item have nothing to do with seed users */
        if (!(lists[ran] = malloc((size_t)n * sizeof **lists))) { rc = lk_fail("out of memory"); break; }
        rc = lk_route_run(o->blend[b], d, idx, meta, items, n_items, seed_users, n_seeds, &sub,
                          n, lists[ran], NULL, &lens[ran]);
        ran++;
    }
    if (!rc && ran == 0) rc = lk_usage_error("blend: none of its routes works from seed users");
    if (!rc) rc = lk_blend_fuse(d, (const int64_t *const *)lists, lens, ran, n, rows_out, scores_out, found);
    for (int b = 0; b < LK_MAX_BLEND; b++) free(lists[b]);
    return rc;
}

int lk_route_run(int route, const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                 const int64_t *items, int64_t n_items, const int64_t *seed_users,
                 int64_t n_seeds, const lk_route_opts *o, int64_t n, int64_t *rows_out,
                 float *scores_out, int64_t *found) {
    int64_t *buyers = NULL, nb = 0;
    int rc;
    *found = 0;
    if (o->nprobe > 0 && (!idx || vecidx_kind(idx) != VECIDX_KIND_IVF))
        return lk_usage_error("--nprobe applies to an IVF index; this index is %s (exact: "
                              "there are no lists to probe)", idx ? "flat" : "absent");
    /* IVF: 8 lists per query unless told (the library's default of 1 starves i2u2u), as
     * this call's own setting (vecidx_params), never written into the shared index */
    lk_route_opts ro = *o;
    if (idx && vecidx_kind(idx) == VECIDX_KIND_IVF && ro.nprobe <= 0) ro.nprobe = 8;
    o = &ro;
    if (route == LK_ROUTE_BLEND) return route_blend(d, idx, meta, items, n_items, seed_users,
                                                    n_seeds, o, n, rows_out, scores_out, found);
    if (seed_users) {
        if (route == LK_ROUTE_SEEDCLF)
            return route_seedclf(d, meta, seed_users, n_seeds, o->activity, n, rows_out, scores_out, found);
        if (route == LK_ROUTE_I2C2U)
            return lk_route_i2c2u(d, idx, meta, seed_users, n_seeds, o, n, rows_out, scores_out, found);
        if (route == LK_ROUTE_I2S2U)
            return lk_route_i2s2u(d, seed_users, n_seeds, o, n, rows_out, scores_out, found);
        if (route != LK_ROUTE_I2U2U)
            return lk_usage_error("--seeds works with --route i2u2u, i2c2u, seedclf, i2s2u or a blend of them");
        return route_i2u2u(d, idx, meta, seed_users, n_seeds, o, n, rows_out, scores_out, found);
    }
    if (lk_buyers(d, items, n_items, &buyers, &nb)) return LK_EXIT_FAIL;
    if (route == LK_ROUTE_I2U2U) {
        if (nb == 0) rc = lk_fail("i2u2u: the target item has no buyers to use as seeds");
        else rc = route_i2u2u(d, idx, meta, buyers, nb, o, n, rows_out, scores_out, found);
        /* (route_i2u2u samples at most LK_MAX_SEEDS of them; all stay excluded) */
    } else if (route == LK_ROUTE_I2C2U) {
        if (nb == 0) rc = lk_fail("i2c2u: the target item has no buyers to use as seeds");
        else rc = lk_route_i2c2u(d, idx, meta, buyers, nb, o, n, rows_out, scores_out, found);
    } else if (route == LK_ROUTE_I2S2U) {
        rc = lk_route_i2s2u(d, buyers, nb, o, n, rows_out, scores_out, found);
    } else if (route == LK_ROUTE_SEEDCLF) {
        if (nb == 0) rc = lk_fail("seedclf: the target item has no buyers to learn from");
        else rc = route_seedclf(d, meta, buyers, nb, o->activity, n, rows_out, scores_out, found);
    } else if (route == LK_ROUTE_I2U) {
        rc = route_i2u(d, idx, meta, items, n_items, buyers, nb, o->nprobe, n, rows_out,
                       scores_out, found);
    } else {
        rc = route_i2i2u(d, items, n_items, buyers, nb, o, n, rows_out, scores_out, found);
    }
    free(buyers);
    return rc;
}
