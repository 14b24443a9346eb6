/* Training. The ratings are grouped by user once (in place when the input already is, else
 * by a counting sort into columns as narrow as the ratings' own), and both half-steps run
 * from that one user-major store: users row by row, and items either by summing every
 * user's share of each item's normal equations into per-thread systems (no item-major
 * copy: the default when those systems are smaller than the copy) or, for high ranks with
 * many items, from an item-major copy. Gaussian unit-norm initial factors; per iteration
 * items from users, then users from items (Spark's order). */
#include <math.h>
#include <stdatomic.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>

#include "als/model_internal.h"

/* Rows of ratings: row `row` holds entries ptr[row] .. ptr[row + 1] - 1 of col (iw bytes
 * each: uint16_t or int32_t) and val (per vk: absent = all 1, uint16_t or float). */
typedef struct {
    int64_t *ptr;
    void *col, *val;
    int iw, vk;
    int64_t rows, maxrow;
    int borrowed; /* col and val point into the ratings (already in row order) */
} rowset;

static void rowset_free(rowset *c) {
    free(c->ptr);
    if (!c->borrowed) {
        als__afree(c->col);
        als__afree(c->val);
    }
    memset(c, 0, sizeof *c);
}

static size_t vbytes(int vk) { return vk == ALS__V_F32 ? 4 : vk == ALS__V_U16 ? 2 : 0; }

static void set_maxrow(rowset *c) {
    c->maxrow = 0;
    for (int64_t r = 0; r < c->rows; r++)
        if (c->ptr[r + 1] - c->ptr[r] > c->maxrow) c->maxrow = c->ptr[r + 1] - c->ptr[r];
}

/* The ratings by user. Ratings already grouped by user in non-decreasing order (files
 * sorted by user, the usual export) are their own rowset: only the row pointers are
 * built. Otherwise a stable counting sort (a user's ratings keep the input order, so the
 * results do not depend on anything else) copies the item and value columns, as narrow
 * as the ratings hold them. */
static int rowset_by_user(rowset *c, const als_ratings *R) {
    int64_t n = R->n, rows = R->umap.n;
    int sorted = als__ratings_grouped(R);
    memset(c, 0, sizeof *c);
    c->rows = rows;
    c->iw = R->iw;
    c->vk = R->vk;
    c->ptr = calloc((size_t)rows + 1, sizeof(int64_t));
    if (!c->ptr) return ALS_ENOMEM;
    als__ucur uc = als__ucur_start(R);
    for (int64_t t = 0; t < n; t++) c->ptr[als__ucur_user(R, &uc, t) + 1]++;
    for (int64_t r = 0; r < rows; r++) c->ptr[r + 1] += c->ptr[r];
    set_maxrow(c);
    if (sorted) {
        c->col = R->irow;
        c->val = R->vals;
        c->borrowed = 1;
        return ALS_OK;
    }
    size_t vb = vbytes(c->vk);
    int64_t *pos = malloc((size_t)(rows ? rows : 1) * sizeof(int64_t));
    c->col = als__aalloc((size_t)(n ? n : 1), (size_t)c->iw);
    c->val = vb ? als__aalloc((size_t)(n ? n : 1), vb) : NULL;
    if (!pos || !c->col || (vb && !c->val)) {
        free(pos);
        rowset_free(c);
        return ALS_ENOMEM;
    }
    memcpy(pos, c->ptr, (size_t)rows * sizeof(int64_t));
    uc = als__ucur_start(R);
    for (int64_t t = 0; t < n; t++) {
        int64_t at = pos[als__ucur_user(R, &uc, t)]++;
        if (c->iw == 2) ((uint16_t *)c->col)[at] = ((const uint16_t *)R->irow)[t];
        else ((int32_t *)c->col)[at] = ((const int32_t *)R->irow)[t];
        if (vb == 2) ((uint16_t *)c->val)[at] = ((const uint16_t *)R->vals)[t];
        else if (vb == 4) ((float *)c->val)[at] = ((const float *)R->vals)[t];
    }
    free(pos);
    return ALS_OK;
}

/* The ratings by item, wide (int32 users, float values): ratings.c's counting sort. */
static int rowset_by_item(rowset *c, const als_ratings *R) {
    memset(c, 0, sizeof *c);
    int32_t *col;
    float *val;
    int rc = als__ratings_group(R, 1, &c->ptr, &col, &val);
    if (rc) return rc;
    c->col = col;
    c->val = val;
    c->iw = 4;
    c->vk = ALS__V_F32;
    c->rows = R->imap.n;
    set_maxrow(c);
    return ALS_OK;
}

#define ROW_AHEAD 4 /* rows between a row's prefetch and its use */

/* Row `row` as int32 columns and float values: pointers into a wide rowset, else decoded
 * into the caller's buffers (maxrow entries each). Returns the row's length. */
static int64_t row_of(const rowset *c, int64_t row, int32_t *cb, float *vb, const int32_t **cols,
                      const float **vals) {
    int64_t a = c->ptr[row], n = c->ptr[row + 1] - a;
    if (row + ROW_AHEAD < c->rows) { /* a later row's entries: rows are read one after another */
        int64_t f0 = c->ptr[row + ROW_AHEAD], f1 = c->ptr[row + ROW_AHEAD + 1];
        const char *cp = (const char *)c->col, *vp = (const char *)c->val;
        size_t vw = vbytes(c->vk);
        for (int64_t e = f0; e < f1; e += 64 / c->iw) __builtin_prefetch(cp + e * c->iw);
        for (int64_t e = f0; vw && e < f1; e += 64 / (int64_t)vw) __builtin_prefetch(vp + e * (int64_t)vw);
    }
    if (c->iw == 4) {
        *cols = (const int32_t *)c->col + a;
    } else {
        const uint16_t *s = (const uint16_t *)c->col + a;
        for (int64_t e = 0; e < n; e++) cb[e] = s[e];
        *cols = cb;
    }
    if (c->vk == ALS__V_F32) {
        *vals = (const float *)c->val + a;
    } else if (c->vk == ALS__V_U16) {
        const uint16_t *s = (const uint16_t *)c->val + a;
        for (int64_t e = 0; e < n; e++) vb[e] = s[e];
        *vals = vb;
    } else {
        for (int64_t e = 0; e < n; e++) vb[e] = 1.0f;
        *vals = vb;
    }
    return n;
}

/* Per-thread decode buffers for the rows of c (none needed when c is wide). */
typedef struct {
    int32_t *cb;
    float *vb;
} rowbuf;

static int rowbufs_init(rowbuf *b, int nt, const rowset *c) {
    int64_t m = c->maxrow ? c->maxrow : 1;
    int need = c->iw != 4 || c->vk != ALS__V_F32;
    for (int t = 0; t < nt; t++) {
        if (need && (!(b[t].cb = malloc((size_t)m * sizeof(int32_t))) ||
                     !(b[t].vb = malloc((size_t)m * sizeof(float)))))
            return ALS_ENOMEM;
    }
    return ALS_OK;
}

static void rowbufs_free(rowbuf *b, int nt) {
    for (int t = 0; b && t < nt; t++) {
        free(b[t].cb);
        free(b[t].vb);
    }
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

/* als__solve_rows's view of a rowset: row `row` decoded into thread t's buffers. */
typedef struct {
    const rowset *m;
    rowbuf *bufs;
} rowsrc;

static int64_t rowsrc_get(void *user, int t, int64_t row, const int32_t **cols, const float **vals) {
    const rowsrc *s = user;
    return row_of(s->m, row, s->bufs[t].cb, s->bufs[t].vb, cols, vals);
}

/* The Gramian in float for the CG kernels: r rows of rp floats, zeros past r (NULL when out
 * of memory). */
static float *gram_padded(const double *gram, int r, int rp) {
    float *g = als__aalloc((size_t)r * (size_t)rp, sizeof(float));
    for (int i = 0; g && i < r; i++)
        for (int j = 0; j < rp; j++) g[i * rp + j] = j < r ? (float)gram[i * r + j] : 0.0f;
    return g;
}

/* Solve every row of `m` (rows x r factors in X) against Y. */
static int half_step(const als__params *p, const rowset *m, const float *Y, int64_t ny, float *X,
                     int r, int nt, double *gram, als__solver *sol, rowbuf *bufs,
                     const _Atomic int *cancel) {
    if (p->implicit) {
        int rc = als__gram(Y, ny, r, nt, gram);
        if (rc) return rc;
    }
    float *gram_f = NULL;
    int rp = (r + 15) / 16 * 16;
    if (p->implicit && p->solver == ALS_SOLVER_CG) {
        if (!(gram_f = gram_padded(gram, r, rp))) return ALS_ENOMEM;
    }
    /* Cholesky and NNLS at small ranks read the packed table of Y (solve.c) when it is
     * small against the ratings: the fixed side's outer products, computed once here. */
    float *ytab = NULL;
    if (als__use_ytab(p, r, ny) && als__ytab(Y, ny, r, nt, &ytab) != ALS_OK) {
        als__afree(gram_f);
        return ALS_ENOMEM;
    }
    als__solve_ctx ctx = {p, p->implicit ? gram : NULL, Y, r, gram_f, cancel, ytab};
    rowsrc src = {m, bufs};
    als__solve_rows(&ctx, sol, nt, m->rows, rowsrc_get, &src, X, r);
    als__afree(gram_f);
    als__afree(ytab);
    return ALS_OK;
}

/* The item half-step from the user-major store: thread t sums the share of its users
 * (a fixed range, balanced by ratings, so the sums are deterministic for a thread count)
 * of every item's packed system: in float over CHUNK ratings at a time, then in double
 * (solve.c's als__scatter_row), per thread; the double sums are then added in thread order
 * and every item is solved from its summed system. Per thread and item: qf floats, qf
 * doubles and a counter (at rank 10, 80 x 12 + 1 bytes). */
typedef struct {
    float *accf;    /* nt blocks of ni x qf */
    double *accd;   /* nt blocks of ni x qf */
    uint8_t *cnt;   /* nt blocks of ni */
    int32_t *touched; /* nt blocks of ni */
    float *q;       /* nt rows of qf: the user's packed row */
    int64_t *count; /* per item: the ratings that count for lambda */
    int qf, rb;
    /* the blocked variant (rank <= 16, see item_blocked), per thread; accf, cnt, q unused */
    int blocked;
    int64_t cap;    /* entries the block buffers hold */
    float *ub;      /* nt blocks of SUB_USERS x 16: the block's user rows, padded */
    int32_t *hist;  /* nt blocks of ni: the item's entries in the block (0 between blocks) */
    int32_t *start; /* nt blocks of ni */
    uint16_t *li;   /* nt blocks of cap (2 cap with counts): the block's entries by item, as
                     * user-in-block, each followed by its count when the values are counts */
    char *lv;       /* nt blocks of cap float values (NULL: all 1, or counts) */
} itemsys;

static void itemsys_free(itemsys *is) {
    als__afree(is->accf);
    als__afree(is->accd);
    free(is->cnt);
    als__afree(is->q);
    free(is->touched);
    als__afree(is->ub);
    free(is->hist);
    free(is->start);
    free(is->li);
    free(is->lv);
    memset(is, 0, sizeof *is);
}

/* The blocked item half-step at ranks up to 16: a thread takes its users in blocks of at
 * most SUB_USERS users and SUB_ENTRIES ratings (or one user with more), which never cross a
 * SCATTER_BLOCK boundary, so the blocks do not depend on the thread count. A block's
 * ratings are bucketed by item (a counting sort over the items it touches) and each item's
 * bucket is summed in registers against the block's user rows, which stay in the L2 cache
 * (als__item_block), then added to the item's double sums: one read-modify-write of an
 * item's sums per block instead of one per rating. */
#define SUB_USERS 16384
#define SUB_ENTRIES (1 << 20)

#define SCATTER_BLOCK 32768 /* users between flushes of the item half-step's float sums */

/* User u rounded up to a block boundary (nu at most). */
static int64_t block_at(int64_t u, int64_t nu) {
    int64_t b = (u + SCATTER_BLOCK - 1) / SCATTER_BLOCK * SCATTER_BLOCK;
    return b < nu ? b : nu;
}

/* The first user whose ratings start at or after entry `at` (ptr is non-decreasing). */
static int64_t first_user_at(const int64_t *ptr, int64_t nu, int64_t at) {
    int64_t a = 0, b = nu;
    while (a < b) {
        int64_t m = a + (b - a) / 2;
        if (ptr[m] < at) a = m + 1;
        else b = m;
    }
    return a;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int item_blocked(const rowset *byu, const float *U, int64_t nu, int64_t ni, int r, int nt,
                        const itemsys *is, int implicit, float alpha, const _Atomic int *cancel) {
    size_t qf = (size_t)is->qf, blk = (size_t)ni * qf;
    int used = 1;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T;
        double *accd = is->accd + (size_t)t * blk;
        float *ub = is->ub + (size_t)t * SUB_USERS * 16;
        int32_t *hist = is->hist + (size_t)t * (size_t)ni, *start = is->start + (size_t)t * (size_t)ni;
        int32_t *touched = is->touched + (size_t)t * (size_t)ni;
        size_t vw = vbytes(byu->vk);
        int inter = vw == 2; /* counts interleaved with the indexes: one write per rating */
        uint16_t *li = is->li + (size_t)t * (size_t)is->cap * (inter ? 2 : 1);
        char *lv = vw == 4 ? is->lv + (size_t)t * (size_t)is->cap * vw : NULL;
        const int64_t *ptr = byu->ptr;
        const uint16_t *c16 = byu->iw == 2 ? (const uint16_t *)byu->col : NULL;
        const int32_t *c32 = (const int32_t *)byu->col;
        const char *val = (const char *)byu->val;
        memset(accd, 0, blk * sizeof(double));
        memset(hist, 0, (size_t)ni * sizeof(int32_t));
        for (int j = 0; j < SUB_USERS * 16; j++) ub[j] = 0.0f;
        int64_t n = ptr[nu];
        int64_t u0 = t == 0 ? 0 : block_at(first_user_at(ptr, nu, n / T * t + n % T * t / T), nu);
        int64_t u1 = t == T - 1 ? nu : block_at(first_user_at(ptr, nu, n / T * (t + 1) + n % T * (t + 1) / T), nu);
        for (int64_t b0 = u0; b0 < u1;) {
            if (atomic_load_explicit(cancel, memory_order_relaxed)) break;
            int64_t lim = block_at(b0 + 1, nu), b1 = b0 + 1;
            if (lim > u1) lim = u1;
            while (b1 < lim && b1 - b0 < SUB_USERS && ptr[b1 + 1] - ptr[b0] <= SUB_ENTRIES) b1++;
            int64_t e0 = ptr[b0], e1 = ptr[b1], nt_ = 0;
            for (int64_t u = b0; u < b1; u++)
                for (int j = 0; j < r; j++) ub[(u - b0) * 16 + j] = U[u * r + j];
            /* bucket the block's ratings by item (stable: a bucket keeps the entry order) */
            for (int64_t e = e0; e < e1; e++) {
                int32_t it = c16 ? c16[e] : c32[e];
                if (hist[it]++ == 0) touched[nt_++] = it;
            }
            int dense = nt_ > ni / 4; /* then in item order, so the sums are read in order */
            if (dense) {
                nt_ = 0;
                for (int64_t i = 0; i < ni; i++)
                    if (hist[i]) touched[nt_++] = (int32_t)i;
            }
            for (int64_t k = 0, pos = 0; k < nt_; k++) {
                start[touched[k]] = (int32_t)pos;
                pos += hist[touched[k]];
            }
            for (int64_t u = b0; u < b1; u++)
                for (int64_t e = ptr[u]; e < ptr[u + 1]; e++) {
                    int32_t it = c16 ? c16[e] : c32[e];
                    int64_t at = start[it]++;
                    if (inter) {
                        li[2 * at] = (uint16_t)(u - b0);
                        li[2 * at + 1] = ((const uint16_t *)val)[e];
                    } else {
                        li[at] = (uint16_t)(u - b0);
                        if (lv) memcpy(lv + (size_t)at * vw, val + (size_t)e * vw, vw);
                    }
                }
            for (int64_t k = 0, pos = 0; k < nt_; k++) {
                int32_t it = touched[k];
                int64_t cnt = hist[it];
                if (k + 2 < nt_) { /* the sums of a later item: fetch their lines */
                    const char *nx = (const char *)(accd + (size_t)touched[k + 2] * qf);
                    for (size_t o = 0; o < qf * sizeof(double); o += 64) __builtin_prefetch(nx + o, 1);
                }
                als__item_block(accd + (size_t)it * qf, ub, li + (inter ? 2 * pos : pos),
                                inter ? li : NULL, lv ? (const float *)lv + pos : NULL, cnt, r,
                                implicit, alpha);
                pos += cnt;
                hist[it] = 0;
            }
            b0 = b1;
        }
    }
    return used;
}

static int item_step_user_major(const als__params *p, const rowset *byu, const float *U,
                                int64_t nu, float *V, int64_t ni, int r, int nt, double *gram,
                                const itemsys *is, rowbuf *bufs, double *work,
                                const _Atomic int *cancel, int64_t *failed_out) {
    int implicit = p->implicit != 0;
    if (implicit) {
        int rc = als__gram(U, nu, r, nt, gram);
        if (rc) return rc;
    }
    size_t qf = (size_t)is->qf, blk = (size_t)ni * qf;
    int rb = is->rb, used = 1;
    float alpha = (float)p->alpha;
    if (is->blocked) {
        used = item_blocked(byu, U, nu, ni, r, nt, is, implicit, alpha, cancel);
    } else
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        if (t == 0) used = T; /* the runtime may give fewer threads than asked */
        float *accf = is->accf + (size_t)t * blk, *q = is->q + (size_t)t * qf;
        double *accd = is->accd + (size_t)t * blk;
        uint8_t *cnt = is->cnt + (size_t)t * (size_t)ni;
        memset(accf, 0, blk * sizeof(float));
        memset(accd, 0, blk * sizeof(double));
        memset(cnt, 0, (size_t)ni);
        int32_t *touched = is->touched + (size_t)t * (size_t)ni;
        int64_t ntouched = 0;
        /* users [u0, u1): the t-th share of the ratings, in whole blocks of SCATTER_BLOCK
         * users; the float sums are flushed at the end of every block */
        int64_t n = byu->ptr[nu];
        int64_t u0 = t == 0 ? 0 : block_at(first_user_at(byu->ptr, nu, n / T * t + n % T * t / T), nu);
        int64_t u1 = t == T - 1 ? nu : block_at(first_user_at(byu->ptr, nu, n / T * (t + 1) + n % T * (t + 1) / T), nu);
        for (int64_t u = u0; u < u1; u++) {
            if (u % SCATTER_BLOCK == 0) {
                als__scatter_flush(accf, accd, cnt, touched, ntouched, (int)qf);
                ntouched = 0;
                if (atomic_load_explicit(cancel, memory_order_relaxed)) break;
            }
            const int32_t *cols;
            const float *vals;
            int64_t len = row_of(byu, u, bufs[t].cb, bufs[t].vb, &cols, &vals);
            if (len == 0) continue;
            als__packed_row(U + u * r, r, q);
            als__scatter_row(accf, accd, cnt, touched, &ntouched, (int)qf, rb, q, cols, vals, len,
                             implicit, alpha);
        }
        als__scatter_flush(accf, accd, cnt, touched, ntouched, (int)qf);
    }
    if (atomic_load(cancel)) return ALS_OK; /* the caller reports it */
    /* sum the blocks into the first, then solve each item */
    int64_t failed = 0;
    size_t per = 2 * (size_t)r * r + 4 * (size_t)r + 8;
#pragma omp parallel for schedule(dynamic, 64) num_threads(nt) reduction(+ : failed)
    for (int64_t i = 0; i < ni; i++) {
        double *a = is->accd + (size_t)i * qf;
        for (int t = 1; t < used; t++) {
            const double *o = is->accd + (size_t)t * blk + (size_t)i * qf;
            for (size_t k = 0; k < qf; k++) a[k] += o[k];
        }
        double *w = work + (size_t)omp_get_thread_num() * per, *x = w + 2 * (size_t)r * r + 3 * (size_t)r;
        float *y = V + i * r;
        for (int j = 0; j < r; j++) x[j] = y[j]; /* CG's warm start */
        int st = als__solve_packed(p, r, a + rb, a, is->count[i], implicit ? gram : NULL, w, x, cancel);
        if (st == 0) {
            for (int j = 0; j < r; j++) y[j] = (float)x[j];
        } else {
            memset(y, 0, (size_t)r * sizeof(float));
            failed += st < 0;
        }
    }
    *failed_out += failed;
    return ALS_OK;
}

/* The ratings for the item half-step by CG sweeps (ALS_ITEMEQ_SWEEP): the items in blocks
 * of bs, and each block's ratings by user (a stable counting sort of the user-major store
 * by block: a user's entries in a block keep their order), as runs of one user's entries.
 * Entry: the item within its block (16 bits) and the value as the store holds it; run: the
 * user and one past its last entry. */
typedef struct {
    int64_t nb, bs;
    int64_t *bent; /* nb + 1: each block's first entry */
    int64_t *brun; /* nb + 1: each block's first run */
    int32_t *ruser;
    int64_t *rend;
    uint16_t *li;
    void *val;
    int vk;
    /* the block's CG state (bs rows of rp floats each, shared) and the threads' parts */
    float *X, *R, *P, *Ap, *Q, *B;
    float *lam, *rs;
    uint8_t *active;
} sweepset;

static void sweepset_free(sweepset *w) {
    free(w->bent);
    free(w->brun);
    free(w->ruser);
    free(w->rend);
    free(w->li);
    free(w->val);
    als__afree(w->X);
    als__afree(w->R);
    als__afree(w->P);
    als__afree(w->Ap);
    als__afree(w->Q);
    als__afree(w->B);
    free(w->lam);
    free(w->rs);
    free(w->active);
    memset(w, 0, sizeof *w);
}

/* Items per block: the block's p and one thread's parts (2 bs rp floats) in half of a 2 MiB
 * L2 cache, 256 to 65,536 items (li is 16 bits). */
static int64_t sweep_block_items(int rp) {
    int64_t bs = (int64_t)(512 * 1024 / ((size_t)rp * sizeof(float)));
    return bs < 256 ? 256 : bs > 65536 ? 65536 : bs;
}

static int sweepset_build(sweepset *w, const rowset *byu, int64_t ni, int r, int nt) {
    int rp = (r + 15) / 16 * 16;
    memset(w, 0, sizeof *w);
    w->bs = sweep_block_items(rp);
    w->nb = (ni + w->bs - 1) / w->bs;
    w->vk = byu->vk;
    int64_t nb = w->nb, bs = w->bs, nu = byu->rows, n = byu->ptr[nu];
    size_t vb = vbytes(byu->vk), rows = (size_t)bs * (size_t)rp;
    int64_t *last = malloc((size_t)nb * sizeof *last), *pe = malloc((size_t)nb * sizeof *pe);
    int64_t *pr = malloc((size_t)nb * sizeof *pr);
    w->bent = calloc((size_t)nb + 1, sizeof *w->bent);
    w->brun = calloc((size_t)nb + 1, sizeof *w->brun);
    w->li = malloc((size_t)(n ? n : 1) * sizeof *w->li);
    w->val = vb ? malloc((size_t)(n ? n : 1) * vb) : NULL;
    w->X = als__aalloc(rows, sizeof(float));
    w->R = als__aalloc(rows, sizeof(float));
    w->P = als__aalloc(rows, sizeof(float));
    w->Ap = als__aalloc(rows, sizeof(float));
    w->Q = als__aalloc((size_t)nt * rows, sizeof(float));
    w->B = als__aalloc((size_t)nt * rows, sizeof(float));
    w->lam = malloc((size_t)bs * sizeof(float));
    w->rs = malloc((size_t)bs * sizeof(float));
    w->active = malloc((size_t)bs);
    int ok = last && pe && pr && w->bent && w->brun && w->li && (!vb || w->val) && w->X && w->R &&
             w->P && w->Ap && w->Q && w->B && w->lam && w->rs && w->active;
    const uint16_t *c16 = byu->iw == 2 ? (const uint16_t *)byu->col : NULL;
    const int32_t *c32 = (const int32_t *)byu->col;
    if (ok) { /* count each block's entries and runs */
        for (int64_t b = 0; b < nb; b++) last[b] = -1;
        for (int64_t u = 0; u < nu; u++)
            for (int64_t e = byu->ptr[u]; e < byu->ptr[u + 1]; e++) {
                int64_t b = (c16 ? c16[e] : c32[e]) / bs;
                w->bent[b + 1]++;
                if (last[b] != u) last[b] = u, w->brun[b + 1]++;
            }
        for (int64_t b = 0; b < nb; b++) {
            w->bent[b + 1] += w->bent[b];
            w->brun[b + 1] += w->brun[b];
        }
        int64_t runs = w->brun[nb];
        ok = (w->ruser = malloc((size_t)(runs ? runs : 1) * sizeof *w->ruser)) != NULL &&
             (w->rend = malloc((size_t)(runs ? runs : 1) * sizeof *w->rend)) != NULL;
    }
    if (ok) { /* fill */
        for (int64_t b = 0; b < nb; b++) last[b] = -1, pe[b] = w->bent[b], pr[b] = w->brun[b];
        for (int64_t u = 0; u < nu; u++)
            for (int64_t e = byu->ptr[u]; e < byu->ptr[u + 1]; e++) {
                int64_t it = c16 ? c16[e] : c32[e], b = it / bs, at = pe[b]++;
                if (last[b] != u) last[b] = u, w->ruser[pr[b]++] = (int32_t)u;
                w->rend[pr[b] - 1] = at + 1;
                w->li[at] = (uint16_t)(it - b * bs);
                if (vb) memcpy((char *)w->val + (size_t)at * vb, (const char *)byu->val + (size_t)e * vb, vb);
            }
    }
    free(last);
    free(pe);
    free(pr);
    if (!ok) {
        sweepset_free(w);
        return ALS_ENOMEM;
    }
    return ALS_OK;
}

/* The first run of block b whose entries end after entry `at`. */
static int64_t sweep_run_at(const sweepset *w, int64_t b, int64_t at) {
    int64_t a = w->brun[b], z = w->brun[b + 1];
    while (a < z) {
        int64_t m = a + (z - a) / 2;
        if (w->rend[m] <= at) a = m + 1;
        else z = m;
    }
    return a;
}

/* The item half-step by CG sweeps: each item gets solve_cg's steps (warm start, b - A x,
 * then cg_steps products), block by block; every product of a block is one pass over the
 * block's users, split among the threads by ratings (each thread sums its users' part of
 * every item's product, and the parts are added in thread order: deterministic for a
 * thread count). */
static int item_step_sweep(const als__params *p, sweepset *w, const float *U, int64_t nu,
                           float *V, int64_t ni, int r, int nt, double *gram,
                           const int64_t *icount, const _Atomic int *cancel) {
    int implicit = p->implicit != 0, rp = (r + 15) / 16 * 16, steps = (int)p->cg_steps;
    float alpha = (float)p->alpha;
    float *G = NULL;
    if (implicit) {
        int rc = als__gram(U, nu, r, nt, gram);
        if (rc) return rc;
        if (!(G = gram_padded(gram, r, rp))) return ALS_ENOMEM;
    }
    size_t rows = (size_t)w->bs * (size_t)rp;
    int used = 1, stop = 0, more = 0;
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), T = omp_get_num_threads();
#pragma omp single
        used = T;
        float *Qt = w->Q + (size_t)t * rows, *Bt = w->B + (size_t)t * rows;
        for (int64_t b = 0; b < w->nb; b++) {
#pragma omp single
            stop = atomic_load_explicit(cancel, memory_order_relaxed);
            if (stop) break;
            int64_t i0 = b * w->bs, nbi = ni - i0 < w->bs ? ni - i0 : w->bs;
            int64_t e0 = w->bent[b], ne = w->bent[b + 1] - e0;
            int64_t ea = e0 + ne / T * t + ne % T * t / T, ez = e0 + ne / T * (t + 1) + ne % T * (t + 1) / T;
            int64_t r0 = sweep_run_at(w, b, ea), r1 = t == T - 1 ? w->brun[b + 1] : sweep_run_at(w, b, ez);
            int64_t es = r0 > w->brun[b] ? w->rend[r0 - 1] : e0;
#pragma omp for schedule(static)
            for (int64_t j = 0; j < nbi; j++) {
                float *x = w->X + j * rp;
                for (int c = 0; c < rp; c++) x[c] = c < r ? V[(i0 + j) * r + c] : 0.0f;
                w->lam[j] = (float)(p->reg * (p->reg_scaling == ALS_REG_COUNT ? (double)icount[i0 + j] : 1.0));
                w->active[j] = 1;
            }
            memset(Qt, 0, (size_t)nbi * rp * sizeof(float));
            memset(Bt, 0, (size_t)nbi * rp * sizeof(float));
            als__cg_sweep(U, r, rp, w->ruser, w->rend, r0, r1, es, w->li, w->val, w->vk, implicit,
                          alpha, w->X, w->active, Qt, Bt);
#pragma omp barrier
#pragma omp single
            more = 0;
#pragma omp for schedule(static) reduction(| : more)
            for (int64_t j = 0; j < nbi; j++) {
                float *b0 = w->B + j * rp, *ap = w->Ap + j * rp;
                for (int q = 1; q < used; q++)
                    for (int c = 0; c < rp; c++) b0[c] += w->B[(size_t)q * rows + j * rp + c];
                als__cg_sweep_product(G, r, rp, w->lam[j], w->X + j * rp, w->Q + j * rp, used, rows, ap);
                int any = 0;
                for (int c = 0; c < r; c++) any |= b0[c] != 0.0f;
                if (!any) { /* no usable ratings: the solution is exactly zero */
                    memset(w->X + j * rp, 0, (size_t)rp * sizeof(float));
                    w->active[j] = 0;
                } else {
                    w->rs[j] = als__cg_start(rp, b0, ap, w->R + j * rp, w->P + j * rp);
                    w->active[j] = steps > 0 && w->rs[j] > 1e-20f;
                }
                more |= w->active[j];
            }
            for (int s = 0; s < steps && more; s++) {
                memset(Qt, 0, (size_t)nbi * rp * sizeof(float));
                als__cg_sweep(U, r, rp, w->ruser, w->rend, r0, r1, es, w->li, w->val, w->vk,
                              implicit, alpha, w->P, w->active, Qt, NULL);
#pragma omp barrier
#pragma omp single
                more = 0;
#pragma omp for schedule(static) reduction(| : more)
                for (int64_t j = 0; j < nbi; j++) {
                    if (!w->active[j]) continue;
                    float *ap = w->Ap + j * rp;
                    als__cg_sweep_product(G, r, rp, w->lam[j], w->P + j * rp, w->Q + j * rp, used, rows, ap);
                    w->active[j] = (uint8_t)als__cg_step(rp, w->X + j * rp, w->R + j * rp,
                                                         w->P + j * rp, ap, &w->rs[j]);
                    more |= w->active[j];
                }
            }
#pragma omp for schedule(static)
            for (int64_t j = 0; j < nbi; j++)
                for (int c = 0; c < r; c++) V[(i0 + j) * r + c] = w->X[j * rp + c];
        }
    }
    als__afree(G);
    return ALS_OK;
}

/* The training objective (see als.h), computed in double. */
static double loss(const als__params *p, const rowset *byu, const int64_t *icount,
                   const float *U, const float *V, int64_t nu, int64_t ni, int r,
                   const double *gram_v, int nt, rowbuf *bufs) {
    double total = 0.0;
    int implicit = p->implicit != 0, count = p->reg_scaling == ALS_REG_COUNT;
#pragma omp parallel for schedule(dynamic, 256) reduction(+ : total) num_threads(nt)
    for (int64_t u = 0; u < nu; u++) {
        int th = omp_get_thread_num();
        const int32_t *cols;
        const float *vals;
        int64_t len = row_of(byu, u, bufs[th].cb, bufs[th].vb, &cols, &vals);
        const float *x = U + u * r;
        double t = 0.0, xx = 0.0;
        int64_t n_u = 0;
        if (implicit)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++) t += x[i] * gram_v[i * r + j] * x[j];
        for (int64_t e = 0; e < len; e++) {
            const float *y = V + (int64_t)cols[e] * r;
            double s = 0.0, v = vals[e];
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
    for (int64_t i = 0; i < ni; i++) {
        double yy = 0.0;
        for (int j = 0; j < r; j++) yy += (double)V[i * r + j] * V[i * r + j];
        reg_items += p->reg * (count ? (double)icount[i] : (icount[i] > 0 ? 1.0 : 0.0)) * yy;
    }
    return total + reg_items;
}


/* The item half-step's strategy for these sizes (ALS_PARAM_ITEM_EQUATIONS auto). */
static int pick_item_eq(const als__params *p, int64_t n, int64_t ni, int nt) {
    int r = (int)p->rank, cg = (int)p->solver == ALS_SOLVER_CG && !p->nonnegative;
    if ((int)p->item_eq != ALS_ITEMEQ_AUTO) /* sweeps: CG up to rank 128 (their kernels) */
        return (int)p->item_eq == ALS_ITEMEQ_SWEEP && (!cg || r > 128) ? ALS_ITEMEQ_ITEM_MAJOR
                                                                        : (int)p->item_eq;
    /* per thread and item: the double sums and item_blocked's counters, or the scatter's
     * float and double sums, counter and list entry */
    double per = r <= 16 ? (r + r * (r + 1) / 2) * 8.0 + 20.0 : als__packed_qf(r) * 12.0 + 5.0;
    double sys = (double)nt * (double)ni * per, copy = 8.0 * (double)n;
    /* CG above rank 16: forming each item's system (r (r + 1) / 2 products a rating, by the
     * scatter kernel) costs more than the matrix-free steps, and those run faster as
     * sweeps over the users than on an item-major copy (48 M ratings, 2 threads, the item
     * half-step in s: rank 32 scatter 4.2, copy 1.1, sweeps 0.7; rank 64 copy 2.6, sweeps
     * 1.35; rank 100 copy 5.5, sweeps 2.4; rank 10 blocked user-major 0.26, sweeps 0.55,
     * copy 1.1). Above rank 128 the sweeps have no register kernel. */
    int rmax = cg ? 16 : 32;
    if (r <= rmax && sys <= (copy > 64e6 ? copy : 64e6)) return ALS_ITEMEQ_USER_MAJOR;
    return cg && r <= 128 ? ALS_ITEMEQ_SWEEP : ALS_ITEMEQ_ITEM_MAJOR;
}

/* Sweeps read a user's row once per product for each block that user has ratings in:
 * worth it while those runs hold a few ratings each (auto keeps the copy below 2; many
 * items with few ratings a user give runs of one). sum_u min(n_u, blocks) runs at most. */
static int sweep_dense_enough(const rowset *byu, int64_t ni, int r) {
    int64_t bs = sweep_block_items((r + 15) / 16 * 16), nb = (ni + bs - 1) / bs, runs = 0;
    for (int64_t u = 0; u < byu->rows; u++) {
        int64_t len = byu->ptr[u + 1] - byu->ptr[u];
        runs += len < nb ? len : nb;
    }
    return byu->ptr[byu->rows] >= 2 * runs;
}

ALS_API int als_model_fit(als_model *m, const als_ratings *R) {
    if (!m || !R) return als__errf(ALS_EINVAL, "als_model_fit: NULL argument");
    if (R->n == 0) return als__errf(ALS_ERANGE, "als_model_fit: no ratings");
    int64_t nu = R->umap.n, ni = R->imap.n, n = R->n;
    if (nu > INT32_MAX || ni > INT32_MAX)
        return als__errf(ALS_ERANGE, "als_model_fit: more than 2^31 users or items");
    als__params p = m->p;
    int r = (int)p.rank, nt = als__threads((int64_t)p.num_threads);
    int ieq = pick_item_eq(&p, n, ni, nt);
    rowset byu = {0}, byi = {0};
    itemsys is = {0};
    sweepset sw = {0};
    als_matrix *U = NULL, *V = NULL;
    size_t per = 2 * (size_t)r * (size_t)r + 4 * (size_t)r + 8;
    double *gram = malloc((size_t)r * (size_t)r * sizeof(double));
    double *work = malloc((size_t)nt * per * sizeof(double));
    als__solver *sol = calloc((size_t)nt, sizeof *sol);
    rowbuf *ubuf = calloc((size_t)nt, sizeof *ubuf), *ibuf = calloc((size_t)nt, sizeof *ibuf);
    int64_t *icount = calloc((size_t)(ni ? ni : 1), sizeof *icount);
    int rc = ALS_OK, ok = gram && work && sol && ubuf && ibuf && icount;
    for (int t = 0; ok && t < nt; t++)
        ok = als__solver_init(&sol[t], r) == ALS_OK &&
             (r > ALS__BATCH_MAXR || als__solver_batch_init(&sol[t]) == ALS_OK);
    ok = ok && rowset_by_user(&byu, R) == ALS_OK && rowbufs_init(ubuf, nt, &byu) == ALS_OK;
    if (ok && ieq == ALS_ITEMEQ_SWEEP && (int)p.item_eq == ALS_ITEMEQ_AUTO && !sweep_dense_enough(&byu, ni, r))
        ieq = ALS_ITEMEQ_ITEM_MAJOR;
    if (ok) { /* the ratings that count for an item's lambda (solve_row's rule) */
        for (int64_t t = 0; t < n; t++) icount[als__r_irow(R, t)] += !p.implicit || als__r_value(R, t) > 0;
    }
    if (ok && ieq == ALS_ITEMEQ_USER_MAJOR) {
        is.qf = als__packed_qf(r);
        is.rb = als__packed_rb(r);
        is.count = icount;
        size_t cells, nib = (size_t)nt * (size_t)(ni ? ni : 1);
        is.blocked = r <= 16 && byu.maxrow <= INT32_MAX; /* a block's counts fit 32 bits */
        if (is.blocked) { /* b, then the packed triangle, unpadded (item_blocked's sums) */
            is.rb = r;
            is.qf = r + r * (r + 1) / 2;
        }
        is.cap = byu.maxrow > SUB_ENTRIES ? byu.maxrow : SUB_ENTRIES;
        ok = !als__mul((size_t)nt * (size_t)ni, (size_t)is.qf * sizeof(double), &cells) &&
             (is.accd = als__aalloc(cells / sizeof(double), sizeof(double))) != NULL &&
             (is.touched = malloc(nib * sizeof(int32_t))) != NULL;
        if (ok && is.blocked)
            ok = (is.ub = als__aalloc((size_t)nt * SUB_USERS * 16, sizeof(float))) != NULL &&
                 (is.hist = malloc(nib * sizeof(int32_t))) != NULL &&
                 (is.start = malloc(nib * sizeof(int32_t))) != NULL &&
                 (is.li = malloc((size_t)nt * (size_t)is.cap * (byu.vk == ALS__V_U16 ? 2 : 1) *
                                 sizeof(uint16_t))) != NULL &&
                 (byu.vk != ALS__V_F32 ||
                  (is.lv = malloc((size_t)nt * (size_t)is.cap * sizeof(float))) != NULL);
        else if (ok)
            ok = (is.accf = als__aalloc(cells / sizeof(double), sizeof(float))) != NULL &&
                 (is.cnt = malloc(nib)) != NULL &&
                 (is.q = als__aalloc((size_t)nt * (size_t)is.qf, sizeof(float))) != NULL;
    } else if (ok && ieq == ALS_ITEMEQ_SWEEP) {
        ok = sweepset_build(&sw, &byu, ni, r, nt) == ALS_OK;
    } else if (ok) {
        ok = rowset_by_item(&byi, R) == ALS_OK && rowbufs_init(ibuf, nt, &byi) == ALS_OK;
    }
    if (!ok || als_matrix_create(&U, nu, r) || als_matrix_create(&V, ni, r)) {
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
        int64_t failed = 0;
        rc = ieq == ALS_ITEMEQ_USER_MAJOR
                 ? item_step_user_major(&p, &byu, Uf, nu, Vf, ni, r, nt, gram, &is, ubuf, work,
                                        &m->cancel, &failed)
             : ieq == ALS_ITEMEQ_SWEEP
                 ? item_step_sweep(&p, &sw, Uf, nu, Vf, ni, r, nt, gram, icount, &m->cancel)
                 : half_step(&p, &byi, Uf, nu, Vf, r, nt, gram, sol, ibuf, &m->cancel);

        if (rc || (rc = half_step(&p, &byu, Vf, ni, Uf, r, nt, gram, sol, ubuf, &m->cancel))) {
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done;
        }
        if (atomic_load(&m->cancel)) { /* mid-iteration: these factors are half-updated */
            rc = als__errf(ALS_ECANCELED, "als_model_fit: canceled by als_model_cancel during "
                           "iteration %d of %d; the model keeps its previous state", it, iters);
            goto done;
        }
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
            l = loss(&p, &byu, icount, Uf, Vf, nu, ni, r, gram, nt, ubuf);
        }
        if (m->progress && m->progress(m->progress_user, it, iters, now() - t0, l) != 0) {
            rc = als__errf(ALS_ECANCELED, "als_model_fit: canceled by the progress callback after "
                           "iteration %d of %d", it, iters);
            break; /* the factors of iteration `it` are complete: keep them */
        }
    }
    /* The half-steps' memory goes before the model's copies are made. */
    itemsys_free(&is);
    sweepset_free(&sw);
    rowset_free(&byi);
    /* Install the new state. */
    {
        als__idmap um, im;
        als__inter inter = {0};
        if (p.keep_inter) { /* the user-major store becomes the model's (copied if borrowed) */
            size_t vb = vbytes(byu.vk);
            inter.iw = byu.iw;
            inter.vk = byu.vk;
            if (byu.borrowed) {
                inter.col = als__aalloc((size_t)n, (size_t)byu.iw);
                inter.val = vb ? als__aalloc((size_t)n, vb) : NULL;
                if (!inter.col || (vb && !inter.val)) {
                    als__inter_free(&inter);
                    rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory for the interactions "
                                   "the model keeps (keepInteractions 0 saves it)");
                    goto done;
                }
                memcpy(inter.col, byu.col, (size_t)n * (size_t)byu.iw);
                if (vb) memcpy(inter.val, byu.val, (size_t)n * vb);
            } else {
                inter.col = byu.col;
                inter.val = byu.val;
                byu.col = byu.val = NULL;
            }
            inter.ptr = byu.ptr;
            byu.ptr = NULL;
        }
        if (als__idmap_copy(&um, &R->umap)) {
            als__inter_free(&inter);
            rc = als__errf(ALS_ENOMEM, "als_model_fit: out of memory");
            goto done;
        }
        if (als__idmap_copy(&im, &R->imap)) {
            als__idmap_free(&um);
            als__inter_free(&inter);
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
            als__inter_free(&inter);
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
        m->inter = inter;
        m->p_fit = p;
        m->fitted = 1;
        m->run_id = als__new_run_id();
    }
done:
    atomic_store(&m->cancel, 0);
    for (int t = 0; sol && t < nt; t++) als__solver_free(&sol[t]);
    free(sol);
    free(gram);
    free(work);
    free(icount);
    itemsys_free(&is);
    sweepset_free(&sw);
    rowbufs_free(ubuf, nt);
    rowbufs_free(ibuf, nt);
    free(ubuf);
    free(ibuf);
    rowset_free(&byu);
    rowset_free(&byi);
    als_matrix_destroy(U);
    als_matrix_destroy(V);
    return rc;
}
