/* gen_clustered: writes N x D float32 "ALS-factor-like" clustered embeddings as .npy.
 *
 * Usage: gen_clustered OUT.npy N D SEED [--normalize] [--centers C] [--centers-seed S]
 *                      [--zipf E] [--background F]
 *
 * The model: C centres drawn from N(0, I) with --centers-seed (default 20240601, fixed and
 * independent of SEED). Centre c has popularity weight 1 / (c + 1)^E (Zipf-like, E default
 * 0.8) and its own noise scale sigma_c in [0.15, 0.45] per dimension, both also derived from
 * the centres seed. Each point picks a centre by popularity and adds N(0, sigma_c^2 I) noise
 * plus a small global spread N(0, 0.05^2 I); a fraction F (default 0.02) of points are
 * background points drawn from N(0, I) with no centre. --normalize scales rows to unit norm
 * (cosine = inner product), as the benchmark does.
 *
 * Base and query sets come from the same distribution: same centres seed, different SEED.
 * Everything is sequential and uses its own splitmix64 stream, so the output depends only on
 * the arguments (not on the thread count or the machine).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als.h"

#define DEFAULT_CENTERS_SEED 20240601ULL
#define GLOBAL_SPREAD 0.05
#define SIGMA_LO 0.15
#define SIGMA_HI 0.45

typedef struct {
    uint64_t s;
    int have_spare;
    double spare;
} rng;

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed) {
    r->s = seed;
    r->have_spare = 0;
    r->spare = 0.0;
    (void)rng_next(r); /* decorrelate small consecutive seeds */
}

/* Uniform in (0, 1): 53 random bits, never exactly 0. */
static double rng_uniform(rng *r) {
    return ((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller, caching the second value. */
static double rng_normal(rng *r) {
    if (r->have_spare) {
        r->have_spare = 0;
        return r->spare;
    }
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    double rad = sqrt(-2.0 * log(u1));
    double th = 6.283185307179586476925 * u2;
    r->spare = rad * sin(th);
    r->have_spare = 1;
    return rad * cos(th);
}

static int parse_i64(const char *s, int64_t lo, int64_t *out) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || v < lo) return -1;
    *out = (int64_t)v;
    return 0;
}

static int parse_f64(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: gen_clustered OUT.npy N D SEED [--normalize] [--centers C]\n"
            "                     [--centers-seed S] [--zipf E] [--background F]\n");
}

/* Index of the first cdf entry > u (cdf is increasing, cdf[c-1] == 1). */
static int64_t pick_center(const double *cdf, int64_t c, double u) {
    int64_t lo = 0, hi = c - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        usage();
        return 2;
    }
    const char *out = argv[1];
    int64_t n = 0, d = 0, seed = 0, ncent = 1000, cseed = (int64_t)DEFAULT_CENTERS_SEED;
    double zipf = 0.8, bg = 0.02;
    int normalize = 0;
    if (parse_i64(argv[2], 0, &n) || parse_i64(argv[3], 1, &d) || parse_i64(argv[4], 0, &seed)) {
        fprintf(stderr, "gen_clustered: N must be >= 0, D >= 1, SEED >= 0\n");
        usage();
        return 2;
    }
    for (int i = 5; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (strcmp(a, "--normalize") == 0) {
            normalize = 1;
            continue;
        } else if (v == NULL) {
            bad = 1;
        } else if (strcmp(a, "--centers") == 0) {
            bad = parse_i64(v, 1, &ncent);
        } else if (strcmp(a, "--centers-seed") == 0) {
            bad = parse_i64(v, 0, &cseed);
        } else if (strcmp(a, "--zipf") == 0) {
            bad = parse_f64(v, 0.0, 10.0, &zipf);
        } else if (strcmp(a, "--background") == 0) {
            bad = parse_f64(v, 0.0, 1.0, &bg);
        } else {
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "gen_clustered: bad option or value: %s %s\n", a, v ? v : "");
            usage();
            return 2;
        }
        i++;
    }

    /* Centres, their popularity CDF and their noise scales: only from the centres seed. */
    float *cent = malloc((size_t)ncent * (size_t)d * sizeof *cent);
    double *cdf = malloc((size_t)ncent * sizeof *cdf);
    double *sigma = malloc((size_t)ncent * sizeof *sigma);
    if (!cent || !cdf || !sigma) {
        fprintf(stderr, "gen_clustered: out of memory for %lld centres\n", (long long)ncent);
        return 1;
    }
    rng cr;
    rng_seed(&cr, (uint64_t)cseed);
    double total = 0.0;
    for (int64_t c = 0; c < ncent; c++) {
        for (int64_t j = 0; j < d; j++) cent[c * d + j] = (float)rng_normal(&cr);
        double sc = SIGMA_LO + (SIGMA_HI - SIGMA_LO) * rng_uniform(&cr);
        sigma[c] = sqrt(sc * sc + GLOBAL_SPREAD * GLOBAL_SPREAD);
        total += pow((double)(c + 1), -zipf);
        cdf[c] = total;
    }
    for (int64_t c = 0; c < ncent; c++) cdf[c] /= total;
    cdf[ncent - 1] = 1.0;

    als_matrix *m = NULL;
    int rc = als_matrix_create(&m, n, d);
    if (rc != ALS_OK) {
        fprintf(stderr, "gen_clustered: als_matrix_create(%lld, %lld): %s\n", (long long)n,
                (long long)d, als_last_error());
        return 1;
    }
    float *x = als_matrix_data(m);
    int64_t stride = als_matrix_stride(m);
    rng r;
    rng_seed(&r, (uint64_t)seed ^ 0x5DEECE66DULL);
    for (int64_t i = 0; i < n; i++) {
        float *row = x + i * stride;
        if (rng_uniform(&r) < bg) {
            for (int64_t j = 0; j < d; j++) row[j] = (float)rng_normal(&r);
            continue;
        }
        int64_t c = pick_center(cdf, ncent, rng_uniform(&r));
        const float *ce = cent + c * d;
        double s = sigma[c]; /* centre noise and global spread, both Gaussian, combined */
        for (int64_t j = 0; j < d; j++) row[j] = (float)((double)ce[j] + s * rng_normal(&r));
    }
    if (normalize && (rc = als_matrix_normalize_rows(m)) != ALS_OK) {
        fprintf(stderr, "gen_clustered: als_matrix_normalize_rows: %s\n", als_last_error());
        als_matrix_destroy(m);
        return 1;
    }
    rc = als_matrix_write_npy(m, out);
    if (rc != ALS_OK) {
        fprintf(stderr, "gen_clustered: als_matrix_write_npy(%s): %s\n", out, als_last_error());
        als_matrix_destroy(m);
        return 1;
    }
    als_matrix_destroy(m);
    free(cent);
    free(cdf);
    free(sigma);
    return 0;
}
