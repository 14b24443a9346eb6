/* ALS suite: training, fold-in, prediction, recommendation, evaluation, parameters and
 * model files, through the public API only.
 *
 * Independent references computed here, with their tolerances:
 * - every factor row is re-solved from dense normal equations built in double straight from
 *   als.h's formulas (implicit: Y^T Y + sum alpha |r| y y^T + lambda I, b = sum_{r>0}
 *   (1 + alpha r) y; explicit: sum y y^T + lambda I, b = sum r y; lambda = regParam x n or
 *   regParam) and Gaussian elimination with partial pivoting. A row's error is
 *   max_j |x_j - ref_j| / max(max_j |ref_j|, 1e-6): at most 1e-4 for Cholesky and fold-in,
 *   1e-3 for CG with 50 steps;
 * - NNLS solutions by their KKT conditions (violation / (|b| + |A| |x|) <= 1e-4);
 * - rankings by brute-force double dot products (ties: smaller item id), metrics from the
 *   header's formulas (1e-9), RMSE by hand (1e-6);
 * - the training loss must never increase (1e-9 relative slack).
 * Seeds are fixed; threads are set per model with ALS_PARAM_NUM_THREADS (1 and 2). Tests
 * that write files work in their own mkdtemp() folder, removed by the teardown.
 * The ml-100k quality checks read $ALS_TEST_DATA/ml-100k/u.data (default ../shared/data)
 * and are skipped, with a message, when the file is missing. */
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <pthread.h>
#include <time.h>

#define RANK 4
#define NU 30
#define NI 20
#define MAXR 144
#define TP 1024

/* ---------------------------------------------------------------- problems */

/* Ids far from the factor rows (some negative), so that a row/id mix-up shows. */
static int64_t uid(int u) { return (int64_t)u * 1000003 - 9000000; }
static int64_t iid(int i) { return 10 + 7 * (int64_t)i; }

typedef struct {
    int64_t n, cap;
    int64_t *u, *i;
    float *v;
} triples;

static void tr_push(triples *t, int64_t u, int64_t i, float v) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->u = realloc(t->u, (size_t)t->cap * sizeof *t->u);
        t->i = realloc(t->i, (size_t)t->cap * sizeof *t->i);
        t->v = realloc(t->v, (size_t)t->cap * sizeof *t->v);
        assert_non_null(t->u);
        assert_non_null(t->i);
        assert_non_null(t->v);
    }
    t->u[t->n] = u;
    t->i[t->n] = i;
    t->v[t->n] = v;
    t->n++;
}

static void tr_free(triples *t) {
    free(t->u);
    free(t->i);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static int tr_has(const triples *t, int64_t u, int64_t i) {
    for (int64_t k = 0; t && k < t->n; k++)
        if (t->u[k] == u && t->i[k] == i) return 1;
    return 0;
}

static als_ratings *tr_ratings(const triples *t) {
    als_ratings *r = NULL;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, t->n, t->u, t->i, t->v));
    assert_int_equal(als_ratings_rows(r), t->n);
    return r;
}

static const float IMPLICIT_VALUES[8] = {-2.0f, -1.0f, 0.0f, 0.5f, 1.0f, 2.0f, 3.0f, 5.0f};

static float draw_value(uint64_t *s, int implicit) {
    if (implicit) return IMPLICIT_VALUES[tu_next(s) % 8];
    uint64_t k = tu_next(s) % 12;
    return k < 10 ? (float)(1 + k % 5) : (k == 10 ? 0.5f : -1.0f);
}

/* A random nu x ni problem. Implicit values include negatives and zeros; user 0 has only
 * non-positive values (implicit), user 1 only zeros (both modes); ~10% of the rows are
 * repeated (user, item) pairs, with a new value except for users 0 and 1; rows are
 * shuffled. Every user and every item has at least one row. nu >= 3. */
static void make_problem(triples *t, int nu, int ni, double density, int implicit, uint64_t seed) {
    uint64_t s = seed;
    unsigned char *seen = calloc((size_t)ni, 1);
    assert_non_null(seen);
    memset(t, 0, sizeof *t);
    for (int u = 0; u < nu; u++) {
        int any = 0;
        for (int i = 0; i < ni; i++) {
            if (tu_uniform(&s) >= density) continue;
            tr_push(t, uid(u), iid(i), draw_value(&s, implicit));
            seen[i] = 1;
            any = 1;
        }
        if (!any) {
            int i = (int)(tu_next(&s) % (uint64_t)ni);
            tr_push(t, uid(u), iid(i), 3.0f);
            seen[i] = 1;
        }
    }
    for (int i = 0; i < ni; i++)
        if (!seen[i]) tr_push(t, uid(2 + i % (nu - 2)), iid(i), 2.0f);
    free(seen);
    int64_t c = 0;
    for (int64_t k = 0; k < t->n; k++) {
        if (t->u[k] == uid(1)) {
            t->v[k] = 0.0f;
        } else if (implicit && t->u[k] == uid(0)) {
            t->v[k] = c % 3 == 2 ? 0.0f : -(float)(1 + c % 2);
            c++;
        }
    }
    int64_t n0 = t->n;
    for (int64_t d = 0; d < n0 / 10; d++) {
        int64_t j = (int64_t)(tu_next(&s) % (uint64_t)n0);
        int special = t->u[j] == uid(0) || t->u[j] == uid(1);
        tr_push(t, t->u[j], t->i[j], special ? t->v[j] : draw_value(&s, implicit));
    }
    for (int64_t k = t->n - 1; k > 0; k--) {
        int64_t j = (int64_t)(tu_next(&s) % (uint64_t)(k + 1));
        int64_t tu = t->u[k], ti = t->i[k];
        float tv = t->v[k];
        t->u[k] = t->u[j], t->i[k] = t->i[j], t->v[k] = t->v[j];
        t->u[j] = tu, t->i[j] = ti, t->v[j] = tv;
    }
}

/* ---------------------------------------------------------------- models */

typedef struct {
    int implicit, scaling, solver, nonneg, cg_steps;
    double reg, alpha;
    int item_eq; /* ALS_ITEMEQ_*: 0 (auto) unless a test sets it */
} cfg;

static als_model *new_model(const cfg *c, int rank, int max_iter, int64_t seed, int threads) {
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    assert_non_null(m);
    assert_ok(als_set_int(m, ALS_PARAM_RANK, rank));
    assert_ok(als_set_int(m, ALS_PARAM_MAX_ITER, max_iter));
    assert_ok(als_set_int(m, ALS_PARAM_IMPLICIT, c->implicit));
    assert_ok(als_set_int(m, ALS_PARAM_NONNEGATIVE, c->nonneg));
    assert_ok(als_set_int(m, ALS_PARAM_REG_SCALING, c->scaling));
    assert_ok(als_set_int(m, ALS_PARAM_SOLVER, c->solver));
    assert_ok(als_set_int(m, ALS_PARAM_CG_STEPS, c->cg_steps ? c->cg_steps : 3));
    assert_ok(als_set_double(m, ALS_PARAM_REG, c->reg));
    assert_ok(als_set_double(m, ALS_PARAM_ALPHA, c->alpha));
    assert_ok(als_set_int(m, ALS_PARAM_SEED, seed));
    assert_ok(als_set_int(m, ALS_PARAM_NUM_THREADS, threads));
    assert_ok(als_set_int(m, ALS_PARAM_ITEM_EQUATIONS, c->item_eq));
    return m;
}

static als_model *fit_model(const als_ratings *r, const cfg *c, int rank, int max_iter,
                            int64_t seed, int threads) {
    als_model *m = new_model(c, rank, max_iter, seed, threads);
    assert_ok(als_model_fit(m, r));
    assert_true(als_model_is_fitted(m));
    return m;
}

static const char *ieq_name(int ieq) {
    return ieq == ALS_ITEMEQ_USER_MAJOR ? "user-major"
           : ieq == ALS_ITEMEQ_ITEM_MAJOR ? "item-major"
           : ieq == ALS_ITEMEQ_SWEEP     ? "sweep"
                                         : "auto";
}

static const float *frow(const als_matrix *m, int64_t row) {
    return als_matrix_data_const(m) + row * als_matrix_stride(m);
}

static double dot_fd(const float *a, const float *b, int r) {
    double s = 0.0;
    for (int j = 0; j < r; j++) s += (double)a[j] * b[j];
    return s;
}

static int mat_bits_equal(const als_matrix *a, const als_matrix *b) {
    if (als_matrix_rows(a) != als_matrix_rows(b) || als_matrix_cols(a) != als_matrix_cols(b)) return 0;
    for (int64_t i = 0; i < als_matrix_rows(a); i++)
        if (memcmp(frow(a, i), frow(b, i), (size_t)als_matrix_cols(a) * sizeof(float)) != 0) return 0;
    return 1;
}

/* max |a - b| / (1 + |b|) over all elements (same shapes required). */
static double mat_max_diff(const als_matrix *a, const als_matrix *b) {
    double worst = 0.0;
    assert_int_equal(als_matrix_rows(a), als_matrix_rows(b));
    assert_int_equal(als_matrix_cols(a), als_matrix_cols(b));
    for (int64_t i = 0; i < als_matrix_rows(a); i++)
        for (int64_t j = 0; j < als_matrix_cols(a); j++) {
            double x = frow(a, i)[j], y = frow(b, i)[j], d = fabs(x - y) / (1.0 + fabs(y));
            if (!(d <= worst)) worst = d; /* NaN wins */
        }
    return worst;
}

static int mat_finite(const als_matrix *a) {
    for (int64_t i = 0; i < als_matrix_rows(a); i++)
        for (int64_t j = 0; j < als_matrix_cols(a); j++)
            if (!isfinite(frow(a, i)[j])) return 0;
    return 1;
}

/* ---------------------------------------------------------------- dense reference */

static void add_outer(double *A, const float *y, int r, double w) {
    if (w == 0.0) return;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < r; j++) A[i * r + j] += w * (double)y[i] * (double)y[j];
}

/* Normal equations of one row (a user when side = 0, an item when side = 1) against the
 * other side's factors in `my`, built from the header's formulas in double. */
static void ref_system(const triples *t, int side, int64_t id, const als_model *my, const cfg *c,
                       double *A, double *b) {
    const als_matrix *Ym = side == 0 ? als_model_item_factors(my) : als_model_user_factors(my);
    assert_non_null(Ym);
    int64_t ny = als_matrix_rows(Ym);
    int r = (int)als_matrix_cols(Ym);
    memset(A, 0, (size_t)(r * r) * sizeof(double));
    memset(b, 0, (size_t)r * sizeof(double));
    if (c->implicit)
        for (int64_t o = 0; o < ny; o++) add_outer(A, frow(Ym, o), r, 1.0);
    double n_row = 0.0;
    for (int64_t k = 0; k < t->n; k++) {
        if ((side == 0 ? t->u[k] : t->i[k]) != id) continue;
        int64_t o = side == 0 ? als_model_item_row(my, t->i[k]) : als_model_user_row(my, t->u[k]);
        assert_true(o >= 0 && o < ny);
        const float *y = frow(Ym, o);
        double v = t->v[k], w, wb;
        if (c->implicit) {
            w = c->alpha * fabs(v);
            wb = v > 0 ? 1.0 + c->alpha * v : 0.0;
            n_row += v > 0;
        } else {
            w = 1.0;
            wb = v;
            n_row += 1.0;
        }
        add_outer(A, y, r, w);
        for (int j = 0; j < r; j++) b[j] += wb * (double)y[j];
    }
    double lambda = c->reg * (c->scaling == ALS_REG_COUNT ? n_row : 1.0);
    for (int j = 0; j < r; j++) A[j * r + j] += lambda;
}

/* Gaussian elimination with partial pivoting; b = 0 gives x = 0 (the minimizer even when
 * A is only semi-definite). */
static void gauss_solve(const double *A, const double *b, int r, double *x) {
    double M[MAXR][MAXR + 1];
    int nonzero = 0;
    for (int i = 0; i < r; i++) nonzero |= b[i] != 0.0;
    if (!nonzero) {
        for (int i = 0; i < r; i++) x[i] = 0.0;
        return;
    }
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < r; j++) M[i][j] = A[i * r + j];
        M[i][r] = b[i];
    }
    for (int col = 0; col < r; col++) {
        int piv = col;
        for (int i = col + 1; i < r; i++)
            if (fabs(M[i][col]) > fabs(M[piv][col])) piv = i;
        assert_true(M[piv][col] != 0.0);
        for (int j = 0; j <= r; j++) {
            double tmp = M[col][j];
            M[col][j] = M[piv][j];
            M[piv][j] = tmp;
        }
        for (int i = col + 1; i < r; i++) {
            double f = M[i][col] / M[col][col];
            for (int j = col; j <= r; j++) M[i][j] -= f * M[col][j];
        }
    }
    for (int i = r - 1; i >= 0; i--) {
        double s = M[i][r];
        for (int j = i + 1; j < r; j++) s -= M[i][j] * x[j];
        x[i] = s / M[i][i];
    }
}

static double rel_err(const float *x, const double *ref, int r) {
    double err = 0.0, scale = 1e-6;
    for (int j = 0; j < r; j++) {
        double d = fabs((double)x[j] - ref[j]);
        if (!(d <= err)) err = d;
        if (fabs(ref[j]) > scale) scale = fabs(ref[j]);
    }
    return err / scale;
}

/* Worst row error of mx's factors of `side` (every step-th row) against the dense solve
 * with my's other side. */
static double check_rows_step(const triples *t, int side, const als_model *mx, const als_model *my,
                              const cfg *c, const char *what, int64_t step) {
    const als_matrix *X = side == 0 ? als_model_user_factors(mx) : als_model_item_factors(mx);
    const int64_t *ids = side == 0 ? als_model_user_ids(mx) : als_model_item_ids(mx);
    assert_non_null(X);
    assert_non_null(ids);
    int r = (int)als_matrix_cols(X);
    assert_true(r <= MAXR);
    double A[MAXR * MAXR], b[MAXR], x[MAXR], worst = 0.0;
    int64_t worst_row = -1;
    for (int64_t row = 0; row < als_matrix_rows(X); row += step) {
        ref_system(t, side, ids[row], my, c, A, b);
        gauss_solve(A, b, r, x);
        double e = rel_err(frow(X, row), x, r);
        if (!(e <= worst)) worst = e, worst_row = row;
    }
    if (worst > 1e-5)
        print_message("  %s: worst %s row %lld, relative error %.3g\n", what,
                      side ? "item" : "user", (long long)worst_row, worst);
    return worst;
}

static double check_rows(const triples *t, int side, const als_model *mx, const als_model *my,
                         const cfg *c, const char *what) {
    return check_rows_step(t, side, mx, my, c, what, 1);
}

/* Worst KKT violation of min 1/2 x^T A x - b^T x, x >= 0, over the rows of mx's `side`;
 * 1.0 if some factor is negative. */
static double kkt_worst(const triples *t, int side, const als_model *mx, const als_model *my,
                        const cfg *c) {
    const als_matrix *X = side == 0 ? als_model_user_factors(mx) : als_model_item_factors(mx);
    const int64_t *ids = side == 0 ? als_model_user_ids(mx) : als_model_item_ids(mx);
    int r = (int)als_matrix_cols(X);
    double A[MAXR * MAXR], b[MAXR], worst = 0.0;
    for (int64_t row = 0; row < als_matrix_rows(X); row++) {
        const float *x = frow(X, row);
        ref_system(t, side, ids[row], my, c, A, b);
        double bn = 0.0, an = 0.0, xn = 0.0, viol = 0.0;
        for (int i = 0; i < r; i++) {
            double rs = 0.0;
            for (int j = 0; j < r; j++) rs += fabs(A[i * r + j]);
            if (rs > an) an = rs;
            if (fabs(b[i]) > bn) bn = fabs(b[i]);
            if (fabs(x[i]) > xn) xn = fabs(x[i]);
            if (!(x[i] >= 0.0f)) return 1.0;
        }
        for (int i = 0; i < r; i++) {
            double g = -b[i];
            for (int j = 0; j < r; j++) g += A[i * r + j] * x[j];
            double v = x[i] == 0.0f ? (g < 0 ? -g : 0.0) : fabs(g);
            if (v > viol) viol = v;
        }
        double scale = bn + an * xn;
        if (scale > 0 && viol / scale > worst) worst = viol / scale;
    }
    return worst;
}

/* ---------------------------------------------------------------- solves */

static void test_initial_factors(void **state) {
    (void)state;
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 11);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    /* maxIter 0: the factors are the initial ones, unit Gaussian vectors from the seed. */
    als_model *a = fit_model(r, &c, 7, 0, 99, 2), *b = fit_model(r, &c, 7, 0, 99, 1);
    als_model *d = fit_model(r, &c, 7, 0, 100, 2);
    const als_matrix *F[2] = {als_model_user_factors(a), als_model_item_factors(a)};
    assert_int_equal(als_matrix_rows(F[0]), NU);
    assert_int_equal(als_matrix_rows(F[1]), NI);
    for (int s = 0; s < 2; s++) {
        assert_int_equal(als_matrix_cols(F[s]), 7);
        for (int64_t i = 0; i < als_matrix_rows(F[s]); i++) {
            const float *f = frow(F[s], i);
            assert_close(sqrt(dot_fd(f, f, 7)), 1.0, 1e-5);
            if (i > 0) assert_true(memcmp(f, frow(F[s], i - 1), 7 * sizeof(float)) != 0);
        }
    }
    assert_true(mat_bits_equal(F[0], als_model_user_factors(b)));
    assert_true(mat_bits_equal(F[1], als_model_item_factors(b)));
    assert_true(mat_max_diff(F[0], als_model_user_factors(d)) > 1e-3);
    assert_true(mat_max_diff(F[1], als_model_item_factors(d)) > 1e-3);
    /* ids and rows agree */
    for (int64_t i = 0; i < NU; i++) assert_int_equal(als_model_user_row(a, als_model_user_ids(a)[i]), i);
    for (int64_t i = 0; i < NI; i++) assert_int_equal(als_model_item_row(a, als_model_item_ids(a)[i]), i);
    assert_int_equal(als_model_user_row(a, 424242), -1);
    assert_int_equal(als_model_item_row(a, 424242), -1);
    als_model_destroy(a);
    als_model_destroy(b);
    als_model_destroy(d);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* Users are solved last, so the final user factors are the exact solve against the final
 * item factors; the items of iteration 1 are the solve against the initial users (the
 * factors of a maxIter = 0 fit with the same seed). */
static void test_reference_solves(void **state) {
    (void)state;
    for (int implicit = 0; implicit <= 1; implicit++) {
        triples t;
        make_problem(&t, NU, NI, 0.4, implicit, 1000 + (uint64_t)implicit);
        als_ratings *r = tr_ratings(&t);
        for (int scaling = ALS_REG_COUNT; scaling <= ALS_REG_NONE; scaling++)
            for (int solver = ALS_SOLVER_CHOLESKY; solver <= ALS_SOLVER_CG; solver++)
            for (int ieq = ALS_ITEMEQ_USER_MAJOR; ieq <= ALS_ITEMEQ_SWEEP; ieq++) {
                cfg c = {implicit, scaling, solver, 0, 50, scaling == ALS_REG_NONE ? 0.3 : 0.1, 2.5, ieq};
                double tol = solver == ALS_SOLVER_CG ? 1e-3 : 1e-4;
                char what[128];
                snprintf(what, sizeof what, "%s, regScaling %s, %s, item equations %s",
                         implicit ? "implicit" : "explicit", scaling ? "none" : "count",
                         solver ? "cg" : "cholesky", ieq_name(ieq));
                als_model *m0 = fit_model(r, &c, RANK, 0, 7, 2);
                for (int iters = 1; iters <= 3; iters += 2) {
                    als_model *m = fit_model(r, &c, RANK, iters, 7, 2);
                    assert_true(check_rows(&t, 0, m, m, &c, what) <= tol);
                    if (iters == 1) assert_true(check_rows(&t, 1, m, m0, &c, what) <= tol);
                    /* rows without usable ratings are exactly zero */
                    const als_matrix *U = als_model_user_factors(m);
                    for (int j = 0; j < RANK; j++) {
                        assert_true(frow(U, als_model_user_row(m, uid(1)))[j] == 0.0f);
                        if (implicit) assert_true(frow(U, als_model_user_row(m, uid(0)))[j] == 0.0f);
                    }
                    als_model_destroy(m);
                }
                als_model_destroy(m0);
            }
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

/* The item half-step by CG sweeps (ALS_ITEMEQ_SWEEP) against the dense reference: with
 * enough CG steps the items of iteration 1 are the exact solves against the initial users,
 * at ranks of the sweep kernels (1, 2, 4, 7 and 8 vectors held in registers, r a
 * multiple of 16 or not; above rank 128, where sweep means item-major), with more items than a
 * block holds (up to 3 blocks), explicit and implicit (negative and zero values: items
 * whose only ratings are 0 are exactly zero), 1 and 3 threads. At 3 steps it agrees with
 * the item-major copy within rounding; auto takes it for CG above rank 16 and the blocked
 * user-major step at rank 16 and below (bit-identical to asking for them). */
static void test_sweep_cg(void **state) {
    (void)state;
    static const int ranks[] = {5, 16, 20, 64, 100, 128, 130};
    for (int implicit = 0; implicit <= 1; implicit++) {
        triples t;
        make_problem(&t, 240, 2600, 0.006, implicit, 7300 + (uint64_t)implicit);
        als_ratings *r = tr_ratings(&t);
        for (size_t k = 0; k < sizeof ranks / sizeof ranks[0]; k++) {
            int rank = ranks[k];
            cfg c = {implicit, ALS_REG_COUNT, ALS_SOLVER_CG, 0, 80, 0.1, 2.5, ALS_ITEMEQ_SWEEP};
            als_model *m0 = fit_model(r, &c, rank, 0, 7, 1);
            for (int threads = 1; threads <= 3; threads += 2) {
                char what[96];
                snprintf(what, sizeof what, "sweep, %s, rank %d, %d threads",
                         implicit ? "implicit" : "explicit", rank, threads);
                als_model *m = fit_model(r, &c, rank, 1, 7, threads);
                /* every 3rd item, every 11th above rank 64 (the dense solves cost r^3) */
                assert_true(check_rows_step(&t, 1, m, m0, &c, what, rank > 64 ? 11 : 3) <= 1e-3);
                als_model_destroy(m);
            }
            als_model_destroy(m0);
            cfg s3 = c, i3 = c;
            s3.cg_steps = i3.cg_steps = 3;
            i3.item_eq = ALS_ITEMEQ_ITEM_MAJOR;
            als_model *a = fit_model(r, &s3, rank, 2, 9, 2), *b = fit_model(r, &i3, rank, 2, 9, 2);
            double du = mat_max_diff(als_model_user_factors(a), als_model_user_factors(b));
            double di = mat_max_diff(als_model_item_factors(a), als_model_item_factors(b));
            if (du > 1e-5 || di > 1e-5)
                print_message("  rank %d: sweep vs item-major, 3 steps: %.3g users, %.3g items\n",
                              rank, du, di);
            assert_true(du <= 1e-3 && di <= 1e-3);
            als_model_destroy(a);
            als_model_destroy(b);
        }
        for (int rank = 16; rank <= 20; rank += 4) { /* what auto takes */
            cfg au = {implicit, ALS_REG_COUNT, ALS_SOLVER_CG, 0, 3, 0.1, 2.5, ALS_ITEMEQ_AUTO};
            cfg ex = au;
            ex.item_eq = rank <= 16 ? ALS_ITEMEQ_USER_MAJOR : ALS_ITEMEQ_SWEEP;
            als_model *a = fit_model(r, &au, rank, 2, 9, 2), *b = fit_model(r, &ex, rank, 2, 9, 2);
            assert_true(mat_bits_equal(als_model_item_factors(a), als_model_item_factors(b)));
            assert_true(mat_bits_equal(als_model_user_factors(a), als_model_user_factors(b)));
            als_model_destroy(a);
            als_model_destroy(b);
        }
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

static int cmp_user_then_row(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* t's rows grouped by user (stable), as files sorted by user are. */
static void tr_sort_by_user(triples *t) {
    int64_t *key = malloc((size_t)t->n * 2 * sizeof *key);
    assert_non_null(key);
    for (int64_t k = 0; k < t->n; k++) key[2 * k] = t->u[k], key[2 * k + 1] = k;
    qsort(key, (size_t)t->n, 2 * sizeof *key, cmp_user_then_row);
    triples o = {0, 0, NULL, NULL, NULL};
    for (int64_t k = 0; k < t->n; k++) {
        int64_t j = key[2 * k + 1];
        tr_push(&o, t->u[j], t->i[j], t->v[j]);
    }
    free(key);
    tr_free(t);
    *t = o;
}

/* The ratings store narrows its columns (16-bit items below 65,536 distinct, no values
 * while all are 1, 16-bit values while all are small counts) and the fit reads rows grouped
 * by user in place: every layout, sorted or not, in both item half-steps, gives the
 * reference solves. */
static void test_store_layouts(void **state) {
    (void)state;
    for (int layout = 0; layout < 3; layout++) { /* values: all 1, counts, counts + wide items */
        triples t;
        int ni = layout == 2 ? 70000 : NI, nu = layout == 2 ? 12 : NU;
        make_problem(&t, nu, ni, layout == 2 ? 0.0002 : 0.4, 1, 4000 + (uint64_t)layout);
        for (int64_t k = 0; k < t.n; k++) /* 1s, or counts 0..4 */
            t.v[k] = layout == 0 ? 1.0f : (float)(k % 5);
        for (int sorted = 0; sorted <= 2; sorted++) {
            if (sorted == 1) tr_sort_by_user(&t);
            if (sorted == 2) { /* grouped, then each user's first row moved to the end: users
                                * recur, in few runs (the store keeps runs, not sorted) */
                triples o = {0, 0, NULL, NULL, NULL}, tail = {0, 0, NULL, NULL, NULL};
                for (int64_t k = 0; k < t.n; k++) {
                    int first = k == 0 || t.u[k] != t.u[k - 1];
                    tr_push(first ? &tail : &o, t.u[k], t.i[k], t.v[k]);
                }
                for (int64_t k = 0; k < tail.n; k++) tr_push(&o, tail.u[k], tail.i[k], tail.v[k]);
                tr_free(&t);
                tr_free(&tail);
                t = o;
            }
            als_ratings *r = tr_ratings(&t);
            for (int ieq = ALS_ITEMEQ_USER_MAJOR; ieq <= ALS_ITEMEQ_ITEM_MAJOR; ieq++) {
                cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ieq};
                char what[96];
                snprintf(what, sizeof what, "layout %d, %s, item equations %d", layout,
                         sorted == 2 ? "users recurring" : sorted ? "sorted" : "shuffled", ieq);
                als_model *m0 = fit_model(r, &c, RANK, 0, 7, 2), *m = fit_model(r, &c, RANK, 1, 7, 2);
                assert_true(check_rows(&t, 0, m, m, &c, what) <= 1e-4);
                assert_true(check_rows_step(&t, 1, m, m0, &c, what, layout == 2 ? 997 : 1) <= 1e-4);
                als_model_destroy(m0);
                als_model_destroy(m);
            }
            als_ratings_destroy(r);
        }
        tr_free(&t);
    }
}

/* A fit of shuffled ratings after als_ratings_group_by_user (read in place) gives the bits
 * of the fit of the same ratings before it (the fit's user-major copy): the user-major
 * store is the same stable order either way. The item-major path sums each item's
 * ratings in the new row order: equal within rounding. Ranks 8 (register kernels) and 18
 * (general ones), values all 1 and counts, 1 and 2 threads. */
static void test_grouped_fit(void **state) {
    (void)state;
    for (int layout = 0; layout < 2; layout++) {
        triples t;
        make_problem(&t, NU, NI, 0.4, 1, 8100 + (uint64_t)layout);
        for (int64_t k = 0; k < t.n; k++) t.v[k] = layout == 0 ? 1.0f : (float)(1 + k % 5);
        als_ratings *r = tr_ratings(&t), *g = tr_ratings(&t);
        assert_ok(als_ratings_group_by_user(g));
        for (int64_t k = 1; k < t.n; k++) { /* grouped: a user's rows never resume later */
            int64_t u0, u1;
            assert_ok(als_ratings_get(g, k - 1, &u0, NULL, NULL, NULL));
            assert_ok(als_ratings_get(g, k, &u1, NULL, NULL, NULL));
            for (int64_t j = 0; u1 != u0 && j < k - 1; j++) {
                int64_t uj;
                assert_ok(als_ratings_get(g, j, &uj, NULL, NULL, NULL));
                assert_true(uj != u1);
            }
        }
        for (int rank = 8; rank <= 18; rank += 10)
            for (int ieq = ALS_ITEMEQ_USER_MAJOR; ieq <= ALS_ITEMEQ_ITEM_MAJOR; ieq++)
                for (int threads = 1; threads <= 2; threads++) {
                    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ieq};
                    als_model *a = fit_model(r, &c, rank, 3, 11, threads);
                    als_model *b = fit_model(g, &c, rank, 3, 11, threads);
                    for (int side = 0; side < 2; side++) {
                        const als_matrix *A = side ? als_model_item_factors(a) : als_model_user_factors(a);
                        const als_matrix *B = side ? als_model_item_factors(b) : als_model_user_factors(b);
                        size_t cells = (size_t)(als_matrix_rows(A) * als_matrix_cols(A));
                        assert_int_equal(als_matrix_rows(A), als_matrix_rows(B));
                        const float *x = als_matrix_data_const(A), *y = als_matrix_data_const(B);
                        if (ieq == ALS_ITEMEQ_USER_MAJOR) {
                            assert_memory_equal(x, y, cells * sizeof *x);
                        } else {
                            double worst = 0; /* per row: |x - y| / |x| */
                            int64_t cols = als_matrix_cols(A);
                            for (size_t q = 0; q < cells; q += (size_t)cols) {
                                double dd = 0, xx = 0;
                                for (int64_t j = 0; j < cols; j++) {
                                    dd += ((double)x[q + j] - y[q + j]) * ((double)x[q + j] - y[q + j]);
                                    xx += (double)x[q + j] * x[q + j];
                                }
                                if (sqrt(dd / (xx + 1e-30)) > worst) worst = sqrt(dd / (xx + 1e-30));
                            }
                            assert_true(worst <= 1e-4);
                        }
                    }
                    als_model_destroy(a);
                    als_model_destroy(b);
                }
        als_ratings_destroy(r);
        als_ratings_destroy(g);
        tr_free(&t);
    }
}

/* Every rank from 1 to 18: the ranks up to 16 each have their own register kernels (the
 * user half-step's and the blocked item half-step's), 17 and 18 take the general ones. The
 * users' final factors and the items' first ones match the dense reference, Cholesky
 * (solved eight rows at a time) and CG; NNLS meets its KKT conditions. */
static void test_every_rank(void **state) {
    (void)state;
    for (int implicit = 0; implicit <= 1; implicit++) {
        triples t;
        make_problem(&t, NU, NI, 0.4, implicit, 6000 + (uint64_t)implicit);
        als_ratings *r = tr_ratings(&t);
        for (int rank = 1; rank <= 18; rank++)
            for (int solver = ALS_SOLVER_CHOLESKY; solver <= ALS_SOLVER_CG + 1; solver++) {
                int nnls = solver > ALS_SOLVER_CG;
                cfg c = {implicit, ALS_REG_COUNT, nnls ? ALS_SOLVER_CHOLESKY : solver, nnls, 50, 0.1,
                         2.0, ALS_ITEMEQ_USER_MAJOR};
                char what[96];
                snprintf(what, sizeof what, "%s, rank %d, %s", implicit ? "implicit" : "explicit",
                         rank, nnls ? "nnls" : solver ? "cg" : "cholesky");
                als_model *m0 = fit_model(r, &c, rank, 0, 9, 2), *m1 = fit_model(r, &c, rank, 1, 9, 2);
                als_model *m = fit_model(r, &c, rank, 2, 9, 2);
                if (nnls) {
                    assert_true(kkt_worst(&t, 0, m, m, &c) <= 1e-4);
                    assert_true(kkt_worst(&t, 1, m1, m0, &c) <= 1e-4);
                } else {
                    double tol = solver == ALS_SOLVER_CG ? 1e-3 : 1e-4;
                    assert_true(check_rows(&t, 0, m, m, &c, what) <= tol);
                    assert_true(check_rows(&t, 1, m1, m0, &c, what) <= tol);
                }
                als_model_destroy(m0);
                als_model_destroy(m1);
                als_model_destroy(m);
            }
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

/* The blocked item half-step on more users than a block holds (16,384 users or 2^20
 * ratings, never across a 32,768-user boundary), with one user whose ratings alone pass
 * 2^20: values all 1, counts and floats, 1 and 2 threads, against the reference. */
static void test_item_blocks(void **state) {
    (void)state;
    const int nu = 40000, ni = 40;
    for (int layout = 0; layout < 3; layout++) {
        triples t = {0, 0, NULL, NULL, NULL};
        uint64_t s = 77 + (uint64_t)layout;
        for (int u = 0; u < nu; u++) {
            int n = u == 0 ? (1 << 20) + 4321 : 1 + (int)(tu_next(&s) % 3);
            for (int k = 0; k < n; k++) {
                float v = layout == 0 ? 1.0f : layout == 1 ? (float)(1 + tu_next(&s) % 4)
                                                           : 0.25f + (float)tu_uniform(&s);
                tr_push(&t, uid(u), iid((int)(tu_next(&s) % (uint64_t)ni)), v);
            }
        }
        als_ratings *r = tr_ratings(&t);
        for (int threads = 1; threads <= 2; threads++) {
            cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 0.5, ALS_ITEMEQ_USER_MAJOR};
            char what[64];
            snprintf(what, sizeof what, "blocks, layout %d, %d threads", layout, threads);
            als_model *m0 = fit_model(r, &c, RANK, 0, 3, threads), *m = fit_model(r, &c, RANK, 1, 3, threads);
            assert_true(check_rows(&t, 1, m, m0, &c, what) <= 1e-4);
            assert_true(check_rows_step(&t, 0, m, m, &c, what, 4999) <= 1e-4);
            als_model_destroy(m0);
            als_model_destroy(m);
        }
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

static void test_nnls_kkt(void **state) {
    (void)state;
    for (int implicit = 0; implicit <= 1; implicit++) {
        triples t;
        make_problem(&t, NU, NI, 0.4, implicit, 2000 + (uint64_t)implicit);
        als_ratings *r = tr_ratings(&t);
        for (int scaling = ALS_REG_COUNT; scaling <= ALS_REG_NONE; scaling++)
        for (int ieq = ALS_ITEMEQ_USER_MAJOR; ieq <= ALS_ITEMEQ_ITEM_MAJOR; ieq++) {
            cfg c = {implicit, scaling, ALS_SOLVER_CHOLESKY, 1, 0, 0.1, 2.0, ieq};
            als_model *m0 = fit_model(r, &c, RANK, 0, 3, 2);
            als_model *m1 = fit_model(r, &c, RANK, 1, 3, 2);
            als_model *m = fit_model(r, &c, RANK, 4, 3, 2);
            const als_matrix *F[2] = {als_model_user_factors(m), als_model_item_factors(m)};
            int positive = 0;
            for (int s = 0; s < 2; s++)
                for (int64_t i = 0; i < als_matrix_rows(F[s]); i++)
                    for (int j = 0; j < RANK; j++) {
                        assert_true(frow(F[s], i)[j] >= 0.0f);
                        positive += frow(F[s], i)[j] > 0.0f;
                    }
            assert_true(positive > NU); /* not trivially zero */
            double ku = kkt_worst(&t, 0, m, m, &c), ki = kkt_worst(&t, 1, m1, m0, &c);
            if (ku > 1e-6 || ki > 1e-6)
                print_message("  NNLS %s/%s: KKT users %.3g, items %.3g\n",
                              implicit ? "implicit" : "explicit", scaling ? "none" : "count", ku, ki);
            assert_true(ku <= 1e-4);
            assert_true(ki <= 1e-4);
            /* fold-in uses the same NNLS solve */
            for (int u = 2; u < 8; u++) {
                int64_t items[64];
                float vals[64], f[RANK];
                int64_t n = 0;
                for (int64_t k = 0; k < t.n; k++)
                    if (t.u[k] == uid(u)) items[n] = t.i[k], vals[n++] = t.v[k];
                assert_int_equal(als_model_fold_in(m, n, items, vals, f), 0);
                double ref[RANK];
                const float *x = frow(F[0], als_model_user_row(m, uid(u)));
                for (int j = 0; j < RANK; j++) ref[j] = x[j];
                assert_true(rel_err(f, ref, RANK) <= 1e-4);
            }
            als_model_destroy(m0);
            als_model_destroy(m1);
            als_model_destroy(m);
        }
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

/* ---------------------------------------------------------------- progress and loss */

typedef struct {
    int calls, cancel_at;
    int iter[128], max_iter[128];
    double secs[128], loss[128];
} progress_log;

static int on_progress(void *user, int iter, int max_iter, double seconds, double loss) {
    progress_log *p = user;
    if (p->calls < 128) {
        p->iter[p->calls] = iter;
        p->max_iter[p->calls] = max_iter;
        p->secs[p->calls] = seconds;
        p->loss[p->calls] = loss;
    }
    p->calls++;
    return p->cancel_at > 0 && iter == p->cancel_at;
}

static void test_loss_monotone(void **state) {
    (void)state;
    static const struct {
        int implicit, scaling, solver;
        double reg;
        int item_eq;
    } cases[] = {
        {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0.1, ALS_ITEMEQ_USER_MAJOR},
        {1, ALS_REG_NONE, ALS_SOLVER_CHOLESKY, 0.05, ALS_ITEMEQ_USER_MAJOR},
        {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0.1, ALS_ITEMEQ_USER_MAJOR},
        {1, ALS_REG_COUNT, ALS_SOLVER_CG, 0.1, ALS_ITEMEQ_USER_MAJOR}, /* warm-started CG only lowers the objective */
        {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0.1, ALS_ITEMEQ_ITEM_MAJOR},
        {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0.1, ALS_ITEMEQ_ITEM_MAJOR},
        {1, ALS_REG_COUNT, ALS_SOLVER_CG, 0.1, ALS_ITEMEQ_ITEM_MAJOR},
    };
    for (size_t cs = 0; cs < sizeof cases / sizeof cases[0]; cs++) {
        triples t;
        make_problem(&t, 60, 40, 0.25, cases[cs].implicit, 3000 + cs);
        als_ratings *r = tr_ratings(&t);
        cfg c = {cases[cs].implicit, cases[cs].scaling, cases[cs].solver, 0, 3, cases[cs].reg, 2.0,
                 cases[cs].item_eq};
        als_model *m = new_model(&c, 6, 15, 5, 2);
        progress_log lg;
        memset(&lg, 0, sizeof lg);
        assert_ok(als_set_int(m, ALS_PARAM_COMPUTE_LOSS, 1));
        assert_ok(als_model_set_progress(m, on_progress, &lg));
        assert_ok(als_model_fit(m, r));
        assert_int_equal(lg.calls, 15);
        for (int k = 0; k < 15; k++) {
            assert_int_equal(lg.iter[k], k + 1);
            assert_int_equal(lg.max_iter[k], 15);
            assert_true(isfinite(lg.loss[k]) && lg.loss[k] > 0);
            assert_true(lg.secs[k] >= 0 && (k == 0 || lg.secs[k] >= lg.secs[k - 1]));
            if (k > 0 && !(lg.loss[k] <= lg.loss[k - 1] * (1.0 + 1e-9))) {
                print_error("case %zu: loss rose at iteration %d: %.12g -> %.12g\n", cs, k + 1,
                            lg.loss[k - 1], lg.loss[k]);
                fail();
            }
        }
        assert_true(lg.loss[14] < lg.loss[0]);
        /* without computeLoss the callback sees NaN */
        memset(&lg, 0, sizeof lg);
        assert_ok(als_set_int(m, ALS_PARAM_COMPUTE_LOSS, 0));
        assert_ok(als_set_int(m, ALS_PARAM_MAX_ITER, 2));
        assert_ok(als_model_fit(m, r));
        assert_int_equal(lg.calls, 2);
        assert_true(isnan(lg.loss[0]) && isnan(lg.loss[1]));
        als_model_destroy(m);
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

static void test_progress_cancel(void **state) {
    (void)state;
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 41);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = new_model(&c, RANK, 5, 8, 2);
    progress_log lg;
    memset(&lg, 0, sizeof lg);
    lg.cancel_at = 2;
    assert_ok(als_model_set_progress(m, on_progress, &lg));
    assert_fails_with(als_model_fit(m, r), ALS_ECANCELED);
    assert_int_equal(lg.calls, 2);
    assert_int_equal(lg.iter[0], 1);
    assert_int_equal(lg.iter[1], 2);
    assert_int_equal(lg.max_iter[1], 5);
    assert_true(isnan(lg.loss[0]));
    assert_true(als_model_is_fitted(m));
    assert_true(mat_finite(als_model_user_factors(m)));
    assert_true(mat_finite(als_model_item_factors(m)));
    int64_t u = uid(3), i = t.i[0];
    float p = NAN;
    assert_ok(als_model_predict(m, 1, &u, &i, &p));
    assert_true(isfinite(p));
    /* the factors are those of iteration 2 */
    als_model *two = fit_model(r, &c, RANK, 2, 8, 2);
    assert_true(mat_bits_equal(als_model_user_factors(m), als_model_user_factors(two)));
    assert_true(mat_bits_equal(als_model_item_factors(m), als_model_item_factors(two)));
    /* removing the callback: it is not called again */
    assert_ok(als_model_set_progress(m, NULL, NULL));
    assert_ok(als_model_fit(m, r));
    assert_int_equal(lg.calls, 2);
    als_model_destroy(two);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* ---------------------------------------------------------------- fold-in */

static int64_t user_rows(const triples *t, int64_t user, int64_t *items, float *vals, int64_t cap) {
    int64_t n = 0;
    for (int64_t k = 0; k < t->n; k++)
        if (t->u[k] == user) {
            assert_true(n < cap);
            items[n] = t->i[k];
            vals[n++] = t->v[k];
        }
    return n;
}

static void test_fold_in(void **state) {
    (void)state;
    for (int implicit = 0; implicit <= 1; implicit++)
        for (int solver = ALS_SOLVER_CHOLESKY; solver <= ALS_SOLVER_CG; solver++) {
            triples t;
            make_problem(&t, NU, NI, 0.4, implicit, 4000 + (uint64_t)implicit);
            als_ratings *r = tr_ratings(&t);
            cfg c = {implicit, ALS_REG_COUNT, solver, 0, 50, 0.1, 2.0, ALS_ITEMEQ_AUTO};
            als_model *m = fit_model(r, &c, RANK, 3, 9, 2);
            const als_matrix *U = als_model_user_factors(m);
            double tol = solver == ALS_SOLVER_CG ? 1e-3 : 1e-4;
            for (int u = 0; u < NU; u++) {
                int64_t items[64];
                float vals[64], f[RANK], g[RANK];
                double ref[RANK];
                int64_t n = user_rows(&t, uid(u), items, vals, 60);
                memset(f, 0x7f, sizeof f);
                assert_int_equal(als_model_fold_in(m, n, items, vals, f), 0);
                const float *x = frow(U, als_model_user_row(m, uid(u)));
                for (int j = 0; j < RANK; j++) ref[j] = x[j];
                if (!(rel_err(f, ref, RANK) <= tol)) {
                    print_error("%s %s user %d: fold-in differs from training by %.3g\n",
                                implicit ? "implicit" : "explicit", solver ? "cg" : "cholesky", u,
                                rel_err(f, ref, RANK));
                    fail();
                }
                /* unknown items are ignored and counted */
                items[n] = 999999;
                vals[n] = 5.0f;
                items[n + 1] = -5;
                vals[n + 1] = 1.0f;
                assert_int_equal(als_model_fold_in(m, n + 2, items, vals, g), 2);
                assert_memory_equal(f, g, sizeof f);
            }
            /* values NULL means 1.0 each */
            int64_t items[3] = {iid(0), iid(3), iid(5)};
            float ones[3] = {1, 1, 1}, f[RANK], g[RANK];
            assert_int_equal(als_model_fold_in(m, 3, items, NULL, f), 0);
            assert_int_equal(als_model_fold_in(m, 3, items, ones, g), 0);
            assert_memory_equal(f, g, sizeof f);
            /* no interactions: a zero vector */
            memset(f, 0x7f, sizeof f);
            assert_int_equal(als_model_fold_in(m, 0, NULL, NULL, f), 0);
            for (int j = 0; j < RANK; j++) assert_true(f[j] == 0.0f);
            /* NaN / Inf values are rejected */
            float bad[3] = {1, NAN, 1};
            assert_fails_with((int)als_model_fold_in(m, 3, items, bad, f), ALS_EINVAL);
            bad[1] = INFINITY;
            assert_fails_with((int)als_model_fold_in(m, 3, items, bad, f), ALS_EINVAL);
            als_model_destroy(m);
            als_ratings_destroy(r);
            tr_free(&t);
        }
}

/* ---------------------------------------------------------------- determinism */

static void test_determinism(void **state) {
    (void)state;
    for (int implicit = 0; implicit <= 1; implicit++)
        for (int solver = ALS_SOLVER_CHOLESKY; solver <= ALS_SOLVER_CG; solver++)
        for (int ieq = ALS_ITEMEQ_USER_MAJOR; ieq <= ALS_ITEMEQ_SWEEP; ieq++) {
            triples t;
            make_problem(&t, 400, 250, 0.06, implicit, 5000 + (uint64_t)implicit);
            als_ratings *r = tr_ratings(&t);
            cfg c = {implicit, ALS_REG_COUNT, solver, 0, 3, 0.1, 1.0, ieq};
            als_model *a = fit_model(r, &c, 8, 4, 5, 2), *b = fit_model(r, &c, 8, 4, 5, 2);
            als_model *one = fit_model(r, &c, 8, 4, 5, 1), *d = fit_model(r, &c, 8, 4, 6, 2);
            assert_true(mat_bits_equal(als_model_user_factors(a), als_model_user_factors(b)));
            assert_true(mat_bits_equal(als_model_item_factors(a), als_model_item_factors(b)));
            double du = mat_max_diff(als_model_user_factors(one), als_model_user_factors(a)),
                   di = mat_max_diff(als_model_item_factors(one), als_model_item_factors(a));
            if (du > 1e-6 || di > 1e-6)
                print_message("  implicit %d solver %d item equations %d: 1 vs 2 threads differ by "
                              "%.3g (users), %.3g (items)\n", implicit, solver, ieq, du, di);
            /* the sweeps add the threads' float parts of every product: CG's few steps
             * carry that rounding further than the double sums of user-major do */
            double tol = ieq == ALS_ITEMEQ_SWEEP && solver == ALS_SOLVER_CG ? 1e-4 : 1e-5;
            assert_true(du <= tol);
            assert_true(di <= tol);
            assert_true(mat_max_diff(als_model_user_factors(d), als_model_user_factors(a)) > 1e-3);
            assert_true(mat_max_diff(als_model_item_factors(d), als_model_item_factors(a)) > 1e-3);
            als_model_destroy(a);
            als_model_destroy(b);
            als_model_destroy(one);
            als_model_destroy(d);
            als_ratings_destroy(r);
            tr_free(&t);
        }
}

/* A second fit replaces the previous ids and factors. */
static void test_refit_replaces(void **state) {
    (void)state;
    triples t1, t2;
    make_problem(&t1, NU, NI, 0.4, 0, 51);
    make_problem(&t2, 12, 9, 0.5, 0, 52);
    for (int64_t k = 0; k < t2.n; k++) t2.u[k] += 1000000000000LL, t2.i[k] += 77;
    als_ratings *r1 = tr_ratings(&t1), *r2 = tr_ratings(&t2);
    cfg c = {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r1, &c, RANK, 2, 1, 2);
    assert_ok(als_model_fit(m, r2));
    assert_int_equal(als_matrix_rows(als_model_user_factors(m)), 12);
    assert_int_equal(als_matrix_rows(als_model_item_factors(m)), 9);
    assert_int_equal(als_model_user_row(m, uid(5)), -1);
    assert_true(als_model_user_row(m, uid(5) + 1000000000000LL) >= 0);
    int64_t u = uid(5), i = iid(3);
    float p = 0;
    assert_ok(als_model_predict(m, 1, &u, &i, &p));
    assert_true(isnan(p));
    als_model *fresh = fit_model(r2, &c, RANK, 2, 1, 2);
    assert_true(mat_bits_equal(als_model_user_factors(m), als_model_user_factors(fresh)));
    assert_true(mat_bits_equal(als_model_item_factors(m), als_model_item_factors(fresh)));
    als_model_destroy(fresh);
    als_model_destroy(m);
    als_ratings_destroy(r1);
    als_ratings_destroy(r2);
    tr_free(&t1);
    tr_free(&t2);
}

/* ---------------------------------------------------------------- parameters */

typedef struct {
    int key;
    const char *name;
    int is_double;
    double def, lo, hi, other;
} param_row;

static const param_row PARAMS[] = {
    {ALS_PARAM_RANK, "rank", 0, 10, 1, 1024, 17},
    {ALS_PARAM_MAX_ITER, "maxIter", 0, 10, 0, 100000, 3},
    {ALS_PARAM_IMPLICIT, "implicitPrefs", 0, 0, 0, 1, 1},
    {ALS_PARAM_NONNEGATIVE, "nonnegative", 0, 0, 0, 1, 1},
    {ALS_PARAM_REG, "regParam", 1, 0.1, 0, 1e9, 0.025},
    {ALS_PARAM_ALPHA, "alpha", 1, 1.0, 0, 1e9, 40.0},
    {ALS_PARAM_REG_SCALING, "regScaling", 0, ALS_REG_COUNT, 0, 1, ALS_REG_NONE},
    {ALS_PARAM_SEED, "seed", 0, 0, 0, 9.2233720368547758e18, 12345},
    {ALS_PARAM_SOLVER, "solver", 0, ALS_SOLVER_CHOLESKY, 0, 1, ALS_SOLVER_CG},
    {ALS_PARAM_CG_STEPS, "cgSteps", 0, 3, 1, 1000, 7},
    {ALS_PARAM_COMPUTE_LOSS, "computeLoss", 0, 0, 0, 1, 1},
    {ALS_PARAM_NUM_THREADS, "numThreads", 0, 0, 0, 4096, 2},
    {ALS_PARAM_ITEM_EQUATIONS, "itemEquations", 0, ALS_ITEMEQ_AUTO, 0, 3, ALS_ITEMEQ_ITEM_MAJOR},
    {ALS_PARAM_KEEP_INTERACTIONS, "keepInteractions", 0, 1, 0, 1, 0},
};
#define NPARAMS ((int)(sizeof PARAMS / sizeof PARAMS[0]))

static double get_param(const als_model *m, const param_row *p) {
    if (p->is_double) {
        double d = -1;
        assert_ok(als_get_double(m, p->key, &d));
        return d;
    }
    int64_t v = -1;
    assert_ok(als_get_int(m, p->key, &v));
    return (double)v;
}

static void test_params_defaults_and_bounds(void **state) {
    (void)state;
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    for (int k = 0; k < NPARAMS; k++) {
        const param_row *p = &PARAMS[k];
        double d;
        int64_t v;
        if (get_param(m, p) != p->def) {
            print_error("%s: default %g, expected %g\n", p->name, get_param(m, p), p->def);
            fail();
        }
        if (p->is_double) {
            /* round trip, both bounds, just outside, NaN; nothing is clamped */
            assert_ok(als_set_double(m, p->key, p->other));
            assert_true(get_param(m, p) == p->other);
            assert_ok(als_set_double(m, p->key, p->lo));
            assert_true(get_param(m, p) == p->lo);
            assert_ok(als_set_double(m, p->key, p->hi));
            assert_true(get_param(m, p) == p->hi);
            assert_ok(als_set_double(m, p->key, p->other));
            assert_fails_with(als_set_double(m, p->key, p->lo - 1e-3), ALS_ERANGE);
            assert_fails_with(als_set_double(m, p->key, p->hi * 1.5), ALS_ERANGE);
            assert_fails_with(als_set_double(m, p->key, INFINITY), ALS_ERANGE);
            int rc = als_set_double(m, p->key, NAN);
            assert_true(rc == ALS_ERANGE || rc == ALS_EINVAL);
            assert_true(get_param(m, p) == p->other);
            /* the other type */
            assert_fails_with(als_set_int(m, p->key, 1), ALS_EINVAL);
            assert_fails_with(als_get_int(m, p->key, &v), ALS_EINVAL);
        } else {
            int64_t lo = (int64_t)p->lo, hi = p->key == ALS_PARAM_SEED ? INT64_MAX : (int64_t)p->hi;
            assert_ok(als_set_int(m, p->key, (int64_t)p->other));
            assert_true(get_param(m, p) == p->other);
            assert_ok(als_set_int(m, p->key, lo));
            assert_ok(als_get_int(m, p->key, &v));
            assert_true(v == lo);
            assert_ok(als_set_int(m, p->key, hi));
            assert_ok(als_get_int(m, p->key, &v));
            assert_true(v == hi); /* INT64_MAX seeds stay exact */
            assert_ok(als_set_int(m, p->key, (int64_t)p->other));
            assert_fails_with(als_set_int(m, p->key, lo - 1), ALS_ERANGE);
            if (hi < INT64_MAX) assert_fails_with(als_set_int(m, p->key, hi + 1), ALS_ERANGE);
            assert_fails_with(als_set_int(m, p->key, INT64_MIN), ALS_ERANGE);
            assert_true(get_param(m, p) == p->other);
            assert_fails_with(als_set_double(m, p->key, 1.0), ALS_EINVAL);
            assert_fails_with(als_get_double(m, p->key, &d), ALS_EINVAL);
            assert_true(get_param(m, p) == p->other);
        }
    }
    /* unknown keys, NULL handles and outputs */
    int64_t v;
    double d;
    static const int unknown[] = {0, 99, 104, 203, 306, 901, -1};
    for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
        assert_fails_with(als_set_int(m, unknown[k], 1), ALS_EINVAL);
        assert_fails_with(als_set_double(m, unknown[k], 1.0), ALS_EINVAL);
        assert_fails_with(als_get_int(m, unknown[k], &v), ALS_EINVAL);
        assert_fails_with(als_get_double(m, unknown[k], &d), ALS_EINVAL);
    }
    assert_fails_with(als_set_int(NULL, ALS_PARAM_RANK, 5), ALS_EINVAL);
    assert_fails_with(als_set_double(NULL, ALS_PARAM_REG, 0.5), ALS_EINVAL);
    assert_fails_with(als_get_int(NULL, ALS_PARAM_RANK, &v), ALS_EINVAL);
    assert_fails_with(als_get_double(NULL, ALS_PARAM_REG, &d), ALS_EINVAL);
    assert_fails_with(als_get_int(m, ALS_PARAM_RANK, NULL), ALS_EINVAL);
    assert_fails_with(als_get_double(m, ALS_PARAM_REG, NULL), ALS_EINVAL);
    als_model_destroy(m);
}

static void test_set_param_strings(void **state) {
    (void)state;
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    static const struct {
        const char *name, *value;
        int key;
        double want;
    } good[] = {
        {"rank", "5", ALS_PARAM_RANK, 5},
        {"maxIter", "0", ALS_PARAM_MAX_ITER, 0},
        {"maxIter", "20", ALS_PARAM_MAX_ITER, 20},
        {"regParam", "0.05", ALS_PARAM_REG, 0.05},
        {"regParam", "1e-3", ALS_PARAM_REG, 1e-3},
        {"implicitPrefs", "true", ALS_PARAM_IMPLICIT, 1},
        {"implicitPrefs", "false", ALS_PARAM_IMPLICIT, 0},
        {"implicitPrefs", "1", ALS_PARAM_IMPLICIT, 1},
        {"nonnegative", "true", ALS_PARAM_NONNEGATIVE, 1},
        {"nonnegative", "0", ALS_PARAM_NONNEGATIVE, 0},
        {"alpha", "40", ALS_PARAM_ALPHA, 40},
        {"seed", "9223372036854775807", ALS_PARAM_SEED, 9223372036854775807.0},
        {"seed", "42", ALS_PARAM_SEED, 42},
        {"solver", "cg", ALS_PARAM_SOLVER, ALS_SOLVER_CG},
        {"solver", "cholesky", ALS_PARAM_SOLVER, ALS_SOLVER_CHOLESKY},
        {"cgSteps", "7", ALS_PARAM_CG_STEPS, 7},
        {"regScaling", "none", ALS_PARAM_REG_SCALING, ALS_REG_NONE},
        {"regScaling", "count", ALS_PARAM_REG_SCALING, ALS_REG_COUNT},
        {"numThreads", "2", ALS_PARAM_NUM_THREADS, 2},
        {"computeLoss", "true", ALS_PARAM_COMPUTE_LOSS, 1},
        {"itemEquations", "user-major", ALS_PARAM_ITEM_EQUATIONS, ALS_ITEMEQ_USER_MAJOR},
        {"itemEquations", "item-major", ALS_PARAM_ITEM_EQUATIONS, ALS_ITEMEQ_ITEM_MAJOR},
        {"itemEquations", "sweep", ALS_PARAM_ITEM_EQUATIONS, ALS_ITEMEQ_SWEEP},
        {"itemEquations", "auto", ALS_PARAM_ITEM_EQUATIONS, ALS_ITEMEQ_AUTO},
    };
    for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
        const param_row *p = NULL;
        for (int j = 0; j < NPARAMS; j++)
            if (PARAMS[j].key == good[k].key) p = &PARAMS[j];
        assert_non_null(p);
        if (als_set_param(m, good[k].name, good[k].value) != ALS_OK) {
            print_error("als_set_param(%s, %s): %s\n", good[k].name, good[k].value, als_last_error());
            fail();
        }
        assert_true(get_param(m, p) == good[k].want);
    }
    int64_t seed = 0;
    assert_ok(als_set_param(m, "seed", "9223372036854775807"));
    assert_ok(als_get_int(m, ALS_PARAM_SEED, &seed));
    assert_true(seed == INT64_MAX);
    /* bad names and unparsable values: EINVAL, nothing changes */
    assert_ok(als_set_param(m, "rank", "6"));
    static const char *const bad[][2] = {
        {"rank", "abc"}, {"rank", "5x"}, {"rank", ""}, {"rank", "5.5"}, {"implicitPrefs", "yes"},
        {"nonnegative", "maybe"}, {"solver", "lu"}, {"itemEquations", "csc"}, {"regScaling", "sqrt"}, {"regParam", "abc"},
        {"regParam", ""}, {"alpha", "1.0x"}, {"numUserBlocks", "10"}, {"coldStartStrategy", "drop"},
        {"", "1"}, {"Rank", "5"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = als_set_param(m, bad[k][0], bad[k][1]);
        if (rc != ALS_EINVAL) {
            print_error("als_set_param(\"%s\", \"%s\") = %d, expected ALS_EINVAL\n", bad[k][0], bad[k][1], rc);
            fail();
        }
        assert_true(als_last_error()[0] != '\0');
    }
    int64_t rank = 0;
    assert_ok(als_get_int(m, ALS_PARAM_RANK, &rank));
    assert_int_equal(rank, 6);
    /* out of range through strings */
    assert_fails_with(als_set_param(m, "rank", "0"), ALS_ERANGE);
    assert_fails_with(als_set_param(m, "rank", "1025"), ALS_ERANGE);
    assert_fails_with(als_set_param(m, "regParam", "-1"), ALS_ERANGE);
    assert_fails_with(als_set_param(m, "cgSteps", "0"), ALS_ERANGE);
    assert_fails_with(als_set_param(m, "seed", "-1"), ALS_ERANGE);
    assert_ok(als_get_int(m, ALS_PARAM_RANK, &rank));
    assert_int_equal(rank, 6);
    assert_fails_with(als_set_param(NULL, "rank", "5"), ALS_EINVAL);
    assert_fails_with(als_set_param(m, NULL, "5"), ALS_EINVAL);
    assert_fails_with(als_set_param(m, "rank", NULL), ALS_EINVAL);
    als_model_destroy(m);
}

static void test_explain_params(void **state) {
    (void)state;
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    int64_t need = als_model_explain_params(m, NULL, 0);
    assert_true(need > 0);
    char *full = malloc((size_t)need + 1);
    assert_non_null(full);
    assert_int_equal(als_model_explain_params(m, full, (size_t)need + 1), need);
    assert_int_equal((int64_t)strlen(full), need);
    for (int k = 0; k < NPARAMS; k++)
        if (!strstr(full, PARAMS[k].name)) {
            print_error("explain_params does not mention %s:\n%s", PARAMS[k].name, full);
            fail();
        }
    int lines = 0;
    for (const char *p = full; *p; p++) lines += *p == '\n';
    assert_true(lines >= NPARAMS);
    /* truncation: NUL-terminated prefix, nothing written past cap */
    size_t caps[] = {1, 2, 10, (size_t)need / 2, (size_t)need};
    for (size_t k = 0; k < sizeof caps / sizeof caps[0]; k++) {
        size_t cap = caps[k];
        char *buf = malloc(cap + 16);
        assert_non_null(buf);
        memset(buf, '#', cap + 16);
        assert_int_equal(als_model_explain_params(m, buf, cap), need);
        if (buf[cap - 1] != '\0') {
            print_error("explain_params(cap = %zu): buf[%zu] is '%c', not the terminating NUL\n", cap,
                        cap - 1, buf[cap - 1]);
            fail();
        }
        assert_int_equal(strlen(buf), cap - 1);
        assert_memory_equal(buf, full, cap - 1);
        for (size_t j = cap; j < cap + 16; j++) assert_int_equal(buf[j], '#');
        free(buf);
    }
    char one = '#';
    assert_int_equal(als_model_explain_params(m, &one, 0), need);
    assert_int_equal(one, '#');
    /* the text follows the current values */
    assert_ok(als_set_int(m, ALS_PARAM_RANK, 77));
    int64_t need2 = als_model_explain_params(m, NULL, 0);
    char *changed = malloc((size_t)need2 + 1);
    assert_non_null(changed);
    assert_int_equal(als_model_explain_params(m, changed, (size_t)need2 + 1), need2);
    assert_true(strcmp(changed, full) != 0);
    assert_non_null(strstr(changed, "77"));
    assert_fails_with((int)als_model_explain_params(NULL, full, (size_t)need + 1), ALS_EINVAL);
    free(changed);
    free(full);
    als_model_destroy(m);
}

/* ---------------------------------------------------------------- predict / recommend */

typedef struct {
    double s;
    int64_t id;
} scored;

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The model's items for user_id by double dot product, best first, ties by smaller id,
 * without the items the user has in `excl` (NULL: none). out holds all items. */
static int64_t brute_rank(const als_model *m, int64_t user_id, const triples *excl, scored *out) {
    const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
    const int64_t *ids = als_model_item_ids(m);
    int64_t u = als_model_user_row(m, user_id), n = 0;
    int r = (int)als_matrix_cols(U);
    assert_true(u >= 0);
    for (int64_t i = 0; i < als_matrix_rows(V); i++) {
        if (excl && tr_has(excl, user_id, ids[i])) continue;
        out[n].s = dot_fd(frow(U, u), frow(V, i), r);
        out[n++].id = ids[i];
    }
    qsort(out, (size_t)n, sizeof *out, cmp_scored);
    return n;
}

static int near(double a, double b) { return a != b && fabs(a - b) <= 1e-5 * (1.0 + fabs(a)); }

static void check_recommend(const als_model *m, int64_t user_id, int64_t k, const als_ratings *excl_r,
                            const triples *excl_t) {
    int64_t ni = als_matrix_rows(als_model_item_factors(m));
    scored *ref = malloc((size_t)ni * sizeof *ref);
    int64_t *ids = malloc((size_t)k * sizeof *ids);
    float *sc = malloc((size_t)k * sizeof *sc);
    assert_non_null(ref);
    assert_non_null(ids);
    assert_non_null(sc);
    int64_t n = brute_rank(m, user_id, excl_t, ref);
    assert_ok(als_model_recommend(m, user_id, k, excl_r, ids, sc));
    for (int64_t p = 0; p < k; p++) {
        if (p >= n) {
            assert_int_equal(ids[p], -1);
            assert_true(isinf(sc[p]) && sc[p] < 0);
            continue;
        }
        assert_close(sc[p], ref[p].s, 1e-5);
        int tie = (p > 0 && near(ref[p].s, ref[p - 1].s)) || (p + 1 < n && near(ref[p].s, ref[p + 1].s));
        if (!tie && ids[p] != ref[p].id) {
            print_error("user %lld rank %lld: item %lld (%.7g), expected %lld (%.7g)\n", (long long)user_id,
                        (long long)p, (long long)ids[p], sc[p], (long long)ref[p].id, ref[p].s);
            fail();
        }
        assert_false(excl_t && tr_has(excl_t, user_id, ids[p]));
        for (int64_t q = 0; q < p; q++) assert_true(ids[q] != ids[p]);
    }
    free(ref);
    free(ids);
    free(sc);
}

static void test_predict(void **state) {
    (void)state;
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 61);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 3, 2, 2);
    int64_t n = (NU + 1) * (NI + 1), k = 0;
    int64_t *us = malloc((size_t)n * sizeof *us), *is = malloc((size_t)n * sizeof *is);
    float *out = malloc((size_t)n * sizeof *out);
    assert_non_null(us);
    assert_non_null(is);
    assert_non_null(out);
    for (int u = 0; u <= NU; u++)
        for (int i = 0; i <= NI; i++, k++) {
            us[k] = u < NU ? uid(u) : 31337; /* NU and NI are unknown ids */
            is[k] = i < NI ? iid(i) : 5;
        }
    assert_ok(als_model_predict(m, n, us, is, out));
    const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
    for (k = 0; k < n; k++) {
        int64_t ur = als_model_user_row(m, us[k]), ir = als_model_item_row(m, is[k]);
        if (ur < 0 || ir < 0) {
            assert_true(isnan(out[k]));
        } else {
            assert_close(out[k], dot_fd(frow(U, ur), frow(V, ir), RANK), 1e-5);
        }
    }
    assert_ok(als_model_predict(m, 0, us, is, out));
    free(us);
    free(is);
    free(out);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

static void test_recommend(void **state) {
    (void)state;
    triples t, other = {0};
    make_problem(&t, NU, NI, 0.4, 1, 71);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 3, 4, 2);
    /* a set that names none of the users: excludes nothing (and has unknown items) */
    tr_push(&other, 123456789, iid(0), 1.0f);
    tr_push(&other, 123456789, 424242, 1.0f);
    als_ratings *ro = tr_ratings(&other);
    for (int u = 2; u < NU; u++) {
        check_recommend(m, uid(u), 1, r, &t);
        check_recommend(m, uid(u), 5, r, &t);
        check_recommend(m, uid(u), NI + 3, r, &t); /* padded with -1 */
        check_recommend(m, uid(u), NI + 2, NULL, NULL);
        check_recommend(m, uid(u), NI, ro, NULL);
    }
    /* a zero-vector user: every score ties, so the order is by item id */
    check_recommend(m, uid(1), NI, NULL, NULL);
    int64_t ids[3];
    float sc[3];
    assert_fails_with(als_model_recommend(m, 31337, 3, NULL, ids, sc), ALS_ENOTFOUND);
    assert_fails_with(als_model_recommend(m, uid(2), 0, NULL, ids, sc), ALS_ERANGE);
    assert_fails_with(als_model_recommend(m, uid(2), -4, NULL, ids, sc), ALS_ERANGE);
    als_model_destroy(m);
    als_ratings_destroy(r);
    als_ratings_destroy(ro);
    tr_free(&t);
    tr_free(&other);
}

/* Items 905 and 903 have identical rating columns (rows in the same user order), so their
 * Cholesky solves, factors and scores are identical: 903 (smaller id, later row) first. */
static void test_recommend_ties(void **state) {
    (void)state;
    triples t = {0};
    uint64_t s = 5;
    for (int u = 0; u < 12; u++) {
        for (int i = 0; i < 8; i++)
            if (tu_uniform(&s) < 0.6) tr_push(&t, uid(u), iid(i), draw_value(&s, 0));
        if (u % 3 != 0) {
            float v = (float)(1 + u % 5);
            tr_push(&t, uid(u), 905, v);
            tr_push(&t, uid(u), 903, v);
        }
    }
    als_ratings *r = tr_ratings(&t);
    cfg c = {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, 3, 3, 4, 2);
    int64_t r905 = als_model_item_row(m, 905), r903 = als_model_item_row(m, 903);
    assert_true(r905 >= 0 && r903 > r905);
    const als_matrix *V = als_model_item_factors(m);
    assert_memory_equal(frow(V, r905), frow(V, r903), 3 * sizeof(float));
    int64_t ni = als_matrix_rows(V);
    int64_t *ids = malloc((size_t)ni * sizeof *ids);
    float *sc = malloc((size_t)ni * sizeof *sc);
    assert_non_null(ids);
    assert_non_null(sc);
    for (int u = 0; u < 12; u++) {
        assert_ok(als_model_recommend(m, uid(u), ni, NULL, ids, sc));
        int64_t p3 = -1, p5 = -1;
        for (int64_t p = 0; p < ni; p++) {
            if (ids[p] == 903) p3 = p;
            if (ids[p] == 905) p5 = p;
        }
        assert_true(p3 >= 0 && p5 == p3 + 1);
        assert_true(sc[p3] == sc[p5]);
        /* with k ending on the tie, 903 is the one kept */
        assert_ok(als_model_recommend(m, uid(u), p3 + 1, NULL, ids, sc));
        assert_int_equal(ids[p3], 903);
    }
    free(ids);
    free(sc);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* ---------------------------------------------------------------- evaluation */

static int in_list(const int64_t *l, int64_t n, int64_t x) {
    for (int64_t k = 0; k < n; k++)
        if (l[k] == x) return 1;
    return 0;
}

/* The header's formulas by brute force. Test items must be known to the model and not be
 * training items of their user (the tests build them so). *near_tie is set when a user's
 * ranking has two different scores too close for float and double to agree on. */
static void ref_ranking(const als_model *m, const triples *train, const triples *test, int64_t k,
                        double out[ALS_METRIC_COUNT], int *near_tie) {
    const als_matrix *U = als_model_user_factors(m);
    const int64_t *uids = als_model_user_ids(m);
    int64_t ni = als_matrix_rows(als_model_item_factors(m));
    scored *ref = malloc((size_t)ni * sizeof *ref);
    int64_t *T = malloc((size_t)(test->n + 1) * sizeof *T);
    assert_non_null(ref);
    assert_non_null(T);
    double sum[5] = {0}, users = 0, auc_users = 0, ymax = 0;
    const als_matrix *V = als_model_item_factors(m);
    for (int64_t i = 0; i < ni; i++) {
        double yn = sqrt(dot_fd(frow(V, i), frow(V, i), (int)als_matrix_cols(V)));
        if (yn > ymax) ymax = yn;
    }
    *near_tie = 0;
    for (int64_t row = 0; row < als_matrix_rows(U); row++) {
        int64_t nt = 0;
        for (int64_t q = 0; q < test->n; q++)
            if (test->u[q] == uids[row] && !in_list(T, nt, test->i[q])) T[nt++] = test->i[q];
        if (nt == 0) continue;
        int64_t n = brute_rank(m, uids[row], train, ref);
        /* float scores are within ~r * 2^-24 |x| |y| of these: 1e-6 |x| max|y| is safe */
        const float *x = frow(U, row);
        double tol = 1e-6 * sqrt(dot_fd(x, x, (int)als_matrix_cols(U))) * ymax;
        for (int64_t p = 1; p < n; p++)
            if (ref[p].s != ref[p - 1].s && fabs(ref[p].s - ref[p - 1].s) <= tol) *near_tie = 1;
        double hits = 0, ap = 0, dcg = 0, idcg = 0;
        for (int64_t p = 0; p < k && p < n; p++)
            if (in_list(T, nt, ref[p].id)) {
                hits += 1;
                ap += hits / (double)(p + 1);
                dcg += 1.0 / log2((double)p + 2);
            }
        int64_t mu = k < nt ? k : nt;
        for (int64_t j = 0; j < mu; j++) idcg += 1.0 / log2((double)j + 2);
        sum[0] += hits / (double)k;
        sum[1] += hits / (double)mu;
        sum[2] += ap / (double)mu;
        sum[3] += dcg / idcg;
        users += 1;
        double good = 0, pairs = 0;
        for (int64_t a = 0; a < n; a++) {
            if (!in_list(T, nt, ref[a].id)) continue;
            for (int64_t b = 0; b < n; b++) {
                if (in_list(T, nt, ref[b].id)) continue;
                pairs += 1;
                good += ref[a].s > ref[b].s ? 1.0 : ref[a].s == ref[b].s ? 0.5 : 0.0;
            }
        }
        if (pairs > 0) sum[4] += good / pairs, auc_users += 1;
    }
    for (int j = 0; j < 4; j++) out[j] = sum[j] / users;
    out[4] = sum[4] / auc_users;
    out[5] = users;
    free(ref);
    free(T);
}

static void expect_metrics(const double *got, const double *want, int n, const char *what) {
    static const char *const names[ALS_METRIC_COUNT] = {"precision", "recall", "MAP", "NDCG", "AUC", "users"};
    for (int j = 0; j < n; j++)
        if (!(fabs(got[j] - want[j]) <= 1e-9 * (1 + fabs(want[j])))) {
            print_error("%s: %s = %.12g, expected %.12g\n", what, names[j], got[j], want[j]);
            fail();
        }
}

/* Test items at known ranks of three users' rankings; the expected metrics are written out
 * from the header's formulas and also come from the brute-force function. */
static void test_eval_ranking_by_hand(void **state) {
    (void)state;
    triples t, test = {0};
    make_problem(&t, NU, NI, 0.4, 1, 81);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 5, 6, 2);
    scored ref[3][NI];
    int64_t n[3], chosen = 0;
    for (int u = 2; u < NU && chosen < 3; u++) {
        int64_t cnt = brute_rank(m, uid(u), &t, ref[chosen]);
        int ok = cnt >= 8;
        for (int64_t p = 1; p < cnt; p++)
            ok &= fabs(ref[chosen][p].s - ref[chosen][p - 1].s) > 1e-4 * (1 + fabs(ref[chosen][p].s));
        if (!ok) continue;
        n[chosen] = cnt;
        int64_t id = uid(u);
        if (chosen == 0) { /* ranks 0 and 2 (and a repeated test row) */
            tr_push(&test, id, ref[0][2].id, 1);
            tr_push(&test, id, ref[0][0].id, 1);
            tr_push(&test, id, ref[0][0].id, 3);
        } else if (chosen == 1) { /* ranks 4, 1, 7 */
            tr_push(&test, id, ref[1][4].id, 1);
            tr_push(&test, id, ref[1][1].id, 1);
            tr_push(&test, id, ref[1][7].id, 1);
        } else { /* the last rank */
            tr_push(&test, id, ref[2][cnt - 1].id, 1);
        }
        chosen++;
    }
    assert_int_equal(chosen, 3);
    tr_push(&test, 424242, iid(0), 1); /* unknown user: not evaluated */
    als_ratings *rt = tr_ratings(&test);

    double l3 = 1.0 / log2(3.0), na = (double)n[0], nb = (double)n[1];
    double want[ALS_METRIC_COUNT] = {
        (2.0 / 3 + 1.0 / 3 + 0) / 3,
        (1.0 + 1.0 / 3 + 0) / 3,
        ((1.0 + 2.0 / 3) / 2 + (1.0 / 2) / 3 + 0) / 3,
        ((1.0 + 0.5) / (1.0 + l3) + l3 / (1.0 + l3 + 0.5) + 0) / 3,
        ((2 * na - 5) / (2 * (na - 2)) + (3 * nb - 18) / (3 * (nb - 3)) + 0) / 3,
        3,
    };
    double got[ALS_METRIC_COUNT], bf[ALS_METRIC_COUNT];
    int tie;
    assert_ok(als_eval_ranking(m, r, rt, 3, got, ALS_METRIC_COUNT));
    ref_ranking(m, &t, &test, 3, bf, &tie);
    assert_false(tie);
    expect_metrics(bf, want, ALS_METRIC_COUNT, "brute force vs hand, k=3");
    expect_metrics(got, want, ALS_METRIC_COUNT, "als_eval_ranking, k=3");
    for (int64_t k = 1; k <= 50; k += 7) {
        char what[64];
        snprintf(what, sizeof what, "als_eval_ranking, k=%lld", (long long)k);
        assert_ok(als_eval_ranking(m, r, rt, k, got, ALS_METRIC_COUNT));
        ref_ranking(m, &t, &test, k, bf, &tie);
        expect_metrics(got, bf, ALS_METRIC_COUNT, what);
    }
    /* n_metrics < COUNT fills only the first ones */
    double part[ALS_METRIC_COUNT] = {-7, -7, -7, -7, -7, -7};
    assert_ok(als_eval_ranking(m, r, rt, 3, part, 2));
    expect_metrics(part, want, 2, "als_eval_ranking, 2 metrics");
    for (int j = 2; j < ALS_METRIC_COUNT; j++) assert_true(part[j] == -7);
    als_ratings_destroy(rt);
    tr_free(&test);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* Every user but 0 and 1 (zero factors: see test_eval_ranking_ties) gets 3 random test
 * items it has not rated. */
static void test_eval_ranking_random(void **state) {
    (void)state;
    triples t, test = {0};
    make_problem(&t, NU, NI, 0.3, 1, 91);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_NONE, ALS_SOLVER_CHOLESKY, 0, 0, 0.2, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 5, 6, 2);
    uint64_t s = 17;
    for (int u = 2; u < NU; u++) {
        int got = 0;
        for (int tries = 0; tries < 200 && got < 3; tries++) {
            int64_t i = iid((int)(tu_next(&s) % NI));
            if (tr_has(&t, uid(u), i) || tr_has(&test, uid(u), i)) continue;
            tr_push(&test, uid(u), i, 1.0f);
            got++;
        }
    }
    als_ratings *rt = tr_ratings(&test);
    for (int64_t k = 1; k <= 12; k += 3) {
        double got[ALS_METRIC_COUNT], bf[ALS_METRIC_COUNT];
        int tie;
        char what[64];
        ref_ranking(m, &t, &test, k, bf, &tie);
        assert_false(tie);
        assert_ok(als_eval_ranking(m, r, rt, k, got, ALS_METRIC_COUNT));
        snprintf(what, sizeof what, "random test set, k=%lld", (long long)k);
        expect_metrics(got, bf, ALS_METRIC_COUNT, what);
    }
    als_ratings_destroy(rt);
    tr_free(&test);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* "The top-k items are recommended": with tied scores that is als_model_recommend's
 * order, smaller item id first. User 1 has only zero ratings, so a zero factor and equal
 * scores for every item; its test items are exactly recommend's top 3, so every metric at
 * k = 3 is 1 (AUC: all scores tie, 0.5). */
static void test_eval_ranking_ties(void **state) {
    (void)state;
    triples t, test = {0};
    make_problem(&t, NU, NI, 0.3, 1, 91);
    als_ratings *r = tr_ratings(&t);
    cfg c = {1, ALS_REG_NONE, ALS_SOLVER_CHOLESKY, 0, 0, 0.2, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 5, 6, 2);
    int64_t ids[3];
    float sc[3];
    assert_ok(als_model_recommend(m, uid(1), 3, r, ids, sc));
    assert_true(sc[0] == 0.0f && sc[2] == 0.0f);
    for (int k = 0; k < 3; k++) tr_push(&test, uid(1), ids[k], 1.0f);
    als_ratings *rt = tr_ratings(&test);
    double got[ALS_METRIC_COUNT], want[ALS_METRIC_COUNT] = {1, 1, 1, 1, 0.5, 1}, bf[ALS_METRIC_COUNT];
    int tie;
    ref_ranking(m, &t, &test, 3, bf, &tie);
    expect_metrics(bf, want, ALS_METRIC_COUNT, "brute force, user with tied scores");
    assert_ok(als_eval_ranking(m, r, rt, 3, got, ALS_METRIC_COUNT));
    if (got[0] != 1.0)
        print_message("  recommend's top 3 for user %lld: %lld %lld %lld (all scores 0)\n",
                      (long long)uid(1), (long long)ids[0], (long long)ids[1], (long long)ids[2]);
    expect_metrics(got, want, ALS_METRIC_COUNT, "als_eval_ranking, user with tied scores");
    als_ratings_destroy(rt);
    tr_free(&test);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

static void test_eval_rmse(void **state) {
    (void)state;
    triples t, test = {0};
    make_problem(&t, NU, NI, 0.4, 0, 101);
    als_ratings *r = tr_ratings(&t);
    cfg c = {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = fit_model(r, &c, RANK, 5, 6, 2);
    const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
    uint64_t s = 3;
    double se = 0;
    for (int k = 0; k < 15; k++) {
        int u = (int)(tu_next(&s) % NU), i = (int)(tu_next(&s) % NI);
        float v = (float)(tu_next(&s) % 5) + 0.5f;
        tr_push(&test, uid(u), iid(i), v);
        double p = dot_fd(frow(U, als_model_user_row(m, uid(u))), frow(V, als_model_item_row(m, iid(i))), RANK);
        se += (p - v) * (p - v);
    }
    tr_push(&test, 31337, iid(0), 3.0f); /* unknown user */
    tr_push(&test, uid(2), 5, 4.0f);     /* unknown item */
    als_ratings *rt = tr_ratings(&test);
    double rmse = -1;
    int64_t scored_n = -1;
    assert_ok(als_eval_rmse(m, rt, &rmse, &scored_n));
    assert_int_equal(scored_n, 15);
    assert_close(rmse, sqrt(se / 15), 1e-6);
    assert_ok(als_eval_rmse(m, rt, &rmse, NULL));
    assert_close(rmse, sqrt(se / 15), 1e-6);
    /* nothing scorable: NaN, 0 rows */
    triples none = {0};
    tr_push(&none, 31337, 5, 1.0f);
    als_ratings *rn = tr_ratings(&none), *empty = NULL;
    assert_ok(als_eval_rmse(m, rn, &rmse, &scored_n));
    assert_true(isnan(rmse));
    assert_int_equal(scored_n, 0);
    assert_ok(als_ratings_create(&empty));
    assert_ok(als_eval_rmse(m, empty, &rmse, &scored_n));
    assert_true(isnan(rmse));
    assert_int_equal(scored_n, 0);
    als_ratings_destroy(empty);
    als_ratings_destroy(rn);
    als_ratings_destroy(rt);
    tr_free(&none);
    tr_free(&test);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* ---------------------------------------------------------------- files */

/* Tests that write files work in their own mkdtemp() folder, removed by the teardown even
 * when the test fails. */
typedef struct {
    char dir[TP];
} tmpdir;

static int dir_setup(void **state) {
    tmpdir *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");
    if (!t) return -1;
    if (!base || !*base) base = "/tmp";
    snprintf(t->dir, sizeof t->dir, "%s/alstest-XXXXXX", base);
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int dir_teardown(void **state) {
    tmpdir *t = *state;
    if (!t) return 0;
    DIR *d = opendir(t->dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char sub[2 * TP];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(sub, sizeof sub, "%s/%s", t->dir, e->d_name);
            unlink(sub);
        }
        closedir(d);
    }
    rmdir(t->dir);
    free(t);
    return 0;
}

static void path_in(char *buf, void **state, const char *name) {
    const tmpdir *t = *state;
    int n = snprintf(buf, TP, "%s/%s", t->dir, name);
    assert_true(n > 0 && n < TP);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* zlib's CRC-32, bit by bit (independent of the library's table version). */
static uint32_t crc32_ref(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The model format's checksums (docs/formats.md): a header of hdr bytes ending in the CRC
 * of the bytes before it and a zero word, then the payload, then the payload's CRC. */
static void fix_crcs(unsigned char *b, size_t n, size_t hdr) {
    put_le32(b + hdr - 8, crc32_ref(b, hdr - 8));
    put_le32(b + n - 4, crc32_ref(b + hdr, n - hdr - 4));
}

static void expect_load_fails(const char *path, int code, const char *what, long detail) {
    als_model *out = (als_model *)(void *)&out; /* must become NULL */
    int rc = als_model_load(&out, path);
    if (rc != code || out != NULL) {
        print_error("%s %ld: als_model_load returned %d (%s), expected %d\n", what, detail, rc,
                    als_last_error(), code);
        if (rc == ALS_OK) als_model_destroy(out);
        fail();
    }
    assert_true(als_last_error()[0] != '\0');
}

static als_model *saved_model(const als_ratings *r, int compute_loss) {
    cfg c = {1, ALS_REG_NONE, ALS_SOLVER_CG, 0, 5, 0.05, 2.5, ALS_ITEMEQ_AUTO};
    als_model *m = new_model(&c, 5, 3, 12345678901LL, 2);
    assert_ok(als_set_int(m, ALS_PARAM_COMPUTE_LOSS, compute_loss));
    /* without its interactions the model saves as format version 2 (test_interactions
     * covers version 3) */
    assert_ok(als_set_int(m, ALS_PARAM_KEEP_INTERACTIONS, 0));
    assert_ok(als_model_fit(m, r));
    return m;
}

static void test_save_load(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 111);
    als_ratings *r = tr_ratings(&t);
    als_model *m = saved_model(r, 0), *l = NULL;
    char path[TP], path2[TP];
    path_in(path, state, "m.als");
    path_in(path2, state, "m2.als");
    assert_ok(als_model_save(m, path));
    assert_ok(als_model_load(&l, path));
    assert_non_null(l);
    assert_true(als_model_is_fitted(l));
    assert_true(mat_bits_equal(als_model_user_factors(m), als_model_user_factors(l)));
    assert_true(mat_bits_equal(als_model_item_factors(m), als_model_item_factors(l)));
    assert_memory_equal(als_model_user_ids(m), als_model_user_ids(l), NU * sizeof(int64_t));
    assert_memory_equal(als_model_item_ids(m), als_model_item_ids(l), NI * sizeof(int64_t));
    for (int u = 0; u < NU; u++) assert_int_equal(als_model_user_row(l, uid(u)), als_model_user_row(m, uid(u)));
    for (int k = 0; k < NPARAMS; k++)
        if (get_param(m, &PARAMS[k]) != get_param(l, &PARAMS[k])) {
            print_error("parameter %s: saved %.17g, loaded %.17g\n", PARAMS[k].name,
                        get_param(m, &PARAMS[k]), get_param(l, &PARAMS[k]));
            fail();
        }
    /* predictions, recommendations and fold-in are the same */
    for (int u = 0; u <= NU; u++) {
        int64_t us[NI + 1], is[NI + 1], a_ids[5], b_ids[5];
        float a[NI + 1], b[NI + 1], as[5], bs[5];
        for (int i = 0; i <= NI; i++) us[i] = u < NU ? uid(u) : 31337, is[i] = i < NI ? iid(i) : 5;
        assert_ok(als_model_predict(m, NI + 1, us, is, a));
        assert_ok(als_model_predict(l, NI + 1, us, is, b));
        for (int i = 0; i <= NI; i++) assert_true((isnan(a[i]) && isnan(b[i])) || a[i] == b[i]);
        if (u == NU) continue;
        assert_ok(als_model_recommend(m, uid(u), 5, r, a_ids, as));
        assert_ok(als_model_recommend(l, uid(u), 5, r, b_ids, bs));
        assert_memory_equal(a_ids, b_ids, sizeof a_ids);
        assert_memory_equal(as, bs, sizeof as);
        int64_t items[64];
        float vals[64], fa[5], fb[5];
        int64_t n = user_rows(&t, uid(u), items, vals, 64);
        assert_int_equal(als_model_fold_in(m, n, items, vals, fa), 0);
        assert_int_equal(als_model_fold_in(l, n, items, vals, fb), 0);
        assert_memory_equal(fa, fb, sizeof fa);
    }
    /* saving the loaded model gives the same bytes; saving over a file replaces it */
    size_t n1, n2;
    assert_ok(als_model_save(l, path2));
    unsigned char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b2);
    als_model *small = NULL;
    triples t2;
    make_problem(&t2, 5, 4, 0.5, 0, 7);
    als_ratings *r2 = tr_ratings(&t2);
    cfg c2 = {0, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    small = fit_model(r2, &c2, 2, 1, 1, 1);
    assert_ok(als_model_save(small, path2));
    als_model_destroy(l);
    l = NULL;
    assert_ok(als_model_load(&l, path2));
    assert_int_equal(als_matrix_rows(als_model_user_factors(l)), 5);
    assert_true(mat_bits_equal(als_model_item_factors(small), als_model_item_factors(l)));
    free(b1);
    als_model_destroy(small);
    als_model_destroy(l);
    als_model_destroy(m);
    als_ratings_destroy(r2);
    als_ratings_destroy(r);
    tr_free(&t2);
    tr_free(&t);
}

/* computeLoss is a parameter like the others: it survives save / load. */
static void test_save_load_compute_loss(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 112);
    als_ratings *r = tr_ratings(&t);
    als_model *m = saved_model(r, 1), *l = NULL;
    char path[TP];
    int64_t v = -1;
    path_in(path, state, "m.als");
    assert_ok(als_model_save(m, path));
    assert_ok(als_model_load(&l, path));
    assert_ok(als_get_int(l, ALS_PARAM_COMPUTE_LOSS, &v));
    if (v != 1) {
        print_error("computeLoss = 1 was saved, the loaded model has %lld\n", (long long)v);
        fail();
    }
    als_model_destroy(l);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

static void test_load_corrupt(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 121);
    als_ratings *r = tr_ratings(&t);
    als_model *m = saved_model(r, 0);
    char path[TP], bad[TP];
    path_in(path, state, "m.als");
    path_in(bad, state, "bad.als");
    assert_ok(als_model_save(m, path));
    size_t n;
    unsigned char *orig = slurp(path, &n), *buf = malloc(n + 1);
    assert_non_null(buf);
    /* header, payload (ids, then rank-5 factors), CRC trailer */
    size_t payload = (NU + NI) * (8 + 4 * 5), hdr = n - 4 - payload;
    assert_true(n > payload + 4 + 128 && hdr % 8 == 0);
    /* the reference CRC agrees with the file, the zero word is zero: the crafted cases below
     * are valid but for the one change each makes */
    assert_int_equal(get_le32(orig + hdr - 8), crc32_ref(orig, hdr - 8));
    assert_int_equal(get_le32(orig + hdr - 4), 0);
    assert_int_equal(get_le32(orig + n - 4), crc32_ref(orig + hdr, n - hdr - 4));
    /* One flipped byte anywhere. The copy is changed in place (pwrite), because rewriting
     * a file from scratch costs milliseconds on some file systems. */
    write_bytes(bad, orig, n);
    int fd = open(bad, O_RDWR);
    assert_true(fd >= 0);
    long undetected = 0;
    for (size_t off = 0; off < n; off++) {
        unsigned char flipped = orig[off] ^ 0x5A;
        assert_int_equal(pwrite(fd, &flipped, 1, (off_t)off), 1);
        als_model *out = NULL;
        int rc = als_model_load(&out, bad);
        if (rc != ALS_EFORMAT || out) {
            if (undetected++ < 8)
                print_message("  flipped byte at offset %zu: als_model_load returned %d (%s)\n", off, rc,
                              rc ? als_last_error() : "loaded");
            als_model_destroy(out);
        }
        assert_int_equal(pwrite(fd, orig + off, 1, (off_t)off), 1);
    }
    if (undetected) {
        print_error("%ld single-byte corruptions were not reported as ALS_EFORMAT\n", undetected);
        fail();
    }
    /* truncated at every 7th length (shrinking the same file), and one byte too long */
    for (size_t len = (n - 1) / 7 * 7 + 7; len-- > 0;) {
        if (len % 7) continue;
        assert_int_equal(ftruncate(fd, (off_t)len), 0);
        expect_load_fails(bad, ALS_EFORMAT, "truncated to", (long)len);
    }
    close(fd);
    memcpy(buf, orig, n);
    buf[n] = 0;
    write_bytes(bad, buf, n + 1);
    expect_load_fails(bad, ALS_EFORMAT, "one byte appended, size", (long)n + 1);
    /* consistent checksums, inconsistent content */
    double seven = 7.0, nan_d = NAN;
    float nan_f = NAN;
    memcpy(buf, orig, n), buf[8] = 3, fix_crcs(buf, n, hdr); /* version 3 without its section */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "format version", 3);
    memcpy(buf, orig, n), buf[8] = 4, fix_crcs(buf, n, hdr); /* format version 4 */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "format version", 4);
    memcpy(buf, orig, n), buf[8] = 1, fix_crcs(buf, n, hdr); /* version 1 with a v2 header */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "version 1 header of version 2 size", 1);
    memcpy(buf, orig, n), buf[16] = 6, fix_crcs(buf, n, hdr); /* rank 6: sizes disagree */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "rank", 6);
    memcpy(buf, orig, n), memcpy(buf + 56, &seven, 8), fix_crcs(buf, n, hdr); /* implicitPrefs 7 */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "implicitPrefs", 7);
    memcpy(buf, orig, n), memcpy(buf + 72, &nan_d, 8), fix_crcs(buf, n, hdr); /* regParam NaN */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "regParam NaN at", 72);
    {   /* an id -1 (reserved for missing results) in a resigned file */
        int64_t m1 = -1;
        memcpy(buf, orig, n), memcpy(buf + hdr + 8 * NU, &m1, 8), fix_crcs(buf, n, hdr);
        write_bytes(bad, buf, n);
        expect_load_fails(bad, ALS_EFORMAT, "item id -1 at", (long)(hdr + 8 * NU));
    }
    memcpy(buf, orig, n), memcpy(buf + hdr + 8, buf + hdr, 8), fix_crcs(buf, n, hdr); /* duplicate user id */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "duplicate user id at", (long)hdr + 8);
    size_t fac = hdr + (NU + NI) * 8 + 4 * 3;
    memcpy(buf, orig, n), memcpy(buf + fac, &nan_f, 4), fix_crcs(buf, n, hdr); /* NaN factor */
    write_bytes(bad, buf, n);
    expect_load_fails(bad, ALS_EFORMAT, "NaN factor at", (long)fac);
    /* the unchanged bytes still load (the helpers above did not break the file) */
    memcpy(buf, orig, n), fix_crcs(buf, n, hdr);
    assert_memory_equal(buf, orig, n);
    /* a file of another kind */
    als_matrix *x = NULL;
    assert_ok(als_matrix_create(&x, 40, 8));
    assert_ok(als_matrix_write_npy(x, bad));
    expect_load_fails(bad, ALS_EFORMAT, "a .npy file", 0);
    als_matrix_destroy(x);
    free(buf);
    free(orig);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* The model keeps its training interactions (keepInteractions, default 1) and saves them
 * (format version 3): items_of_user, users_of_items and recommend_unseen against brute
 * force over the rows added, the same after a save and load, corruption of the section
 * caught, and keepInteractions 0 (format version 2) refusing the calls. */
static void check_interactions(const als_model *m, const triples *t, const als_ratings *r) {
    assert_int_equal(als_model_num_interactions(m), t->n);
    int64_t items[512];
    float vals[512];
    for (int u = 0; u < NU; u++) {
        int64_t n = als_model_items_of_user(m, uid(u), items, vals, 512);
        assert_true(n >= 0 && n <= 512);
        int64_t k = 0; /* the user's rows in the order they were added */
        for (int64_t j = 0; j < t->n; j++) {
            if (t->u[j] != uid(u)) continue;
            assert_true(k < n);
            assert_true(items[k] == t->i[j]);
            assert_memory_equal(&vals[k], &t->v[j], sizeof(float));
            k++;
        }
        assert_int_equal(k, n);
        assert_int_equal(als_model_items_of_user(m, uid(u), NULL, NULL, 0), n);
        { /* the same by factor rows */
            int32_t rows[512];
            float rv[512];
            int64_t ur = als_model_user_row(m, uid(u));
            assert_int_equal(als_model_interaction_rows(m, ur, rows, rv, 512), n);
            for (int64_t j = 0; j < n; j++) {
                assert_true(als_model_item_ids(m)[rows[j]] == items[j]);
                assert_memory_equal(&rv[j], &vals[j], sizeof(float));
            }
        }
        if (n > 1) { /* a short buffer gets the first cap, the count is the whole */
            int64_t one[1];
            assert_int_equal(als_model_items_of_user(m, uid(u), one, NULL, 1), n);
            assert_true(one[0] == items[0]);
        }
        int64_t a_ids[6], b_ids[6];
        float as[6], bs[6];
        assert_ok(als_model_recommend(m, uid(u), 6, r, a_ids, as));
        assert_ok(als_model_recommend_unseen(m, uid(u), 6, b_ids, bs));
        assert_memory_equal(a_ids, b_ids, sizeof a_ids);
        assert_memory_equal(as, bs, sizeof as);
    }
    /* buyers of item sets: distinct users, in the model's user order */
    for (int set = 0; set < 6; set++) {
        int64_t want[3] = {iid(set), iid((set * 7 + 3) % NI), set == 5 ? 424242 : iid(set)};
        int64_t got[NU + 1], ref[NU];
        int64_t n = als_model_users_of_items(m, 3, want, got, NU + 1), nr = 0;
        for (int64_t row = 0; row < NU; row++) {
            int64_t user = als_model_user_ids(m)[row];
            for (int64_t j = 0; j < t->n; j++)
                if (t->u[j] == user && (t->i[j] == want[0] || t->i[j] == want[1] || t->i[j] == want[2])) {
                    ref[nr++] = user;
                    break;
                }
        }
        assert_int_equal(n, nr);
        assert_memory_equal(got, ref, (size_t)nr * sizeof(int64_t));
        assert_int_equal(als_model_users_of_items(m, 3, want, NULL, 0), nr);
    }
    int64_t none = 424242, u0;
    assert_int_equal(als_model_users_of_items(m, 1, &none, &u0, 1), 0);
    assert_int_equal(als_model_users_of_items(m, 0, NULL, NULL, 0), 0);
    assert_fails_with(als_model_items_of_user(m, 31337, items, vals, 4), ALS_ENOTFOUND);
    assert_fails_with(als_model_items_of_user(m, uid(2), items, vals, -1), ALS_ERANGE);
    assert_fails_with(als_model_items_of_user(NULL, uid(2), items, vals, 4), ALS_EINVAL);
    assert_fails_with(als_model_users_of_items(m, -1, &none, &u0, 1), ALS_ERANGE);
    assert_fails_with(als_model_users_of_items(m, 1, NULL, &u0, 1), ALS_EINVAL);
    assert_fails_with(als_model_users_of_items(m, 1, &none, NULL, 1), ALS_EINVAL);
    assert_fails_with(als_model_recommend_unseen(m, 31337, 3, items, vals), ALS_ENOTFOUND);
    int32_t rows[4];
    assert_fails_with(als_model_interaction_rows(m, -1, rows, vals, 4), ALS_ERANGE);
    assert_fails_with(als_model_interaction_rows(m, NU, rows, vals, 4), ALS_ERANGE);
    assert_fails_with(als_model_interaction_rows(m, 0, rows, vals, -1), ALS_ERANGE);
}

static void test_interactions(void **state) {
    for (int layout = 0; layout < 2; layout++) { /* shuffled floats; sorted counts */
        triples t;
        make_problem(&t, NU, NI, 0.4, 1, 141 + (uint64_t)layout);
        if (layout == 1) {
            for (int64_t k = 0; k < t.n; k++) t.v[k] = (float)(k % 4);
            tr_sort_by_user(&t);
        }
        als_ratings *r = tr_ratings(&t);
        cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 2.0, ALS_ITEMEQ_AUTO};
        als_model *m = fit_model(r, &c, RANK, 2, 5, 2), *l = NULL;
        check_interactions(m, &t, r);
        char path[TP];
        path_in(path, state, "inter.als");
        assert_ok(als_model_save(m, path));
        size_t n;
        unsigned char *orig = slurp(path, &n);
        assert_int_equal(get_le32(orig + 8), 3);
        assert_ok(als_model_load(&l, path));
        check_interactions(l, &t, r);
        assert_true(mat_bits_equal(als_model_user_factors(m), als_model_user_factors(l)));
        als_model_destroy(l);
        /* a refit of the loaded model keeps them again; one byte flipped anywhere in the
         * interactions section, or the file cut inside it: ALS_EFORMAT */
        size_t sect = 144 + (size_t)(NU + NI) * (8 + 4 * RANK) + 4; /* version 2's size */
        assert_true(sect + 24 + (size_t)(NU + 1) * 8 + (size_t)t.n * 2 + 4 <= n);
        int fd;
        char bad[TP];
        path_in(bad, state, "inter_bad.als");
        write_bytes(bad, orig, n);
        fd = open(bad, O_RDWR);
        assert_true(fd >= 0);
        for (size_t off = sect; off < n; off += 3) {
            unsigned char flipped = orig[off] ^ 0x21;
            assert_int_equal(pwrite(fd, &flipped, 1, (off_t)off), 1);
            als_model *out = NULL;
            int rc = als_model_load(&out, bad);
            if (rc != ALS_EFORMAT) print_error("flipped byte %zu of %zu: %d\n", off, n, rc);
            assert_int_equal(rc, ALS_EFORMAT);
            assert_null(out);
            assert_int_equal(pwrite(fd, orig + off, 1, (off_t)off), 1);
        }
        for (size_t len = n - 1; len > sect; len -= 5) {
            assert_int_equal(ftruncate(fd, (off_t)len), 0);
            expect_load_fails(bad, ALS_EFORMAT, "truncated to", (long)len);
        }
        close(fd);
        /* counts past 2^31 and 2^62: an interaction count whose byte size wraps around 2^64
         * to exactly the bytes present (with a valid checksum) is refused, as is one just
         * past 2^31 with row pointers to match */
        if (layout == 1) {
            static const uint64_t fake[2] = {(1ull << 62), (1ull << 31)};
            for (int f2 = 0; f2 < 2; f2++) {
                unsigned char *b2 = malloc(n);
                assert_non_null(b2);
                memcpy(b2, orig, n);
                uint64_t real = 0, cnt;
                for (int i = 7; i >= 0; i--) real = real << 8 | b2[sect + 16 + i];
                assert_int_equal(real, t.n);
                cnt = f2 == 0 ? fake[0] + real : fake[1] + real;
                for (int i = 0; i < 8; i++) b2[sect + 16 + i] = (unsigned char)(cnt >> (8 * i));
                if (f2 == 1) /* the last row pointer agrees with the claimed count */
                    for (int i = 0; i < 8; i++) b2[sect + 24 + 8 * NU + i] = (unsigned char)(cnt >> (8 * i));
                put_le32(b2 + n - 4, crc32_ref(b2 + sect, n - 4 - sect));
                write_bytes(bad, b2, n);
                expect_load_fails(bad, ALS_EFORMAT, "interaction count past 2^31/2^62", (long)f2);
                free(b2);
            }
        }
        free(orig);
        /* keepInteractions 0: no interactions, format version 2, the calls refuse */
        assert_ok(als_set_int(m, ALS_PARAM_KEEP_INTERACTIONS, 0));
        assert_ok(als_model_fit(m, r));
        assert_int_equal(als_model_num_interactions(m), 0);
        int64_t items[4], one = iid(0);
        float vals[4];
        assert_fails_with(als_model_items_of_user(m, uid(2), items, vals, 4), ALS_ESTATE);
        assert_fails_with(als_model_users_of_items(m, 1, &one, items, 4), ALS_ESTATE);
        assert_fails_with(als_model_recommend_unseen(m, uid(2), 3, items, vals), ALS_ESTATE);
        assert_ok(als_model_save(m, path));
        orig = slurp(path, &n);
        assert_int_equal(get_le32(orig + 8), 2);
        free(orig);
        assert_ok(als_model_load(&l, path));
        assert_int_equal(als_model_num_interactions(l), 0);
        assert_fails_with(als_model_items_of_user(l, uid(2), items, vals, 4), ALS_ESTATE);
        als_model_destroy(l);
        als_model *unfit = NULL;
        assert_ok(als_model_create(&unfit));
        assert_int_equal(als_model_num_interactions(unfit), 0);
        assert_fails_with(als_model_items_of_user(unfit, uid(2), items, vals, 4), ALS_ESTATE);
        als_model_destroy(unfit);
        als_model_destroy(m);
        als_ratings_destroy(r);
        tr_free(&t);
    }
}

/* Run identity: each fit draws a new non-zero one, save/load keeps it; a version-1 file
 * (the 1.0 layout, built here by hand from a version-2 one) still loads, with identity 0
 * and the same factors. */
static void test_run_identity(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 131);
    als_ratings *r = tr_ratings(&t);
    als_model *m = saved_model(r, 0), *l = NULL, *unfit = NULL;
    assert_ok(als_model_create(&unfit));
    assert_true(als_model_run_id(NULL) == 0);
    assert_true(als_model_run_id(unfit) == 0);
    uint64_t id1 = als_model_run_id(m);
    assert_true(id1 != 0);
    assert_ok(als_model_fit(m, r)); /* same data, same seed: same factors, another run */
    uint64_t id2 = als_model_run_id(m);
    assert_true(id2 != 0 && id2 != id1);
    char path[TP], v1[TP];
    path_in(path, state, "m.als");
    path_in(v1, state, "v1.als");
    assert_ok(als_model_save(m, path));
    size_t n;
    unsigned char *b = slurp(path, &n);
    assert_int_equal(get_le32(b + 8), 2);
    uint64_t stored = 0;
    for (int i = 7; i >= 0; i--) stored = stored << 8 | b[128 + i];
    assert_true(stored == id2); /* at offset 128, as docs/formats.md says */
    assert_ok(als_model_load(&l, path));
    assert_true(als_model_run_id(l) == id2);
    als_model_destroy(l);
    /* version 1: bytes 0..127, CRC at 128, zero at 132, then the same payload */
    size_t n1 = n - 8;
    unsigned char *c = malloc(n1);
    assert_non_null(c);
    memcpy(c, b, 128);
    put_le32(c + 8, 1);
    put_le32(c + 128, crc32_ref(c, 128));
    put_le32(c + 132, 0);
    memcpy(c + 136, b + 144, n - 144);
    write_bytes(v1, c, n1);
    l = NULL;
    assert_ok(als_model_load(&l, v1));
    assert_true(als_model_run_id(l) == 0);
    assert_true(mat_bits_equal(als_model_user_factors(m), als_model_user_factors(l)));
    assert_true(mat_bits_equal(als_model_item_factors(m), als_model_item_factors(l)));
    als_model_destroy(l);
    free(c);
    free(b);
    unlink(v1);
    unlink(path);
    als_model_destroy(unfit);
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* Rank-deficient or badly scaled systems (issue 11 F2): fewer distinct partners than rank
 * with regParam 0, alpha 1e6, values 1e8. A failed Cholesky used to zero the row and the
 * zeros spread to the whole model, with ALS_OK. Now each fit must return a model whose
 * user rows solve their normal equations (built here in double from the final item
 * factors: the last half-step solves the users) to a small relative residual, and whose
 * observed pairs score well; or fail loudly. */
static void test_rank_deficient(void **state) {
    (void)state;
    static const struct { int implicit, solver; double reg, alpha; float value; } cases[] = {
        {1, ALS_SOLVER_CHOLESKY, 0.01, 1e6, 25}, {0, ALS_SOLVER_CHOLESKY, 0.0, 1.0, 1},
        {1, ALS_SOLVER_CHOLESKY, 0.1, 1.0, 1e8}, {0, ALS_SOLVER_CHOLESKY, 0.1, 1.0, 1e8},
        {1, ALS_SOLVER_CHOLESKY, 0.0, 1e6, 25},  {1, ALS_SOLVER_CG, 0.01, 1e6, 25},
    };
    const int nu = 10, rank = 4;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        als_ratings *r;
        assert_ok(als_ratings_create(&r));
        for (int u = 0; u < nu; u++)
            for (int j = 0; j < 2; j++) { /* two distinct items per user, each item one user */
                int64_t uu = u, ii = 2 * u + j;
                float v = cases[k].value;
                assert_ok(als_ratings_add(r, 1, &uu, &ii, &v));
            }
        cfg c = {cases[k].implicit, ALS_REG_COUNT, cases[k].solver, 0, 3, cases[k].reg, cases[k].alpha, ALS_ITEMEQ_AUTO};
        als_model *m = new_model(&c, rank, 6, 5, 1);
        int rc = als_model_fit(m, r);
        if (rc != ALS_OK) {
            print_error("case %zu: fit failed: %s\n", k, als_last_error());
            fail();
        }
        const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
        double unorm = 0;
        for (int u = 0; u < nu * rank; u++) unorm += fabs(als_matrix_data_const(U)[u]);
        if (!(unorm > 0)) {
            print_error("case %zu: every user factor is zero\n", k);
            fail();
        }
        if (cases[k].solver == ALS_SOLVER_CHOLESKY) {
            /* A x = b for each user row, in double, independently of the library */
            const float *Vd = als_matrix_data_const(V);
            int64_t ni = als_matrix_rows(V);
            for (int u = 0; u < nu; u++) {
                double A[16] = {0}, b[4] = {0}, Ax[4] = {0};
                const float *x = als_matrix_data_const(U) + als_model_user_row(m, u) * rank;
                if (cases[k].implicit)
                    for (int64_t t = 0; t < ni; t++)
                        for (int i = 0; i < rank; i++)
                            for (int j = 0; j < rank; j++) A[i * rank + j] += (double)Vd[t * rank + i] * Vd[t * rank + j];
                for (int jj = 0; jj < 2; jj++) {
                    const float *y = Vd + als_model_item_row(m, 2 * u + jj) * rank;
                    double v = cases[k].value;
                    double w = cases[k].implicit ? cases[k].alpha * v : 1.0;
                    double wb = cases[k].implicit ? 1.0 + cases[k].alpha * v : v;
                    for (int i = 0; i < rank; i++) {
                        b[i] += wb * y[i];
                        for (int j = 0; j < rank; j++) A[i * rank + j] += w * y[i] * y[j];
                    }
                }
                for (int i = 0; i < rank; i++) A[i * rank + i] += cases[k].reg * 2;
                double rn = 0, bn = 0;
                for (int i = 0; i < rank; i++) {
                    for (int j = 0; j < rank; j++) Ax[i] += A[i * rank + j] * x[j];
                    rn += (Ax[i] - b[i]) * (Ax[i] - b[i]);
                    bn += b[i] * b[i];
                }
                if (!(sqrt(rn) <= 1e-3 * sqrt(bn))) {
                    print_error("case %zu user %d: |Ax - b| / |b| = %g\n", k, u, sqrt(rn / bn));
                    fail();
                }
            }
        }
        /* every observed pair scores like its preference (implicit: about 1; explicit: the value) */
        for (int u = 0; u < nu; u++) {
            int64_t uu = u, ii = 2 * u;
            float pr = NAN;
            assert_ok(als_model_predict(m, 1, &uu, &ii, &pr));
            double want = cases[k].implicit ? 1.0 : cases[k].value;
            if (!(fabs(pr - want) <= 0.05 * want + 0.05)) {
                print_error("case %zu user %d: predicted %g for an observed pair (want about %g)\n",
                            k, u, (double)pr, want);
                fail();
            }
        }
        /* fold-in of a user with the same two items solves the same system */
        float f[4];
        int64_t fi[2] = {0, 1};
        float fv[2] = {cases[k].value, cases[k].value};
        assert_int_equal(als_model_fold_in(m, 2, fi, fv, f), 0);
        als_model_destroy(m);
        als_ratings_destroy(r);
    }
}

typedef struct {
    als_model *m;
    int delay_ms;
} canceler;

static void *cancel_later(void *arg) {
    canceler *c = arg;
    struct timespec ts = {c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    als_model_cancel(c->m);
    return NULL;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Issue 11 F7: rank 1024 with nonnegative=true on 60 users x 80 items ran for minutes and
 * could only be canceled between iterations. als_model_cancel from another thread stops it
 * within a row's solve, and the model keeps its previous factors. */
static void test_cancel_long_fit(void **state) {
    (void)state;
    als_ratings *r;
    assert_ok(als_ratings_create(&r));
    uint64_t rng = 99;
    for (int u = 0; u < 60; u++)
        for (int i = 0; i < 80; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            if ((rng >> 33) % 4) continue;
            int64_t uu = u, ii = i;
            float v = (float)(1 + (rng >> 40) % 5);
            assert_ok(als_ratings_add(r, 1, &uu, &ii, &v));
        }
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    assert_ok(als_set_int(m, ALS_PARAM_NUM_THREADS, 2));
    assert_ok(als_set_int(m, ALS_PARAM_MAX_ITER, 1)); /* a first, cheap model to keep */
    assert_ok(als_model_fit(m, r));
    float before[4];
    memcpy(before, als_matrix_data_const(als_model_user_factors(m)), sizeof before);
    uint64_t run_before = als_model_run_id(m);
    assert_ok(als_set_param(m, "rank", "1024"));
    assert_ok(als_set_param(m, "nonnegative", "true"));
    assert_ok(als_set_param(m, "maxIter", "10"));
    canceler c = {m, 300};
    pthread_t th;
    double t0 = wall();
    assert_int_equal(pthread_create(&th, NULL, cancel_later, &c), 0);
    int rc = als_model_fit(m, r);
    double took = wall() - t0;
    pthread_join(th, NULL);
    assert_int_equal(rc, ALS_ECANCELED);
    if (took > 5.0) {
        print_error("the canceled fit took %.1f s to return\n", took);
        fail();
    }
    /* the previous model is intact */
    assert_true(als_model_run_id(m) == run_before);
    assert_int_equal(als_matrix_cols(als_model_user_factors(m)), 10);
    assert_memory_equal(als_matrix_data_const(als_model_user_factors(m)), before, sizeof before);
    /* the request was cleared: a normal fit runs to the end */
    assert_ok(als_set_param(m, "rank", "4"));
    assert_ok(als_set_param(m, "maxIter", "2"));
    assert_ok(als_model_fit(m, r));
    assert_int_equal(als_model_cancel(NULL), ALS_EINVAL);
    als_model_destroy(m);
    als_ratings_destroy(r);
}

/* A 1-D '<i8' .npy file, read by hand. */
static void check_ids_npy(const char *path, const int64_t *want, int64_t n) {
    size_t size;
    unsigned char *b = slurp(path, &size);
    assert_true(size >= 10);
    assert_memory_equal(b, "\x93NUMPY", 6);
    assert_int_equal(b[6], 1);
    size_t hl = (size_t)b[8] | (size_t)b[9] << 8;
    assert_int_equal((10 + hl) % 64, 0);
    assert_true(10 + hl + 8 * (size_t)n == size);
    char *hdr = malloc(hl + 1), shape[64];
    assert_non_null(hdr);
    memcpy(hdr, b + 10, hl);
    hdr[hl] = '\0';
    snprintf(shape, sizeof shape, "'shape': (%lld,)", (long long)n);
    assert_non_null(strstr(hdr, "'descr': '<i8'"));
    assert_non_null(strstr(hdr, "'fortran_order': False"));
    assert_non_null(strstr(hdr, shape));
    assert_int_equal(hdr[hl - 1], '\n');
    for (int64_t k = 0; k < n; k++) {
        uint64_t v = 0;
        for (int j = 7; j >= 0; j--) v = v << 8 | b[10 + hl + 8 * k + j];
        assert_true((int64_t)v == want[k]);
    }
    free(hdr);
    free(b);
}

static void test_export_npy(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 131);
    als_ratings *r = tr_ratings(&t);
    als_model *m = saved_model(r, 0);
    char prefix[TP], path[TP + 32];
    path_in(prefix, state, "factors");
    assert_ok(als_model_export_npy(m, prefix));
    static const char *const suffix[4] = {"_users.npy", "_items.npy", "_user_ids.npy", "_item_ids.npy"};
    for (int s = 0; s < 2; s++) {
        als_matrix *x = NULL;
        snprintf(path, sizeof path, "%s%s", prefix, suffix[s]);
        assert_ok(als_matrix_read_npy(&x, path));
        assert_true(mat_bits_equal(x, s ? als_model_item_factors(m) : als_model_user_factors(m)));
        als_matrix_destroy(x);
    }
    snprintf(path, sizeof path, "%s%s", prefix, suffix[2]);
    check_ids_npy(path, als_model_user_ids(m), NU);
    snprintf(path, sizeof path, "%s%s", prefix, suffix[3]);
    check_ids_npy(path, als_model_item_ids(m), NI);
    /* the library reads its own id files back: count first, then the ids */
    int64_t got[NU + 1];
    snprintf(path, sizeof path, "%s%s", prefix, suffix[2]);
    assert_int_equal(als_ids_read_npy(path, NULL, 0), NU);
    assert_int_equal(als_ids_read_npy(path, got, NU - 1), NU); /* too small: count only */
    got[NU] = 77;
    assert_int_equal(als_ids_read_npy(path, got, NU + 1), NU);
    assert_memory_equal(got, als_model_user_ids(m), NU * sizeof(int64_t));
    assert_int_equal(got[NU], 77);
    assert_int_equal(als_ids_read_npy(path, NULL, 5), ALS_EINVAL);
    assert_int_equal(als_ids_read_npy(path, got, -1), ALS_ERANGE);
    assert_int_equal(als_ids_read_npy(NULL, got, 1), ALS_EINVAL);
    snprintf(path, sizeof path, "%s%s", prefix, suffix[0]); /* float32 factors are not ids */
    assert_int_equal(als_ids_read_npy(path, got, NU), ALS_EFORMAT);
    snprintf(path, sizeof path, "%s_none.npy", prefix);
    assert_int_equal(als_ids_read_npy(path, got, NU), ALS_ENOTFOUND);
    {   /* truncated: one id short */
        size_t n;
        snprintf(path, sizeof path, "%s%s", prefix, suffix[3]);
        unsigned char *b = slurp(path, &n);
        snprintf(path, sizeof path, "%s_cut.npy", prefix);
        write_bytes(path, b, n - 8);
        assert_int_equal(als_ids_read_npy(path, got, NU), ALS_EFORMAT);
        unlink(path);
        free(b);
    }
    for (int s = 0; s < 4; s++) {
        snprintf(path, sizeof path, "%s%s", prefix, suffix[s]);
        assert_int_equal(unlink(path), 0);
    }
    als_model_destroy(m);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* ---------------------------------------------------------------- errors */

static void test_model_errors(void **state) {
    triples t;
    make_problem(&t, NU, NI, 0.4, 1, 141);
    als_ratings *r = tr_ratings(&t), *empty = NULL;
    assert_ok(als_ratings_create(&empty));
    als_model *m = NULL, *fresh = NULL, *out = NULL;
    int64_t u = uid(2), i = iid(0), ids[4];
    float p, sc[4], f[RANK];
    double met[ALS_METRIC_COUNT], rmse;
    char path[TP];
    path_in(path, state, "never-written.als");

    assert_fails_with(als_model_create(NULL), ALS_EINVAL);
    assert_ok(als_model_create(&fresh));
    assert_ok(als_set_int(fresh, ALS_PARAM_RANK, RANK));
    /* not fitted */
    assert_false(als_model_is_fitted(fresh));
    assert_null(als_model_user_factors(fresh));
    assert_null(als_model_item_factors(fresh));
    assert_null(als_model_user_ids(fresh));
    assert_null(als_model_item_ids(fresh));
    assert_int_equal(als_model_user_row(fresh, u), -1);
    assert_int_equal(als_model_item_row(fresh, i), -1);
    assert_fails_with(als_model_predict(fresh, 1, &u, &i, &p), ALS_ESTATE);
    assert_fails_with((int)als_model_fold_in(fresh, 1, &i, NULL, f), ALS_ESTATE);
    assert_fails_with(als_model_recommend(fresh, u, 3, NULL, ids, sc), ALS_ESTATE);
    assert_fails_with(als_model_save(fresh, path), ALS_ESTATE);
    assert_int_equal(access(path, F_OK), -1);
    assert_fails_with(als_model_export_npy(fresh, path), ALS_ESTATE);
    assert_fails_with(als_eval_ranking(fresh, r, r, 3, met, ALS_METRIC_COUNT), ALS_ESTATE);
    assert_fails_with(als_eval_rmse(fresh, r, &rmse, NULL), ALS_ESTATE);
    /* fit */
    assert_fails_with(als_model_fit(NULL, r), ALS_EINVAL);
    assert_fails_with(als_model_fit(fresh, NULL), ALS_EINVAL);
    assert_fails_with(als_model_fit(fresh, empty), ALS_ERANGE);
    assert_false(als_model_is_fitted(fresh));
    assert_fails_with(als_model_set_progress(NULL, on_progress, NULL), ALS_EINVAL);
    cfg c = {1, ALS_REG_COUNT, ALS_SOLVER_CHOLESKY, 0, 0, 0.1, 1.0, ALS_ITEMEQ_AUTO};
    m = fit_model(r, &c, RANK, 2, 1, 2);
    /* predict */
    assert_fails_with(als_model_predict(NULL, 1, &u, &i, &p), ALS_EINVAL);
    assert_fails_with(als_model_predict(m, 1, NULL, &i, &p), ALS_EINVAL);
    assert_fails_with(als_model_predict(m, 1, &u, NULL, &p), ALS_EINVAL);
    assert_fails_with(als_model_predict(m, 1, &u, &i, NULL), ALS_EINVAL);
    assert_fails_with(als_model_predict(m, -1, &u, &i, &p), ALS_ERANGE);
    /* fold-in */
    float nanv = NAN;
    assert_fails_with((int)als_model_fold_in(NULL, 1, &i, NULL, f), ALS_EINVAL);
    assert_fails_with((int)als_model_fold_in(m, 1, NULL, NULL, f), ALS_EINVAL);
    assert_fails_with((int)als_model_fold_in(m, 1, &i, NULL, NULL), ALS_EINVAL);
    assert_fails_with((int)als_model_fold_in(m, 1, &i, &nanv, f), ALS_EINVAL);
    assert_fails_with((int)als_model_fold_in(m, -1, &i, NULL, f), ALS_ERANGE);
    /* recommend */
    assert_fails_with(als_model_recommend(NULL, u, 3, NULL, ids, sc), ALS_EINVAL);
    assert_fails_with(als_model_recommend(m, u, 3, NULL, NULL, sc), ALS_EINVAL);
    assert_fails_with(als_model_recommend(m, u, 0, NULL, ids, sc), ALS_ERANGE);
    assert_fails_with(als_model_recommend(m, 31337, 3, NULL, ids, sc), ALS_ENOTFOUND);
    /* a k no buffer could back: refused before anything is written (issue 11 F1) */
    const int64_t huge[] = {(int64_t)1 << 40, (int64_t)1 << 62, INT64_MAX};
    for (int h = 0; h < 3; h++) {
        ids[0] = 777;
        assert_fails_with(als_model_recommend(m, u, huge[h], NULL, ids, sc), ALS_ERANGE);
        assert_fails_with(als_model_recommend(m, u, huge[h], NULL, ids, NULL), ALS_ERANGE);
        assert_int_equal(ids[0], 777);
    }
    /* save / load / export */
    assert_fails_with(als_model_save(NULL, path), ALS_EINVAL);
    assert_fails_with(als_model_save(m, NULL), ALS_EINVAL);
    assert_fails_with(als_model_save(m, "/nonexistent-als-dir/model.als"), ALS_EIO);
    assert_fails_with(als_model_load(NULL, path), ALS_EINVAL);
    out = (als_model *)(void *)&out;
    assert_fails_with(als_model_load(&out, NULL), ALS_EINVAL);
    assert_null(out);
    expect_load_fails(path, ALS_ENOTFOUND, "missing file", 0);
    expect_load_fails("/nonexistent-als-dir/model.als", ALS_ENOTFOUND, "missing folder", 0);
    expect_load_fails(((const tmpdir *)*state)->dir, ALS_EIO, "a folder", 0);
    assert_fails_with(als_model_export_npy(NULL, path), ALS_EINVAL);
    assert_fails_with(als_model_export_npy(m, NULL), ALS_EINVAL);
    assert_fails_with(als_model_export_npy(m, "/nonexistent-als-dir/x"), ALS_EIO);
    /* evaluation */
    assert_fails_with(als_eval_ranking(NULL, r, r, 3, met, 1), ALS_EINVAL);
    assert_fails_with(als_eval_ranking(m, NULL, r, 3, met, 1), ALS_EINVAL);
    assert_fails_with(als_eval_ranking(m, r, NULL, 3, met, 1), ALS_EINVAL);
    assert_fails_with(als_eval_ranking(m, r, r, 3, NULL, 1), ALS_EINVAL);
    assert_fails_with(als_eval_ranking(m, r, r, 0, met, 1), ALS_ERANGE);
    assert_fails_with(als_eval_ranking(m, r, r, 3, met, 0), ALS_ERANGE);
    assert_fails_with(als_eval_rmse(NULL, r, &rmse, NULL), ALS_EINVAL);
    assert_fails_with(als_eval_rmse(m, NULL, &rmse, NULL), ALS_EINVAL);
    assert_fails_with(als_eval_rmse(m, r, NULL, NULL), ALS_EINVAL);
    /* NULL handles */
    assert_fails_with((int)als_model_explain_params(NULL, NULL, 0), ALS_EINVAL);
    assert_false(als_model_is_fitted(NULL));
    assert_null(als_model_user_factors(NULL));
    assert_null(als_model_item_factors(NULL));
    assert_null(als_model_user_ids(NULL));
    assert_null(als_model_item_ids(NULL));
    assert_int_equal(als_model_user_row(NULL, u), -1);
    assert_int_equal(als_model_item_row(NULL, i), -1);
    als_model_destroy(NULL);
    als_ratings_destroy(NULL);
    als_model_destroy(fresh);
    als_model_destroy(m);
    als_ratings_destroy(empty);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* Item factors beyond float range: two users at an angle theta rate item X with +M and -M
 * and item Y with +M and +M (M = FLT_MAX, regParam 0, rank 2). The exact solve makes
 * |x| = M / sin(theta/2) or |y| = M / cos(theta/2), so one of them has a component above
 * FLT_MAX for any theta but 90 degrees: the fit must report ALS_EINTERNAL. */
static void test_fit_nonfinite(void **state) {
    (void)state;
    int64_t us[4] = {1, 2, 1, 2}, is[4] = {10, 10, 11, 11};
    float vs[4] = {FLT_MAX, -FLT_MAX, FLT_MAX, FLT_MAX};
    als_ratings *r = NULL;
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 4, us, is, vs));
    cfg c = {0, ALS_REG_NONE, ALS_SOLVER_CHOLESKY, 0, 0, 0.0, 1.0, ALS_ITEMEQ_AUTO};
    als_model *m = new_model(&c, 2, 1, 3, 1);
    assert_fails_with(als_model_fit(m, r), ALS_EINTERNAL);
    als_model_destroy(m);
    als_ratings_destroy(r);
}

/* ---------------------------------------------------------------- ratings as used here */

static void test_ratings_basics(void **state) {
    (void)state;
    als_ratings *r = NULL, *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL;
    int64_t us[4] = {5, 5, 9, 5}, is[4] = {1, 2, 1, 1}, u, i, tm;
    float vs[4] = {1.5f, -2, 0, 3}, v, bad[2] = {1, NAN};
    assert_ok(als_ratings_create(&r));
    assert_ok(als_ratings_add(r, 4, us, is, vs));
    assert_ok(als_ratings_add(r, 1, us, is, NULL));
    assert_fails_with(als_ratings_add(r, 2, us, is, bad), ALS_EINVAL);
    assert_int_equal(als_ratings_rows(r), 5); /* nothing appended by the failed add */
    assert_int_equal(als_ratings_num_users(r), 2);
    assert_int_equal(als_ratings_num_items(r), 2);
    assert_ok(als_ratings_get(r, 3, &u, &i, &v, &tm));
    assert_true(u == 5 && i == 1 && v == 3.0f);
    assert_ok(als_ratings_get(r, 4, NULL, NULL, &v, NULL));
    assert_true(v == 1.0f);
    assert_fails_with(als_ratings_get(r, 5, &u, &i, &v, NULL), ALS_ERANGE);
    /* splits: deterministic by seed, a partition of the rows */
    triples t;
    make_problem(&t, 50, 40, 0.3, 0, 151);
    als_ratings *big = tr_ratings(&t);
    assert_ok(als_ratings_split(big, 0.8, 7, &tr, &te));
    assert_ok(als_ratings_split(big, 0.8, 7, &tr2, &te2));
    assert_int_equal(als_ratings_rows(tr) + als_ratings_rows(te), t.n);
    assert_int_equal(als_ratings_rows(tr), als_ratings_rows(tr2));
    double frac = (double)als_ratings_rows(tr) / (double)t.n;
    assert_true(frac > 0.74 && frac < 0.86);
    for (int64_t k = 0; k < als_ratings_rows(tr); k++) {
        int64_t a, b, c, d;
        float x, y;
        assert_ok(als_ratings_get(tr, k, &a, &b, &x, NULL));
        assert_ok(als_ratings_get(tr2, k, &c, &d, &y, NULL));
        assert_true(a == c && b == d && x == y);
    }
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(tr2);
    als_ratings_destroy(te2);
    assert_ok(als_ratings_split(big, 1.0, 7, &tr, &te));
    assert_int_equal(als_ratings_rows(te), 0);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    assert_fails_with(als_ratings_split(big, 1.5, 7, &tr, &te), ALS_ERANGE);
    assert_fails_with(als_ratings_split(NULL, 0.5, 7, &tr, &te), ALS_EINVAL);
    als_ratings_destroy(big);
    als_ratings_destroy(r);
    tr_free(&t);
}

/* ---------------------------------------------------------------- MovieLens 100k */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_movielens_quality(void **state) {
    (void)state;
    const char *base = getenv("ALS_TEST_DATA");
    char path[TP];
    if (!base || !*base) base = "../shared/data";
    snprintf(path, sizeof path, "%s/ml-100k/u.data", base);
    if (access(path, R_OK) != 0) {
        print_message("SKIPPED: %s is missing; set ALS_TEST_DATA to the folder that holds "
                      "ml-100k/u.data\n", path);
        skip();
    }
    als_ratings *all = NULL, *train = NULL, *test = NULL;
    assert_ok(als_ratings_read_csv(&all, path, "sep=\\t,user=0,item=1,value=2"));
    assert_int_equal(als_ratings_rows(all), 100000);
    assert_int_equal(als_ratings_num_users(all), 943);
    assert_int_equal(als_ratings_num_items(all), 1682);
    assert_ok(als_ratings_split(all, 0.8, 42, &train, &test));

    als_model *m = NULL;
    double met[ALS_METRIC_COUNT], t0 = now_s();
    assert_ok(als_model_create(&m));
    assert_ok(als_set_param(m, "implicitPrefs", "true"));
    assert_ok(als_set_param(m, "rank", "10"));
    assert_ok(als_set_param(m, "maxIter", "15"));
    assert_ok(als_set_param(m, "regParam", "0.01"));
    assert_ok(als_set_param(m, "regScaling", "none"));
    assert_ok(als_set_param(m, "alpha", "1"));
    assert_ok(als_set_param(m, "seed", "1"));
    assert_ok(als_model_fit(m, train));
    double t1 = now_s();
    assert_ok(als_eval_ranking(m, train, test, 10, met, ALS_METRIC_COUNT));
    print_message("  ml-100k implicit (rank 10, 15 iters, reg 0.01 none, alpha 1): fit %.2f s, "
                  "P@10 %.4f R@10 %.4f MAP@10 %.4f NDCG@10 %.4f AUC %.4f over %.0f users\n",
                  t1 - t0, met[0], met[1], met[2], met[3], met[4], met[5]);
    assert_true(met[ALS_METRIC_PRECISION] >= 0.33);
    als_model_destroy(m);

    double rmse;
    int64_t scored_n;
    t0 = now_s();
    assert_ok(als_model_create(&m));
    assert_ok(als_set_param(m, "maxIter", "15"));
    assert_ok(als_set_param(m, "regParam", "0.1"));
    assert_ok(als_model_fit(m, train));
    t1 = now_s();
    assert_ok(als_eval_rmse(m, test, &rmse, &scored_n));
    print_message("  ml-100k explicit (rank 10, 15 iters, reg 0.1 count): fit %.2f s, RMSE %.4f "
                  "over %lld of %lld test rows\n",
                  t1 - t0, rmse, (long long)scored_n, (long long)als_ratings_rows(test));
    assert_true(rmse <= 0.95);
    assert_true(scored_n >= als_ratings_rows(test) * 99 / 100);
    als_model_destroy(m);
    als_ratings_destroy(train);
    als_ratings_destroy(test);
    als_ratings_destroy(all);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_factors),
        cmocka_unit_test(test_reference_solves),
        cmocka_unit_test(test_sweep_cg),
        cmocka_unit_test(test_store_layouts),
        cmocka_unit_test(test_grouped_fit),
        cmocka_unit_test(test_every_rank),
        cmocka_unit_test(test_item_blocks),
        cmocka_unit_test(test_nnls_kkt),
        cmocka_unit_test(test_loss_monotone),
        cmocka_unit_test(test_progress_cancel),
        cmocka_unit_test(test_fold_in),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_refit_replaces),
        cmocka_unit_test(test_params_defaults_and_bounds),
        cmocka_unit_test(test_set_param_strings),
        cmocka_unit_test(test_explain_params),
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_recommend),
        cmocka_unit_test(test_recommend_ties),
        cmocka_unit_test(test_eval_ranking_by_hand),
        cmocka_unit_test(test_eval_ranking_random),
        cmocka_unit_test(test_eval_ranking_ties),
        cmocka_unit_test(test_eval_rmse),
        DIR_TEST(test_save_load),
        DIR_TEST(test_save_load_compute_loss),
        DIR_TEST(test_load_corrupt),
        DIR_TEST(test_interactions),
        DIR_TEST(test_run_identity),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_cancel_long_fit),
        DIR_TEST(test_export_npy),
        DIR_TEST(test_model_errors),
        cmocka_unit_test(test_fit_nonfinite),
        cmocka_unit_test(test_ratings_basics),
        cmocka_unit_test(test_movielens_quality),
    };
    return cmocka_run_group_tests_name("als", tests, NULL, NULL);
}
