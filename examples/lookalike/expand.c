/* lookalike expand: an audience file (user_id,score,via) for target items or seed users. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

/* Seed users from a file, one id (or name) per line; a first line that is not a known
 * user is taken as a header. Unknown users are counted and skipped. */
static int read_seeds(const lk_data *d, const char *path, int64_t **out, int64_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return lk_fail("%s: cannot open (%s)", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, nalloc = 1024;
    int64_t m = 0, unknown = 0, lineno = 0;
    int64_t *s = malloc(nalloc * sizeof *s);
    ssize_t got;
    while (s && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        char *comma = strchr(line, ','); /* an audience file: the first column */
        if (comma) *comma = 0;
        if (!*line) continue;
        int64_t row = lk_user_row(d, line);
        if (row < 0) {
            if (lineno > 1) unknown++;
            continue;
        }
        if ((size_t)m == nalloc) {
            int64_t *t = realloc(s, 2 * nalloc * sizeof *s);
            if (!t) { free(s); s = NULL; break; }
            s = t;
            nalloc *= 2;
        }
        s[m++] = row;
    }
    free(line);
    fclose(f);
    if (!s) return lk_fail("out of memory");
    if (unknown && m > 0) fprintf(stderr, "lookalike: %s: %lld seed users are not in the model, skipped\n",
                         path, (long long)unknown);
    if (m == 0) {
        free(s);
        return lk_fail("%s: none of the seed users is in the model (no vector to search with)", path);
    }
    *out = s;
    *n = m;
    return 0;
}

int lk_write_audience(const lk_data *d, const char *path, const int64_t *rows,
                      const float *scores, int64_t n, const char *via) {
    lk_out o;
    if (lk_out_open(&o, path)) return LK_EXIT_FAIL;
    lk_print_csv_field(o.f, d->user_col[0] ? d->user_col : "user_id");
    fputs(",score,via\n", o.f);
    for (int64_t i = 0; i < n; i++) {
        lk_print_user(o.f, d, rows[i]);
        fprintf(o.f, ",%.6g,%s\n", scores[i], via);
    }
    return lk_out_commit(&o);
}

int lk_expand_parse(const lk_args *a, lk_route_opts *o, int64_t *audience) {
    const char *k = lk_arg(a, "k"), *np = lk_arg(a, "nprobe"), *agg = lk_arg(a, "agg");
    const char *n = lk_arg(a, "audience"), *sc = lk_arg(a, "seed-clusters");
    o->clusters = 0;
    o->activity = 0;
    o->segments = 0;
    const char *sg = lk_arg(a, "segments");
    if (sg && strcmp(sg, "auto") && lk_parse_i64(sg, 1, 100000, &o->segments))
        return lk_usage_error("--segments is auto or an integer in [1, 100000]");
    const char *act = lk_arg(a, "activity");
    if (act && (lk_parse_double(act, &o->activity) || o->activity < 0 || o->activity > 10))
        return lk_usage_error("--activity is a number in [0, 10]");
    if (sc && strcmp(sc, "auto") && lk_parse_i64(sc, 1, 1000, &o->clusters))
        return lk_usage_error("--seed-clusters is auto or an integer in [1, 1000]");
    o->k = 0;
    o->nprobe = 0;
    o->agg = -1;
    if (audience) *audience = 100000;
    if (k && strcmp(k, "auto") && lk_parse_i64(k, 1, 1000000000, &o->k))
        return lk_usage_error("--k is a positive integer or auto");
    if (np && lk_parse_i64(np, 1, INT32_MAX, &o->nprobe))
        return lk_usage_error("--nprobe is a positive integer");
    if (n && audience && lk_parse_i64(n, 1, 1000000000, audience))
        return lk_usage_error("--audience is a positive integer");
    if (agg) {
        if (!strcmp(agg, "max")) o->agg = VECIDX_AGG_MAX;
        else if (!strcmp(agg, "sum")) o->agg = VECIDX_AGG_SUM;
        else if (!strcmp(agg, "mean")) o->agg = VECIDX_AGG_MEAN;
        else return lk_usage_error("--agg is max, sum or mean");
    }
    return 0;
}

const char *const LK_EXPAND_OPTS[] = {"model", "index", "item*", "seeds", "route", "k",
                                      "audience", "nprobe", "agg", "seed-clusters", "activity", "segments", "out",
                                      "out-user-col", NULL};

/* The expand step on loaded data; shared with `run`. */
int lk_expand_with(const lk_data *d, vecidx *idx, const lk_index_meta *meta, const lk_args *a,
                   const char *out) {
    const char *items_s[256], *seeds = lk_arg(a, "seeds");
    const char *route_s = lk_arg(a, "route") ? lk_arg(a, "route") : "i2u2u";
    lk_route_opts o = LK_ROUTE_OPTS_INIT;
    int ni = lk_arg_all(a, "item", items_s, 256), rc;
    int64_t n, items[256], *seed_rows = NULL, ns = 0, found = 0;
    if (lk_route_parse(route_s) < 0)
        return lk_usage_error("expand: --route is i2u2u, i2i2u, i2u, seedclf, i2c2u, i2s2u or blend:R1,R2[,...] "
                              "(distinct routes), not '%s'", route_s);
    if ((ni > 0) == (seeds != NULL)) return lk_usage_error("expand: give --item ID... or --seeds FILE");
    if (ni > 256) return lk_usage_error("expand: at most 256 --item values");
    if ((rc = lk_expand_parse(a, &o, &n))) return rc;
    int route = lk_route_parse_opts(route_s, &o);
    for (int i = 0; i < ni; i++)
        if ((items[i] = lk_item_row(d, items_s[i])) < 0) return LK_EXIT_FAIL;
    if (seeds && (rc = read_seeds(d, seeds, &seed_rows, &ns))) return rc;
    int64_t *rows = malloc((size_t)n * sizeof *rows);
    float *sc = malloc((size_t)n * sizeof *sc);
    if (!rows || !sc) rc = lk_fail("out of memory for an audience of %lld", (long long)n);
    if (!rc)
        rc = lk_route_run(route, d, idx, meta, items, ni, seed_rows, ns, &o, n, rows, sc, &found);
    if (!rc) rc = lk_write_audience(d, out, rows, sc, found, route_s);
    if (!rc) {
        printf("expand: %s audience of %lld users%s written to %s\n", route_s, (long long)found,
               found < n ? " (all the candidates the route found)" : "", out);
    }
    free(rows);
    free(sc);
    free(seed_rows);
    return rc;
}

int lk_cmd_expand(int argc, char **argv) {
    const char *const *lists[] = {LK_EXPAND_OPTS, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "expand", lists);
    const char *model = lk_arg(&a, "model"), *index = lk_arg(&a, "index"), *out = lk_arg(&a, "out");
    if (!rc && (!model || !out)) rc = lk_usage_error("expand: --model and --out are required");
    if (!rc && !index && (!lk_arg(&a, "route") || !strcmp(lk_arg(&a, "route"), "i2u2u")))
        rc = lk_usage_error("expand: --index is required for --route i2u2u");
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    lk_data d;
    vecidx *idx = NULL;
    lk_index_meta meta = {0, VECIDX_METRIC_IP, 0};
    double t0 = lk_now();
    if (!(rc = lk_data_load(&d, model)) && (!index || !(rc = lk_index_load(&idx, &meta, index, &d)))) {
        if (lk_arg(&a, "out-user-col"))
            snprintf(d.user_col, sizeof d.user_col, "%s", lk_arg(&a, "out-user-col"));
        rc = lk_expand_with(&d, idx, &meta, &a, out);
    }
    if (!rc) printf("expand: %.2f s\n", lk_now() - t0);
    vecidx_destroy(idx);
    lk_data_free(&d);
    lk_args_free(&a);
    return rc;
}
