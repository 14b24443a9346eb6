/* vecidx_seed_scorer: a linear scorer of "looks like the seeds", learned from the seeds'
 * vectors (positives) against a sample of the population (unlabeled), by L2-regularized
 * logistic regression with the two classes weighted equally:
 *   minimize  sum_i w_i log(1 + exp(-y_i (beta . x_i + b))) + (l2 / 2) |beta|^2
 *   w_i = 1 / (2 n_pos) for seeds (y = +1), 1 / (2 n_unl) for the sample (y = -1),
 * solved by Newton's method in double (the Hessian is (d+1) x (d+1): small for embeddings),
 * with step halving so the objective never increases. Treating the unlabeled sample as
 * negatives is the positive-unlabeled setting's standard estimator: the scores rank like
 * P(seed | x) (Elkan & Noto, 2008), which is all an audience needs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

static double log1pexp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* objective at (beta, b) */
static double objective(const als_matrix *pos, const als_matrix *unl, const double *beta,
                        int64_t d, double l2) {
    double f = 0.0;
    for (int cls = 0; cls < 2; cls++) {
        const als_matrix *m = cls ? unl : pos;
        int64_t n = als_matrix_rows(m), st = als_matrix_stride(m);
        const float *x = als_matrix_data_const(m);
        double w = 1.0 / (2.0 * (double)n), y = cls ? -1.0 : 1.0, s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            double z = beta[d];
            for (int64_t j = 0; j < d; j++) z += beta[j] * x[i * st + j];
            s += log1pexp(-y * z);
        }
        f += w * s;
    }
    for (int64_t j = 0; j < d; j++) f += 0.5 * l2 * beta[j] * beta[j];
    return f;
}

/* Cholesky solve of the (d+1) x (d+1) system H x = g in place (H positive definite:
 * the ridge makes it so, and the bias row gets a tiny one). 0 on success. */
static int chol_solve(double *H, double *g, int64_t m) {
    for (int64_t j = 0; j < m; j++) {
        double dj = H[j * m + j];
        for (int64_t k = 0; k < j; k++) dj -= H[j * m + k] * H[j * m + k];
        if (!(dj > 0.0)) return -1;
        dj = sqrt(dj);
        H[j * m + j] = dj;
        for (int64_t i = j + 1; i < m; i++) {
            double s = H[i * m + j];
            for (int64_t k = 0; k < j; k++) s -= H[i * m + k] * H[j * m + k];
            H[i * m + j] = s / dj;
        }
    }
    for (int64_t i = 0; i < m; i++) {
        double s = g[i];
        for (int64_t k = 0; k < i; k++) s -= H[i * m + k] * g[k];
        g[i] = s / H[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; i--) {
        double s = g[i];
        for (int64_t k = i + 1; k < m; k++) s -= H[k * m + i] * g[k];
        g[i] = s / H[i * m + i];
    }
    return 0;
}

VECIDX_API int vecidx_seed_scorer(const als_matrix *seeds, const als_matrix *unlabeled,
                                  double l2, int64_t max_iter, float *weights, float *bias) {
    static const char *const fn = "vecidx_seed_scorer";
    if (!seeds || !unlabeled || !weights) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    int64_t d = als_matrix_cols(seeds);
    if (als_matrix_cols(unlabeled) != d)
        return als__errf(ALS_EDIM, "%s: seeds have %lld columns, the unlabeled sample %lld", fn,
                         (long long)d, (long long)als_matrix_cols(unlabeled));
    if (d < 1 || d > VECIDX_MAX_DIM)
        return als__errf(ALS_EDIM, "%s: dimension %lld outside [1, %d]", fn, (long long)d, VECIDX_MAX_DIM);
    if (als_matrix_rows(seeds) < 1 || als_matrix_rows(unlabeled) < 1)
        return als__errf(ALS_ERANGE, "%s: needs at least one seed and one unlabeled vector", fn);
    if (!(l2 > 0.0) || !isfinite(l2))
        return als__errf(ALS_ERANGE, "%s: l2 = %g must be positive and finite", fn, l2);
    if (max_iter < 1 || max_iter > 1000)
        return als__errf(ALS_ERANGE, "%s: max_iter = %lld outside [1, 1000]", fn, (long long)max_iter);
    if (als__first_nonfinite_row(als_matrix_data_const(seeds), als_matrix_rows(seeds), d,
                                 als_matrix_stride(seeds)) >= 0 ||
        als__first_nonfinite_row(als_matrix_data_const(unlabeled), als_matrix_rows(unlabeled), d,
                                 als_matrix_stride(unlabeled)) >= 0)
        return als__errf(ALS_EINVAL, "%s: a vector holds NaN or Inf", fn);
    int64_t m = d + 1;
    double *beta = calloc((size_t)m, sizeof *beta), *g = malloc((size_t)m * sizeof *g);
    double *H = malloc((size_t)m * (size_t)m * sizeof *H), *trial = malloc((size_t)m * sizeof *trial);
    if (!beta || !g || !H || !trial) {
        free(beta), free(g), free(H), free(trial);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    double f = objective(seeds, unlabeled, beta, d, l2);
    for (int64_t it = 0; it < max_iter; it++) {
        memset(g, 0, (size_t)m * sizeof *g);
        memset(H, 0, (size_t)m * (size_t)m * sizeof *H);
        for (int cls = 0; cls < 2; cls++) {
            const als_matrix *mx = cls ? unlabeled : seeds;
            int64_t n = als_matrix_rows(mx), st = als_matrix_stride(mx);
            const float *x = als_matrix_data_const(mx);
            double w = 1.0 / (2.0 * (double)n), y = cls ? -1.0 : 1.0;
            for (int64_t i = 0; i < n; i++) {
                const float *xi = x + i * st;
                double z = beta[d];
                for (int64_t j = 0; j < d; j++) z += beta[j] * xi[j];
                double p = 1.0 / (1.0 + exp(-z)); /* P(seed) */
                double r = w * (p - (y > 0 ? 1.0 : 0.0)), h = w * p * (1.0 - p);
                for (int64_t j = 0; j < m; j++) {
                    double xj = j < d ? xi[j] : 1.0;
                    g[j] += r * xj;
                    double hx = h * xj;
                    for (int64_t k = 0; k <= j; k++) H[j * m + k] += hx * (k < d ? xi[k] : 1.0);
                }
            }
        }
        double gn = 0.0;
        for (int64_t j = 0; j < d; j++) {
            g[j] += l2 * beta[j];
            H[j * m + j] += l2;
        }
        H[d * m + d] += 1e-12; /* the bias is not regularized: a floor keeps H definite */
        for (int64_t j = 0; j < m; j++) gn += g[j] * g[j];
        if (sqrt(gn) < 1e-10) break;
        for (int64_t j = 0; j < m; j++)
            for (int64_t k = j + 1; k < m; k++) H[j * m + k] = H[k * m + j];
        if (chol_solve(H, g, m)) break; /* numerically flat: keep the current point */
        double step = 1.0, fnew = f;
        for (int half = 0; half < 30; half++, step *= 0.5) { /* never uphill */
            for (int64_t j = 0; j < m; j++) trial[j] = beta[j] - step * g[j];
            fnew = objective(seeds, unlabeled, trial, d, l2);
            if (fnew <= f) break;
        }
        if (!(fnew <= f)) break;
        memcpy(beta, trial, (size_t)m * sizeof *beta);
        int done = f - fnew <= 1e-12 * (1.0 + fabs(f));
        f = fnew;
        if (done) break;
    }
    for (int64_t j = 0; j < d; j++) weights[j] = (float)beta[j];
    if (bias) *bias = (float)beta[d];
    free(beta), free(g), free(H), free(trial);
    return ALS_OK;
}
