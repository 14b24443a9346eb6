/* vecidx_expand: many seeds -> one ranked, de-duplicated audience. Each seed's top-k comes
 * from the index's own search (flat or IVF, with the filter on the fast path); the
 * (id, score) pairs are sorted by id, aggregated per id, and the best N are selected with
 * the shared top-k heap. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

typedef struct {
    int64_t id;
    float s;
} pair;

static int cmp_pair(const void *a, const void *b) {
    const pair *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int expand(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                  const vecidx_params *params, const vecidx_filter *filter, int64_t n_out,
                  int64_t *ids_out, float *scores_out, int64_t *n_found) {
    if (!idx || !seeds || !ids_out) return als__errf(ALS_EINVAL, "vecidx_expand: NULL argument");
    if (agg != VECIDX_AGG_MAX && agg != VECIDX_AGG_SUM && agg != VECIDX_AGG_MEAN)
        return als__errf(ALS_EINVAL, "vecidx_expand: unknown aggregate %d", agg);
    int l2 = idx->metric == VECIDX_METRIC_L2;
    if (agg == VECIDX_AGG_SUM && l2)
        return als__errf(ALS_EINVAL, "vecidx_expand: VECIDX_AGG_SUM needs inner product (a sum of distances ranks nothing useful)");
    if (k < 1 || n_out < 1)
        return als__errf(ALS_ERANGE, "vecidx_expand: k = %lld and n_out = %lld must be >= 1", (long long)k, (long long)n_out);
    int rc0 = als__out_fits(1, n_out, sizeof(int64_t) + (scores_out ? sizeof(float) : 0),
                            "vecidx_expand", "n_out");
    if (rc0) return rc0;
    if (n_found) *n_found = 0;
    /* A seed cannot have more neighbours than the index holds: the rest would be padding,
     * and ns x k buffers sized by a huge k would only waste (or exhaust) memory. */
    if (k > idx->n) k = idx->n > 0 ? idx->n : 1;
    int64_t ns = als_matrix_rows(seeds);
    size_t cells;
    if (als__mul((size_t)ns, (size_t)k, &cells)) return als__errf(ALS_ENOMEM, "vecidx_expand: ns x k overflows");
    float *sc = malloc((cells ? cells : 1) * sizeof(float));
    int64_t *id = malloc((cells ? cells : 1) * sizeof(int64_t));
    pair *pr = malloc((cells ? cells : 1) * sizeof(pair));
    int64_t hk = n_out < (int64_t)(cells ? cells : 1) ? n_out : (int64_t)(cells ? cells : 1);
    float *hs = malloc((size_t)hk * sizeof(float));
    int64_t *hid = malloc((size_t)hk * sizeof(int64_t));
    int rc = ALS_OK;
    if (!sc || !id || !pr || !hs || !hid) {
        rc = als__errf(ALS_ENOMEM, "vecidx_expand: out of memory for %lld seeds x k = %lld", (long long)ns, (long long)k);
        goto done;
    }
    rc = vecidx__search(idx, seeds, k, params, filter, sc, id, "vecidx_expand");
    if (rc) goto done;
    size_t np = 0;
    for (size_t t = 0; t < cells; t++)
        if (id[t] != -1) pr[np++] = (pair){id[t], sc[t]};
    qsort(pr, np, sizeof(pair), cmp_pair);
    /* Aggregate runs of one id; the heap keeps the best n_out ("bigger is better", so
     * distances enter negated). */
    als__heap h = {hs, hid, hk, 0};
    for (size_t a = 0; a < np;) {
        size_t b = a;
        double sum = 0.0;
        float best = pr[a].s;
        for (; b < np && pr[b].id == pr[a].id; b++) {
            sum += pr[b].s;
            if (l2 ? pr[b].s < best : pr[b].s > best) best = pr[b].s;
        }
        float v = agg == VECIDX_AGG_MAX ? best : agg == VECIDX_AGG_SUM ? (float)sum : (float)(sum / (double)(b - a));
        float key = l2 ? -v : v;
        if (als__heap_accepts(&h, key, pr[a].id)) als__heap_push(&h, key, pr[a].id);
        a = b;
    }
    als__heap_sort(&h);
    for (int64_t r = 0; r < n_out; r++) {
        int in = r < h.n;
        ids_out[r] = in ? h.id[r] : -1;
        if (scores_out) scores_out[r] = in ? (l2 ? -h.s[r] : h.s[r]) : NAN;
    }
    if (n_found) *n_found = h.n;
done:
    free(sc);
    free(id);
    free(pr);
    free(hs);
    free(hid);
    return rc;
}

VECIDX_API int vecidx_expand(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                             const vecidx_filter *filter, int64_t n_out, int64_t *ids_out,
                             float *scores_out, int64_t *n_found) {
    return expand(idx, seeds, k, agg, NULL, filter, n_out, ids_out, scores_out, n_found);
}

VECIDX_API int vecidx_expand_with(const vecidx *idx, const als_matrix *seeds, int64_t k, int agg,
                                  const vecidx_params *params, int64_t n_out, int64_t *ids_out,
                                  float *scores_out, int64_t *n_found) {
    return expand(idx, seeds, k, agg, params, NULL, n_out, ids_out, scores_out, n_found);
}
