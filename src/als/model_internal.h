/* Internal layout of the ALS model, shared by model.c, fit.c, solve.c, use.c and io.c. */
#ifndef ALS_MODEL_INTERNAL_H
#define ALS_MODEL_INTERNAL_H

#include <stdatomic.h>

#include "als/als_internal.h"
#include "core/scan.h"

/* Parameters as doubles (one table drives set/get/explain); the seed also exactly. */
typedef struct {
    double rank, max_iter, implicit, nonnegative, reg, alpha, reg_scaling, seed, solver,
        cg_steps, compute_loss, num_threads, item_eq, keep_inter;
    int64_t seed_exact;
} als__params;

/* The training interactions by user (model rows), kept for the calls that need who rated
 * what (als_model_items_of_user, users_of_items, recommend_unseen): ptr[users + 1], the
 * item rows (iw bytes each) and the values (ALS__V_*), as narrow as the ratings were. */
typedef struct {
    int64_t *ptr; /* NULL: none kept */
    void *col, *val;
    int iw, vk;
} als__inter;

void als__inter_free(als__inter *x);
/* Entry e's item row and value (the ratings' als__r_irow / als__r_value for the kept rows). */
static inline int32_t als__inter_item(const als__inter *x, int64_t e) {
    return x->iw == 2 ? (int32_t)((const uint16_t *)x->col)[e] : ((const int32_t *)x->col)[e];
}
static inline float als__inter_value(const als__inter *x, int64_t e) {
    return x->vk == ALS__V_ONE   ? 1.0f
           : x->vk == ALS__V_U16 ? (float)((const uint16_t *)x->val)[e]
                                 : ((const float *)x->val)[e];
}

struct als_model {
    als__params p;     /* current settings */
    als__params p_fit; /* settings the factors were trained (or loaded) with */
    als_progress_fn progress;
    void *progress_user;
    _Atomic int cancel;    /* als_model_cancel: set by any thread, cleared when fit returns */
    int fitted;
    uint64_t run_id;       /* identity of the training run (0: loaded from a v1 file) */
    als_matrix *U, *V;     /* users x rank, items x rank */
    als__idmap umap, imap; /* external id -> factor row */
    double *gram_v;        /* V^T V (rank x rank), for fold-in */
    float *vpanels;        /* item factors as a panel database, for recommend */
    als__inter inter;      /* the training interactions (keepInteractions) */
};

void als__params_default(als__params *p);
/* 0 if every parameter is within its bounds (and integral where it must be), else -1. */
int als__params_check(const als__params *p);
/* Free the fitted state (factors, maps, caches); parameters stay. */
void als__model_clear(als_model *m);
/* Build gram_v and vpanels from V (after fit or load). ALS_OK or ALS_ENOMEM. */
int als__model_finish(als_model *m);

/* Rows solved together by the batched Cholesky (chol.c), and the largest rank it takes. */
#define ALS__LANES 8
#define ALS__BATCH_MAXR 128

/* One row's normal equations, solved in double. Scratch is per thread. */
typedef struct {
    int r, rp;                /* rank, and rank rounded up to 16 floats */
    double *A, *b, *x, *work; /* r*r, r, r, 4*r + r*r */
    float *Af, *bf;           /* r x rp and rp float partial sums (Af: rows to a multiple of 4) */
    float *Yc;                /* a chunk's gathered rows for the tiled sums (rp <= 128), else NULL */
    float *fv;                /* 6 x rp floats for the conjugate-gradient vectors */
    float *gbuf;              /* gathered factor rows (gcap x rp) + weights (gcap), for CG */
    int64_t gcap;
    int64_t failed;           /* rows whose system could not be solved (set to zero) */
    int64_t hard;             /* rows re-solved in double (statistics) */
    /* the batched Cholesky (als__solver_batch_init; NULL otherwise): ALS__LANES staged rows */
    double *bA, *bb, *bx;     /* lanes x r x r systems, lanes x r right-hand sides, solutions */
    double bfloor[ALS__LANES];         /* the lanes' pivot floors */
    double *bwork;            /* als__cholesky_batch_work(r) doubles, 64-byte aligned */
} als__solver;

int als__solver_init(als__solver *s, int r);
/* The buffers of the batched Cholesky, for ranks up to ALS__BATCH_MAXR. ALS_OK or
 * ALS_ENOMEM (als__solver_free frees what was made). */
int als__solver_batch_init(als__solver *s);
void als__solver_free(als__solver *s);

/* Solve row `row` of a CSR (ptr/col/val) against factors Y (n_y x r), writing x (r floats,
 * which holds the previous value for CG warm starts). gram: Y^T Y (implicit) or NULL. */
typedef struct {
    const als__params *p;
    const double *gram;   /* Y^T Y, r x r (implicit), else NULL */
    const float *Y;
    int r;
    const float *gram_f;  /* the same in float, r x rp (padded rows), for CG; may be NULL otherwise */
    const _Atomic int *cancel; /* als_model_cancel's flag, polled by long solves; may be NULL */
    const float *ytab;    /* als__ytab of Y (Cholesky and NNLS at ranks up to 16), or NULL */
} als__solve_ctx;

/* The packed layout of a factor row y (rank r): y in the first als__packed_rb(r) floats,
 * then the packed upper triangle of y y^T (r (r + 1) / 2 floats, row by row), each part
 * padded with zeros to a multiple of 16 floats; als__packed_qf(r) floats in all. */
static inline int als__packed_rb(int r) { return (r + 15) / 16 * 16; }
static inline int als__packed_qf(int r) { return als__packed_rb(r) + (r * (r + 1) / 2 + 15) / 16 * 16; }
/* solve.c: y's packed row into t (als__packed_qf(r) floats, padding included). */
void als__packed_row(const float *y, int r, float *t);
/* Y with its rows padded to ALS__YTAB_W floats (zeros past r <= 16), for als__solve_ctx.ytab
 * (*out: als__afree). ALS_OK or ALS_ENOMEM. */
#define ALS__YTAB_W 16
int als__ytab(const float *Y, int64_t ny, int r, int nt, float **out);
/* Whether a half-step against ny fixed rows reads their als__ytab: Cholesky or NNLS at ranks
 * up to 16, with the table at most 256 MB. The shards' user solves ask the same question
 * with the same ny, so they keep the fit's bits. */
static inline int als__use_ytab(const als__params *p, int r, int64_t ny) {
    int cg = p->solver == ALS_SOLVER_CG && !p->nonnegative;
    return !cg && r <= 16 && (double)ny * 4.0 * ALS__YTAB_W <= 256e6;
}

void als__solve_row(const als__solve_ctx *c, als__solver *s, const int32_t *cols,
                    const float *vals, int64_t nnz, float *x);

/* solve.c: whether c's rows go through the batched Cholesky (solver cholesky, not NNLS, rank
 * at most ALS__BATCH_MAXR). Then a row is staged into a lane (als__solve_row_stage: the
 * system solve_row would build; 1 when its solution is exactly zero, already written to
 * xout, 0 when staged) and lanes 0..nl-1 are solved together (als__solve_staged: each xout[l]
 * gets the bits solve_row gives; the result has bit l set where lane l's float system was
 * not numerically positive definite: xout[l] is untouched, and solve_row, which re-solves
 * such a row in double, must be called for it). */
int als__batchable(const als__solve_ctx *c);
int als__solve_row_stage(const als__solve_ctx *c, als__solver *s, int lane, const int32_t *cols,
                         const float *vals, int64_t nnz, float *xout);
unsigned als__solve_staged(const als__solve_ctx *c, als__solver *s, int nl, float *const *xout);
/* solve.c: rows 0..rows-1 solved on nt threads (ALS__ROW_CHUNK rows a time, batched by
 * ALS__LANES where als__batchable), row i into X + i xs. get(user, t, i, &cols, &vals), on
 * thread t (0..nt-1), gives row i's ratings and returns their number; it may be asked for a
 * row twice (a row the batch cannot solve). sol[t] per thread, with als__solver_batch_init
 * when batchable. Stops early when c->cancel is set. */
#define ALS__ROW_CHUNK 64
typedef int64_t (*als__row_fn)(void *user, int t, int64_t row, const int32_t **cols,
                               const float **vals);
void als__solve_rows(const als__solve_ctx *c, als__solver *sol, int nt, int64_t rows,
                     als__row_fn get, void *user, float *X, int64_t xs);
/* chol.c: nl <= ALS__LANES systems at once: lane l's r x r matrix at A + l r^2 (its lower
 * triangle is read), right-hand side at b + l r, pivot floor floor[l]; solutions at x + l r.
 * Bit l of the result is set where lane l failed als__cholesky_floor (its x is then
 * meaningless); the others hold exactly what als__cholesky_floor and als__cholesky_solve
 * give. work: als__cholesky_batch_work(r) doubles, 64-byte aligned. */
size_t als__cholesky_batch_work(int r);
unsigned als__cholesky_batch(const double *A, const double *b, const double *floor, int r,
                             int nl, double *x, double *work);
/* chol.c: Cholesky of an r x r system in place (-1 if a pivot is not above floor), its
 * triangular solves, and NNLS by coordinate descent (cancel may be NULL). */
int als__cholesky_floor(double *A, int r, double floor);
void als__cholesky_solve(const double *L, int r, const double *b, double *x);
void als__nnls(const double *A, const double *b, int r, double *x, const _Atomic int *cancel);
/* solve.c: a row whose normal equations arrive summed in double: Ap the packed upper
 * triangle (row by row, r (r + 1) / 2) of sum w y y^T, b, count the ratings for lambda, G
 * Y^T Y (implicit) or NULL. NNLS, cg_steps CG steps from x (the warm start) for solver cg,
 * else Cholesky with solve_hard's ridge ladder and pivot floor. work: 2 r^2 + 3 r doubles.
 * 0: solved (x); 1: no usable ratings (the row is zero); -1: unsolvable. */
int als__solve_packed(const als__params *p, int r, const double *Ap, const double *b,
                      int64_t count, const double *G, double *work, double *x,
                      const _Atomic int *cancel);
/* solve.c: one user's ratings added to the item systems (fit.c's item half-step from the
 * user-major store, ranks above 16). q is the user's packed row (als__packed_row's layout:
 * x in the first rb floats, the packed upper triangle of x x^T after them, qf in all);
 * item i's float sums at accf + i qf get wb q[0..rb) and w q[rb..qf), solve_row's weights,
 * and go into its double sums at accd + i qf after every CHUNK of its ratings. cnt[i]
 * counts the item's ratings since its last flush plus one (0: untouched since the last
 * als__scatter_flush, which lists it in touched[*ntouched] when it is first touched).
 * als__scatter_flush moves every touched item's float sums into its double sums, so that
 * float sums never span a flush: the fit flushes at fixed blocks of users, which makes the
 * sums independent of the thread count up to the order of the double additions. */
void als__scatter_row(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
                      int32_t *restrict touched, int64_t *ntouched, int qf, int rb,
                      const float *restrict q, const int32_t *cols, const float *vals,
                      int64_t nnz, int implicit, float alpha);
void als__scatter_flush(float *restrict accf, double *restrict accd, uint8_t *restrict cnt,
                        const int32_t *touched, int64_t ntouched, int qf);
/* solve.c: the blocked item half-step's kernel (rank r <= 16): an item's ratings by n users
 * of a block, whose rows are at Ub + 16 li[e] (zero-padded), values 1 (v16 and v32 NULL),
 * v32[e], or, when v16 is not NULL, counts interleaved with the indexes (li[2 e] the index,
 * li[2 e + 1] the count; v16 only flags it), added to the item's double sums d (b in
 * d[0..r), the packed upper triangle of sum w u u^T, r (r + 1) / 2 doubles, after it), in
 * float over CHUNK ratings at a time. */
void als__item_block(double *restrict d, const float *restrict Ub, const uint16_t *restrict li,
                     const uint16_t *restrict v16, const float *restrict v32, int64_t n, int r,
                     int implicit, float alpha);
/* solve.c: the item half-step by conjugate-gradient sweeps (fit.c, ALS_ITEMEQ_SWEEP).
 * als__cg_sweep: users ruser[r0 .. r1) in turn, user k's entries e0 (for r0) .. rend[k]
 * (item li[e] of the block, value per vk): Q[j] += w (u . P[j]) u for the items with
 * active[j], and, when Bv is not NULL, Bv[j] += wb u (solve_row's weights), rows of rp
 * <= 128 floats. als__cg_sweep_product: an item's A p from its nq parts. */
void als__cg_sweep(const float *U, int r, int rp, const int32_t *ruser, const int64_t *rend,
                   int64_t r0, int64_t r1, int64_t e0, const uint16_t *li, const void *val, int vk,
                   int implicit, float alpha, const float *P, const uint8_t *active, float *Q,
                   float *Bv);
void als__cg_sweep_product(const float *G, int r, int rp, float lambda, const float *p,
                           const float *Q, int nq, size_t stride, float *out);
/* solve.c: conjugate gradient on vectors of rp floats (zeros past r), for the rows' solves
 * and the sweeps alike. als__cg_start: res = p = b - A x, returns res . res.
 * als__cg_step: one step from Ap = A p (*rs = res . res); 1 while the solve goes on, 0
 * when it stops. */
float als__cg_start(int rp, const float *b, const float *Ax, float *res, float *p);
int als__cg_step(int rp, float *x, float *res, float *p, const float *Ap, float *rs);
/* fit.c: the initial factor of row i of a side (1 users, 2 items) for a seed. */
void als__init_row(float *f, int r, uint64_t seed, uint64_t side, int64_t i);

/* Y^T Y in double, with BLIS on blocks of rows (deterministic for a thread count). */
int als__gram(const float *Y, int64_t n, int r, int nthreads, double *out);

#endif
