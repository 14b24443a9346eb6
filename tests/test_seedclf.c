/* Seed scorer suite (vecidx_seed_scorer): the weights against an independent, slow
 * reference (plain gradient descent on the same objective, written out here), the
 * properties a lookalike scorer must have (separable seeds rank first; the scorer is
 * invariant to the order of the samples; more regularization shrinks the weights), and
 * every bad input. */
#include "testutil.h"

static als_matrix *cloud(int64_t n, int64_t d, const double *centre, double spread,
                         uint64_t seed) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, n, d));
    float *x = als_matrix_data(m);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) x[i * d + j] = (float)(centre[j] + spread * tu_normal(&s));
    return m;
}

/* The objective of vecidx.h, and its minimizer by gradient descent with a fixed small
 * step, many iterations: slow and obvious. */
static double ref_obj(const als_matrix *p, const als_matrix *u, const double *b, int64_t d, double l2) {
    double f = 0;
    for (int c = 0; c < 2; c++) {
        const als_matrix *m = c ? u : p;
        int64_t n = als_matrix_rows(m);
        for (int64_t i = 0; i < n; i++) {
            double z = b[d];
            for (int64_t j = 0; j < d; j++) z += b[j] * als_matrix_data_const(m)[i * d + j];
            double yz = c ? -z : z;
            f += log(1.0 + exp(-yz)) / (2.0 * (double)n);
        }
    }
    for (int64_t j = 0; j < d; j++) f += 0.5 * l2 * b[j] * b[j];
    return f;
}

static void ref_fit(const als_matrix *p, const als_matrix *u, int64_t d, double l2, double *b) {
    double g[16];
    for (int64_t j = 0; j <= d; j++) b[j] = 0;
    for (int it = 0; it < 20000; it++) {
        for (int64_t j = 0; j <= d; j++) g[j] = j < d ? l2 * b[j] : 0;
        for (int c = 0; c < 2; c++) {
            const als_matrix *m = c ? u : p;
            int64_t n = als_matrix_rows(m);
            for (int64_t i = 0; i < n; i++) {
                const float *x = als_matrix_data_const(m) + i * d;
                double z = b[d];
                for (int64_t j = 0; j < d; j++) z += b[j] * x[j];
                double pr = 1.0 / (1.0 + exp(-z)), r = (pr - (c ? 0.0 : 1.0)) / (2.0 * (double)n);
                for (int64_t j = 0; j < d; j++) g[j] += r * x[j];
                g[d] += r;
            }
        }
        for (int64_t j = 0; j <= d; j++) b[j] -= 0.5 * g[j];
    }
}

static void test_against_reference(void **state) {
    (void)state;
    const int64_t d = 5;
    const double cp[5] = {0.5, 0.2, -0.1, 0.0, 0.3}, cu[5] = {0, 0, 0, 0, 0};
    for (int k = 0; k < 3; k++) {
        double l2 = k == 0 ? 0.01 : k == 1 ? 0.1 : 1.0;
        als_matrix *p = cloud(60 + 40 * k, d, cp, 0.6, 11 + (uint64_t)k);
        als_matrix *u = cloud(300, d, cu, 0.6, 21 + (uint64_t)k);
        float w[5], bias = 0;
        assert_ok(vecidx_seed_scorer(p, u, l2, 50, w, &bias));
        double ref[6], ours[6];
        ref_fit(p, u, d, l2, ref);
        for (int64_t j = 0; j < d; j++) ours[j] = w[j];
        ours[d] = bias;
        for (int64_t j = 0; j <= d; j++) assert_close(ours[j], ref[j], 2e-3);
        /* and it is a minimum: no worse than the reference's point */
        assert_true(ref_obj(p, u, ours, d, l2) <= ref_obj(p, u, ref, d, l2) + 1e-7);
        als_matrix_destroy(p);
        als_matrix_destroy(u);
    }
}

/* Seeds in one corner of the space, the population around the origin: the seeds' held-out
 * siblings outrank the population's held-out vectors (AUC above 0.95). */
static void test_separates_and_ranks(void **state) {
    (void)state;
    const int64_t d = 8;
    double cp[8] = {1.5, -1, 0.5, 0, 0, 0, 0, 1}, cu[8] = {0};
    als_matrix *p = cloud(200, d, cp, 0.5, 31), *u = cloud(2000, d, cu, 1.0, 32);
    als_matrix *tp = cloud(100, d, cp, 0.5, 33), *tu = cloud(1000, d, cu, 1.0, 34);
    float w[8];
    assert_ok(vecidx_seed_scorer(p, u, 0.01, 10, w, NULL));
    double pairs = 0, right = 0;
    for (int64_t i = 0; i < 100; i++) {
        double si = 0;
        for (int64_t j = 0; j < d; j++) si += w[j] * als_matrix_data(tp)[i * d + j];
        for (int64_t k = 0; k < 1000; k++) {
            double sk = 0;
            for (int64_t j = 0; j < d; j++) sk += w[j] * als_matrix_data(tu)[k * d + j];
            pairs++;
            right += si > sk ? 1 : si == sk ? 0.5 : 0;
        }
    }
    if (right / pairs < 0.95) {
        print_error("held-out AUC %.3f\n", right / pairs);
        fail();
    }
    /* more ridge, smaller weights */
    float w2[8];
    assert_ok(vecidx_seed_scorer(p, u, 1.0, 10, w2, NULL));
    double n1 = 0, n2 = 0;
    for (int64_t j = 0; j < d; j++) n1 += w[j] * w[j], n2 += w2[j] * w2[j];
    assert_true(n2 < n1);
    /* the order of the samples does not matter (to rounding) */
    als_matrix *pr = NULL;
    assert_ok(als_matrix_create(&pr, 200, d));
    for (int64_t i = 0; i < 200; i++)
        memcpy(als_matrix_data(pr) + i * d, als_matrix_data(p) + (199 - i) * d, (size_t)d * sizeof(float));
    float w3[8];
    assert_ok(vecidx_seed_scorer(pr, u, 0.01, 10, w3, NULL));
    for (int64_t j = 0; j < d; j++) assert_close(w3[j], w[j], 1e-4);
    als_matrix_destroy(pr);
    als_matrix_destroy(p);
    als_matrix_destroy(u);
    als_matrix_destroy(tp);
    als_matrix_destroy(tu);
}

static void test_errors(void **state) {
    (void)state;
    double c[4] = {0, 0, 0, 0}; /* the 4-column cloud reads 4 */
    als_matrix *p = cloud(5, 3, c, 1, 41), *u = cloud(7, 3, c, 1, 42), *u4 = cloud(7, 4, c, 1, 43);
    als_matrix *e = NULL;
    assert_ok(als_matrix_create(&e, 0, 3));
    float w[4];
    assert_fails_with(vecidx_seed_scorer(NULL, u, 0.1, 10, w, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_seed_scorer(p, NULL, 0.1, 10, w, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_seed_scorer(p, u, 0.1, 10, NULL, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_seed_scorer(p, u4, 0.1, 10, w, NULL), ALS_EDIM);
    assert_fails_with(vecidx_seed_scorer(e, u, 0.1, 10, w, NULL), ALS_ERANGE);
    assert_fails_with(vecidx_seed_scorer(p, e, 0.1, 10, w, NULL), ALS_ERANGE);
    assert_fails_with(vecidx_seed_scorer(p, u, 0.0, 10, w, NULL), ALS_ERANGE);
    assert_fails_with(vecidx_seed_scorer(p, u, NAN, 10, w, NULL), ALS_ERANGE);
    assert_fails_with(vecidx_seed_scorer(p, u, 0.1, 0, w, NULL), ALS_ERANGE);
    assert_fails_with(vecidx_seed_scorer(p, u, 0.1, 1001, w, NULL), ALS_ERANGE);
    als_matrix_data(p)[4] = NAN;
    assert_fails_with(vecidx_seed_scorer(p, u, 0.1, 10, w, NULL), ALS_EINVAL);
    /* identical classes: a finite answer, weights near zero */
    als_matrix_destroy(p);
    p = cloud(7, 3, c, 1, 42);
    assert_ok(vecidx_seed_scorer(p, u, 0.1, 10, w, NULL));
    for (int j = 0; j < 3; j++) assert_true(fabsf(w[j]) < 1e-5f);
    als_matrix_destroy(p);
    als_matrix_destroy(u);
    als_matrix_destroy(u4);
    als_matrix_destroy(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_separates_and_ranks),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("seedclf", tests, NULL, NULL);
}
