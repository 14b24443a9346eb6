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

#define MAX_SIZES 32
#define NROUTES LK_NROUTES

typedef struct {
    double hits[NROUTES + 1][MAX_SIZES]; /* routes, then popularity */
    double aud[NROUTES + 1][MAX_SIZES];  /* audience users actually returned */
    double rnd[NROUTES + 1][MAX_SIZES];  /* expected random hits for that audience size */
    double new_buyers;
    /* AUC and lift by decile of each route's ranking of the eligible users (those who had
     * not bought the item): pairs (new buyer, other user) ordered right, and new buyers per
     * tenth of the ranking; users past the route's ranking share its last place */
    double auc_num[NROUTES + 1], auc_den[NROUTES + 1];
    double dec_hits[NROUTES + 1][10], dec_new[NROUTES + 1];
} tally;

/* AUC and decile hits of one ranking (rows[0..found), best first) of the eligible users
 * (n_elig of them, n_new new buyers among them). The users the ranking leaves out are
 * tied after it: they count as half-ordered pairs among themselves, and their new buyers
 * as spread evenly over the positions they share. */
static void rank_stats(const int64_t *rows, int64_t found, const int64_t *is_new, int64_t stamp,
                       int64_t n_elig, int64_t n_new, int slot, tally *T) {
    if (n_new == 0 || n_elig <= n_new) return;
    int64_t n_other = n_elig - n_new, hits = 0, others_seen = 0;
    double ordered = 0.0;
    for (int64_t j = 0; j < found; j++) {
        if (is_new[rows[j]] == stamp) hits++;
        else others_seen++;
    }
    int64_t left_new = n_new - hits, left_other = n_other - others_seen, seen = 0;
    for (int64_t j = 0; j < found; j++) {
        if (is_new[rows[j]] == stamp) {
            ordered += (double)(n_other - seen); /* every other user not yet passed */
            T->dec_hits[slot][j * 10 / n_elig] += 1.0;
        } else {
            seen++;
        }
    }
    ordered += 0.5 * (double)left_new * (double)left_other;
    T->auc_num[slot] += ordered;
    T->auc_den[slot] += (double)n_new * (double)n_other;
    /* the unranked tail, positions found .. n_elig - 1: its new buyers spread evenly */
    int64_t tail = n_elig - found;
    for (int b = 0; b < 10 && tail > 0; b++) {
        int64_t lo = b * n_elig / 10, hi = (b + 1) * n_elig / 10;
        int64_t ov = (hi < n_elig ? hi : n_elig) - (lo > found ? lo : found);
        if (ov > 0) T->dec_hits[slot][b] += (double)left_new * (double)ov / (double)tail;
    }
    T->dec_new[slot] += (double)n_new;
}

static int parse_list(const char *s, int64_t *v, int cap, int *n) {
    char buf[1024], *save = NULL;
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    *n = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n == cap || lk_parse_i64(t, 1, 1000000000, &v[*n])) return -1;
        (*n)++;
    }
    return *n ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The date (YYYY-MM-DD or DD-MM-YYYY) or integer time as the library stores times. */
static int parse_time(const char *s, int64_t *t) {
    int a, b, c;
    char tail;
    if (sscanf(s, "%d-%d-%d%c", &a, &b, &c, &tail) == 3) {
        int y = a > 31 ? a : c, m = b, d = a > 31 ? c : a;
        if (m < 1 || m > 12 || d < 1 || d > 31) return -1;
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
        int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        *t = (era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468) * 86400;
        return 0;
    }
    return lk_parse_i64(s, INT64_MIN, INT64_MAX, t);
}

/* Split rows: by time (time < t_split) when times were read, else by file order. */
static int split(const als_ratings *all, int timed, const char *when, double frac,
                 als_ratings **train, int64_t **test_u, int64_t **test_i, int64_t *ntest) {
    int64_t n = als_ratings_rows(all), t_split = 0, cut = (int64_t)(frac * (double)n);
    int64_t *u = malloc((size_t)n * sizeof *u), *it = malloc((size_t)n * sizeof *it);
    int64_t *tm = malloc((size_t)n * sizeof *tm);
    float *v = malloc((size_t)n * sizeof *v);
    int rc = 0;
    if (!u || !it || !tm || !v) { rc = lk_fail("out of memory"); goto out; }
    for (int64_t i = 0; i < n; i++) als_ratings_get(all, i, &u[i], &it[i], &v[i], &tm[i]);
    if (timed && when) {
        if (parse_time(when, &t_split)) { rc = lk_usage_error("backtest: --time-split: '%s' is not a date", when); goto out; }
    } else if (timed) { /* the time below which frac of the rows lie */
        int64_t *s = malloc((size_t)n * sizeof *s);
        if (!s) { rc = lk_fail("out of memory"); goto out; }
        memcpy(s, tm, (size_t)n * sizeof *s);
        qsort(s, (size_t)n, sizeof *s, cmp_i64);
        t_split = s[cut < n ? cut : n - 1];
        free(s);
    }
    int64_t a = 0, b = 0;
    *test_u = malloc((size_t)n * sizeof **test_u);
    *test_i = malloc((size_t)n * sizeof **test_i);
    if (!*test_u || !*test_i) { rc = lk_fail("out of memory"); goto out; }
    for (int64_t i = 0; i < n; i++) {
        int early = timed ? tm[i] < t_split : i < cut;
        if (early) { u[a] = u[i]; it[a] = it[i]; v[a++] = v[i]; }
        else { (*test_u)[b] = u[i]; (*test_i)[b++] = it[i]; }
    }
    *ntest = b;
    if (a == 0 || b == 0) { rc = lk_fail("backtest: the split leaves %s part empty", a ? "the later" : "the earlier"); goto out; }
    if ((rc = als_ratings_create(train)) || (rc = als_ratings_add(*train, a, u, it, v))) rc = lk_lib_fail("split", rc);
    else fprintf(stderr, "backtest: %lld earlier rows for training, %lld later rows to measure\n", (long long)a, (long long)b);
out:
    free(u); free(it); free(tm); free(v);
    return rc;
}

/* An id of the test file in the training file's terms: names go through the training
 * dictionary (a name it lacks, or an integer in a column of names, by its text), integers
 * stay; INT64_MIN when the training data cannot know it. */
static int64_t map_id(const als_ratings *train, const als_ratings *test, int col, int64_t id) {
    const char *name = col ? als_ratings_item_name(test, id) : als_ratings_user_name(test, id);
    int train_named = col ? als_ratings_num_items(train) > 0 && als_ratings_item_name(train, 0)
                          : als_ratings_num_users(train) > 0 && als_ratings_user_name(train, 0);
    char buf[32];
    if (train_named) {
        if (!name) {
            snprintf(buf, sizeof buf, "%lld", (long long)id);
            name = buf;
        }
        int64_t t = col ? als_ratings_item_id(train, name) : als_ratings_user_id(train, name);
        return t < 0 ? INT64_MIN : t;
    }
    if (!name) return id;
    int64_t v; /* a name in the test file that is a plain integer matches that integer */
    char back[32];
    if (lk_parse_i64(name, INT64_MIN, INT64_MAX, &v)) return INT64_MIN;
    snprintf(back, sizeof back, "%lld", (long long)v);
    return strcmp(back, name) ? INT64_MIN : v;
}

/* --train FILE --test FILE: the user's own split. */
static int read_split_files(const lk_args *a, const char *trainf, const char *testf,
                            als_ratings **train, int64_t **test_u, int64_t **test_i,
                            int64_t *ntest) {
    als_ratings *te = NULL;
    int rc = lk_read_ratings(a, trainf, 0, train);
    if (!rc) rc = lk_read_ratings(a, testf, 0, &te);
    if (rc) return rc;
    int64_t n = als_ratings_rows(te), m = 0, unknown = 0;
    *test_u = malloc((size_t)(n ? n : 1) * sizeof **test_u);
    *test_i = malloc((size_t)(n ? n : 1) * sizeof **test_i);
    if (!*test_u || !*test_i) {
        als_ratings_destroy(te);
        return lk_fail("out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it;
        als_ratings_get(te, i, &u, &it, NULL, NULL);
        u = map_id(*train, te, 0, u);
        it = map_id(*train, te, 1, it);
        if (u == INT64_MIN || it == INT64_MIN) {
            unknown++;
            continue;
        }
        (*test_u)[m] = u;
        (*test_i)[m++] = it;
    }
    als_ratings_destroy(te);
    *ntest = m;
    fprintf(stderr, "backtest: %lld training rows from %s, %lld test rows from %s (%lld with a "
            "user or item the training file lacks)\n", (long long)als_ratings_rows(*train), trainf,
            (long long)n, testf, (long long)unknown);
    if (m == 0) return lk_fail("backtest: no test row has a user and an item of the training file");
    return 0;
}

/* Users by activity in the training part, most active first (ties: smaller id). */
static const lk_data *g_pop_d;
static int cmp_pop(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int64_t cx = g_pop_d->user_count[x], cy = g_pop_d->user_count[y];
    if (cx != cy) return cx > cy ? -1 : 1;
    return (g_pop_d->user_ids[x] > g_pop_d->user_ids[y]) - (g_pop_d->user_ids[x] < g_pop_d->user_ids[y]);
}

/* Hits of a ranked audience at sizes[s0..s1) (prefixes of it). */
static void count_hits(const int64_t *rows, int64_t found, const int64_t *is_new, int64_t stamp,
                       const int64_t *sizes, int s0, int s1, double base, int slot, tally *T) {
    int64_t h = 0, j = 0;
    for (int s = s0; s < s1; s++) {
        int64_t lim = sizes[s] < found ? sizes[s] : found;
        for (; j < lim; j++) h += is_new[rows[j]] == stamp;
        T->hits[slot][s] += (double)h;
        T->aud[slot][s] += (double)lim;
        T->rnd[slot][s] += (double)lim * base;
    }
}

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
            double h = T->hits[slot][s], aud = T->aud[slot][s], rnd = T->rnd[slot][s];
            double ph = T->hits[NROUTES][s] * (aud / (T->aud[NROUTES][s] > 0 ? T->aud[NROUTES][s] : 1));
            double prec = aud > 0 ? h / aud : 0, rec = T->new_buyers > 0 ? h / T->new_buyers : 0;
            double lr = rnd > 0 ? h / rnd : 0, lp = ph > 0 ? h / ph : 0;
            printf("%-8s %9lld %9.0f %8.0f %9.4f %8.4f %11.2f %12.2f\n", name, (long long)sizes[s],
                   aud, h, prec, rec, lr, lp);
            fprintf(o.f, "%s,%lld,%.0f,%.0f,%.6f,%.6f,%.4f,%.4f\n", name, (long long)sizes[s], aud,
                    h, prec, rec, lr, lp);
        }
    }
    for (int s = 0; s < ns; s++) { /* the random audience's expectation */
        double aud = (double)sizes[s] * (T->aud[NROUTES][s] > 0 ? 1 : 0);
        double rnd = T->rnd[NROUTES][s], h = rnd;
        printf("%-8s %9lld %9s %8.1f %9.4f %8.4f %11.2f %12s\n", "random", (long long)sizes[s],
               "-", h, T->aud[NROUTES][s] > 0 ? rnd / T->aud[NROUTES][s] : 0,
               T->new_buyers > 0 ? h / T->new_buyers : 0, 1.0, "-");
        fprintf(o.f, "random,%lld,%.0f,%.1f,%.6f,%.6f,1,\n", (long long)sizes[s], aud, h,
                T->aud[NROUTES][s] > 0 ? rnd / T->aud[NROUTES][s] : 0,
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
        if (T->auc_den[slot] <= 0) continue;
        double auc = T->auc_num[slot] / T->auc_den[slot];
        printf("%-8s %6.3f  ", name, auc);
        fprintf(o.f, "%s,%.6f", name, auc);
        for (int b = 0; b < 10; b++) {
            double lift = T->dec_new[slot] > 0 ? T->dec_hits[slot][b] / (T->dec_new[slot] / 10.0) : 0;
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
    fflush(stdout);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("backtest: gnuplot is not installed, no plot (apt-get install gnuplot-nox)\n");
        return 0;
    }
    char script[4300], cmd[4400], tmp[4300];
    snprintf(script, sizeof script, "%s.gp", png);
    snprintf(tmp, sizeof tmp, "%s.tmp.png", png);
    FILE *g = fopen(script, "w");
    if (!g) return lk_fail("%s: cannot write the plot script", script);
    fprintf(g, "set terminal pngcairo size 1400,560 font 'sans,12'\nset output '%s'\n"
               "set datafile separator ','\nset logscale x\nset grid\nset key left top\n"
               "set multiplot layout 1,2 title 'lookalike backtest: %.0f new buyers of the target "
               "items in the later period' font 'sans,14'\n"
               "set xlabel 'audience size (users, log scale)'\n"
               "set title 'lift over a random audience of the same size'\n"
               "set ylabel 'lift (hits / hits of random)'\nplot for [r in 'i2u2u i2i2u i2u seedclf blend popular random'] "
               "'%s' using ($2):(strcol(1) eq r ? (strcol(7) eq '' ? 1 : $7) : NaN) with linespoints lw 2 title r\n"
               "set title 'recall: share of the new buyers reached'\nset ylabel 'recall'\n"
               "plot for [r in 'i2u2u i2i2u i2u seedclf blend popular random'] '%s' using "
               "($2):(strcol(1) eq r ? $6 : NaN) with linespoints lw 2 title r\nunset multiplot\n",
            tmp, T->new_buyers, csv, csv);
    fclose(g);
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
    fflush(stdout);
    int ok = system(cmd) == 0 && rename(tmp, png) == 0;
    remove(script);
    if (!ok) {
        remove(tmp);
        return lk_fail("%s: gnuplot failed", png);
    }
    printf("backtest: wrote %s\n", png);
    return 0;
}

int lk_cmd_backtest(int argc, char **argv) {
    static const char *const own[] = {"ratings", "train", "test", "item*", "top-items", "time-split", "fraction",
                                      "route", "audience", "out", "dir", "plot", "kind", "nlist",
                                      "metric", "k", "nprobe", "agg", "quiet!", NULL};
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
    int64_t sizes[MAX_SIZES], top = 0, nlist = 0;
    double frac = 0.8;
    lk_route_opts o = {0, 0, -1, {0, 0, 0, 0}, 0};
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
    if (!rc && parse_list(lk_arg(&a, "audience") ? lk_arg(&a, "audience") : "1000,5000,10000,50000",
                          sizes, MAX_SIZES, &ns))
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
            if (r < 0 || nr == NROUTES) rc = lk_usage_error("backtest: --route: '%s' is not i2u2u, i2i2u, i2u, seedclf or blend:...", t);
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
    qsort(sizes, (size_t)ns, sizeof sizes[0], cmp_i64);
    als_ratings *all = NULL, *train = NULL;
    als_model *m = NULL;
    lk_data d;
    vecidx *idx = NULL;
    lk_index_meta meta;
    int64_t *tu = NULL, *ti = NULL, ntest = 0, items[256], *is_new = NULL, *pop = NULL;
    int64_t *rows = NULL, *buyers = NULL, nb = 0;
    float *sc = NULL;
    tally *T = calloc(1, sizeof *T);
    memset(&d, 0, sizeof d);
    double t0 = lk_now();
    int timed = lk_arg(&a, "time-col") != NULL;
    if (!T) { rc = lk_fail("out of memory"); goto out; }
    if (trainf) {
        if ((rc = read_split_files(&a, trainf, testf, &all, &tu, &ti, &ntest))) goto out;
    } else if ((rc = lk_read_ratings(&a, in, timed, &all)) ||
               (rc = split(all, timed, when, frac, &train, &tu, &ti, &ntest))) {
        goto out;
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
        int64_t *ord = malloc((size_t)d.ni * sizeof *ord);
        if (!ord) { rc = lk_fail("out of memory"); goto out; }
        for (int64_t j = 0; j < d.ni; j++) ord[j] = j;
        for (int64_t t = 0; t < top && t < d.ni; t++) { /* partial selection sort */
            int64_t b = t;
            for (int64_t j = t + 1; j < d.ni; j++) {
                int64_t cj = d.item_ptr[ord[j] + 1] - d.item_ptr[ord[j]], cb = d.item_ptr[ord[b] + 1] - d.item_ptr[ord[b]];
                if (cj > cb || (cj == cb && d.item_ids[ord[j]] < d.item_ids[ord[b]])) b = j;
            }
            int64_t x = ord[t]; ord[t] = ord[b]; ord[b] = x;
            items[nitems++] = ord[t];
        }
        free(ord);
    } else {
        for (int i = 0; i < nitems; i++)
            if ((items[i] = lk_item_row(&d, items_s[i])) < 0) { rc = LK_EXIT_FAIL; goto out; }
    }
    int64_t nmax = sizes[ns - 1];
    is_new = malloc((size_t)d.nu * sizeof *is_new);
    pop = malloc((size_t)d.nu * sizeof *pop);
    rows = malloc((size_t)(nmax > d.nu ? nmax : d.nu) * sizeof *rows);
    sc = malloc((size_t)nmax * sizeof *sc);
    if (!is_new || !pop || !rows || !sc) { rc = lk_fail("out of memory"); goto out; }
    for (int64_t u = 0; u < d.nu; u++) { is_new[u] = -1; pop[u] = u; }
    g_pop_d = &d;
    qsort(pop, (size_t)d.nu, sizeof *pop, cmp_pop);
    double t_routes[NROUTES] = {0};
    for (int t = 0; t < nitems; t++) {
        int64_t it = items[t], it_id = d.item_ids[it], nnew = 0;
        char lb[32];
        free(buyers);
        buyers = NULL;
        if ((rc = lk_buyers(&d, &it, 1, &buyers, &nb))) goto out;
        for (int64_t i = 0; i < nb; i++) is_new[buyers[i]] = -2 - t; /* earlier buyer */
        for (int64_t i = 0; i < ntest; i++) {
            if (ti[i] != it_id) continue;
            int64_t u = als_model_user_row(m, tu[i]);
            if (u >= 0 && is_new[u] != -2 - t && is_new[u] != t) { is_new[u] = t; nnew++; }
        }
        double base = d.nu > nb ? (double)nnew / (double)(d.nu - nb) : 0;
        T->new_buyers += (double)nnew;
        if (!lk_arg_flag(&a, "quiet"))
            fprintf(stderr, "backtest: item %s: %lld earlier buyers, %lld new buyers\n",
                    lk_item_label(&d, it, lb, sizeof lb), (long long)nb, (long long)nnew);
        for (int r = 0; r < nr; r++) {
            if (nb == 0 && (routes[r] == LK_ROUTE_I2U2U || routes[r] == LK_ROUTE_SEEDCLF ||
                            routes[r] == LK_ROUTE_BLEND))
                continue; /* nothing to seed from */
            /* i2u is one ranking whose prefixes are the smaller audiences; the other two
             * adapt k to the audience size (auto k), so each size is its own run */
            /* i2u and seedclf rank every user once: their prefixes are the audiences */
            int per_size = routes[r] != LK_ROUTE_I2U && routes[r] != LK_ROUTE_SEEDCLF && o.k == 0;
            for (int s = per_size ? 0 : ns - 1; s < ns; s++) {
                int64_t found = 0;
                double tr = lk_now();
                if ((rc = lk_route_run(routes[r], &d, idx, &meta, &it, 1, NULL, 0, &o, sizes[s],
                                       rows, sc, &found)))
                    goto out;
                t_routes[routes[r]] += lk_now() - tr;
                count_hits(rows, found, is_new, t, sizes, per_size ? s : 0, s + 1, base, routes[r], T);
                if (s == ns - 1) rank_stats(rows, found, is_new, t, d.nu - nb, nnew, routes[r], T);
            }
        }
        int64_t np = 0; /* popularity: the most active users who had not bought it */
        for (int64_t i = 0; i < d.nu && np < nmax; i++)
            if (is_new[pop[i]] != -2 - t) rows[np++] = pop[i];
        count_hits(rows, np, is_new, t, sizes, 0, ns, base, NROUTES, T);
        np = 0; /* the whole activity ranking of the eligible users */
        for (int64_t i = 0; i < d.nu; i++)
            if (is_new[pop[i]] != -2 - t) rows[np++] = pop[i];
        rank_stats(rows, np, is_new, t, d.nu - nb, nnew, NROUTES, T);
    }
    printf("backtest: %d target items, train + %d routes in %.1f s (", nitems, nr, lk_now() - t0);
    for (int r = 0; r < nr; r++) printf("%s%s %.2f s", r ? ", " : "", lk_route_name(routes[r]), t_routes[routes[r]]);
    printf(")\n");
    char png[4200]; /* default plot: the CSV's name with .png */
    size_t cl = strlen(csv);
    snprintf(png, sizeof png, "%.*s.png", (int)(cl > 4 && !strcmp(csv + cl - 4, ".csv") ? cl - 4 : cl), csv);
    rc = report(T, routes, nr, sizes, ns, csv, lk_arg(&a, "plot") ? lk_arg(&a, "plot") : png);
out:
    free(T); free(tu); free(ti); free(is_new); free(pop); free(rows); free(sc); free(buyers);
    vecidx_destroy(idx);
    lk_data_free(&d);
    als_model_destroy(m);
    als_ratings_destroy(train);
    als_ratings_destroy(all);
    lk_args_free(&a);
    return rc;
}
