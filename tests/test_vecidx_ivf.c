/* IVF-flat index: training state machine, exactness at nprobe == nlist (bit-identical to
 * the flat index over the same data), recall on clustered data at nprobe = nlist / 8,
 * determinism of training (seed, thread count, SIMD path), filters, padding and ids.
 *
 * Data: 200 gaussian centres in d = 10, points = centre + 0.1 * noise (L2-normalized for
 * the inner-product runs), 50 000 points; queries drawn the same way. */
#include "testutil.h"

#include <pthread.h>

#define D 10
#define NCENT 200
#define NPOINTS 50000
#define NQ 500
#define NLIST 64

/* ---------------------------------------------------------------- data */

static float *centres_make(uint64_t seed) {
    float *c = malloc((size_t)NCENT * D * sizeof(float));
    assert_non_null(c);
    uint64_t s = seed;
    for (int64_t i = 0; i < (int64_t)NCENT * D; i++) c[i] = (float)tu_normal(&s);
    return c;
}

static als_matrix *clustered(const float *cent, int64_t n, uint64_t seed, int normalize) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, n, D));
    float *p = als_matrix_data(m);
    int64_t st = als_matrix_stride(m);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (int64_t)(tu_next(&s) % NCENT);
        for (int j = 0; j < D; j++) p[i * st + j] = cent[c * D + j] + (float)(0.1 * tu_normal(&s));
    }
    if (normalize) assert_ok(als_matrix_normalize_rows(m));
    return m;
}

static als_matrix *gauss(int64_t n, int64_t d, uint64_t seed) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, n, d));
    float *p = als_matrix_data(m);
    uint64_t s = seed;
    for (int64_t i = 0; i < n * d; i++) p[i] = (float)tu_normal(&s);
    return m;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* distinct ids, never -1, negative and huge ones included */
static int64_t *random_ids(int64_t n, uint64_t seed) {
    int64_t *ids = malloc((size_t)n * sizeof(int64_t));
    int64_t *tmp = malloc((size_t)n * sizeof(int64_t));
    assert_non_null(ids);
    assert_non_null(tmp);
    uint64_t s = seed;
    for (;;) {
        /* odd i: a bijective scramble of i (huge, any sign); even i: small negatives */
        uint64_t mix = tu_next(&s);
        for (int64_t i = 0; i < n; i++)
            ids[i] = (i % 2) ? (int64_t)(((uint64_t)i * 0x9E3779B97F4A7C15ull) ^ mix)
                             : -(int64_t)(i * 1000) - 2 - (int64_t)(mix % 997);
        ids[0] = INT64_MIN;
        if (n > 1) ids[n - 1] = INT64_MAX;
        if (n > 2) ids[n / 2] = -2;
        memcpy(tmp, ids, (size_t)n * sizeof(int64_t));
        qsort(tmp, (size_t)n, sizeof(int64_t), cmp_i64);
        int ok = 1;
        for (int64_t i = 0; i < n; i++)
            if (tmp[i] == -1 || (i > 0 && tmp[i] == tmp[i - 1])) ok = 0;
        if (ok) break;
    }
    free(tmp);
    return ids;
}

/* ---------------------------------------------------------------- helpers */

typedef struct {
    float *s;
    int64_t *i;
    int64_t n;
} result;

static result search_r(const vecidx *idx, const als_matrix *q, int64_t k, const vecidx_filter *f) {
    result r;
    r.n = als_matrix_rows(q) * k;
    r.s = malloc((size_t)(r.n + 1) * sizeof(float));
    r.i = malloc((size_t)(r.n + 1) * sizeof(int64_t));
    assert_non_null(r.s);
    assert_non_null(r.i);
    memset(r.s, 0x7f, (size_t)(r.n + 1) * sizeof(float));
    memset(r.i, 0x5a, (size_t)(r.n + 1) * sizeof(int64_t));
    if (f) assert_ok(vecidx_search_filtered(idx, q, k, f, r.s, r.i));
    else assert_ok(vecidx_search(idx, q, k, r.s, r.i));
    return r;
}

static void result_free(result *r) {
    free(r->s);
    free(r->i);
    r->s = NULL;
    r->i = NULL;
}

static void assert_same(const result *a, const result *b, const char *what) {
    assert_int_equal(a->n, b->n);
    if (memcmp(a->s, b->s, (size_t)a->n * sizeof(float)) != 0 ||
        memcmp(a->i, b->i, (size_t)a->n * sizeof(int64_t)) != 0) {
        for (int64_t j = 0; j < a->n; j++) {
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

static int better(int metric, float a, float b) { return metric == VECIDX_METRIC_IP ? a > b : a < b; }

/* Sorted best-first, ties by id, padding only at the end with the right score. */
static void assert_well_formed(const result *r, int64_t k, int metric) {
    float pad = metric == VECIDX_METRIC_IP ? -INFINITY : INFINITY;
    for (int64_t q = 0; q < r->n / k; q++) {
        const float *s = r->s + q * k;
        const int64_t *id = r->i + q * k;
        int padded = 0;
        for (int64_t j = 0; j < k; j++) {
            if (id[j] == -1) {
                padded = 1;
                assert_true(s[j] == pad);
                continue;
            }
            assert_false(padded);
            assert_false(isnan(s[j]));
            assert_false(isinf(s[j]));
            if (j > 0) {
                assert_false(better(metric, s[j], s[j - 1]));
                if (s[j] == s[j - 1]) assert_true(id[j] > id[j - 1]);
            }
        }
    }
}

static double recall_at(const result *approx, const result *exact, int64_t k) {
    int64_t hit = 0, tot = 0;
    for (int64_t q = 0; q < exact->n / k; q++) {
        for (int64_t a = 0; a < k; a++) {
            if (exact->i[q * k + a] == -1) continue;
            tot++;
            for (int64_t b = 0; b < k; b++)
                if (approx->i[q * k + b] == exact->i[q * k + a]) {
                    hit++;
                    break;
                }
        }
    }
    return tot ? (double)hit / (double)tot : 1.0;
}

static vecidx *flat_over(const als_matrix *x, int metric, const int64_t *ids) {
    vecidx *f = NULL;
    assert_ok(vecidx_flat_create(&f, als_matrix_cols(x), metric));
    assert_ok(vecidx_add(f, x, ids));
    return f;
}

/* IVF with nlist lists, trained on x (with the given seed and thread count), holding x. */
static vecidx *ivf_over(const als_matrix *x, int metric, int64_t nlist, const int64_t *ids,
                        int64_t seed, int64_t threads) {
    vecidx *v = NULL;
    assert_ok(vecidx_ivf_create(&v, als_matrix_cols(x), metric, nlist));
    assert_non_null(v);
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_SEED, seed));
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_NUM_THREADS, threads));
    assert_int_equal(vecidx_is_trained(v), 0);
    assert_ok(vecidx_train(v, x));
    assert_int_equal(vecidx_is_trained(v), 1);
    assert_int_equal(vecidx_size(v), 0);
    assert_ok(vecidx_add(v, x, ids));
    assert_int_equal(vecidx_size(v), als_matrix_rows(x));
    return v;
}

/* ---------------------------------------------------------------- tests */

static void test_ivf_create_and_getters(void **state) {
    (void)state;
    vecidx *v = (vecidx *)&v;
    assert_fails_with(vecidx_ivf_create(NULL, 4, VECIDX_METRIC_IP, 8), ALS_EINVAL);
    assert_fails_with(vecidx_ivf_create(&v, 4, 2, 8), ALS_EINVAL);
    assert_null(v);
    v = (vecidx *)&v;
    assert_fails_with(vecidx_ivf_create(&v, 0, VECIDX_METRIC_IP, 8), ALS_ERANGE);
    assert_null(v);
    assert_fails_with(vecidx_ivf_create(&v, 65537, VECIDX_METRIC_IP, 8), ALS_ERANGE);
    assert_fails_with(vecidx_ivf_create(&v, 4, VECIDX_METRIC_L2, 0), ALS_ERANGE);
    assert_fails_with(vecidx_ivf_create(&v, 4, VECIDX_METRIC_L2, -5), ALS_ERANGE);
    assert_fails_with(vecidx_ivf_create(&v, 4, VECIDX_METRIC_L2, 2147483648LL), ALS_ERANGE);
    assert_null(v);
    for (int metric = 0; metric < 2; metric++) {
        assert_ok(vecidx_ivf_create(&v, 7, metric, 13));
        assert_non_null(v);
        assert_int_equal(vecidx_kind(v), VECIDX_KIND_IVF);
        assert_int_equal(vecidx_nlist(v), 13);
        assert_int_equal(vecidx_dim(v), 7);
        assert_int_equal(vecidx_metric(v), metric);
        assert_int_equal(vecidx_size(v), 0);
        assert_int_equal(vecidx_is_trained(v), 0);
        int64_t x = -1;
        assert_ok(vecidx_get_int(v, VECIDX_PARAM_NPROBE, &x));
        assert_int_equal(x, 1);
        assert_ok(vecidx_get_int(v, VECIDX_PARAM_SEED, &x));
        assert_int_equal(x, 1234);
        assert_ok(vecidx_get_int(v, VECIDX_PARAM_KMEANS_ITERS, &x));
        if (x != 10) {
            print_error("KMEANS_ITERS of a new IVF index is %lld; the header's default is 10\n", (long long)x);
            fail();
        }
        assert_ok(vecidx_get_int(v, VECIDX_PARAM_TRAIN_PER_LIST, &x));
        assert_int_equal(x, 256);
        assert_fails_with(vecidx_set_int(v, VECIDX_PARAM_NPROBE, 0), ALS_ERANGE);
        assert_ok(vecidx_set_int(v, VECIDX_PARAM_NPROBE, 1000)); /* above nlist is allowed */
        assert_ok(vecidx_get_int(v, VECIDX_PARAM_NPROBE, &x));
        assert_int_equal(x, 1000);
        vecidx_destroy(v);
        v = NULL;
    }
    vecidx_destroy(NULL);
}

static void test_ivf_state_errors(void **state) {
    (void)state;
    float *cent = centres_make(1);
    als_matrix *x = clustered(cent, 2000, 2, 0);
    als_matrix *few = clustered(cent, NLIST - 1, 3, 0);
    als_matrix *exact = clustered(cent, NLIST, 4, 0);
    als_matrix *wrong = gauss(100, D + 1, 5);
    als_matrix *q = clustered(cent, 3, 6, 0);
    vecidx *v = NULL;
    assert_ok(vecidx_ivf_create(&v, D, VECIDX_METRIC_L2, NLIST));
    float s[30];
    int64_t id[30];
    vecidx_filter *f = NULL;
    int64_t fid = 5;
    assert_ok(vecidx_filter_create(&f, &fid, 1, VECIDX_FILTER_EXCLUDE));

    /* untrained: add and search refuse */
    assert_int_equal(vecidx_is_trained(v), 0);
    assert_fails_with(vecidx_add(v, x, NULL), ALS_ESTATE);
    assert_int_equal(vecidx_size(v), 0);
    assert_fails_with(vecidx_search(v, q, 10, s, id), ALS_ESTATE);
    assert_fails_with(vecidx_search_filtered(v, q, 10, f, s, id), ALS_ESTATE);
    assert_fails_with(vecidx_search_filtered(v, q, 10, NULL, s, id), ALS_ESTATE);

    /* bad training input */
    assert_fails_with(vecidx_train(v, few), ALS_ERANGE);
    assert_int_equal(vecidx_is_trained(v), 0);
    assert_fails_with(vecidx_train(NULL, x), ALS_EINVAL);
    assert_fails_with(vecidx_train(v, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_train(v, wrong), ALS_EDIM);
    als_matrix *nan = clustered(cent, 200, 7, 0);
    als_matrix_data(nan)[150 * als_matrix_stride(nan) + 3] = NAN;
    assert_fails_with(vecidx_train(v, nan), ALS_EINVAL);
    als_matrix_data(nan)[150 * als_matrix_stride(nan) + 3] = INFINITY;
    assert_fails_with(vecidx_train(v, nan), ALS_EINVAL);
    assert_int_equal(vecidx_is_trained(v), 0);

    /* exactly nlist rows is enough */
    assert_ok(vecidx_train(v, exact));
    assert_int_equal(vecidx_is_trained(v), 1);
    /* trained and empty: searching works (all padding) and retraining is allowed */
    assert_ok(vecidx_search(v, q, 10, s, id));
    for (int j = 0; j < 30; j++) {
        assert_int_equal(id[j], -1);
        assert_true(isinf(s[j]) && s[j] > 0);
    }
    assert_ok(vecidx_train(v, x));
    assert_ok(vecidx_add(v, x, NULL));
    assert_int_equal(vecidx_size(v), 2000);
    /* training a non-empty index */
    assert_fails_with(vecidx_train(v, x), ALS_ESTATE);
    assert_int_equal(vecidx_size(v), 2000);
    assert_int_equal(vecidx_is_trained(v), 1);
    /* add / search argument errors on a trained IVF */
    assert_fails_with(vecidx_add(v, wrong, NULL), ALS_EDIM);
    assert_fails_with(vecidx_add(v, nan, NULL), ALS_EINVAL);
    int64_t *ids = malloc(200 * sizeof(int64_t));
    assert_non_null(ids);
    for (int i = 0; i < 200; i++) ids[i] = 10000 + i;
    ids[199] = -1;
    als_matrix *ok200 = clustered(cent, 200, 8, 0);
    assert_fails_with(vecidx_add(v, ok200, ids), ALS_EINVAL);
    assert_int_equal(vecidx_size(v), 2000);
    als_matrix *qwrong = gauss(2, D + 1, 9);
    als_matrix *qnan = clustered(cent, 2, 10, 0);
    als_matrix_data(qnan)[als_matrix_stride(qnan) + 1] = NAN;
    assert_fails_with(vecidx_search(v, q, 0, s, id), ALS_ERANGE);
    assert_fails_with(vecidx_search(v, qwrong, 3, s, id), ALS_EDIM);
    assert_fails_with(vecidx_search(v, q, 3, s, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_search(v, qnan, 3, s, id), ALS_EINVAL);
    assert_fails_with(vecidx_search_filtered(v, qnan, 3, f, s, id), ALS_EINVAL);
    als_matrix_destroy(qwrong);
    als_matrix_destroy(qnan);
    als_matrix *q0 = NULL;
    assert_ok(als_matrix_create(&q0, 0, D));
    assert_ok(vecidx_search(v, q0, 3, s, id));
    als_matrix_destroy(q0);

    free(ids);
    als_matrix_destroy(ok200);
    als_matrix_destroy(nan);
    vecidx_filter_destroy(f);
    vecidx_destroy(v);
    als_matrix_destroy(x);
    als_matrix_destroy(few);
    als_matrix_destroy(exact);
    als_matrix_destroy(wrong);
    als_matrix_destroy(q);
    free(cent);
}

/* nprobe == nlist scans everything: bit-identical to flat, for IP and L2, any thread
 * count; nprobe > nlist acts as nlist. */
static void test_ivf_full_probe_equals_flat(void **state) {
    (void)state;
    float *cent = centres_make(11);
    int64_t *ids = random_ids(NPOINTS, 12);
    char what[96];
    for (int metric = 0; metric < 2; metric++) {
        als_matrix *x = clustered(cent, NPOINTS, 13 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        als_matrix *q = clustered(cent, NQ, 15 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        vecidx *flat = flat_over(x, metric, ids);
        vecidx *ivf = ivf_over(x, metric, NLIST, ids, 1234, 0);
        assert_int_equal(vecidx_nlist(ivf), NLIST);
        assert_int_equal(vecidx_kind(ivf), VECIDX_KIND_IVF);
        const int64_t ks[] = {1, 10, 100};
        for (int ki = 0; ki < 3; ki++) {
            int64_t k = ks[ki];
            result fr = search_r(flat, q, k, NULL);
            assert_well_formed(&fr, k, metric);
            const int64_t probes[] = {NLIST, NLIST + 1, 10 * NLIST, 2147483647LL};
            for (int pi = 0; pi < 4; pi++) {
                assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, probes[pi]));
                for (int64_t th = pi == 0 ? 1 : 2; th <= 2; th++) {
                    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NUM_THREADS, th));
                    result ir = search_r(ivf, q, k, NULL);
                    snprintf(what, sizeof what, "%s k=%lld nprobe=%lld threads=%lld",
                             metric ? "L2" : "IP", (long long)k, (long long)probes[pi], (long long)th);
                    assert_same(&fr, &ir, what);
                    result_free(&ir);
                }
            }
            result_free(&fr);
        }
        /* k beyond the size: every vector of every list comes back, in the flat order */
        als_matrix *q3 = NULL;
        assert_ok(als_matrix_view_rows(&q3, q, 0, 3));
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, NLIST));
        result fa = search_r(flat, q3, NPOINTS + 5, NULL), ia = search_r(ivf, q3, NPOINTS + 5, NULL);
        assert_same(&fa, &ia, "k > size, full probe");
        for (int64_t j = 0; j < 3; j++) {
            assert_true(ia.i[j * (NPOINTS + 5) + NPOINTS - 1] != -1);
            assert_int_equal(ia.i[j * (NPOINTS + 5) + NPOINTS], -1);
        }
        result_free(&fa);
        result_free(&ia);
        als_matrix_destroy(q3);
        vecidx_destroy(flat);
        vecidx_destroy(ivf);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
    /* unclustered gaussian data, unnormalized IP: still exact at full probe */
    als_matrix *g = gauss(3001, 17, 21);
    als_matrix *gq = gauss(50, 17, 22);
    for (int metric = 0; metric < 2; metric++) {
        vecidx *flat = flat_over(g, metric, NULL);
        vecidx *ivf = ivf_over(g, metric, 16, NULL, 5, 2);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 16));
        result a = search_r(flat, gq, 20, NULL), b = search_r(ivf, gq, 20, NULL);
        assert_same(&a, &b, "gaussian data, full probe");
        result_free(&a);
        result_free(&b);
        a = search_r(flat, gq, 3010, NULL);
        b = search_r(ivf, gq, 3010, NULL);
        assert_same(&a, &b, "gaussian data, full probe, k > size");
        result_free(&a);
        result_free(&b);
        vecidx_destroy(flat);
        vecidx_destroy(ivf);
    }
    als_matrix_destroy(g);
    als_matrix_destroy(gq);
    free(ids);
    free(cent);
}

/* recall@10 >= 0.95 at nprobe = nlist / 8, for several seeds. */
static void test_ivf_recall(void **state) {
    (void)state;
    float *cent = centres_make(31);
    int64_t *ids = random_ids(NPOINTS, 32);
    const int64_t seeds[] = {1234, 1, 987654321987LL};
    for (int metric = 0; metric < 2; metric++) {
        als_matrix *x = clustered(cent, NPOINTS, 33 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        als_matrix *q = clustered(cent, NQ, 35 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        vecidx *flat = flat_over(x, metric, ids);
        result fr = search_r(flat, q, 10, NULL);
        for (int si = 0; si < 3; si++) {
            vecidx *ivf = ivf_over(x, metric, NLIST, ids, seeds[si], 0);
            assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, NLIST / 8));
            result ir = search_r(ivf, q, 10, NULL);
            assert_well_formed(&ir, 10, metric);
            double rec = recall_at(&ir, &fr, 10);
            printf("note: %s seed %lld recall@10 at nprobe %d: %.4f\n", metric ? "L2" : "IP",
                   (long long)seeds[si], NLIST / 8, rec);
            assert_true(rec >= 0.95);
            /* a returned id carries the same score as in the flat index (same kernel) */
            for (int64_t j = 0; j < ir.n; j++) {
                for (int64_t t = (j / 10) * 10; t < (j / 10) * 10 + 10; t++) {
                    if (fr.i[t] == ir.i[j]) assert_memory_equal(&fr.s[t], &ir.s[j], sizeof(float));
                }
            }
            result_free(&ir);
            vecidx_destroy(ivf);
        }
        result_free(&fr);
        vecidx_destroy(flat);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
    free(ids);
    free(cent);
}

/* Same data and seed: same centroids whatever the thread count (and SIMD path), seen
 * through search results at small nprobe, which depend on every centroid. */
static void test_ivf_training_deterministic(void **state) {
    (void)state;
    float *cent = centres_make(41);
    als_matrix *x = clustered(cent, 20000, 42, 0);
    als_matrix *q = clustered(cent, 300, 43, 0);
    for (int metric = 0; metric < 2; metric++) {
        vecidx *a = ivf_over(x, metric, NLIST, NULL, 777, 1);
        vecidx *b = ivf_over(x, metric, NLIST, NULL, 777, 1);
        vecidx *c = ivf_over(x, metric, NLIST, NULL, 777, 2);
        vecidx *e = ivf_over(x, metric, NLIST, NULL, 777, 0);
        const int64_t probes[] = {1, 8};
        for (int pi = 0; pi < 2; pi++) {
            vecidx *all[4] = {a, b, c, e};
            for (int j = 0; j < 4; j++) {
                assert_ok(vecidx_set_int(all[j], VECIDX_PARAM_NPROBE, probes[pi]));
                assert_ok(vecidx_set_int(all[j], VECIDX_PARAM_NUM_THREADS, 1 + j % 2));
            }
            result ra = search_r(a, q, 10, NULL);
            assert_well_formed(&ra, 10, metric);
            result rb = search_r(b, q, 10, NULL);
            result rc = search_r(c, q, 10, NULL);
            result re = search_r(e, q, 10, NULL);
            assert_same(&ra, &rb, "same seed, two trainings");
            assert_same(&ra, &rc, "same seed, 1 vs 2 training threads");
            assert_same(&ra, &re, "same seed, 1 vs all training threads");
            result_free(&rb);
            result_free(&rc);
            result_free(&re);
            /* every SIMD path searches identically */
            for (int64_t simd = VECIDX_SIMD_PORTABLE; simd <= VECIDX_SIMD_AVX512; simd++) {
                int rcode = vecidx_set_int(b, VECIDX_PARAM_SIMD, simd);
                if (rcode == ALS_EUNSUPPORTED) {
                    printf("note: SIMD level %lld unsupported here, skipped\n", (long long)simd);
                    continue;
                }
                assert_ok(rcode);
                for (int64_t th = 1; th <= 2; th++) {
                    assert_ok(vecidx_set_int(b, VECIDX_PARAM_NUM_THREADS, th));
                    result rs = search_r(b, q, 10, NULL);
                    assert_same(&ra, &rs, "SIMD path / threads at search");
                    result_free(&rs);
                }
            }
            assert_ok(vecidx_set_int(b, VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO));
            result_free(&ra);
        }
        /* training under the portable path gives the same centroids as the default path */
        vecidx *p = NULL;
        assert_ok(vecidx_ivf_create(&p, D, metric, NLIST));
        assert_ok(vecidx_set_int(p, VECIDX_PARAM_SEED, 777));
        assert_ok(vecidx_set_int(p, VECIDX_PARAM_SIMD, VECIDX_SIMD_PORTABLE));
        assert_ok(vecidx_train(p, x));
        assert_ok(vecidx_add(p, x, NULL));
        assert_ok(vecidx_set_int(p, VECIDX_PARAM_NPROBE, 1));
        assert_ok(vecidx_set_int(a, VECIDX_PARAM_NPROBE, 1));
        result rp = search_r(p, q, 10, NULL), ra1 = search_r(a, q, 10, NULL);
        assert_same(&ra1, &rp, "training on the portable path");
        result_free(&rp);
        result_free(&ra1);
        vecidx_destroy(p);
        vecidx_destroy(a);
        vecidx_destroy(b);
        vecidx_destroy(c);
        vecidx_destroy(e);
    }
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    free(cent);
}

/* Retraining an empty index replaces the centroids: same as a fresh index trained on the
 * second set. Small samples (TRAIN_PER_LIST) and one k-means iteration still work. */
static void test_ivf_retrain_and_sampling(void **state) {
    (void)state;
    float *cent = centres_make(51);
    als_matrix *x1 = clustered(cent, 5000, 52, 0);
    als_matrix *x2 = clustered(cent, 6000, 53, 0);
    als_matrix *q = clustered(cent, 200, 54, 0);
    vecidx *r = NULL, *fresh = NULL;
    assert_ok(vecidx_ivf_create(&r, D, VECIDX_METRIC_L2, 32));
    assert_ok(vecidx_ivf_create(&fresh, D, VECIDX_METRIC_L2, 32));
    assert_ok(vecidx_train(r, x1));
    assert_ok(vecidx_train(r, x2));
    assert_ok(vecidx_train(fresh, x2));
    assert_ok(vecidx_add(r, x2, NULL));
    assert_ok(vecidx_add(fresh, x2, NULL));
    result a = search_r(r, q, 10, NULL), b = search_r(fresh, q, 10, NULL);
    assert_same(&a, &b, "retrained vs fresh");
    result_free(&a);
    result_free(&b);
    vecidx_destroy(r);
    vecidx_destroy(fresh);

    vecidx *flat = flat_over(x2, VECIDX_METRIC_L2, NULL);
    result fr = search_r(flat, q, 10, NULL);
    vecidx *s = NULL;
    assert_ok(vecidx_ivf_create(&s, D, VECIDX_METRIC_L2, 32));
    assert_ok(vecidx_set_int(s, VECIDX_PARAM_TRAIN_PER_LIST, 1)); /* sample of 32 rows */
    assert_ok(vecidx_set_int(s, VECIDX_PARAM_KMEANS_ITERS, 1));
    assert_ok(vecidx_train(s, x2));
    assert_ok(vecidx_add(s, x2, NULL));
    assert_ok(vecidx_set_int(s, VECIDX_PARAM_NPROBE, 32));
    result sr = search_r(s, q, 10, NULL);
    assert_same(&fr, &sr, "tiny sample, full probe");
    assert_ok(vecidx_set_int(s, VECIDX_PARAM_NPROBE, 1));
    result s1 = search_r(s, q, 10, NULL);
    assert_well_formed(&s1, 10, VECIDX_METRIC_L2);
    result_free(&s1);
    result_free(&sr);
    result_free(&fr);
    vecidx_destroy(s);
    vecidx_destroy(flat);
    als_matrix_destroy(x1);
    als_matrix_destroy(x2);
    als_matrix_destroy(q);
    free(cent);
}

/* Filters at nprobe == nlist equal flat with the same filter; at small nprobe results
 * still obey the filter. */
static void test_ivf_filters(void **state) {
    (void)state;
    float *cent = centres_make(61);
    const int64_t n = 20000;
    int64_t *ids = random_ids(n, 62);
    uint64_t s = 63;
    int64_t *ex = malloc((size_t)n * sizeof(int64_t));
    int64_t *in = malloc((size_t)n * sizeof(int64_t));
    assert_non_null(ex);
    assert_non_null(in);
    int64_t nex = 0, nin = 0;
    for (int64_t i = 0; i < n; i++) {
        double u = tu_uniform(&s);
        if (u < 0.4) ex[nex++] = ids[i];
        if (u > 0.97) in[nin++] = ids[i];
    }
    in[nin++] = 4242; /* maybe absent, harmless */
    vecidx_filter *fex = NULL, *fin = NULL;
    assert_ok(vecidx_filter_create(&fex, ex, nex, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_filter_create(&fin, in, nin, VECIDX_FILTER_INCLUDE));
    for (int metric = 0; metric < 2; metric++) {
        als_matrix *x = clustered(cent, n, 64 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        als_matrix *q = clustered(cent, 200, 66 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        vecidx *flat = flat_over(x, metric, ids);
        vecidx *ivf = ivf_over(x, metric, 32, ids, 1234, 2);
        vecidx_filter *fs[2] = {fex, fin};
        for (int fi = 0; fi < 2; fi++) {
            assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 32));
            result a = search_r(flat, q, 15, fs[fi]);
            result b = search_r(ivf, q, 15, fs[fi]);
            assert_well_formed(&a, 15, metric);
            assert_same(&a, &b, fi ? "include filter, full probe" : "exclude filter, full probe");
            for (int64_t j = 0; j < a.n; j++)
                if (a.i[j] != -1) assert_int_equal(vecidx_filter_allows(fs[fi], a.i[j]), 1);
            assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 4));
            result c = search_r(ivf, q, 15, fs[fi]);
            assert_well_formed(&c, 15, metric);
            for (int64_t j = 0; j < c.n; j++)
                if (c.i[j] != -1) assert_int_equal(vecidx_filter_allows(fs[fi], c.i[j]), 1);
            if (fi == 0) assert_true(recall_at(&c, &a, 15) >= 0.9);
            result_free(&a);
            result_free(&b);
            result_free(&c);
        }
        /* excluding everything: all padding */
        vecidx_filter *all = NULL;
        assert_ok(vecidx_filter_create(&all, ids, n, VECIDX_FILTER_EXCLUDE));
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 32));
        result z = search_r(ivf, q, 5, all);
        for (int64_t j = 0; j < z.n; j++) assert_int_equal(z.i[j], -1);
        assert_well_formed(&z, 5, metric);
        result_free(&z);
        vecidx_filter_destroy(all);
        vecidx_destroy(flat);
        vecidx_destroy(ivf);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
    vecidx_filter_destroy(fex);
    vecidx_filter_destroy(fin);
    free(ex);
    free(in);
    free(ids);
    free(cent);
}

/* ids NULL across two adds (consecutive from the current size), k > size padding, and
 * padding when the probed lists hold fewer than k vectors. */
static void test_ivf_consecutive_ids_and_padding(void **state) {
    (void)state;
    float *cent = centres_make(71);
    als_matrix *x = clustered(cent, 300, 72, 0);
    als_matrix *q = clustered(cent, 20, 73, 0);
    als_matrix *h1 = NULL, *h2 = NULL;
    assert_ok(als_matrix_view_rows(&h1, x, 0, 130));
    assert_ok(als_matrix_view_rows(&h2, x, 130, 170));
    for (int metric = 0; metric < 2; metric++) {
        vecidx *flat = flat_over(x, metric, NULL); /* ids 0..299 */
        vecidx *ivf = NULL;
        assert_ok(vecidx_ivf_create(&ivf, D, metric, 8));
        assert_ok(vecidx_train(ivf, x));
        assert_ok(vecidx_add(ivf, h1, NULL));
        assert_ok(vecidx_add(ivf, h2, NULL));
        assert_int_equal(vecidx_size(ivf), 300);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 8));
        result a = search_r(flat, q, 310, NULL), b = search_r(ivf, q, 310, NULL);
        assert_same(&a, &b, "consecutive ids, k > size");
        for (int64_t qq = 0; qq < 20; qq++) {
            assert_true(b.i[qq * 310 + 299] >= 0 && b.i[qq * 310 + 299] < 300);
            for (int j = 300; j < 310; j++) assert_int_equal(b.i[qq * 310 + j], -1);
        }
        result_free(&a);
        result_free(&b);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 1));
        result c = search_r(ivf, q, 310, NULL);
        assert_well_formed(&c, 310, metric);
        for (int64_t qq = 0; qq < 20; qq++) assert_int_equal(c.i[qq * 310 + 309], -1);
        result_free(&c);
        vecidx_destroy(flat);
        vecidx_destroy(ivf);
    }
    als_matrix_destroy(h1);
    als_matrix_destroy(h2);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    free(cent);
}

typedef struct {
    const vecidx *idx;
    const als_matrix *q;
    result r;
    int rc;
} job;

static void *search_thread(void *arg) {
    job *j = arg;
    j->r.n = als_matrix_rows(j->q) * 10;
    j->r.s = malloc((size_t)j->r.n * sizeof(float));
    j->r.i = malloc((size_t)j->r.n * sizeof(int64_t));
    j->rc = (j->r.s && j->r.i) ? vecidx_search(j->idx, j->q, 10, j->r.s, j->r.i) : ALS_ENOMEM;
    return NULL;
}

static void test_ivf_concurrent_searches(void **state) {
    (void)state;
    float *cent = centres_make(81);
    als_matrix *x = clustered(cent, 20000, 82, 1);
    vecidx *ivf = ivf_over(x, VECIDX_METRIC_IP, NLIST, NULL, 1234, 2);
    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 8));
    als_matrix *q[4];
    result serial[4];
    job jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        q[i] = clustered(cent, 1000, 83 + (uint64_t)i, 1);
        serial[i] = search_r(ivf, q[i], 10, NULL);
        jobs[i].idx = ivf;
        jobs[i].q = q[i];
        jobs[i].rc = -999;
        jobs[i].r.s = NULL;
        jobs[i].r.i = NULL;
    }
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, search_thread, &jobs[i]), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, ALS_OK);
        assert_same(&serial[i], &jobs[i].r, "concurrent IVF search");
        result_free(&serial[i]);
        result_free(&jobs[i].r);
        als_matrix_destroy(q[i]);
    }
    vecidx_destroy(ivf);
    als_matrix_destroy(x);
    free(cent);
}

/* ---------------------------------------------------------------- per-call parameters */

static result search_with_r(const vecidx *idx, const als_matrix *q, int64_t k, const vecidx_params *p) {
    result r;
    r.n = als_matrix_rows(q) * k;
    r.s = malloc((size_t)(r.n + 1) * sizeof(float));
    r.i = malloc((size_t)(r.n + 1) * sizeof(int64_t));
    assert_non_null(r.s);
    assert_non_null(r.i);
    assert_ok(vecidx_search_with(idx, q, k, p, r.s, r.i));
    return r;
}

/* Settings given per call equal the same settings on the index, leave the index alone, and
 * unset keys fall back to the index's values. */
static void test_params_per_call(void **state) {
    (void)state;
    float *cent = centres_make(91);
    int64_t *ids = random_ids(NPOINTS, 92);
    als_matrix *x = clustered(cent, NPOINTS, 93, 1), *q = clustered(cent, NQ, 94, 1);
    vecidx *ivf = ivf_over(x, VECIDX_METRIC_IP, NLIST, ids, 1234, 2);
    vecidx_params *p = NULL;
    assert_ok(vecidx_params_create(&p));
    int64_t v;
    assert_int_equal(vecidx_params_get_int(p, VECIDX_PARAM_NPROBE, &v), ALS_ENOTFOUND);
    result base = search_r(ivf, q, 10, NULL); /* index nprobe 1 */
    result none = search_with_r(ivf, q, 10, p), nul = search_with_r(ivf, q, 10, NULL);
    assert_same(&base, &none, "empty params = the index's settings");
    assert_same(&base, &nul, "NULL params = the index's settings");
    const int64_t probes[] = {1, 3, 8, NLIST};
    for (int i = 0; i < 4; i++) {
        assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, probes[i]));
        assert_ok(vecidx_params_get_int(p, VECIDX_PARAM_NPROBE, &v));
        assert_int_equal(v, probes[i]);
        result a = search_with_r(ivf, q, 10, p);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, probes[i]));
        result b = search_r(ivf, q, 10, NULL);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 1));
        assert_same(&a, &b, "per-call nprobe = index nprobe");
        result_free(&a);
        result_free(&b);
    }
    assert_ok(vecidx_get_int(ivf, VECIDX_PARAM_NPROBE, &v));
    assert_int_equal(v, 1); /* never mutated by a call */
    /* threads and SIMD per call do not change results */
    assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_NUM_THREADS, 1));
    assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_SIMD, VECIDX_SIMD_PORTABLE));
    result a1 = search_with_r(ivf, q, 10, p);
    assert_ok(vecidx_params_unset(p, VECIDX_PARAM_SIMD));
    assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_NUM_THREADS, 2));
    result a2 = search_with_r(ivf, q, 10, p);
    assert_same(&a1, &a2, "per-call threads / simd");
    /* a filter in the params = search_filtered */
    vecidx_filter *f = NULL;
    assert_ok(vecidx_filter_create(&f, ids, NPOINTS / 3, VECIDX_FILTER_EXCLUDE));
    assert_ok(vecidx_params_set_filter(p, f));
    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, NLIST));
    result ff = search_r(ivf, q, 10, f), pf = search_with_r(ivf, q, 10, p);
    assert_same(&ff, &pf, "params filter = search_filtered");
    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 1));
    /* expand_with = expand with the same settings */
    int64_t e1[50], e2[50], n1 = 0, n2 = 0;
    float s1[50], s2[50];
    assert_ok(vecidx_expand_with(ivf, q, 7, VECIDX_AGG_SUM, p, 50, e1, s1, &n1));
    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, NLIST));
    assert_ok(vecidx_expand(ivf, q, 7, VECIDX_AGG_SUM, f, 50, e2, s2, &n2));
    assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 1));
    assert_int_equal(n1, n2);
    assert_memory_equal(e1, e2, (size_t)n1 * sizeof(int64_t));
    assert_memory_equal(s1, s2, (size_t)n1 * sizeof(float));
    /* errors */
    assert_int_equal(vecidx_params_create(NULL), ALS_EINVAL);
    assert_int_equal(vecidx_params_set_int(NULL, VECIDX_PARAM_NPROBE, 1), ALS_EINVAL);
    assert_int_equal(vecidx_params_set_int(p, VECIDX_PARAM_SEED, 1), ALS_EINVAL);
    assert_int_equal(vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, 0), ALS_ERANGE);
    assert_int_equal(vecidx_params_set_int(p, VECIDX_PARAM_EXACT, 2), ALS_ERANGE);
    assert_int_equal(vecidx_params_set_int(p, VECIDX_PARAM_NUM_THREADS, -1), ALS_ERANGE);
    assert_int_equal(vecidx_params_get_int(p, 12345, &v), ALS_EINVAL);
    assert_int_equal(vecidx_params_set_filter(NULL, f), ALS_EINVAL);
    vecidx_params_destroy(NULL);
    result_free(&ff);
    result_free(&pf);
    result_free(&a1);
    result_free(&a2);
    result_free(&base);
    result_free(&none);
    result_free(&nul);
    vecidx_filter_destroy(f);
    vecidx_params_destroy(p);
    vecidx_destroy(ivf);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    free(ids);
    free(cent);
}

/* Exact mode on an IVF index gives the flat index's results bit for bit, whatever nprobe
 * the index or the call says, on clustered, gaussian, duplicate-heavy data, IP and L2. */
static void test_params_exact_equals_flat(void **state) {
    (void)state;
    float *cent = centres_make(101);
    for (int data = 0; data < 3; data++)
        for (int metric = 0; metric < 2; metric++) {
            als_matrix *x = data == 0 ? clustered(cent, NPOINTS, 102, metric == VECIDX_METRIC_IP)
                                      : gauss(NPOINTS, D, 103);
            if (data == 2) { /* duplicate-heavy: every vector appears about 8 times */
                float *d = als_matrix_data(x);
                for (int64_t i = 0; i < NPOINTS; i++)
                    memcpy(d + i * D, d + (i % (NPOINTS / 8)) * D, D * sizeof(float));
            }
            als_matrix *q = data == 0 ? clustered(cent, NQ, 104, metric == VECIDX_METRIC_IP) : gauss(NQ, D, 105);
            vecidx *flat = flat_over(x, metric, NULL), *ivf = ivf_over(x, metric, NLIST, NULL, 7, 2);
            vecidx_params *p = NULL;
            assert_ok(vecidx_params_create(&p));
            assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_EXACT, 1));
            assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, 2)); /* exact wins */
            const int64_t ks[] = {5, 20};
            for (int ki = 0; ki < 2; ki++) {
                result a = search_r(flat, q, ks[ki], NULL), b = search_with_r(ivf, q, ks[ki], p);
                assert_same(&a, &b, "exact mode = flat");
                result c = search_with_r(flat, q, ks[ki], p); /* exact on flat: flat */
                assert_same(&a, &c, "exact mode on a flat index");
                result_free(&a);
                result_free(&b);
                result_free(&c);
            }
            vecidx_params_destroy(p);
            vecidx_destroy(flat);
            vecidx_destroy(ivf);
            als_matrix_destroy(x);
            als_matrix_destroy(q);
        }
    free(cent);
}

static result search_exact_r(const vecidx *idx, const als_matrix *q, int64_t k, const vecidx_filter *f) {
    vecidx_params *p = NULL;
    assert_ok(vecidx_params_create(&p));
    assert_ok(vecidx_params_set_int(p, VECIDX_PARAM_EXACT, 1));
    assert_ok(vecidx_params_set_filter(p, f));
    result r = search_with_r(idx, q, k, p);
    vecidx_params_destroy(p);
    return r;
}

/* Exact mode against brute force on data built to defeat bounds: norms spread over six
 * orders of magnitude (unnormalized IP), many exact ties, all-identical lists, queries far
 * away, k past the size, filters that empty whole lists, tiny and single-vector lists. */
static void test_exact_adversarial(void **state) {
    (void)state;
    uint64_t rng = 4242;
    for (int trial = 0; trial < 24; trial++) {
        int metric = trial % 2, shape = trial / 2 % 6;
        int64_t n = 300 + (int64_t)(tu_next(&rng) % 3000), d = 1 + (int64_t)(tu_next(&rng) % 12);
        int64_t nlist = 1 + (int64_t)(tu_next(&rng) % 40);
        if (nlist > n) nlist = n;
        als_matrix *x = NULL, *q = NULL;
        assert_ok(als_matrix_create(&x, n, d));
        assert_ok(als_matrix_create(&q, 37, d));
        float *xd = als_matrix_data(x), *qd = als_matrix_data(q);
        for (int64_t i = 0; i < n * d; i++) {
            double g = tu_normal(&rng);
            switch (shape) {
            case 0: xd[i] = (float)g; break;                                      /* gaussian */
            case 1: xd[i] = (float)(g * pow(10.0, (double)(i / d % 7) - 3)); break; /* norms 1e-3..1e3 */
            case 2: xd[i] = (float)((int)(g * 2)); break;                        /* many ties */
            case 3: xd[i] = (float)(i % d == 0 ? 1.0 : 0.0); break;               /* all identical */
            case 4: xd[i] = (float)(g + 50.0 * (i / d % 5)); break;                /* far clusters */
            default: xd[i] = (float)(tu_next(&rng) % 2); break;                   /* 0/1 corners */
            }
        }
        for (int64_t i = 0; i < 37 * d; i++)
            qd[i] = (float)(tu_normal(&rng) * (i / d % 3 == 0 ? 1000.0 : 1.0));   /* some far away */
        int64_t *ids = random_ids(n, 500 + (uint64_t)trial);
        vecidx *flat = flat_over(x, metric, ids), *ivf = ivf_over(x, metric, nlist, ids, 9, 2);
        vecidx_filter *f = NULL;
        assert_ok(vecidx_filter_create(&f, ids, n / 2, trial % 3 ? VECIDX_FILTER_EXCLUDE : VECIDX_FILTER_INCLUDE));
        const int64_t ks[] = {1, 5, 20, n + 3};
        char what[128];
        for (int ki = 0; ki < 4; ki++)
            for (int use_f = 0; use_f < 2; use_f++) {
                result a = search_r(flat, q, ks[ki], use_f ? f : NULL);
                result b = search_exact_r(ivf, q, ks[ki], use_f ? f : NULL);
                snprintf(what, sizeof what, "exact, trial %d (shape %d, %s, n %lld, d %lld, nlist %lld, k %lld%s)",
                         trial, shape, metric ? "L2" : "IP", (long long)n, (long long)d,
                         (long long)nlist, (long long)ks[ki], use_f ? ", filtered" : "");
                assert_same(&a, &b, what);
                result_free(&a);
                result_free(&b);
            }
        /* the cached bounds follow an add */
        als_matrix *more = gauss(100, d, 600 + (uint64_t)trial);
        assert_ok(vecidx_add(flat, more, NULL));
        assert_ok(vecidx_add(ivf, more, NULL));
        result a = search_r(flat, q, 10, NULL), b = search_exact_r(ivf, q, 10, NULL);
        assert_same(&a, &b, "exact after another add");
        result_free(&a);
        result_free(&b);
        als_matrix_destroy(more);
        vecidx_filter_destroy(f);
        vecidx_destroy(flat);
        vecidx_destroy(ivf);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
        free(ids);
    }
}

/* Exact mode when nearly every list reaches: an include filter of 3 ids keeps every heap
 * short of k, so its threshold stays -inf, and a chunk of 2048 queries against 600 lists
 * holds more (list, query) pairs than the search buffers at once (2^20): they are scanned
 * part way through the chunk. Normalized and raw vectors, 1 and 2 threads. */
static void test_exact_pair_overflow(void **state) {
    (void)state;
    for (int norm = 0; norm <= 1; norm++) {
        als_matrix *x = gauss(3000, 6, 70 + (uint64_t)norm), *q = gauss(8192, 6, 80 + (uint64_t)norm);
        if (norm) {
            assert_ok(als_matrix_normalize_rows(x));
            assert_ok(als_matrix_normalize_rows(q));
        }
        int64_t *ids = random_ids(3000, 90);
        vecidx_filter *f = NULL;
        assert_ok(vecidx_filter_create(&f, ids + 100, 3, VECIDX_FILTER_INCLUDE));
        vecidx *flat = flat_over(x, VECIDX_METRIC_IP, ids);
        for (int threads = 1; threads <= 2; threads++) {
            vecidx *ivf = ivf_over(x, VECIDX_METRIC_IP, 600, ids, 5, threads);
            result a = search_r(flat, q, 5, f), b = search_exact_r(ivf, q, 5, f);
            assert_same(&a, &b, norm ? "exact, pairs past the buffer, normalized" : "exact, pairs past the buffer");
            result c = search_r(flat, q, 7, NULL), e = search_exact_r(ivf, q, 7, NULL);
            assert_same(&c, &e, "exact, no filter");
            result_free(&a);
            result_free(&b);
            result_free(&c);
            result_free(&e);
            vecidx_destroy(ivf);
        }
        vecidx_destroy(flat);
        vecidx_filter_destroy(f);
        free(ids);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
}

typedef struct {
    const vecidx *idx;
    const als_matrix *q;
    int64_t nprobe;
    result r;
    int rc;
} pjob;

static void *params_thread(void *arg) {
    pjob *j = arg;
    vecidx_params *p = NULL;
    j->rc = vecidx_params_create(&p);
    if (!j->rc) j->rc = vecidx_params_set_int(p, VECIDX_PARAM_NPROBE, j->nprobe);
    j->r.n = als_matrix_rows(j->q) * 10;
    j->r.s = malloc((size_t)j->r.n * sizeof(float));
    j->r.i = malloc((size_t)j->r.n * sizeof(int64_t));
    for (int rep = 0; !j->rc && rep < 5; rep++)
        j->rc = vecidx_search_with(j->idx, j->q, 10, p, j->r.s, j->r.i);
    vecidx_params_destroy(p);
    return NULL;
}

/* One index, concurrent requests with different nprobe: each equals its serial result. */
static void test_params_concurrent(void **state) {
    (void)state;
    float *cent = centres_make(111);
    als_matrix *x = clustered(cent, 20000, 112, 1);
    vecidx *ivf = ivf_over(x, VECIDX_METRIC_IP, NLIST, NULL, 1234, 1);
    als_matrix *q = clustered(cent, 500, 113, 1);
    pjob jobs[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (pjob){ivf, q, 1 + 5 * i, {NULL, NULL, 0}, -999};
        assert_int_equal(pthread_create(&t[i], NULL, params_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(jobs[i].rc, ALS_OK);
        assert_ok(vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, jobs[i].nprobe));
        result serial = search_r(ivf, q, 10, NULL);
        assert_same(&serial, &jobs[i].r, "concurrent per-call nprobe");
        result_free(&serial);
        result_free(&jobs[i].r);
    }
    vecidx_destroy(ivf);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    free(cent);
}

/* ------------------------------------------------ many lists: the two-level accelerator */

/* From 1024 lists on, training and adding assign points with the two-level accelerator of
 * src/vecidx/quantizer.c instead of a flat scan of the centroids, and the first k-means
 * iterations run on a subsample of 64 points per list. */
#define MANY 1024

/* Harder clustered data, like the benchmark's (tests/bench/gen_clustered.c): 1000 centres
 * from N(0, I), noise 0.3 per dimension, 2% background points from N(0, I). */
static als_matrix *clustered_wide(int64_t n, uint64_t seed, int normalize) {
    enum { C = 1000 };
    float *cent = malloc((size_t)C * D * sizeof(float));
    assert_non_null(cent);
    uint64_t cs = 20240601;
    for (int64_t i = 0; i < (int64_t)C * D; i++) cent[i] = (float)tu_normal(&cs);
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, n, D));
    float *p = als_matrix_data(m);
    int64_t st = als_matrix_stride(m);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        int bg = tu_uniform(&s) < 0.02;
        int64_t c = (int64_t)(tu_next(&s) % C);
        for (int j = 0; j < D; j++)
            p[i * st + j] = bg ? (float)tu_normal(&s) : cent[c * D + j] + (float)(0.3 * tu_normal(&s));
    }
    if (normalize) assert_ok(als_matrix_normalize_rows(m));
    free(cent);
    return m;
}

/* Fraction of the first m rows of x (added with ids 0..) that a search at nprobe 1 finds at
 * rank 1 for themselves: a row is found there exactly when its list is its nearest centroid's
 * (the search probes by the flat list of centroids), so this measures the assignment. */
static double self_found(vecidx *v, const als_matrix *x, int64_t m) {
    als_matrix *head = NULL;
    assert_ok(als_matrix_view_rows(&head, x, 0, m));
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_NPROBE, 1));
    result r = search_r(v, head, 1, NULL);
    int64_t hit = 0;
    for (int64_t i = 0; i < m; i++) hit += r.i[i] == i;
    result_free(&r);
    als_matrix_destroy(head);
    return (double)hit / (double)m;
}

/* Recall on a clustered set with 2048 lists (accelerated) stays that of 2000 lists (flat
 * scans, exact), nprobe by nprobe, and nearly every row sits in its nearest centroid's list. */
static void test_ivf_many_lists_recall(void **state) {
    (void)state;
    const int64_t n = 150000, nl = 2 * MANY; /* n > nl x 64: the subsample iterations run too */
    const int64_t probes[] = {4, 8, 16, 32};
    for (int metric = 0; metric < 2; metric++) {
        als_matrix *x = clustered_wide(n, 72 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        als_matrix *q = clustered_wide(NQ, 74 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        vecidx *flat = flat_over(x, metric, NULL);
        result fr = search_r(flat, q, 10, NULL);
        vecidx *many = ivf_over(x, metric, nl, NULL, 1234, 0);
        vecidx *few = ivf_over(x, metric, 2000, NULL, 1234, 0);
        for (int pi = 0; pi < 4; pi++) {
            assert_ok(vecidx_set_int(many, VECIDX_PARAM_NPROBE, probes[pi]));
            assert_ok(vecidx_set_int(few, VECIDX_PARAM_NPROBE, probes[pi]));
            result rm = search_r(many, q, 10, NULL), rf = search_r(few, q, 10, NULL);
            assert_well_formed(&rm, 10, metric);
            double am = recall_at(&rm, &fr, 10), af = recall_at(&rf, &fr, 10);
            printf("note: %s nprobe %lld recall@10: %lld lists %.4f, 2000 lists (flat scans) %.4f\n",
                   metric ? "L2" : "IP", (long long)probes[pi], (long long)nl, am, af);
            assert_true(am >= af - 0.01);
            if (probes[pi] >= 16) assert_true(am >= 0.95);
            result_free(&rm);
            result_free(&rf);
        }
        double self = self_found(many, x, 20000);
        printf("note: %s: %.4f of the rows are in their nearest centroid's list\n",
               metric ? "L2" : "IP", self);
        assert_true(self >= 0.995);
        result_free(&fr);
        vecidx_destroy(flat);
        vecidx_destroy(many);
        vecidx_destroy(few);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
}

/* With many lists the build is as deterministic as with few: the same results for every
 * training and adding thread count, for every SIMD path of training, for one add or two, and
 * for an index trained here or loaded from a file (the accelerator is rebuilt from the saved
 * centroids alone). */
static void test_ivf_many_lists_deterministic(void **state) {
    (void)state;
    char path[256];
    for (int metric = 0; metric < 2; metric++) {
        als_matrix *x = clustered_wide(40000, 82 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        als_matrix *q = clustered_wide(300, 84 + (uint64_t)metric, metric == VECIDX_METRIC_IP);
        vecidx *a = ivf_over(x, metric, MANY, NULL, 4321, 1);
        vecidx *b = ivf_over(x, metric, MANY, NULL, 4321, 2);
        vecidx *c = ivf_over(x, metric, MANY, NULL, 4321, 0);
        /* trained, saved empty, loaded, then added in two parts */
        vecidx *t = NULL, *l = NULL;
        assert_ok(vecidx_ivf_create(&t, D, metric, MANY));
        assert_ok(vecidx_set_int(t, VECIDX_PARAM_SEED, 4321));
        assert_ok(vecidx_train(t, x));
        tu_tmpname(path, sizeof path, ".vidx");
        assert_ok(vecidx_save(t, path));
        assert_ok(vecidx_load(&l, path));
        remove(path);
        als_matrix *h1 = NULL, *h2 = NULL;
        assert_ok(als_matrix_view_rows(&h1, x, 0, 15000));
        assert_ok(als_matrix_view_rows(&h2, x, 15000, 40000 - 15000));
        assert_ok(vecidx_set_int(l, VECIDX_PARAM_NUM_THREADS, 2));
        assert_ok(vecidx_add(l, h1, NULL));
        assert_ok(vecidx_add(l, h2, NULL)); /* ids continue at 15000 */
        assert_int_equal(vecidx_size(l), 40000);
        const int64_t probes[] = {1, 8};
        for (int pi = 0; pi < 2; pi++) {
            vecidx *all[4] = {a, b, c, l};
            for (int j = 0; j < 4; j++) assert_ok(vecidx_set_int(all[j], VECIDX_PARAM_NPROBE, probes[pi]));
            result ra = search_r(a, q, 10, NULL), rb = search_r(b, q, 10, NULL);
            result rc = search_r(c, q, 10, NULL), rl = search_r(l, q, 10, NULL);
            assert_well_formed(&ra, 10, metric);
            assert_same(&ra, &rb, "many lists: 1 vs 2 build threads");
            assert_same(&ra, &rc, "many lists: 1 vs all build threads");
            assert_same(&ra, &rl, "many lists: loaded from a file, added in two parts");
            result_free(&ra);
            result_free(&rb);
            result_free(&rc);
            result_free(&rl);
        }
        /* every SIMD path trains the same centroids (short training: the plain-C path is slow) */
        vecidx *ref = NULL;
        for (int64_t simd = VECIDX_SIMD_AUTO; simd <= VECIDX_SIMD_AVX512; simd++) {
            vecidx *p = NULL;
            assert_ok(vecidx_ivf_create(&p, D, metric, MANY));
            assert_ok(vecidx_set_int(p, VECIDX_PARAM_SEED, 99));
            assert_ok(vecidx_set_int(p, VECIDX_PARAM_KMEANS_ITERS, 3));
            assert_ok(vecidx_set_int(p, VECIDX_PARAM_TRAIN_PER_LIST, 16));
            int rcode = vecidx_set_int(p, VECIDX_PARAM_SIMD, simd);
            if (rcode == ALS_EUNSUPPORTED) {
                printf("note: SIMD level %lld unsupported here, skipped\n", (long long)simd);
                vecidx_destroy(p);
                continue;
            }
            assert_ok(rcode);
            assert_ok(vecidx_train(p, x));
            assert_ok(vecidx_add(p, h1, NULL));
            assert_ok(vecidx_set_int(p, VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO));
            assert_ok(vecidx_set_int(p, VECIDX_PARAM_NPROBE, 1));
            if (!ref) {
                ref = p;
                continue;
            }
            result r0 = search_r(ref, q, 10, NULL), r1 = search_r(p, q, 10, NULL);
            assert_same(&r0, &r1, "many lists: training and adding on another SIMD path");
            result_free(&r0);
            result_free(&r1);
            vecidx_destroy(p);
        }
        vecidx_destroy(ref);
        als_matrix_destroy(h1);
        als_matrix_destroy(h2);
        vecidx_destroy(a);
        vecidx_destroy(b);
        vecidx_destroy(c);
        vecidx_destroy(t);
        vecidx_destroy(l);
        als_matrix_destroy(x);
        als_matrix_destroy(q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ivf_create_and_getters),
        cmocka_unit_test(test_ivf_state_errors),
        cmocka_unit_test(test_ivf_full_probe_equals_flat),
        cmocka_unit_test(test_ivf_recall),
        cmocka_unit_test(test_ivf_training_deterministic),
        cmocka_unit_test(test_ivf_retrain_and_sampling),
        cmocka_unit_test(test_ivf_filters),
        cmocka_unit_test(test_ivf_consecutive_ids_and_padding),
        cmocka_unit_test(test_ivf_concurrent_searches),
        cmocka_unit_test(test_params_per_call),
        cmocka_unit_test(test_params_exact_equals_flat),
        cmocka_unit_test(test_params_concurrent),
        cmocka_unit_test(test_exact_adversarial),
        cmocka_unit_test(test_exact_pair_overflow),
        cmocka_unit_test(test_ivf_many_lists_recall),
        cmocka_unit_test(test_ivf_many_lists_deterministic),
    };
    return cmocka_run_group_tests_name("vecidx_ivf", tests, NULL, NULL);
}
