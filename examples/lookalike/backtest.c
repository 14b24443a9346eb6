/* lookalike backtest: would the routes have found an item's next buyers?
 * Train on the earlier part of the log, seed from the item's earlier buyers, and count how
 * many of its new buyers (later buyers who are known users and had not bought it before)
 * each route's audience holds, at each audience size. Baselines of the same size: a random
 * audience (its expected hits: size x the new buyers' share of the eligible users) and the
 * most active users. Sums over the target items (micro-averages). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lookalike.h"

#define NROUTES LK_NROUTES

typedef struct {
    lk_score S[NROUTES + 1]; /* routes, then popularity */
    double new_buyers;
} tally;

static int report(const tally *T, const int *routes, int nr, const int64_t *sizes, int ns,
                  const char *csv, const char *png) {
    lk_out o;
    if (lk_out_open(&o, csv)) return LK_EXIT_FAIL;
    fprintf(o.f, "route,audience,users,hits,precision,recall,lift_random,lift_popular\n");
    printf("\n%-8s %9s %9s %8s %9s %8s %11s %12s\n", "route", "audience", "users", "hits",
           "precision", "recall", "lift/random", "lift/popular");
    for (int r = 0; r <= nr; r++) {
        int slot = r < nr ? routes[r] : NROUTES;
        const char *name = r < nr ? lk_route_name(routes[r]) : "popular";
        for (int s = 0; s < ns; s++) {
            double h = T->S[slot].hits[s], aud = T->S[slot].aud[s], rnd = T->S[slot].rnd[s];
            double ph = T->S[NROUTES].hits[s] * (aud / (T->S[NROUTES].aud[s] > 0 ? T->S[NROUTES].aud[s] : 1));
            double prec = aud > 0 ? h / aud : 0, rec = T->new_buyers > 0 ? h / T->new_buyers : 0;
            double lr = rnd > 0 ? h / rnd : 0, lp = ph > 0 ? h / ph : 0;
            printf("%-8s %9lld %9.0f %8.0f %9.4f %8.4f %11.2f %12.2f\n", name, (long long)sizes[s],
                   aud, h, prec, rec, lr, lp);
            fprintf(o.f, "%s,%lld,%.0f,%.0f,%.6f,%.6f,%.4f,%.4f\n", name, (long long)sizes[s], aud,
                    h, prec, rec, lr, lp);
        }
    }
    for (int s = 0; s < ns; s++) { /* the random audience's expectation */
        double aud = (double)sizes[s] * (T->S[NROUTES].aud[s] > 0 ? 1 : 0);
        double rnd = T->S[NROUTES].rnd[s], h = rnd;
        printf("%-8s %9lld %9s %8.1f %9.4f %8.4f %11.2f %12s\n", "random", (long long)sizes[s],
               "-", h, T->S[NROUTES].aud[s] > 0 ? rnd / T->S[NROUTES].aud[s] : 0,
               T->new_buyers > 0 ? h / T->new_buyers : 0, 1.0, "-");
        fprintf(o.f, "random,%lld,%.0f,%.1f,%.6f,%.6f,1,\n", (long long)sizes[s], aud, h,
                T->S[NROUTES].aud[s] > 0 ? rnd / T->S[NROUTES].aud[s] : 0,
                T->new_buyers > 0 ? h / T->new_buyers : 0);
    }
    printf("(%.0f new buyers in the later part; lift = hits / hits of the baseline audience of "
           "the same size)\n", T->new_buyers);
    if (lk_out_commit(&o)) return LK_EXIT_FAIL;
    printf("backtest: wrote %s\n", csv);
    /* AUC and lift by decile of the ranking of all eligible users */
    char dpath[4300];
    size_t cl = strlen(csv);
    snprintf(dpath, sizeof dpath, "%.*s_deciles.csv", (int)(cl > 4 && !strcmp(csv + cl - 4, ".csv") ? cl - 4 : cl), csv);
    if (lk_out_open(&o, dpath)) return LK_EXIT_FAIL;
    fprintf(o.f, "route,auc,lift_d1,lift_d2,lift_d3,lift_d4,lift_d5,lift_d6,lift_d7,lift_d8,lift_d9,lift_d10\n");
    printf("\n%-8s %6s   lift by decile of the ranking of the eligible users (1 = top tenth)\n", "route", "AUC");
    for (int r = 0; r <= nr; r++) {
        int slot = r < nr ? routes[r] : NROUTES;
        const char *name = r < nr ? lk_route_name(routes[r]) : "popular";
        if (T->S[slot].auc_den <= 0) continue;
        double auc = T->S[slot].auc_num / T->S[slot].auc_den;
        printf("%-8s %6.3f  ", name, auc);
        fprintf(o.f, "%s,%.6f", name, auc);
        for (int b = 0; b < 10; b++) {
            double lift = T->S[slot].dec_new > 0 ? T->S[slot].dec_hits[b] / (T->S[slot].dec_new / 10.0) : 0;
            printf(" %5.2f", lift);
            fprintf(o.f, ",%.4f", lift);
        }
        printf("\n");
        fprintf(o.f, "\n");
    }
    printf("(users past a route's ranking at the largest --audience share its last place: ask for "
           "a larger audience to rank deeper)\n");
    if (lk_out_commit(&o)) return LK_EXIT_FAIL;
    printf("backtest: wrote %s\n", dpath);
    if (!png) return 0;
    char body[10000]; /* two paths of up to 4200 bytes and the script */
    snprintf(body, sizeof body,
             "set datafile separator ','\nset logscale x\nset grid\nset key left top\n"
             "set multiplot layout 1,2 title 'lookalike backtest: %.0f new buyers of the target "
             "items in the later period' font 'sans,14'\n"
             "set xlabel 'audience size (users, log scale)'\n"
             "set title 'lift over a random audience of the same size'\n"
             "set ylabel 'lift (hits / hits of random)'\nplot for [r in 'i2u2u i2i2u i2u seedclf i2c2u i2s2u blend popular random'] "
             "'%s' using ($2):(strcol(1) eq r ? (strcol(7) eq '' ? 1 : $7) : NaN) with linespoints lw 2 title r\n"
             "set title 'recall: share of the new buyers reached'\nset ylabel 'recall'\n"
             "plot for [r in 'i2u2u i2i2u i2u seedclf i2c2u i2s2u blend popular random'] '%s' using "
             "($2):(strcol(1) eq r ? $6 : NaN) with linespoints lw 2 title r\nunset multiplot\n",
             T->new_buyers, csv, csv);
    return lk_plot("backtest", png, 1400, 560, body);
}

int lk_cmd_backtest(int argc, char **argv) {
    static const char *const own[] = {"ratings", "train", "test", "item*", "top-items", "time-split", "fraction",
                                      "route", "audience", "out", "dir", "plot", "kind", "nlist",
                                      "metric", "k", "nprobe", "agg", "seed-clusters", "activity", "segments", "quiet!", NULL};
    const char *const *lists[] = {own, LK_CSV_OPTS, LK_ALS_PARAMS, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "backtest", lists);
    const char *in = lk_arg(&a, "ratings"), *when = lk_arg(&a, "time-split");
    /* Outputs go where --out / --plot / --dir say; with none of them, into the current
     * folder, and the program says so with the full path. */
    const char *dir = lk_arg(&a, "dir");
    char csv_buf[4200], cwd[4096];
    if (lk_arg(&a, "out")) {
        snprintf(csv_buf, sizeof csv_buf, "%s", lk_arg(&a, "out"));
    } else if (dir) {
        snprintf(csv_buf, sizeof csv_buf, "%s/backtest.csv", dir);
        if (!rc) rc = lk_mkdir_p(dir);
    } else {
        snprintf(csv_buf, sizeof csv_buf, "backtest.csv");
        if (!rc && getcwd(cwd, sizeof cwd))
            printf("backtest: no --out or --dir: the table and plot go to the current folder, %s\n", cwd);
    }
    const char *csv = csv_buf;
    const char *items_s[256];
    int nitems = lk_arg_all(&a, "item", items_s, 256), routes[NROUTES], nr = 0, ns = 0;
    int64_t sizes[LK_MAX_SIZES], top = 0, nlist = 0;
    double frac = 0.8;
    lk_route_opts o = LK_ROUTE_OPTS_INIT;
    const char *trainf = lk_arg(&a, "train"), *testf = lk_arg(&a, "test");
    if (!rc && (!trainf) != (!testf)) rc = lk_usage_error("backtest: --train and --test go together");
    if (!rc && trainf && (in || when || lk_arg(&a, "fraction")))
        rc = lk_usage_error("backtest: --train/--test is the split: no --ratings, --time-split or --fraction");
    if (!rc && !in && !trainf) rc = lk_usage_error("backtest: --ratings (or --train and --test) is required");
    if (!rc && (nitems > 0) == (lk_arg(&a, "top-items") != NULL))
        rc = lk_usage_error("backtest: give --item ID... or --top-items N");
    if (!rc && nitems > 256) rc = lk_usage_error("backtest: at most 256 --item values");
    if (!rc && lk_arg(&a, "top-items") && lk_parse_i64(lk_arg(&a, "top-items"), 1, 256, &top))
        rc = lk_usage_error("backtest: --top-items is an integer in [1, 256]");
    if (!rc && when && lk_arg(&a, "fraction")) rc = lk_usage_error("backtest: --time-split or --fraction, not both");
    if (!rc && when && !lk_arg(&a, "time-col")) rc = lk_usage_error("backtest: --time-split needs --time-col");
    if (!rc && lk_arg(&a, "fraction") &&
        (lk_parse_double(lk_arg(&a, "fraction"), &frac) || !(frac > 0 && frac < 1)))
        rc = lk_usage_error("backtest: --fraction is a number in (0, 1)");
    if (!rc && lk_parse_sizes(lk_arg(&a, "audience") ? lk_arg(&a, "audience") : "1000,5000,10000,50000",
                              sizes, LK_MAX_SIZES, &ns))
        rc = lk_usage_error("backtest: --audience is a comma-separated list of positive sizes");
    if (!rc) {
        char buf[256], *save = NULL;
        snprintf(buf, sizeof buf, "%s", lk_arg(&a, "route") ? lk_arg(&a, "route") : "i2u2u,i2i2u,i2u");
        for (char *t = strtok_r(buf, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
            if (!strncmp(t, "blend:", 6)) { /* a blend takes the rest of the list */
                char spec[256];
                const char *rest = strtok_r(NULL, "", &save);
                snprintf(spec, sizeof spec, "%s%s%s", t, rest ? "," : "", rest ? rest : "");
                int r = lk_route_parse_opts(spec, &o);
                if (r < 0 || nr == NROUTES) rc = lk_usage_error("backtest: --route: '%s' is not a blend of distinct routes", spec);
                else routes[nr++] = r;
                break;
            }
            int r = lk_route_parse(t);
            if (r < 0 || nr == NROUTES) rc = lk_usage_error("backtest: --route: '%s' is not i2u2u, i2i2u, i2u, seedclf, i2c2u, i2s2u or blend:...", t);
            else routes[nr++] = r;
        }
    }
    if (!rc) {
        rc = lk_expand_parse(&a, &o, NULL);
    }
    if (!rc && lk_arg(&a, "nlist") && lk_parse_i64(lk_arg(&a, "nlist"), 1, INT32_MAX, &nlist))
        rc = lk_usage_error("backtest: --nlist is a positive integer");
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    als_ratings *all = NULL, *train = NULL;
    als_model *m = NULL;
    lk_data d;
    vecidx *idx = NULL;
    lk_index_meta meta;
    lk_rows tr, test;
    int64_t items[256], *is_new = NULL, *pop = NULL, *rows = NULL;
    float *sc = NULL;
    lk_target g;
    tally *T = calloc(1, sizeof *T);
    memset(&d, 0, sizeof d);
    memset(&tr, 0, sizeof tr);
    memset(&test, 0, sizeof test);
    memset(&g, 0, sizeof g);
    double t0 = lk_now();
    int timed = lk_arg(&a, "time-col") != NULL;
    if (!T) { rc = lk_fail("out of memory"); goto out; }
    if (trainf) {
        if ((rc = lk_read_split_files("backtest", &a, trainf, testf, 0, &all, &test))) goto out;
    } else {
        if ((rc = lk_read_ratings(&a, in, timed, &all)) ||
            (rc = lk_split_file("backtest", all, timed, when, frac, &tr, &test)) ||
            (rc = lk_rows_ratings(&tr, &train)))
            goto out;
        fprintf(stderr, "backtest: %lld earlier rows for training, %lld later rows to measure\n",
                (long long)tr.n, (long long)test.n);
        lk_rows_free(&tr);
    }
    const als_ratings *fit_on = train ? train : all;
    if ((rc = als_model_create(&m))) { rc = lk_lib_fail("model", rc); goto out; }
    if ((rc = lk_model_configure(m, &a)) || (rc = lk_model_fit(m, fit_on, lk_arg_flag(&a, "quiet"))) ||
        (rc = lk_data_from_ratings(&d, m, fit_on)))
        goto out;
    d.names = all; /* the split's training part has no dictionaries; the full set does */
    if ((rc = lk_index_build(&idx, &d, lk_arg(&a, "kind") ? lk_arg(&a, "kind") : "flat", nlist,
                             lk_arg(&a, "metric") ? lk_arg(&a, "metric") : "cosine", &meta, 1)))
        goto out;
    if (top) { /* the items with the most distinct buyers in the earlier part */
        if ((nitems = lk_top_items(&d, top, items)) < 0) { rc = LK_EXIT_FAIL; goto out; }
    } else {
        for (int i = 0; i < nitems; i++)
            if ((items[i] = lk_item_row(&d, items_s[i])) < 0) { rc = LK_EXIT_FAIL; goto out; }
    }
    int64_t nmax = sizes[ns - 1];
    is_new = malloc((size_t)(d.nu ? d.nu : 1) * sizeof *is_new);
    rows = malloc((size_t)(nmax > d.nu ? nmax : d.nu) * sizeof *rows);
    sc = malloc((size_t)nmax * sizeof *sc);
    if (!is_new || !rows || !sc) { rc = lk_fail("out of memory"); goto out; }
    if ((rc = lk_popularity_order(&d, &pop))) goto out;
    for (int64_t u = 0; u < d.nu; u++) is_new[u] = -1;
    double t_routes[NROUTES] = {0};
    for (int t = 0; t < nitems; t++) {
        char lb[32];
        lk_target_free(&g);
        if ((rc = lk_target_init(&g, &d, items[t], t, &test, is_new))) goto out;
        T->new_buyers += (double)g.nnew;
        if (!lk_arg_flag(&a, "quiet"))
            fprintf(stderr, "backtest: item %s: %lld earlier buyers, %lld new buyers\n",
                    lk_item_label(&d, g.item, lb, sizeof lb), (long long)g.nb, (long long)g.nnew);
        for (int r = 0; r < nr; r++)
            if ((rc = lk_score_route(&T->S[routes[r]], routes[r], &o, &d, idx, &meta, &g, is_new,
                                     sizes, ns, rows, sc, &t_routes[routes[r]])))
                goto out;
        lk_score_popular(&T->S[NROUTES], &d, pop, &g, is_new, sizes, ns, rows);
    }
    printf("backtest: %d target items, train + %d routes in %.1f s (", nitems, nr, lk_now() - t0);
    for (int r = 0; r < nr; r++) printf("%s%s %.2f s", r ? ", " : "", lk_route_name(routes[r]), t_routes[routes[r]]);
    printf(")\n");
    char png[4200]; /* default plot: the CSV's name with .png */
    size_t cl = strlen(csv);
    snprintf(png, sizeof png, "%.*s.png", (int)(cl > 4 && !strcmp(csv + cl - 4, ".csv") ? cl - 4 : cl), csv);
    rc = report(T, routes, nr, sizes, ns, csv, lk_arg(&a, "plot") ? lk_arg(&a, "plot") : png);
out:
    lk_target_free(&g);
    lk_rows_free(&tr);
    lk_rows_free(&test);
    free(T); free(is_new); free(pop); free(rows); free(sc);
    vecidx_destroy(idx);
    lk_data_free(&d);
    als_model_destroy(m);
    als_ratings_destroy(train);
    als_ratings_destroy(all);
    lk_args_free(&a);
    return rc;
}
