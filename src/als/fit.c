/* Training: CSR by user and CSC by item built once by counting sort, Gaussian unit-norm
 * initial factors, then per iteration items from users and users from items (Spark's
 * order), rows solved in parallel with a dynamic schedule. */
#include <math.h>
#include <stdatomic.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>

#include "als/model_internal.h"

typedef struct {
    int64_t *ptr; /* rows + 1 */
    int32_t *col;
    float *val;
    int64_t rows;
    int borrowed; /* col and val point into the ratings (already in row order) */
} csr;

static void csr_free(csr *c) {
    free(c->ptr);
    if (!c->borrowed) {
        als__afree(c->col);
        als__afree(c->val);
    }
    memset(c, 0, sizeof *c);
}

/* Ratings already grouped by `key` in non-decreasing order (files sorted by user, the usual
 * export) are their own CSR: only the row pointers are built, and the columns and values
 * are read in place, which saves 8 bytes per rating of peak memory. */
static int csr_borrow(csr *c, int64_t rows, int64_t n, const int32_t *key, const int32_t *other,
                      const float *vals) {
    for (int64_t t = 1; t < n; t++)
        if (key[t] < key[t - 1]) return 0;
    c->rows = rows;
    c->ptr = calloc((size_t)rows + 1, sizeof(int64_t));
    if (!c->ptr) return 0; /* fall back to the copying build, which reports the error */
    for (int64_t t = 0; t < n; t++) c->ptr[key[t] + 1]++;
    for (int64_t r = 0; r < rows; r++) c->ptr[r + 1] += c->ptr[r];
    c->col = (int32_t *)other;
    c->val = (float *)vals;
    c->borrowed = 1;
    return 1;
}

/* Counting sort of the ratings by `key` (dense row index); columns from `other`. Stable:
 * a row's entries keep the input order, so results do not depend on anything else. */
static int csr_build(csr *c, int64_t rows, int64_t n, const int32_t *key, const int32_t *other,
                     const float *vals) {
    c->rows = rows;
    c->ptr = calloc((size_t)rows + 1, sizeof(int64_t));
    c->col = als__aalloc((size_t)(n ? n : 1), sizeof(int32_t));
    c->val = als__aalloc((size_t)(n ? n : 1), sizeof(float));
    int64_t *pos = malloc((size_t)(rows ? rows : 1) * sizeof(int64_t));
    if (!c->ptr || !c->col || !c->val || !pos) {
        free(pos);
        csr_free(c);
        return ALS_ENOMEM;
    }
    for (int64_t t = 0; t < n; t++) c->ptr[key[t] + 1]++;
    for (int64_t r = 0; r < rows; r++) c->ptr[r + 1] += c->ptr[r];
    memcpy(pos, c->ptr, (size_t)rows * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        int64_t at = pos[key[t]]++;
        c->col[at] = other[t];
        c->val[at] = vals[t];
    }
    free(pos);
    return ALS_OK;
}

/* Each factor row: `rank` Gaussian draws normalized to unit length (Spark's scheme), from
 * an RNG seeded by (seed, side, row) so that threads and order do not matter. */
/* Row i's initial factor: a Gaussian vector drawn from (seed, side, i) alone, normalized
 * (the distributed fit, shard.c, draws the same for the same row numbers). */
void als__init_row(float *f, int r, uint64_t seed, uint64_t side, int64_t i) {
    als__rng g;
    als__rng_seed(&g, seed * 0x9E3779B97F4A7C15ull ^ (side << 62) ^ (uint64_t)i);
    double ss = 0.0;
    for (int j = 0; j < r; j += 2) {
        double u1 = als__rng_unit(&g), u2 = als__rng_unit(&g);
        if (u1 < 1e-300) u1 = 1e-300;
        double rad = sqrt(-2.0 * log(u1));
        f[j] = (float)(rad * cos(6.283185307179586 * u2));
        if (j + 1 < r) f[j + 1] = (float)(rad * sin(6.283185307179586 * u2));
    }
    for (int j = 0; j < r; j++) ss += (double)f[j] * f[j];
    double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
    for (int j = 0; j < r; j++) f[j] = (float)(f[j] * inv);
}

static void init_factors(float *F, int64_t rows, int r, uint64_t seed, uint64_t side) {
    for (int64_t i = 0; i < rows; i++) als__init_row(F + i * r, r, seed, side, i);
}

#define GRAM_BLOCK 4096

int als__gram(const float *Y, int64_t n, int r, int nthreads, double *out) {
    int64_t nb = (n + GRAM_BLOCK - 1) / GRAM_BLOCK;
    size_t rr = (size_t)r * (size_t)r;
    /* BLIS's edge kernels may read a few floats past the last C block: pad the buffer. */
    float *part = malloc(((size_t)(nb ? nb : 1) * rr + 64) * sizeof(float));
    if (!part) return ALS_ENOMEM;
    /* Each block of rows: Y_b^T Y_b with BLIS in float (single-threaded inside, we are
     * already parallel); the blocks are then added in double, in block order. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nthreads)
    for (int64_t b = 0; b < nb; b++) {
        int64_t r0 = b * GRAM_BLOCK, rn = n - r0 < GRAM_BLOCK ? n - r0 : GRAM_BLOCK;
        float one = 1.0f, zero = 0.0f;
        rntm_t rt;
        bli_rntm_init(&rt);
        bli_rntm_set_num_threads(1, &rt);
        bli_sgemm_ex(BLIS_TRANSPOSE, BLIS_NO_TRANSPOSE, r, r, rn, &one, (float *)Y + r0 * r, r, 1,
                     (float *)Y + r0 * r, r, 1, &zero, part + (size_t)b * rr, r, 1, NULL, &rt);
    }
    memset(out, 0, rr * sizeof(double));
    for (int64_t b = 0; b < nb; b++)
        for (size_t t = 0; t < rr; t++) out[t] += part[(size_t)b * rr + t];
    free(part);
    return ALS_OK;
}

/* Solve every row of `m` (rows x r factors in X) against Y. */
static int half_step(const als__params *p, const csr *m, const float *Y, int64_t ny, float *X,
                     int r, int nt, double *gram, als__solver *sol, const _Atomic int *cancel) {
    if (p->implicit) {
        int rc = als__gram(Y, ny, r, nt, gram);
        if (rc) return rc;
    }
    float *gram_f = NULL;
    int rp = (r + 15) / 16 * 16;
    if (p->implicit && p->solver == ALS_SOLVER_CG) {
        gram_f = als__aalloc((size_t)r * (size_t)rp, sizeof(float));
        if (!gram_f) return ALS_ENOMEM;
        for (int i = 0; i < r; i++)
            for (int j = 0; j < rp; j++) gram_f[i * rp + j] = j < r ? (float)gram[i * r + j] : 0.0f;
    }
    als__solve_ctx ctx = {p, p->implicit ? gram : NULL, Y, r, gram_f, cancel};
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt)
    for (int64_t row = 0; row < m->rows; row++) {
        if (atomic_load_explicit(cancel, memory_order_relaxed)) continue; /* skip the rest */
        int64_t a = m->ptr[row], e = m->ptr[row + 1];
        als__solve_row(&ctx, &sol[omp_get_thread_num()], m->col + a, m->val + a, e - a, X + row * r);
    }
    als__afree(gram_f);
    return ALS_OK;
}

/* The training objective (see als.h), computed in double. */
static double loss(const als__params *p, const csr *byu, const csr *byi, const float *U,
                   const float *V, int64_t nu, int r, const double *gram_v, int nt) {
    double total = 0.0;
    int implicit = p->implicit != 0, count = p->reg_scaling == ALS_REG_COUNT;
#pragma omp parallel for schedule(dynamic, 256) reduction(+ : total) num_threads(nt)
    for (int64_t u = 0; u < nu; u++) {
        const float *x = U + u * r;
        double t = 0.0, xx = 0.0;
        int64_t n_u = 0;
        if (implicit)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) t += x[i] * gram_v[i * r + j] * x[j];
        for (int64_t e = byu->ptr[u]; e < byu->ptr[u + 1]; e++) {
            const float *y = V + (int64_t)byu->col[e] * r;
            double s = 0.0, v = byu->val[e];
            for (int j = 0; j < r; j++) s += (double)x[j] * y[j];
            if (implicit) {
                double c = 1.0 + p->alpha * fabs(v), pr = v > 0 ? 1.0 : 0.0;
                t += c * (pr - s) * (pr - s) - s * s;
                n_u += v > 0;
            } else {
                t += (v - s) * (v - s);
                n_u++;
            }
        }
        for (int j = 0; j < r; j++) xx += (double)x[j] * x[j];
        total += t + p->reg * (count ? (double)n_u : (n_u > 0 ? 1.0 : 0.0)) * xx;
    }
    double reg_items = 0.0;
    for (int64_t i = 0; i < byi->rows; i++) {
        int64_t n_i = 0;
        for (int64_t e = byi->ptr[i]; e < byi->ptr[i + 1]; e++) n_i += implicit ? byi->val[e] > 0 : 1;
        double yy = 0.0;
        for (int j = 0; j < r; j++) yy += (double)V[i * r + j] * V[i * r + j];
        reg_items += p->reg * (count ? (double)n_i : (n_i > 0 ? 1.0 : 0.0)) * yy;
    }
    return total + reg_items;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

ALS_API int als_model_fit(als_model *m, const als_ratings *R) {
    if (!m || !R) return als__errf(ALS_EINVAL, "als_model_fit: NULL argument");
    if (R->n == 0) return als__errf(ALS_ERANGE, "als_model_fit: no ratings");
    int64_t nu = R->umap.n, ni = R->imap.n, n = R->n;
    if (nu > INT32_MAX || ni > INT32_MAX)
        return als__errf(ALS_ERANGE, "als_model_fit: more than 2^31 users or items");
    als__params p = m->p;
    int r = (int)p.rank, nt = als__threads((int64_t)p.num_threads);
    csr byu = {0}, byi = {0};
    als_matrix *U = NULL, *V = NULL;
    double *gram = malloc((size_t)r * (size_t)r * sizeof(double));
    als__solver *sol = calloc((size_t)nt, sizeof *sol);
    int rc = ALS_OK, ok = gram && sol;
    for (int t = 0; ok && t < nt; t++) ok = als__solver_init(&sol[t], r) == ALS_OK;
    int bu = ALS_OK, bi = ALS_OK;
    if (ok) {
        /* The two counting sorts are independent: one thread each. */
#pragma omp parallel sections num_threads(nt > 1 ? 2 : 1)
        {
#pragma omp section
            if (!csr_borrow(&byu, nu, n, R->urow, R->irow, R->values))
                bu = csr_build(&byu, nu, n, R->urow, R->irow, R->values);
#pragma omp section
            if (!csr_borrow(&byi, ni, n, R->irow, R->urow, R->values))
                bi = csr_build(&byi, ni, n, R->irow, R->urow, R->values);
        }
    }
    if (!ok || bu || bi || als_matrix_create(&U, nu, r) || als_matrix_create(&V, ni, r)) {
        rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory for %lld ratings, %lld users, "
                       "%lld items at rank %d", (long long)n, (long long)nu, (long long)ni, r);
        goto done;
    }
    float *Uf = als_matrix_data(U), *Vf = als_matrix_data(V);
    init_factors(Uf, nu, r, (uint64_t)p.seed_exact, 1);
    init_factors(Vf, ni, r, (uint64_t)p.seed_exact, 2);
    double t0 = now();
    int iters = (int)p.max_iter;
    for (int it = 1; it <= iters; it++) {
        if ((rc = half_step(&p, &byi, Uf, nu, Vf, r, nt, gram, sol, &m->cancel)) ||
            (rc = half_step(&p, &byu, Vf, ni, Uf, r, nt, gram, sol, &m->cancel))) {
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done;
        }
        if (atomic_load(&m->cancel)) { /* mid-iteration: these factors are half-updated */
            rc = als__errf(ALS_ECANCELED, "als_model_fit: canceled by als_model_cancel during "
                           "iteration %d of %d; the model keeps its previous state", it, iters);
            goto done;
        }
        int64_t failed = 0;
        for (int t = 0; t < nt; t++) failed += sol[t].failed, sol[t].failed = 0;
        if (failed) {
            rc = als__errf(ALS_EINTERNAL, "als_model_fit: %lld row systems could not be solved at "
                           "iteration %d, even in double precision with a ridge (values or alpha "
                           "too large for double, or NaN): try a larger regParam, a smaller alpha "
                           "or scaled values", (long long)failed, it);
            goto done;
        }
        if (als__first_nonfinite_row(Uf, nu, r, r) >= 0 || als__first_nonfinite_row(Vf, ni, r, r) >= 0) {
            rc = als__errf(ALS_EINTERNAL, "als_model_fit: factors became NaN/Inf at iteration %d "
                           "(try a larger regParam)", it);
            goto done;
        }
        double l = NAN;
        if (p.compute_loss) {
            if (p.implicit && als__gram(Vf, ni, r, nt, gram)) {
                rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
                goto done;
            }
            l = loss(&p, &byu, &byi, Uf, Vf, nu, r, gram, nt);
        }
        if (m->progress && m->progress(m->progress_user, it, iters, now() - t0, l) != 0) {
            rc = als__errf(ALS_ECANCELED, "als_model_fit: canceled by the progress callback after "
                           "iteration %d of %d", it, iters);
            break; /* the factors of iteration `it` are complete: keep them */
        }
    }
    /* Install the new state. */
    {
        als__idmap um, im;
        if (als__idmap_copy(&um, &R->umap)) {
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done;
        }
        if (als__idmap_copy(&im, &R->imap)) {
            als__idmap_free(&um);
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done;
        }
        /* The caches of the new factors are built on a copy first: a failure there must
         * leave the previous model as it was (als.h), so nothing is cleared before. */
        als_model nm = *m;
        nm.U = U;
        nm.V = V;
        nm.umap = um;
        nm.imap = im;
        nm.p_fit = p;
        nm.fitted = 1;
        nm.gram_v = NULL;
        nm.vpanels = NULL;
        if (als__model_finish(&nm)) {
            free(nm.gram_v);
            als__afree(nm.vpanels);
            als__idmap_free(&um);
            als__idmap_free(&im);
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done; /* U and V are freed there; m is untouched */
        }
        als__model_clear(m);
        m->U = U;
        m->V = V;
        U = V = NULL;
        m->umap = um;
        m->imap = im;
        m->gram_v = nm.gram_v;
        m->vpanels = nm.vpanels;
        m->p_fit = p;
        m->fitted = 1;
        m->run_id = als__new_run_id();
    }
done:
    atomic_store(&m->cancel, 0);
    for (int t = 0; sol && t < nt; t++) als__solver_free(&sol[t]);
    free(sol);
    free(gram);
    csr_free(&byu);
    csr_free(&byi);
    als_matrix_destroy(U);
    als_matrix_destroy(V);
    return rc;
}
