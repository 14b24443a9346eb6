/* One row of ALS: build the normal equations from the row's ratings and solve them in
 * double (Cholesky, warm-started conjugate gradient, or NNLS by coordinate descent).
 * The hot loops are compiled for AVX-512, AVX2 and baseline x86-64 and picked at load
 * time (target_clones), so one .so runs everywhere. */
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "als/model_internal.h"

#define CHUNK 64         /* ratings summed in float before the double system takes them */
#define TILED_MAXRP 128  /* the tiled sums' chunk buffer: CHUNK x rp floats per thread */


int als__solver_init(als__solver *s, int r) {
    memset(s, 0, sizeof *s);
    s->r = r;
    size_t rr = (size_t)r * (size_t)r;
    s->A = malloc(rr * sizeof(double));
    s->b = malloc((size_t)r * sizeof(double));
    s->x = malloc((size_t)r * sizeof(double));
    s->work = malloc((4 * (size_t)r + rr) * sizeof(double));
    s->rp = (r + 15) / 16 * 16;
    s->Af = als__aalloc((size_t)(r + 3) / 4 * 4 * (size_t)s->rp, sizeof(float)); /* tiles of 4 rows */
    s->bf = als__aalloc((size_t)s->rp, sizeof(float));
    s->Yc = s->rp <= TILED_MAXRP ? als__aalloc((size_t)CHUNK * (size_t)s->rp, sizeof(float)) : NULL;
    s->fv = als__aalloc(6 * (size_t)s->rp, sizeof(float));
    if (!s->A || !s->b || !s->x || !s->work || !s->Af || !s->bf || !s->fv ||
        (s->rp <= TILED_MAXRP && !s->Yc)) {
        als__solver_free(s);
        return ALS_ENOMEM;
    }
    return ALS_OK;
}

void als__solver_free(als__solver *s) {
    free(s->A);
    free(s->b);
    free(s->x);
    free(s->work);
    als__afree(s->Af);
    als__afree(s->Yc);
    als__afree(s->bf);
    als__afree(s->fv);
    als__afree(s->gbuf);
    free(s->bA);
    free(s->bb);
    free(s->bx);
    als__afree(s->bwork);
    memset(s, 0, sizeof *s);
}

/* Fetch every cache line of a factor row a few ratings ahead (a rank-64 row is 4 lines;
 * the hardware's adjacent-line prefetch covers 2 at most). */
static inline __attribute__((always_inline)) void prefetch_row(const float *y, int r) {
    for (int j = 0; j < r; j += 16) __builtin_prefetch(y + j);
}

/* A rating's weight in the row matrix (w) and in the right-hand side (wb), and whether it
 * counts for lambda: implicit c - 1 = alpha |r|, c p = 1 + alpha r for r > 0; explicit 1, r. */
static inline int rating_weights(float v, int implicit, float alpha, float *w, float *wb) {
    if (implicit) {
        *w = alpha * fabsf(v);
        *wb = v > 0 ? 1.0f + *w : 0.0f;
        return v > 0;
    }
    *w = 1.0f;
    *wb = v;
    return 1;
}

/* A row's lambda: regParam, times its rating count under regScaling count. */
static double row_lambda(const als__params *p, int64_t count) {
    return p->reg * (p->reg_scaling == ALS_REG_COUNT ? (double)count : 1.0);
}

/* 16-float vectors (GCC vector extensions) for the kernels below: zmm in the AVX-512
 * clone, ymm pairs in the AVX2 one, xmm in the baseline. */
typedef float v16f __attribute__((vector_size(64)));
typedef float v16fu __attribute__((vector_size(64), aligned(4), may_alias));
typedef float v8f __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
#define VLD(p) (*(const v16fu *)(const void *)(p))
#define VST(p, v) (*(v16fu *)(void *)(p) = (v))

/* A += sum_e w_e y_e y_e^T and b += sum_e wb_e y_e over a row's ratings. The products are
 * summed in float over chunks of CHUNK entries (vectorized: each A row is a padded float
 * array, of which only the lower triangle is formed, rounded up to whole vectors) and each
 * chunk is added to the double system (both triangles), so long rows (popular items) keep
 * double accuracy while the inner loop runs at SIMD speed. */
#define PREFETCH 24
#define GATHER_MAX (1 << 23) /* floats per thread: 32 MiB */
/* A chunk's float sums into the double system: Af's lower triangle to both triangles.
 * Every element of A takes one addition per chunk, so the lower rows (contiguous: they
 * vectorize) and the upper columns go in separate loops. */
static inline __attribute__((always_inline)) void fold_chunk(double *restrict A, double *restrict b,
                                                             const float *restrict Af,
                                                             const float *restrict bf, int r, int rp) {
    for (int i = 0; i < r; i++) {
        double *restrict Ai = A + (int64_t)i * r;
        const float *restrict Fi = Af + (int64_t)i * rp;
        for (int j = 0; j <= i; j++) Ai[j] += Fi[j];
        b[i] += bf[i];
    }
    for (int i = 1; i < r; i++) {
        const float *restrict Fi = Af + (int64_t)i * rp;
        for (int j = 0; j < i; j++) A[(int64_t)j * r + i] += Fi[j];
    }
}

/* One tile of the chunk's rank-1 updates: rows i0 .. i0 + 3 of Af, vectors v0 .. v0 + nv - 1
 * of 16 columns, in registers over the chunk's m rows (Yc, weights wc). Each element sums
 * the products w y_i y_j over the rows in their order, as one row at a time does. */
static inline __attribute__((always_inline)) void syrk_tile(float *restrict Af, const float *restrict Yc,
                                                            const float *restrict wc, int64_t m,
                                                            int rp, int i0, int v0, int nv) {
    v16f a0[4] = {{0}}, a1[4] = {{0}}, a2[4] = {{0}}, a3[4] = {{0}};
    for (int64_t e = 0; e < m; e++) {
        const float *y = Yc + e * rp;
        float w = wc[e], w0 = w * y[i0], w1 = w * y[i0 + 1], w2 = w * y[i0 + 2], w3 = w * y[i0 + 3];
        for (int k = 0; k < nv; k++) {
            v16f yv = VLD(y + 16 * (v0 + k));
            a0[k] += w0 * yv;
            a1[k] += w1 * yv;
            a2[k] += w2 * yv;
            a3[k] += w3 * yv;
        }
    }
    for (int k = 0; k < nv; k++) {
        VST(Af + (int64_t)(i0 + 0) * rp + 16 * (v0 + k), a0[k]);
        VST(Af + (int64_t)(i0 + 1) * rp + 16 * (v0 + k), a1[k]);
        VST(Af + (int64_t)(i0 + 2) * rp + 16 * (v0 + k), a2[k]);
        VST(Af + (int64_t)(i0 + 3) * rp + 16 * (v0 + k), a3[k]);
    }
}

/* accumulate for rp <= TILED_MAXRP: each chunk's rows with a non-zero weight are gathered
 * (padded, in order) and Af's lower triangle is formed tile by tile in registers instead
 * of one rank-1 update after another through memory. The same operations per element in
 * the same order: the same bits. */
static inline __attribute__((always_inline)) void accumulate_tiled(
    double *restrict A, double *restrict b, float *restrict Af, float *restrict bf,
    float *restrict Yc, const float *restrict Y, const int32_t *cols, const float *vals,
    int64_t nnz, int r, int rp, int implicit, float alpha, int64_t *count) {
    float wc[CHUNK];
    int64_t cnt = 0;
    for (int64_t e0 = 0; e0 < nnz; e0 += CHUNK) {
        int64_t e1 = e0 + CHUNK < nnz ? e0 + CHUNK : nnz, m = 0;
        for (int j = 0; j < rp; j += 16) VST(bf + j, (v16f){0});
        for (int64_t e = e0; e < e1; e++) {
            if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
            float *yp = Yc + m * rp;
            const float *y = Y + (int64_t)cols[e] * r;
            int j = 0;
            for (; j + 16 <= r; j += 16) VST(yp + j, VLD(y + j));
            for (; j < r; j++) yp[j] = y[j];
            for (; j < rp; j++) yp[j] = 0.0f;
            float w, wb;
            cnt += rating_weights(vals[e], implicit, alpha, &w, &wb);
            for (j = 0; j < rp; j += 16) VST(bf + j, VLD(bf + j) + wb * VLD(yp + j));
            if (w == 0.0f) continue;
            wc[m++] = w;
        }
        /* rows i of a 16-block need that block's vectors and the ones before: rows i0 .. i0 + 3
         * (i0 a multiple of 4) need i0 / 16 + 1 vectors. The rows past r (to a multiple of
         * 4) land in Af's padding rows, which nothing reads. */
        for (int i0 = 0; i0 < r; i0 += 4) {
            int nvj = i0 / 16 + 1;
            for (int v0 = 0; v0 < nvj; v0 += 4) {
                switch (nvj - v0 < 4 ? nvj - v0 : 4) {
                case 1: syrk_tile(Af, Yc, wc, m, rp, i0, v0, 1); break;
                case 2: syrk_tile(Af, Yc, wc, m, rp, i0, v0, 2); break;
                case 3: syrk_tile(Af, Yc, wc, m, rp, i0, v0, 3); break;
                default: syrk_tile(Af, Yc, wc, m, rp, i0, v0, 4); break;
                }
            }
        }
        fold_chunk(A, b, Af, bf, r, rp);
    }
    *count = cnt;
}

ALS__MULTIVERSION
static void accumulate(double *restrict A, double *restrict b, float *restrict Af,
                       float *restrict bf, float *restrict Yc, const float *restrict Y, const int32_t *cols,
                       const float *vals, int64_t nnz, int r, int rp, int implicit, float alpha,
                       int64_t *count) {
    float yp[1024] __attribute__((aligned(64)));
    int64_t cnt = 0;
    for (int j = r; j < rp; j++) yp[j] = 0.0f;
    if (Yc) {
        accumulate_tiled(A, b, Af, bf, Yc, Y, cols, vals, nnz, r, rp, implicit, alpha, count);
        return;
    }
    for (int64_t e0 = 0; e0 < nnz; e0 += CHUNK) {
        int64_t e1 = e0 + CHUNK < nnz ? e0 + CHUNK : nnz;
        for (int64_t t = 0; t < (int64_t)r * rp; t++) Af[t] = 0.0f;
        for (int j = 0; j < rp; j++) bf[j] = 0.0f;
        for (int64_t e = e0; e < e1; e++) {
            /* Factor rows are gathered at random: fetch a few entries ahead. */
            if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
            const float *y = Y + (int64_t)cols[e] * r;
            for (int j = 0; j < r; j++) yp[j] = y[j]; /* short: a loop, not a libc call */
            float w, wb;
            cnt += rating_weights(vals[e], implicit, alpha, &w, &wb);
            for (int j = 0; j < rp; j++) bf[j] += wb * yp[j];
            if (w == 0.0f) continue;
            for (int i = 0; i < r; i++) { /* the lower triangle, in whole vectors of 16 */
                float wi = w * yp[i];
                float *restrict Ai = Af + (int64_t)i * rp;
                for (int j = 0; j < (i + 16) / 16 * 16; j++) Ai[j] += wi * yp[j];
            }
        }
        fold_chunk(A, b, Af, bf, r, rp);
    }
    *count = cnt;
}

/* The same sums as accumulate, entirely in double: the slow, exact path taken only when the
 * float partial sums leave a system that is not numerically positive definite (confidences
 * of 1e7 and more round away the small eigenvalues of Y^T Y + lambda I). */
static void accumulate_exact(double *restrict A, double *restrict b, const float *restrict Y,
                             const int32_t *cols, const float *vals, int64_t nnz, int r,
                             int implicit, float alpha) {
    for (int64_t e = 0; e < nnz; e++) {
        const float *y = Y + (int64_t)cols[e] * r;
        float w, wb;
        rating_weights(vals[e], implicit, alpha, &w, &wb);
        for (int i = 0; i < r; i++) {
            b[i] += (double)wb * y[i];
            double wi = (double)w * y[i];
            for (int j = 0; j < r; j++) A[i * r + j] += wi * y[j];
        }
    }
}

typedef float v16f __attribute__((vector_size(16 * sizeof(float))));

/* The register path at ranks up to 16 (the fixed side's rows in an als__ytab table: 16
 * floats each, zero-padded): a chunk's r rows of sum w y y^T and its sum wb y stay in
 * vector registers, and a rating costs one 64-byte load, a multiply and r + 1 vector
 * multiply-adds whose y_i operands are broadcast by the loads. Chunks of CHUNK ratings are
 * summed in float and added to the double system, as in accumulate. */
static inline __attribute__((always_inline)) int64_t
reg_chunk(v16f *restrict acc, v16f *restrict bacc, const float *restrict T, const int R,
          const int32_t *restrict cols, const uint16_t *restrict li, const int64_t ls,
          const float *restrict vals, const int counts, int64_t e0, int64_t e1, int64_t nnz,
          int implicit, float alpha) {
    /* rows of T by cols[e] (prefetched ahead) or by li[e ls]; values vals[e], the count
     * beside the index (li[2 e + 1], counts set) or 1 */
    int64_t cnt = 0;
#pragma GCC unroll 16
    for (int i = 0; i < R; i++) acc[i] = (v16f){0};
    *bacc = (v16f){0};
    for (int64_t e = e0; e < e1; e++) {
        if (cols && e + PREFETCH < nnz) __builtin_prefetch(T + (int64_t)cols[e + PREFETCH] * ALS__YTAB_W);
        const float *restrict yr = T + (int64_t)(cols ? cols[e] : li[e * ls]) * ALS__YTAB_W;
        v16f y;
        memcpy(&y, yr, sizeof y);
        float w, wb;
        cnt += rating_weights(vals ? vals[e] : counts ? (float)li[2 * e + 1] : 1.0f, implicit, alpha, &w, &wb);
        *bacc += wb * y;
        if (w == 0.0f) continue;
        v16f wy = w * y;
        /* y_i from memory, broadcast by the load (no shuffles): y_i (w y) */
#pragma GCC unroll 16
        for (int i = 0; i < R; i++) acc[i] += yr[i] * wy;
    }
    return cnt;
}

static inline __attribute__((always_inline)) void
accumulate_reg_body(double *restrict A, double *restrict b, const float *restrict T,
                    const int R, const int32_t *cols, const float *vals,
                    int64_t nnz, int implicit, float alpha, int64_t *count) {
    int64_t cnt = 0;
    for (int64_t e0 = 0; e0 < nnz; e0 += CHUNK) {
        int64_t e1 = e0 + CHUNK < nnz ? e0 + CHUNK : nnz;
        v16f acc[16], bacc;
        cnt += reg_chunk(acc, &bacc, T, R, cols, NULL, 1, vals, 0, e0, e1, nnz, implicit, alpha);
        for (int j = 0; j < R; j++) b[j] += bacc[j];
        for (int i = 0; i < R; i++)
            for (int j = 0; j <= i; j++) {
                A[i * R + j] += acc[i][j];
                if (j != i) A[j * R + i] += acc[i][j];
            }
    }
    *count = cnt;
}

#define ACC_REG(R)                                                                            \
    ALS__MULTIVERSION static void accumulate_reg_##R(double *restrict A, double *restrict b,       \
                                                const float *restrict T,                      \
                                                const int32_t *cols, const float *vals,       \
                                                int64_t nnz, int implicit, float alpha,       \
                                                int64_t *count) {                             \
        accumulate_reg_body(A, b, T, R, cols, vals, nnz, implicit, alpha, count);         \
    }
ACC_REG(1) ACC_REG(2) ACC_REG(3) ACC_REG(4) ACC_REG(5) ACC_REG(6) ACC_REG(7) ACC_REG(8)
ACC_REG(9) ACC_REG(10) ACC_REG(11) ACC_REG(12) ACC_REG(13) ACC_REG(14) ACC_REG(15) ACC_REG(16)
#undef ACC_REG

static void accumulate_reg(double *restrict A, double *restrict b, const float *restrict T,
                           int r, const int32_t *cols, const float *vals, int64_t nnz,
                           int implicit, float alpha, int64_t *count) {
    switch (r) {
#define CASE(R) case R: accumulate_reg_##R(A, b, T, cols, vals, nnz, implicit, alpha, count); return;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
    CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
    default: *count = 0; /* unreachable: the table is built for ranks up to 16 */
    }
}

/* The blocked item half-step (fit.c): one item's ratings within a block of users, the
 * users' rows in Ub (16 floats each, zero-padded: r <= 16), li their indexes there, the
 * values in v16 or v32 (both NULL: all 1). Sums go in float over CHUNK ratings, in
 * registers, and then into the item's double sums d: b in d[0..r), the packed upper
 * triangle of sum w u u^T at d + r. */
static inline __attribute__((always_inline)) void
item_block_body(double *restrict d, const float *restrict Ub, const uint16_t *restrict li,
                const uint16_t *restrict v16, const float *restrict v32, int64_t n, const int R,
                int implicit, float alpha) {
    const int64_t ls = v16 ? 2 : 1; /* counts sit beside their indexes: li[2e], li[2e + 1] */
    for (int64_t e0 = 0; e0 < n; e0 += CHUNK) {
        int64_t e1 = e0 + CHUNK < n ? e0 + CHUNK : n;
        v16f acc[16], bacc;
        reg_chunk(acc, &bacc, Ub, R, NULL, li, ls, v32, v16 != NULL, e0, e1, n, implicit, alpha);
        for (int j = 0; j < R; j++) d[j] += bacc[j];
        double *restrict a = d + R;
        for (int i = 0, k = 0; i < R; i++)
            for (int j = i; j < R; j++, k++) a[k] += acc[i][j];
    }
}

#define ITEM_BLOCK(R)                                                                         \
    ALS__MULTIVERSION static void item_block_##R(double *restrict d, const float *restrict Ub,     \
                                            const uint16_t *restrict li,                      \
                                            const uint16_t *restrict v16,                     \
                                            const float *restrict v32, int64_t n,             \
                                            int implicit, float alpha) {                      \
        item_block_body(d, Ub, li, v16, v32, n, R, implicit, alpha);                          \
    }
ITEM_BLOCK(1) ITEM_BLOCK(2) ITEM_BLOCK(3) ITEM_BLOCK(4) ITEM_BLOCK(5) ITEM_BLOCK(6)
ITEM_BLOCK(7) ITEM_BLOCK(8) ITEM_BLOCK(9) ITEM_BLOCK(10) ITEM_BLOCK(11) ITEM_BLOCK(12)
ITEM_BLOCK(13) ITEM_BLOCK(14) ITEM_BLOCK(15) ITEM_BLOCK(16)
#undef ITEM_BLOCK

void als__item_block(double *restrict d, const float *restrict Ub, const uint16_t *restrict li,
                     const uint16_t *restrict v16, const float *restrict v32, int64_t n, int r,
                     int implicit, float alpha) {
    switch (r) {
#define CASE(R) case R: item_block_##R(d, Ub, li, v16, v32, n, implicit, alpha); return;
    CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8)
    CASE(9) CASE(10) CASE(11) CASE(12) CASE(13) CASE(14) CASE(15) CASE(16)
#undef CASE
    default: return; /* unreachable: fit.c blocks ranks up to 16 only */
    }
}

void als__packed_row(const float *y, int r, float *t) {
    int rb = als__packed_rb(r);
    memset(t, 0, (size_t)als__packed_qf(r) * sizeof(float));
    for (int j = 0; j < r; j++) t[j] = y[j];
    for (int a = 0, k = rb; a < r; a++)
        for (int c = a; c < r; c++, k++) t[k] = y[a] * y[c];
}

int als__ytab(const float *Y, int64_t ny, int r, int nt, float **out) {
    float *T = als__aalloc((size_t)(ny ? ny : 1) * ALS__YTAB_W, sizeof(float));
    *out = T;
    if (!T) return ALS_ENOMEM;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t i = 0; i < ny; i++)
        for (int j = 0; j < ALS__YTAB_W; j++) T[i * ALS__YTAB_W + j] = j < r ? Y[i * r + j] : 0.0f;
    return ALS_OK;
}

/* Pivot floors relative to the mean diagonal: below them a direction of the solution is
 * set by rounding noise rather than by the data (float partial sums carry about 1e-6 of
 * relative noise; the double path about 1e-15, kept with a margin). */
#define PIVOT_FLOAT 1e-6
#define PIVOT_DOUBLE 1e-13

static double mean_diag(const double *A, int r) {
    double tr = 0.0;
    for (int j = 0; j < r; j++) tr += A[j * r + j];
    return tr / r;
}

/* min 1/2 x^T A x - b^T x subject to x >= 0, by cyclic coordinate descent (converges for a
 * positive definite A; stops when no coordinate moves by more than a relative 1e-12). */
void als__nnls(const double *A, const double *b, int r, double *x, const _Atomic int *cancel) {
    for (int i = 0; i < r; i++) x[i] = 0.0;
    int max_sweeps = 20 * r > 400 ? 20 * r : 400;
    for (int sweep = 0; sweep < max_sweeps; sweep++) {
        /* one sweep is r^2 multiply-adds: a million at rank 1024, so a cancel is seen soon */
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) return;
        double moved = 0.0, big = 0.0;
        for (int i = 0; i < r; i++) {
            double g = -b[i];
            for (int j = 0; j < r; j++) g += A[i * r + j] * x[j];
            double xi = x[i] - g / A[i * r + i];
            if (xi < 0.0) xi = 0.0;
            double dlt = fabs(xi - x[i]);
            if (dlt > moved) moved = dlt;
            x[i] = xi;
            if (xi > big) big = xi;
        }
        if (moved <= 1e-12 * (1.0 + big)) break;
    }
}

/* The conjugate-gradient kernels on 16-float vectors (GCC vector extensions: zmm in the
 * AVX-512 clone, ymm pairs in the AVX2 one, xmm in the baseline). Left to the
 * auto-vectorizer, their loops over a run-time rp came out mostly scalar. Every element
 * sees the same operations in the same order as the plain loops they replace: dots in 16
 * lanes over the rp floats (a multiple of 16) then halved 16 -> 8 -> 4 -> 2 -> 1, updates
 * out[j] += d y[j] one rating after another. */

static inline __attribute__((always_inline)) float hsum16(v16f a) {
    v8f lo, hi;
    memcpy(&lo, &a, sizeof lo);
    memcpy(&hi, (const char *)&a + sizeof lo, sizeof hi);
    v8f s8 = lo + hi;
    v4f l4, h4;
    memcpy(&l4, &s8, sizeof l4);
    memcpy(&h4, (const char *)&s8 + sizeof l4, sizeof h4);
    v4f s4 = l4 + h4;
    float s0 = s4[0] + s4[2], s1 = s4[1] + s4[3];
    return s0 + s1;
}

/* y . x over rp floats (a multiple of 16). Inlined into each clone. */
static inline __attribute__((always_inline)) float dot_padded(const float *restrict y,
                                                              const float *restrict x, int rp) {
    v16f acc = {0};
    for (int j = 0; j < rp; j += 16) acc += VLD(y + j) * VLD(x + j);
    return hsum16(acc);
}

/* out = lambda x + G x (G: r rows of rp floats, or NULL), four vectors of out at a time in
 * registers (each element: lambda x_j, then + x_i G_ij for i = 0, 1, ...). */
static inline __attribute__((always_inline)) void apply_base(const float *restrict G, int r, int rp,
                                                             float lambda, const float *restrict x,
                                                             float *restrict out) {
    int j = 0;
    for (; j + 64 <= rp; j += 64) {
        v16f o0 = lambda * VLD(x + j), o1 = lambda * VLD(x + j + 16);
        v16f o2 = lambda * VLD(x + j + 32), o3 = lambda * VLD(x + j + 48);
        for (int i = 0; G && i < r; i++) {
            const float *Gi = G + (int64_t)i * rp + j;
            float xi = x[i];
            o0 += xi * VLD(Gi);
            o1 += xi * VLD(Gi + 16);
            o2 += xi * VLD(Gi + 32);
            o3 += xi * VLD(Gi + 48);
        }
        VST(out + j, o0);
        VST(out + j + 16, o1);
        VST(out + j + 32, o2);
        VST(out + j + 48, o3);
    }
    for (; j < rp; j += 16) {
        v16f o = lambda * VLD(x + j);
        for (int i = 0; G && i < r; i++) o += x[i] * VLD(G + (int64_t)i * rp + j);
        VST(out + j, o);
    }
}

/* One row's update out += w (y . x) y, y, x and out as nv vectors in registers. */
static inline __attribute__((always_inline)) void row_update_nv(const v16f *yv, float w, int nv,
                                                                const v16f *xv, v16f *ov) {
    v16f acc = {0};
    for (int k = 0; k < nv; k++) acc += yv[k] * xv[k];
    float d = hsum16(acc) * w;
    for (int k = 0; k < nv; k++) ov[k] += d * yv[k];
}

/* out += sum_e w_e (y_e . x) y_e over nnz rows of rp floats (Yg, weights wg), with nv = rp
 * / 16 <= 4 known at compile time: x and out stay in registers. */
static inline __attribute__((always_inline)) void rank_updates_nv(const float *restrict Yg,
                                                                  const float *restrict wg,
                                                                  int64_t nnz, int nv,
                                                                  const float *restrict x,
                                                                  float *restrict out) {
    v16f xv[4] = {{0}}, ov[4] = {{0}};
    for (int k = 0; k < nv; k++) xv[k] = VLD(x + 16 * k), ov[k] = VLD(out + 16 * k);
    const int rp = 16 * nv;
    for (int64_t e = 0; e < nnz; e++) {
        v16f yv[4] = {{0}};
        for (int k = 0; k < nv; k++) yv[k] = VLD(Yg + e * rp + 16 * k);
        row_update_nv(yv, wg[e], nv, xv, ov);
    }
    for (int k = 0; k < nv; k++) VST(out + 16 * k, ov[k]);
}

static inline __attribute__((always_inline)) void rank_updates(const float *restrict Yg,
                                                               const float *restrict wg, int64_t nnz,
                                                               int rp, const float *restrict x,
                                                               float *restrict out) {
    switch (rp) {
    case 16: rank_updates_nv(Yg, wg, nnz, 1, x, out); return;
    case 32: rank_updates_nv(Yg, wg, nnz, 2, x, out); return;
    case 48: rank_updates_nv(Yg, wg, nnz, 3, x, out); return;
    case 64: rank_updates_nv(Yg, wg, nnz, 4, x, out); return;
    default: break;
    }
    for (int64_t e = 0; e < nnz; e++) {
        const float *y = Yg + e * rp;
        float d = dot_padded(y, x, rp) * wg[e];
        for (int j = 0; j < rp; j += 16) VST(out + j, VLD(out + j) + d * VLD(y + j));
    }
}

/* rank_updates_nv on the factor rows themselves (r = 16 nv: no padding), each row
 * gathered from Y by its column, its weight from its value. */
static inline __attribute__((always_inline)) void rank_updates_direct(
    const float *restrict Y, const int32_t *cols, const float *vals, int64_t nnz, int nv,
    int implicit, float alpha, const float *restrict x, float *restrict out) {
    v16f xv[4] = {{0}}, ov[4] = {{0}};
    for (int k = 0; k < nv; k++) xv[k] = VLD(x + 16 * k), ov[k] = VLD(out + 16 * k);
    const int r = 16 * nv;
    for (int64_t e = 0; e < nnz; e++) {
        float w, wb;
        rating_weights(vals[e], implicit, alpha, &w, &wb);
        if (w == 0.0f) continue;
        if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
        v16f yv[4] = {{0}};
        for (int k = 0; k < nv; k++) yv[k] = VLD(Y + (int64_t)cols[e] * r + 16 * k);
        row_update_nv(yv, w, nv, xv, ov);
    }
    for (int k = 0; k < nv; k++) VST(out + 16 * k, ov[k]);
}

/* Copy a factor row of r floats into dst, zero-padded to rp. */
static inline __attribute__((always_inline)) void copy_padded(float *restrict dst,
                                                              const float *restrict y, int r, int rp) {
    int j = 0;
    for (; j + 16 <= r; j += 16) VST(dst + j, VLD(y + j));
    for (; j < r; j++) dst[j] = y[j];
    for (; j < rp; j++) dst[j] = 0.0f;
}

/* Conjugate gradient in float on padded vectors (rp lanes, zeros past r), applying the row
 * matrix without forming it: A x = (G + lambda I) x + sum_e w_e (y_e . x) y_e, with
 * G = Y^T Y and w_e = alpha |r_e| (implicit), or G absent and w_e = 1 (explicit). This is
 * the implicit library's scheme (warm start, a few steps); its cost per rating is 2 r
 * instead of r^2 / 2 for forming A, which is what makes large ranks affordable. */
ALS__MULTIVERSION
static void apply_row(const float *restrict G, const float *restrict Y, const int32_t *cols,
                      const float *vals, int64_t nnz, int r, int rp, int implicit, float alpha,
                      float lambda, const float *restrict x, float *restrict out,
                      float *restrict yp) {
    apply_base(G, r, rp, lambda, x, out);
    switch (r == rp ? rp : 0) { /* rows that are whole vectors: read in place, out in registers */
    case 16: rank_updates_direct(Y, cols, vals, nnz, 1, implicit, alpha, x, out); return;
    case 32: rank_updates_direct(Y, cols, vals, nnz, 2, implicit, alpha, x, out); return;
    case 48: rank_updates_direct(Y, cols, vals, nnz, 3, implicit, alpha, x, out); return;
    case 64: rank_updates_direct(Y, cols, vals, nnz, 4, implicit, alpha, x, out); return;
    default: break;
    }
    for (int64_t e = 0; e < nnz; e++) {
        float w = implicit ? alpha * fabsf(vals[e]) : 1.0f;
        if (w == 0.0f) continue;
        if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
        copy_padded(yp, Y + (int64_t)cols[e] * r, r, rp);
        rank_updates(yp, &w, 1, rp, x, out);
    }
}

/* The same product on factors gathered once per solve into rows of rp floats (Yg) with
 * their weights (wg): the conjugate-gradient steps then stream contiguous memory instead
 * of gathering at random again on every step. */
ALS__MULTIVERSION
static void apply_gathered(const float *restrict G, const float *restrict Yg,
                           const float *restrict wg, int64_t nnz, int r, int rp, float lambda,
                           const float *restrict x, float *restrict out) {
    apply_base(G, r, rp, lambda, x, out);
    rank_updates(Yg, wg, nnz, rp, x, out);
}

/* Gather the factor rows of a row's ratings (padded to rp floats) with their matrix weight
 * w and right-hand-side weight wb; b = sum wb y, in float. Returns the entries kept. */
ALS__MULTIVERSION
static int64_t gather_rows(const float *restrict Y, const int32_t *cols, const float *vals,
                           int64_t nnz, int r, int rp, int implicit, float alpha,
                           float *restrict Yg, float *restrict wg, float *restrict b,
                           int64_t *count) {
    int64_t ng = 0, cnt = 0;
    for (int j = 0; j < rp; j++) b[j] = 0.0f;
    for (int64_t e = 0; e < nnz; e++) {
        float w, wb;
        cnt += rating_weights(vals[e], implicit, alpha, &w, &wb);
        if (w == 0.0f && wb == 0.0f) continue;
        if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
        float *restrict dst = Yg + ng * rp;
        copy_padded(dst, Y + (int64_t)cols[e] * r, r, rp);
        for (int j = 0; j < rp; j += 16) VST(b + j, VLD(b + j) + wb * VLD(dst + j));
        wg[ng++] = w;
    }
    *count = cnt;
    return ng;
}

/* gather_rows and the first product A x at once, for rp = 16 nv <= 64: each row is used
 * for x's product while it is in registers, so the first conjugate-gradient product needs
 * no pass over the gathered rows. The same operations in the same order as gather_rows,
 * then apply_gathered (Ap = lambda x + G x first, then the rows' updates in order). */
static inline __attribute__((always_inline)) int64_t gather_apply_nv(
    const float *restrict Y, const int32_t *cols, const float *vals, int64_t nnz, int r, int nv,
    int implicit, float alpha, float *restrict Yg, float *restrict wg, float *restrict b,
    const float *restrict x, float *restrict Ap) {
    const int rp = 16 * nv;
    v16f xv[4] = {{0}}, ov[4] = {{0}}, bv[4] = {{0}};
    for (int k = 0; k < nv; k++) xv[k] = VLD(x + 16 * k), ov[k] = VLD(Ap + 16 * k);
    int64_t ng = 0;
    for (int64_t e = 0; e < nnz; e++) {
        float w, wb;
        rating_weights(vals[e], implicit, alpha, &w, &wb);
        if (w == 0.0f && wb == 0.0f) continue;
        if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
        float *restrict dst = Yg + ng * rp;
        const float *y = Y + (int64_t)cols[e] * r;
        v16f yv[4] = {{0}};
        if (r == rp) {
            for (int k = 0; k < nv; k++) yv[k] = VLD(y + 16 * k), VST(dst + 16 * k, yv[k]);
        } else {
            copy_padded(dst, y, r, rp);
            for (int k = 0; k < nv; k++) yv[k] = VLD(dst + 16 * k);
        }
        for (int k = 0; k < nv; k++) bv[k] += wb * yv[k];
        row_update_nv(yv, w, nv, xv, ov);
        wg[ng++] = w;
    }
    for (int k = 0; k < nv; k++) VST(Ap + 16 * k, ov[k]), VST(b + 16 * k, bv[k]);
    return ng;
}

ALS__MULTIVERSION
static int64_t gather_apply(const float *restrict G, const float *restrict Y, const int32_t *cols,
                            const float *vals, int64_t nnz, int r, int rp, int implicit,
                            float alpha, float lambda, float *restrict Yg, float *restrict wg,
                            float *restrict b, const float *restrict x, float *restrict Ap) {
    apply_base(G, r, rp, lambda, x, Ap);
    switch (rp) {
    case 16: return gather_apply_nv(Y, cols, vals, nnz, r, 1, implicit, alpha, Yg, wg, b, x, Ap);
    case 32: return gather_apply_nv(Y, cols, vals, nnz, r, 2, implicit, alpha, Yg, wg, b, x, Ap);
    case 48: return gather_apply_nv(Y, cols, vals, nnz, r, 3, implicit, alpha, Yg, wg, b, x, Ap);
    default: return gather_apply_nv(Y, cols, vals, nnz, r, 4, implicit, alpha, Yg, wg, b, x, Ap);
    }
}

/* b = sum wb y without keeping the rows (rows too long for the gather buffer). */
ALS__MULTIVERSION
static void rhs_rows(const float *restrict Y, const int32_t *cols, const float *vals,
                     int64_t nnz, int r, int rp, int implicit, float alpha, float *restrict b,
                     float *restrict yp, int64_t *count) {
    int64_t cnt = 0;
    for (int j = 0; j < rp; j++) b[j] = yp[j] = 0.0f;
    for (int64_t e = 0; e < nnz; e++) {
        float w, wb;
        cnt += rating_weights(vals[e], implicit, alpha, &w, &wb);
        if (wb == 0.0f) continue;
        if (e + PREFETCH < nnz) prefetch_row(Y + (int64_t)cols[e + PREFETCH] * r, r);
        const float *y = Y + (int64_t)cols[e] * r;
        for (int j = 0; j < r; j++) yp[j] = y[j];
        for (int j = 0; j < rp; j++) b[j] += wb * yp[j];
    }
    *count = cnt;
}

/* a . b over rp floats (a multiple of 16: the zeros past r add nothing) in double, in 8
 * lanes halved to 1. Products of floats are exact in double, so fused or not, every SIMD
 * path gives the same sums. */
typedef double v8d __attribute__((vector_size(64)));
typedef double v4d __attribute__((vector_size(32)));
static inline __attribute__((always_inline)) float dot_double(const float *restrict a,
                                                              const float *restrict b, int rp) {
    v8d acc = {0};
    for (int j = 0; j < rp; j += 8) {
        v8f x, y;
        memcpy(&x, a + j, sizeof x);
        memcpy(&y, b + j, sizeof y);
        acc += __builtin_convertvector(x, v8d) * __builtin_convertvector(y, v8d);
    }
    v4d lo, hi;
    memcpy(&lo, &acc, sizeof lo);
    memcpy(&hi, (const char *)&acc + sizeof lo, sizeof hi);
    v4d s4 = lo + hi;
    return (float)((s4[0] + s4[2]) + (s4[1] + s4[3]));
}

/* The conjugate-gradient residual from A x: res = p = b - A x; returns res . res. */
ALS__MULTIVERSION
float als__cg_start(int rp, const float *restrict b, const float *restrict Ax, float *restrict res,
                    float *restrict p) {
    for (int j = 0; j < rp; j += 16) {
        v16f d = VLD(b + j) - VLD(Ax + j);
        VST(res + j, d);
        VST(p + j, d);
    }
    return dot_double(res, res, rp);
}

/* One conjugate-gradient step from the product Ap of the direction p (vectors of rp floats,
 * zeros past r; *rs = res . res): x and res move along p, then p turns. Returns 1 while
 * the solve goes on, 0 when it stops (p . Ap not positive, or the residual vanished after
 * the move). */
ALS__MULTIVERSION
int als__cg_step(int rp, float *restrict x, float *restrict res, float *restrict p,
                 const float *restrict Ap, float *rs) {
    float pAp = dot_double(p, Ap, rp);
    if (!(pAp > 0.0f)) return 0;
    float a = *rs / pAp;
    for (int j = 0; j < rp; j += 16) {
        VST(x + j, VLD(x + j) + a * VLD(p + j));
        VST(res + j, VLD(res + j) - a * VLD(Ap + j));
    }
    float rs_new = dot_double(res, res, rp);
    if (rs_new < 1e-20f) return 0;
    float beta = rs_new / *rs;
    for (int j = 0; j < rp; j += 16) VST(p + j, VLD(res + j) + beta * VLD(p + j));
    *rs = rs_new;
    return 1;
}

/* One row by conjugate gradient, warm-started from xout. */
static void solve_cg(const als__solve_ctx *c, als__solver *s, const int32_t *cols,
                     const float *vals, int64_t nnz, float *xout) {
    const als__params *pr = c->p;
    int r = c->r, rp = s->rp, implicit = pr->implicit != 0;
    float alpha = (float)pr->alpha;
    float *x = s->fv, *res = x + rp, *p = res + rp, *Ap = p + rp, *yp = Ap + rp, *b = yp + rp;
    /* Gather the row's factors once if they fit the per-thread buffer (rows of the most
     * popular items may not: those gather again on every step). */
    int gathered = 0;
    if (nnz * rp <= GATHER_MAX && s->gcap < nnz) {
        int64_t cap = nnz > 1024 ? nnz : 1024;
        float *g = als__aalloc((size_t)cap * (size_t)(rp + 1), sizeof(float));
        if (g) {
            als__afree(s->gbuf);
            s->gbuf = g;
            s->gcap = cap;
        }
    }
    int64_t ng = 0, count = 0;
    float *Yg = s->gbuf, *wg = s->gbuf ? s->gbuf + s->gcap * rp : NULL;
    const float *G = implicit ? c->gram_f : NULL;
    float lambda = 0.0f;
    int fused = 0; /* the first product A x came with the gather */
    if (nnz * rp <= GATHER_MAX && s->gcap >= nnz && rp <= 64) {
        gathered = fused = 1;
        for (int64_t e = 0; e < nnz; e++) count += !implicit || vals[e] > 0; /* as rating_weights */
        lambda = (float)(pr->reg * (pr->reg_scaling == ALS_REG_COUNT ? (double)count : 1.0));
        for (int j = 0; j < rp; j++) x[j] = j < r ? xout[j] : 0.0f;
        ng = gather_apply(G, c->Y, cols, vals, nnz, r, rp, implicit, alpha, lambda, Yg, wg, b, x, Ap);
    } else if (nnz * rp <= GATHER_MAX && s->gcap >= nnz) {
        gathered = 1;
        ng = gather_rows(c->Y, cols, vals, nnz, r, rp, implicit, alpha, Yg, wg, b, &count);
    } else {
        rhs_rows(c->Y, cols, vals, nnz, r, rp, implicit, alpha, b, yp, &count);
    }
    int any = 0;
    for (int j = 0; j < r; j++) any |= b[j] != 0.0f;
    if (!any) { /* no usable ratings: the solution is exactly zero */
        memset(xout, 0, (size_t)r * sizeof(float));
        return;
    }
    if (!fused) { /* (the fused gather set lambda and x first) */
        lambda = (float)(pr->reg * (pr->reg_scaling == ALS_REG_COUNT ? (double)count : 1.0));
        for (int j = 0; j < rp; j++) x[j] = j < r ? xout[j] : 0.0f;
    }
    for (int j = 0; j < rp; j++) yp[j] = 0.0f;
#define APPLY(in, outv)                                                                   \
    (gathered ? apply_gathered(G, Yg, wg, ng, r, rp, lambda, in, outv)                    \
              : apply_row(G, c->Y, cols, vals, nnz, r, rp, implicit, alpha, lambda, in, outv, yp))
    if (!fused) APPLY(x, Ap);
    float rs = als__cg_start(rp, b, Ap, res, p);
    int steps = (int)pr->cg_steps;
    for (int it = 0; it < steps && rs > 1e-20f; it++) {
        APPLY(p, Ap);
        if (!als__cg_step(rp, x, res, p, Ap, &rs)) break;
    }
#undef APPLY
    for (int j = 0; j < r; j++) xout[j] = x[j];
}

/* A row whose float-accumulated system failed Cholesky, or left a pivot within float noise
 * (PIVOT_FLOAT): rebuild A and b in double, then, if
 * the system is singular (regParam 0 with fewer distinct partners than rank), add the
 * smallest ridge from an escalating ladder (relative to the mean diagonal) that makes it
 * positive definite; a tiny ridge gives the minimum-norm least-squares solution to within
 * that relative size. A pivot under PIVOT_DOUBLE counts as a failure too: the solution
 * would be rounding noise in that direction (values of 1e8 with regParam 0.1 give systems
 * of condition 1e17). So the ridge acts as a floor at 1e-12 .. 1e-2 of the mean diagonal,
 * far below any regParam that matters. Leaves the factor in s->work (L) and s->b; 0 on
 * success. */
static int solve_hard(const als__solve_ctx *c, als__solver *s, const int32_t *cols,
                      const float *vals, int64_t nnz, double lambda) {
    const als__params *p = c->p;
    int r = c->r, rr = r * r, implicit = p->implicit != 0;
    double *A = s->A, *b = s->b, *L = s->work;
    for (int t = 0; t < rr; t++) A[t] = implicit ? c->gram[t] : 0.0;
    for (int j = 0; j < r; j++) b[j] = 0.0;
    accumulate_exact(A, b, c->Y, cols, vals, nnz, r, implicit, (float)p->alpha);
    for (int j = 0; j < r; j++) A[j * r + j] += lambda;
    double scale = mean_diag(A, r);
    if (!isfinite(scale)) return -1;
    if (!(scale > 0)) scale = 1.0;
    static const double ridge[] = {0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2};
    for (size_t k = 0; k < sizeof ridge / sizeof ridge[0]; k++) {
        memcpy(L, A, (size_t)rr * sizeof(double));
        for (int j = 0; j < r; j++) L[j * r + j] += ridge[k] * scale;
        if (als__cholesky_floor(L, r, PIVOT_DOUBLE * scale) == 0) return 0;
    }
    return -1;
}

/* The row's system before lambda: A = G (implicit) or 0 plus sum w y y^T, b = sum wb y, and
 * the ratings that count for lambda. Returns 0 when b is zero (no usable ratings: the
 * solution is exactly zero). */
static int row_system(const als__solve_ctx *c, als__solver *s, double *A, double *b,
                      const int32_t *cols, const float *vals, int64_t nnz, int64_t *count) {
    const als__params *p = c->p;
    int r = c->r, rr = r * r, implicit = p->implicit != 0;
    for (int j = 0; j < r; j++) b[j] = 0.0;
    for (int t = 0; t < rr; t++) A[t] = implicit ? c->gram[t] : 0.0;
    *count = 0;
    if (c->ytab)
        accumulate_reg(A, b, c->ytab, r, cols, vals, nnz, implicit, (float)p->alpha, count);
    else
        accumulate(A, b, s->Af, s->bf, s->Yc, c->Y, cols, vals, nnz, r, s->rp, implicit,
                   (float)p->alpha, count);
    int any = 0;
    for (int j = 0; j < r; j++) any |= b[j] != 0.0;
    return any;
}


void als__solve_row(const als__solve_ctx *c, als__solver *s, const int32_t *cols,
                    const float *vals, int64_t nnz, float *xout) {
    const als__params *p = c->p;
    int r = c->r;
    double *A = s->A, *b = s->b, *x = s->x;
    if (p->solver == ALS_SOLVER_CG && !p->nonnegative) {
        for (int j = 0; j < r; j++) b[j] = 0.0;
        solve_cg(c, s, cols, vals, nnz, xout);
        return;
    }
    int64_t count = 0;
    if (!row_system(c, s, A, b, cols, vals, nnz, &count)) {
        memset(xout, 0, (size_t)r * sizeof(float));
        return;
    }
    double lambda = row_lambda(p, count);
    for (int j = 0; j < r; j++) A[j * r + j] += lambda;
    if (p->nonnegative) {
        als__nnls(A, b, r, x, c->cancel);
    } else {
        double *L = s->work;
        memcpy(L, A, (size_t)r * (size_t)r * sizeof(double));
        if (als__cholesky_floor(L, r, PIVOT_FLOAT * mean_diag(A, r)) != 0 && (s->hard++, 1) &&
            solve_hard(c, s, cols, vals, nnz, lambda) != 0) {
            /* nothing worked: the row is zeroed and counted; fit reports it */
            memset(xout, 0, (size_t)r * sizeof(float));
            s->failed++;
            return;
        }
        als__cholesky_solve(L, r, b, x);
    }
    for (int j = 0; j < r; j++) xout[j] = (float)x[j];
}

int als__batchable(const als__solve_ctx *c) {
    return c->p->solver != ALS_SOLVER_CG && !c->p->nonnegative && c->r <= ALS__BATCH_MAXR;
}

int als__solver_batch_init(als__solver *s) {
    size_t r = (size_t)s->r;
    s->bA = malloc(ALS__LANES * r * r * sizeof(double));
    s->bb = malloc(ALS__LANES * r * sizeof(double));
    s->bx = malloc(ALS__LANES * r * sizeof(double));
    s->bwork = als__aalloc(als__cholesky_batch_work(s->r), sizeof(double));
    return s->bA && s->bb && s->bx && s->bwork ? ALS_OK : ALS_ENOMEM;
}

int als__solve_row_stage(const als__solve_ctx *c, als__solver *s, int lane, const int32_t *cols,
                         const float *vals, int64_t nnz, float *xout) {
    int r = c->r;
    double *A = s->bA + (size_t)lane * r * r, *b = s->bb + (size_t)lane * r;
    int64_t count = 0;
    if (!row_system(c, s, A, b, cols, vals, nnz, &count)) {
        memset(xout, 0, (size_t)r * sizeof(float));
        return 1;
    }
    double lambda = row_lambda(c->p, count);
    for (int j = 0; j < r; j++) A[j * r + j] += lambda;
    s->bfloor[lane] = PIVOT_FLOAT * mean_diag(A, r);
    return 0;
}

unsigned als__solve_staged(const als__solve_ctx *c, als__solver *s, int nl, float *const *xout) {
    int r = c->r;
    unsigned bad = als__cholesky_batch(s->bA, s->bb, s->bfloor, r, nl, s->bx, s->bwork);
    for (int l = 0; l < nl; l++) {
        if (bad >> l & 1) continue;
        for (int j = 0; j < r; j++) xout[l][j] = (float)s->bx[(size_t)l * r + j];
    }
    return bad;
}

void als__solve_rows(const als__solve_ctx *c, als__solver *sol, int nt, int64_t rows,
                     als__row_fn get, void *user, float *X, int64_t xs) {
    const _Atomic int *cancel = c->cancel;
    int64_t nch = (rows + ALS__ROW_CHUNK - 1) / ALS__ROW_CHUNK;
    int batch = als__batchable(c);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t ch = 0; ch < nch; ch++) {
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) continue; /* skip the rest */
        int t = omp_get_thread_num();
        als__solver *s = &sol[t];
        int64_t r0 = ch * ALS__ROW_CHUNK, r1 = r0 + ALS__ROW_CHUNK < rows ? r0 + ALS__ROW_CHUNK : rows;
        int64_t lrow[ALS__LANES];
        float *xo[ALS__LANES];
        int nl = 0;
        for (int64_t row = r0; row < r1; row++) {
            const int32_t *cols;
            const float *vals;
            int64_t len = get(user, t, row, &cols, &vals);
            if (!batch) {
                als__solve_row(c, s, cols, vals, len, X + row * xs);
                continue;
            }
            if (als__solve_row_stage(c, s, nl, cols, vals, len, X + row * xs) == 0) {
                lrow[nl] = row;
                xo[nl++] = X + row * xs;
            }
            if (nl == ALS__LANES || (row == r1 - 1 && nl > 0)) {
                unsigned bad = als__solve_staged(c, s, nl, xo);
                for (int l = 0; l < nl; l++) { /* not positive definite in float: in double */
                    if (!(bad >> l & 1)) continue;
                    len = get(user, t, lrow[l], &cols, &vals);
                    als__solve_row(c, s, cols, vals, len, xo[l]);
                }
                nl = 0;
            }
        }
    }
}

/* cg_steps conjugate-gradient steps on the dense system M x = b, in double, from x (the
 * float path's thresholds on the squared residual). work: 3 r doubles. */
static void cg_dense(const double *M, const double *b, int r, double *x, int steps, double *work) {
    double *res = work, *p = work + r, *Ap = work + 2 * r, rs = 0.0;
    for (int i = 0; i < r; i++) {
        double s = 0.0;
        for (int j = 0; j < r; j++) s += M[i * r + j] * x[j];
        p[i] = res[i] = b[i] - s;
        rs += res[i] * res[i];
    }
    for (int it = 0; it < steps && rs > 1e-20; it++) {
        double pAp = 0.0;
        for (int i = 0; i < r; i++) {
            double s = 0.0;
            for (int j = 0; j < r; j++) s += M[i * r + j] * p[j];
            Ap[i] = s;
            pAp += p[i] * s;
        }
        if (!(pAp > 0.0)) break;
        double a = rs / pAp, rs_new = 0.0;
        for (int i = 0; i < r; i++) {
            x[i] += a * p[i];
            res[i] -= a * Ap[i];
            rs_new += res[i] * res[i];
        }
        if (rs_new < 1e-20) break;
        double beta = rs_new / rs;
        for (int i = 0; i < r; i++) p[i] = res[i] + beta * p[i];
        rs = rs_new;
    }
}

int als__solve_packed(const als__params *p, int r, const double *Ap, const double *b,
                      int64_t count, const double *G, double *work, double *x,
                      const _Atomic int *cancel) {
    int any = 0;
    for (int j = 0; j < r; j++) any |= b[j] != 0.0;
    if (!any) return 1;
    double *M = work, *L = work + (size_t)r * r;
    /* M = G + A (symmetric; G's lower triangle, as the Cholesky reads it) */
    for (int i = 0, k = 0; i < r; i++)
        for (int j = i; j < r; j++, k++) {
            double v = Ap[k] + (G ? G[j * r + i] : 0.0);
            M[i * r + j] = M[j * r + i] = v;
        }
    double lambda = row_lambda(p, count);
    for (int j = 0; j < r; j++) M[j * r + j] += lambda;
    if (p->nonnegative) {
        als__nnls(M, b, r, x, cancel);
        return 0;
    }
    if (p->solver == ALS_SOLVER_CG) {
        cg_dense(M, b, r, x, (int)p->cg_steps, L);
        return 0;
    }
    double scale = mean_diag(M, r);
    if (!isfinite(scale)) return -1;
    if (!(scale > 0)) scale = 1.0;
    static const double ridge[] = {0.0, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2};
    for (size_t k = 0; k < sizeof ridge / sizeof ridge[0]; k++) {
        memcpy(L, M, (size_t)r * (size_t)r * sizeof(double));
        for (int j = 0; j < r; j++) L[j * r + j] += ridge[k] * scale;
        if (als__cholesky_floor(L, r, PIVOT_DOUBLE * scale) == 0) {
            als__cholesky_solve(L, r, b, x);
            return 0;
        }
    }
    return -1;
}

static inline __attribute__((always_inline)) void
scatter_body(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
             int32_t *restrict touched, int64_t *ntouched, const int qf, const int rb,
             const float *restrict q, const int32_t *cols, const float *vals, int64_t nnz,
             int implicit, float alpha) {
    int64_t nt = *ntouched;
    for (int64_t e = 0; e < nnz; e++) {
        if (e + 8 < nnz) { /* the system of a later rating: fetch its lines */
            const float *n = accf + (size_t)cols[e + 8] * (size_t)qf;
            for (int k = 0; k < qf; k += 16) __builtin_prefetch(n + k, 1);
        }
        size_t i = (size_t)cols[e];
        float *restrict a = accf + i * (size_t)qf;
        float w, wb;
        rating_weights(vals[e], implicit, alpha, &w, &wb);
        for (int k = 0; k < rb; k++) a[k] += wb * q[k];
        if (w != 0.0f)
            for (int k = rb; k < qf; k++) a[k] += w * q[k];
        unsigned c = cnt[i]; /* 1 + the ratings in the float sums; 0: untouched */
        if (c == 0) touched[nt++] = (int32_t)i, c = 1;
        if (c == CHUNK) { /* CHUNK float sums, then into double, as accumulate does */
            double *restrict d = accd + i * (size_t)qf;
            for (int k = 0; k < qf; k++) {
                d[k] += a[k];
                a[k] = 0.0f;
            }
            c = 0;
        }
        cnt[i] = (uint8_t)(c + 1);
    }
    *ntouched = nt;
}

#define SCATTER(QF)                                                                           \
    ALS__MULTIVERSION static void scatter_##QF(float *restrict accf, double *restrict accd,        \
                                          uint8_t *restrict cnt, int32_t *restrict touched,   \
                                          int64_t *ntouched, const float *restrict q,         \
                                          const int32_t *cols, const float *vals, int64_t nnz, \
                                          int implicit, float alpha) {                        \
        scatter_body(accf, accd, cnt, touched, ntouched, QF, 16, q, cols, vals, nnz, implicit, \
                     alpha);                                                                  \
    }
SCATTER(32)
SCATTER(48)
SCATTER(64)
SCATTER(80)
SCATTER(96)
SCATTER(112)
SCATTER(128)
SCATTER(144)
SCATTER(160)
#undef SCATTER

ALS__MULTIVERSION
static void scatter_any(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
                        int32_t *restrict touched, int64_t *ntouched, int qf, int rb,
                        const float *restrict q, const int32_t *cols, const float *vals,
                        int64_t nnz, int implicit, float alpha) {
    scatter_body(accf, accd, cnt, touched, ntouched, qf, rb, q, cols, vals, nnz, implicit, alpha);
}

void als__scatter_row(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
                      int32_t *restrict touched, int64_t *ntouched, int qf, int rb,
                      const float *restrict q, const int32_t *cols, const float *vals,
                      int64_t nnz, int implicit, float alpha) {
    if (rb == 16) switch (qf) {
#define CASE(QF) case QF: scatter_##QF(accf, accd, cnt, touched, ntouched, q, cols, vals, nnz, implicit, alpha); return;
        CASE(32) CASE(48) CASE(64) CASE(80) CASE(96) CASE(112) CASE(128) CASE(144) CASE(160)
#undef CASE
        default: break;
        }
    scatter_any(accf, accd, cnt, touched, ntouched, qf, rb, q, cols, vals, nnz, implicit, alpha);
}

void als__scatter_flush(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
                        const int32_t *touched, int64_t ntouched, int qf) {
    for (int64_t t = 0; t < ntouched; t++) {
        size_t i = (size_t)touched[t];
        float *restrict a = accf + i * (size_t)qf;
        double *restrict d = accd + i * (size_t)qf;
        for (int k = 0; k < qf; k++) {
            d[k] += a[k];
            a[k] = 0.0f;
        }
        cnt[i] = 0;
    }
}

/* The item half-step by conjugate-gradient sweeps (fit.c, ALS_ITEMEQ_SWEEP). A block of
 * items keeps its CG vectors (rows of rp floats) in the L2 cache while the users of the
 * block stream past in user order: one pass over the users per CG product for the whole
 * block, instead of a random gather of every item's users from the whole user table. */

static inline __attribute__((always_inline)) float sweep_value(const void *val, int vk, int64_t e) {
    return vk == ALS__V_F32 ? ((const float *)val)[e]
           : vk == ALS__V_U16 ? (float)((const uint16_t *)val)[e]
                              : 1.0f;
}

static inline __attribute__((always_inline)) void sweep_nv(
    const float *restrict U, int r, int nv, const int32_t *restrict ruser,
    const int64_t *restrict rend, int64_t r0, int64_t r1, int64_t e, const uint16_t *restrict li,
    const void *val, int vk, int implicit, float alpha, const float *restrict P,
    const uint8_t *restrict active, float *restrict Q, float *restrict Bv) {
    const int rp = 16 * nv;
    for (int64_t k = r0; k < r1; k++) {
        if (k + 4 < r1) prefetch_row(U + (int64_t)ruser[k + 4] * r, r);
        const float *x = U + (int64_t)ruser[k] * r;
        v16f xv[8] = {{0}};
        if (r == rp) {
            for (int c = 0; c < nv; c++) xv[c] = VLD(x + 16 * c);
        } else {
            float xp[128];
            copy_padded(xp, x, r, rp);
            for (int c = 0; c < nv; c++) xv[c] = VLD(xp + 16 * c);
        }
        for (int64_t e1 = rend[k]; e < e1; e++) {
            int j = li[e];
            float w, wb;
            rating_weights(sweep_value(val, vk, e), implicit, alpha, &w, &wb);
            if (Bv && wb != 0.0f) {
                float *bj = Bv + (int64_t)j * rp;
                for (int c = 0; c < nv; c++) VST(bj + 16 * c, VLD(bj + 16 * c) + wb * xv[c]);
            }
            if (w == 0.0f || !active[j]) continue;
            const float *pj = P + (int64_t)j * rp;
            float *qj = Q + (int64_t)j * rp;
            v16f acc = {0};
            for (int c = 0; c < nv; c++) acc += xv[c] * VLD(pj + 16 * c);
            float d = hsum16(acc) * w;
            for (int c = 0; c < nv; c++) VST(qj + 16 * c, VLD(qj + 16 * c) + d * xv[c]);
        }
    }
}

ALS__MULTIVERSION
void als__cg_sweep(const float *U, int r, int rp, const int32_t *ruser, const int64_t *rend,
                   int64_t r0, int64_t r1, int64_t e0, const uint16_t *li, const void *val, int vk,
                   int implicit, float alpha, const float *P, const uint8_t *active, float *Q,
                   float *Bv) {
    switch (rp) { /* rp <= 128: fit.c takes the sweeps up to rank 128 only */
    case 16: sweep_nv(U, r, 1, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 32: sweep_nv(U, r, 2, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 48: sweep_nv(U, r, 3, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 64: sweep_nv(U, r, 4, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 80: sweep_nv(U, r, 5, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 96: sweep_nv(U, r, 6, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    case 112: sweep_nv(U, r, 7, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    default: sweep_nv(U, r, 8, ruser, rend, r0, r1, e0, li, val, vk, implicit, alpha, P, active, Q, Bv); return;
    }
}

/* Item j's product A p = lambda p + G p + sum over the threads' parts Q_t[j] (nq parts
 * `stride` floats apart), into out. */
ALS__MULTIVERSION
void als__cg_sweep_product(const float *G, int r, int rp, float lambda, const float *p,
                           const float *Q, int nq, size_t stride, float *out) {
    apply_base(G, r, rp, lambda, p, out);
    for (int t = 0; t < nq; t++)
        for (int c = 0; c < rp; c += 16) VST(out + c, VLD(out + c) + VLD(Q + (size_t)t * stride + c));
}
