/* bench_exact: the exact mode of an IVF index (VECIDX_PARAM_EXACT: results identical to
 * the flat index) against our flat search, and a memory-mapped load against a copying one.
 * Data: n normalized d-dimensional vectors around `clusters` Gaussian centres (or uniform
 * on the sphere with --uniform), queries drawn the same way; one RESULT line per run.
 * Usage: bench_exact N NQ NLIST K [--uniform] [--threads T] [--clusters C] [--spread S]
 *        [--mmap FILE]   (FILE: where to save the flat index for the load timings) */
#define BENCH_NAME "bench_exact"
#include <math.h>
#include <string.h>

#include "bench_util.h"
#include "vecidx.h"

static uint64_t rng = 88172645463325252ull;
static double unit(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1.0p-53;
}
static double normal(void) {
    double u = unit() + 1e-300, v = unit();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static als_matrix *draw(int64_t n, int64_t d, const float *cent, int64_t nc, double spread, int uniform) {
    als_matrix *m;
    int rc = als_matrix_create(&m, n, d);
    if (rc) fail("als_matrix_create", rc);
    float *x = als_matrix_data(m);
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (int64_t)(unit() * (double)nc) % nc;
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = (float)(uniform ? normal() : cent[c * d + j] + spread * normal());
    }
    if ((rc = als_matrix_normalize_rows(m))) fail("normalize", rc);
    return m;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_exact N NQ NLIST K [--uniform] [--threads T] [--clusters C] "
                        "[--spread S] [--mmap FILE]\n");
        return 2;
    }
    int64_t n = atoll(argv[1]), nq = atoll(argv[2]), nlist = atoll(argv[3]), k = atoll(argv[4]);
    int64_t d = 10, threads = 0, nc = 2000;
    double spread = 0.3;
    int uniform = 0;
    const char *mm = NULL;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "--uniform")) uniform = 1;
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--clusters") && i + 1 < argc) nc = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--spread") && i + 1 < argc) spread = atof(argv[++i]);
        else if (!strcmp(argv[i], "--mmap") && i + 1 < argc) mm = argv[++i];
        else { fprintf(stderr, "bench_exact: unknown option %s\n", argv[i]); return 2; }
    }
    float *cent = malloc((size_t)(nc * d) * sizeof *cent);
    if (!cent) return 1;
    for (int64_t i = 0; i < nc * d; i++) cent[i] = (float)normal();
    als_matrix *x = draw(n, d, cent, nc, spread, uniform), *q = draw(nq, d, cent, nc, spread, uniform);
    vecidx *flat, *ivf;
    int rc;
    if ((rc = vecidx_flat_create(&flat, d, VECIDX_METRIC_IP)) || (rc = vecidx_set_int(flat, VECIDX_PARAM_NUM_THREADS, threads)) ||
        (rc = vecidx_add(flat, x, NULL)))
        fail("flat", rc);
    double t0 = now_s();
    if ((rc = vecidx_ivf_create(&ivf, d, VECIDX_METRIC_IP, nlist)) || (rc = vecidx_set_int(ivf, VECIDX_PARAM_NUM_THREADS, threads)) ||
        (rc = vecidx_train(ivf, x)) || (rc = vecidx_add(ivf, x, NULL)))
        fail("ivf", rc);
    double build = now_s() - t0;
    float *s1 = malloc((size_t)(nq * k) * sizeof(float)), *s2 = malloc((size_t)(nq * k) * sizeof(float));
    int64_t *i1 = malloc((size_t)(nq * k) * sizeof(int64_t)), *i2 = malloc((size_t)(nq * k) * sizeof(int64_t));
    vecidx_params *p;
    if (!s1 || !s2 || !i1 || !i2 || (rc = vecidx_params_create(&p)) || (rc = vecidx_params_set_int(p, VECIDX_PARAM_EXACT, 1)))
        fail("buffers", ALS_ENOMEM);
    if ((rc = vecidx_search_with(ivf, q, 1, p, s2, i2))) fail("warm-up", rc); /* list bounds, once */
    double tf, te; /* best of three, alternating */
    int same = flat_vs_exact(flat, ivf, q, k, p, 3, s1, i1, s2, i2, &tf, &te);
    printf("RESULT bench=exact data=%s n=%lld nq=%lld d=%lld nlist=%lld k=%lld ivf_build_s=%.2f "
           "flat_s=%.4f exact_s=%.4f speedup=%.2f identical=%d\n", uniform ? "uniform" : "clustered",
           (long long)n, (long long)nq, (long long)d, (long long)nlist, (long long)k, build, tf, te,
           tf / te, same);
    if (mm) {
        vecidx *a, *b;
        if ((rc = vecidx_save(flat, mm))) fail("save", rc);
        t0 = now_s();
        if ((rc = vecidx_load(&a, mm))) fail("load", rc);
        double tl = now_s() - t0;
        t0 = now_s();
        if ((rc = vecidx_load_mmap(&b, mm))) fail("load_mmap", rc);
        double tm = now_s() - t0;
        t0 = now_s();
        if ((rc = vecidx_verify(b))) fail("verify", rc);
        double tv = now_s() - t0;
        if ((rc = vecidx_search(b, q, k, s2, i2))) fail("mapped search", rc);
        same = !memcmp(s1, s2, (size_t)(nq * k) * sizeof(float)) && !memcmp(i1, i2, (size_t)(nq * k) * sizeof(int64_t));
        printf("RESULT bench=mmap n=%lld load_s=%.4f load_mmap_s=%.6f verify_s=%.4f identical=%d\n",
               (long long)n, tl, tm, tv, same);
        vecidx_destroy(a);
        vecidx_destroy(b);
        remove(mm);
    }
    vecidx_params_destroy(p);
    vecidx_destroy(flat);
    vecidx_destroy(ivf);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    free(s1), free(s2), free(i1), free(i2), free(cent);
    return same ? 0 : 1;
}
