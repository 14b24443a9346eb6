/* The batched Cholesky (src/als/chol.c, compiled into this test from its source: it is
 * internal) against the one-row factorization it must match bit for bit, and both against
 * Gaussian elimination in long double.
 *
 * - every rank the fit batches at the sizes that matter (1 to 18, 31, 64, 128) and every
 *   lane count 1 to 8: each lane's solution has exactly the bits of als__cholesky_floor +
 *   als__cholesky_solve on the same system, and is within 1e-10 (relative to its largest
 *   entry) of the reference on systems with condition numbers up to about 1e4;
 * - lanes that are not positive definite (a negative or tiny pivot, NaN, a pivot at the
 *   floor) are flagged exactly where the one-row version fails, the others unaffected. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "als/chol.c"

#define MAXN 128

static uint64_t rng_state = 12345;

static double unif(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* A random symmetric positive definite r x r matrix: B B^T / r + shift I. */
static void spd(double *A, int r, double shift) {
    double *B = malloc((size_t)r * (size_t)r * sizeof(double));
    assert_non_null(B);
    for (int t = 0; t < r * r; t++) B[t] = unif();
    for (int i = 0; i < r; i++)
        for (int j = 0; j <= i; j++) {
            double s = 0.0;
            for (int k = 0; k < r; k++) s += B[i * r + k] * B[j * r + k];
            A[i * r + j] = A[j * r + i] = s / r + (i == j ? shift : 0.0);
        }
    free(B);
}

/* x = A^-1 b by Gaussian elimination with partial pivoting in long double. */
static void gauss(const double *A, const double *b, int r, long double *x) {
    long double *M = malloc((size_t)r * (size_t)(r + 1) * sizeof(long double));
    assert_non_null(M);
    for (int i = 0; i < r; i++) {
        for (int j = 0; j < r; j++) M[i * (r + 1) + j] = A[i * r + j];
        M[i * (r + 1) + r] = b[i];
    }
    for (int c = 0; c < r; c++) {
        int p = c;
        for (int i = c + 1; i < r; i++)
            if (fabsl(M[i * (r + 1) + c]) > fabsl(M[p * (r + 1) + c])) p = i;
        for (int j = 0; j <= r; j++) {
            long double t = M[c * (r + 1) + j];
            M[c * (r + 1) + j] = M[p * (r + 1) + j];
            M[p * (r + 1) + j] = t;
        }
        for (int i = c + 1; i < r; i++) {
            long double f = M[i * (r + 1) + c] / M[c * (r + 1) + c];
            for (int j = c; j <= r; j++) M[i * (r + 1) + j] -= f * M[c * (r + 1) + j];
        }
    }
    for (int i = r - 1; i >= 0; i--) {
        long double s = M[i * (r + 1) + r];
        for (int j = i + 1; j < r; j++) s -= M[i * (r + 1) + j] * x[j];
        x[i] = s / M[i * (r + 1) + i];
    }
    free(M);
}

typedef struct {
    double *A, *b, *x, *work, *L, *xs;
} bufs;

static void bufs_init(bufs *B) {
    size_t rr = (size_t)MAXN * MAXN;
    B->A = malloc(ALS__LANES * rr * sizeof(double));
    B->b = malloc(ALS__LANES * MAXN * sizeof(double));
    B->x = malloc(ALS__LANES * MAXN * sizeof(double));
    B->L = malloc(rr * sizeof(double));
    B->xs = malloc(MAXN * sizeof(double));
    assert_int_equal(posix_memalign((void **)&B->work, 64, als__cholesky_batch_work(MAXN) * sizeof(double)), 0);
    assert_non_null(B->A);
    assert_non_null(B->b);
    assert_non_null(B->x);
    assert_non_null(B->L);
    assert_non_null(B->xs);
}

static void bufs_free(bufs *B) {
    free(B->A);
    free(B->b);
    free(B->x);
    free(B->L);
    free(B->xs);
    free(B->work);
}

/* Solves nl lanes in a batch and one at a time; returns the batch's failure mask after
 * checking every lane against the one-row version (same failure, same bits). */
static unsigned batch_vs_scalar(bufs *B, int r, int nl, const double *floor) {
    size_t rr = (size_t)r * (size_t)r;
    memset(B->x, 0xA5, ALS__LANES * (size_t)r * sizeof(double));
    unsigned bad = als__cholesky_batch(B->A, B->b, floor, r, nl, B->x, B->work);
    assert_true(bad >> nl == 0);
    for (int l = 0; l < nl; l++) {
        memcpy(B->L, B->A + l * rr, rr * sizeof(double));
        int fail = als__cholesky_floor(B->L, r, floor[l]) != 0;
        assert_int_equal(fail, (int)(bad >> l & 1));
        if (fail) continue;
        als__cholesky_solve(B->L, r, B->b + (size_t)l * r, B->xs);
        assert_memory_equal(B->xs, B->x + (size_t)l * r, (size_t)r * sizeof(double));
    }
    return bad;
}

static void test_batch_matches_one_row(void **state) {
    (void)state;
    static const int ranks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 31, 64, 128};
    bufs B;
    bufs_init(&B);
    double floor[ALS__LANES];
    long double ref[MAXN];
    for (size_t ri = 0; ri < sizeof ranks / sizeof ranks[0]; ri++) {
        int r = ranks[ri];
        size_t rr = (size_t)r * (size_t)r;
        for (int nl = 1; nl <= ALS__LANES; nl++) {
            for (int l = 0; l < nl; l++) {
                spd(B.A + l * rr, r, l % 2 ? 1e-4 : 0.5); /* some lanes far worse conditioned */
                for (int i = 0; i < r; i++) B.b[(size_t)l * r + i] = unif();
                floor[l] = 1e-6 * (l % 2 ? 1e-4 : 0.5);
            }
            assert_int_equal(batch_vs_scalar(&B, r, nl, floor), 0u);
            for (int l = 0; l < nl; l += 2) { /* the well-conditioned lanes: accurate */
                gauss(B.A + l * rr, B.b + (size_t)l * r, r, ref);
                long double big = 0.0L, err = 0.0L;
                for (int i = 0; i < r; i++) {
                    if (fabsl(ref[i]) > big) big = fabsl(ref[i]);
                    long double d = fabsl(ref[i] - (long double)B.x[(size_t)l * r + i]);
                    if (d > err) err = d;
                }
                assert_true(err <= 1e-10L * big);
            }
        }
    }
    bufs_free(&B);
}

static void test_batch_flags_failures(void **state) {
    (void)state;
    bufs B;
    bufs_init(&B);
    double floor[ALS__LANES];
    for (int r = 1; r <= 12; r++) {
        size_t rr = (size_t)r * (size_t)r;
        for (int bad_kind = 0; bad_kind < 5; bad_kind++) {
            for (int l = 0; l < ALS__LANES; l++) {
                spd(B.A + l * rr, r, 0.5);
                for (int i = 0; i < r; i++) B.b[(size_t)l * r + i] = unif();
                floor[l] = 1e-7;
            }
            /* break lanes 1, 4 and 6 at a pivot that depends on the rank */
            int lanes[3] = {1, 4, 6};
            for (int q = 0; q < 3; q++) {
                double *A = B.A + lanes[q] * rr;
                int j = (q * 5) % r;
                switch (bad_kind) {
                case 0: A[j * r + j] = -1.0; break;                  /* negative pivot */
                case 1: A[j * r + j] = 0.0; break;                   /* zero pivot (and below) */
                case 2: A[j * r + j] = NAN; break;                   /* NaN */
                case 3: floor[lanes[q]] = 1e300; break;              /* every pivot at the floor */
                default: for (int k = 0; k < r; k++) A[j * r + k] = A[k * r + j] = 0.0; /* a zero row */
                }
            }
            unsigned bad = batch_vs_scalar(&B, r, ALS__LANES, floor);
            /* exactly the broken lanes are flagged; the others solved as one row would be */
            assert_int_equal(bad, (1u << 1) | (1u << 4) | (1u << 6));
        }
    }
    bufs_free(&B);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_matches_one_row),
        cmocka_unit_test(test_batch_flags_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
