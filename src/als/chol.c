/* Cholesky factorization and triangular solves of the row systems, one at a time and eight
 * at a time. The batched kernel keeps one system per SIMD lane (structure of arrays: entry t
 * of lane l at S[t][l]), so the dependent chains of a small factorization (a square root,
 * a reciprocal and r - 1 subtractions per pivot) run side by side for eight rows instead of
 * one after another; at rank 10 a lone factorization is all latency. Both versions perform
 * the same IEEE operations in the same order (this file is compiled without floating-point
 * contraction), so a row gets the same bits from either: the batched user half-step and the
 * shards' one-row user solves agree to the last bit. */
#include <math.h>
#include <string.h>

#include "als/model_internal.h"


int als__cholesky_floor(double *A, int r, double floor) {
    for (int j = 0; j < r; j++) {
        double d = A[j * r + j];
        for (int k = 0; k < j; k++) d -= A[j * r + k] * A[j * r + k];
        if (!(d > floor)) return -1;
        d = sqrt(d);
        A[j * r + j] = d;
        double inv = 1.0 / d;
        for (int i = j + 1; i < r; i++) {
            double s = A[i * r + j];
            for (int k = 0; k < j; k++) s -= A[i * r + k] * A[j * r + k];
            A[i * r + j] = s * inv;
        }
    }
    return 0;
}

void als__cholesky_solve(const double *L, int r, const double *b, double *x) {
    for (int i = 0; i < r; i++) {
        double s = b[i];
        for (int k = 0; k < i; k++) s -= L[i * r + k] * x[k];
        x[i] = s * (1.0 / L[i * r + i]);
    }
    for (int i = r - 1; i >= 0; i--) {
        double s = x[i];
        for (int k = i + 1; k < r; k++) s -= L[k * r + i] * x[k];
        x[i] = s * (1.0 / L[i * r + i]);
    }
}

typedef double v8d __attribute__((vector_size(8 * sizeof(double))));
typedef long long v8l __attribute__((vector_size(8 * sizeof(long long))));

/* S: r x r lanes (lower triangle filled), y: r lanes holding b; fl: the lanes' pivot
 * floors. On return S holds L, y the solutions; the result has bit l set where lane l's
 * factorization failed (its y is then meaningless). */
ALS__MULTIVERSION
static unsigned batch_kernel(v8d *restrict S, v8d *restrict y, v8d *restrict inv,
                             const v8d *restrict flp, int r) {
    const v8d fl = *flp;
    const v8d one = {1, 1, 1, 1, 1, 1, 1, 1};
    v8l ok = {-1, -1, -1, -1, -1, -1, -1, -1};
    for (int j = 0; j < r; j++) {
        v8d *Sj = S + (size_t)j * r;
        v8d d = Sj[j];
        for (int k = 0; k < j; k++) d -= Sj[k] * Sj[k];
        v8l pass = d > fl;
        ok &= pass;
        d = (v8d)(((v8l)d & pass) | ((v8l)one & ~pass)); /* a failed lane goes on with 1 */
        for (int l = 0; l < 8; l++) d[l] = sqrt(d[l]);
        Sj[j] = d;
        v8d iv = one / d;
        inv[j] = iv;
        for (int i = j + 1; i < r; i++) {
            v8d *Si = S + (size_t)i * r;
            v8d s = Si[j];
            for (int k = 0; k < j; k++) s -= Si[k] * Sj[k];
            Si[j] = s * iv;
        }
    }
    for (int i = 0; i < r; i++) {
        const v8d *Si = S + (size_t)i * r;
        v8d s = y[i];
        for (int k = 0; k < i; k++) s -= Si[k] * y[k];
        y[i] = s * inv[i];
    }
    for (int i = r - 1; i >= 0; i--) {
        v8d s = y[i];
        for (int k = i + 1; k < r; k++) s -= S[(size_t)k * r + i] * y[k];
        y[i] = s * inv[i];
    }
    unsigned bad = 0;
    for (int l = 0; l < 8; l++) bad |= (ok[l] == 0) << l;
    return bad;
}

size_t als__cholesky_batch_work(int r) {
    return ((size_t)r * (size_t)r + 2 * (size_t)r) * ALS__LANES;
}

unsigned als__cholesky_batch(const double *A, const double *b, const double *floor, int r,
                             int nl, double *x, double *work) {
    v8d *S = (v8d *)work, *y = S + (size_t)r * r, *inv = y + r;
    v8d fl = {0};
    for (int l = 0; l < ALS__LANES; l++) {
        const double *Al = A + (size_t)l * r * r, *bl = b + (size_t)l * r;
        int live = l < nl; /* the lanes past nl solve I x = 0 */
        fl[l] = live ? floor[l] : 0.0;
        for (int i = 0; i < r; i++) {
            for (int j = 0; j <= i; j++) S[(size_t)i * r + j][l] = live ? Al[i * r + j] : (double)(i == j);
            y[i][l] = live ? bl[i] : 0.0;
        }
    }
    unsigned bad = batch_kernel(S, y, inv, &fl, r);
    for (int l = 0; l < nl; l++)
        for (int i = 0; i < r; i++) x[(size_t)l * r + i] = y[i][l];
    return bad & ((1u << nl) - 1);
}
