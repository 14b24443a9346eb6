/* The distributed fit's calls (als.h, group als_shard), through the public API only.
 *
 * The reference is als_model_fit on the concatenation of the shards (shard 0's rows, then
 * shard 1's, ...), with the same parameters and seed. Checked here:
 * - the initial factors of als_shard_init_factors are bit for bit those of a maxIter = 0 fit,
 *   at the rows als.h gives (user j of shard s: users of shards 0..s-1 + j; items in order
 *   of first appearance over the shards);
 * - against the fit's final item factors, als_shard_solve_users gives the fit's final user
 *   factors bit for bit (the fit's last half-step), with the Gramian from als_shard_gram or
 *   computed by the call;
 * - the whole loop (item equations per shard, summed, solve_items, Gramian, solve_users per
 *   shard) for 6 iterations equals the fit within 1e-4 (max |d| / (1 + |ref|)), implicit,
 *   explicit, regScaling none, nonnegative; at maxIter 0 it is the initial factors;
 * - als_shard_item_equations against sums in double computed here (1e-12 relative);
 * - als_model_set_factors gives a model that predicts and recommends as the fitted one;
 * - the errors: NULL, dims, duplicate and unknown ids, NaN, cg, negative counts. */
#include "testutil.h"

#define RANK 5
#define NU 90
#define NI 30
#define NS 3

static int64_t uid(int u) { return (int64_t)u * 7919 - 300000; }
static int64_t iid(int i) { return 5000 - 13 * (int64_t)i; }

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

/* Shard s holds the users u with u % NS == s; rows shuffled within each shard; values with
 * negatives and zeros (implicit), duplicates; user 0 only non-positive, user 1 only zeros.
 * all = the concatenation of the shards. */
typedef struct {
    triples part[NS], all;
    als_ratings *shard[NS], *whole;
} problem;

static void make_problem(problem *pb, int implicit, uint64_t seed) {
    uint64_t s = seed;
    memset(pb, 0, sizeof *pb);
    for (int u = 0; u < NU; u++) {
        triples *t = &pb->part[u % NS];
        int any = 0;
        for (int i = 0; i < NI; i++) {
            if (tu_uniform(&s) >= 0.3) continue;
            float v = implicit ? (float)(tu_next(&s) % 7) - 1.0f : (float)(1 + tu_next(&s) % 5);
            if (u == 0) v = implicit ? -1.0f : 0.0f;
            if (u == 1) v = 0.0f;
            tr_push(t, uid(u), iid(i), v);
            if (tu_uniform(&s) < 0.1) tr_push(t, uid(u), iid(i), v); /* a duplicate */
            any = 1;
        }
        if (!any) tr_push(t, uid(u), iid(u % NI), 2.0f);
    }
    for (int i = 0; i < NI; i++) tr_push(&pb->part[i % NS], uid(NS * (1 + i % 5) + i % NS), iid(i), 3.0f);
    for (int k = 0; k < NS; k++) {
        triples *t = &pb->part[k];
        for (int64_t a = t->n - 1; a > 0; a--) {
            int64_t b = (int64_t)(tu_next(&s) % (uint64_t)(a + 1));
            int64_t tu = t->u[a], ti = t->i[a];
            float tv = t->v[a];
            t->u[a] = t->u[b], t->i[a] = t->i[b], t->v[a] = t->v[b];
            t->u[b] = tu, t->i[b] = ti, t->v[b] = tv;
        }
        assert_ok(als_ratings_create(&pb->shard[k]));
        assert_ok(als_ratings_add(pb->shard[k], t->n, t->u, t->i, t->v));
        for (int64_t a = 0; a < t->n; a++) tr_push(&pb->all, t->u[a], t->i[a], t->v[a]);
    }
    assert_ok(als_ratings_create(&pb->whole));
    assert_ok(als_ratings_add(pb->whole, pb->all.n, pb->all.u, pb->all.i, pb->all.v));
}

static void free_problem(problem *pb) {
    for (int k = 0; k < NS; k++) {
        tr_free(&pb->part[k]);
        als_ratings_destroy(pb->shard[k]);
    }
    tr_free(&pb->all);
    als_ratings_destroy(pb->whole);
}

typedef struct {
    int implicit, scaling, nonneg;
    double reg, alpha;
} cfg;

static als_model *new_model(const cfg *c, int max_iter, int64_t seed, int threads) {
    als_model *m = NULL;
    assert_ok(als_model_create(&m));
    assert_ok(als_set_int(m, ALS_PARAM_RANK, RANK));
    assert_ok(als_set_int(m, ALS_PARAM_MAX_ITER, max_iter));
    assert_ok(als_set_int(m, ALS_PARAM_IMPLICIT, c->implicit));
    assert_ok(als_set_int(m, ALS_PARAM_NONNEGATIVE, c->nonneg));
    assert_ok(als_set_int(m, ALS_PARAM_REG_SCALING, c->scaling));
    assert_ok(als_set_double(m, ALS_PARAM_REG, c->reg));
    assert_ok(als_set_double(m, ALS_PARAM_ALPHA, c->alpha));
    assert_ok(als_set_int(m, ALS_PARAM_SEED, seed));
    assert_ok(als_set_int(m, ALS_PARAM_NUM_THREADS, threads));
    return m;
}

static const float *frow(const als_matrix *m, int64_t row) {
    return als_matrix_data_const(m) + row * als_matrix_stride(m);
}

static als_matrix *new_matrix(int64_t rows) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, rows, RANK));
    return m;
}

static int64_t *shard_ids(const als_ratings *r, int side) {
    int64_t n = als_shard_ids(r, side, NULL, 0);
    assert_true(n > 0);
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    assert_non_null(ids);
    assert_int_equal(als_shard_ids(r, side, ids, n), n);
    return ids;
}

/* The distributed state: each shard's user factors, the global item order and factors. */
typedef struct {
    als_matrix *U[NS], *V;
    int64_t *uids[NS], *iids[NS], nu[NS], ni[NS];
    int64_t *gitem;   /* global item ids, in order of first appearance over the shards */
    int64_t *gpos[NS]; /* shard item j -> global item row */
    int64_t gni;
} dist;

static void dist_init(dist *d, const problem *pb, const als_model *params) {
    memset(d, 0, sizeof *d);
    d->gitem = malloc(NI * sizeof(int64_t));
    assert_non_null(d->gitem);
    int64_t off = 0;
    for (int s = 0; s < NS; s++) {
        d->nu[s] = als_ratings_num_users(pb->shard[s]);
        d->ni[s] = als_ratings_num_items(pb->shard[s]);
        d->uids[s] = shard_ids(pb->shard[s], ALS_SHARD_USERS);
        d->iids[s] = shard_ids(pb->shard[s], ALS_SHARD_ITEMS);
        d->gpos[s] = malloc((size_t)d->ni[s] * sizeof(int64_t));
        assert_non_null(d->gpos[s]);
        for (int64_t j = 0; j < d->ni[s]; j++) {
            int64_t g = -1;
            for (int64_t t = 0; t < d->gni; t++)
                if (d->gitem[t] == d->iids[s][j]) g = t;
            if (g < 0) {
                assert_true(d->gni < NI);
                g = d->gni++;
                d->gitem[g] = d->iids[s][j];
            }
            d->gpos[s][j] = g;
        }
        /* user j of shard s is row off + j of the fit on the concatenation */
        int64_t *rows = malloc((size_t)d->nu[s] * sizeof *rows);
        assert_non_null(rows);
        for (int64_t j = 0; j < d->nu[s]; j++) rows[j] = off + j;
        d->U[s] = new_matrix(d->nu[s]);
        assert_ok(als_shard_init_factors(params, ALS_SHARD_USERS, rows, d->U[s]));
        free(rows);
        off += d->nu[s];
    }
    assert_int_equal(d->gni, NI);
    d->V = new_matrix(d->gni);
    assert_ok(als_shard_init_factors(params, ALS_SHARD_ITEMS, NULL, d->V));
}

static void dist_free(dist *d) {
    for (int s = 0; s < NS; s++) {
        als_matrix_destroy(d->U[s]);
        free(d->uids[s]);
        free(d->iids[s]);
        free(d->gpos[s]);
    }
    als_matrix_destroy(d->V);
    free(d->gitem);
}

/* One iteration as a driver runs it: items from the shards' users, then the users. */
static void dist_iteration(dist *d, const problem *pb, const als_model *params, int implicit) {
    const int P = RANK * (RANK + 1) / 2;
    double *A = calloc((size_t)d->gni * P, sizeof(double)), *b = calloc((size_t)d->gni * RANK, sizeof(double));
    int64_t *cnt = calloc((size_t)d->gni, sizeof(int64_t));
    double G[RANK * RANK] = {0}, g[RANK * RANK], gv[RANK * RANK];
    assert_non_null(A);
    assert_non_null(b);
    assert_non_null(cnt);
    for (int s = 0; s < NS; s++) {
        int64_t n = d->ni[s], *ids = malloc((size_t)n * sizeof(int64_t)), *c = malloc((size_t)n * sizeof(int64_t));
        double *As = malloc((size_t)n * P * sizeof(double)), *bs = malloc((size_t)n * RANK * sizeof(double));
        assert_non_null(ids);
        assert_non_null(c);
        assert_non_null(As);
        assert_non_null(bs);
        assert_ok(als_shard_item_equations(params, pb->shard[s], d->U[s], ids, As, bs, c, g));
        for (int64_t j = 0; j < n; j++) {
            int64_t gr = d->gpos[s][j];
            assert_true(ids[j] == d->iids[s][j]);
            for (int t = 0; t < P; t++) A[gr * P + t] += As[j * P + t];
            for (int t = 0; t < RANK; t++) b[gr * RANK + t] += bs[j * RANK + t];
            cnt[gr] += c[j];
        }
        for (int t = 0; t < RANK * RANK; t++) G[t] += g[t];
        free(ids);
        free(c);
        free(As);
        free(bs);
    }
    assert_ok(als_shard_solve_items(params, d->gni, A, b, cnt, implicit ? G : NULL, d->V));
    assert_ok(als_shard_gram(params, d->V, gv));
    for (int s = 0; s < NS; s++) {
        int64_t *u = malloc((size_t)d->nu[s] * sizeof(int64_t));
        assert_non_null(u);
        assert_ok(als_shard_solve_users(params, pb->shard[s], d->gitem, d->V, implicit ? gv : NULL, u, d->U[s]));
        for (int64_t j = 0; j < d->nu[s]; j++) assert_true(u[j] == d->uids[s][j]);
        free(u);
    }
    free(A);
    free(b);
    free(cnt);
}

/* max |x - y| / (1 + |y|) of the distributed factors against the fit's. */
static double dist_diff(const dist *d, const als_model *fit) {
    const als_matrix *U = als_model_user_factors(fit), *V = als_model_item_factors(fit);
    const int64_t *fu = als_model_user_ids(fit), *fi = als_model_item_ids(fit);
    double worst = 0.0;
    int64_t off = 0;
    for (int s = 0; s < NS; s++) {
        for (int64_t j = 0; j < d->nu[s]; j++) {
            assert_true(fu[off + j] == d->uids[s][j]); /* the fit's row order */
            for (int t = 0; t < RANK; t++) {
                double x = frow(d->U[s], j)[t], y = frow(U, off + j)[t], e = fabs(x - y) / (1 + fabs(y));
                if (!(e <= worst)) worst = e;
            }
        }
        off += d->nu[s];
    }
    assert_int_equal(off, als_matrix_rows(U));
    assert_int_equal(d->gni, als_matrix_rows(V));
    for (int64_t i = 0; i < d->gni; i++) {
        assert_true(fi[i] == d->gitem[i]);
        for (int t = 0; t < RANK; t++) {
            double x = frow(d->V, i)[t], y = frow(V, i)[t], e = fabs(x - y) / (1 + fabs(y));
            if (!(e <= worst)) worst = e;
        }
    }
    return worst;
}

static const cfg CONFIGS[] = {
    {1, ALS_REG_COUNT, 0, 0.1, 2.0},
    {0, ALS_REG_COUNT, 0, 0.1, 1.0},
    {1, ALS_REG_NONE, 0, 0.05, 10.0},
    {0, ALS_REG_NONE, 1, 0.2, 1.0},
    {1, ALS_REG_COUNT, 1, 0.1, 1.0},
};
#define NCONFIGS (int)(sizeof CONFIGS / sizeof CONFIGS[0])

/* ---------------------------------------------------------------- tests */

static void test_init_matches_fit(void **state) {
    (void)state;
    problem pb;
    make_problem(&pb, 1, 11);
    cfg c = CONFIGS[0];
    for (int64_t seed = 0; seed < 3; seed++) {
        als_model *fit = new_model(&c, 0, seed * 1234567, 2);
        assert_ok(als_model_fit(fit, pb.whole));
        dist d;
        dist_init(&d, &pb, fit);
        assert_true(dist_diff(&d, fit) == 0.0);
        /* bit for bit, not only to the printed digits */
        int64_t off = 0;
        for (int s = 0; s < NS; s++) {
            for (int64_t j = 0; j < d.nu[s]; j++)
                assert_memory_equal(frow(d.U[s], j), frow(als_model_user_factors(fit), off + j), RANK * sizeof(float));
            off += d.nu[s];
        }
        for (int64_t i = 0; i < d.gni; i++)
            assert_memory_equal(frow(d.V, i), frow(als_model_item_factors(fit), i), RANK * sizeof(float));
        dist_free(&d);
        als_model_destroy(fit);
    }
    free_problem(&pb);
}

static void test_users_bitwise_from_final_items(void **state) {
    (void)state;
    for (int k = 0; k < NCONFIGS; k++) {
        const cfg *c = &CONFIGS[k];
        problem pb;
        make_problem(&pb, c->implicit, 100 + (uint64_t)k);
        als_model *fit = new_model(c, 4, 7, 2);
        assert_ok(als_model_fit(fit, pb.whole));
        const als_matrix *V = als_model_item_factors(fit), *U = als_model_user_factors(fit);
        double gv[RANK * RANK];
        assert_ok(als_shard_gram(fit, V, gv));
        int64_t off = 0;
        for (int s = 0; s < NS; s++) {
            int64_t nu = als_ratings_num_users(pb.shard[s]);
            for (int pass = 0; pass < 2; pass++) {
                als_matrix *X = new_matrix(nu);
                assert_ok(als_shard_solve_users(fit, pb.shard[s], als_model_item_ids(fit), V,
                                                pass ? NULL : gv, NULL, X));
                for (int64_t j = 0; j < nu; j++)
                    assert_memory_equal(frow(X, j), frow(U, off + j), RANK * sizeof(float));
                als_matrix_destroy(X);
            }
            off += nu;
        }
        als_model_destroy(fit);
        free_problem(&pb);
    }
}

static void test_distributed_loop_matches_fit(void **state) {
    (void)state;
    for (int k = 0; k < NCONFIGS; k++) {
        const cfg *c = &CONFIGS[k];
        problem pb;
        make_problem(&pb, c->implicit, 200 + (uint64_t)k);
        for (int threads = 1; threads <= 2; threads++) {
            als_model *fit = new_model(c, 6, 42, threads);
            assert_ok(als_model_fit(fit, pb.whole));
            dist d;
            dist_init(&d, &pb, fit);
            for (int it = 0; it < 6; it++) dist_iteration(&d, &pb, fit, c->implicit);
            double e = dist_diff(&d, fit);
            print_message("  config %d (implicit %d, scaling %d, nonneg %d), %d threads: max diff %.3g\n",
                          k, c->implicit, c->scaling, c->nonneg, threads, e);
            assert_true(e <= 1e-4);
            dist_free(&d);
            als_model_destroy(fit);
        }
        free_problem(&pb);
    }
}

static void test_item_equations_by_hand(void **state) {
    (void)state;
    const int P = RANK * (RANK + 1) / 2;
    for (int implicit = 0; implicit <= 1; implicit++) {
        problem pb;
        make_problem(&pb, implicit, 300 + (uint64_t)implicit);
        cfg c = {implicit, ALS_REG_COUNT, 0, 0.1, 3.0};
        als_model *m = new_model(&c, 1, 5, 2);
        const als_ratings *r = pb.shard[1];
        const triples *t = &pb.part[1];
        int64_t nu = als_ratings_num_users(r), ni = als_ratings_num_items(r);
        int64_t *uids = shard_ids(r, ALS_SHARD_USERS), *iids = shard_ids(r, ALS_SHARD_ITEMS);
        als_matrix *X = new_matrix(nu);
        uint64_t s = 9;
        for (int64_t j = 0; j < nu; j++)
            for (int q = 0; q < RANK; q++) als_matrix_data(X)[j * RANK + q] = (float)tu_normal(&s);
        double *A = malloc((size_t)ni * P * sizeof(double)), *b = malloc((size_t)ni * RANK * sizeof(double));
        int64_t *cnt = malloc((size_t)ni * sizeof(int64_t)), *ids = malloc((size_t)ni * sizeof(int64_t));
        double g[RANK * RANK];
        assert_non_null(A);
        assert_non_null(b);
        assert_non_null(cnt);
        assert_non_null(ids);
        assert_ok(als_shard_item_equations(m, r, X, ids, A, b, cnt, g));
        for (int64_t j = 0; j < ni; j++) {
            assert_true(ids[j] == iids[j]);
            double rA[RANK][RANK] = {{0}}, rb[RANK] = {0};
            int64_t rc = 0;
            for (int64_t e = 0; e < t->n; e++) {
                if (t->i[e] != iids[j]) continue;
                int64_t u = 0;
                while (uids[u] != t->u[e]) u++;
                const float *x = frow(X, u);
                double v = t->v[e], w = implicit ? 3.0 * fabs(v) : 1.0;
                double wb = implicit ? (v > 0 ? 1.0 + 3.0 * v : 0.0) : v;
                rc += implicit ? v > 0 : 1;
                for (int p = 0; p < RANK; p++) {
                    rb[p] += wb * x[p];
                    for (int q = 0; q < RANK; q++) rA[p][q] += w * x[p] * x[q];
                }
            }
            assert_int_equal(cnt[j], rc);
            for (int p = 0, k = 0; p < RANK; p++) {
                assert_close(b[j * RANK + p], rb[p], 1e-12);
                for (int q = p; q < RANK; q++, k++) assert_close(A[j * P + k], rA[p][q], 1e-12);
            }
        }
        for (int p = 0; p < RANK; p++)
            for (int q = 0; q < RANK; q++) {
                double ref = 0;
                for (int64_t j = 0; j < nu; j++) ref += (double)frow(X, j)[p] * frow(X, j)[q];
                assert_close(g[p * RANK + q], ref, 1e-5);
            }
        free(A);
        free(b);
        free(cnt);
        free(ids);
        free(uids);
        free(iids);
        als_matrix_destroy(X);
        als_model_destroy(m);
        free_problem(&pb);
    }
}

static void test_set_factors(void **state) {
    (void)state;
    problem pb;
    make_problem(&pb, 1, 400);
    cfg c = CONFIGS[0];
    als_model *fit = new_model(&c, 3, 1, 2), *m = new_model(&c, 3, 1, 2);
    assert_ok(als_model_fit(fit, pb.whole));
    assert_int_equal(als_model_is_fitted(m), 0);
    /* strided copies: the call must honour the stride */
    const als_matrix *U = als_model_user_factors(fit), *V = als_model_item_factors(fit);
    int64_t nu = als_matrix_rows(U), ni = als_matrix_rows(V);
    float *ub = calloc((size_t)nu * 8, sizeof(float)), *vb = calloc((size_t)ni * 8, sizeof(float));
    assert_non_null(ub);
    assert_non_null(vb);
    for (int64_t i = 0; i < nu; i++) memcpy(ub + i * 8, frow(U, i), RANK * sizeof(float));
    for (int64_t i = 0; i < ni; i++) memcpy(vb + i * 8, frow(V, i), RANK * sizeof(float));
    als_matrix *Us, *Vs;
    assert_ok(als_matrix_wrap(&Us, ub, nu, RANK, 8));
    assert_ok(als_matrix_wrap(&Vs, vb, ni, RANK, 8));
    assert_ok(als_model_set_factors(m, als_model_user_ids(fit), Us, als_model_item_ids(fit), Vs));
    assert_true(als_model_is_fitted(m));
    assert_true(als_model_run_id(m) != 0);
    assert_true(als_model_run_id(m) != als_model_run_id(fit));
    for (int64_t i = 0; i < nu; i++) {
        assert_true(als_model_user_ids(m)[i] == als_model_user_ids(fit)[i]);
        assert_memory_equal(frow(als_model_user_factors(m), i), frow(U, i), RANK * sizeof(float));
        assert_int_equal(als_model_user_row(m, als_model_user_ids(fit)[i]), i);
    }
    for (int64_t i = 0; i < 20; i++) {
        int64_t u = als_model_user_ids(fit)[i % nu];
        int64_t it1[10], it2[10];
        float s1[10], s2[10];
        assert_ok(als_model_recommend(fit, u, 10, pb.whole, it1, s1));
        assert_ok(als_model_recommend(m, u, 10, pb.whole, it2, s2));
        assert_memory_equal(it1, it2, sizeof it1);
        assert_memory_equal(s1, s2, sizeof s1);
        float p1, p2;
        int64_t item = als_model_item_ids(fit)[i % ni];
        assert_ok(als_model_predict(fit, 1, &u, &item, &p1));
        assert_ok(als_model_predict(m, 1, &u, &item, &p2));
        assert_true(p1 == p2);
    }
    /* fold-in uses V^T V: the same factor */
    int64_t items[3] = {iid(0), iid(3), iid(7)};
    float f1[RANK], f2[RANK];
    assert_true(als_model_fold_in(fit, 3, items, NULL, f1) >= 0);
    assert_true(als_model_fold_in(m, 3, items, NULL, f2) >= 0);
    assert_memory_equal(f1, f2, sizeof f1);
    double e1[ALS_METRIC_COUNT], e2[ALS_METRIC_COUNT];
    assert_ok(als_eval_ranking(fit, pb.whole, pb.shard[0], 5, e1, ALS_METRIC_COUNT));
    assert_ok(als_eval_ranking(m, pb.whole, pb.shard[0], 5, e2, ALS_METRIC_COUNT));
    assert_memory_equal(e1, e2, sizeof e1);

    /* refusals leave the model as it was */
    uint64_t run = als_model_run_id(m);
    int64_t *dup = malloc((size_t)nu * sizeof(int64_t));
    assert_non_null(dup);
    memcpy(dup, als_model_user_ids(fit), (size_t)nu * sizeof(int64_t));
    dup[nu - 1] = dup[0];
    assert_fails_with(als_model_set_factors(m, dup, Us, als_model_item_ids(fit), Vs), ALS_EINVAL);
    assert_non_null(strstr(als_last_error(), "twice"));
    assert_fails_with(als_model_set_factors(m, NULL, Us, als_model_item_ids(fit), Vs), ALS_EINVAL);
    assert_fails_with(als_model_set_factors(NULL, dup, Us, als_model_item_ids(fit), Vs), ALS_EINVAL);
    als_matrix *wide;
    assert_ok(als_matrix_wrap(&wide, ub, nu, RANK + 1, 8));
    assert_fails_with(als_model_set_factors(m, als_model_user_ids(fit), wide, als_model_item_ids(fit), Vs), ALS_EDIM);
    als_matrix *empty;
    assert_ok(als_matrix_create(&empty, 0, RANK));
    assert_fails_with(als_model_set_factors(m, als_model_user_ids(fit), empty, als_model_item_ids(fit), Vs), ALS_ERANGE);
    ub[3] = NAN;
    assert_fails_with(als_model_set_factors(m, als_model_user_ids(fit), Us, als_model_item_ids(fit), Vs), ALS_EINVAL);
    assert_int_equal(als_model_run_id(m), run);
    assert_true(als_model_is_fitted(m));
    assert_int_equal(als_matrix_rows(als_model_user_factors(m)), nu);
    als_matrix_destroy(empty);
    als_matrix_destroy(wide);
    free(dup);
    als_matrix_destroy(Us);
    als_matrix_destroy(Vs);
    free(ub);
    free(vb);
    als_model_destroy(fit);
    als_model_destroy(m);
    free_problem(&pb);
}

static void test_errors(void **state) {
    (void)state;
    problem pb;
    make_problem(&pb, 1, 500);
    cfg c = CONFIGS[0];
    als_model *m = new_model(&c, 2, 1, 1);
    assert_ok(als_model_fit(m, pb.whole));
    const als_matrix *V = als_model_item_factors(m);
    const int64_t *vids = als_model_item_ids(m);
    als_ratings *r = pb.shard[0], *none;
    assert_ok(als_ratings_create(&none));
    int64_t nu = als_ratings_num_users(r), ni = als_ratings_num_items(r);
    als_matrix *X = new_matrix(nu), *Xbad = new_matrix(nu + 1), *Vout = new_matrix(NI);
    const int P = RANK * (RANK + 1) / 2;
    double *A = calloc((size_t)NI * P, sizeof(double)), *b = calloc((size_t)NI * RANK, sizeof(double));
    int64_t *cnt = calloc(NI, sizeof(int64_t)), ids[NI];
    double g[RANK * RANK] = {0};
    assert_non_null(A);
    assert_non_null(b);
    assert_non_null(cnt);

    /* ids */
    assert_int_equal(als_shard_ids(r, ALS_SHARD_USERS, NULL, 0), nu);
    assert_int_equal(als_shard_ids(r, ALS_SHARD_ITEMS, ids, 2), ni); /* more than cap */
    assert_fails_with((int)als_shard_ids(r, 7, NULL, 0), ALS_EINVAL);
    assert_fails_with((int)als_shard_ids(NULL, ALS_SHARD_USERS, NULL, 0), ALS_EINVAL);
    assert_fails_with((int)als_shard_ids(r, ALS_SHARD_USERS, NULL, 3), ALS_EINVAL);
    assert_fails_with((int)als_shard_ids(r, ALS_SHARD_USERS, ids, -1), ALS_ERANGE);
    /* init */
    int64_t neg[2] = {0, -4};
    als_matrix *two = new_matrix(2);
    assert_fails_with(als_shard_init_factors(m, ALS_SHARD_USERS, neg, two), ALS_ERANGE);
    assert_fails_with(als_shard_init_factors(m, 0, NULL, two), ALS_EINVAL);
    assert_fails_with(als_shard_init_factors(NULL, ALS_SHARD_USERS, NULL, two), ALS_EINVAL);
    als_matrix *bad_cols;
    assert_ok(als_matrix_create(&bad_cols, 2, RANK + 1));
    assert_fails_with(als_shard_init_factors(m, ALS_SHARD_USERS, NULL, bad_cols), ALS_EDIM);
    assert_fails_with(als_shard_gram(m, bad_cols, g), ALS_EDIM);
    assert_fails_with(als_shard_gram(m, V, NULL), ALS_EINVAL);
    /* solve_users */
    assert_fails_with(als_shard_solve_users(m, r, vids, V, NULL, NULL, Xbad), ALS_EDIM);
    assert_fails_with(als_shard_solve_users(m, r, vids, bad_cols, NULL, NULL, X), ALS_EDIM);
    assert_fails_with(als_shard_solve_users(m, none, vids, V, NULL, NULL, X), ALS_ERANGE);
    assert_fails_with(als_shard_solve_users(m, r, NULL, V, NULL, NULL, X), ALS_EINVAL);
    als_matrix *Vfew;
    assert_ok(als_matrix_view_rows(&Vfew, V, 0, 3));
    assert_fails_with(als_shard_solve_users(m, r, vids, Vfew, NULL, NULL, X), ALS_ENOTFOUND);
    int64_t *dup = malloc(NI * sizeof(int64_t));
    assert_non_null(dup);
    memcpy(dup, vids, NI * sizeof(int64_t));
    dup[5] = dup[2];
    assert_fails_with(als_shard_solve_users(m, r, dup, V, NULL, NULL, X), ALS_EINVAL);
    assert_non_null(strstr(als_last_error(), "twice"));
    double gnan[RANK * RANK] = {0};
    gnan[3] = NAN;
    assert_fails_with(als_shard_solve_users(m, r, vids, V, gnan, NULL, X), ALS_EINVAL);
    /* item equations */
    assert_fails_with(als_shard_item_equations(m, r, Xbad, ids, A, b, cnt, g), ALS_EDIM);
    assert_fails_with(als_shard_item_equations(m, r, X, ids, NULL, b, cnt, g), ALS_EINVAL);
    assert_fails_with(als_shard_item_equations(m, none, X, ids, A, b, cnt, g), ALS_ERANGE);
    als_matrix_data(X)[1] = INFINITY;
    assert_fails_with(als_shard_item_equations(m, r, X, ids, A, b, cnt, g), ALS_EINVAL);
    als_matrix_data(X)[1] = 0.0f;
    assert_ok(als_shard_item_equations(m, r, X, NULL, A, b, cnt, NULL));
    /* solve items */
    assert_fails_with(als_shard_solve_items(m, NI, A, b, cnt, NULL, Vout), ALS_EINVAL); /* implicit */
    assert_fails_with(als_shard_solve_items(m, NI - 1, A, b, cnt, g, Vout), ALS_EDIM);
    assert_fails_with(als_shard_solve_items(m, -1, A, b, cnt, g, Vout), ALS_ERANGE);
    assert_fails_with(als_shard_solve_items(m, INT64_MAX / 2, A, b, cnt, g, Vout), ALS_ERANGE);
    cnt[4] = -1;
    assert_fails_with(als_shard_solve_items(m, NI, A, b, cnt, g, Vout), ALS_EINVAL);
    cnt[4] = 0;
    b[7] = NAN;
    assert_fails_with(als_shard_solve_items(m, NI, A, b, cnt, g, Vout), ALS_EINVAL);
    b[7] = 0.0;
    /* all-zero b: zero rows, as the fit gives a row without usable ratings */
    memset(b, 0, (size_t)NI * RANK * sizeof(double));
    assert_ok(als_shard_solve_items(m, NI, A, b, cnt, g, Vout));
    for (int64_t i = 0; i < NI; i++)
        for (int q = 0; q < RANK; q++) assert_true(frow(Vout, i)[q] == 0.0f);
    als_matrix *Vnone;
    assert_ok(als_matrix_create(&Vnone, 0, RANK));
    assert_ok(als_shard_solve_items(m, 0, NULL, NULL, NULL, g, Vnone)); /* no items: nothing to do */
    als_matrix_destroy(Vnone);
    als_matrix_destroy(Vfew);
    /* cg is refused by every solving call */
    assert_ok(als_set_param(m, "solver", "cg"));
    assert_fails_with(als_shard_solve_users(m, r, vids, V, NULL, NULL, X), ALS_EUNSUPPORTED);
    assert_fails_with(als_shard_item_equations(m, r, X, ids, A, b, cnt, g), ALS_EUNSUPPORTED);
    assert_fails_with(als_shard_solve_items(m, NI, A, b, cnt, g, Vout), ALS_EUNSUPPORTED);
    assert_ok(als_set_param(m, "nonnegative", "true")); /* cg + nonnegative is NNLS: fine */
    assert_ok(als_shard_solve_users(m, r, vids, V, NULL, NULL, X));
    free(dup);
    free(A);
    free(b);
    free(cnt);
    als_matrix_destroy(bad_cols);
    als_matrix_destroy(two);
    als_matrix_destroy(X);
    als_matrix_destroy(Xbad);
    als_matrix_destroy(Vout);
    als_ratings_destroy(none);
    als_model_destroy(m);
    free_problem(&pb);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_matches_fit),
        cmocka_unit_test(test_users_bitwise_from_final_items),
        cmocka_unit_test(test_distributed_loop_matches_fit),
        cmocka_unit_test(test_item_equations_by_hand),
        cmocka_unit_test(test_set_factors),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests_name("als_shard", tests, NULL, NULL);
}
