/* The distributed fit's building blocks (als.h, group als_shard): ratings sharded by user,
 * item factors sent to the shards, partial item normal equations sent back and summed.
 *
 * What is shared with the single-process fit, and how:
 * - a user row is solved by als__solve_row (solve.c) on the shard's CSR, against the
 *   shard's items' factors gathered into a dense block: the same numbers in the same order
 *   as in als_model_fit, so the same bits;
 * - the Gramians come from als__gram (fit.c);
 * - the initial factors repeat fit.c's init_factors (a static function there) line for
 *   line; tests/test_als_shard.c checks that they are bit for bit those of a maxIter = 0 fit;
 * - the item systems arrive already summed in double and are solved by solve.c's
 *   als__solve_packed, the single-process fit's item solve (ridge ladder, pivot floor 1e-13
 *   of the mean diagonal). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "als/model_internal.h"

/* ------------------------------------------------------------------ shared checks */

/* The parameters of a holder model, refusing the CG solver (it warm-starts from factors
 * these calls do not keep; with nonnegative the fit uses NNLS, which is allowed). */
static int shard_params(const als_model *m, const char *fn, als__params *p) {
    memset(p, 0, sizeof *p);
    if (!m) return als__errf(ALS_EINVAL, "%s: the parameter model is NULL", fn);
    *p = m->p;
    if (p->solver == ALS_SOLVER_CG && !p->nonnegative)
        return als__errf(ALS_EUNSUPPORTED, "%s: solver cg is not supported by the distributed "
                         "fit (it warm-starts from factors the shards do not keep): use solver "
                         "cholesky", fn);
    return ALS_OK;
}

static int check_cols(const als_matrix *f, int r, const char *fn, const char *what) {
    if (als_matrix_cols(f) != r)
        return als__errf(ALS_EDIM, "%s: %s has %lld columns, the rank is %d", fn, what,
                         (long long)als_matrix_cols(f), r);
    return ALS_OK;
}

static int check_finite(const als_matrix *f, const char *fn, const char *what) {
    int64_t rows = als_matrix_rows(f), bad;
    if (rows == 0 || als_matrix_cols(f) == 0) return ALS_OK;
    bad = als__first_nonfinite_row(als_matrix_data_const(f), rows, als_matrix_cols(f),
                                   als_matrix_stride(f));
    if (bad >= 0)
        return als__errf(ALS_EINVAL, "%s: row %lld of %s holds NaN or Inf", fn, (long long)bad, what);
    return ALS_OK;
}

static int finite_doubles(const double *x, size_t n) {
    for (size_t t = 0; t < n; t++)
        if (!isfinite(x[t])) return 0;
    return 1;
}

/* The rows of f as a dense rows x r block: f's own buffer when its stride is r, else a copy
 * in *copy (free with als__afree). NULL only on allocation failure of a non-empty copy. */
static const float *dense_rows(const als_matrix *f, int r, float **copy) {
    int64_t rows = als_matrix_rows(f), stride = als_matrix_stride(f);
    const float *src = als_matrix_data_const(f);
    static const float none[1] = {0.0f};
    *copy = NULL;
    if (rows == 0) return none;
    if (stride == r) return src;
    float *d = als__aalloc((size_t)rows * (size_t)r, sizeof(float));
    if (!d) return NULL;
    for (int64_t i = 0; i < rows; i++) memcpy(d + i * r, src + i * stride, (size_t)r * sizeof(float));
    *copy = d;
    return d;
}

/* Rows of ratings grouped by user or item (ratings.c's stable counting sort, as the fit's). */
typedef struct {
    int64_t *ptr;
    int32_t *col;
    float *val;
} groups;

/* als__solve_rows's view of groups: pointers into them. */
static int64_t group_row(void *user, int t, int64_t row, const int32_t **cols, const float **vals) {
    const groups *g = user;
    (void)t;
    *cols = g->col + g->ptr[row];
    *vals = g->val + g->ptr[row];
    return g->ptr[row + 1] - g->ptr[row];
}

static void groups_free(groups *g) {
    free(g->ptr);
    als__afree(g->col);
    als__afree(g->val);
    memset(g, 0, sizeof *g);
}

static int groups_build(groups *g, const als_ratings *r, int by_item) {
    return als__ratings_group(r, by_item, &g->ptr, &g->col, &g->val);
}

/* ------------------------------------------------------------------ ids, init, Gramian */

ALS_API int64_t als_shard_ids(const als_ratings *shard, int side, int64_t *ids_out, int64_t cap) {
    static const char fn[] = "als_shard_ids";
    if (!shard || (!ids_out && cap > 0)) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (side != ALS_SHARD_USERS && side != ALS_SHARD_ITEMS)
        return als__errf(ALS_EINVAL, "%s: side %d is neither ALS_SHARD_USERS nor ALS_SHARD_ITEMS", fn, side);
    if (cap < 0) return als__errf(ALS_ERANGE, "%s: cap %lld is negative", fn, (long long)cap);
    const als__idmap *m = side == ALS_SHARD_USERS ? &shard->umap : &shard->imap;
    int64_t k = m->n < cap ? m->n : cap;
    if (k > 0) memcpy(ids_out, m->ids, (size_t)k * sizeof(int64_t));
    return m->n;
}

ALS_API int als_shard_init_factors(const als_model *params, int side, const int64_t *rows,
                                   als_matrix *out) {
    static const char fn[] = "als_shard_init_factors";
    if (!params || !out) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (side != ALS_SHARD_USERS && side != ALS_SHARD_ITEMS)
        return als__errf(ALS_EINVAL, "%s: side %d is neither ALS_SHARD_USERS nor ALS_SHARD_ITEMS", fn, side);
    int r = (int)params->p.rank, rc;
    if ((rc = check_cols(out, r, fn, "out"))) return rc;
    int64_t n = als_matrix_rows(out), stride = als_matrix_stride(out);
    for (int64_t i = 0; rows && i < n; i++)
        if (rows[i] < 0)
            return als__errf(ALS_ERANGE, "%s: rows[%lld] = %lld is negative", fn, (long long)i,
                             (long long)rows[i]);
    float *F = als_matrix_data(out);
    uint64_t seed = (uint64_t)params->p.seed_exact;
    for (int64_t i = 0; i < n; i++) als__init_row(F + i * stride, r, seed, (uint64_t)side, rows ? rows[i] : i);
    return ALS_OK;
}

ALS_API int als_shard_gram(const als_model *params, const als_matrix *factors, double *out) {
    static const char fn[] = "als_shard_gram";
    if (!params || !factors || !out) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    int r = (int)params->p.rank, rc;
    if ((rc = check_cols(factors, r, fn, "factors"))) return rc;
    float *copy;
    const float *F = dense_rows(factors, r, &copy);
    if (!F || als__gram(F, als_matrix_rows(factors), r, als__threads((int64_t)params->p.num_threads), out)) {
        als__afree(copy);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    als__afree(copy);
    return ALS_OK;
}

/* ------------------------------------------------------------------ the shard's users */

ALS_API int als_shard_solve_users(const als_model *params, const als_ratings *shard,
                                  const int64_t *item_ids, const als_matrix *item_factors,
                                  const double *item_gram, int64_t *user_ids_out,
                                  als_matrix *user_factors) {
    static const char fn[] = "als_shard_solve_users";
    als__params p;
    int rc = shard_params(params, fn, &p);
    if (rc) return rc;
    if (!shard || !item_factors || !user_factors || (!item_ids && als_matrix_rows(item_factors) > 0))
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (shard->n == 0) return als__errf(ALS_ERANGE, "%s: the shard has no ratings", fn);
    int r = (int)p.rank, implicit = p.implicit != 0, nt = als__threads((int64_t)p.num_threads);
    int64_t nu = shard->umap.n, ni = shard->imap.n, nf = als_matrix_rows(item_factors);
    if ((rc = check_cols(item_factors, r, fn, "item_factors")) ||
        (rc = check_cols(user_factors, r, fn, "user_factors")))
        return rc;
    if (als_matrix_rows(user_factors) != nu)
        return als__errf(ALS_EDIM, "%s: user_factors has %lld rows, the shard %lld users", fn,
                         (long long)als_matrix_rows(user_factors), (long long)nu);
    if ((rc = check_finite(item_factors, fn, "item_factors"))) return rc;
    if (implicit && item_gram && !finite_doubles(item_gram, (size_t)r * (size_t)r))
        return als__errf(ALS_EINVAL, "%s: item_gram holds NaN or Inf", fn);

    als__idmap map;
    memset(&map, 0, sizeof map);
    float *Y = als__aalloc((size_t)ni * (size_t)r, sizeof(float)), *copy = NULL, *ytab = NULL;
    double *gram = implicit ? malloc((size_t)r * (size_t)r * sizeof(double)) : NULL;
    als__solver *sol = calloc((size_t)nt, sizeof *sol);
    groups byu = {0};
    int ok = Y && sol && (!implicit || gram) && !als__idmap_reserve(&map, nf);
    for (int t = 0; ok && t < nt; t++)
        ok = als__solver_init(&sol[t], r) == ALS_OK &&
             (r > ALS__BATCH_MAXR || als__solver_batch_init(&sol[t]) == ALS_OK);
    if (!ok) {
        rc = als__errf(ALS_ENOMEM, "%s: out of memory for %lld items at rank %d", fn, (long long)ni, r);
        goto done;
    }
    /* The shard's items' factors, gathered in the shard's item order: the CSR's columns
     * (the shard's dense item indexes) then address them directly. */
    for (int64_t t = 0; t < nf; t++) {
        int64_t before = map.n;
        als__idmap_put(&map, item_ids[t]); /* cannot fail: reserved */
        if (map.n == before) {
            rc = als__errf(ALS_EINVAL, "%s: item id %lld appears twice in item_ids (row %lld)",
                           fn, (long long)item_ids[t], (long long)t);
            goto done;
        }
    }
    {
        const float *F = als_matrix_data_const(item_factors);
        int64_t stride = als_matrix_stride(item_factors);
        for (int64_t j = 0; j < ni; j++) {
            int64_t row = als__idmap_get(&map, shard->imap.ids[j]);
            if (row < 0) {
                rc = als__errf(ALS_ENOTFOUND, "%s: item %lld of the shard is not in item_ids", fn,
                               (long long)shard->imap.ids[j]);
                goto done;
            }
            memcpy(Y + j * r, F + row * stride, (size_t)r * sizeof(float));
        }
    }
    if (implicit) {
        if (item_gram) {
            memcpy(gram, item_gram, (size_t)r * (size_t)r * sizeof(double));
        } else {
            const float *F = dense_rows(item_factors, r, &copy);
            if (!F || als__gram(F, nf, r, nt, gram)) {
                rc = als__errf(ALS_ENOMEM, "%s: out of memory", fn);
                goto done;
            }
        }
    }
    if (groups_build(&byu, shard, 0)) {
        rc = als__errf(ALS_ENOMEM, "%s: out of memory for %lld ratings", fn, (long long)shard->n);
        goto done;
    }
    {
        if (als__use_ytab(&p, r, nf) && als__ytab(Y, ni, r, nt, &ytab) != ALS_OK) {
            rc = als__errf(ALS_ENOMEM, "%s: out of memory", fn);
            goto done;
        }
        als__solve_ctx ctx = {&p, implicit ? gram : NULL, Y, r, NULL, NULL, ytab};
        float *X = als_matrix_data(user_factors);
        int64_t xs = als_matrix_stride(user_factors);
        als__solve_rows(&ctx, sol, nt, nu, group_row, &byu, X, xs);
        int64_t failed = 0;
        for (int t = 0; t < nt; t++) failed += sol[t].failed;
        if (failed) {
            rc = als__errf(ALS_EINTERNAL, "%s: %lld user systems could not be solved, even in "
                           "double precision with a ridge (try a larger regParam, a smaller alpha "
                           "or scaled values)", fn, (long long)failed);
            goto done;
        }
        if (als__first_nonfinite_row(X, nu, r, xs) >= 0) {
            rc = als__errf(ALS_EINTERNAL, "%s: user factors became NaN/Inf (try a larger regParam)", fn);
            goto done;
        }
    }
    if (user_ids_out) memcpy(user_ids_out, shard->umap.ids, (size_t)nu * sizeof(int64_t));
done:
    for (int t = 0; sol && t < nt; t++) als__solver_free(&sol[t]);
    free(sol);
    free(gram);
    als__afree(Y);
    als__afree(copy);
    als__afree(ytab);
    groups_free(&byu);
    als__idmap_free(&map);
    return rc;
}

/* ------------------------------------------------------------------ partial item systems */

ALS_API int als_shard_item_equations(const als_model *params, const als_ratings *shard,
                                     const als_matrix *user_factors, int64_t *item_ids_out,
                                     double *A_out, double *b_out, int64_t *counts_out,
                                     double *gram_out) {
    static const char fn[] = "als_shard_item_equations";
    als__params p;
    int rc = shard_params(params, fn, &p);
    if (rc) return rc;
    if (!shard || !user_factors || !A_out || !b_out || !counts_out)
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (shard->n == 0) return als__errf(ALS_ERANGE, "%s: the shard has no ratings", fn);
    int r = (int)p.rank, implicit = p.implicit != 0, nt = als__threads((int64_t)p.num_threads);
    int64_t nu = shard->umap.n, ni = shard->imap.n;
    size_t P = (size_t)r * (size_t)(r + 1) / 2;
    if ((rc = check_cols(user_factors, r, fn, "user_factors"))) return rc;
    if (als_matrix_rows(user_factors) != nu)
        return als__errf(ALS_EDIM, "%s: user_factors has %lld rows, the shard %lld users", fn,
                         (long long)als_matrix_rows(user_factors), (long long)nu);
    if ((rc = check_finite(user_factors, fn, "user_factors"))) return rc;
    float *copy;
    const float *X = dense_rows(user_factors, r, &copy);
    groups byi = {0};
    if (!X || groups_build(&byi, shard, 1)) {
        als__afree(copy);
        return als__errf(ALS_ENOMEM, "%s: out of memory for %lld ratings", fn, (long long)shard->n);
    }
    float alpha = (float)p.alpha;
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt)
    for (int64_t j = 0; j < ni; j++) {
        double *A = A_out + (size_t)j * P, *b = b_out + (size_t)j * (size_t)r;
        int64_t cnt = 0;
        memset(A, 0, P * sizeof(double));
        memset(b, 0, (size_t)r * sizeof(double));
        for (int64_t e = byi.ptr[j]; e < byi.ptr[j + 1]; e++) {
            const float *x = X + (int64_t)byi.col[e] * r;
            float v = byi.val[e], w, wb;
            /* solve.c's rating_weights, in float as there */
            if (implicit) {
                w = alpha * fabsf(v);
                wb = v > 0 ? 1.0f + w : 0.0f;
                cnt += v > 0;
            } else {
                w = 1.0f;
                wb = v;
                cnt++;
            }
            for (int i = 0; i < r; i++) b[i] += (double)wb * x[i];
            if (w == 0.0f) continue;
            double *Ai = A;
            for (int i = 0; i < r; i++) {
                double wi = (double)w * x[i];
                for (int k = i; k < r; k++) Ai[k - i] += wi * x[k];
                Ai += r - i;
            }
        }
        counts_out[j] = cnt;
    }
    groups_free(&byi);
    if (gram_out && als__gram(X, nu, r, nt, gram_out)) {
        als__afree(copy);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    als__afree(copy);
    if (item_ids_out) memcpy(item_ids_out, shard->imap.ids, (size_t)ni * sizeof(int64_t));
    return ALS_OK;
}

/* ------------------------------------------------------------------ the driver's item solve */

ALS_API int als_shard_solve_items(const als_model *params, int64_t n_items, const double *A,
                                  const double *b, const int64_t *counts,
                                  const double *user_gram, als_matrix *item_factors) {
    static const char fn[] = "als_shard_solve_items";
    als__params p;
    int rc = shard_params(params, fn, &p);
    if (rc) return rc;
    int r = (int)p.rank, implicit = p.implicit != 0, nt = als__threads((int64_t)p.num_threads);
    if (n_items < 0) return als__errf(ALS_ERANGE, "%s: n_items = %lld is negative", fn, (long long)n_items);
    if (!item_factors || (n_items > 0 && (!A || !b || !counts)))
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (implicit && !user_gram)
        return als__errf(ALS_EINVAL, "%s: implicit feedback needs user_gram (X^T X of all users)", fn);
    size_t P = (size_t)r * (size_t)(r + 1) / 2, nA, nb;
    if (als__mul((size_t)n_items, P * sizeof(double), &nA) ||
        als__mul((size_t)n_items, (size_t)r * sizeof(double), &nb))
        return als__errf(ALS_ERANGE, "%s: %lld items overflow the address space", fn, (long long)n_items);
    if ((rc = check_cols(item_factors, r, fn, "item_factors"))) return rc;
    if (als_matrix_rows(item_factors) != n_items)
        return als__errf(ALS_EDIM, "%s: item_factors has %lld rows for %lld items", fn,
                         (long long)als_matrix_rows(item_factors), (long long)n_items);
    if (n_items > 0 && (!finite_doubles(A, nA / sizeof(double)) || !finite_doubles(b, nb / sizeof(double))))
        return als__errf(ALS_EINVAL, "%s: A or b holds NaN or Inf", fn);
    if (implicit && !finite_doubles(user_gram, (size_t)r * (size_t)r))
        return als__errf(ALS_EINVAL, "%s: user_gram holds NaN or Inf", fn);
    for (int64_t j = 0; j < n_items; j++)
        if (counts[j] < 0)
            return als__errf(ALS_EINVAL, "%s: counts[%lld] = %lld is negative", fn, (long long)j,
                             (long long)counts[j]);
    size_t per = 2 * (size_t)r * (size_t)r + 4 * (size_t)r;
    double *scratch = malloc((size_t)nt * per * sizeof(double));
    if (!scratch) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    float *Y = als_matrix_data(item_factors);
    int64_t ys = als_matrix_stride(item_factors), failed = 0;
    const double *G = implicit ? user_gram : NULL;
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt) reduction(+ : failed)
    for (int64_t j = 0; j < n_items; j++) {
        double *work = scratch + (size_t)omp_get_thread_num() * per, *x = work + per - (size_t)r;
        float *y = Y + j * ys;
        int s = als__solve_packed(&p, r, A + (size_t)j * P, b + (size_t)j * (size_t)r, counts[j], G,
                                  work, x, NULL);
        if (s == 0) {
            for (int t = 0; t < r; t++) y[t] = (float)x[t];
        } else {
            memset(y, 0, (size_t)r * sizeof(float));
            failed += s < 0;
        }
    }
    free(scratch);
    if (failed)
        return als__errf(ALS_EINTERNAL, "%s: %lld item systems could not be solved, even with a "
                         "ridge (try a larger regParam, a smaller alpha or scaled values)", fn,
                         (long long)failed);
    if (n_items > 0 && als__first_nonfinite_row(Y, n_items, r, ys) >= 0)
        return als__errf(ALS_EINTERNAL, "%s: item factors became NaN/Inf (try a larger regParam)", fn);
    return ALS_OK;
}

/* ------------------------------------------------------------------ a model from factors */

/* ids -> map (duplicates refused) and a dense owned copy of the factors. */
static int side_copy(const int64_t *ids, const als_matrix *f, int r, als__idmap *map,
                     als_matrix **out, const char *fn, const char *side) {
    int64_t n = als_matrix_rows(f), stride = als_matrix_stride(f);
    memset(map, 0, sizeof *map);
    *out = NULL;
    if (als__idmap_reserve(map, n) || als_matrix_create(out, n, r)) {
        als__idmap_free(map);
        als_matrix_destroy(*out);
        *out = NULL;
        return als__errf(ALS_ENOMEM, "%s: out of memory for %lld %ss", fn, (long long)n, side);
    }
    for (int64_t t = 0; t < n; t++) {
        if (ids[t] == -1) {
            als__idmap_free(map);
            als_matrix_destroy(*out);
            *out = NULL;
            return als__errf(ALS_EINVAL, "%s: %s id -1 (row %lld) is reserved for missing "
                             "results", fn, side, (long long)t);
        }
        int64_t before = map->n;
        als__idmap_put(map, ids[t]);
        if (map->n == before) {
            int64_t first = als__idmap_get(map, ids[t]);
            als__idmap_free(map);
            als_matrix_destroy(*out);
            *out = NULL;
            return als__errf(ALS_EINVAL, "%s: %s id %lld appears twice (rows %lld and %lld)", fn,
                             side, (long long)ids[t], (long long)first, (long long)t);
        }
    }
    const float *src = als_matrix_data_const(f);
    float *dst = als_matrix_data(*out);
    for (int64_t t = 0; t < n; t++) memcpy(dst + t * r, src + t * stride, (size_t)r * sizeof(float));
    return ALS_OK;
}

ALS_API int als_model_set_factors(als_model *m, const int64_t *user_ids,
                                  const als_matrix *user_factors, const int64_t *item_ids,
                                  const als_matrix *item_factors) {
    static const char fn[] = "als_model_set_factors";
    if (!m || !user_ids || !user_factors || !item_ids || !item_factors)
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    int r = (int)m->p.rank, rc;
    if ((rc = check_cols(user_factors, r, fn, "user_factors")) ||
        (rc = check_cols(item_factors, r, fn, "item_factors")))
        return rc;
    if (als_matrix_rows(user_factors) < 1 || als_matrix_rows(item_factors) < 1)
        return als__errf(ALS_ERANGE, "%s: %lld users and %lld items: each side needs a row", fn,
                         (long long)als_matrix_rows(user_factors), (long long)als_matrix_rows(item_factors));
    if ((rc = check_finite(user_factors, fn, "user_factors")) ||
        (rc = check_finite(item_factors, fn, "item_factors")))
        return rc;
    /* Everything is built in a scratch model first, so a failure leaves m as it was. */
    als_model t;
    memset(&t, 0, sizeof t);
    t.p = t.p_fit = m->p;
    if ((rc = side_copy(user_ids, user_factors, r, &t.umap, &t.U, fn, "user"))) return rc;
    if ((rc = side_copy(item_ids, item_factors, r, &t.imap, &t.V, fn, "item"))) {
        als__model_clear(&t);
        return rc;
    }
    if (als__model_finish(&t)) {
        als__model_clear(&t);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    als__model_clear(m);
    m->U = t.U;
    m->V = t.V;
    m->umap = t.umap;
    m->imap = t.imap;
    m->gram_v = t.gram_v;
    m->vpanels = t.vpanels;
    m->p_fit = m->p;
    m->fitted = 1;
    m->run_id = als__new_run_id();
    return ALS_OK;
}
