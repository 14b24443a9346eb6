/* Ratings suite: the container, CSV reading, the string-id file and the splits, through
 * the public API. Counts and splits are checked against brute force computed here; the
 * real data sets under ALS_TEST_DATA (default ../shared/data) are read when present and
 * skipped with a message otherwise. Every file lives in a fresh temporary name and is
 * removed by the test that made it. */
#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#define TP 1024
#define NO_TIME INT64_MIN /* what als_ratings_get reports for a row without a timestamp */

/* ---------------------------------------------------------------- helpers */

static char g_sentinel; /* out-parameters start here so "set to NULL on failure" is seen */
#define SENTINEL ((als_ratings *)(void *)&g_sentinel)

static void write_bytes(const char *path, const char *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *text) {
    write_bytes(path, text, strlen(text));
}

/* Whole file as a NUL-terminated string (the caller frees it). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    return buf;
}

/* Read text as a file whose name ends in suffix (".csv" picks ',' by default). */
static int try_read_n(const char *suffix, const char *text, size_t n, const char *opts,
                      als_ratings **out) {
    char path[TP];
    tu_tmpname(path, sizeof path, suffix);
    write_bytes(path, text, n);
    *out = SENTINEL;
    int rc = als_ratings_read_csv(out, path, opts);
    unlink(path);
    if (rc) assert_null(*out);
    return rc;
}

static int try_read(const char *suffix, const char *text, const char *opts, als_ratings **out) {
    return try_read_n(suffix, text, strlen(text), opts, out);
}

static als_ratings *read_ok(const char *suffix, const char *text, const char *opts) {
    als_ratings *r = NULL;
    int rc = try_read(suffix, text, opts, &r);
    if (rc) {
        print_error("read_csv(options \"%s\") failed: %s\n--- text:\n%s\n", opts ? opts : "",
                    als_last_error(), text);
        fail();
    }
    return r;
}

static void expect_row(const als_ratings *r, int64_t i, int64_t u, int64_t it, float v,
                       int64_t t) {
    int64_t gu, gi, gt;
    float gv;
    assert_ok(als_ratings_get(r, i, &gu, &gi, &gv, &gt));
    if (gu != u || gi != it || gv != v || gt != t) {
        print_error("row %lld: got (%lld, %lld, %g, %lld), expected (%lld, %lld, %g, %lld)\n",
                    (long long)i, (long long)gu, (long long)gi, (double)gv, (long long)gt,
                    (long long)u, (long long)it, (double)v, (long long)t);
        fail();
    }
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Brute-force number of distinct values. */
static int64_t distinct(const int64_t *v, int64_t n) {
    int64_t *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c), d = 0;
    assert_non_null(c);
    if (n) memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_i64);
    for (int64_t i = 0; i < n; i++) d += i == 0 || c[i] != c[i - 1];
    free(c);
    return d;
}

static void expect_error_has(const char *needle) {
    if (!strstr(als_last_error(), needle)) {
        print_error("last error \"%s\" lacks \"%s\"\n", als_last_error(), needle);
        fail();
    }
}

static const char *data_dir(void) {
    const char *d = getenv("ALS_TEST_DATA");
    return d && *d ? d : "../shared/data";
}

/* ---------------------------------------------------------------- container */

static void test_create_destroy(void **state) {
    (void)state;
    als_ratings *r = NULL;
    assert_fails_with(als_ratings_create(NULL), ALS_EINVAL);
    assert_ok(als_ratings_create(&r));
    assert_non_null(r);
    assert_int_equal(als_ratings_rows(r), 0);
    assert_int_equal(als_ratings_num_users(r), 0);
    assert_int_equal(als_ratings_num_items(r), 0);
    assert_int_equal(als_ratings_bad_rows(r), 0);
    als_ratings_destroy(r);
    als_ratings_destroy(NULL);
    assert_int_equal(als_ratings_rows(NULL), 0);
    assert_int_equal(als_ratings_num_users(NULL), 0);
    assert_int_equal(als_ratings_num_items(NULL), 0);
    assert_int_equal(als_ratings_bad_rows(NULL), 0);
}

static void test_add_and_get(void **state) {
    (void)state;
    als_ratings *r;
    int64_t u[3] = {1, 2, 1}, it[3] = {10, 10, 20}, gu, gi, gt;
    float v[2] = {2.5f, -1.0f}, gv;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 3, u, it, NULL)); /* NULL values: 1.0 each */
    assert_ok(als_ratings_add(r, 2, u, it, v));
    assert_ok(als_ratings_add(r, 0, NULL, NULL, NULL)); /* nothing to add: arrays unused */
    assert_int_equal(als_ratings_rows(r), 5);
    assert_int_equal(als_ratings_num_users(r), 2);
    assert_int_equal(als_ratings_num_items(r), 2);
    expect_row(r, 0, 1, 10, 1.0f, NO_TIME);
    expect_row(r, 1, 2, 10, 1.0f, NO_TIME);
    expect_row(r, 2, 1, 20, 1.0f, NO_TIME);
    expect_row(r, 3, 1, 10, 2.5f, NO_TIME);
    expect_row(r, 4, 2, 10, -1.0f, NO_TIME);
    assert_ok(als_ratings_get(r, 4, NULL, NULL, NULL, NULL)); /* every output optional */
    assert_ok(als_ratings_get(r, 4, NULL, &gi, NULL, NULL));
    assert_int_equal(gi, 10);
    assert_fails_with(als_ratings_get(NULL, 0, &gu, &gi, &gv, &gt), ALS_EINVAL);
    assert_fails_with(als_ratings_get(r, -1, &gu, &gi, &gv, &gt), ALS_ERANGE);
    assert_fails_with(als_ratings_get(r, 5, &gu, &gi, &gv, &gt), ALS_ERANGE);
    als_ratings_destroy(r);
}

/* A failed add appends nothing: rows and distinct counts stay as they were. */
static void expect_unchanged(const als_ratings *r, int64_t rows, int64_t nu, int64_t ni) {
    assert_int_equal(als_ratings_rows(r), rows);
    assert_int_equal(als_ratings_num_users(r), nu);
    assert_int_equal(als_ratings_num_items(r), ni);
}

static void test_add_errors(void **state) {
    (void)state;
    als_ratings *r;
    int64_t u[4] = {1, 2, 3, 4}, it[4] = {5, 6, 7, 8}, t[4] = {1, 2, 3, 4};
    float v[4] = {1.0f, 2.0f, NAN, 4.0f};
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 1, u, it, NULL));
    for (int timed = 0; timed < 2; timed++) {
#define ADD(rr, n, uu, ii, vv) \
    (timed ? als_ratings_add_timed(rr, n, uu, ii, vv, t) : als_ratings_add(rr, n, uu, ii, vv))
        assert_fails_with(ADD(NULL, 1, u, it, NULL), ALS_EINVAL);
        assert_fails_with(ADD(r, -1, u, it, NULL), ALS_ERANGE);
        assert_fails_with(ADD(r, 2, NULL, it, NULL), ALS_EINVAL);
        assert_fails_with(ADD(r, 2, u, NULL, NULL), ALS_EINVAL);
        /* NaN in row 2 of 4 (new users and items): nothing appended, row named. */
        assert_fails_with(ADD(r, 4, u, it, v), ALS_EINVAL);
        expect_error_has("row 2");
        expect_unchanged(r, 1, 1, 1);
        v[2] = INFINITY;
        assert_fails_with(ADD(r, 4, u, it, v), ALS_EINVAL);
        expect_error_has("row 2");
        v[2] = -INFINITY;
        assert_fails_with(ADD(r, 3, u, it, v), ALS_EINVAL);
        v[2] = NAN;
        expect_unchanged(r, 1, 1, 1);
        /* id -1 is reserved (missing results): refused, nothing appended */
        {
            int64_t bu[2] = {9, -1}, bi[2] = {9, 9};
            assert_fails_with(ADD(r, 2, bu, bi, NULL), ALS_EINVAL);
            expect_error_has("-1");
            assert_fails_with(ADD(r, 2, bi, bu, NULL), ALS_EINVAL);
            expect_unchanged(r, 1, 1, 1);
        }
        /* Sizes that cannot be allocated fail before any array is read. */
        assert_fails_with(ADD(r, INT64_MAX / 4, u, it, NULL), ALS_ENOMEM);
        assert_fails_with(ADD(r, INT64_MAX, u, it, NULL), ALS_ENOMEM);
        expect_unchanged(r, 1, 1, 1);
#undef ADD
    }
    int64_t gt;
    assert_ok(als_ratings_get(r, 0, NULL, NULL, NULL, &gt));
    assert_true(gt == NO_TIME); /* the failed timed adds did not attach timestamps */
    als_ratings_destroy(r);
}

static void test_add_counts_bruteforce(void **state) {
    (void)state;
    uint64_t seed = 12345;
    int64_t cap = 60000, n = 0;
    int64_t *U = malloc((size_t)cap * sizeof *U), *I = malloc((size_t)cap * sizeof *I);
    float *V = malloc((size_t)cap * sizeof *V);
    assert_true(U && I && V);
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    for (int batch = 0; batch < 25; batch++) {
        int64_t m = (int64_t)(tu_next(&seed) % 2200);
        for (int64_t j = 0; j < m; j++) {
            /* sparse ids, negative and huge ones included */
            U[n + j] = ((int64_t)(tu_next(&seed) % 3000) - 1500) * 1000003;
            I[n + j] = (int64_t)(tu_next(&seed) % 800) + (j % 7 == 0 ? INT64_MAX - 900 : 0);
            V[n + j] = (float)(tu_uniform(&seed) * 10.0 - 5.0);
        }
        assert_ok(als_ratings_add(r, m, U + n, I + n, V + n));
        n += m;
        assert_int_equal(als_ratings_rows(r), n);
        assert_int_equal(als_ratings_num_users(r), distinct(U, n));
        assert_int_equal(als_ratings_num_items(r), distinct(I, n));
    }
    for (int64_t i = 0; i < n; i++) expect_row(r, i, U[i], I[i], V[i], NO_TIME);
    free(U);
    free(I);
    free(V);
    als_ratings_destroy(r);
}

/* Users are held as runs of consecutive rows while that is small, and as one index per
 * row once the runs would pass a quarter of the rows, which can happen in the middle of an
 * add: grouped rows (runs going on across adds), users coming back, then shuffled rows;
 * every row reads back its user, before and after, and splits keep them. */
static void test_user_runs(void **state) {
    (void)state;
    uint64_t seed = 777;
    int64_t cap = 40000, n = 0;
    int64_t *U = malloc((size_t)cap * sizeof *U), *I = malloc((size_t)cap * sizeof *I);
    float *V = malloc((size_t)cap * sizeof *V);
    assert_true(U && I && V);
    /* 3000 users in order, 5-10 rows each (3,100 runs over about 22,600 rows: runs); then
     * users 0..99 again; then 8000 random rows (the runs pass a quarter of the rows about
     * 3,500 rows into that add) */
    for (int64_t u = 0; u < 3000; u++)
        for (int64_t k = 0, m = 5 + (int64_t)(tu_next(&seed) % 6); k < m; k++) U[n++] = u * 7 - 900;
    for (int64_t u = 0; u < 100; u++) U[n++] = u * 7 - 900;
    int64_t grouped = n;
    for (int64_t k = 0; k < 8000; k++) U[n++] = (int64_t)(tu_next(&seed) % 5000) * 7 - 900;
    for (int64_t k = 0; k < n; k++) {
        I[k] = (int64_t)(tu_next(&seed) % 300);
        V[k] = (float)(1 + k % 3);
    }
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    int64_t at = 0; /* adds of odd sizes, so that runs cross add boundaries */
    while (at < grouped) {
        int64_t m = 1 + (int64_t)(tu_next(&seed) % 997);
        if (m > grouped - at) m = grouped - at;
        assert_ok(als_ratings_add(r, m, U + at, I + at, V + at));
        at += m;
    }
    for (int64_t i = 0; i < at; i++) expect_row(r, i, U[i], I[i], V[i], NO_TIME);
    assert_ok(als_ratings_add(r, n - at, U + at, I + at, V + at)); /* the switch, mid-add */
    for (int64_t i = 0; i < n; i++) expect_row(r, i, U[i], I[i], V[i], NO_TIME);
    assert_int_equal(als_ratings_num_users(r), distinct(U, n));
    /* subsets of grouped rows hold runs, of shuffled ones indexes: both read back, in order */
    als_ratings *tr = NULL, *te = NULL;
    assert_ok(als_ratings_split(r, 0.7, 5, &tr, &te));
    int64_t a = 0, b = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it;
        float v;
        if (a < als_ratings_rows(tr)) {
            assert_ok(als_ratings_get(tr, a, &u, &it, &v, NULL));
            if (u == U[i] && it == I[i] && v == V[i]) {
                a++;
                continue;
            }
        }
        expect_row(te, b++, U[i], I[i], V[i], NO_TIME);
    }
    assert_int_equal(a, als_ratings_rows(tr));
    assert_int_equal(b, als_ratings_rows(te));
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    free(U);
    free(I);
    free(V);
    als_ratings_destroy(r);
}

/* Reference for als_ratings_group_by_user: users in order of first appearance, each user's
 * rows in input order, found by the obvious quadratic scan. */
static void expect_grouped(const als_ratings *r, int64_t n, const int64_t *U, const int64_t *I,
                           const float *V, const int64_t *T) {
    assert_int_equal(als_ratings_rows(r), n);
    unsigned char *done = calloc((size_t)n + 1, 1);
    assert_non_null(done);
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        if (done[i]) continue;
        for (int64_t j = i; j < n; j++)
            if (U[j] == U[i]) {
                done[j] = 1;
                expect_row(r, at++, U[j], I[j], V[j], T ? T[j] : NO_TIME);
            }
    }
    assert_int_equal(at, n);
    free(done);
}

/* Grouping by user: every column moves with its row, the ids and names stay, later adds
 * go on from the new order; a user index per row (many users, few users) and recurring
 * runs all come out grouped. */
static void test_group_by_user(void **state) {
    (void)state;
    assert_int_equal(als_ratings_group_by_user(NULL), ALS_EINVAL);
    als_ratings *e;
    assert_ok(als_ratings_create(&e));
    assert_ok(als_ratings_group_by_user(e)); /* empty */
    assert_int_equal(als_ratings_rows(e), 0);
    als_ratings_destroy(e);
    uint64_t seed = 4242;
    enum { N = 6000 };
    int64_t *U = malloc(2 * N * sizeof *U), *I = malloc(2 * N * sizeof *I), *T = malloc(2 * N * sizeof *T);
    float *V = malloc(2 * N * sizeof *V);
    assert_true(U && I && T && V);
    /* case 0: 3000 users at random (stays one index per row); 1: 40 users at random
     * (becomes runs); 2: grouped runs, then users 0..29 again (runs, not grouped);
     * 3: case 1 with timestamps and float values; 4: 70,000 distinct items (32-bit) */
    for (int kase = 0; kase <= 4; kase++) {
        int64_t n = N;
        for (int64_t k = 0; k < n; k++) {
            int64_t nus = kase == 0 ? 3000 : 40;
            U[k] = kase == 2 ? (k < n - 30 ? k / 150 : k - (n - 30)) * 11 + 5
                             : (int64_t)(tu_next(&seed) % (uint64_t)nus) * 13 - 400;
            I[k] = kase == 4 ? (int64_t)k * 12 : (int64_t)(tu_next(&seed) % 500);
            V[k] = kase == 3 ? 0.25f + (float)(tu_next(&seed) % 7) : (float)(1 + k % 4);
            T[k] = kase == 3 ? 1000 + (int64_t)(tu_next(&seed) % 99) : NO_TIME;
        }
        als_ratings *r;
        assert_ok(als_ratings_create(&r));
        if (kase == 3) assert_ok(als_ratings_add_timed(r, n, U, I, V, T));
        else assert_ok(als_ratings_add(r, n, U, I, V));
        int64_t nu = als_ratings_num_users(r), ni = als_ratings_num_items(r);
        assert_ok(als_ratings_group_by_user(r));
        expect_grouped(r, n, U, I, V, kase == 3 ? T : NULL);
        assert_int_equal(als_ratings_num_users(r), nu);
        assert_int_equal(als_ratings_num_items(r), ni);
        assert_ok(als_ratings_group_by_user(r)); /* grouped already: nothing moves */
        expect_grouped(r, n, U, I, V, kase == 3 ? T : NULL);
        /* more rows after it (old and new users), then grouped again */
        int64_t m = 700;
        for (int64_t k = 0; k < m; k++) {
            U[n + k] = k % 3 ? U[(k * 37) % n] : 900000 + k;
            I[n + k] = 7 + k % 50;
            V[n + k] = 2.0f;
            T[n + k] = 5000 + k;
        }
        if (kase == 3) assert_ok(als_ratings_add_timed(r, m, U + n, I + n, V + n, T + n));
        else assert_ok(als_ratings_add(r, m, U + n, I + n, V + n));
        /* the reference of the whole: the grouped rows, then the new ones */
        int64_t *GU = malloc((size_t)(n + m) * sizeof *GU), *GI = malloc((size_t)(n + m) * sizeof *GI);
        int64_t *GT = malloc((size_t)(n + m) * sizeof *GT);
        float *GV = malloc((size_t)(n + m) * sizeof *GV);
        assert_true(GU && GI && GT && GV);
        for (int64_t k = 0; k < n + m; k++) {
            float v;
            assert_ok(als_ratings_get(r, k, &GU[k], &GI[k], &v, &GT[k]));
            GV[k] = v;
            if (k >= n) assert_true(GU[k] == U[k] && GI[k] == I[k]);
        }
        assert_ok(als_ratings_group_by_user(r));
        expect_grouped(r, n + m, GU, GI, GV, GT);
        free(GU);
        free(GI);
        free(GT);
        free(GV);
        als_ratings_destroy(r);
    }
    /* string ids: the names come back byte for byte after the rows moved */
    const char *un[6] = {"zoë", "adam", "zoë", "b,c", "adam", "zoë"}, *in[6] = {"x", "y", "z", "x", "q", "y"};
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add_named(r, 6, un, in, NULL));
    assert_ok(als_ratings_group_by_user(r));
    const char *wu[6] = {"zoë", "zoë", "zoë", "adam", "adam", "b,c"}, *wi[6] = {"x", "z", "y", "y", "q", "x"};
    for (int64_t k = 0; k < 6; k++) {
        int64_t u, it;
        assert_ok(als_ratings_get(r, k, &u, &it, NULL, NULL));
        assert_string_equal(als_ratings_user_name(r, u), wu[k]);
        assert_string_equal(als_ratings_item_name(r, it), wi[k]);
    }
    als_ratings_destroy(r);
    free(U);
    free(I);
    free(T);
    free(V);
}

/* The store narrows its columns while it can (no values while all are 1, 16 bits while
 * all are integers in [0, 65535], 16-bit items below 65,536 distinct) and widens them when
 * a row needs it, also in the middle of one add: every row reads back exactly what was
 * added, in every order of widening; a failed add leaves the rows as they were. */
static void test_narrow_columns(void **state) {
    (void)state;
    static const float vals[] = {1.0f, 1.0f, 3.0f, 0.0f, 65535.0f, 65536.0f, 0.5f, -0.0f,
                                 -3.0f, 1e-30f, 7.0f};
    const int nv = (int)(sizeof vals / sizeof vals[0]);
    for (int order = 0; order < 3; order++) {
        als_ratings *r = NULL;
        assert_ok(als_ratings_create(&r));
        /* 70,000 distinct items over the adds; the values widen at different places */
        int64_t n = 140000, done = 0;
        int64_t *u = malloc((size_t)n * sizeof *u), *it = malloc((size_t)n * sizeof *it);
        float *v = malloc((size_t)n * sizeof *v);
        assert_non_null(u);
        assert_non_null(it);
        assert_non_null(v);
        for (int64_t k = 0; k < n; k++) {
            u[k] = (k * 7919) % 1000 * 2 - 1000; /* even: never -1 */
            it[k] = order == 1 ? 1000000007 - (k % 70000) * 3 : (k % 70000) * 11 + 5;
            int j = (int)(k % nv);
            /* order 0: all 1 first, counts next, floats last; 1: the reverse; 2: mixed */
            if (order == 0) v[k] = k < 60000 ? 1.0f : k < 100000 ? (float)(k % 9) : vals[j];
            else if (order == 1) v[k] = k < 40000 ? vals[j] : 1.0f;
            else v[k] = vals[j];
        }
        /* one add that crosses 65,536 items in its middle, then chunks */
        int64_t first = order == 2 ? n : 90000;
        assert_ok(als_ratings_add(r, first, u, it, v));
        done = first;
        while (done < n) {
            int64_t m = n - done < 7777 ? n - done : 7777;
            assert_ok(als_ratings_add(r, m, u + done, it + done, v + done));
            done += m;
        }
        /* a failing add (a -1 id at its end) appends nothing */
        int64_t bu[3] = {1, 2, 3}, bi[3] = {424242, 424243, -1};
        float bv[3] = {0.25f, 2.0f, 1.0f};
        assert_fails_with(als_ratings_add(r, 3, bu, bi, bv), ALS_EINVAL);
        assert_int_equal(als_ratings_rows(r), n);
        assert_int_equal(als_ratings_num_items(r), 70000);
        assert_int_equal(als_ratings_num_users(r), 1000);
        for (int64_t k = 0; k < n; k++) {
            int64_t gu, gi;
            float gv;
            assert_ok(als_ratings_get(r, k, &gu, &gi, &gv, NULL));
            if (gu != u[k] || gi != it[k] || memcmp(&gv, &v[k], sizeof gv) != 0) {
                print_error("order %d row %lld: got (%lld, %lld, %a), added (%lld, %lld, %a)\n",
                            order, (long long)k, (long long)gu, (long long)gi, (double)gv,
                            (long long)u[k], (long long)it[k], (double)v[k]);
                fail();
            }
        }
        /* subsets keep the columns exact too (fraction 1: every row, in order) */
        als_ratings *tr = NULL, *te = NULL;
        assert_ok(als_ratings_split(r, 1.0, 3, &tr, &te));
        assert_int_equal(als_ratings_rows(tr), n);
        assert_int_equal(als_ratings_rows(te), 0);
        for (int64_t k = 0; k < n; k++) {
            int64_t gu, gi;
            float gv;
            assert_ok(als_ratings_get(tr, k, &gu, &gi, &gv, NULL));
            assert_true(gu == u[k] && gi == it[k] && memcmp(&gv, &v[k], sizeof gv) == 0);
        }
        als_ratings_destroy(tr);
        als_ratings_destroy(te);
        free(u);
        free(it);
        free(v);
        als_ratings_destroy(r);
    }
}

static void test_add_timed(void **state) {
    (void)state;
    als_ratings *r;
    int64_t u[2] = {1, 2}, it[2] = {3, 4}, t[2] = {500, -7};
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 2, u, it, NULL));
    assert_ok(als_ratings_add_timed(r, 2, u, it, NULL, t)); /* first times: earlier rows none */
    assert_ok(als_ratings_add(r, 1, u, it, NULL));
    assert_ok(als_ratings_add_timed(r, 1, u, it, NULL, NULL));
    assert_ok(als_ratings_add_timed(r, 2, u, it, NULL, t));
    static const int64_t wu[8] = {1, 2, 1, 2, 1, 1, 1, 2}, wi[8] = {3, 4, 3, 4, 3, 3, 3, 4};
    static const int64_t wt[8] = {NO_TIME, NO_TIME, 500, -7, NO_TIME, NO_TIME, 500, -7};
    assert_int_equal(als_ratings_rows(r), 8);
    for (int64_t i = 0; i < 8; i++) expect_row(r, i, wu[i], wi[i], 1.0f, wt[i]);
    als_ratings_destroy(r);
}

/* ---------------------------------------------------------------- CSV: good files */

typedef struct {
    int64_t u, i;
    float v;
    int64_t t;
} row4;

static void expect_rows(const char *suffix, const char *text, const char *opts,
                        const row4 *want, int64_t n) {
    als_ratings *r = read_ok(suffix, text, opts);
    if (als_ratings_rows(r) != n) {
        print_error("options \"%s\": %lld rows, expected %lld\n", opts ? opts : "",
                    (long long)als_ratings_rows(r), (long long)n);
        fail();
    }
    for (int64_t k = 0; k < n; k++) expect_row(r, k, want[k].u, want[k].i, want[k].v, want[k].t);
    assert_int_equal(als_ratings_bad_rows(r), 0);
    als_ratings_destroy(r);
}

static void test_csv_separators(void **state) {
    (void)state;
    const row4 w[2] = {{1, 10, 4.5f, NO_TIME}, {2, 20, 3.0f, NO_TIME}};
    expect_rows(".tsv", "1\t10\t4.5\n2\t20\t3\n", "value=2", w, 2); /* tab by default */
    expect_rows(".data", "1\t10\t4.5\n2\t20\t3\n", "value=2", w, 2);
    expect_rows(".csv", "1,10,4.5\n2,20,3\n", "value=2", w, 2);    /* ',' for .csv */
    expect_rows(".CSV", "1,10,4.5\n2,20,3\n", "value=2", w, 2);
    expect_rows(".txt", "1;10;4.5\n2;20;3\n", "sep=semicolon,value=2", w, 2);
    expect_rows(".txt", "1;10;4.5\n2;20;3\n", "sep=;,value=2", w, 2);
    /* "sep=," inside a comma-separated options string, in every position */
    expect_rows(".txt", "1,10,4.5\n2,20,3\n", "sep=,,value=2", w, 2);
    expect_rows(".txt", "1,10,4.5\n2,20,3\n", "sep=,value=2", w, 2);
    expect_rows(".txt", "1,10,4.5\n2,20,3\n", "value=2,sep=,", w, 2);
    expect_rows(".txt", "1,10,4.5\n2,20,3\n", "value=2, sep=comma ,", w, 2);
    expect_rows(".csv", "1\t10\t4.5\n2\t20\t3\n", "sep=\\t,value=2", w, 2); /* backslash t */
    expect_rows(".csv", "1\t10\t4.5\n2\t20\t3\n", "sep=\t,value=2", w, 2);  /* a real tab */
    expect_rows(".csv", "1\t10\t4.5\n2\t20\t3\n", "sep=tab,value=2", w, 2);
    expect_rows(".csv", "1|10|4.5\n2|20|3\n", "sep=pipe,value=2", w, 2);
    expect_rows(".csv", "1|10|4.5\n2|20|3\n", "sep=|,value=2", w, 2);
    expect_rows(".csv", "1 10 4.5\n2 20 3\n", "sep=space,value=2", w, 2);
    expect_rows(".csv", "1 10 4.5\n2 20 3\n", "value=2,sep= ", w, 2);
    expect_rows(".csv", "1,10,4.5\n2,20,3\n", "value=2,,", w, 2); /* empty options ignored */
    expect_rows(".csv", "1,10,4.5\n2,20,3\n", "value=1,value=2", w, 2); /* last one wins */
}

static void test_csv_columns(void **state) {
    (void)state;
    const row4 w[2] = {{1, 10, 4.5f, NO_TIME}, {2, 20, 3.0f, NO_TIME}};
    const row4 ones[2] = {{1, 10, 1.0f, NO_TIME}, {2, 20, 1.0f, NO_TIME}};
    const char *h = "uid,rating,iid,extra\n1,4.5,10,x\n2,3,20,y\n";
    expect_rows(".csv", h, "header=1,user=uid,item=iid,value=rating", w, 2);
    expect_rows(".csv", h, "header=1, user = uid , item=iid,value=rating", w, 2);
    expect_rows(".csv", h, "header=1,user=0,item=2,value=1", w, 2);       /* by index */
    expect_rows(".csv", h, "header=1,user=uid,item=2,value=rating", w, 2); /* mixed */
    expect_rows(".csv", h, "header=1,user=uid,item=iid", ones, 2); /* value absent: 1.0 */
    expect_rows(".csv", "1,10,4.5\n2,20,3\n", NULL, ones, 2);      /* defaults */
    expect_rows(".csv", "1,10,4.5\n2,20,3\n", "", ones, 2);
    expect_rows(".csv", "4.5,x,10,1\n3,y,20,2\n", "user=3,item=2,value=0", w, 2);
    /* quoted header names, one with the separator inside */
    expect_rows(".csv", "\"user id\",\"it,em\",v\n1,10,4.5\n2,20,3\n",
                "header=1,user=user id,item=1,value=v", w, 2);
}

static void test_csv_quoting_and_lines(void **state) {
    (void)state;
    const row4 w[2] = {{1, 10, 4.5f, NO_TIME}, {2, 20, 3.0f, NO_TIME}};
    expect_rows(".csv", "\"1\",\"10\",\"4.5\"\n2,\"20\",3\n", "value=2", w, 2);
    expect_rows(".csv", "1,10,4.5\r\n2,20,3\r\n", "value=2", w, 2);             /* CRLF */
    expect_rows(".csv", "\xEF\xBB\xBF" "1,10,4.5\n2,20,3\n", "value=2", w, 2);  /* BOM */
    expect_rows(".csv", "\xEF\xBB\xBFu,i,v\r\n1,10,4.5\r\n2,20,3\r\n",
                "header=1,user=u,item=i,value=v", w, 2); /* BOM before a header name */
    expect_rows(".csv", "\n\n1,10,4.5\n\n   \n\t\n2,20,3\n\n", "value=2", w, 2); /* blanks */
    expect_rows(".csv", "\r\nu,i,v\r\n\r\n1,10,4.5\r\n2,20,3", "header=1,value=2", w, 2);
    /* blanks, '+' and leading zeros around integer ids: only with ids=int (ids=auto keeps
     * such fields as strings, see test_csv_auto_ids) */
    expect_rows(".csv", " 1 , 10 ,  4.5 \n2\t,20, 3\t\n", "ids=int,value=2", w, 2);
    expect_rows(".csv", "\" 1 \",10,\"4.5\" \n2,20,3\n", "ids=int,value=2", w, 2);
    expect_rows(".csv", "01,010,4.5\n2,0020,3\n", "ids=int,value=2", w, 2);
    expect_rows(".csv", "1,10,4.5,,,\n2,20,3,\"a,b\"\n", "value=2", w, 2); /* extra fields */
    expect_rows(".csv", "1,10,4.5,\"unclosed\n2,20,3\n", "value=2", w, 2); /* never looked at */
    expect_rows(".csv", "+1,10,45e-1\n2,+20,3.000\n", "ids=int,value=2", w, 2);
    expect_rows(".csv", "1,10,45e-1\n2,20,3.000\n", "value=2", w, 2);
    expect_rows(".csv", "", "value=2", w, 0);                     /* empty file */
    expect_rows(".csv", "\n\n", "header=1,value=2", w, 0);        /* no header, no names */
    expect_rows(".csv", "u,i,v\n", "header=1,user=u,item=i,value=v", w, 0);

    /* quoted string ids: separators and doubled quotes inside */
    als_ratings *r = read_ok(".csv", "\"a,b\",\"x\"\"y\"\n\"a,b\",plain\n\"\"\"\",\"\"\n"
                             "z, \"q\"\n", "ids=string,skip_bad=1");
    assert_int_equal(als_ratings_rows(r), 3); /* the empty item "" is a bad row */
    assert_int_equal(als_ratings_bad_rows(r), 1);
    assert_string_equal(als_ratings_user_name(r, 0), "a,b");
    assert_string_equal(als_ratings_item_name(r, 0), "x\"y");
    assert_string_equal(als_ratings_item_name(r, 1), "plain");
    assert_string_equal(als_ratings_item_name(r, 2), " \"q\""); /* not a quoted field */
    assert_int_equal(als_ratings_user_id(r, "z"), 1);
    als_ratings_destroy(r);
}

static void expect_same_names(const als_ratings *a, const als_ratings *b, int64_t nu,
                              int64_t ni) {
    for (int64_t id = 0; id < nu; id++) {
        const char *s = als_ratings_user_name(a, id);
        assert_non_null(s);
        assert_string_equal(als_ratings_user_name(b, id), s);
        assert_int_equal(als_ratings_user_id(b, s), id);
    }
    for (int64_t id = 0; id < ni; id++) {
        const char *s = als_ratings_item_name(a, id);
        assert_non_null(s);
        assert_string_equal(als_ratings_item_name(b, id), s);
        assert_int_equal(als_ratings_item_id(b, s), id);
    }
    assert_null(als_ratings_user_name(b, nu));
    assert_null(als_ratings_item_name(b, ni));
}

/* ids=auto decides on the whole column: only canonical int64 texts are integers; any
 * other field, wherever it comes, turns the column (rows before it included) into names
 * kept byte for byte. */
static void test_csv_auto_ids(void **state) {
    (void)state;
    /* zero-padded account numbers are two accounts, written back as given */
    als_ratings *r = read_ok(".csv", "00123,a\n123,b\n0042,a\n00123,b\n", NULL);
    assert_int_equal(als_ratings_num_users(r), 3);
    assert_string_equal(als_ratings_user_name(r, 0), "00123");
    assert_string_equal(als_ratings_user_name(r, 1), "123");
    assert_string_equal(als_ratings_user_name(r, 2), "0042");
    assert_int_equal(als_ratings_user_id(r, "42"), -1);
    expect_row(r, 3, 0, 1, 1.0f, NO_TIME);
    als_ratings_destroy(r);
    /* the padded id comes last: the integer rows read before it become names too */
    r = read_ok(".csv", "123,1\n7,1\n00123,1\n", NULL);
    assert_int_equal(als_ratings_num_users(r), 3);
    expect_row(r, 0, 0, 1, 1.0f, NO_TIME);
    expect_row(r, 2, 2, 1, 1.0f, NO_TIME);
    assert_string_equal(als_ratings_user_name(r, 0), "123");
    assert_string_equal(als_ratings_user_name(r, 1), "7");
    assert_string_equal(als_ratings_user_name(r, 2), "00123");
    assert_null(als_ratings_item_name(r, 1)); /* the item column stayed integer */
    als_ratings_destroy(r);
    /* every non-canonical spelling stays a string, byte for byte */
    static const char *const odd[] = {"+5", " 5", "5 ", "-0", "007", "0x1F", "1e3",
                                      "99999999999999999999", "9223372036854775808",
                                      "-9223372036854775809", "5.0"};
    for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
        char text[128];
        snprintf(text, sizeof text, "5,1\n\"%s\",1\n", odd[k]);
        r = read_ok(".csv", text, NULL);
        if (als_ratings_num_users(r) != 2 || !als_ratings_user_name(r, 1) ||
            strcmp(als_ratings_user_name(r, 1), odd[k]) != 0) {
            print_error("'%s' was not kept as its own string id\n", odd[k]);
            fail();
        }
        assert_string_equal(als_ratings_user_name(r, 0), "5");
        als_ratings_destroy(r);
    }
    /* canonical integers, the extremes included, stay integers */
    r = read_ok(".csv", "0,-5\n9223372036854775807,1\n-9223372036854775808,2\n", NULL);
    expect_row(r, 0, 0, -5, 1.0f, NO_TIME);
    expect_row(r, 1, INT64_MAX, 1, 1.0f, NO_TIME);
    expect_row(r, 2, INT64_MIN, 2, 1.0f, NO_TIME);
    assert_null(als_ratings_user_name(r, 0));
    als_ratings_destroy(r);
    /* a column that turns to guest ids after more rows than one read chunk (16384) */
    size_t cap = 40 * 20001 + 64, len = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (int i = 0; i < 20000; i++) len += (size_t)snprintf(big + len, cap - len, "%d,%d\n", i, i % 7);
    len += (size_t)snprintf(big + len, cap - len, "guest-1,3\n");
    r = read_ok(".csv", big, NULL);
    assert_int_equal(als_ratings_rows(r), 20001);
    assert_int_equal(als_ratings_num_users(r), 20001);
    assert_int_equal(als_ratings_user_id(r, "guest-1"), 20000);
    assert_int_equal(als_ratings_user_id(r, "16385"), 16385);
    for (int i = 0; i < 20000; i += 997) {
        char want[16];
        snprintf(want, sizeof want, "%d", i);
        int64_t u, it;
        assert_ok(als_ratings_get(r, i, &u, &it, NULL, NULL));
        assert_string_equal(als_ratings_user_name(r, u), want);
        assert_int_equal(it, i % 7);
    }
    als_ratings_destroy(r);
    free(big);
    /* -1 is reserved: a column holding it is read as names (ids=int refuses it) */
    r = read_ok(".csv", "5,1\n-1,1\n", NULL);
    assert_string_equal(als_ratings_user_name(r, 1), "-1");
    als_ratings_destroy(r);
    assert_int_equal(try_read(".csv", "5,1\n-1,1\n", "ids=int", &r), ALS_EFORMAT);
    expect_error_has("reserved");
    /* a bad row that skip_bad drops does not decide the column */
    r = read_ok(".csv", "1,10\nx\n2,20\n", "skip_bad=1");
    assert_int_equal(als_ratings_bad_rows(r), 1);
    expect_row(r, 1, 2, 20, 1.0f, NO_TIME);
    assert_null(als_ratings_user_name(r, 2));
    als_ratings_destroy(r);
}

/* Names from arrays: the same dictionaries as a string column, all or nothing. */
static void test_add_named(void **state) {
    (void)state;
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    const char *u[3] = {"00123", "123", "00123"}, *it[3] = {"milk", "bread", "milk"};
    float v[3] = {1, 2, 3};
    assert_ok(als_ratings_add_named(r, 3, u, it, v));
    assert_int_equal(als_ratings_num_users(r), 2);
    assert_int_equal(als_ratings_num_items(r), 2);
    expect_row(r, 2, 0, 0, 3.0f, NO_TIME);
    assert_string_equal(als_ratings_user_name(r, 1), "123");
    assert_string_equal(als_ratings_item_name(r, 1), "bread");
    /* a failed append adds no row and no name */
    const char *u2[2] = {"new-user", "123"}, *i2[2] = {"eggs", NULL};
    assert_int_equal(als_ratings_add_named(r, 2, u2, i2, NULL), ALS_EINVAL);
    float nanv[2] = {1, NAN};
    i2[1] = "milk";
    assert_int_equal(als_ratings_add_named(r, 2, u2, i2, nanv), ALS_EINVAL);
    expect_error_has("NaN");
    assert_int_equal(als_ratings_rows(r), 3);
    assert_int_equal(als_ratings_user_id(r, "new-user"), -1);
    assert_int_equal(als_ratings_item_id(r, "eggs"), -1);
    assert_int_equal(als_ratings_add_named(r, -1, u2, i2, NULL), ALS_ERANGE);
    assert_int_equal(als_ratings_add_named(NULL, 1, u2, i2, NULL), ALS_EINVAL);
    assert_ok(als_ratings_add_named(r, 2, u2, i2, NULL));
    assert_int_equal(als_ratings_user_id(r, "new-user"), 2);
    assert_int_equal(als_ratings_item_id(r, "eggs"), 2);
    expect_row(r, 4, 1, 0, 1.0f, NO_TIME);
    als_ratings_destroy(r);
    /* names cannot join a column of integer ids */
    assert_ok(als_ratings_create(&r));
    int64_t iu[1] = {5}, ii[1] = {6};
    assert_ok(als_ratings_add(r, 1, iu, ii, NULL));
    assert_int_equal(als_ratings_add_named(r, 1, u, it, NULL), ALS_ESTATE);
    assert_int_equal(als_ratings_rows(r), 1);
    als_ratings_destroy(r);
}

/* The dictionaries' file with a run identity; files without one read as identity 0. */
static void test_ids_run(void **state) {
    (void)state;
    char ids[TP];
    tu_tmpname(ids, sizeof ids, ".ids");
    als_ratings *r = read_ok(".csv", "alice,apple\nbob,pear\n", NULL), *back;
    assert_ok(als_ratings_write_ids_run(r, ids, 0x00c0ffee12345678ull));
    char *text = slurp(ids);
    assert_string_equal(text, "#als-ids run=00c0ffee12345678\nuser\t0\talice\nuser\t1\tbob\n"
                              "item\t0\tapple\nitem\t1\tpear\n");
    free(text);
    uint64_t run = 1;
    assert_ok(als_ratings_create(&back));
    assert_ok(als_ratings_read_ids_run(back, ids, &run));
    assert_true(run == 0x00c0ffee12345678ull);
    expect_same_names(r, back, 2, 2);
    assert_ok(als_ratings_read_ids(back, ids)); /* the plain reader skips the identity */
    expect_same_names(r, back, 2, 2);
    assert_ok(als_ratings_write_ids(r, ids)); /* no identity: the 1.0 file */
    run = 1;
    assert_ok(als_ratings_read_ids_run(back, ids, &run));
    assert_true(run == 0);
    static const char *const bad[] = {"#als-ids run=12\nuser\t0\ta\n",
                                      "#als-ids run=00C0FFEE12345678\nuser\t0\ta\n",
                                      "#comment\nuser\t0\ta\n",
                                      "user\t0\ta\n#als-ids run=00c0ffee12345678\n"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(ids, bad[k]);
        run = 1;
        assert_int_equal(als_ratings_read_ids_run(back, ids, &run), ALS_EFORMAT);
        assert_true(run == 0);
    }
    expect_same_names(r, back, 2, 2); /* a bad file left the dictionaries alone */
    unlink(ids);
    als_ratings_destroy(back);
    als_ratings_destroy(r);
}

static void test_csv_times(void **state) {
    (void)state;
    /* Dates are seconds since 1970-01-01 UTC at midnight, as integer times would be;
     * the expected values come from Python's calendar.timegm. */
    const row4 w[8] = {{1, 10, 1.0f, 1437436800}, {2, 10, 1.0f, 1437436800},
                       {3, 10, 1.0f, 86400},      {4, 10, 1.0f, 86400},
                       {5, 10, 1.0f, 951782400},  {6, 10, 1.0f, -86400},
                       {7, 10, 1.0f, -5},         {8, 10, 1.0f, 1388534400}};
    expect_rows(".csv",
                "1,10,2015-07-21\n2,10,21-07-2015\n3,10,1970-01-02\n4,10,2-1-1970\n"
                "5,10,2000-02-29\n6,10,1969-12-31\n7,10,-5\n8,10, 1388534400 \n",
                "time=2", w, 8);
    const row4 w2[2] = {{1, 10, 4.5f, 881250949}, {2, 20, 3.0f, 1437436800}};
    expect_rows(".csv", "t,u,i,v\n881250949,1,10,4.5\n\"2015-07-21\",2,20,3\n",
                "header=1,time=t,user=u,item=i,value=v", w2, 2);
    /* without a time column the rows have no timestamp */
    als_ratings *r = read_ok(".csv", "1,10,2015-07-21\n", NULL);
    expect_row(r, 0, 1, 10, 1.0f, NO_TIME);
    als_ratings_destroy(r);
}

static void test_csv_string_ids(void **state) {
    (void)state;
    als_ratings *r = read_ok(".csv", "alice,apple\nbob,apple\nalice,pear\ncarol,fig\n", NULL);
    const row4 w[4] = {{0, 0, 1, NO_TIME}, {1, 0, 1, NO_TIME}, {0, 1, 1, NO_TIME},
                       {2, 2, 1, NO_TIME}};
    for (int k = 0; k < 4; k++) expect_row(r, k, w[k].u, w[k].i, w[k].v, w[k].t);
    assert_int_equal(als_ratings_num_users(r), 3);
    assert_int_equal(als_ratings_num_items(r), 3);
    assert_string_equal(als_ratings_user_name(r, 0), "alice");
    assert_string_equal(als_ratings_user_name(r, 2), "carol");
    assert_string_equal(als_ratings_item_name(r, 1), "pear");
    assert_int_equal(als_ratings_user_id(r, "bob"), 1);
    assert_int_equal(als_ratings_item_id(r, "fig"), 2);
    assert_int_equal(als_ratings_user_id(r, "apple"), -1); /* separate dictionaries */
    assert_int_equal(als_ratings_user_id(r, "dave"), -1);
    assert_null(als_ratings_user_name(r, 3));
    assert_null(als_ratings_user_name(r, -1));
    assert_null(als_ratings_item_name(r, 99));
    als_ratings_destroy(r);

    /* ids=string: numbers are names too; auto decides per column */
    r = read_ok(".csv", "10,5\n20,5\n10,7\n", "ids=string");
    expect_row(r, 0, 0, 0, 1.0f, NO_TIME);
    expect_row(r, 2, 0, 1, 1.0f, NO_TIME);
    assert_string_equal(als_ratings_user_name(r, 1), "20");
    assert_string_equal(als_ratings_item_name(r, 1), "7");
    als_ratings_destroy(r);
    r = read_ok(".csv", "10,milk\n20,bread\n10,milk\n", NULL);
    expect_row(r, 1, 20, 1, 1.0f, NO_TIME);
    assert_null(als_ratings_user_name(r, 10)); /* integer column: no names */
    assert_int_equal(als_ratings_user_id(r, "10"), -1);
    assert_string_equal(als_ratings_item_name(r, 1), "bread");
    als_ratings_destroy(r);
    r = read_ok(".csv", "u7,3\nu8,4\n", "ids=auto");
    expect_row(r, 1, 1, 4, 1.0f, NO_TIME);
    assert_string_equal(als_ratings_user_name(r, 1), "u8");
    als_ratings_destroy(r);
    r = read_ok(".csv", "-3,+4\n", "ids=int");
    expect_row(r, 0, -3, 4, 1.0f, NO_TIME);
    als_ratings_destroy(r);

    /* the name functions on NULL and on integer-only sets */
    assert_null(als_ratings_user_name(NULL, 0));
    assert_null(als_ratings_item_name(NULL, 0));
    assert_int_equal(als_ratings_user_id(NULL, "a"), -1);
    assert_int_equal(als_ratings_item_id(NULL, "a"), -1);
    assert_ok(als_ratings_create(&r));
    assert_int_equal(als_ratings_user_id(r, NULL), -1);
    assert_int_equal(als_ratings_item_id(r, "a"), -1);
    assert_null(als_ratings_item_name(r, 0));
    als_ratings_destroy(r);
}

/* Many rows across the reader's internal chunks, with string ids checked one by one. */
typedef struct {
    int calls, cancel_at;
    int64_t last_bytes, last_total, last_rows;
    int monotone;
} read_log;

static int on_read(void *user, int64_t bytes, int64_t total, int64_t rows) {
    read_log *l = user;
    if (bytes < l->last_bytes || rows < l->last_rows || bytes > total) l->monotone = 0;
    l->last_bytes = bytes, l->last_total = total, l->last_rows = rows;
    return ++l->calls == l->cancel_at;
}

/* Long reads report progress every 2^20 lines and once at the end (bytes of the file,
 * rows kept), and a callback's non-zero return cancels the read. */
static void test_csv_progress(void **state) {
    (void)state;
    const int64_t n = (1 << 20) + 4321;
    char path[TP];
    tu_tmpname(path, sizeof path, ".csv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int64_t k = 0; k < n; k++) fprintf(f, "%lld,%lld\n", (long long)(k % 977), (long long)(k % 131));
    assert_int_equal(fclose(f), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    read_log l = {0, 0, 0, 0, 0, 1};
    als_ratings *r = NULL;
    assert_ok(als_ratings_read_csv_progress(&r, path, NULL, on_read, &l));
    assert_int_equal(als_ratings_rows(r), n);
    assert_int_equal(l.calls, 2); /* at line 2^20, and at the end */
    assert_true(l.monotone);
    assert_int_equal(l.last_bytes, (int64_t)st.st_size);
    assert_int_equal(l.last_total, (int64_t)st.st_size);
    assert_int_equal(l.last_rows, n);
    als_ratings_destroy(r);
    for (int at = 1; at <= 2; at++) { /* cancel mid-file, and at the end */
        read_log c = {0, at, 0, 0, 0, 1};
        r = SENTINEL;
        assert_fails_with(als_ratings_read_csv_progress(&r, path, NULL, on_read, &c), ALS_ECANCELED);
        assert_null(r);
        assert_int_equal(c.calls, at);
    }
    /* no callback: the plain read */
    assert_ok(als_ratings_read_csv_progress(&r, path, NULL, NULL, NULL));
    assert_int_equal(als_ratings_rows(r), n);
    als_ratings_destroy(r);
    unlink(path);
}

/* The parallel reader (blocks of 2 MiB, pieces parsed on several threads, committed in
 * file order) against the file's own construction: 2,000 blank lines before the header,
 * 400,000 rows over several blocks, CRLF lines, bad rows every 50,001 lines, a 5 MB user
 * name (longer than a block), user ids that turn into names at row 300,000 (ids=auto:
 * rows before become names too), a last line without its end of line. Every thread count
 * gives the same rows, names, bad-row count and line numbers; without skip_bad the error
 * names the first bad line. */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;
static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void test_csv_parallel(void **state) {
    (void)state;
    enum { ROWS = 400000, LONG_AT = 200000, SWITCH_AT = 300000, NBAD_MAX = 16 };
    sbuf b = {NULL, 0, 0};
    int64_t line = 0, nbad = 0, bad_lines[NBAD_MAX];
    char **names = malloc(ROWS * sizeof *names);
    int64_t *items = malloc(ROWS * sizeof *items), *days = malloc(ROWS * sizeof *days);
    float *vals = malloc(ROWS * sizeof *vals);
    assert_true(names && items && days && vals);
    for (int k = 0; k < 2000; k++, line++) sb_put(&b, k % 2 ? "  \r\n" : "\n", k % 2 ? 4 : 1);
    sb_put(&b, "user,item,value,day\n", 20);
    line++;
    size_t longn = 5u << 20;
    char *longname = malloc(longn + 1);
    assert_non_null(longname);
    for (size_t k = 0; k < longn; k++) longname[k] = (char)('a' + k % 26);
    longname[longn] = '\0';
    uint64_t seed = 31337;
    int64_t rows = 0;
    for (int64_t k = 0; rows < ROWS; k++) {
        line++;
        char t[96];
        if (line % 50001 == 0) { /* a bad row */
            int n = snprintf(t, sizeof t, "%lld,7,abc,3\n", (long long)k);
            sb_put(&b, t, (size_t)n);
            if (nbad < NBAD_MAX) bad_lines[nbad] = line;
            nbad++;
            continue;
        }
        int64_t u = (int64_t)(tu_next(&seed) % 50000), it = (int64_t)(tu_next(&seed) % 3000);
        char un[32];
        if (rows == SWITCH_AT) snprintf(un, sizeof un, "u-%lld", (long long)u);
        else snprintf(un, sizeof un, "%lld", (long long)u);
        names[rows] = rows == LONG_AT ? longname : strdup(un);
        assert_non_null(names[rows]);
        items[rows] = it;
        vals[rows] = (float)(rows % 9) + (rows % 3 ? 0.5f : 0.0f);
        days[rows] = 1000 + rows % 77;
        if (rows == LONG_AT) sb_put(&b, longname, longn);
        else sb_put(&b, un, strlen(un));
        int n = snprintf(t, sizeof t, ",%lld,%g,%lld%s", (long long)it, (double)vals[rows],
                         (long long)days[rows], rows % 5 == 0 ? "\r\n" : "\n");
        if (rows == ROWS - 1) n -= rows % 5 == 0 ? 2 : 1; /* the last line: no end of line */
        sb_put(&b, t, (size_t)n);
        rows++;
    }
    char path[TP];
    tu_tmpname(path, sizeof path, ".csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
    assert_int_equal(fclose(f), 0);
    for (int threads = 1; threads <= 3; threads++) {
        char opts[128];
        snprintf(opts, sizeof opts, "header=1,value=value,time=day,skip_bad=1,threads=%d", threads);
        als_ratings *r;
        assert_ok(als_ratings_read_csv(&r, path, opts));
        assert_int_equal(als_ratings_rows(r), ROWS);
        assert_int_equal(als_ratings_bad_rows(r), nbad);
        int64_t got[NBAD_MAX];
        int64_t ng = als_ratings_bad_row_lines(r, got, NBAD_MAX);
        assert_int_equal(ng, nbad < NBAD_MAX ? nbad : NBAD_MAX);
        for (int64_t k = 0; k < ng; k++) assert_int_equal(got[k], bad_lines[k]);
        for (int64_t k = 0; k < ROWS; k++) {
            int64_t u, it, t;
            float v;
            assert_ok(als_ratings_get(r, k, &u, &it, &v, &t));
            const char *un = als_ratings_user_name(r, u);
            if (!un || strcmp(un, names[k]) != 0 || it != items[k] || v != vals[k] ||
                t != days[k]) {
                print_error("threads %d, row %lld: got (%.20s, %lld, %g, %lld)\n", threads,
                            (long long)k, un ? un : "(null)", (long long)it, (double)v, (long long)t);
                fail();
            }
        }
        als_ratings_destroy(r);
        /* without skip_bad: the first bad line, by number */
        snprintf(opts, sizeof opts, "header=1,value=value,time=day,threads=%d", threads);
        r = SENTINEL;
        assert_fails_with(als_ratings_read_csv(&r, path, opts), ALS_EFORMAT);
        assert_null(r);
        char want[48];
        snprintf(want, sizeof want, ":%lld: cannot parse value 'abc'", (long long)bad_lines[0]);
        expect_error_has(want);
    }
    unlink(path);
    for (int64_t k = 0; k < ROWS; k++)
        if (names[k] != longname) free(names[k]);
    free(longname);
    free(names);
    free(items);
    free(days);
    free(vals);
    free(b.p);
}

static void test_csv_many_rows(void **state) {
    (void)state;
    const int64_t n = 150000;
    char path[TP];
    tu_tmpname(path, sizeof path, ".tsv");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    uint64_t seed = 99;
    int *us = malloc((size_t)n * sizeof *us), *is = malloc((size_t)n * sizeof *is);
    int64_t *ui = malloc((size_t)n * sizeof *ui), *ii = malloc((size_t)n * sizeof *ii);
    assert_true(us && is && ui && ii);
    fprintf(f, "user\titem\trating\n");
    for (int64_t k = 0; k < n; k++) {
        us[k] = (int)(tu_next(&seed) % 20000);
        is[k] = (int)(tu_next(&seed) % 3000);
        fprintf(f, "user %d\t%d\t%d.5\n", us[k], is[k], (int)(k % 5));
        ui[k] = us[k];
        ii[k] = is[k];
    }
    assert_int_equal(fclose(f), 0);
    als_ratings *r;
    assert_ok(als_ratings_read_csv(&r, path, "header=1,value=rating"));
    unlink(path);
    assert_int_equal(als_ratings_rows(r), n);
    assert_int_equal(als_ratings_num_users(r), distinct(ui, n));
    assert_int_equal(als_ratings_num_items(r), distinct(ii, n));
    for (int64_t k = 0; k < n; k++) {
        int64_t u, it;
        float v;
        char name[32];
        assert_ok(als_ratings_get(r, k, &u, &it, &v, NULL));
        snprintf(name, sizeof name, "user %d", us[k]);
        assert_string_equal(als_ratings_user_name(r, u), name);
        assert_int_equal(als_ratings_user_id(r, name), u);
        assert_int_equal(it, is[k]);
        assert_true(v == (float)(k % 5) + 0.5f);
    }
    free(us);
    free(is);
    free(ui);
    free(ii);
    als_ratings_destroy(r);
}

/* ---------------------------------------------------------------- CSV: bad files */

typedef struct {
    const char *text, *opts;
    int line;
    const char *what; /* a word the message must hold */
} bad_case;

static void test_csv_bad_rows(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"1,10,4\n2\n", "value=2", 2, "missing item"},
        {"1,10,4\n2,20\n", "value=2", 2, "missing value"},
        {"1,10,4,5\n2,20,3\n", "time=3", 2, "missing time"},
        {"u,i,v\n1,10,4\n\n2,20,abc\n", "header=1,value=v", 4, "abc"},
        {"1,10,4.5x\n", "value=2", 1, "4.5x"},
        {"1,10,\n", "value=2", 1, "empty value"},
        {"1,10,4\n1,10,nan\n", "value=2", 2, "nan"},
        {"1,10,4\n1,10,NaN\n", "value=2", 2, "NaN"},
        {"1,10,inf\n", "value=2", 1, "inf"},
        {"1,10,-Infinity\n", "value=2", 1, "Infinity"},
        {"1,10,1e999\n", "value=2", 1, "1e999"},
        {"1,10\n2,20\nx,30\n", "ids=int", 3, "not an integer"},
        {"1,10\n2,y\n", "ids=int", 2, "not an integer"},
        {"a,10\n", "ids=int", 1, "not an integer"},
        {"1,10\n1.5,10\n", "ids=int", 2, "1.5"},
        {"99999999999999999999,10\n", "ids=int", 1, "overflows"},
        {"9223372036854775807,10\n9223372036854775808,1\n", "ids=int", 2, "overflows"},
        {"-9223372036854775808,10\n-9223372036854775809,1\n", "ids=int", 2, "overflows"},
        {"1,10,2015-13-01\n", "time=2", 1, "date"},
        {"1,10,2015-02-29\n", "time=2", 1, "date"},
        {"1,10,31-04-2015\n", "time=2", 1, "date"},
        {"1,10,yesterday\n", "time=2", 1, "yesterday"},
        {"1,10,2015-07\n", "time=2", 1, "2015-07"},
        {"1,10,12:00\n", "time=2", 1, "12:00"},
        {"1,10,99999999999999999999\n", "time=2", 1, "overflows"},
        {"1,10\n\"2,20\n", NULL, 2, "unterminated"},
        {"1,10\n\"2\"x,20\n", NULL, 2, "closing quote"},
        {"1,10\n,20\n", NULL, 2, "empty user"},
        {"a,b\n  ,b\n", NULL, 2, "empty user"},
        {"1,10\r\n2,20\r\n\r\n3\r\n", NULL, 4, "missing item"},
        {"\xEF\xBB\xBF" "1,10\n2\n", NULL, 2, "missing item"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        als_ratings *r;
        char want[32];
        int rc = try_read(".csv", cases[k].text, cases[k].opts, &r);
        if (rc != ALS_EFORMAT) {
            print_error("case %zu: rc %d, expected ALS_EFORMAT (%s)\n", k, rc, als_last_error());
            fail();
        }
        snprintf(want, sizeof want, ".csv:%d: ", cases[k].line);
        expect_error_has(want);
        expect_error_has(cases[k].what);
        /* skip_bad=1: the same file reads, with the bad row counted */
        char opts[128];
        snprintf(opts, sizeof opts, "%s%sskip_bad=1", cases[k].opts ? cases[k].opts : "",
                 cases[k].opts ? "," : "");
        assert_ok(try_read(".csv", cases[k].text, opts, &r));
        assert_int_equal(als_ratings_bad_rows(r), 1);
        als_ratings_destroy(r);
    }
    /* a NUL byte inside a line */
    als_ratings *r;
    static const char nul[] = "1,10\n2,2\0" "0\n3,30\n";
    assert_int_equal(try_read_n(".csv", nul, sizeof nul - 1, NULL, &r), ALS_EFORMAT);
    expect_error_has(":2: ");
    assert_ok(try_read_n(".csv", nul, sizeof nul - 1, "skip_bad=1", &r));
    assert_int_equal(als_ratings_rows(r), 2);
    als_ratings_destroy(r);
}

static void test_csv_skip_bad(void **state) {
    (void)state;
    als_ratings *r;
    const char *text = "1,10,4\n"
                       "2\n"               /* missing item */
                       "2,20,x\n"          /* unparsable */
                       "3,30,3\n"
                       "3,30,nan\n"        /* NaN */
                       "q,30,1\n"          /* string id, int column */
                       "99999999999999999999,1,1\n" /* overflow */
                       "\"4,40,1\n"        /* unterminated quote */
                       "\n"
                       "5,50,5\n";
    assert_int_equal(try_read(".csv", text, "ids=int,value=2", &r), ALS_EFORMAT);
    expect_error_has(":2: ");
    assert_ok(try_read(".csv", text, "ids=int,value=2,skip_bad=1", &r));
    assert_int_equal(als_ratings_rows(r), 3);
    assert_int_equal(als_ratings_bad_rows(r), 6);
    int64_t lines[8] = {0}, want_lines[6] = {2, 3, 5, 6, 7, 8};
    assert_int_equal(als_ratings_bad_row_lines(r, lines, 8), 6);
    assert_memory_equal(lines, want_lines, sizeof want_lines);
    assert_int_equal(lines[6], 0);
    lines[1] = 0;
    assert_int_equal(als_ratings_bad_row_lines(r, lines, 1), 6); /* only cap are written */
    assert_int_equal(lines[0], 2);
    assert_int_equal(lines[1], 0);
    assert_int_equal(als_ratings_bad_row_lines(r, NULL, 1), ALS_EINVAL);
    assert_int_equal(als_ratings_bad_row_lines(r, lines, -1), ALS_ERANGE);
    expect_row(r, 0, 1, 10, 4.0f, NO_TIME);
    expect_row(r, 1, 3, 30, 3.0f, NO_TIME);
    expect_row(r, 2, 5, 50, 5.0f, NO_TIME);
    assert_int_equal(als_ratings_num_users(r), 3);
    als_ratings_destroy(r);
    /* a bad row adds no name to the dictionaries */
    assert_ok(try_read(".csv", "alice,apple\nbob\ncarol,pear,x\ndan,fig\n",
                       "value=2,skip_bad=1", &r));
    assert_int_equal(als_ratings_rows(r), 0);
    assert_int_equal(als_ratings_bad_rows(r), 4);
    assert_int_equal(als_ratings_user_id(r, "alice"), -1);
    als_ratings_destroy(r);
    assert_ok(try_read(".csv", "alice,apple\nbob\ncarol,pear\n", "skip_bad=1", &r));
    assert_int_equal(als_ratings_rows(r), 2);
    assert_int_equal(als_ratings_user_id(r, "bob"), -1);
    assert_int_equal(als_ratings_user_id(r, "carol"), 1);
    als_ratings_destroy(r);
}

static void test_csv_errors(void **state) {
    (void)state;
    als_ratings *r = SENTINEL;
    char path[TP], dir[TP];
    tu_tmpname(path, sizeof path, ".csv");
    write_text(path, "u,i\n1,2\n");
    assert_fails_with(als_ratings_read_csv(NULL, path, NULL), ALS_EINVAL);
    assert_fails_with(als_ratings_read_csv(&r, NULL, NULL), ALS_EINVAL);
    assert_null(r);
    static const char *const bad_opts[] = {
        "foo=1", "header", "header=2", "header=yes", "ids=float", "sep=ab", "sep=",
        "sep=\"", "skip_bad=true", "user=", "value=rating", "user=-1", "user=99999999",
        "time=12345678", "=1", "header=1,bogus"};
    for (size_t k = 0; k < sizeof bad_opts / sizeof bad_opts[0]; k++) {
        r = SENTINEL;
        int rc = als_ratings_read_csv(&r, path, bad_opts[k]);
        if (rc != ALS_EINVAL) {
            print_error("options \"%s\": rc %d, expected ALS_EINVAL\n", bad_opts[k], rc);
            fail();
        }
        assert_null(r);
    }
    expect_error_has("bogus");
    /* names not in the header, an index past it, no header at all */
    r = SENTINEL;
    assert_fails_with(als_ratings_read_csv(&r, path, "header=1,user=uid"), ALS_ENOTFOUND);
    expect_error_has("uid");
    assert_null(r);
    assert_fails_with(als_ratings_read_csv(&r, path, "header=1,value=time"), ALS_ENOTFOUND);
    assert_fails_with(als_ratings_read_csv(&r, path, "header=1,value=2"), ALS_ENOTFOUND);
    assert_ok(als_ratings_read_csv(&r, path, "header=1,user=u,item=i"));
    als_ratings_destroy(r);
    write_text(path, "\n\n");
    assert_fails_with(als_ratings_read_csv(&r, path, "header=1,user=u"), ALS_ENOTFOUND);
    write_text(path, "\"u,i\n1,2\n");
    assert_fails_with(als_ratings_read_csv(&r, path, "header=1"), ALS_EFORMAT);
    unlink(path);
    /* missing file, and a folder (opens, but cannot be read) */
    assert_fails_with(als_ratings_read_csv(&r, path, NULL), ALS_ENOTFOUND);
    assert_null(r);
    tu_tmpname(dir, sizeof dir, ".csv");
    assert_int_equal(mkdir(dir, 0700), 0);
    r = SENTINEL;
    assert_fails_with(als_ratings_read_csv(&r, dir, NULL), ALS_EIO);
    assert_null(r);
    rmdir(dir);
}

/* ---------------------------------------------------------------- ids files */


static void test_ids_roundtrip(void **state) {
    (void)state;
    char ids[TP], ids2[TP];
    tu_tmpname(ids, sizeof ids, ".ids");
    tu_tmpname(ids2, sizeof ids2, ".ids");
    /* names from a CSV, with a tab and a backslash inside */
    als_ratings *r = read_ok(".csv", "alice,apple\nb\tob,apple\nc\\arol,x\\ty\nalice,pear\n",
                             NULL), *back;
    assert_ok(als_ratings_write_ids(r, ids));
    char *text = slurp(ids);
    assert_string_equal(text, "user\t0\talice\nuser\t1\tb\\tob\nuser\t2\tc\\\\arol\n"
                              "item\t0\tapple\nitem\t1\tx\\\\ty\nitem\t2\tpear\n");
    free(text);
    assert_ok(als_ratings_create(&back));
    assert_ok(als_ratings_read_ids(back, ids));
    expect_same_names(r, back, 3, 3);
    assert_string_equal(als_ratings_user_name(back, 1), "b\tob");
    als_ratings_destroy(back);

    /* newlines, carriage returns and every escape, from a hand-written file */
    write_text(ids, "user\t0\tx\\ny\r\nitem\t0\tplain\n\nuser\t1\tp\\\\q\\tr\\rs\nitem\t1\t\n");
    assert_ok(als_ratings_create(&back));
    assert_ok(als_ratings_read_ids(back, ids));
    assert_string_equal(als_ratings_user_name(back, 0), "x\ny");
    assert_string_equal(als_ratings_user_name(back, 1), "p\\q\tr\rs");
    assert_string_equal(als_ratings_item_name(back, 1), "");
    assert_int_equal(als_ratings_user_id(back, "x\ny"), 0);
    assert_ok(als_ratings_write_ids(back, ids2));
    text = slurp(ids2);
    assert_string_equal(text, "user\t0\tx\\ny\nuser\t1\tp\\\\q\\tr\\rs\n"
                              "item\t0\tplain\nitem\t1\t\n");
    free(text);
    als_ratings *third;
    assert_ok(als_ratings_create(&third));
    assert_ok(als_ratings_read_ids(third, ids2));
    expect_same_names(back, third, 2, 2);
    als_ratings_destroy(third);
    /* read_ids replaces the dictionaries (the old names are gone) */
    assert_ok(als_ratings_read_ids(r, ids2));
    expect_same_names(back, r, 2, 2);
    assert_int_equal(als_ratings_user_id(r, "alice"), -1);
    als_ratings_destroy(back);

    /* integer ids: an empty file, which clears the names */
    als_ratings *ints = read_ok(".csv", "1,2\n", NULL);
    assert_ok(als_ratings_write_ids(ints, ids2));
    text = slurp(ids2);
    assert_string_equal(text, "");
    free(text);
    assert_ok(als_ratings_read_ids(r, ids2));
    assert_null(als_ratings_user_name(r, 0));
    als_ratings_destroy(ints);
    als_ratings_destroy(r);
    unlink(ids);
    unlink(ids2);
}

static void test_ids_errors(void **state) {
    (void)state;
    char ids[TP];
    tu_tmpname(ids, sizeof ids, ".ids");
    als_ratings *r = read_ok(".csv", "alice,apple\n", NULL);
    assert_fails_with(als_ratings_write_ids(NULL, ids), ALS_EINVAL);
    assert_fails_with(als_ratings_write_ids(r, NULL), ALS_EINVAL);
    assert_fails_with(als_ratings_write_ids(r, "/nonexistent-als-dir/x.ids"), ALS_EIO);
    assert_fails_with(als_ratings_read_ids(NULL, ids), ALS_EINVAL);
    assert_fails_with(als_ratings_read_ids(r, NULL), ALS_EINVAL);
    assert_fails_with(als_ratings_read_ids(r, ids), ALS_ENOTFOUND);
    char dir[TP];
    tu_tmpname(dir, sizeof dir, NULL);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_fails_with(als_ratings_read_ids(r, dir), ALS_EIO);
    rmdir(dir);
    static const struct { const char *text; int line; const char *what; } cases[] = {
        {"user\t0\ta\nbogus\t1\tb\n", 2, "user"},
        {"user\t0\ta\nusers\t1\tb\n", 2, "user"},
        {"user\t0\ta\nuser\tx\tb\n", 2, "id"},
        {"user\t0\ta\nuser\t\tb\n", 2, "id"},
        {"user\t0\ta\nuser\t1b\n", 2, "tab"},
        {"user\t0\ta\nuser\t1\n", 2, "tab"},
        {"user\t0\ta\\q\n", 1, "escape"},
        {"item\t0\ta\\\n", 1, "escape"},
        {"user\t0\ta\tb\n", 1, "tab"},
        {"user\t0\ta\nitem\t0\tb\nuser\t0\tc\n", 3, "duplicate id"},
        {"user\t0\ta\nuser\t2\tb\n", 2, "order"},
        {"item\t1\ta\n", 1, "order"},
        {"user\t0\ta\nuser\t1\ta\n", 2, "duplicate user name"},
        {"user\t99999999999999999999\ta\n", 1, "overflow"},
        {"\n\nuser\t0\ta\nuser 1 b\n", 4, "user"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char want[16];
        write_text(ids, cases[k].text);
        int rc = als_ratings_read_ids(r, ids);
        if (rc != ALS_EFORMAT) {
            print_error("case %zu: rc %d (%s), expected ALS_EFORMAT\n", k, rc, als_last_error());
            fail();
        }
        snprintf(want, sizeof want, ":%d: ", cases[k].line);
        expect_error_has(want);
        expect_error_has(cases[k].what);
        /* a failed read leaves the old dictionaries */
        assert_string_equal(als_ratings_user_name(r, 0), "alice");
        assert_int_equal(als_ratings_item_id(r, "apple"), 0);
    }
    static const char nul[] = "user\t0\ta\0b\n";
    write_bytes(ids, nul, sizeof nul - 1);
    assert_fails_with(als_ratings_read_ids(r, ids), ALS_EFORMAT);
    unlink(ids);
    als_ratings_destroy(r);
}

/* ---------------------------------------------------------------- splits */

/* n rows whose value is the row number (exact in float below 2^24), so every row of a
 * split can be traced back; times optional. */
static als_ratings *numbered(int64_t n, int64_t nusers, int timed, uint64_t seed) {
    int64_t *u = malloc((size_t)n * sizeof *u), *it = malloc((size_t)n * sizeof *it);
    int64_t *t = malloc((size_t)n * sizeof *t);
    float *v = malloc((size_t)n * sizeof *v);
    assert_true(u && it && t && v);
    for (int64_t i = 0; i < n; i++) {
        u[i] = (int64_t)(tu_next(&seed) % (uint64_t)nusers) * 7 - 100;
        it[i] = (int64_t)(tu_next(&seed) % 500);
        t[i] = (int64_t)(tu_next(&seed) % 50); /* many ties */
        v[i] = (float)i;
    }
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    if (timed) assert_ok(als_ratings_add_timed(r, n, u, it, v, t));
    else assert_ok(als_ratings_add(r, n, u, it, v));
    free(u);
    free(it);
    free(t);
    free(v);
    return r;
}

/* side[i] = 1 if row i of r is in train, 0 if in test; checks that train and test are
 * r's rows exactly (each once, unchanged, in r's order) and their distinct counts. */
static void trace_split(const als_ratings *r, const als_ratings *train, const als_ratings *test,
                        unsigned char *side) {
    int64_t n = als_ratings_rows(r);
    memset(side, 2, (size_t)n);
    assert_int_equal(als_ratings_rows(train) + als_ratings_rows(test), n);
    for (int s = 0; s < 2; s++) {
        const als_ratings *part = s ? train : test;
        int64_t m = als_ratings_rows(part), prev = -1;
        int64_t *us = malloc((size_t)(m ? m : 1) * sizeof *us);
        int64_t *is = malloc((size_t)(m ? m : 1) * sizeof *is);
        assert_true(us && is);
        for (int64_t k = 0; k < m; k++) {
            int64_t u, it, t, ou, oi, ot;
            float v, ov;
            assert_ok(als_ratings_get(part, k, &u, &it, &v, &t));
            int64_t i = (int64_t)v;
            assert_true(i > prev && i < n && side[i] == 2);
            prev = i;
            side[i] = (unsigned char)s;
            assert_ok(als_ratings_get(r, i, &ou, &oi, &ov, &ot));
            assert_true(u == ou && it == oi && t == ot);
            us[k] = u;
            is[k] = it;
        }
        assert_int_equal(als_ratings_num_users(part), distinct(us, m));
        assert_int_equal(als_ratings_num_items(part), distinct(is, m));
        free(us);
        free(is);
    }
    for (int64_t i = 0; i < n; i++) assert_true(side[i] != 2);
}

static void test_split_random(void **state) {
    (void)state;
    const int64_t n = 100000;
    als_ratings *r = numbered(n, 1000, 1, 5), *tr, *te, *tr2, *te2;
    unsigned char *side = malloc((size_t)n), *side2 = malloc((size_t)n);
    assert_true(side && side2);
    const double fr[3] = {0.8, 0.5, 0.1};
    for (int k = 0; k < 3; k++) {
        assert_ok(als_ratings_split(r, fr[k], 42, &tr, &te));
        trace_split(r, tr, te, side);
        /* binomial sd = sqrt(n f (1 - f)) <= 158: allow 6 sd */
        double got = (double)als_ratings_rows(tr);
        assert_true(fabs(got - fr[k] * (double)n) < 950.0);
        /* the same seed gives the same split; another seed another one */
        assert_ok(als_ratings_split(r, fr[k], 42, &tr2, &te2));
        trace_split(r, tr2, te2, side2);
        assert_memory_equal(side, side2, (size_t)n);
        als_ratings_destroy(tr2);
        als_ratings_destroy(te2);
        assert_ok(als_ratings_split(r, fr[k], 43, &tr2, &te2));
        trace_split(r, tr2, te2, side2);
        assert_true(memcmp(side, side2, (size_t)n) != 0);
        als_ratings_destroy(tr2);
        als_ratings_destroy(te2);
        als_ratings_destroy(tr);
        als_ratings_destroy(te);
    }
    assert_ok(als_ratings_split(r, 1.0, 7, &tr, &te));
    assert_int_equal(als_ratings_rows(tr), n);
    assert_int_equal(als_ratings_rows(te), 0);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    assert_ok(als_ratings_split(r, 0.0, 7, &tr, &te));
    assert_int_equal(als_ratings_rows(tr), 0);
    assert_int_equal(als_ratings_rows(te), n);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    /* errors: outputs are NULL afterwards */
    tr = te = SENTINEL;
    assert_fails_with(als_ratings_split(NULL, 0.5, 1, &tr, &te), ALS_EINVAL);
    assert_true(tr == NULL && te == NULL);
    assert_fails_with(als_ratings_split(r, 0.5, 1, NULL, &te), ALS_EINVAL);
    assert_fails_with(als_ratings_split(r, 0.5, 1, &tr, NULL), ALS_EINVAL);
    assert_null(tr);
    te = SENTINEL;
    assert_fails_with(als_ratings_split(r, -0.1, 1, &tr, &te), ALS_ERANGE);
    assert_null(te);
    assert_fails_with(als_ratings_split(r, 1.5, 1, &tr, &te), ALS_ERANGE);
    assert_fails_with(als_ratings_split(r, NAN, 1, &tr, &te), ALS_ERANGE);
    free(side);
    free(side2);
    als_ratings_destroy(r);

    /* an empty set splits into two empty ones; dictionaries and times are copied */
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_split(r, 0.5, 1, &tr, &te));
    assert_int_equal(als_ratings_rows(tr) + als_ratings_rows(te), 0);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
    r = read_ok(".csv", "alice,apple,2015-01-01\nbob,pear,2015-01-02\n", "time=2");
    assert_ok(als_ratings_split(r, 0.5, 3, &tr, &te));
    for (int s = 0; s < 2; s++) {
        als_ratings *p = s ? tr : te;
        assert_string_equal(als_ratings_user_name(p, 1), "bob");
        assert_int_equal(als_ratings_item_id(p, "apple"), 0);
        for (int64_t k = 0; k < als_ratings_rows(p); k++) {
            int64_t u, t;
            assert_ok(als_ratings_get(p, k, &u, NULL, NULL, &t));
            assert_int_equal(t, 1420070400 + 86400 * u);
        }
    }
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
}

/* Brute force for split_last: for each row, 0 if it is among the last k rows of its user
 * (by (time, row) when timed, by row otherwise) and the user has more than k rows. */
static void expect_last_k(const als_ratings *r, int64_t k, int by_time,
                          const unsigned char *side) {
    int64_t n = als_ratings_rows(r);
    for (int64_t i = 0; i < n; i++) {
        int64_t ui, ti, c = 0, later = 0;
        assert_ok(als_ratings_get(r, i, &ui, NULL, NULL, &ti));
        for (int64_t j = 0; j < n; j++) {
            int64_t uj, tj;
            assert_ok(als_ratings_get(r, j, &uj, NULL, NULL, &tj));
            if (uj != ui) continue;
            c++;
            if (by_time ? (tj > ti || (tj == ti && j > i)) : j > i) later++;
        }
        int want_train = !(c > k && later < k);
        if (side[i] != want_train) {
            print_error("row %lld (user %lld, %lld rows, %lld later): side %d, expected %d\n",
                        (long long)i, (long long)ui, (long long)c, (long long)later, side[i],
                        want_train);
            fail();
        }
    }
}

static void test_split_last(void **state) {
    (void)state;
    als_ratings *tr, *te;
    /* user 1: three rows; user 2: one; user 3: two */
    int64_t u[6] = {1, 2, 1, 3, 1, 3}, it[6] = {1, 2, 3, 4, 5, 6}, t[6] = {30, 5, 10, 1, 20, 1};
    float v[6] = {0, 1, 2, 3, 4, 5};
    als_ratings *r;
    unsigned char side[6];
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 6, u, it, v));
    assert_ok(als_ratings_split_last(r, 1, &tr, &te));
    trace_split(r, tr, te, side);
    static const unsigned char last1[6] = {1, 1, 1, 1, 0, 0};
    assert_memory_equal(side, last1, 6);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    assert_ok(als_ratings_split_last(r, 2, &tr, &te));
    trace_split(r, tr, te, side);
    static const unsigned char last2[6] = {1, 1, 0, 1, 0, 1}; /* user 3 keeps both */
    assert_memory_equal(side, last2, 6);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
    /* with times: user 1's latest row is row 0; user 3's rows tie, so file order decides */
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add_timed(r, 6, u, it, v, t));
    assert_ok(als_ratings_split_last(r, 1, &tr, &te));
    trace_split(r, tr, te, side);
    static const unsigned char tlast1[6] = {0, 1, 1, 1, 1, 0};
    assert_memory_equal(side, tlast1, 6);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    /* one row without a time: file order for everyone */
    assert_ok(als_ratings_add(r, 1, u + 1, it, v));
    assert_ok(als_ratings_split_last(r, 1, &tr, &te));
    assert_int_equal(als_ratings_rows(te), 3); /* users 1, 2 (now 2 rows) and 3 */
    int64_t gt;
    assert_ok(als_ratings_get(te, 0, NULL, NULL, NULL, &gt));
    assert_int_equal(gt, 20); /* user 1's last row in file order */
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    /* errors */
    tr = te = SENTINEL;
    assert_fails_with(als_ratings_split_last(r, 0, &tr, &te), ALS_ERANGE);
    assert_true(tr == NULL && te == NULL);
    assert_fails_with(als_ratings_split_last(NULL, 1, &tr, &te), ALS_EINVAL);
    assert_fails_with(als_ratings_split_last(r, 1, NULL, &te), ALS_EINVAL);
    assert_fails_with(als_ratings_split_last(r, 1, &tr, NULL), ALS_EINVAL);
    als_ratings_destroy(r);

    /* random sets against brute force, with and without times */
    for (int timed = 0; timed < 2; timed++) {
        for (int64_t k = 1; k <= 3; k++) {
            const int64_t n = 1500;
            unsigned char *sd = malloc((size_t)n);
            assert_non_null(sd);
            r = numbered(n, 300, timed, 77 + (uint64_t)k);
            assert_ok(als_ratings_split_last(r, k, &tr, &te));
            trace_split(r, tr, te, sd);
            expect_last_k(r, k, timed, sd);
            als_ratings_destroy(tr);
            als_ratings_destroy(te);
            als_ratings_destroy(r);
            free(sd);
        }
    }
}

static void test_split_time(void **state) {
    (void)state;
    als_ratings *tr, *te, *r = numbered(2000, 50, 0, 9);
    tr = te = SENTINEL;
    assert_fails_with(als_ratings_split_time(r, 10, &tr, &te), ALS_ESTATE); /* no times */
    assert_true(tr == NULL && te == NULL);
    als_ratings_destroy(r);
    r = numbered(2000, 50, 1, 9);
    unsigned char *side = malloc(2001);
    assert_non_null(side);
    assert_ok(als_ratings_split_time(r, 25, &tr, &te));
    trace_split(r, tr, te, side);
    for (int64_t i = 0; i < 2000; i++) {
        int64_t t;
        assert_ok(als_ratings_get(r, i, NULL, NULL, NULL, &t));
        assert_int_equal(side[i], t < 25);
    }
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    int64_t u = 1, it = 2;
    assert_ok(als_ratings_add(r, 1, &u, &it, NULL)); /* one row without a time */
    assert_fails_with(als_ratings_split_time(r, 25, &tr, &te), ALS_ESTATE);
    expect_error_has("row 2000");
    assert_fails_with(als_ratings_split_time(NULL, 25, &tr, &te), ALS_EINVAL);
    assert_fails_with(als_ratings_split_time(r, 25, NULL, &te), ALS_EINVAL);
    assert_fails_with(als_ratings_split_time(r, 25, &tr, NULL), ALS_EINVAL);
    als_ratings_destroy(r);
    free(side);
    assert_ok(als_ratings_create(&r)); /* no rows: nothing lacks a time */
    assert_ok(als_ratings_split_time(r, 0, &tr, &te));
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
}

/* ---------------------------------------------------------------- real data */

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_ml100k(void **state) {
    (void)state;
    char path[TP];
    snprintf(path, sizeof path, "%s/ml-100k/u.data", data_dir());
    if (!exists(path)) {
        print_message("SKIP: %s is absent (set ALS_TEST_DATA to the shared data folder)\n",
                      path);
        skip();
    }
    als_ratings *r;
    assert_ok(als_ratings_read_csv(&r, path, "value=2,time=3")); /* tab: not a .csv name */
    assert_int_equal(als_ratings_rows(r), 100000);
    assert_int_equal(als_ratings_num_users(r), 943);
    assert_int_equal(als_ratings_num_items(r), 1682);
    assert_int_equal(als_ratings_bad_rows(r), 0);
    expect_row(r, 0, 196, 242, 3.0f, 881250949);
    double sum = 0;
    for (int64_t i = 0; i < 100000; i++) {
        float v;
        assert_ok(als_ratings_get(r, i, NULL, NULL, &v, NULL));
        assert_true(v >= 1.0f && v <= 5.0f);
        sum += v;
    }
    assert_close(sum / 100000.0, 3.52986, 1e-5); /* mean rating of MovieLens 100K */
    als_ratings *tr, *te;
    assert_ok(als_ratings_split_last(r, 1, &tr, &te));
    assert_int_equal(als_ratings_rows(te), 943); /* every user has >= 20 ratings */
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_groceries(void **state) {
    (void)state;
    char path[TP];
    snprintf(path, sizeof path, "%s/groceries/Groceries_dataset.csv", data_dir());
    if (!exists(path)) {
        print_message("SKIP: %s is absent (set ALS_TEST_DATA to the shared data folder)\n",
                      path);
        skip();
    }
    /* Expected counts by a naive parse: no quotes in this file, three plain fields. */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int64_t n = 0, cap = 50000;
    int64_t *members = malloc((size_t)cap * sizeof *members);
    char **items = malloc((size_t)cap * sizeof *items);
    assert_true(members && items);
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0]) continue;
        assert_null(strchr(line, '"'));
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        assert_true(c1 && c2 && n < cap);
        *c1 = '\0';
        members[n] = atoll(line);
        items[n] = malloc(strlen(c2 + 1) + 1);
        assert_non_null(items[n]);
        strcpy(items[n], c2 + 1);
        n++;
    }
    fclose(f);
    char *first = malloc(strlen(items[0]) + 1);
    assert_non_null(first);
    strcpy(first, items[0]);
    qsort(items, (size_t)n, sizeof *items, cmp_str);
    int64_t nitems = 0;
    for (int64_t i = 0; i < n; i++) nitems += i == 0 || strcmp(items[i], items[i - 1]) != 0;
    /* ... and the numbers in the data set's README */
    assert_int_equal(n, 38765);
    assert_int_equal(distinct(members, n), 3898);
    assert_int_equal(nitems, 167);

    als_ratings *r;
    assert_ok(als_ratings_read_csv(&r, path,
                                   "header=1,user=Member_number,item=itemDescription,time=Date"));
    assert_int_equal(als_ratings_rows(r), n);
    assert_int_equal(als_ratings_num_users(r), distinct(members, n));
    assert_int_equal(als_ratings_num_items(r), nitems);
    assert_int_equal(als_ratings_bad_rows(r), 0);
    int64_t u, it, t;
    assert_ok(als_ratings_get(r, 0, &u, &it, NULL, &t));
    assert_int_equal(u, 1808);        /* first row: 1808,21-07-2015,tropical fruit */
    assert_int_equal(it, 0);
    assert_int_equal(t, 1437436800);
    assert_string_equal(als_ratings_item_name(r, 0), first);
    assert_null(als_ratings_user_name(r, 1808)); /* members are integers */
    assert_int_equal(als_ratings_item_id(r, "whole milk"), 1);
    als_ratings *tr, *te;
    assert_ok(als_ratings_split_time(r, 1420070400, &tr, &te)); /* 2015-01-01 */
    assert_true(als_ratings_rows(tr) > 0 && als_ratings_rows(te) > 0);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
    for (int64_t i = 0; i < n; i++) free(items[i]);
    free(items);
    free(members);
    free(first);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test(test_add_and_get),
        cmocka_unit_test(test_add_errors),
        cmocka_unit_test(test_add_counts_bruteforce),
        cmocka_unit_test(test_user_runs),
        cmocka_unit_test(test_group_by_user),
        cmocka_unit_test(test_narrow_columns),
        cmocka_unit_test(test_add_timed),
        cmocka_unit_test(test_csv_separators),
        cmocka_unit_test(test_csv_columns),
        cmocka_unit_test(test_csv_quoting_and_lines),
        cmocka_unit_test(test_csv_auto_ids),
        cmocka_unit_test(test_add_named),
        cmocka_unit_test(test_ids_run),
        cmocka_unit_test(test_csv_times),
        cmocka_unit_test(test_csv_string_ids),
        cmocka_unit_test(test_csv_many_rows),
        cmocka_unit_test(test_csv_parallel),
        cmocka_unit_test(test_csv_progress),
        cmocka_unit_test(test_csv_bad_rows),
        cmocka_unit_test(test_csv_skip_bad),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_ids_roundtrip),
        cmocka_unit_test(test_ids_errors),
        cmocka_unit_test(test_split_random),
        cmocka_unit_test(test_split_last),
        cmocka_unit_test(test_split_time),
        cmocka_unit_test(test_ml100k),
        cmocka_unit_test(test_groceries),
    };
    return cmocka_run_group_tests_name("ratings", tests, NULL, NULL);
}
