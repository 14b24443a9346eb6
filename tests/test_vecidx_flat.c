/* Flat (exact) index: results against a brute-force double-precision reference written
 * here, padding, deterministic tie-break, bit-identical results across SIMD paths and
 * thread counts, filters, parameters, every documented error and concurrent searches.
 *
 * Tolerances: a returned score must equal the reference score at the same rank within
 * 1e-4 * (1 + |ref|); ids must equal the reference ids exactly wherever the reference
 * score is separated from its neighbours by more than 1e-5 * (1 + |ref|) (no near-tie),
 * and every reference id clearly better than the k-th reference score must be returned. */
#include "testutil.h"

#include <pthread.h>

#define SCORE_TOL 1e-4
#define TIE_TOL 1e-5

/* ---------------------------------------------------------------- data helpers */

static als_matrix *mat_from(const float *src, int64_t rows, int64_t cols) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, rows, cols));
    assert_non_null(m);
    if (rows > 0 && cols > 0) {
        float *p = als_matrix_data(m);
        int64_t st = als_matrix_stride(m);
        for (int64_t i = 0; i < rows; i++) memcpy(p + i * st, src + i * cols, (size_t)cols * sizeof(float));
    }
    return m;
}

static float *gauss_buf(int64_t rows, int64_t cols, uint64_t seed, double scale) {
    float *b = malloc((size_t)(rows * cols + 1) * sizeof(float));
    assert_non_null(b);
    uint64_t s = seed;
    for (int64_t i = 0; i < rows * cols; i++) b[i] = (float)(scale * tu_normal(&s));
    return b;
}

static als_matrix *mat_gauss(int64_t rows, int64_t cols, uint64_t seed) {
    float *b = gauss_buf(rows, cols, seed, 1.0);
    als_matrix *m = mat_from(b, rows, cols);
    free(b);
    return m;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* n distinct ids, never -1, including negative and extreme values, in random order. */
static int64_t *random_ids(int64_t n, uint64_t seed) {
    static const int64_t special[] = {INT64_MIN, INT64_MAX, INT64_MAX - 1, INT64_MIN + 1, -2, 0, 1, -1000};
    int64_t *ids = malloc((size_t)(n + 1) * sizeof(int64_t));
    int64_t *tmp = malloc((size_t)(n + 1) * sizeof(int64_t));
    assert_non_null(ids);
    assert_non_null(tmp);
    uint64_t s = seed;
    for (;;) {
        for (int64_t i = 0; i < n; i++) {
            if (i < 8) ids[i] = special[i];
            else if (i % 3 == 0) ids[i] = -(int64_t)(tu_next(&s) >> 2) - 2;
            else if (i % 3 == 1) ids[i] = (int64_t)(tu_next(&s) >> 1);
            else ids[i] = i * 7919 + (int64_t)(tu_next(&s) % 7000) + 2; /* small, distinct */
        }
        /* shuffle so the special values sit anywhere */
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(tu_next(&s) % (uint64_t)(i + 1));
            int64_t t = ids[i]; ids[i] = ids[j]; ids[j] = t;
        }
        memcpy(tmp, ids, (size_t)n * sizeof(int64_t));
        qsort(tmp, (size_t)n, sizeof(int64_t), cmp_i64);
        int ok = 1;
        for (int64_t i = 0; i < n; i++) {
            if (tmp[i] == -1 || (i > 0 && tmp[i] == tmp[i - 1])) ok = 0;
        }
        if (ok) break;
    }
    free(tmp);
    return ids;
}

/* ---------------------------------------------------------------- reference */

typedef struct {
    int64_t id, row;
} idrow;

typedef struct {
    int64_t n, d;
    int metric;
    float *x;      /* n x d dense */
    int64_t *ids;  /* n ids as stored by the index */
    idrow *byid;   /* sorted by id, for lookup */
} refdb;

typedef struct {
    int mode;
    int64_t n;
    int64_t *ids; /* sorted */
} fset;

typedef struct {
    double s;
    int64_t id;
} ritem;

static int cmp_idrow(const void *a, const void *b) {
    return cmp_i64(&((const idrow *)a)->id, &((const idrow *)b)->id);
}

static void refdb_index_ids(refdb *db) {
    free(db->byid);
    db->byid = malloc((size_t)(db->n + 1) * sizeof(idrow));
    assert_non_null(db->byid);
    for (int64_t i = 0; i < db->n; i++) {
        db->byid[i].id = db->ids[i];
        db->byid[i].row = i;
    }
    qsort(db->byid, (size_t)db->n, sizeof(idrow), cmp_idrow);
}

/* random_ids_seed == 0: consecutive ids 0..n-1. */
static void refdb_init(refdb *db, int64_t n, int64_t d, int metric, uint64_t seed,
                       uint64_t random_ids_seed) {
    memset(db, 0, sizeof(*db));
    db->n = n;
    db->d = d;
    db->metric = metric;
    db->x = gauss_buf(n, d, seed, 1.0);
    if (random_ids_seed) {
        db->ids = random_ids(n, random_ids_seed);
    } else {
        db->ids = malloc((size_t)(n + 1) * sizeof(int64_t));
        assert_non_null(db->ids);
        for (int64_t i = 0; i < n; i++) db->ids[i] = i;
    }
    refdb_index_ids(db);
}

static void refdb_free(refdb *db) {
    free(db->x);
    free(db->ids);
    free(db->byid);
    memset(db, 0, sizeof(*db));
}

static int64_t refdb_row(const refdb *db, int64_t id) {
    idrow key = {id, 0};
    const idrow *r = bsearch(&key, db->byid, (size_t)db->n, sizeof(idrow), cmp_idrow);
    return r ? r->row : -1;
}

static double ref_score(const float *q, const float *x, int64_t d, int metric) {
    double acc = 0.0;
    for (int64_t j = 0; j < d; j++) {
        if (metric == VECIDX_METRIC_IP) {
            acc += (double)q[j] * (double)x[j];
        } else {
            double t = (double)q[j] - (double)x[j];
            acc += t * t;
        }
    }
    return acc;
}

static int fset_allows(const fset *f, int64_t id) {
    if (!f) return 1;
    int found = f->n > 0 && bsearch(&id, f->ids, (size_t)f->n, sizeof(int64_t), cmp_i64) != NULL;
    return f->mode == VECIDX_FILTER_INCLUDE ? found : !found;
}

static void fset_init(fset *f, const int64_t *ids, int64_t n, int mode) {
    f->mode = mode;
    f->n = n;
    f->ids = malloc((size_t)(n + 1) * sizeof(int64_t));
    assert_non_null(f->ids);
    if (n > 0) memcpy(f->ids, ids, (size_t)n * sizeof(int64_t));
    qsort(f->ids, (size_t)n, sizeof(int64_t), cmp_i64);
}

static int cmp_ritem_ip(const void *a, const void *b) {
    const ritem *x = a, *y = b;
    if (x->s > y->s) return -1;
    if (x->s < y->s) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_ritem_l2(const void *a, const void *b) {
    const ritem *x = a, *y = b;
    if (x->s < y->s) return -1;
    if (x->s > y->s) return 1;
    return (x->id > y->id) - (x->id < y->id);
}

static double pad_score(int metric) { return metric == VECIDX_METRIC_IP ? -INFINITY : INFINITY; }

/* Brute force over every allowed vector, fully sorted; writes kk entries (padded). */
static void brute(const refdb *db, const float *q, int64_t kk, const fset *f, ritem *out) {
    ritem *all = malloc((size_t)(db->n + 1) * sizeof(ritem));
    assert_non_null(all);
    int64_t m = 0;
    for (int64_t i = 0; i < db->n; i++) {
        if (!fset_allows(f, db->ids[i])) continue;
        all[m].s = ref_score(q, db->x + i * db->d, db->d, db->metric);
        all[m].id = db->ids[i];
        m++;
    }
    qsort(all, (size_t)m, sizeof(ritem),
          db->metric == VECIDX_METRIC_IP ? cmp_ritem_ip : cmp_ritem_l2);
    for (int64_t r = 0; r < kk; r++) {
        if (r < m) out[r] = all[r];
        else {
            out[r].s = pad_score(db->metric);
            out[r].id = -1;
        }
    }
    free(all);
}

static int better(int metric, double a, double b) { return metric == VECIDX_METRIC_IP ? a > b : a < b; }

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            print_error("%s: query %lld rank %lld: ", what, (long long)qi, (long long)r); \
            print_error(__VA_ARGS__);                                                    \
            print_error("\n");                                                           \
            fail();                                                                      \
        }                                                                                \
    } while (0)

/* The careful comparator: see the file comment for the tolerances. */
static void check_results(const refdb *db, const als_matrix *queries, int64_t k, const fset *f,
                          const float *S, const int64_t *I, int64_t nq_check, const char *what) {
    int64_t nq = als_matrix_rows(queries);
    if (nq_check > nq) nq_check = nq;
    const float *qd = als_matrix_data_const(queries);
    int64_t qs = als_matrix_stride(queries);
    ritem *ref = malloc((size_t)(k + 1) * sizeof(ritem));
    int64_t *got_sorted = malloc((size_t)k * sizeof(int64_t));
    assert_non_null(ref);
    assert_non_null(got_sorted);
    int metric = db->metric;
    double pad = pad_score(metric);
    for (int64_t qi = 0; qi < nq_check; qi++) {
        const float *q = qd + qi * qs;
        const float *s = S + qi * k;
        const int64_t *id = I + qi * k;
        int64_t r = -1;
        brute(db, q, k + 1, f, ref);
        int64_t nvalid = 0;
        for (r = 0; r < k; r++) {
            if (ref[r].id == -1) {
                CHECK(id[r] == -1, "expected padding id -1, got %lld", (long long)id[r]);
                CHECK((double)s[r] == pad, "expected padding score %g, got %.9g", pad, (double)s[r]);
                continue;
            }
            nvalid++;
            double tol = SCORE_TOL * (1.0 + fabs(ref[r].s));
            CHECK(id[r] != -1, "got id -1 where the reference has id %lld score %.9g",
                  (long long)ref[r].id, ref[r].s);
            CHECK(fabs((double)s[r] - ref[r].s) <= tol, "score %.9g, reference %.9g",
                  (double)s[r], ref[r].s);
            int64_t row = refdb_row(db, id[r]);
            CHECK(row >= 0, "returned id %lld is not in the index", (long long)id[r]);
            CHECK(fset_allows(f, id[r]), "returned id %lld is filtered out", (long long)id[r]);
            double truth = ref_score(q, db->x + row * db->d, db->d, metric);
            CHECK(fabs((double)s[r] - truth) <= tol, "id %lld reported score %.9g, true %.9g",
                  (long long)id[r], (double)s[r], truth);
            if (r > 0) {
                CHECK(!better(metric, s[r], s[r - 1]), "not sorted: %.9g after %.9g",
                      (double)s[r], (double)s[r - 1]);
                if (s[r] == s[r - 1])
                    CHECK(id[r] > id[r - 1], "equal scores not ordered by id: %lld after %lld",
                          (long long)id[r], (long long)id[r - 1]);
            }
            double m = TIE_TOL * (1.0 + fabs(ref[r].s));
            int sep_prev = r == 0 || fabs(ref[r].s - ref[r - 1].s) > m;
            int sep_next = ref[r + 1].id == -1 || fabs(ref[r + 1].s - ref[r].s) > m;
            if (sep_prev && sep_next)
                CHECK(id[r] == ref[r].id, "id %lld, reference id %lld (score %.9g, no near tie)",
                      (long long)id[r], (long long)ref[r].id, ref[r].s);
        }
        r = -1;
        /* returned ids are distinct; every clearly-better reference id is present */
        memcpy(got_sorted, id, (size_t)nvalid * sizeof(int64_t));
        qsort(got_sorted, (size_t)nvalid, sizeof(int64_t), cmp_i64);
        for (int64_t j = 1; j < nvalid; j++)
            CHECK(got_sorted[j] != got_sorted[j - 1], "id %lld returned twice", (long long)got_sorted[j]);
        if (nvalid > 0) {
            double kth = ref[nvalid - 1].s;
            double m = TIE_TOL * (1.0 + fabs(kth));
            for (int64_t j = 0; j < nvalid; j++) {
                if (!(better(metric, ref[j].s, kth) && fabs(ref[j].s - kth) > m)) continue;
                CHECK(bsearch(&ref[j].id, got_sorted, (size_t)nvalid, sizeof(int64_t), cmp_i64) != NULL,
                      "reference id %lld (score %.9g, k-th %.9g) missing", (long long)ref[j].id,
                      ref[j].s, kth);
            }
        }
    }
    free(ref);
    free(got_sorted);
}

/* Builds a flat index over db; ids passed when pass_ids, in nbatch add calls. */
static vecidx *build_flat(const refdb *db, int pass_ids, int nbatch) {
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, db->d, db->metric));
    assert_non_null(idx);
    int64_t done = 0;
    for (int b = 0; b < nbatch; b++) {
        int64_t cnt = (b == nbatch - 1) ? db->n - done : db->n / nbatch;
        als_matrix *m = NULL;
        assert_ok(als_matrix_wrap(&m, cnt > 0 ? db->x + done * db->d : NULL, cnt, db->d, db->d));
        assert_ok(vecidx_add(idx, m, pass_ids ? db->ids + done : NULL));
        als_matrix_destroy(m);
        done += cnt;
        assert_int_equal(vecidx_size(idx), done);
    }
    return idx;
}

typedef struct {
    float *s;
    int64_t *i;
} result;

static result search_alloc(const vecidx *idx, const als_matrix *q, int64_t k, const vecidx_filter *f,
                           int filtered) {
    int64_t nq = als_matrix_rows(q);
    result r;
    r.s = malloc((size_t)(nq * k + 1) * sizeof(float));
    r.i = malloc((size_t)(nq * k + 1) * sizeof(int64_t));
    assert_non_null(r.s);
    assert_non_null(r.i);
    /* poison, so that unwritten entries show up */
    memset(r.s, 0x7f, (size_t)(nq * k + 1) * sizeof(float));
    memset(r.i, 0x5a, (size_t)(nq * k + 1) * sizeof(int64_t));
    if (filtered) assert_ok(vecidx_search_filtered(idx, q, k, f, r.s, r.i));
    else assert_ok(vecidx_search(idx, q, k, r.s, r.i));
    return r;
}

static void result_free(result *r) {
    free(r->s);
    free(r->i);
    r->s = NULL;
    r->i = NULL;
}

static void assert_same_result(const result *a, const result *b, int64_t n, const char *what) {
    if (memcmp(a->s, b->s, (size_t)n * sizeof(float)) != 0 ||
        memcmp(a->i, b->i, (size_t)n * sizeof(int64_t)) != 0) {
        for (int64_t j = 0; j < n; j++) {
            if (memcmp(&a->s[j], &b->s[j], sizeof(float)) != 0 || a->i[j] != b->i[j]) {
                print_error("%s: first difference at %lld: (%lld, %.9g) vs (%lld, %.9g)\n", what,
                            (long long)j, (long long)a->i[j], (double)a->s[j], (long long)b->i[j],
                            (double)b->s[j]);
                break;
            }
        }
        fail();
    }
}

/* Queries: gaussian, with query 0 a copy of a data row (an exact hit for L2). */
static als_matrix *queries_for(const refdb *db, int64_t nq, uint64_t seed) {
    float *b = gauss_buf(nq, db->d, seed, 1.0);
    if (db->n > 0 && nq > 0) memcpy(b, db->x + (db->n / 2) * db->d, (size_t)db->d * sizeof(float));
    als_matrix *m = mat_from(b, nq, db->d);
    free(b);
    return m;
}

/* ---------------------------------------------------------------- tests */

static void test_version_and_getters(void **state) {
    (void)state;
    assert_int_equal(vecidx_version_number(), VECIDX_VERSION_NUMBER);
    assert_int_equal(vecidx_size(NULL), 0);
    assert_int_equal(vecidx_dim(NULL), 0);
    assert_int_equal(vecidx_metric(NULL), -1);
    assert_int_equal(vecidx_kind(NULL), -1);
    assert_int_equal(vecidx_nlist(NULL), 0);
    vecidx_destroy(NULL);
    vecidx_filter_destroy(NULL);

    for (int metric = 0; metric < 2; metric++) {
        vecidx *idx = NULL;
        assert_ok(vecidx_flat_create(&idx, 17, metric));
        assert_non_null(idx);
        assert_int_equal(vecidx_size(idx), 0);
        assert_int_equal(vecidx_dim(idx), 17);
        assert_int_equal(vecidx_metric(idx), metric);
        assert_int_equal(vecidx_kind(idx), VECIDX_KIND_FLAT);
        assert_int_equal(vecidx_nlist(idx), 0);
        assert_int_equal(vecidx_is_trained(idx), 1);
        /* flat train: a no-op that only checks x */
        als_matrix *x = mat_gauss(5, 17, 3);
        assert_ok(vecidx_train(idx, x));
        assert_int_equal(vecidx_size(idx), 0);
        assert_int_equal(vecidx_is_trained(idx), 1);
        assert_ok(vecidx_add(idx, x, NULL));
        assert_int_equal(vecidx_size(idx), 5);
        /* training a flat index that holds vectors is still fine (no-op) */
        assert_ok(vecidx_train(idx, x));
        assert_int_equal(vecidx_size(idx), 5);
        als_matrix_destroy(x);
        vecidx_destroy(idx);
    }
    /* the largest dimension is accepted */
    vecidx *big = NULL;
    assert_ok(vecidx_flat_create(&big, 65536, VECIDX_METRIC_L2));
    assert_int_equal(vecidx_dim(big), 65536);
    vecidx_destroy(big);
}

/* dims x sizes x metrics x k, ids given or consecutive, nq = 1 and 7. */
static void test_flat_exact_grid(void **state) {
    (void)state;
    static const int64_t dims[] = {1, 3, 10, 16, 17, 33, 64};
    static const int64_t sizes[] = {1, 15, 17, 1000, 5003};
    char what[160];
    uint64_t seed = 100;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            for (int metric = 0; metric < 2; metric++) {
                int given = (int)((di + si + (size_t)metric) % 2);
                refdb db;
                seed++;
                refdb_init(&db, sizes[si], dims[di], metric, seed, given ? seed * 7 + 1 : 0);
                vecidx *idx = build_flat(&db, given, 1);
                als_matrix *q = queries_for(&db, 7, seed + 5000);
                als_matrix *q1 = NULL;
                assert_ok(als_matrix_view_rows(&q1, q, 3, 1));
                const int64_t ks[] = {1, 5, 100, sizes[si] + 7};
                for (size_t ki = 0; ki < 4; ki++) {
                    int64_t k = ks[ki];
                    snprintf(what, sizeof what, "d=%lld n=%lld %s k=%lld ids=%s", (long long)dims[di],
                             (long long)sizes[si], metric ? "L2" : "IP", (long long)k,
                             given ? "given" : "consecutive");
                    result r = search_alloc(idx, q, k, NULL, 0);
                    check_results(&db, q, k, NULL, r.s, r.i, 7, what);
                    result r1 = search_alloc(idx, q1, k, NULL, 0);
                    check_results(&db, q1, k, NULL, r1.s, r1.i, 1, what);
                    result_free(&r);
                    result_free(&r1);
                }
                als_matrix_destroy(q1);
                als_matrix_destroy(q);
                vecidx_destroy(idx);
                refdb_free(&db);
            }
        }
    }
}

/* nq = 1000 batches, several shapes. */
static void test_flat_many_queries(void **state) {
    (void)state;
    struct {
        int64_t n, d, k;
        int metric, given;
    } cfg[] = {
        {5003, 17, 10, VECIDX_METRIC_IP, 1},
        {1000, 64, 100, VECIDX_METRIC_L2, 0},
        {1000, 3, 5, VECIDX_METRIC_L2, 1},
        {1000, 33, 1, VECIDX_METRIC_IP, 0},
    };
    char what[128];
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        refdb db;
        refdb_init(&db, cfg[c].n, cfg[c].d, cfg[c].metric, 900 + c, cfg[c].given ? 77 + c : 0);
        vecidx *idx = build_flat(&db, cfg[c].given, 1);
        assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 2));
        als_matrix *q = queries_for(&db, 1000, 1234 + c);
        result r = search_alloc(idx, q, cfg[c].k, NULL, 0);
        snprintf(what, sizeof what, "nq=1000 n=%lld d=%lld k=%lld", (long long)cfg[c].n,
                 (long long)cfg[c].d, (long long)cfg[c].k);
        check_results(&db, q, cfg[c].k, NULL, r.s, r.i, 1000, what);
        result_free(&r);
        als_matrix_destroy(q);
        vecidx_destroy(idx);
        refdb_free(&db);
    }
}

/* ids NULL: consecutive from the current size, across several add calls, also after a
 * batch with explicit ids. */
static void test_flat_consecutive_ids(void **state) {
    (void)state;
    for (int metric = 0; metric < 2; metric++) {
        refdb db;
        refdb_init(&db, 1003, 10, metric, 31 + (uint64_t)metric, 0);
        vecidx *idx = build_flat(&db, 0, 2); /* 501 + 502 rows, ids NULL both times */
        als_matrix *q = queries_for(&db, 50, 32);
        result r = search_alloc(idx, q, 20, NULL, 0);
        check_results(&db, q, 20, NULL, r.s, r.i, 50, "two adds, consecutive ids");
        result_free(&r);
        als_matrix_destroy(q);
        vecidx_destroy(idx);

        /* explicit ids first, then NULL: the second batch continues at the current size */
        vecidx *mix = NULL;
        assert_ok(vecidx_flat_create(&mix, 10, metric));
        int64_t ids1[10];
        for (int i = 0; i < 10; i++) ids1[i] = 1000000 + i;
        als_matrix *a = NULL, *b = NULL;
        assert_ok(als_matrix_wrap(&a, db.x, 10, 10, 10));
        assert_ok(als_matrix_wrap(&b, db.x + 100, 5, 10, 10));
        assert_ok(vecidx_add(mix, a, ids1));
        assert_ok(vecidx_add(mix, b, NULL));
        assert_int_equal(vecidx_size(mix), 15);
        refdb d2;
        memset(&d2, 0, sizeof d2);
        d2.n = 15;
        d2.d = 10;
        d2.metric = metric;
        d2.x = malloc(15 * 10 * sizeof(float));
        d2.ids = malloc(15 * sizeof(int64_t));
        assert_non_null(d2.x);
        assert_non_null(d2.ids);
        memcpy(d2.x, db.x, 10 * 10 * sizeof(float));
        memcpy(d2.x + 100, db.x + 100, 5 * 10 * sizeof(float));
        for (int i = 0; i < 10; i++) d2.ids[i] = ids1[i];
        for (int i = 0; i < 5; i++) d2.ids[10 + i] = 10 + i;
        refdb_index_ids(&d2);
        als_matrix *q2 = queries_for(&db, 9, 33);
        result r2 = search_alloc(mix, q2, 16, NULL, 0);
        check_results(&d2, q2, 16, NULL, r2.s, r2.i, 9, "explicit then consecutive ids");
        /* L2: a query equal to row 2 of the second batch finds id 12 first */
        if (metric == VECIDX_METRIC_L2) {
            als_matrix *qq = mat_from(db.x + 120, 1, 10);
            result r3 = search_alloc(mix, qq, 1, NULL, 0);
            assert_int_equal(r3.i[0], 12);
            result_free(&r3);
            als_matrix_destroy(qq);
        }
        result_free(&r2);
        als_matrix_destroy(q2);
        als_matrix_destroy(a);
        als_matrix_destroy(b);
        vecidx_destroy(mix);
        refdb_free(&d2);
        refdb_free(&db);
    }
}

/* Empty index and k > size: padding with -1 and -inf (IP) / +inf (L2). */
static void test_flat_padding(void **state) {
    (void)state;
    for (int metric = 0; metric < 2; metric++) {
        vecidx *idx = NULL;
        assert_ok(vecidx_flat_create(&idx, 4, metric));
        als_matrix *q = mat_gauss(3, 4, 8);
        result r = search_alloc(idx, q, 5, NULL, 0);
        for (int j = 0; j < 15; j++) {
            assert_int_equal(r.i[j], -1);
            assert_true(isinf(r.s[j]));
            assert_true(metric == VECIDX_METRIC_IP ? r.s[j] < 0 : r.s[j] > 0);
        }
        result_free(&r);
        /* three vectors, k = 8 */
        als_matrix *x = mat_gauss(3, 4, 9);
        int64_t ids[3] = {INT64_MAX, INT64_MIN, 5};
        assert_ok(vecidx_add(idx, x, ids));
        r = search_alloc(idx, q, 8, NULL, 0);
        for (int qi = 0; qi < 3; qi++) {
            for (int j = 0; j < 8; j++) {
                int64_t id = r.i[qi * 8 + j];
                float s = r.s[qi * 8 + j];
                if (j < 3) {
                    assert_true(id == INT64_MAX || id == INT64_MIN || id == 5);
                    assert_false(isinf(s));
                } else {
                    assert_int_equal(id, -1);
                    assert_true(isinf(s));
                    assert_true(metric == VECIDX_METRIC_IP ? s < 0 : s > 0);
                }
            }
        }
        result_free(&r);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
        vecidx_destroy(idx);
    }
}

/* Same vector under many ids: equal scores come out by ascending id, exactly. */
static void test_flat_tie_break(void **state) {
    (void)state;
    const int64_t d = 8, nother = 37, ndup = 50, n = nother + ndup;
    uint64_t s = 4242;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    int64_t *ids = malloc((size_t)n * sizeof(int64_t));
    int64_t *dupids = malloc((size_t)ndup * sizeof(int64_t));
    int *isdup = malloc((size_t)n * sizeof(int));
    assert_non_null(x);
    assert_non_null(ids);
    assert_non_null(dupids);
    assert_non_null(isdup);
    float v[8];
    for (int j = 0; j < d; j++) v[j] = (float)tu_normal(&s);
    /* positions of the duplicates: random, always including the last rows (SIMD tails) */
    for (int64_t i = 0; i < n; i++) isdup[i] = 0;
    int64_t placed = 0;
    isdup[n - 1] = isdup[n - 2] = isdup[0] = 1;
    placed = 3;
    while (placed < ndup) {
        int64_t p = (int64_t)(tu_next(&s) % (uint64_t)n);
        if (!isdup[p]) {
            isdup[p] = 1;
            placed++;
        }
    }
    int64_t *allids = random_ids(n, 99);
    int64_t nd = 0;
    for (int64_t i = 0; i < n; i++) {
        ids[i] = allids[i];
        if (isdup[i]) {
            memcpy(x + i * d, v, sizeof v);
            dupids[nd++] = ids[i];
        } else {
            for (int j = 0; j < d; j++) x[i * d + j] = (float)(0.1 * tu_normal(&s));
        }
    }
    free(allids);
    qsort(dupids, (size_t)ndup, sizeof(int64_t), cmp_i64);
    als_matrix *xm = mat_from(x, n, d);
    als_matrix *q = mat_from(v, 1, d);
    int64_t zeros_ok = 0;
    for (int metric = 0; metric < 2; metric++) {
        vecidx *idx = NULL;
        assert_ok(vecidx_flat_create(&idx, d, metric));
        assert_ok(vecidx_add(idx, xm, ids));
        for (int64_t simd = VECIDX_SIMD_PORTABLE; simd <= VECIDX_SIMD_AVX512; simd++) {
            int rc = vecidx_set_int(idx, VECIDX_PARAM_SIMD, simd);
            if (rc == ALS_EUNSUPPORTED) continue;
            assert_ok(rc);
            for (int64_t th = 1; th <= 2; th++) {
                assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, th));
                result r = search_alloc(idx, q, 20, NULL, 0);
                for (int j = 0; j < 20; j++) {
                    assert_int_equal(r.i[j], dupids[j]);
                    assert_memory_equal(&r.s[j], &r.s[0], sizeof(float));
                }
                result_free(&r);
                r = search_alloc(idx, q, 60, NULL, 0);
                for (int j = 0; j < 50; j++) {
                    assert_int_equal(r.i[j], dupids[j]);
                    assert_memory_equal(&r.s[j], &r.s[0], sizeof(float));
                }
                for (int j = 50; j < 60; j++) {
                    assert_true(r.i[j] != -1);
                    for (int64_t t = 0; t < ndup; t++) assert_true(r.i[j] != dupids[t]);
                    assert_true(better(metric, r.s[49], r.s[j]));
                    assert_false(better(metric, r.s[j], r.s[j - 1]));
                }
                result_free(&r);
            }
        }
        vecidx_destroy(idx);
    }
    /* a zero query: every inner product is 0, so the k smallest ids come out in order */
    {
        refdb db;
        refdb_init(&db, 1000, 16, VECIDX_METRIC_IP, 5, 55);
        vecidx *idx = build_flat(&db, 1, 1);
        als_matrix *z = NULL;
        assert_ok(als_matrix_create(&z, 2, 16));
        int64_t *sorted = malloc(1000 * sizeof(int64_t));
        assert_non_null(sorted);
        memcpy(sorted, db.ids, 1000 * sizeof(int64_t));
        qsort(sorted, 1000, sizeof(int64_t), cmp_i64);
        for (int th = 1; th <= 2; th++) {
            assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, th));
            result r = search_alloc(idx, z, 100, NULL, 0);
            for (int j = 0; j < 200; j++) {
                assert_int_equal(r.i[j], sorted[j % 100]);
                assert_true(r.s[j] == 0.0f);
                zeros_ok++;
            }
            result_free(&r);
        }
        free(sorted);
        als_matrix_destroy(z);
        vecidx_destroy(idx);
        refdb_free(&db);
    }
    assert_int_equal(zeros_ok, 400);
    als_matrix_destroy(xm);
    als_matrix_destroy(q);
    free(x);
    free(ids);
    free(dupids);
    free(isdup);
}

/* Every SIMD path and thread counts 1 and 2 give bit-identical results, all correct. */
static void test_flat_simd_threads_identical(void **state) {
    (void)state;
    static const int64_t dims[] = {1, 3, 10, 16, 17, 33, 64};
    char what[160];
    int64_t best = VECIDX_SIMD_PORTABLE;
    int noted[4] = {0, 0, 0, 0};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        for (int metric = 0; metric < 2; metric++) {
            int64_t n = (di % 2) ? 5003 : 1003;
            refdb db;
            refdb_init(&db, n, dims[di], metric, 300 + di * 2 + (uint64_t)metric, (di % 3 == 0) ? 17 + di : 0);
            vecidx *idx = build_flat(&db, di % 3 == 0, 1);
            als_matrix *q = queries_for(&db, 1000, 400 + di);
            als_matrix *q1 = NULL;
            assert_ok(als_matrix_view_rows(&q1, q, 0, 1));
            const int64_t ks[] = {10, 100};
            for (int ki = 0; ki < 2; ki++) {
                int64_t k = ks[ki];
                result base = {NULL, NULL}, base1 = {NULL, NULL};
                int have = 0;
                for (int64_t simd = VECIDX_SIMD_PORTABLE; simd <= VECIDX_SIMD_AVX512; simd++) {
                    int rc = vecidx_set_int(idx, VECIDX_PARAM_SIMD, simd);
                    if (rc == ALS_EUNSUPPORTED) {
                        assert_true(simd != VECIDX_SIMD_PORTABLE);
                        if (!noted[simd]) {
                            printf("note: SIMD level %lld unsupported here, skipped\n", (long long)simd);
                            noted[simd] = 1;
                        }
                        continue;
                    }
                    assert_ok(rc);
                    if (simd > best) best = simd;
                    int64_t got = -1;
                    assert_ok(vecidx_get_int(idx, VECIDX_PARAM_SIMD, &got));
                    assert_int_equal(got, simd);
                    for (int64_t th = 1; th <= 2; th++) {
                        assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, th));
                        snprintf(what, sizeof what, "d=%lld n=%lld %s k=%lld simd=%lld threads=%lld",
                                 (long long)dims[di], (long long)n, metric ? "L2" : "IP", (long long)k,
                                 (long long)simd, (long long)th);
                        result r = search_alloc(idx, q, k, NULL, 0);
                        result r1 = search_alloc(idx, q1, k, NULL, 0);
                        if (!have) {
                            check_results(&db, q, k, NULL, r.s, r.i, 40, what);
                            check_results(&db, q1, k, NULL, r1.s, r1.i, 1, what);
                            base = r;
                            base1 = r1;
                            have = 1;
                        } else {
                            assert_same_result(&base, &r, 1000 * k, what);
                            assert_same_result(&base1, &r1, k, what);
                            result_free(&r);
                            result_free(&r1);
                        }
                    }
                }
                /* AUTO is one of the paths above, so it matches too */
                assert_ok(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO));
                result ra = search_alloc(idx, q, k, NULL, 0);
                assert_same_result(&base, &ra, 1000 * k, "SIMD AUTO");
                result_free(&ra);
                result_free(&base);
                result_free(&base1);
            }
            als_matrix_destroy(q1);
            als_matrix_destroy(q);
            vecidx_destroy(idx);
            refdb_free(&db);
        }
    }
    /* AUTO: get returns the path in use, the best this CPU supports */
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, 8, VECIDX_METRIC_IP));
    int64_t v = -1;
    assert_ok(vecidx_get_int(idx, VECIDX_PARAM_SIMD, &v));
    assert_int_equal(v, best);
    assert_ok(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_PORTABLE));
    assert_ok(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO));
    assert_ok(vecidx_get_int(idx, VECIDX_PARAM_SIMD, &v));
    assert_int_equal(v, best);
    vecidx_destroy(idx);
}

/* Queries and data described with a row stride > cols, and views, search like dense. */
static void test_flat_strided_inputs(void **state) {
    (void)state;
    const int64_t n = 777, d = 13, nq = 31, st = 20;
    refdb db;
    refdb_init(&db, n, d, VECIDX_METRIC_L2, 71, 72);
    vecidx *dense = build_flat(&db, 1, 1);
    float *xs = calloc((size_t)(n * st), sizeof(float));
    assert_non_null(xs);
    for (int64_t i = 0; i < n; i++) {
        memcpy(xs + i * st, db.x + i * d, (size_t)d * sizeof(float));
        for (int64_t j = d; j < st; j++) xs[i * st + j] = NAN; /* never read */
    }
    als_matrix *xm = NULL, *v1 = NULL, *v2 = NULL;
    assert_ok(als_matrix_wrap(&xm, xs, n, d, st));
    assert_ok(als_matrix_view_rows(&v1, xm, 0, 300));
    assert_ok(als_matrix_view_rows(&v2, xm, 300, n - 300));
    vecidx *strided = NULL;
    assert_ok(vecidx_flat_create(&strided, d, VECIDX_METRIC_L2));
    assert_ok(vecidx_add(strided, v1, db.ids));
    assert_ok(vecidx_add(strided, v2, db.ids + 300));
    assert_int_equal(vecidx_size(strided), n);

    als_matrix *q = queries_for(&db, nq, 73);
    float *qs = malloc((size_t)(nq * st) * sizeof(float));
    assert_non_null(qs);
    for (int64_t i = 0; i < nq; i++) {
        memcpy(qs + i * st, als_matrix_data(q) + i * als_matrix_stride(q), (size_t)d * sizeof(float));
        for (int64_t j = d; j < st; j++) qs[i * st + j] = NAN;
    }
    als_matrix *qm = NULL;
    assert_ok(als_matrix_wrap(&qm, qs, nq, d, st));
    result a = search_alloc(dense, q, 10, NULL, 0);
    result b = search_alloc(strided, qm, 10, NULL, 0);
    check_results(&db, q, 10, NULL, a.s, a.i, nq, "dense");
    assert_same_result(&a, &b, nq * 10, "strided vs dense");
    /* scores may be NULL */
    int64_t *ids_only = malloc((size_t)(nq * 10) * sizeof(int64_t));
    assert_non_null(ids_only);
    assert_ok(vecidx_search(strided, qm, 10, NULL, ids_only));
    assert_memory_equal(ids_only, a.i, (size_t)(nq * 10) * sizeof(int64_t));
    assert_ok(vecidx_search_filtered(strided, qm, 10, NULL, NULL, ids_only));
    assert_memory_equal(ids_only, a.i, (size_t)(nq * 10) * sizeof(int64_t));
    free(ids_only);
    result_free(&a);
    result_free(&b);
    als_matrix_destroy(qm);
    als_matrix_destroy(q);
    als_matrix_destroy(v1);
    als_matrix_destroy(v2);
    als_matrix_destroy(xm);
    free(qs);
    free(xs);
    vecidx_destroy(dense);
    vecidx_destroy(strided);
    refdb_free(&db);
}

static void test_filter_api(void **state) {
    (void)state;
    vecidx_filter *f = (vecidx_filter *)&f;
    int64_t ids[5] = {3, INT64_MIN, INT64_MAX, 3, -7};
    assert_fails_with(vecidx_filter_create(NULL, ids, 5, VECIDX_FILTER_EXCLUDE), ALS_EINVAL);
    assert_fails_with(vecidx_filter_create(&f, NULL, 5, VECIDX_FILTER_EXCLUDE), ALS_EINVAL);
    assert_fails_with(vecidx_filter_create(&f, ids, 5, 2), ALS_EINVAL);
    assert_fails_with(vecidx_filter_create(&f, ids, 5, -1), ALS_EINVAL);
    assert_fails_with(vecidx_filter_create(&f, ids, -1, VECIDX_FILTER_EXCLUDE), ALS_ERANGE);
    vecidx_filter_destroy(NULL);

    vecidx_filter *ex = NULL, *in = NULL, *ex0 = NULL, *in0 = NULL;
    assert_ok(vecidx_filter_create(&ex, ids, 5, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_filter_create(&in, ids, 5, VECIDX_FILTER_INCLUDE));
    assert_ok(vecidx_filter_create(&ex0, NULL, 0, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_filter_create(&in0, NULL, 0, VECIDX_FILTER_INCLUDE));
    /* ids are copied */
    int64_t saved[5];
    memcpy(saved, ids, sizeof ids);
    for (int i = 0; i < 5; i++) ids[i] = 12345;
    const int64_t probe[] = {3, INT64_MIN, INT64_MAX, -7, 0, 4, -1, 12345, INT64_MAX - 1, 2};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        int listed = 0;
        for (int j = 0; j < 5; j++) listed |= saved[j] == probe[i];
        assert_int_equal(vecidx_filter_allows(ex, probe[i]), !listed);
        assert_int_equal(vecidx_filter_allows(in, probe[i]), listed);
        assert_int_equal(vecidx_filter_allows(ex0, probe[i]), 1);
        assert_int_equal(vecidx_filter_allows(in0, probe[i]), 0);
        assert_int_equal(vecidx_filter_allows(NULL, probe[i]), 1);
    }
    vecidx_filter_destroy(ex);
    vecidx_filter_destroy(in);
    vecidx_filter_destroy(ex0);
    vecidx_filter_destroy(in0);
}

static void test_flat_filters(void **state) {
    (void)state;
    const int64_t n = 3001, d = 16;
    char what[128];
    for (int metric = 0; metric < 2; metric++) {
        refdb db;
        refdb_init(&db, n, d, metric, 500 + (uint64_t)metric, 501 + (uint64_t)metric);
        vecidx *idx = build_flat(&db, 1, 1);
        als_matrix *q = queries_for(&db, 60, 502); /* query 0 = row n/2 */
        uint64_t s = 503;
        /* EXCLUDE: ~30% of ids (incl. query 0's own row), duplicates, ids not in the index */
        int64_t nex = 0;
        int64_t *ex = malloc((size_t)(n + 10) * sizeof(int64_t));
        assert_non_null(ex);
        for (int64_t i = 0; i < n; i++)
            if (tu_uniform(&s) < 0.3 || i == n / 2) ex[nex++] = db.ids[i];
        ex[nex++] = ex[0];
        ex[nex++] = 424242424242LL;
        ex[nex++] = INT64_MIN + 7;
        /* INCLUDE: ~5% of ids (fewer than k = 200) plus ids not in the index */
        int64_t nin = 0;
        int64_t *in = malloc((size_t)(n + 10) * sizeof(int64_t));
        assert_non_null(in);
        for (int64_t i = 0; i < n; i++)
            if (tu_uniform(&s) < 0.05) in[nin++] = db.ids[i];
        in[nin++] = in[1];
        in[nin++] = 99999999999LL;
        assert_true(nin < 200);
        vecidx_filter *fex = NULL, *fin = NULL;
        assert_ok(vecidx_filter_create(&fex, ex, nex, VECIDX_FILTER_EXCLUDE));
        assert_ok(vecidx_filter_create(&fin, in, nin, VECIDX_FILTER_INCLUDE));
        fset sex, sin;
        fset_init(&sex, ex, nex, VECIDX_FILTER_EXCLUDE);
        fset_init(&sin, in, nin, VECIDX_FILTER_INCLUDE);
        for (int64_t i = 0; i < n; i++) {
            assert_int_equal(vecidx_filter_allows(fex, db.ids[i]), fset_allows(&sex, db.ids[i]));
            assert_int_equal(vecidx_filter_allows(fin, db.ids[i]), fset_allows(&sin, db.ids[i]));
        }
        const int64_t ks[] = {1, 10, 200};
        for (int ki = 0; ki < 3; ki++) {
            int64_t k = ks[ki];
            result base = {NULL, NULL};
            for (int th = 1; th <= 2; th++) {
                assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, th));
                result r = search_alloc(idx, q, k, fex, 1);
                snprintf(what, sizeof what, "%s exclude k=%lld threads=%d", metric ? "L2" : "IP",
                         (long long)k, th);
                if (th == 1) {
                    check_results(&db, q, k, &sex, r.s, r.i, 60, what);
                    base = r;
                } else {
                    assert_same_result(&base, &r, 60 * k, what);
                    result_free(&r);
                }
            }
            result_free(&base);
            result r = search_alloc(idx, q, k, fin, 1);
            snprintf(what, sizeof what, "%s include k=%lld", metric ? "L2" : "IP", (long long)k);
            check_results(&db, q, k, &sin, r.s, r.i, 60, what);
            if (k == 200) {
                /* fewer allowed ids than k: the tail is padding */
                int64_t allowed = 0;
                for (int64_t i = 0; i < n; i++) allowed += fset_allows(&sin, db.ids[i]);
                assert_int_equal(r.i[allowed - 1] == -1, 0);
                assert_int_equal(r.i[allowed], -1);
            }
            result_free(&r);
            /* NULL filter and an empty EXCLUDE filter: the plain search, bit for bit */
            result plain = search_alloc(idx, q, k, NULL, 0);
            result nf = search_alloc(idx, q, k, NULL, 1);
            assert_same_result(&plain, &nf, 60 * k, "NULL filter");
            vecidx_filter *e0 = NULL;
            assert_ok(vecidx_filter_create(&e0, NULL, 0, VECIDX_FILTER_EXCLUDE));
            result r0 = search_alloc(idx, q, k, e0, 1);
            assert_same_result(&plain, &r0, 60 * k, "empty exclude filter");
            vecidx_filter_destroy(e0);
            result_free(&plain);
            result_free(&nf);
            result_free(&r0);
        }
        /* exclude every id; include only ids absent from the index; empty include */
        vecidx_filter *all = NULL, *none = NULL, *in0 = NULL;
        assert_ok(vecidx_filter_create(&all, db.ids, n, VECIDX_FILTER_EXCLUDE));
        int64_t absent[3] = {-5, 123456789012345LL, INT64_MIN + 3};
        for (int j = 0; j < 3; j++) assert_true(refdb_row(&db, absent[j]) < 0);
        assert_ok(vecidx_filter_create(&none, absent, 3, VECIDX_FILTER_INCLUDE));
        assert_ok(vecidx_filter_create(&in0, NULL, 0, VECIDX_FILTER_INCLUDE));
        vecidx_filter *fs[3] = {all, none, in0};
        for (int fi = 0; fi < 3; fi++) {
            result r = search_alloc(idx, q, 7, fs[fi], 1);
            for (int64_t j = 0; j < 60 * 7; j++) {
                assert_int_equal(r.i[j], -1);
                assert_true((double)r.s[j] == pad_score(metric));
            }
            result_free(&r);
        }
        vecidx_filter_destroy(all);
        vecidx_filter_destroy(none);
        vecidx_filter_destroy(in0);
        /* filtered search errors: same codes as vecidx_search */
        float sc[10];
        int64_t id[10];
        als_matrix *bad = mat_gauss(1, d + 1, 3);
        als_matrix *q1 = NULL;
        assert_ok(als_matrix_view_rows(&q1, q, 0, 1));
        assert_fails_with(vecidx_search_filtered(NULL, q1, 10, fex, sc, id), ALS_EINVAL);
        assert_fails_with(vecidx_search_filtered(idx, NULL, 10, fex, sc, id), ALS_EINVAL);
        assert_fails_with(vecidx_search_filtered(idx, q1, 10, fex, sc, NULL), ALS_EINVAL);
        assert_fails_with(vecidx_search_filtered(idx, bad, 10, fex, sc, id), ALS_EDIM);
        assert_fails_with(vecidx_search_filtered(idx, q1, 0, fex, sc, id), ALS_ERANGE);
        als_matrix_destroy(bad);
        als_matrix_destroy(q1);

        free(sex.ids);
        free(sin.ids);
        vecidx_filter_destroy(fex);
        vecidx_filter_destroy(fin);
        free(ex);
        free(in);
        als_matrix_destroy(q);
        vecidx_destroy(idx);
        refdb_free(&db);
    }
}

/* Scores that overflow to -Inf (found by fuzzing): every SIMD level, the portable one
 * included, returns the vector with its -Inf score (the portable FMA used to turn an
 * infinite accumulator into NaN and drop it); L2 distances past float range too. */
static void test_overflowing_scores(void **state) {
    (void)state;
    for (int metric = 0; metric < 2; metric++) {
        float xv[6] = {-3e38f, -3e38f, 1.0f, 1.0f, 2.0f, 3.0f}, qv[3] = {1.0f, 1.0f, 1.0f};
        if (metric == VECIDX_METRIC_L2) xv[0] = xv[1] = 3e19f; /* |y|^2 overflows */
        als_matrix *x = NULL, *q = NULL;
        assert_ok(als_matrix_wrap(&x, xv, 2, 3, 3));
        assert_ok(als_matrix_wrap(&q, qv, 1, 3, 3));
        float s0[2] = {0}, s[2];
        int64_t i0[2] = {0}, id[2];
        int first = 1;
        for (int64_t level = VECIDX_SIMD_PORTABLE; level <= VECIDX_SIMD_AVX512; level++) {
            vecidx *v = NULL;
            assert_ok(vecidx_flat_create(&v, 3, metric));
            if (vecidx_set_int(v, VECIDX_PARAM_SIMD, level) != ALS_OK) {
                vecidx_destroy(v);
                continue;
            }
            assert_ok(vecidx_add(v, x, NULL));
            assert_ok(vecidx_search(v, q, 2, s, id));
            assert_int_equal(id[0], 1); /* the finite vector first */
            assert_int_equal(id[1], 0); /* and the overflowing one, not dropped */
            if (first) {
                memcpy(s0, s, sizeof s);
                memcpy(i0, id, sizeof id);
                first = 0;
            }
            assert_memory_equal(s, s0, sizeof s);
            assert_memory_equal(id, i0, sizeof id);
            vecidx_destroy(v);
        }
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
    /* IVF over vectors whose every centroid score overflows: no crash, same as flat */
    float big[8] = {2e19f, 2e19f, 2e19f, 2e19f, 2e19f, 2e19f, 2e19f, 2e19f}, q0[2] = {0, 0};
    als_matrix *x = NULL, *q = NULL;
    assert_ok(als_matrix_wrap(&x, big, 4, 2, 2));
    assert_ok(als_matrix_wrap(&q, q0, 1, 2, 2));
    for (int64_t level = VECIDX_SIMD_PORTABLE; level <= VECIDX_SIMD_AVX512; level++) {
        vecidx *v = NULL;
        assert_ok(vecidx_ivf_create(&v, 2, VECIDX_METRIC_L2, 1));
        if (vecidx_set_int(v, VECIDX_PARAM_SIMD, level) != ALS_OK) {
            vecidx_destroy(v);
            continue;
        }
        assert_ok(vecidx_train(v, x));
        assert_ok(vecidx_add(v, x, NULL));
        float s[2];
        int64_t id[2];
        assert_ok(vecidx_search(v, q, 2, s, id));
        vecidx_destroy(v);
    }
    als_matrix_destroy(x);
    als_matrix_destroy(q);
}

/* VECIDX_SIMD_AUTO runs the fastest supported level, measured once per process: reading
 * the key names a level this CPU supports (setting it explicitly works), it is stable,
 * and its results are those of every other level. */
static void test_simd_auto_measured(void **state) {
    (void)state;
    vecidx *a = NULL, *b = NULL;
    assert_ok(vecidx_flat_create(&a, 9, VECIDX_METRIC_IP));
    assert_ok(vecidx_flat_create(&b, 9, VECIDX_METRIC_IP));
    int64_t lv = 0, again = 0;
    assert_ok(vecidx_get_int(a, VECIDX_PARAM_SIMD, &lv));
    assert_true(lv >= VECIDX_SIMD_PORTABLE && lv <= VECIDX_SIMD_AVX512);
    assert_ok(vecidx_get_int(b, VECIDX_PARAM_SIMD, &again));
    assert_int_equal(lv, again);
    assert_ok(vecidx_set_int(b, VECIDX_PARAM_SIMD, lv)); /* supported */
    if (lv < VECIDX_SIMD_AVX512 && vecidx_set_int(b, VECIDX_PARAM_SIMD, VECIDX_SIMD_AVX512) == ALS_OK)
        print_message("auto chose level %lld over AVX-512 (measured faster here)\n", (long long)lv);
    als_matrix *x = mat_gauss(3000, 9, 31), *q = mat_gauss(50, 9, 32);
    assert_ok(vecidx_add(a, x, NULL));
    assert_ok(vecidx_add(b, x, NULL));
    float s1[500], s2[500];
    int64_t i1[500], i2[500];
    assert_ok(vecidx_search(a, q, 10, s1, i1));
    for (int64_t level = VECIDX_SIMD_PORTABLE; level <= VECIDX_SIMD_AVX512; level++) {
        if (vecidx_set_int(b, VECIDX_PARAM_SIMD, level) != ALS_OK) continue; /* CPU lacks it */
        assert_ok(vecidx_search(b, q, 10, s2, i2));
        assert_memory_equal(s1, s2, sizeof s1);
        assert_memory_equal(i1, i2, sizeof i1);
    }
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    vecidx_destroy(a);
    vecidx_destroy(b);
}

static void test_params(void **state) {
    (void)state;
    struct {
        int key;
        int64_t lo, hi, def;
    } p[] = {
        {VECIDX_PARAM_NPROBE, 1, 2147483647LL, 1},
        {VECIDX_PARAM_SEED, 0, INT64_MAX, 1234},
        {VECIDX_PARAM_KMEANS_ITERS, 1, 1000, 10},
        {VECIDX_PARAM_TRAIN_PER_LIST, 1, 1000000, 256},
        {VECIDX_PARAM_NUM_THREADS, 0, 4096, 0},
    };
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, 4, VECIDX_METRIC_IP));
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        int64_t lo = -99, hi = -99, def = -99, v = -99;
        assert_ok(vecidx_param_bounds(p[i].key, &lo, &hi, &def));
        if (lo != p[i].lo || hi != p[i].hi || def != p[i].def) {
            print_error("key %d: bounds [%lld, %lld] default %lld; header says [%lld, %lld] default %lld\n",
                        p[i].key, (long long)lo, (long long)hi, (long long)def, (long long)p[i].lo,
                        (long long)p[i].hi, (long long)p[i].def);
            fail();
        }
        assert_ok(vecidx_param_bounds(p[i].key, NULL, NULL, NULL));
        assert_ok(vecidx_param_bounds(p[i].key, NULL, &hi, NULL));
        assert_int_equal(hi, p[i].hi);
        assert_ok(vecidx_get_int(idx, p[i].key, &v));
        if (v != p[i].def) {
            print_error("key %d: a new index has %lld, header default %lld\n", p[i].key, (long long)v,
                        (long long)p[i].def);
            fail();
        }
        const int64_t vals[] = {p[i].lo, p[i].hi, p[i].lo + 1, p[i].def};
        for (int j = 0; j < 4; j++) {
            assert_ok(vecidx_set_int(idx, p[i].key, vals[j]));
            assert_ok(vecidx_get_int(idx, p[i].key, &v));
            assert_int_equal(v, vals[j]);
        }
        assert_ok(vecidx_set_int(idx, p[i].key, p[i].lo + 1));
        assert_fails_with(vecidx_set_int(idx, p[i].key, p[i].lo - 1), ALS_ERANGE);
        if (p[i].hi < INT64_MAX) assert_fails_with(vecidx_set_int(idx, p[i].key, p[i].hi + 1), ALS_ERANGE);
        assert_fails_with(vecidx_set_int(idx, p[i].key, INT64_MIN), ALS_ERANGE);
        /* a rejected value leaves the old one */
        assert_ok(vecidx_get_int(idx, p[i].key, &v));
        assert_int_equal(v, p[i].lo + 1);
        assert_ok(vecidx_set_int(idx, p[i].key, p[i].def));
    }
    /* the examples named in the spec */
    assert_fails_with(vecidx_set_int(idx, VECIDX_PARAM_NPROBE, 0), ALS_ERANGE);
    assert_fails_with(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, -1), ALS_ERANGE);
    assert_fails_with(vecidx_set_int(idx, VECIDX_PARAM_SIMD, 7), ALS_ERANGE);
    assert_fails_with(vecidx_set_int(idx, VECIDX_PARAM_SIMD, -1), ALS_ERANGE);
    /* SIMD: default AUTO, bounds cover the four paths */
    int64_t lo = -99, hi = -99, def = -99;
    assert_ok(vecidx_param_bounds(VECIDX_PARAM_SIMD, &lo, &hi, &def));
    assert_int_equal(def, VECIDX_SIMD_AUTO);
    assert_int_equal(lo, VECIDX_SIMD_AUTO);
    assert_int_equal(hi, VECIDX_SIMD_AVX512);
    assert_ok(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_PORTABLE));
    int64_t v = -99;
    assert_ok(vecidx_get_int(idx, VECIDX_PARAM_SIMD, &v));
    assert_int_equal(v, VECIDX_SIMD_PORTABLE);
    /* unknown keys */
    const int unknown[] = {0, 1, 99, 101, 200, 303, 899, 902, -1, 100000};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int64_t x = 0;
        assert_fails_with(vecidx_param_bounds(unknown[i], &lo, &hi, &def), ALS_EINVAL);
        assert_fails_with(vecidx_set_int(idx, unknown[i], 1), ALS_EINVAL);
        assert_fails_with(vecidx_get_int(idx, unknown[i], &x), ALS_EINVAL);
    }
    /* NULL handle / value */
    assert_fails_with(vecidx_set_int(NULL, VECIDX_PARAM_NPROBE, 2), ALS_EINVAL);
    assert_fails_with(vecidx_get_int(NULL, VECIDX_PARAM_NPROBE, &v), ALS_EINVAL);
    assert_fails_with(vecidx_get_int(idx, VECIDX_PARAM_NPROBE, NULL), ALS_EINVAL);
    vecidx_destroy(idx);
}

static void test_errors_create(void **state) {
    (void)state;
    vecidx *idx = (vecidx *)&idx;
    assert_fails_with(vecidx_flat_create(NULL, 4, VECIDX_METRIC_IP), ALS_EINVAL);
    assert_fails_with(vecidx_flat_create(&idx, 4, 2), ALS_EINVAL);
    assert_null(idx);
    idx = (vecidx *)&idx;
    assert_fails_with(vecidx_flat_create(&idx, 4, -1), ALS_EINVAL);
    assert_null(idx);
    idx = (vecidx *)&idx;
    assert_fails_with(vecidx_flat_create(&idx, 0, VECIDX_METRIC_IP), ALS_ERANGE);
    assert_null(idx);
    assert_fails_with(vecidx_flat_create(&idx, -3, VECIDX_METRIC_L2), ALS_ERANGE);
    assert_fails_with(vecidx_flat_create(&idx, 65537, VECIDX_METRIC_L2), ALS_ERANGE);
    assert_fails_with(vecidx_flat_create(&idx, INT64_MAX, VECIDX_METRIC_L2), ALS_ERANGE);
    assert_null(idx);
}

static void test_errors_add_train(void **state) {
    (void)state;
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, 6, VECIDX_METRIC_L2));
    als_matrix *x = mat_gauss(10, 6, 1);
    als_matrix *wrong = mat_gauss(10, 5, 2);
    assert_ok(vecidx_add(idx, x, NULL));
    assert_int_equal(vecidx_size(idx), 10);

    assert_fails_with(vecidx_add(NULL, x, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_add(idx, NULL, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_add(idx, wrong, NULL), ALS_EDIM);
    assert_int_equal(vecidx_size(idx), 10);

    int64_t ids[10];
    for (int i = 0; i < 10; i++) ids[i] = 100 + i;
    ids[7] = -1;
    assert_fails_with(vecidx_add(idx, x, ids), ALS_EINVAL);
    assert_int_equal(vecidx_size(idx), 10);

    /* NaN / Inf anywhere (also in the last row): nothing is added */
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        als_matrix *y = mat_gauss(10, 6, 3);
        als_matrix_data(y)[9 * als_matrix_stride(y) + 5] = bad[b];
        assert_fails_with(vecidx_add(idx, y, NULL), ALS_EINVAL);
        assert_int_equal(vecidx_size(idx), 10);
        assert_fails_with(vecidx_train(idx, y), ALS_EINVAL);
        als_matrix_destroy(y);
    }
    /* after failed adds the consecutive ids still continue at 10 */
    als_matrix *one = mat_gauss(1, 6, 4);
    assert_ok(vecidx_add(idx, one, NULL));
    result r = search_alloc(idx, one, 1, NULL, 0);
    assert_int_equal(r.i[0], 10);
    result_free(&r);

    /* rows == 0 is fine */
    als_matrix *empty = NULL;
    assert_ok(als_matrix_create(&empty, 0, 6));
    assert_ok(vecidx_add(idx, empty, NULL));
    assert_ok(vecidx_add(idx, empty, ids));
    assert_int_equal(vecidx_size(idx), 11);

    assert_fails_with(vecidx_train(NULL, x), ALS_EINVAL);
    assert_fails_with(vecidx_train(idx, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_train(idx, wrong), ALS_EDIM);

    als_matrix_destroy(empty);
    als_matrix_destroy(one);
    als_matrix_destroy(x);
    als_matrix_destroy(wrong);
    vecidx_destroy(idx);
}

static void test_errors_search(void **state) {
    (void)state;
    vecidx *idx = NULL;
    assert_ok(vecidx_flat_create(&idx, 6, VECIDX_METRIC_IP));
    als_matrix *x = mat_gauss(20, 6, 1);
    assert_ok(vecidx_add(idx, x, NULL));
    als_matrix *q = mat_gauss(2, 6, 2);
    als_matrix *wrong = mat_gauss(2, 7, 3);
    float s[20];
    int64_t id[20];
    assert_fails_with(vecidx_search(NULL, q, 5, s, id), ALS_EINVAL);
    assert_fails_with(vecidx_search(idx, NULL, 5, s, id), ALS_EINVAL);
    assert_fails_with(vecidx_search(idx, q, 5, s, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_search(idx, wrong, 5, s, id), ALS_EDIM);
    assert_fails_with(vecidx_search(idx, q, 0, s, id), ALS_ERANGE);
    assert_fails_with(vecidx_search(idx, q, -1, s, id), ALS_ERANGE);
    assert_fails_with(vecidx_search(idx, q, INT64_MIN, s, id), ALS_ERANGE);
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int b = 0; b < 3; b++) {
        als_matrix *qb = mat_gauss(2, 6, 4);
        als_matrix_data(qb)[1 * als_matrix_stride(qb) + 3] = bad[b];
        assert_fails_with(vecidx_search(idx, qb, 5, s, id), ALS_EINVAL);
        assert_fails_with(vecidx_search_filtered(idx, qb, 5, NULL, s, id), ALS_EINVAL);
        als_matrix_destroy(qb);
    }
    /* nq == 0 is fine and writes nothing */
    als_matrix *q0 = NULL;
    assert_ok(als_matrix_create(&q0, 0, 6));
    id[0] = 777;
    s[0] = 5.0f;
    assert_ok(vecidx_search(idx, q0, 5, s, id));
    assert_ok(vecidx_search_filtered(idx, q0, 5, NULL, s, id));
    assert_int_equal(id[0], 777);
    assert_true(s[0] == 5.0f);
    /* the thread-local message is set by a failure */
    assert_fails_with(vecidx_search(idx, q, 0, s, id), ALS_ERANGE);
    assert_int_equal(als_last_error_code(), ALS_ERANGE);
    als_matrix_destroy(q0);
    als_matrix_destroy(q);
    als_matrix_destroy(wrong);
    als_matrix_destroy(x);
    vecidx_destroy(idx);
}

/* A k (or n_out) that no buffer could hold is ALS_ERANGE before anything is written:
 * issue 11 F1 (it used to start writing and crash). */
static void test_errors_huge_k(void **state) {
    (void)state;
    vecidx *flat = NULL, *ivf = NULL;
    assert_ok(vecidx_flat_create(&flat, 4, VECIDX_METRIC_IP));
    assert_ok(vecidx_ivf_create(&ivf, 4, VECIDX_METRIC_IP, 2));
    als_matrix *x = mat_gauss(10, 4, 11), *q = mat_gauss(1, 4, 12);
    assert_ok(vecidx_add(flat, x, NULL));
    assert_ok(vecidx_train(ivf, x));
    assert_ok(vecidx_add(ivf, x, NULL));
    vecidx_filter *f = NULL;
    int64_t ex[1] = {3};
    assert_ok(vecidx_filter_create(&f, ex, 1, VECIDX_FILTER_EXCLUDE));
    const int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 62, INT64_MAX, INT64_MAX / 12 + 1};
    float s[16];
    int64_t id[16], found = 99;
    vecidx *both[2] = {flat, ivf};
    for (int w = 0; w < 2; w++)
        for (size_t h = 0; h < sizeof huge / sizeof huge[0]; h++) {
            for (int i = 0; i < 16; i++) id[i] = 777, s[i] = 5.0f;
            assert_fails_with(vecidx_search(both[w], q, huge[h], s, id), ALS_ERANGE);
            assert_fails_with(vecidx_search(both[w], q, huge[h], NULL, id), ALS_ERANGE);
            assert_fails_with(vecidx_search_filtered(both[w], q, huge[h], f, s, id), ALS_ERANGE);
            assert_fails_with(vecidx_expand(both[w], q, 3, VECIDX_AGG_MAX, f, huge[h], id, s, &found),
                              ALS_ERANGE);
            /* a huge per-seed k is fine for expand: it is capped at the index size */
            assert_ok(vecidx_expand(both[w], q, huge[h], VECIDX_AGG_MAX, f, 4, id, s, &found));
            assert_int_equal(found, 4);
            found = 99;
            for (int i = 4; i < 16; i++) assert_int_equal(id[i], 777); /* nothing past n_out */
        }
    /* k larger than the index but backed by a real buffer is still fine (padded) */
    assert_ok(vecidx_search(flat, q, 16, s, id));
    assert_int_equal(id[10], -1);
    vecidx_filter_destroy(f);
    als_matrix_destroy(q);
    als_matrix_destroy(x);
    vecidx_destroy(ivf);
    vecidx_destroy(flat);
}

/* ---------------------------------------------------------------- concurrency */

typedef struct {
    const vecidx *idx;
    const als_matrix *q;
    int64_t k;
    result r;
    int rc;
} job;

static void *search_thread(void *arg) {
    job *j = arg;
    int64_t nq = als_matrix_rows(j->q);
    j->r.s = malloc((size_t)(nq * j->k) * sizeof(float));
    j->r.i = malloc((size_t)(nq * j->k) * sizeof(int64_t));
    if (!j->r.s || !j->r.i) {
        j->rc = ALS_ENOMEM;
        return NULL;
    }
    /* search twice, keep the second: more overlap between the threads */
    j->rc = vecidx_search(j->idx, j->q, j->k, j->r.s, j->r.i);
    if (j->rc == ALS_OK) j->rc = vecidx_search(j->idx, j->q, j->k, j->r.s, j->r.i);
    return NULL;
}

static void test_flat_concurrent_searches(void **state) {
    (void)state;
    refdb db;
    refdb_init(&db, 5003, 33, VECIDX_METRIC_IP, 808, 809);
    vecidx *idx = build_flat(&db, 1, 1);
    for (int64_t th = 1; th <= 2; th++) {
        assert_ok(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, th));
        als_matrix *q[4];
        result serial[4];
        job jobs[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            q[i] = queries_for(&db, 1000, 810 + (uint64_t)i);
            serial[i] = search_alloc(idx, q[i], 10, NULL, 0);
            if (th == 1) check_results(&db, q[i], 10, NULL, serial[i].s, serial[i].i, 20, "serial");
            jobs[i].idx = idx;
            jobs[i].q = q[i];
            jobs[i].k = 10;
            jobs[i].r.s = NULL;
            jobs[i].r.i = NULL;
            jobs[i].rc = -999;
        }
        for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, search_thread, &jobs[i]), 0);
        for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(jobs[i].rc, ALS_OK);
            assert_same_result(&serial[i], &jobs[i].r, 1000 * 10, "concurrent vs serial");
            result_free(&jobs[i].r);
            result_free(&serial[i]);
            als_matrix_destroy(q[i]);
        }
    }
    vecidx_destroy(idx);
    refdb_free(&db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_getters),
        cmocka_unit_test(test_flat_exact_grid),
        cmocka_unit_test(test_flat_many_queries),
        cmocka_unit_test(test_flat_consecutive_ids),
        cmocka_unit_test(test_flat_padding),
        cmocka_unit_test(test_flat_tie_break),
        cmocka_unit_test(test_flat_simd_threads_identical),
        cmocka_unit_test(test_flat_strided_inputs),
        cmocka_unit_test(test_filter_api),
        cmocka_unit_test(test_flat_filters),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_simd_auto_measured),
        cmocka_unit_test(test_overflowing_scores),
        cmocka_unit_test(test_errors_create),
        cmocka_unit_test(test_errors_add_train),
        cmocka_unit_test(test_errors_search),
        cmocka_unit_test(test_errors_huge_k),
        cmocka_unit_test(test_flat_concurrent_searches),
    };
    return cmocka_run_group_tests_name("vecidx_flat", tests, NULL, NULL);
}
