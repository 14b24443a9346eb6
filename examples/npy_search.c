/* Search NumPy files from the command line: build a flat or IVF index over base.npy,
 * search queries.npy, write the top-k ids and scores as .npy-compatible CSV, and report
 * the time of each step. Used by `make demo`.
 *
 *   npy_search --base B.npy --queries Q.npy [--k 10] [--metric ip|l2|cosine]
 *              [--kind flat|ivf] [--nlist N] [--nprobe P] [--threads T]
 *              [--save index.vidx] [--out results.csv] [--recall-vs-flat]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vecidx.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "npy_search: %s: %s (%s)\n", what, als_last_error(), als_strerror(rc));
    return 1;
}

static void usage(void) {
    fprintf(stderr, "usage: npy_search --base B.npy --queries Q.npy [--k 10] [--metric ip|l2|cosine]\n"
                    "       [--kind flat|ivf] [--nlist N] [--nprobe P] [--threads T]\n"
                    "       [--save FILE] [--out FILE.csv] [--recall-vs-flat]\n");
}

int main(int argc, char **argv) {
    const char *base = NULL, *queries = NULL, *metric_s = "ip", *kind = "flat", *save = NULL, *out = NULL;
    long long k = 10, nlist = 0, nprobe = 8, threads = 0;
    int recall = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--recall-vs-flat")) { recall = 1; continue; }
        if (!v) { usage(); return 2; }
        if (!strcmp(a, "--base")) base = v;
        else if (!strcmp(a, "--queries")) queries = v;
        else if (!strcmp(a, "--metric")) metric_s = v;
        else if (!strcmp(a, "--kind")) kind = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--k")) k = atoll(v);
        else if (!strcmp(a, "--nlist")) nlist = atoll(v);
        else if (!strcmp(a, "--nprobe")) nprobe = atoll(v);
        else if (!strcmp(a, "--threads")) threads = atoll(v);
        else { usage(); return 2; }
        i++;
    }
    int cosine = !strcmp(metric_s, "cosine");
    int metric = !strcmp(metric_s, "l2") ? VECIDX_METRIC_L2 : VECIDX_METRIC_IP;
    if (!base || !queries || (strcmp(metric_s, "ip") && strcmp(metric_s, "l2") && !cosine) ||
        (strcmp(kind, "flat") && strcmp(kind, "ivf"))) {
        usage();
        return 2;
    }
    als_matrix *x = NULL, *q = NULL;
    int rc;
    double t0 = now();
    if ((rc = als_matrix_read_npy(&x, base))) return fail("reading the base vectors", rc);
    if ((rc = als_matrix_read_npy(&q, queries))) return fail("reading the queries", rc);
    if (cosine && ((rc = als_matrix_normalize_rows(x)) || (rc = als_matrix_normalize_rows(q))))
        return fail("normalizing", rc);
    int64_t n = als_matrix_rows(x), nq = als_matrix_rows(q), d = als_matrix_cols(x);
    printf("loaded %lld x %lld base and %lld queries in %.2f s\n", (long long)n, (long long)d,
           (long long)nq, now() - t0);

    int ivf = !strcmp(kind, "ivf");
    if (ivf && nlist <= 0) nlist = n / 250 > 0 ? n / 250 : 1;
    vecidx *idx;
    rc = ivf ? vecidx_ivf_create(&idx, d, metric, nlist) : vecidx_flat_create(&idx, d, metric);
    if (rc) return fail("creating the index", rc);
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, threads))) return fail("--threads", rc);
    if (ivf && (rc = vecidx_set_int(idx, VECIDX_PARAM_NPROBE, nprobe))) return fail("--nprobe", rc);
    t0 = now();
    if ((rc = vecidx_train(idx, x))) return fail("training", rc);
    double t_train = now() - t0;
    t0 = now();
    if ((rc = vecidx_add(idx, x, NULL))) return fail("adding", rc);
    double t_add = now() - t0;
    if (ivf) printf("ivf: nlist %lld, trained in %.2f s, added in %.2f s\n", nlist, t_train, t_add);
    else printf("flat: added in %.3f s\n", t_add);

    float *scores = malloc((size_t)(nq * k) * sizeof(float));
    int64_t *ids = malloc((size_t)(nq * k) * sizeof(int64_t));
    if (!scores || !ids) { fprintf(stderr, "npy_search: out of memory\n"); return 1; }
    t0 = now();
    if ((rc = vecidx_search(idx, q, k, scores, ids))) return fail("searching", rc);
    double t_search = now() - t0;
    printf("search: %lld queries, k=%lld, %s %s: %.3f s (%.0f queries/s, %.3f ns per query-vector pair)\n",
           (long long)nq, k, kind, metric_s, t_search, (double)nq / t_search,
           t_search * 1e9 / ((double)nq * (double)n));

    if (recall && ivf) {
        vecidx *flat;
        float *fs = malloc((size_t)(nq * k) * sizeof(float));
        int64_t *fi = malloc((size_t)(nq * k) * sizeof(int64_t));
        if (!fs || !fi || vecidx_flat_create(&flat, d, metric) || vecidx_add(flat, x, NULL) ||
            vecidx_search(flat, q, k, fs, fi))
            return fail("exact reference search", ALS_ENOMEM);
        long long hit = 0;
        for (int64_t i = 0; i < nq; i++)
            for (int64_t a = 0; a < k; a++)
                for (int64_t b = 0; b < k; b++)
                    if (ids[i * k + a] == fi[i * k + b] && ids[i * k + a] != -1) { hit++; break; }
        printf("recall@%lld vs exact search: %.4f\n", k, (double)hit / (double)(nq * k));
        vecidx_destroy(flat);
        free(fs);
        free(fi);
    }
    if (save) {
        t0 = now();
        if ((rc = vecidx_save(idx, save))) return fail("saving", rc);
        vecidx *back;
        if ((rc = vecidx_load(&back, save))) return fail("loading back", rc);
        printf("saved %s and loaded it back (%lld vectors) in %.2f s\n", save,
               (long long)vecidx_size(back), now() - t0);
        vecidx_destroy(back);
    }
    if (out) {
        FILE *f = fopen(out, "w");
        if (!f) { perror(out); return 1; }
        fprintf(f, "query,rank,id,score\n");
        for (int64_t i = 0; i < nq; i++)
            for (int64_t r = 0; r < k; r++)
                fprintf(f, "%lld,%lld,%lld,%.6g\n", (long long)i, (long long)r,
                        (long long)ids[i * k + r], scores[i * k + r]);
        if (fclose(f) != 0) { perror(out); return 1; }
        printf("wrote %s\n", out);
    }
    free(scores);
    free(ids);
    vecidx_destroy(idx);
    als_matrix_destroy(q);
    als_matrix_destroy(x);
    return 0;
}
