/* lookalike: route i2s2u (item -> segments -> users).
 *
 * The next buyers of an item are, to a first approximation, users who buy a lot times the
 * share of purchases that goes to the item among users of their taste. i2s2u estimates
 * both from the training log and the user vectors: the users are cut into taste segments
 * by spherical k-means over their unit vectors, each segment's rate for the target is its
 * number of seeds (the target's buyers) over its number of purchases, and a user's score
 * is their purchases times their segment's rate: their expected purchases of the target
 * if they bought like their segment. A user who buys by popularity sits in a segment of
 * such users, whose rate is the item's popularity, so heavy buyers are ranked by what
 * they do, not by activity alone; a diverse seed set lifts every segment it touches in
 * proportion to its share there. The k-means runs SEG_RUNS times (different k-means++
 * seeds and samples) and the rates are averaged over the runs, which smooths the
 * segments' borders. Ties: the more active user, then the smaller id. Deterministic.
 *
 * The segments depend on the model alone, so they are computed once per model (on the
 * first i2s2u audience) and kept in lk_data: an audience then costs one pass over the
 * seeds and one over the users. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

#define SEG_RUNS 5        /* k-means runs averaged */
#define SEG_FIT_PER 64    /* k-means fits on at most this many users per segment (a sample) */

int64_t lk_segments_auto(const lk_data *d, int64_t segments) {
    if (segments > 0) return segments < d->nu ? segments : d->nu;
    int64_t c = (int64_t)llround(sqrt((double)d->nu / 2.0)); /* then 2 c users a segment */
    if (c < 2) c = 2;
    if (c > 256) c = 256;
    return c < d->nu ? c : d->nu;
}

/* Each run: k-means on an evenly spaced sample of the unit user vectors, then every user
 * to its most similar centroid. */
static int segments_build(lk_data *d, int64_t c) {
    int64_t nu = d->nu, r = d->rank, fit = c * SEG_FIT_PER < nu ? c * SEG_FIT_PER : nu;
    const als_matrix *uf = als_model_user_factors(d->model);
    float *x = malloc((size_t)(nu * r) * sizeof *x), *xs = malloc((size_t)(fit * r) * sizeof *xs);
    float *cent = malloc((size_t)(c * r) * sizeof *cent);
    int32_t *as = malloc((size_t)fit * sizeof *as), *seg = malloc((size_t)(nu * SEG_RUNS) * sizeof *seg);
    if (!x || !xs || !cent || !as || !seg) {
        free(x); free(xs); free(cent); free(as); free(seg);
        return lk_fail("i2s2u: out of memory for the segments of %lld users", (long long)nu);
    }
    for (int64_t u = 0; u < nu; u++) {
        const float *f = als_matrix_data_const(uf) + u * als_matrix_stride(uf);
        double nn = 0;
        for (int64_t j = 0; j < r; j++) nn += (double)f[j] * f[j];
        double s = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
        for (int64_t j = 0; j < r; j++) x[u * r + j] = (float)(f[j] * s);
    }
    int rc = 0;
    for (int run = 0; run < SEG_RUNS && !rc; run++) {
        /* the sample: fit users spaced nu / fit apart, from an offset that moves per run */
        for (int64_t i = 0; i < fit; i++) {
            int64_t u = (int64_t)(((double)i + (double)run / SEG_RUNS) * (double)nu / (double)fit);
            if (u >= nu) u = nu - 1;
            memcpy(xs + i * r, x + u * r, (size_t)r * sizeof(float));
        }
        int64_t k = lk_kmeans(xs, fit, r, c, 1, 1000 + (uint64_t)run, cent, as);
        if (k < 1) { rc = lk_fail("i2s2u: k-means failed (out of memory)"); break; }
        int32_t *out = seg + (size_t)run * (size_t)nu;
#pragma omp parallel for schedule(static)
        for (int64_t u = 0; u < nu; u++) {
            int32_t best = 0;
            double bs = -INFINITY;
            for (int64_t q = 0; q < k; q++) {
                double s = 0;
                for (int64_t j = 0; j < r; j++) s += (double)x[u * r + j] * cent[q * r + j];
                if (s > bs) { bs = s; best = (int32_t)q; }
            }
            out[u] = best;
        }
    }
    free(x); free(xs); free(cent); free(as);
    if (rc) {
        free(seg);
        return rc;
    }
    free(d->seg);
    d->seg = seg;
    d->seg_c = c;
    d->seg_runs = SEG_RUNS;
    /* a test hook: the segments as user_id,run,segment, for the test suite's reference of
     * the scores (tests/test_lookalike.sh) */
    const char *dump = getenv("LOOKALIKE_SEGMENTS_DUMP");
    if (dump) {
        FILE *f = fopen(dump, "w");
        if (!f) return lk_fail("i2s2u: cannot write %s", dump);
        for (int run = 0; run < SEG_RUNS; run++)
            for (int64_t u = 0; u < nu; u++)
                fprintf(f, "%lld,%d,%d\n", (long long)d->user_ids[u], run, seg[(size_t)run * (size_t)nu + (size_t)u]);
        if (fclose(f)) return lk_fail("i2s2u: cannot write %s", dump);
    }
    return 0;
}

typedef struct {
    double s;
    int64_t act, id, row;
} seg_cand;

static int seg_cmp(const void *a, const void *b) {
    const seg_cand *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    if (x->act != y->act) return x->act > y->act ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int lk_route_i2s2u(const lk_data *dc, const int64_t *seeds, int64_t ns, const lk_route_opts *o,
                   int64_t n, int64_t *rows_out, float *scores_out, int64_t *found) {
    lk_data *d = (lk_data *)dc; /* the segments are a cache of the model's: see above */
    int64_t c = lk_segments_auto(d, o->segments), nu = d->nu;
    *found = 0;
    if (ns == 0) return lk_fail("i2s2u: no seeds (the target item has no buyers)");
    int rc;
    if ((!d->seg || d->seg_c != c) && (rc = segments_build(d, c))) return rc;
    double *num = calloc((size_t)c, sizeof *num), *den = calloc((size_t)c, sizeof *den);
    double *rate = calloc((size_t)nu, sizeof *rate);
    unsigned char *is_seed = calloc((size_t)nu, 1);
    seg_cand *cd = malloc((size_t)(nu ? nu : 1) * sizeof *cd);
    if (!num || !den || !rate || !is_seed || !cd) {
        rc = lk_fail("out of memory");
        goto out;
    }
    for (int64_t i = 0; i < ns; i++) is_seed[seeds[i]] = 1;
    for (int run = 0; run < d->seg_runs; run++) {
        const int32_t *sg = d->seg + (size_t)run * (size_t)nu;
        memset(num, 0, (size_t)c * sizeof *num);
        memset(den, 0, (size_t)c * sizeof *den);
        for (int64_t u = 0; u < nu; u++) {
            num[sg[u]] += is_seed[u];
            den[sg[u]] += (double)d->user_count[u];
        }
        for (int64_t u = 0; u < nu; u++)
            if (den[sg[u]] > 0) rate[u] += num[sg[u]] / den[sg[u]] / d->seg_runs;
    }
    int64_t m = 0;
    for (int64_t u = 0; u < nu; u++)
        if (!is_seed[u])
            cd[m++] = (seg_cand){(double)d->user_count[u] * rate[u], d->user_count[u], d->user_ids[u], u};
    qsort(cd, (size_t)m, sizeof *cd, seg_cmp);
    *found = m < n ? m : n;
    for (int64_t i = 0; i < *found; i++) {
        rows_out[i] = cd[i].row;
        if (scores_out) scores_out[i] = (float)cd[i].s;
    }
    rc = 0;
out:
    free(num); free(den); free(rate); free(is_seed); free(cd);
    return rc;
}
