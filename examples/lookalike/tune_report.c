/* lookalike tune: the choice on validation, the grid's table and plot, and the one
 * measurement of the chosen settings on the test period (tune.c runs the grid). */
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

static int is_old(int route) {
    return route == LK_ROUTE_I2U2U || route == LK_ROUTE_I2I2U || route == LK_ROUTE_I2U;
}

void lk_tune_choose(const lk_tune_ctx *x, const lk_tune_als *ac, int nac, const lk_tune_route *rc,
                    int nrc, const lk_score *grid, lk_tune_choice *ch) {
    double best = -1, fb[LK_NROUTES];
    ch->best = -1;
    for (int f = 0; f < LK_NROUTES; f++) ch->fam[f] = -1, fb[f] = -1;
    for (int c = 0; c < nac; c++) {
        if (!ac[c].run) continue;
        for (int r = 0; r < nrc; r++) {
            int i = c * nrc + r, fam = rc[r].route;
            double s = lk_tune_score(x, &grid[i]);
            if (s > best) { best = s; ch->best = i; } /* strictly: the first of a tie stays */
            if (s > fb[fam]) { fb[fam] = s; ch->fam[fam] = i; }
        }
    }
}

static const char *kname(const lk_tune_route *r, char *buf, size_t cap) {
    if (r->route != LK_ROUTE_I2U2U && r->route != LK_ROUTE_I2I2U) return "-";
    if (!r->o.k) return "auto";
    snprintf(buf, cap, "%lld", (long long)r->o.k);
    return buf;
}

static const char *cname(const lk_tune_route *r, char *buf, size_t cap) {
    int64_t c = r->route == LK_ROUTE_I2C2U ? r->o.clusters : r->route == LK_ROUTE_I2S2U ? r->o.segments : -1;
    if (c < 0) return "-"; /* (i2s2u: its segments) */
    if (!c) return "auto";
    snprintf(buf, cap, "%lld", (long long)c);
    return buf;
}

static const char *aname(const lk_tune_route *r) {
    if (r->route != LK_ROUTE_I2U2U || r->o.agg < 0) return "-";
    return r->o.agg == VECIDX_AGG_SUM ? "sum" : r->o.agg == VECIDX_AGG_MAX ? "max" : "mean";
}

static const char *xname(const lk_tune_route *r, char *buf, size_t cap) {
    if (!r->has_activity) return "-";
    snprintf(buf, cap, "%g", r->o.activity);
    return buf;
}

static const lk_score *g_grid; /* qsort context: the grid being sorted, and its ctx */
static const lk_tune_ctx *g_x;
static int by_score(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    double si = lk_tune_score(g_x, &g_grid[i]), sj = lk_tune_score(g_x, &g_grid[j]);
    if (si != sj) return si > sj ? -1 : 1;
    return (i > j) - (i < j);
}

int lk_tune_report_grid(const lk_tune_ctx *x, const char *dir, const lk_tune_als *ac, int nac,
                        const lk_tune_route *rc, int nrc, const lk_score *grid,
                        const lk_tune_choice *ch, double val_new_buyers, const lk_score *val_pop) {
    char path[4200], kb[32], cb[32], xb[32];
    lk_out o;
    int n = nac * nrc, nrun = 0, *ord = malloc((size_t)(n ? n : 1) * sizeof *ord);
    if (!ord) return lk_fail("out of memory");
    snprintf(path, sizeof path, "%s/tune_grid.csv", dir);
    if (lk_out_open(&o, path)) { free(ord); return LK_EXIT_FAIL; }
    /* the blend's spelling holds commas: it goes last, quoted, so that the columns before
     * it stay where the plot reads them */
    fprintf(o.f, "id,route,k,agg,clusters,activity,rank,alpha,regParam,maxIter,als_seconds,route_seconds");
    for (int s = 0; s < x->ns; s++) fprintf(o.f, ",val_lift_%lld", (long long)x->sizes[s]);
    fprintf(o.f, ",score,chosen,measured,spec\n");
    for (int c = 0; c < nac; c++)
        for (int r = 0; r < nrc; r++) {
            int i = c * nrc + r;
            const lk_tune_route *rt = &rc[r];
            fprintf(o.f, "%d,%s,%s,%s,%s,%s,%lld,%g,%g,%lld,%.3f", i + 1, lk_route_name(rt->route),
                    kname(rt, kb, sizeof kb), aname(rt), cname(rt, cb, sizeof cb), xname(rt, xb, sizeof xb),
                    (long long)ac[c].rank, ac[c].alpha, ac[c].reg, (long long)ac[c].iter, ac[c].fit_s);
            fprintf(o.f, ",%.3f", grid[i].secs);
            for (int s = 0; s < x->ns; s++)
                if (ac[c].run) fprintf(o.f, ",%.4f", lk_tune_lift(&grid[i], s));
                else fprintf(o.f, ",");
            if (ac[c].run) fprintf(o.f, ",%.4f,%d,1,\"%s\"\n", lk_tune_score(x, &grid[i]), i == ch->best, rt->spec);
            else fprintf(o.f, ",,0,0,\"%s\"\n", rt->spec);
            if (ac[c].run) ord[nrun++] = i;
        }
    if (lk_out_commit(&o)) { free(ord); return LK_EXIT_FAIL; }
    g_grid = grid;
    g_x = x;
    qsort(ord, (size_t)nrun, sizeof *ord, by_score);
    printf("\nthe grid on validation (%.0f new buyers), best first; score = mean lift at the %d "
           "smallest sizes\n", val_new_buyers, x->nsel);
    printf("%4s %-26s %5s %4s %5s %4s %5s %6s %8s %5s", "id", "route", "k", "agg", "clust", "act",
           "rank", "alpha", "regParam", "iter");
    for (int s = 0; s < x->ns; s++) {
        char h[32];
        snprintf(h, sizeof h, "lift@%lld", (long long)x->sizes[s]);
        printf(" %8s", h);
    }
    printf(" %7s\n", "score");
    for (int q = 0; q < nrun; q++) {
        int i = ord[q], c = i / nrc, r = i % nrc;
        const lk_tune_route *rt = &rc[r];
        printf("%4d %-26s %5s %4s %5s %4s %5lld %6g %8g %5lld", i + 1, rt->spec, kname(rt, kb, sizeof kb),
               aname(rt), cname(rt, cb, sizeof cb), xname(rt, xb, sizeof xb), (long long)ac[c].rank,
               ac[c].alpha, ac[c].reg, (long long)ac[c].iter);
        for (int s = 0; s < x->ns; s++) printf(" %8.2f", lk_tune_lift(&grid[i], s));
        printf(" %7.3f%s\n", lk_tune_score(x, &grid[i]), i == ch->best ? "  <- chosen" : "");
    }
    printf("%4s %-26s %48s", "", "popular (most active users)", "");
    for (int s = 0; s < x->ns; s++) printf(" %8.2f", lk_tune_lift(val_pop, s));
    printf(" %7.3f  (a baseline, not a choice)\n", lk_tune_score(x, val_pop));
    int skipped = 0;
    for (int c = 0; c < nac; c++) skipped += !ac[c].run;
    if (skipped)
        printf("(%d ALS settings not measured: past the --budget; tune_grid.csv lists them)\n", skipped);
    printf("tune: wrote %s\n", path);
    free(ord);
    return 0;
}

/* The test table: the choice and each family's best, then the baselines. */
typedef struct {
    int grid;           /* grid index */
    const char *label;  /* "chosen" or "best <family>" */
    lk_score test;
} tested;

static int write_plot(const lk_tune_ctx *x, const char *dir, const tested *t, int nt,
                      const char *grid_csv, const char *test_csv) {
    char png[4200], body[20000], labels[1024] = "";
    snprintf(png, sizeof png, "%s/tune.png", dir);
    for (int i = 0; i < nt; i++) {
        size_t l = strlen(labels);
        snprintf(labels + l, sizeof labels - l, "%s%s", i ? " " : "", t[i].label);
    }
    /* the test CSV's labels have no blanks ("best_i2u2u"), so gnuplot's word list works */
    int col = 13 + x->ns; /* the score column of tune_grid.csv */
    snprintf(body, sizeof body,
             "set termoption noenhanced\nset datafile separator ','\nset grid\nset key outside right top\n"
             "set multiplot layout 1,2 title 'lookalike tune: chosen on validation (left); "
             "test period measured once, after the choice (right)' font 'sans,14'\n"
             "set title 'validation score of every setting of the grid'\n"
             "set xlabel 'setting (id in tune_grid.csv)'\nset ylabel 'mean lift over random, %d smallest sizes'\n"
             "plot for [r in 'i2u2u i2i2u i2u seedclf i2c2u i2s2u blend'] '%s' using 1:(strcol(2) eq r ? column(%d) : NaN) "
             "with points pt 7 ps 0.8 title r, '%s' using 1:(column(%d) == 1 ? column(%d) : NaN) "
             "with points pt 6 ps 3 lw 2 lc rgb 'black' title 'chosen'\n"
             "set title 'test period: lift of the settings chosen on validation'\nset logscale x\n"
             "set xlabel 'audience size (users, log scale)'\nset ylabel 'lift (hits / hits of random)'\n"
             "plot for [r in '%s popular random'] '%s' using 2:(strcol(1) eq r ? column(5) : NaN) "
             "with linespoints lw 2 title r\nunset multiplot\n",
             x->nsel, grid_csv, col, grid_csv, col + 1, col, labels, test_csv);
    return lk_plot("tune", png, 1500, 600, body);
}

int lk_tune_report_test(const lk_tune_ctx *x, const char *dir, const lk_tune_als *ac,
                        const lk_tune_route *rc, int nrc, const lk_score *grid,
                        const lk_tune_choice *ch, const als_ratings *train, const lk_rows *test) {
    static const char *const fam_label[LK_NROUTES] = {"best_i2u2u", "best_i2i2u", "best_i2u",
                                                      "best_seedclf", "best_blend", "best_i2c2u",
                                                      "best_i2s2u"};
    static const int fam_order[LK_NROUTES] = {LK_ROUTE_I2U2U, LK_ROUTE_I2I2U, LK_ROUTE_I2U,
                                              LK_ROUTE_SEEDCLF, LK_ROUTE_I2C2U, LK_ROUTE_I2S2U,
                                              LK_ROUTE_BLEND};
    tested t[1 + LK_NROUTES];
    int nt = 0, rc_ = 0;
    memset(t, 0, sizeof t);
    t[nt].grid = ch->best;
    t[nt++].label = "chosen";
    for (int q = 0; q < LK_NROUTES; q++) {
        int f = fam_order[q];
        if (ch->fam[f] < 0) continue;
        t[nt].grid = ch->fam[f];
        t[nt++].label = fam_label[f];
    }
    /* one fit per distinct ALS setting on the whole training period */
    lk_score pop;
    double nb = 0;
    int have_pop = 0, done[1 + LK_NROUTES] = {0};
    for (int i = 0; i < nt && !rc_; i++) {
        if (done[i]) continue;
        int c = t[i].grid / nrc, which[1 + LK_NROUTES], slot[1 + LK_NROUTES], nw = 0;
        lk_score out[1 + LK_NROUTES];
        for (int j = i; j < nt; j++)
            if (!done[j] && t[j].grid / nrc == c) { which[nw] = t[j].grid % nrc; slot[nw++] = j; done[j] = 1; }
        rc_ = lk_tune_measure_als(x, &ac[c], train, test, rc, which, nw, out, have_pop ? NULL : &pop, &nb);
        have_pop = 1;
        for (int w = 0; w < nw && !rc_; w++) t[slot[w]].test = out[w];
    }
    if (rc_) return rc_;
    /* print and write */
    char path[4200], gpath[4200], set[512], kb[32], cb[32], xb[32];
    lk_out o;
    snprintf(path, sizeof path, "%s/tune_test.csv", dir);
    snprintf(gpath, sizeof gpath, "%s/tune_grid.csv", dir);
    if (lk_out_open(&o, path)) return LK_EXIT_FAIL;
    fprintf(o.f, "label,audience,users,hits,lift_random,val_lift_random,route,settings\n");
    const tested *chosen = &t[0];
    lk_tune_settings(&rc[chosen->grid % nrc], &ac[chosen->grid / nrc], set, sizeof set);
    printf("\ntune: chosen on validation; test rows not read until the choice was made\n");
    printf("tune: chosen: %s (%s), validation score %.3f\n", rc[chosen->grid % nrc].spec, set,
           lk_tune_score(x, &grid[chosen->grid]));
    printf("\nthe test period (%.0f new buyers), each setting chosen on validation:\n", nb);
    printf("%-13s %-26s %5s %4s %5s %4s %5s %6s %8s %5s |", "", "route", "k", "agg", "clust", "act",
           "rank", "alpha", "regParam", "iter");
    for (int s = 0; s < x->nsel; s++) printf(" val@%-4lld", (long long)x->sizes[s]);
    printf(" |");
    for (int s = 0; s < x->ns; s++) printf(" test@%-5lld", (long long)x->sizes[s]);
    printf("\n");
    for (int i = 0; i < nt; i++) {
        const lk_tune_route *rt = &rc[t[i].grid % nrc];
        const lk_tune_als *c = &ac[t[i].grid / nrc];
        printf("%-13s %-26s %5s %4s %5s %4s %5lld %6g %8g %5lld |", t[i].label, rt->spec,
               kname(rt, kb, sizeof kb), aname(rt), cname(rt, cb, sizeof cb), xname(rt, xb, sizeof xb),
               (long long)c->rank, c->alpha, c->reg, (long long)c->iter);
        for (int s = 0; s < x->nsel; s++) printf(" %8.2f", lk_tune_lift(&grid[t[i].grid], s));
        printf(" |");
        for (int s = 0; s < x->ns; s++) printf(" %10.2f", lk_tune_lift(&t[i].test, s));
        printf("\n");
        lk_tune_settings(rt, c, set, sizeof set);
        for (int s = 0; s < x->ns; s++)
            fprintf(o.f, "%s,%lld,%.0f,%.0f,%.4f,%.4f,\"%s\",\"%s\"\n", t[i].label,
                    (long long)x->sizes[s], t[i].test.aud[s], t[i].test.hits[s],
                    lk_tune_lift(&t[i].test, s), lk_tune_lift(&grid[t[i].grid], s), rt->spec, set);
    }
    printf("%-13s %-26s %48s |", "popular", "(most active users)", "");
    for (int s = 0; s < x->nsel; s++) printf(" %8s", "-");
    printf(" |");
    for (int s = 0; s < x->ns; s++) printf(" %10.2f", lk_tune_lift(&pop, s));
    printf("\n");
    for (int s = 0; s < x->ns; s++)
        fprintf(o.f, "popular,%lld,%.0f,%.0f,%.4f,,popular,\n", (long long)x->sizes[s], pop.aud[s],
                pop.hits[s], lk_tune_lift(&pop, s));
    for (int s = 0; s < x->ns; s++)
        fprintf(o.f, "random,%lld,%.0f,%.1f,1,,random,\n", (long long)x->sizes[s], pop.aud[s],
                pop.rnd[s]);
    if (lk_out_commit(&o)) return LK_EXIT_FAIL;
    /* new routes against the old ones, both chosen on validation */
    int bo = -1, bn = -1;
    for (int f = 0; f < LK_NROUTES; f++) {
        int g = ch->fam[f];
        if (g < 0) continue;
        int *b = is_old(f) ? &bo : &bn;
        if (*b < 0 || lk_tune_score(x, &grid[g]) > lk_tune_score(x, &grid[*b])) *b = g;
    }
    if (bo >= 0 && bn >= 0) {
        const lk_score *so = NULL, *sn = NULL;
        for (int i = 0; i < nt; i++) {
            if (t[i].grid == bo && !so) so = &t[i].test;
            if (t[i].grid == bn && !sn) sn = &t[i].test;
        }
        printf("\nnew routes (seedclf, i2c2u, i2s2u, blends) against i2u2u, i2i2u, i2u, on the test period:\n");
        printf("  best new on validation: %s; best old on validation: %s\n", rc[bn % nrc].spec, rc[bo % nrc].spec);
        for (int s = 0; s < x->nsel; s++) {
            double ln = lk_tune_lift(sn, s), lo = lk_tune_lift(so, s), lmax = 0;
            for (int i = 1; i < nt; i++) /* the strictest comparison: the best old on test */
                if (is_old(rc[t[i].grid % nrc].route) && lk_tune_lift(&t[i].test, s) > lmax)
                    lmax = lk_tune_lift(&t[i].test, s);
            printf("  audience %lld: new %.2f vs old %.2f (%+.1f %%); vs the best of the three old "
                   "routes on test, %.2f: %+.1f %%\n", (long long)x->sizes[s], ln, lo,
                   lo > 0 ? 100.0 * (ln / lo - 1) : 0.0, lmax, lmax > 0 ? 100.0 * (ln / lmax - 1) : 0.0);
        }
    }
    lk_tune_options(&rc[chosen->grid % nrc], &ac[chosen->grid / nrc], set, sizeof set);
    printf("\ntune: the chosen settings as backtest options (the same test numbers): %s\n", set);
    printf("tune: wrote %s\n", path);
    return write_plot(x, dir, t, nt, gpath, path);
}
