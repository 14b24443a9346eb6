/* bench_expand: times vecidx_expand (audience expansion: many seeds -> one de-duplicated,
 * ranked audience) on .npy data and prints one RESULT line per configuration (see
 * docs/performance.md, "Audience expansion at the seed's scale").
 *
 * Usage:
 *   bench_expand --base B.npy --seeds S.npy --kind flat|ivf --k K
 *                [--nlist L --nprobe P[,P2,...]] [--kmeans-iters I] [--train-per-list P]
 *                [--agg max|sum|mean] [--threads T] [--nseeds M]
 *                [--write-audience FILE] [--ref-audience FILE]
 *   bench_expand --base B.npy --write-seeds S.npy --ns NS [--rng-seed X]
 *
 * Ids are base row numbers 0..n-1; the metric is inner product (the benchmark's data are
 * L2-normalized, so this is cosine). The seeds file is a NumPy .npy of dtype '<i8', shape
 * (ns, 1): distinct base rows, drawn with a fixed splitmix64 stream (--write-seeds makes it,
 * and tests/bench/faiss_expand.py reads the same file). The seed vectors are those rows of
 * the base, and the expansion excludes them with a VECIDX_FILTER_EXCLUDE filter holding the
 * seed ids (so no seed is in its own audience), as a lookalike job does.
 *
 * Timed: filter creation + vecidx_expand (k-NN of every seed + merge + de-dup + ranking),
 * audience size = every id found (n_out = ns x k). One timed run per configuration (each
 * takes seconds to minutes at the seed's scale). train and add are timed separately.
 * ns_per_pair = expand_s * 1e9 / (ns * n), per database vector (IVF too).
 * --write-audience writes the audience ids (sorted, '<i8', shape (m, 1)); --ref-audience
 * reads one and reports overlap = |audience ∩ ref| / |ref| (the flat audience is exact).
 * --nseeds M uses only the first M seeds.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "als.h"
#include "vecidx.h"

#define BENCH_NAME "bench_expand"
#include "bench_util.h"

#define MAX_NPROBE 16

typedef struct {
    const char *base, *seeds, *write_seeds, *write_audience, *ref_audience;
    int kind, agg;
    int64_t k, nlist, threads, kmeans_iters, train_per_list, ns, nseeds;
    uint64_t rng_seed;
    int64_t nprobe[MAX_NPROBE];
    int n_nprobe;
} options;

static void usage_exit(const char *msg) {
    if (msg) fprintf(stderr, "bench_expand: %s\n", msg);
    fprintf(stderr,
            "usage: bench_expand --base B.npy --seeds S.npy --kind flat|ivf --k K\n"
            "         [--nlist L --nprobe P[,P2,...]] [--kmeans-iters I] [--train-per-list P]\n"
            "         [--agg max|sum|mean] [--threads T] [--nseeds M]\n"
            "         [--write-audience FILE] [--ref-audience FILE]\n"
            "       bench_expand --base B.npy --write-seeds S.npy --ns NS [--rng-seed X]\n");
    exit(2);
}

static int64_t parse_i64(const char *v, const char *name) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end != '\0') {
        fprintf(stderr, "bench_expand: bad value for %s: %s\n", name, v);
        exit(2);
    }
    return (int64_t)x;
}

static void parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->kind = -1;
    o->agg = VECIDX_AGG_MAX;
    o->rng_seed = 7;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage_exit(NULL);
        if (i + 1 >= argc) usage_exit("missing value after the last option");
        const char *v = argv[++i];
        if (strcmp(a, "--base") == 0) o->base = v;
        else if (strcmp(a, "--seeds") == 0) o->seeds = v;
        else if (strcmp(a, "--write-seeds") == 0) o->write_seeds = v;
        else if (strcmp(a, "--write-audience") == 0) o->write_audience = v;
        else if (strcmp(a, "--ref-audience") == 0) o->ref_audience = v;
        else if (strcmp(a, "--kind") == 0) {
            if (strcmp(v, "flat") == 0) o->kind = VECIDX_KIND_FLAT;
            else if (strcmp(v, "ivf") == 0) o->kind = VECIDX_KIND_IVF;
            else usage_exit("--kind is flat or ivf");
        } else if (strcmp(a, "--agg") == 0) {
            if (strcmp(v, "max") == 0) o->agg = VECIDX_AGG_MAX;
            else if (strcmp(v, "sum") == 0) o->agg = VECIDX_AGG_SUM;
            else if (strcmp(v, "mean") == 0) o->agg = VECIDX_AGG_MEAN;
            else usage_exit("--agg is max, sum or mean");
        } else if (strcmp(a, "--k") == 0) o->k = parse_i64(v, a);
        else if (strcmp(a, "--nlist") == 0) o->nlist = parse_i64(v, a);
        else if (strcmp(a, "--nprobe") == 0) {
            char buf[256];
            if (strlen(v) >= sizeof buf) usage_exit("--nprobe list too long");
            strcpy(buf, v);
            for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
                if (o->n_nprobe == MAX_NPROBE) usage_exit("too many --nprobe values");
                o->nprobe[o->n_nprobe++] = parse_i64(t, a);
            }
        } else if (strcmp(a, "--threads") == 0) o->threads = parse_i64(v, a);
        else if (strcmp(a, "--kmeans-iters") == 0) o->kmeans_iters = parse_i64(v, a);
        else if (strcmp(a, "--train-per-list") == 0) o->train_per_list = parse_i64(v, a);
        else if (strcmp(a, "--ns") == 0) o->ns = parse_i64(v, a);
        else if (strcmp(a, "--nseeds") == 0) o->nseeds = parse_i64(v, a);
        else if (strcmp(a, "--rng-seed") == 0) o->rng_seed = (uint64_t)parse_i64(v, a);
        else {
            fprintf(stderr, "bench_expand: unknown option %s\n", a);
            usage_exit(NULL);
        }
    }
    if (!o->base) usage_exit("--base is required");
    if (o->write_seeds) {
        if (o->ns < 1) usage_exit("--write-seeds needs --ns >= 1");
        return;
    }
    if (!o->seeds) usage_exit("--seeds is required");
    if (o->kind < 0) usage_exit("--kind is required");
    if (o->k < 1) usage_exit("--k is required");
    if (o->kind == VECIDX_KIND_IVF && (o->nlist < 1 || o->n_nprobe == 0))
        usage_exit("--kind ivf needs --nlist and --nprobe");
    if (o->kind == VECIDX_KIND_FLAT && (o->nlist || o->n_nprobe))
        usage_exit("--nlist/--nprobe apply to --kind ivf only");
}

/* ---- .npy '<i8' (rows, 1) files (little-endian hosts, as the rest of the bench) ---- */

static int i8_write(const char *path, const int64_t *v, int64_t rows) {
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<i8', 'fortran_order': False, 'shape': (%lld, 1), }",
                       (long long)rows);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "bench_expand: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    unsigned hl = (unsigned)(len + pad + 1);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(v, 8, (size_t)rows, f) == (size_t)rows;
    ok = (fclose(f) == 0) && ok;
    if (!ok) fprintf(stderr, "bench_expand: writing %s failed\n", path);
    return ok ? 0 : -1;
}

static int64_t *i8_read(const char *path, int64_t *rows) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_expand: cannot read %s: %s\n", path, strerror(errno));
        exit(1);
    }
    unsigned char pre[10];
    char hdr[1024];
    long long r = -1, c = -1;
    int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1;
    size_t hl = ok ? ((size_t)pre[8] | (size_t)pre[9] << 8) : 0;
    ok = ok && hl < sizeof hdr && fread(hdr, 1, hl, f) == hl;
    if (ok) hdr[hl] = '\0';
    ok = ok && strstr(hdr, "'descr': '<i8'") && strstr(hdr, "'fortran_order': False");
    const char *sh = ok ? strstr(hdr, "'shape': (") : NULL;
    if (sh) {
        int m = sscanf(sh + 10, "%lld, %lld)", &r, &c);
        if (m == 1) c = 1;
        ok = m >= 1 && r >= 0 && c == 1;
    } else ok = 0;
    int64_t *v = ok ? malloc((size_t)r * 8 + 8) : NULL;
    ok = ok && v && fread(v, 8, (size_t)r, f) == (size_t)r;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "bench_expand: %s is not an int64 (rows, 1) .npy file\n", path);
        exit(1);
    }
    *rows = r;
    return v;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static const char *simd_name(int64_t s) {
    switch (s) {
    case VECIDX_SIMD_PORTABLE: return "portable";
    case VECIDX_SIMD_AVX2: return "avx2";
    case VECIDX_SIMD_AVX512: return "avx512";
    default: return "auto";
    }
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);
    als_matrix *base = load(o.base);
    int64_t n = als_matrix_rows(base), d = als_matrix_cols(base);
    int rc;

    if (o.write_seeds) { /* ns distinct rows, partial Fisher-Yates over 0..n-1 */
        if (o.ns > n) usage_exit("--ns exceeds the base rows");
        int64_t *perm = malloc((size_t)n * sizeof *perm);
        if (!perm) return 1;
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        uint64_t s = o.rng_seed;
        for (int64_t i = 0; i < o.ns; i++) {
            int64_t j = i + (int64_t)(splitmix(&s) % (uint64_t)(n - i));
            int64_t t = perm[i]; perm[i] = perm[j]; perm[j] = t;
        }
        if (i8_write(o.write_seeds, perm, o.ns)) return 1;
        printf("# seeds %s: %lld distinct base rows of %lld\n", o.write_seeds, (long long)o.ns, (long long)n);
        free(perm);
        als_matrix_destroy(base);
        return 0;
    }

    int64_t ns = 0;
    int64_t *seed_rows = i8_read(o.seeds, &ns);
    if (o.nseeds > 0 && o.nseeds < ns) ns = o.nseeds;
    als_matrix *seeds = NULL;
    if ((rc = als_matrix_create(&seeds, ns, d))) fail("als_matrix_create", rc);
    {
        const float *b = als_matrix_data_const(base);
        int64_t bs = als_matrix_stride(base), ss = als_matrix_stride(seeds);
        float *sp = als_matrix_data(seeds);
        for (int64_t i = 0; i < ns; i++) {
            if (seed_rows[i] < 0 || seed_rows[i] >= n) {
                fprintf(stderr, "bench_expand: seed row %lld outside the base\n", (long long)seed_rows[i]);
                return 1;
            }
            memcpy(sp + i * ss, b + seed_rows[i] * bs, (size_t)d * sizeof(float));
        }
    }

    vecidx *idx = NULL;
    if (o.kind == VECIDX_KIND_FLAT) rc = vecidx_flat_create(&idx, d, VECIDX_METRIC_IP);
    else rc = vecidx_ivf_create(&idx, d, VECIDX_METRIC_IP, o.nlist);
    if (rc) fail("vecidx_*_create", rc);
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, o.threads))) fail("vecidx_set_int(NUM_THREADS)", rc);
    if (o.kmeans_iters && (rc = vecidx_set_int(idx, VECIDX_PARAM_KMEANS_ITERS, o.kmeans_iters)))
        fail("vecidx_set_int(KMEANS_ITERS)", rc);
    if (o.train_per_list && (rc = vecidx_set_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, o.train_per_list)))
        fail("vecidx_set_int(TRAIN_PER_LIST)", rc);
    double t0 = now_s();
    if ((rc = vecidx_train(idx, base))) fail("vecidx_train", rc);
    double train_s = now_s() - t0;
    t0 = now_s();
    if ((rc = vecidx_add(idx, base, NULL))) fail("vecidx_add", rc);
    double add_s = now_s() - t0;
    int64_t simd_used = 0, threads_used = o.threads;
    if ((rc = vecidx_get_int(idx, VECIDX_PARAM_SIMD, &simd_used))) fail("vecidx_get_int(SIMD)", rc);
    if (threads_used == 0) threads_used = sysconf(_SC_NPROCESSORS_ONLN);

    int64_t *ref = NULL, nref = 0;
    if (o.ref_audience) {
        FILE *f = fopen(o.ref_audience, "rb");
        if (f) {
            fclose(f);
            ref = i8_read(o.ref_audience, &nref); /* sorted */
        } else {
            fprintf(stderr, "bench_expand: %s absent: no overlap reported\n", o.ref_audience);
        }
    }

    int64_t n_out = ns * o.k > 0 ? ns * o.k : 1;
    int64_t *aud = malloc((size_t)n_out * sizeof *aud);
    float *asc = malloc((size_t)n_out * sizeof *asc);
    if (!aud || !asc) {
        fprintf(stderr, "bench_expand: out of memory\n");
        return 1;
    }
    int runs = o.kind == VECIDX_KIND_IVF ? o.n_nprobe : 1;
    for (int r = 0; r < runs; r++) {
        int64_t nprobe = o.kind == VECIDX_KIND_IVF ? o.nprobe[r] : 0;
        if (nprobe && (rc = vecidx_set_int(idx, VECIDX_PARAM_NPROBE, nprobe))) fail("vecidx_set_int(NPROBE)", rc);
        int64_t nfound = 0;
        t0 = now_s();
        vecidx_filter *flt = NULL;
        if ((rc = vecidx_filter_create(&flt, seed_rows, ns, VECIDX_FILTER_EXCLUDE))) fail("vecidx_filter_create", rc);
        if ((rc = vecidx_expand(idx, seeds, o.k, o.agg, flt, n_out, aud, asc, &nfound))) fail("vecidx_expand", rc);
        double expand_s = now_s() - t0;
        vecidx_filter_destroy(flt);

        /* check: no seed in the audience (sorted copy, binary search) */
        int64_t *sorted = malloc((size_t)(nfound + 1) * sizeof *sorted);
        int64_t *ss = malloc((size_t)(ns + 1) * sizeof *ss);
        if (!sorted || !ss) return 1;
        memcpy(sorted, aud, (size_t)nfound * sizeof *sorted);
        memcpy(ss, seed_rows, (size_t)ns * sizeof *ss);
        qsort(sorted, (size_t)nfound, sizeof *sorted, cmp_i64);
        qsort(ss, (size_t)ns, sizeof *ss, cmp_i64);
        int64_t seeds_in = 0;
        for (int64_t i = 0, j = 0; i < nfound && j < ns;) {
            if (sorted[i] < ss[j]) i++;
            else if (sorted[i] > ss[j]) j++;
            else { seeds_in++; i++; j++; }
        }
        double overlap = -1.0;
        if (ref && nref > 0) {
            int64_t common = 0;
            for (int64_t i = 0, j = 0; i < nfound && j < nref;) {
                if (sorted[i] < ref[j]) i++;
                else if (sorted[i] > ref[j]) j++;
                else { common++; i++; j++; }
            }
            overlap = (double)common / (double)nref;
        }
        if (o.write_audience && r == 0 && i8_write(o.write_audience, sorted, nfound)) return 1;
        free(sorted);
        free(ss);
        char ovl[32];
        if (overlap >= 0) snprintf(ovl, sizeof ovl, "%.4f", overlap);
        else snprintf(ovl, sizeof ovl, "-");
        double pairs = (double)ns * (double)n;
        char nl_s[32] = "-", np_s[32] = "-";
        if (o.kind == VECIDX_KIND_IVF) {
            snprintf(nl_s, sizeof nl_s, "%lld", (long long)o.nlist);
            snprintf(np_s, sizeof np_s, "%lld", (long long)nprobe);
        }
        printf("RESULT impl=ours kind=%s metric=ip d=%lld n=%lld ns=%lld k=%lld agg=%s nlist=%s "
               "nprobe=%s threads=%lld train_s=%.3f add_s=%.3f expand_s=%.4f ns_per_pair=%.5g "
               "audience=%lld seeds_in_audience=%lld overlap=%s rss_mb=%.1f simd=%s\n",
               o.kind == VECIDX_KIND_FLAT ? "flat" : "ivf", (long long)d, (long long)n, (long long)ns,
               (long long)o.k, o.agg == VECIDX_AGG_MAX ? "max" : o.agg == VECIDX_AGG_SUM ? "sum" : "mean",
               nl_s, np_s, (long long)threads_used, train_s,
               add_s, expand_s, pairs > 0 ? expand_s * 1e9 / pairs : 0.0, (long long)nfound,
               (long long)seeds_in, ovl, peak_rss_mb(), simd_name(simd_used));
        fflush(stdout);
        if (seeds_in) {
            fprintf(stderr, "bench_expand: %lld seeds in the audience despite the exclude filter\n", (long long)seeds_in);
            return 1;
        }
    }
    free(aud);
    free(asc);
    free(ref);
    free(seed_rows);
    vecidx_destroy(idx);
    als_matrix_destroy(seeds);
    als_matrix_destroy(base);
    return 0;
}
