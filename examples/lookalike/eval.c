/* lookalike: how well a route's audiences find a target item's new buyers, shared by
 * backtest and tune so that both count the same way. For one target: seeds = its buyers
 * in the training part; new buyers = users of the measured part who are known to the
 * model and had not bought it before. Each route's audience of each size (its own run,
 * as `expand --audience N` would give) is compared with them; sums over the targets are
 * micro-averages. Baselines of the same size: random (the expected hits: size x the new
 * buyers' share of the eligible users) and the most active users. */
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

int lk_target_init(lk_target *g, const lk_data *d, int64_t item, int64_t stamp,
                   const lk_rows *test, int64_t *mark) {
    memset(g, 0, sizeof *g);
    g->item = item;
    g->stamp = stamp;
    if (lk_buyers(d, &item, 1, &g->buyers, &g->nb)) return LK_EXIT_FAIL;
    int64_t it_id = d->item_ids[item];
    for (int64_t i = 0; i < g->nb; i++) mark[g->buyers[i]] = -2 - stamp; /* earlier buyer */
    for (int64_t i = 0; i < test->n; i++) {
        if (test->it[i] != it_id) continue;
        int64_t u = als_model_user_row(d->model, test->u[i]);
        if (u >= 0 && mark[u] != -2 - stamp && mark[u] != stamp) {
            mark[u] = stamp;
            g->nnew++;
        }
    }
    g->base = d->nu > g->nb ? (double)g->nnew / (double)(d->nu - g->nb) : 0;
    return 0;
}

void lk_target_free(lk_target *g) {
    free(g->buyers);
    g->buyers = NULL;
}

/* Hits of a ranked audience at sizes[s0..s1) (prefixes of it). */
static void count_hits(lk_score *S, const int64_t *rows, int64_t found, const int64_t *mark,
                       const lk_target *g, const int64_t *sizes, int s0, int s1) {
    int64_t h = 0, j = 0;
    for (int s = s0; s < s1; s++) {
        int64_t lim = sizes[s] < found ? sizes[s] : found;
        for (; j < lim; j++) h += mark[rows[j]] == g->stamp;
        S->hits[s] += (double)h;
        S->aud[s] += (double)lim;
        S->rnd[s] += (double)lim * g->base;
    }
}

/* AUC and decile hits of one ranking (rows[0..found), best first) of the eligible users
 * (n_elig of them, n_new new buyers among them). The users the ranking leaves out are
 * tied after it: they count as half-ordered pairs among themselves, and their new buyers
 * as spread evenly over the positions they share. */
static void rank_stats(lk_score *S, const int64_t *rows, int64_t found, const int64_t *mark,
                       int64_t stamp, int64_t n_elig, int64_t n_new) {
    if (n_new == 0 || n_elig <= n_new) return;
    int64_t n_other = n_elig - n_new, hits = 0, others_seen = 0;
    double ordered = 0.0;
    for (int64_t j = 0; j < found; j++) {
        if (mark[rows[j]] == stamp) hits++;
        else others_seen++;
    }
    int64_t left_new = n_new - hits, left_other = n_other - others_seen, seen = 0;
    for (int64_t j = 0; j < found; j++) {
        if (mark[rows[j]] == stamp) {
            ordered += (double)(n_other - seen); /* every other user not yet passed */
            S->dec_hits[j * 10 / n_elig] += 1.0;
        } else {
            seen++;
        }
    }
    ordered += 0.5 * (double)left_new * (double)left_other;
    S->auc_num += ordered;
    S->auc_den += (double)n_new * (double)n_other;
    /* the unranked tail, positions found .. n_elig - 1: its new buyers spread evenly */
    int64_t tail = n_elig - found;
    for (int b = 0; b < 10 && tail > 0; b++) {
        int64_t lo = b * n_elig / 10, hi = (b + 1) * n_elig / 10;
        int64_t ov = (hi < n_elig ? hi : n_elig) - (lo > found ? lo : found);
        if (ov > 0) S->dec_hits[b] += (double)left_new * (double)ov / (double)tail;
    }
    S->dec_new += (double)n_new;
}

int lk_route_needs_seeds(int route) {
    return route == LK_ROUTE_I2U2U || route == LK_ROUTE_SEEDCLF || route == LK_ROUTE_BLEND ||
           route == LK_ROUTE_I2C2U || route == LK_ROUTE_I2S2U;
}

/* A blend at every size: each of its routes whose audiences are prefixes of one ranking
 * (i2u, seedclf, a fixed k, or i2u2u's auto k when it is the same at every size) runs once
 * at the largest size and is cut to each size; the others run per size; then the fusion,
 * as route_blend would do it at that size. */
static int score_blend(lk_score *S, const lk_route_opts *o, const lk_data *d, const vecidx *idx,
                       const lk_index_meta *meta, const lk_target *g, const int64_t *mark,
                       const int64_t *sizes, int ns, int64_t *rows, float *sc, double *secs) {
    int64_t nmax = sizes[ns - 1], *lists[LK_MAX_BLEND] = {NULL}, full[LK_MAX_BLEND], lens[LK_MAX_BLEND];
    int stable[LK_MAX_BLEND], rc = 0;
    lk_route_opts sub[LK_MAX_BLEND];
    double t0 = lk_now();
    for (int b = 0; b < o->nblend && !rc; b++) {
        int r = o->blend[b];
        sub[b] = *o;
        sub[b].nblend = 0;
        stable[b] = r == LK_ROUTE_I2U || r == LK_ROUTE_SEEDCLF || o->k > 0;
        if (r == LK_ROUTE_I2U2U && o->k == 0) {
            int64_t kept = lk_seed_kept(d, g->buyers, g->nb);
            if (kept > 0 && lk_i2u2u_auto_k(sizes[0], kept) == lk_i2u2u_auto_k(nmax, kept)) {
                stable[b] = 1;
                sub[b].k = lk_i2u2u_auto_k(nmax, kept);
            }
        }
        if (!(lists[b] = malloc((size_t)nmax * sizeof **lists))) rc = lk_fail("out of memory");
        else if (stable[b])
            rc = lk_route_run(r, d, idx, meta, &g->item, 1, NULL, 0, &sub[b], nmax, lists[b], NULL, &full[b]);
    }
    for (int s = 0; s < ns && !rc; s++) {
        int64_t found = 0;
        for (int b = 0; b < o->nblend && !rc; b++) {
            if (stable[b]) lens[b] = full[b] < sizes[s] ? full[b] : sizes[s];
            else rc = lk_route_run(o->blend[b], d, idx, meta, &g->item, 1, NULL, 0, &sub[b], sizes[s],
                                   lists[b], NULL, &lens[b]);
        }
        if (!rc) rc = lk_blend_fuse(d, (const int64_t *const *)lists, lens, o->nblend, sizes[s], rows, sc, &found);
        if (rc) break;
        count_hits(S, rows, found, mark, g, sizes, s, s + 1);
        if (s == ns - 1) rank_stats(S, rows, found, mark, g->stamp, d->nu - g->nb, g->nnew);
    }
    for (int b = 0; b < LK_MAX_BLEND; b++) free(lists[b]);
    if (secs) *secs += lk_now() - t0;
    return rc;
}

int lk_score_route(lk_score *S, int route, const lk_route_opts *o, const lk_data *d,
                   const vecidx *idx, const lk_index_meta *meta, const lk_target *g,
                   const int64_t *mark, const int64_t *sizes, int ns, int64_t *rows, float *sc,
                   double *secs) {
    if (g->nb == 0 && lk_route_needs_seeds(route)) return 0; /* nothing to seed from */
    if (route == LK_ROUTE_BLEND) return score_blend(S, o, d, idx, meta, g, mark, sizes, ns, rows, sc, secs);
    /* i2u, seedclf and i2s2u rank every user once, and i2u2u, i2i2u and i2c2u with a fixed k do
     * not depend on the size: their prefixes are the smaller audiences. Auto k adapts to
     * the size, and a blend fuses audiences of its size: each size is its own run. */
    int per_size = route == LK_ROUTE_BLEND ||
                   (route != LK_ROUTE_I2U && route != LK_ROUTE_SEEDCLF && route != LK_ROUTE_I2S2U &&
                    o->k == 0);
    /* i2u2u's auto k is often the same for several sizes (its floor of 32 neighbours):
     * those sizes are prefixes of one run with that k */
    int64_t kept = route == LK_ROUTE_I2U2U && o->k == 0 ? lk_seed_kept(d, g->buyers, g->nb) : 0;
    lk_route_opts ok = *o;
    for (int s = per_size ? 0 : ns - 1; s < ns; s++) {
        int s0 = per_size ? s : 0;
        if (kept > 0) {
            ok.k = lk_i2u2u_auto_k(sizes[s], kept);
            while (s + 1 < ns && lk_i2u2u_auto_k(sizes[s + 1], kept) == ok.k) s++;
        }
        int64_t found = 0;
        double t0 = lk_now();
        int rc = lk_route_run(route, d, idx, meta, &g->item, 1, NULL, 0, &ok, sizes[s], rows, sc, &found);
        if (rc) return rc;
        if (secs) *secs += lk_now() - t0;
        count_hits(S, rows, found, mark, g, sizes, s0, s + 1);
        if (s == ns - 1) rank_stats(S, rows, found, mark, g->stamp, d->nu - g->nb, g->nnew);
    }
    return 0;
}

void lk_score_popular(lk_score *S, const lk_data *d, const int64_t *pop, const lk_target *g,
                      const int64_t *mark, const int64_t *sizes, int ns, int64_t *rows) {
    int64_t np = 0, nmax = sizes[ns - 1]; /* the most active users who had not bought it */
    for (int64_t i = 0; i < d->nu && np < nmax; i++)
        if (mark[pop[i]] != -2 - g->stamp) rows[np++] = pop[i];
    count_hits(S, rows, np, mark, g, sizes, 0, ns);
    np = 0; /* the whole activity ranking of the eligible users */
    for (int64_t i = 0; i < d->nu; i++)
        if (mark[pop[i]] != -2 - g->stamp) rows[np++] = pop[i];
    rank_stats(S, rows, np, mark, g->stamp, d->nu - g->nb, g->nnew);
}

/* Users by activity in the training part, most active first (ties: smaller id). */
static const lk_data *g_pop_d; /* qsort has no context argument; set just before it */
static int cmp_pop(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t cx = g_pop_d->user_count[x], cy = g_pop_d->user_count[y];
    if (cx != cy) return cx > cy ? -1 : 1;
    return (g_pop_d->user_ids[x] > g_pop_d->user_ids[y]) - (g_pop_d->user_ids[x] < g_pop_d->user_ids[y]);
}

int lk_popularity_order(const lk_data *d, int64_t **pop) {
    *pop = malloc((size_t)(d->nu ? d->nu : 1) * sizeof **pop);
    if (!*pop) return lk_fail("out of memory");
    for (int64_t u = 0; u < d->nu; u++) (*pop)[u] = u;
    g_pop_d = d;
    qsort(*pop, (size_t)d->nu, sizeof **pop, cmp_pop);
    g_pop_d = NULL;
    return 0;
}

int lk_top_items(const lk_data *d, int64_t top, int64_t *items) {
    int64_t *ord = malloc((size_t)(d->ni ? d->ni : 1) * sizeof *ord), n = 0;
    if (!ord) return -lk_fail("out of memory");
    for (int64_t j = 0; j < d->ni; j++) ord[j] = j;
    for (int64_t t = 0; t < top && t < d->ni; t++) { /* partial selection sort */
        int64_t b = t;
        for (int64_t j = t + 1; j < d->ni; j++) {
            int64_t cj = d->item_ptr[ord[j] + 1] - d->item_ptr[ord[j]], cb = d->item_ptr[ord[b] + 1] - d->item_ptr[ord[b]];
            if (cj > cb || (cj == cb && d->item_ids[ord[j]] < d->item_ids[ord[b]])) b = j;
        }
        int64_t x = ord[t]; ord[t] = ord[b]; ord[b] = x;
        items[n++] = ord[t];
    }
    free(ord);
    return (int)n;
}

int lk_parse_sizes(const char *s, int64_t *v, int cap, int *n) {
    char buf[1024], *save = NULL;
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == cap || lk_parse_i64(t, 1, 1000000000, &v[*n])) return -1;
        (*n)++;
    }
    if (!*n) return -1;
    for (int i = 1; i < *n; i++) /* ascending (insertion sort: a handful of sizes) */
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j]; v[j] = v[j - 1]; v[j - 1] = t;
        }
    return 0;
}
