/* lookalike: the splits of backtest and tune. Rows are held as plain arrays: by time
 * (earlier rows train, later rows measure), by file order, at random (a hash of the row's
 * position and a seed), or the user's own two files. */
#include <stdlib.h>
#include <string.h>

#include "lookalike.h"

void lk_rows_free(lk_rows *r) {
    free(r->u); free(r->it); free(r->tm); free(r->v);
    memset(r, 0, sizeof *r);
}

static int rows_alloc(lk_rows *r, int64_t n) {
    size_t m = (size_t)(n ? n : 1);
    r->n = 0;
    r->u = malloc(m * sizeof *r->u);
    r->it = malloc(m * sizeof *r->it);
    r->tm = malloc(m * sizeof *r->tm);
    r->v = malloc(m * sizeof *r->v);
    if (r->u && r->it && r->tm && r->v) return 0;
    lk_rows_free(r);
    return lk_fail("out of memory");
}

int lk_rows_of(const als_ratings *all, lk_rows *out) {
    int64_t n = als_ratings_rows(all);
    if (rows_alloc(out, n)) return LK_EXIT_FAIL;
    for (int64_t i = 0; i < n; i++) {
        out->tm[i] = 0;
        als_ratings_get(all, i, &out->u[i], &out->it[i], &out->v[i], &out->tm[i]);
    }
    out->n = n;
    return 0;
}

static void put(lk_rows *r, const lk_rows *in, int64_t i) {
    r->u[r->n] = in->u[i];
    r->it[r->n] = in->it[i];
    r->tm[r->n] = in->tm[i];
    r->v[r->n++] = in->v[i];
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int lk_rows_split(const lk_rows *in, int mode, const int64_t *t_cut, double frac, uint64_t seed,
                  lk_rows *early, lk_rows *late) {
    int64_t n = in->n, cut = (int64_t)(frac * (double)n), t_split = 0;
    memset(early, 0, sizeof *early);
    memset(late, 0, sizeof *late);
    if (mode == LK_SPLIT_TIME) {
        if (t_cut) {
            t_split = *t_cut;
        } else if (n > 0) { /* the time below which frac of the rows lie */
            int64_t *s = malloc((size_t)n * sizeof *s);
            if (!s) return lk_fail("out of memory");
            memcpy(s, in->tm, (size_t)n * sizeof *s);
            qsort(s, (size_t)n, sizeof *s, cmp_i64);
            t_split = s[cut < n ? cut : n - 1];
            free(s);
        }
    }
    if (rows_alloc(early, n) || rows_alloc(late, n)) {
        lk_rows_free(early);
        return LK_EXIT_FAIL;
    }
    for (int64_t i = 0; i < n; i++) {
        int e;
        if (mode == LK_SPLIT_TIME) {
            e = in->tm[i] < t_split;
        } else if (mode == LK_SPLIT_ORDER) {
            e = i < cut;
        } else { /* a hash of (seed, position): the same rows for the same seed */
            uint64_t z = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0xbf58476d1ce4e5b9ull + 1;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            e = (double)(z >> 11) * 0x1.0p-53 < frac;
        }
        put(e ? early : late, in, i);
    }
    return 0;
}

int lk_rows_ratings(const lk_rows *r, als_ratings **out) {
    int rc = als_ratings_create(out);
    if (!rc) rc = als_ratings_add(*out, r->n, r->u, r->it, r->v);
    if (rc) {
        als_ratings_destroy(*out);
        *out = NULL;
        return lk_lib_fail("split", rc);
    }
    return 0;
}

int lk_parse_time(const char *s, int64_t *t) {
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

int lk_split_file(const char *cmd, const als_ratings *all, int timed, const char *when,
                  double frac, lk_rows *train, lk_rows *test) {
    lk_rows rows;
    int64_t t_split;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (timed && when && lk_parse_time(when, &t_split))
        return lk_usage_error("%s: --time-split: '%s' is not a date", cmd, when);
    if (lk_rows_of(all, &rows)) return LK_EXIT_FAIL;
    int rc = lk_rows_split(&rows, timed ? LK_SPLIT_TIME : LK_SPLIT_ORDER,
                           timed && when ? &t_split : NULL, frac, 0, train, test);
    lk_rows_free(&rows);
    if (rc) return rc;
    if (train->n == 0 || test->n == 0) {
        rc = lk_fail("%s: the split leaves %s part empty", cmd, train->n ? "the later" : "the earlier");
        lk_rows_free(train);
        lk_rows_free(test);
    }
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

int lk_read_split_files(const char *cmd, const lk_args *a, const char *trainf, const char *testf,
                        int want_time, als_ratings **train, lk_rows *test) {
    als_ratings *te = NULL;
    memset(test, 0, sizeof *test);
    int rc = lk_read_ratings(a, trainf, want_time, train);
    if (!rc) rc = lk_read_ratings(a, testf, 0, &te);
    if (rc) return rc;
    int64_t n = als_ratings_rows(te), unknown = 0;
    if (rows_alloc(test, n)) {
        als_ratings_destroy(te);
        return LK_EXIT_FAIL;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it;
        float v;
        als_ratings_get(te, i, &u, &it, &v, NULL);
        u = map_id(*train, te, 0, u);
        it = map_id(*train, te, 1, it);
        if (u == INT64_MIN || it == INT64_MIN) {
            unknown++;
            continue;
        }
        test->u[test->n] = u;
        test->it[test->n] = it;
        test->tm[test->n] = 0;
        test->v[test->n++] = v;
    }
    als_ratings_destroy(te);
    fprintf(stderr, "%s: %lld training rows from %s, %lld test rows from %s (%lld with a "
            "user or item the training file lacks)\n", cmd,
            (long long)als_ratings_rows(*train), trainf, (long long)n, testf, (long long)unknown);
    if (test->n == 0) return lk_fail("%s: no test row has a user and an item of the training file", cmd);
    return 0;
}
