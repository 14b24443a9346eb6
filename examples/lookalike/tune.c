/* lookalike tune: choose route, k, aggregate, seed clusters and the ALS knobs (rank, alpha,
 * regParam, maxIter) on a validation split carved from the training period only, then
 * measure the choice once on the test period.
 *
 *   1. split as backtest does: training period / test period (--time-split, --fraction or
 *      --train/--test). The test rows are moved into memory pages that are made unreadable
 *      (mprotect PROT_NONE) until the choice is made: reading one before would crash.
 *   2. validation: the training period is split again (by time or file order as the outer
 *      split, at random for --train/--test without --time-col; --val-split to choose): the
 *      earlier --val-fraction trains, the rest validates. Targets: --item, or the
 *      --top-items of the validation's training part.
 *   3. every ALS setting of the grid is fitted on the validation's training part and every
 *      route setting measured on the validation rows; the score of a setting is its mean
 *      lift over random at the --select smallest audience sizes (first in grid order wins
 *      a tie).
 *   4. the test pages are unsealed; the winner, and the best setting of each route family
 *      (each chosen on validation), are refitted on the whole training period and measured
 *      on the test period, exactly as `lookalike backtest` with those settings would.
 * The grid (tune_grid.csv), the test table (tune_test.csv) and a plot (tune.png) go to
 * --dir. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lookalike.h"

#define MAX_ALS 256
#define MAX_RCFG 128

/* ---- the test rows, sealed until the choice ---- */

typedef struct {
    void *p;
    size_t len;
} seal;

/* Move the test rows' users and items into pages of their own and make them unreadable. */
static int seal_rows(lk_rows *t, seal *s) {
    long pg = sysconf(_SC_PAGESIZE);
    size_t half = ((size_t)(t->n ? t->n : 1) * sizeof(int64_t) + (size_t)pg - 1) / (size_t)pg * (size_t)pg;
    int fd = open("/dev/zero", O_RDWR); /* POSIX's anonymous mapping */
    s->len = 2 * half;
    s->p = fd < 0 ? MAP_FAILED : mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (fd >= 0) close(fd);
    if (s->p == MAP_FAILED) {
        s->p = NULL;
        return lk_fail("tune: cannot map memory for the test rows");
    }
    int64_t *u = s->p, *it = (int64_t *)((char *)s->p + half);
    memcpy(u, t->u, (size_t)t->n * sizeof *u);
    memcpy(it, t->it, (size_t)t->n * sizeof *it);
    free(t->u); free(t->it); free(t->tm); free(t->v);
    t->u = u;
    t->it = it;
    t->tm = NULL;
    t->v = NULL;
    if (mprotect(s->p, s->len, PROT_NONE) != 0) return lk_fail("tune: cannot seal the test rows");
    return 0;
}

static int unseal(seal *s) {
    if (s->p && mprotect(s->p, s->len, PROT_READ) != 0) return lk_fail("tune: cannot unseal the test rows");
    return 0;
}

static void seal_free(seal *s, lk_rows *t) {
    if (s->p) munmap(s->p, s->len);
    s->p = NULL;
    t->u = t->it = NULL;
    t->n = 0;
}

/* ---- the grid ---- */

static const char *const GRID_OPTS[] = {"route*", "k*", "agg*", "seed-clusters*", "activity*", "rank*",
                                        "alpha*", "regParam*", "maxIter*", "segments", NULL};

/* The values of a grid option, or its default (def, space-separated, split in buf). */
static int grid_values(const lk_args *a, const char *name, const char *def, char *buf,
                       size_t bufcap, const char **out, int cap) {
    int n = lk_arg_all(a, name, out, cap);
    if (n > cap) return -1;
    if (n == 0) {
        char *save = NULL;
        snprintf(buf, bufcap, "%s", def);
        for (char *t = strtok_r(buf, " ", &save); t && n < cap; t = strtok_r(NULL, " ", &save)) out[n++] = t;
    }
    return n;
}

static const char *agg_name(int agg) {
    return agg == VECIDX_AGG_SUM ? "sum" : agg == VECIDX_AGG_MAX ? "max" : agg == VECIDX_AGG_MEAN ? "mean" : "-";
}

/* The route settings: each route of --route with every value of the knobs it has: k for
 * i2u2u and i2i2u, agg for i2u2u, seed clusters for i2c2u, activity for seedclf and the
 * blends that fuse it; the other knobs of a blend's routes at their defaults. */
static int build_routes(const lk_args *a, lk_tune_route *rc, int *nrc) {
    const char *routes[64], *ks[16], *aggs[8], *cs[16], *acts[16];
    char b[5][256];
    int nr = grid_values(a, "route", "i2u2u i2i2u i2u seedclf i2c2u i2s2u blend:i2u,i2u2u "
                         "blend:i2u,seedclf blend:i2u,i2c2u blend:i2u,i2i2u,i2u2u blend:i2u,i2s2u "
                         "blend:i2i2u,i2s2u", b[0], 256, routes, 64);
    int64_t segs = 0; /* i2s2u's segments: one value for the whole grid (auto by default) */
    const char *sg = lk_arg(a, "segments");
    if (sg && strcmp(sg, "auto") && lk_parse_i64(sg, 1, 100000, &segs))
        return lk_usage_error("tune: --segments is auto or an integer in [1, 100000]");
    int nk = grid_values(a, "k", "auto 100", b[1], 256, ks, 16);
    int na = grid_values(a, "agg", "sum max", b[2], 256, aggs, 8);
    int nc = grid_values(a, "seed-clusters", "auto 3 8", b[3], 256, cs, 16);
    int nx = grid_values(a, "activity", "0 0.5 1", b[4], 256, acts, 16);
    if (nr < 0 || nk < 0 || na < 0 || nc < 0 || nx < 0) return lk_usage_error("tune: too many values for a grid option");
    int64_t kv[16], cv[16];
    double xv[16];
    for (int i = 0; i < nx; i++)
        if (lk_parse_double(acts[i], &xv[i]) || xv[i] < 0 || xv[i] > 10)
            return lk_usage_error("tune: --activity: '%s' is not a number in [0, 10]", acts[i]);
    int av[8];
    for (int i = 0; i < nk; i++)
        if (!strcmp(ks[i], "auto")) kv[i] = 0;
        else if (lk_parse_i64(ks[i], 1, 1000000000, &kv[i])) return lk_usage_error("tune: --k: '%s' is not auto or a positive integer", ks[i]);
    for (int i = 0; i < nc; i++)
        if (!strcmp(cs[i], "auto")) cv[i] = 0;
        else if (lk_parse_i64(cs[i], 1, 1000, &cv[i])) return lk_usage_error("tune: --seed-clusters: '%s' is not auto or an integer in [1, 1000]", cs[i]);
    for (int i = 0; i < na; i++) {
        av[i] = !strcmp(aggs[i], "sum") ? VECIDX_AGG_SUM : !strcmp(aggs[i], "max") ? VECIDX_AGG_MAX
              : !strcmp(aggs[i], "mean") ? VECIDX_AGG_MEAN : -2;
        if (av[i] == -2) return lk_usage_error("tune: --agg: '%s' is not sum, max or mean", aggs[i]);
    }
    *nrc = 0;
    for (int r = 0; r < nr; r++) {
        lk_route_opts base = LK_ROUTE_OPTS_INIT;
        int route = lk_route_parse_opts(routes[r], &base);
        if (route < 0) return lk_usage_error("tune: --route: '%s' is not i2u2u, i2i2u, i2u, seedclf, i2c2u, i2s2u or blend:R1,R2[,...]", routes[r]);
        int has_k = route == LK_ROUTE_I2U2U || route == LK_ROUTE_I2I2U;
        int has_agg = route == LK_ROUTE_I2U2U, has_c = route == LK_ROUTE_I2C2U;
        int has_x = route == LK_ROUTE_SEEDCLF; /* and a blend that fuses seedclf */
        for (int q = 0; route == LK_ROUTE_BLEND && q < base.nblend; q++) has_x |= base.blend[q] == LK_ROUTE_SEEDCLF;
        for (int i = 0; i < (has_k ? nk : 1); i++)
            for (int j = 0; j < (has_agg ? na : 1); j++)
                for (int c = 0; c < (has_c ? nc : 1); c++)
                    for (int q = 0; q < (has_x ? nx : 1); q++) {
                        if (*nrc == MAX_RCFG) return lk_usage_error("tune: more than %d route settings", MAX_RCFG);
                        lk_tune_route *x = &rc[(*nrc)++];
                        x->route = route;
                        x->o = base;
                        x->o.k = has_k ? kv[i] : 0;
                        x->o.agg = has_agg ? av[j] : -1;
                        x->o.clusters = has_c ? cv[c] : 0;
                        x->o.activity = has_x ? xv[q] : 0;
                        x->o.segments = segs;
                        x->has_activity = has_x;
                        snprintf(x->spec, sizeof x->spec, "%s", routes[r]);
                    }
    }
    return 0;
}

static int build_als(const lk_args *a, lk_tune_als *ac, int *nac) {
    const char *rk[16], *al[16], *rg[16], *it[16];
    char b[4][256];
    int nr = grid_values(a, "rank", "8 16 32", b[0], 256, rk, 16);
    int na = grid_values(a, "alpha", "1 10", b[1], 256, al, 16);
    int ng = grid_values(a, "regParam", "0.01 0.1", b[2], 256, rg, 16);
    int ni = grid_values(a, "maxIter", "10", b[3], 256, it, 16);
    if (nr < 0 || na < 0 || ng < 0 || ni < 0) return lk_usage_error("tune: at most 16 values per ALS knob");
    *nac = 0;
    als_model *probe = NULL;
    if (als_model_create(&probe)) return lk_fail("out of memory");
    int rc = 0;
    /* cheaper first (rank, then iterations), so that a --budget cuts the dearest */
    for (int r = 0; r < nr && !rc; r++)
        for (int i = 0; i < ni && !rc; i++)
            for (int x = 0; x < na && !rc; x++)
                for (int g = 0; g < ng && !rc; g++) {
                    if (*nac == MAX_ALS) { rc = lk_usage_error("tune: more than %d ALS settings", MAX_ALS); break; }
                    lk_tune_als *c = &ac[*nac];
                    memset(c, 0, sizeof *c);
                    if (lk_parse_i64(rk[r], 1, 100000, &c->rank) || lk_parse_i64(it[i], 1, 100000, &c->iter) ||
                        lk_parse_double(al[x], &c->alpha) || lk_parse_double(rg[g], &c->reg)) {
                        rc = lk_usage_error("tune: --rank/--maxIter are integers, --alpha/--regParam numbers");
                        break;
                    }
                    /* the library checks the bounds */
                    const char *kv[4][2] = {{"rank", rk[r]}, {"maxIter", it[i]}, {"alpha", al[x]}, {"regParam", rg[g]}};
                    for (int q = 0; q < 4 && !rc; q++)
                        if (als_set_param(probe, kv[q][0], kv[q][1])) {
                            char what[128];
                            snprintf(what, sizeof what, "--%s %s", kv[q][0], kv[q][1]);
                            rc = lk_lib_fail(what, -1);
                        }
                    (*nac)++;
                }
    als_model_destroy(probe);
    return rc;
}

void lk_tune_settings(const lk_tune_route *r, const lk_tune_als *c, char *buf, size_t cap) {
    char k[32] = "-", cl[32] = "-";
    if (r->route == LK_ROUTE_I2U2U || r->route == LK_ROUTE_I2I2U) {
        if (r->o.k) snprintf(k, sizeof k, "%lld", (long long)r->o.k);
        else snprintf(k, sizeof k, "auto");
    }
    if (r->route == LK_ROUTE_I2C2U || r->route == LK_ROUTE_I2S2U) { /* i2s2u: its segments */
        int64_t nc = r->route == LK_ROUTE_I2C2U ? r->o.clusters : r->o.segments;
        if (nc) snprintf(cl, sizeof cl, "%lld", (long long)nc);
        else snprintf(cl, sizeof cl, "auto");
    }
    char act[32] = "-";
    if (r->has_activity) snprintf(act, sizeof act, "%g", r->o.activity);
    snprintf(buf, cap, "k %s, agg %s, clusters %s, activity %s, rank %lld, alpha %g, regParam %g, "
             "maxIter %lld", k, agg_name(r->o.agg), cl, act, (long long)c->rank, c->alpha, c->reg,
             (long long)c->iter);
}

/* The same settings as backtest options. */
void lk_tune_options(const lk_tune_route *r, const lk_tune_als *c, char *buf, size_t cap) {
    char extra[96] = "";
    if ((r->route == LK_ROUTE_I2U2U || r->route == LK_ROUTE_I2I2U) && r->o.k)
        snprintf(extra, sizeof extra, " --k %lld", (long long)r->o.k);
    if (r->route == LK_ROUTE_I2U2U && r->o.agg >= 0) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, " --agg %s", agg_name(r->o.agg));
    }
    if (r->route == LK_ROUTE_I2C2U && r->o.clusters) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, " --seed-clusters %lld", (long long)r->o.clusters);
    }
    if (r->has_activity && r->o.activity > 0) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, " --activity %g", r->o.activity);
    }
    if (r->o.segments > 0 && strstr(r->spec, "i2s2u")) {
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof extra - l, " --segments %lld", (long long)r->o.segments);
    }
    snprintf(buf, cap, "--route %s%s --rank %lld --alpha %g --regParam %g --maxIter %lld", r->spec,
             extra, (long long)c->rank, c->alpha, c->reg, (long long)c->iter);
}

/* ---- fitting and measuring one ALS setting ---- */

typedef struct {
    als_model *m;
    lk_data d;
    vecidx *idx;
    lk_index_meta meta;
} fitted;

static void fitted_free(fitted *f) {
    vecidx_destroy(f->idx);
    lk_data_free(&f->d);
    als_model_destroy(f->m);
    memset(f, 0, sizeof *f);
}

static int fit(const lk_tune_ctx *x, const lk_tune_als *c, const als_ratings *r, fitted *f) {
    char v[4][32];
    memset(f, 0, sizeof *f);
    snprintf(v[0], 32, "%lld", (long long)c->rank);
    snprintf(v[1], 32, "%lld", (long long)c->iter);
    snprintf(v[2], 32, "%.17g", c->alpha);
    snprintf(v[3], 32, "%.17g", c->reg);
    int rc = als_model_create(&f->m);
    if (rc) return lk_lib_fail("model", rc);
    if ((rc = lk_model_configure(f->m, x->a))) return rc;
    if (als_set_param(f->m, "rank", v[0]) || als_set_param(f->m, "maxIter", v[1]) ||
        als_set_param(f->m, "alpha", v[2]) || als_set_param(f->m, "regParam", v[3]))
        return lk_lib_fail("tune: ALS setting", -1);
    if ((rc = lk_model_fit(f->m, r, 1)) || (rc = lk_data_from_ratings(&f->d, f->m, r))) return rc;
    f->d.names = x->names;
    return lk_index_build(&f->idx, &f->d, x->kind, x->nlist, x->metric, &f->meta, 1);
}

/* The target items of one fitted setting: --item, or its top items. */
static int target_items(const lk_tune_ctx *x, const fitted *f, int64_t *items) {
    if (x->top) return lk_top_items(&f->d, x->top, items);
    for (int i = 0; i < x->nitems; i++)
        if ((items[i] = lk_item_row(&f->d, x->items_s[i])) < 0) return -1;
    return x->nitems;
}

double lk_tune_lift(const lk_score *S, int s) { return S->rnd[s] > 0 ? S->hits[s] / S->rnd[s] : 0; }

double lk_tune_score(const lk_tune_ctx *x, const lk_score *S) {
    double t = 0;
    for (int s = 0; s < x->nsel; s++) t += lk_tune_lift(S, s);
    return t / x->nsel;
}

int lk_tune_measure_als(const lk_tune_ctx *x, const lk_tune_als *c, const als_ratings *r,
                        const lk_rows *rows, const lk_tune_route *rc, const int *which,
                        int nwhich, lk_score *out, lk_score *pop_out, double *nb) {
    fitted f;
    int err = fit(x, c, r, &f), n = 0;
    int64_t nmax = x->sizes[x->ns - 1], *mark = NULL, *rbuf = NULL, *pop = NULL, items[256];
    float *sc = NULL;
    lk_target g;
    memset(&g, 0, sizeof g);
    *nb = 0;
    for (int w = 0; w < nwhich; w++) memset(&out[w], 0, sizeof out[w]);
    if (pop_out) memset(pop_out, 0, sizeof *pop_out);
    if (!err) {
        mark = malloc((size_t)(f.d.nu ? f.d.nu : 1) * sizeof *mark);
        rbuf = malloc((size_t)(nmax > f.d.nu ? nmax : f.d.nu) * sizeof *rbuf);
        sc = malloc((size_t)nmax * sizeof *sc);
        if (!mark || !rbuf || !sc) err = lk_fail("out of memory");
    }
    if (!err && (n = target_items(x, &f, items)) < 0) err = LK_EXIT_FAIL;
    if (!err && pop_out) err = lk_popularity_order(&f.d, &pop);
    for (int64_t u = 0; !err && u < f.d.nu; u++) mark[u] = -1;
    /* one target at a time, as backtest: its marks are valid until the next one's */
    for (int t = 0; t < n && !err; t++) {
        if ((err = lk_target_init(&g, &f.d, items[t], t, rows, mark))) break;
        *nb += (double)g.nnew;
        for (int w = 0; w < nwhich && !err; w++) {
            const lk_tune_route *rt = &rc[which[w]];
            err = lk_score_route(&out[w], rt->route, &rt->o, &f.d, f.idx, &f.meta, &g, mark,
                                 x->sizes, x->ns, rbuf, sc, &out[w].secs);
        }
        if (!err && pop_out) lk_score_popular(pop_out, &f.d, pop, &g, mark, x->sizes, x->ns, rbuf);
        lk_target_free(&g);
    }
    lk_target_free(&g);
    free(mark); free(rbuf); free(sc); free(pop);
    fitted_free(&f);
    return err;
}


int lk_cmd_tune(int argc, char **argv) {
    static const char *const own[] = {"ratings", "train", "test", "item*", "top-items", "time-split",
                                      "fraction", "audience", "select", "val-fraction", "val-split",
                                      "val-seed", "budget", "dir", "kind", "nlist", "metric",
                                      "nprobe", "quiet!", NULL};
    const char *const *lists[] = {own, GRID_OPTS, LK_CSV_OPTS, LK_ALS_PARAMS, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "tune", lists);
    lk_tune_ctx x;
    memset(&x, 0, sizeof x);
    x.a = &a;
    const char *in = lk_arg(&a, "ratings"), *when = lk_arg(&a, "time-split");
    const char *trainf = lk_arg(&a, "train"), *testf = lk_arg(&a, "test");
    const char *dir = lk_arg(&a, "dir") ? lk_arg(&a, "dir") : "tune-out";
    const char *vs = lk_arg(&a, "val-split");
    double frac = 0.8, vfrac = 0.8, budget = 0;
    int64_t vseed = 1, nprobe = 0, sel = 2;
    int timed = lk_arg(&a, "time-col") != NULL;
    x.kind = lk_arg(&a, "kind") ? lk_arg(&a, "kind") : "flat";
    x.metric = lk_arg(&a, "metric") ? lk_arg(&a, "metric") : "cosine";
    x.quiet = lk_arg_flag(&a, "quiet");
    x.nitems = lk_arg_all(&a, "item", x.items_s, 256);
    if (!rc && (!trainf) != (!testf)) rc = lk_usage_error("tune: --train and --test go together");
    if (!rc && trainf && (in || when || lk_arg(&a, "fraction")))
        rc = lk_usage_error("tune: --train/--test is the split: no --ratings, --time-split or --fraction");
    if (!rc && !in && !trainf) rc = lk_usage_error("tune: --ratings (or --train and --test) is required");
    if (!rc && (x.nitems > 0) == (lk_arg(&a, "top-items") != NULL))
        rc = lk_usage_error("tune: give --item ID... or --top-items N");
    if (!rc && x.nitems > 256) rc = lk_usage_error("tune: at most 256 --item values");
    if (!rc && lk_arg(&a, "top-items") && lk_parse_i64(lk_arg(&a, "top-items"), 1, 256, &x.top))
        rc = lk_usage_error("tune: --top-items is an integer in [1, 256]");
    if (!rc && when && lk_arg(&a, "fraction")) rc = lk_usage_error("tune: --time-split or --fraction, not both");
    if (!rc && when && !timed) rc = lk_usage_error("tune: --time-split needs --time-col");
    if (!rc && lk_arg(&a, "fraction") &&
        (lk_parse_double(lk_arg(&a, "fraction"), &frac) || !(frac > 0 && frac < 1)))
        rc = lk_usage_error("tune: --fraction is a number in (0, 1)");
    if (!rc && lk_arg(&a, "val-fraction") &&
        (lk_parse_double(lk_arg(&a, "val-fraction"), &vfrac) || !(vfrac > 0 && vfrac < 1)))
        rc = lk_usage_error("tune: --val-fraction is a number in (0, 1)");
    if (!rc && lk_arg(&a, "val-seed") && lk_parse_i64(lk_arg(&a, "val-seed"), 0, INT64_MAX, &vseed))
        rc = lk_usage_error("tune: --val-seed is a non-negative integer");
    if (!rc && lk_arg(&a, "budget") &&
        (lk_parse_double(lk_arg(&a, "budget"), &budget) || !(budget > 0)))
        rc = lk_usage_error("tune: --budget is a number of seconds > 0");
    if (!rc && vs && strcmp(vs, "time") && strcmp(vs, "random"))
        rc = lk_usage_error("tune: --val-split is time or random");
    if (!rc && lk_parse_sizes(lk_arg(&a, "audience") ? lk_arg(&a, "audience") : "1000,5000,10000,50000",
                              x.sizes, LK_MAX_SIZES, &x.ns))
        rc = lk_usage_error("tune: --audience is a comma-separated list of positive sizes");
    if (!rc && lk_arg(&a, "select") && lk_parse_i64(lk_arg(&a, "select"), 1, x.ns, &sel))
        rc = lk_usage_error("tune: --select is an integer in [1, %d] (the number of --audience sizes)", x.ns);
    x.nsel = (int)sel;
    if (!rc && lk_arg(&a, "nlist") && lk_parse_i64(lk_arg(&a, "nlist"), 1, INT32_MAX, &x.nlist))
        rc = lk_usage_error("tune: --nlist is a positive integer");
    if (!rc && lk_arg(&a, "nprobe") && lk_parse_i64(lk_arg(&a, "nprobe"), 1, INT32_MAX, &nprobe))
        rc = lk_usage_error("tune: --nprobe is a positive integer");
    if (!rc && strcmp(x.kind, "flat") && strcmp(x.kind, "ivf"))
        rc = lk_usage_error("tune: --kind is flat or ivf, not '%s'", x.kind);
    if (!rc && nprobe && strcmp(x.kind, "ivf"))
        rc = lk_usage_error("tune: --nprobe applies to --kind ivf only (a flat index is exact)");
    static lk_tune_route rcs[MAX_RCFG];
    static lk_tune_als acs[MAX_ALS];
    int nrc = 0, nac = 0;
    if (!rc) rc = build_routes(&a, rcs, &nrc);
    if (!rc) rc = build_als(&a, acs, &nac);
    for (int i = 0; i < nrc; i++) rcs[i].o.nprobe = nprobe;
    if (!rc) rc = lk_mkdir_p(dir);
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    /* val-split: as the outer split (time, or file order without times) unless told;
     * random for the user's own files without --time-col */
    int vmode = vs ? (!strcmp(vs, "random") ? LK_SPLIT_RANDOM : timed ? LK_SPLIT_TIME : LK_SPLIT_ORDER)
                   : trainf && !timed ? LK_SPLIT_RANDOM : timed ? LK_SPLIT_TIME : LK_SPLIT_ORDER;
    als_ratings *all = NULL, *rtrain = NULL, *rsub = NULL;
    lk_rows tr, test, sub, val;
    seal sl = {NULL, 0};
    lk_score *grid = NULL;
    memset(&tr, 0, sizeof tr); memset(&test, 0, sizeof test);
    memset(&sub, 0, sizeof sub); memset(&val, 0, sizeof val);
    double t0 = lk_now();
    if (trainf) {
        if ((rc = lk_read_split_files("tune", &a, trainf, testf, timed, &all, &test)) ||
            (rc = lk_rows_of(all, &tr)))
            goto out;
    } else if ((rc = lk_read_ratings(&a, in, timed, &all)) ||
               (rc = lk_split_file("tune", all, timed, when, frac, &tr, &test))) {
        goto out;
    }
    if ((rc = seal_rows(&test, &sl))) goto out;
    x.names = all;
    if ((rc = lk_rows_split(&tr, vmode, NULL, vfrac, (uint64_t)vseed, &sub, &val))) goto out;
    if (sub.n == 0 || val.n == 0) { rc = lk_fail("tune: the validation split leaves a part empty"); goto out; }
    printf("tune: training period %lld rows, test period %lld rows (sealed: unreadable until the "
           "choice is made)\n", (long long)tr.n, (long long)test.n);
    printf("tune: validation carved from the training period only, %s: %lld rows train, %lld "
           "rows validate\n", vmode == LK_SPLIT_TIME ? "by time" : vmode == LK_SPLIT_ORDER ?
           "by file order" : "at random", (long long)sub.n, (long long)val.n);
    printf("tune: grid of %d ALS settings x %d route settings; score = mean lift over random at "
           "audience", nac, nrc);
    for (int s = 0; s < x.nsel; s++) printf("%s %lld", s ? "," : "", (long long)x.sizes[s]);
    printf(" on validation\n");
    fflush(stdout);
    if ((rc = lk_rows_ratings(&sub, &rsub))) goto out;
    grid = calloc((size_t)(nac * nrc), sizeof *grid);
    int *all_r = malloc((size_t)nrc * sizeof *all_r);
    if (!grid || !all_r) { free(all_r); rc = lk_fail("out of memory"); goto out; }
    for (int i = 0; i < nrc; i++) all_r[i] = i;
    double val_nb = 0, nb_c = 0;
    lk_score val_pop;
    memset(&val_pop, 0, sizeof val_pop);
    for (int c = 0; c < nac && !rc; c++) {
        if (budget > 0 && lk_now() - t0 > budget) continue; /* listed as skipped */
        double tf = lk_now();
        rc = lk_tune_measure_als(&x, &acs[c], rsub, &val, rcs, all_r, nrc, grid + (size_t)c * nrc,
                                 c == 0 ? &val_pop : NULL, c == 0 ? &val_nb : &nb_c);
        acs[c].run = !rc;
        acs[c].fit_s = lk_now() - tf; /* the fit, its index and targets: less the routes' */
        for (int r = 0; r < nrc && !rc; r++) acs[c].fit_s -= grid[(size_t)c * nrc + r].secs;
        if (!rc && !x.quiet)
            fprintf(stderr, "tune: [%d/%d] rank %lld, alpha %g, regParam %g, maxIter %lld: %.2f s\n",
                    c + 1, nac, (long long)acs[c].rank, acs[c].alpha, acs[c].reg,
                    (long long)acs[c].iter, lk_now() - tf);
    }
    free(all_r);
    if (rc) goto out;
    /* the choice: on validation only (the test pages are still sealed here). The test
     * suite proves the seal: LOOKALIKE_TUNE_PEEK makes this point read a test row, which
     * must kill the program (SIGSEGV) instead of returning anything. */
    if (getenv("LOOKALIKE_TUNE_PEEK") && test.n > 0) {
        volatile int64_t peek = test.u[0];
        (void)peek;
    }
    lk_tune_choice ch;
    lk_tune_choose(&x, acs, nac, rcs, nrc, grid, &ch);
    if (ch.best < 0) { rc = lk_fail("tune: no setting was measured (a --budget too small?)"); goto out; }
    double t_choice = lk_now() - t0;
    if ((rc = lk_tune_report_grid(&x, dir, acs, nac, rcs, nrc, grid, &ch, val_nb, &val_pop))) goto out;
    /* the test period, read now for the first time */
    if ((rc = unseal(&sl)) || (rc = lk_rows_ratings(&tr, &rtrain))) goto out;
    rc = lk_tune_report_test(&x, dir, acs, rcs, nrc, grid, &ch, rtrain, &test);
    if (!rc) printf("tune: %.1f s in all (the choice %.1f s)\n", lk_now() - t0, t_choice);
out:
    free(grid);
    seal_free(&sl, &test);
    lk_rows_free(&tr); lk_rows_free(&test); lk_rows_free(&sub); lk_rows_free(&val);
    als_ratings_destroy(rsub);
    als_ratings_destroy(rtrain);
    als_ratings_destroy(all);
    lk_args_free(&a);
    return rc;
}
