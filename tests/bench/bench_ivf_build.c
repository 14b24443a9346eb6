/* bench_ivf_build: times an IVF-flat build (train, add) on .npy data and measures what the
 * build gives: recall@k at several nprobe, and how the lists differ from an exact
 * nearest-centroid assignment. One RESULT line per build (docs/performance.md, "IVF build at
 * scale").
 *
 * Usage:
 *   bench_ivf_build --base B.npy --queries Q.npy --truth T.npy --metric ip|l2 --nlist L
 *                   [--k 5] [--nprobe 4,8,16,32] [--threads T] [--seed S] [--kmeans-iters I]
 *                   [--train-per-list P] [--label NAME] [--repeat R] [--assign-stats TMPFILE]
 *                   [--save FILE]
 *
 * --repeat R builds R times (the builds are identical: deterministic) and reports the best
 * train and add times: on a shared machine the best of a few runs is the least disturbed.
 *
 * The truth file is bench_search's (--write-truth): '<i8' (nq, kt), exact ids best first.
 * --assign-stats saves the index to TMPFILE (removed afterwards), reads its centroids and
 * lists back (the documented file format, docs/formats.md), and compares every vector's list
 * with its exact nearest centroid (a flat vecidx search over the centroids, the quantizer's
 * own scores and ties): `mismatch` is the fraction of vectors held by another list, `loss`
 * the mean score given up over those vectors (exact best score minus the held list's score;
 * inner product: a cosine for unit rows; L2: internal score q.c - |c|^2/2), and
 * sim_recall_held / sim_recall_exact the recall@k at each nprobe of a simulated search (the
 * index's probes, a plain scan of the probed lists' members) over the lists as held and over
 * exact-assignment lists: their difference is what the assignment costs in recall.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "als.h"
#include "vecidx.h"

#define BENCH_NAME "bench_ivf_build"
#include "bench_util.h"

#define MAX_NPROBE 16

typedef struct {
    const char *base, *queries, *truth, *label, *stats, *save;
    int metric;
    int64_t k, nlist, threads, seed, kmeans_iters, train_per_list, repeat;
    int64_t nprobe[MAX_NPROBE];
    int n_nprobe;
} options;

static void usage_exit(const char *msg) {
    if (msg) fprintf(stderr, "bench_ivf_build: %s\n", msg);
    fprintf(stderr, "usage: bench_ivf_build --base B.npy --queries Q.npy --truth T.npy --metric ip|l2\n"
                    "         --nlist L [--k 5] [--nprobe 4,8,16,32] [--threads T] [--seed S]\n"
                    "         [--kmeans-iters I] [--train-per-list P] [--label NAME]\n"
                    "         [--repeat R] [--assign-stats TMPFILE] [--save FILE]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->metric = -1;
    o->k = 5;
    o->seed = -1;
    o->label = "ours";
    o->repeat = 1;
    const int64_t defp[4] = {4, 8, 16, 32};
    for (int i = 0; i < 4; i++) o->nprobe[i] = defp[i];
    o->n_nprobe = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage_exit(NULL);
        if (i + 1 >= argc) usage_exit("missing value after the last option");
        const char *v = argv[++i];
        if (strcmp(a, "--base") == 0) o->base = v;
        else if (strcmp(a, "--queries") == 0) o->queries = v;
        else if (strcmp(a, "--truth") == 0) o->truth = v;
        else if (strcmp(a, "--label") == 0) o->label = v;
        else if (strcmp(a, "--assign-stats") == 0) o->stats = v;
        else if (strcmp(a, "--save") == 0) o->save = v;
        else if (strcmp(a, "--metric") == 0) {
            if (strcmp(v, "ip") == 0) o->metric = VECIDX_METRIC_IP;
            else if (strcmp(v, "l2") == 0) o->metric = VECIDX_METRIC_L2;
            else usage_exit("--metric is ip or l2");
        } else if (strcmp(a, "--k") == 0) o->k = parse_int(a, v, 1);
        else if (strcmp(a, "--nlist") == 0) o->nlist = parse_int(a, v, 1);
        else if (strcmp(a, "--threads") == 0) o->threads = parse_int(a, v, 0);
        else if (strcmp(a, "--repeat") == 0) o->repeat = parse_int(a, v, 1);
        else if (strcmp(a, "--seed") == 0) o->seed = parse_int(a, v, 0);
        else if (strcmp(a, "--kmeans-iters") == 0) o->kmeans_iters = parse_int(a, v, 1);
        else if (strcmp(a, "--train-per-list") == 0) o->train_per_list = parse_int(a, v, 1);
        else if (strcmp(a, "--nprobe") == 0) {
            o->n_nprobe = parse_int_list(a, v, o->nprobe, MAX_NPROBE, 256, usage_exit);
        } else {
            fprintf(stderr, "bench_ivf_build: unknown option %s\n", a);
            usage_exit(NULL);
        }
    }
    if (!o->base || !o->queries || !o->truth) usage_exit("--base, --queries and --truth are required");
    if (o->metric < 0) usage_exit("--metric is required");
    if (o->nlist < 1) usage_exit("--nlist is required");
    if (o->k > 64) usage_exit("--k is at most 64");
}

/* The truth file: .npy '<i8' C order (nq, kt), on a little-endian host. */
static int64_t *truth_read(const char *path, int64_t *rows, int64_t *cols) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_ivf_build: cannot open %s: %s (bench_search --write-truth makes it)\n",
                path, strerror(errno));
        exit(1);
    }
    unsigned char pre[10];
    char hdr[1024];
    long long r = -1, c = -1;
    int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1;
    size_t hl = ok ? ((size_t)pre[8] | (size_t)pre[9] << 8) : 0;
    ok = ok && hl < sizeof hdr && fread(hdr, 1, hl, f) == hl;
    if (ok) {
        hdr[hl] = '\0';
        const char *sh = strstr(hdr, "'shape': (");
        ok = strstr(hdr, "'descr': '<i8'") && sh && sscanf(sh + 10, "%lld, %lld)", &r, &c) == 2 &&
             r >= 0 && c >= 1;
    }
    int64_t *ids = ok ? malloc((size_t)(r * c) * 8 + 8) : NULL;
    ok = ids && fread(ids, 8, (size_t)(r * c), f) == (size_t)(r * c);
    fclose(f);
    if (!ok) {
        fprintf(stderr, "bench_ivf_build: %s is not a truth file\n", path);
        exit(1);
    }
    *rows = r;
    *cols = c;
    return ids;
}

static uint64_t pad64(uint64_t n) { return (n + 63) & ~(uint64_t)63; }

static uint64_t le64(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
    return u;
}

/* Lists as CSR: members of list c are mem[off[c] .. off[c+1]), in row order. */
static void lists_csr(const int64_t *list_of, int64_t n, int64_t nlist, int64_t **off_out,
                      int64_t **mem_out) {
    int64_t *off = calloc((size_t)nlist + 1, sizeof(int64_t)), *mem = malloc((size_t)n * sizeof(int64_t) + 8);
    int64_t *pos = malloc((size_t)nlist * sizeof(int64_t) + 8);
    if (!off || !mem || !pos) {
        fprintf(stderr, "bench_ivf_build: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) off[list_of[i] + 1]++;
    for (int64_t c = 0; c < nlist; c++) off[c + 1] += off[c];
    memcpy(pos, off, (size_t)nlist * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) mem[pos[list_of[i]]++] = i;
    free(pos);
    *off_out = off;
    *mem_out = mem;
}

/* recall@k of a simulated IVF search: probe the np best lists of each query (probe: nq x
 * np_max centroid ids, best first), scan their members by a plain dot product (IP) or
 * distance (L2). Both list layouts go through the same code, so their difference is the
 * assignment's alone. */
static double sim_recall(const als_matrix *base, const als_matrix *queries, int metric,
                         const int64_t *probe, int64_t np_max, int64_t np, const int64_t *off,
                         const int64_t *mem, int64_t k, const int64_t *truth, int64_t tcols) {
    int64_t nq = als_matrix_rows(queries), d = als_matrix_cols(base);
    const float *x = als_matrix_data_const(base), *qd = als_matrix_data_const(queries);
    int64_t xs = als_matrix_stride(base), qs = als_matrix_stride(queries);
    int64_t *got = malloc((size_t)(nq * k) * sizeof(int64_t) + 8);
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t q = 0; q < nq; q++) {
        double bs[64];
        int64_t bi[64], m = 0;
        const float *qv = qd + q * qs;
        for (int64_t r = 0; r < np; r++) {
            int64_t c = probe[q * np_max + r];
            if (c < 0) continue;
            for (int64_t u = off[c]; u < off[c + 1]; u++) {
                int64_t i = mem[u];
                double sc = 0.0;
                for (int64_t j = 0; j < d; j++) {
                    double v = x[i * xs + j];
                    sc += metric == VECIDX_METRIC_IP ? v * qv[j] : -(v - qv[j]) * (v - qv[j]);
                }
                /* keep the k best (score, then smaller id), sorted */
                if (m == k && !(sc > bs[m - 1] || (sc == bs[m - 1] && i < bi[m - 1]))) continue;
                int64_t t = m < k ? m++ : m - 1;
                while (t > 0 && (sc > bs[t - 1] || (sc == bs[t - 1] && i < bi[t - 1]))) {
                    bs[t] = bs[t - 1];
                    bi[t] = bi[t - 1];
                    t--;
                }
                bs[t] = sc;
                bi[t] = i;
            }
        }
        for (int64_t t = 0; t < k; t++) got[q * k + t] = t < m ? bi[t] : -1;
    }
    double r = recall_at_k(got, truth, nq, k, tcols);
    free(got);
    return r;
}

/* Save idx, read back its centroids and list membership (format version 2), and compare with
 * the exact nearest centroid of every base row (ids = row numbers): the fraction of rows held
 * by another list, the mean score given up there, and recall@k at each nprobe of a simulated
 * search over the held lists and over the exact ones. */
static void assign_stats(const vecidx *idx, const als_matrix *base, const als_matrix *queries,
                         const options *o, const int64_t *truth, int64_t tcols,
                         double *mismatch, double *loss, char *rec_held, char *rec_exact,
                         size_t rec_len) {
    int metric = o->metric;
    int64_t threads = o->threads;
    const char *tmp = o->stats;
    int rc = vecidx_save(idx, tmp);
    if (rc) fail("vecidx_save", rc);
    FILE *f = fopen(tmp, "rb");
    if (!f) {
        fprintf(stderr, "bench_ivf_build: cannot reopen %s\n", tmp);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)sz);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        fprintf(stderr, "bench_ivf_build: cannot read %s\n", tmp);
        exit(1);
    }
    fclose(f);
    remove(tmp);
    if (sz < 128 || memcmp(buf, "\x89VECIDX\n", 8) != 0 || le64(buf + 8) % (1ull << 32) != 2) {
        fprintf(stderr, "bench_ivf_build: %s is not a version-2 vecidx file\n", tmp);
        exit(1);
    }
    int64_t d = (int64_t)le64(buf + 24), n = (int64_t)le64(buf + 32), nlist = (int64_t)le64(buf + 40);
    int l2 = metric == VECIDX_METRIC_L2;
    const unsigned char *p = buf + 128;
    als_matrix *cm = NULL;
    if ((rc = als_matrix_create(&cm, nlist, d))) fail("als_matrix_create", rc);
    for (int64_t c = 0; c < nlist; c++)
        memcpy(als_matrix_data(cm) + c * als_matrix_stride(cm), p + c * d * 4, (size_t)d * 4);
    p += pad64((uint64_t)(nlist * d * 4));
    const unsigned char *sizes = p;
    p += pad64((uint64_t)nlist * 8);
    int64_t *held = malloc((size_t)n * sizeof(int64_t));
    for (int64_t c = 0; c < nlist; c++) {
        int64_t m = (int64_t)le64(sizes + 8 * c), np = (m + 15) / 16;
        for (int64_t i = 0; i < m; i++) held[le64(p + 8 * i)] = c;
        p += pad64((uint64_t)m * 8) + (uint64_t)(np * d * 16 * 4) + (l2 ? (uint64_t)(np * 16 * 4) : 0);
    }
    /* exact: a flat search over the centroids (the quantizer's own scores and ties) */
    vecidx *fl = NULL;
    if ((rc = vecidx_flat_create(&fl, d, metric))) fail("vecidx_flat_create", rc);
    if ((rc = vecidx_set_int(fl, VECIDX_PARAM_NUM_THREADS, threads))) fail("vecidx_set_int", rc);
    if ((rc = vecidx_add(fl, cm, NULL))) fail("vecidx_add (centroids)", rc);
    int64_t *best = malloc((size_t)n * sizeof(int64_t));
    if ((rc = vecidx_search(fl, base, 1, NULL, best))) fail("vecidx_search (centroids)", rc);
    int64_t miss = 0;
    double lsum = 0.0;
    const float *x = als_matrix_data_const(base), *cd = als_matrix_data_const(cm);
    int64_t xs = als_matrix_stride(base), cs = als_matrix_stride(cm);
    for (int64_t i = 0; i < n; i++) {
        if (best[i] == held[i]) continue;
        miss++;
        double sb = 0.0, sh = 0.0, nb = 0.0, nh = 0.0;
        for (int64_t j = 0; j < d; j++) {
            double xv = x[i * xs + j], b = cd[best[i] * cs + j], h = cd[held[i] * cs + j];
            sb += xv * b;
            sh += xv * h;
            nb += b * b;
            nh += h * h;
        }
        lsum += l2 ? (sb - nb / 2) - (sh - nh / 2) : sb - sh;
    }
    *mismatch = (double)miss / (double)(n > 0 ? n : 1);
    *loss = miss ? lsum / (double)miss : 0.0;
    /* simulated searches: the probes are the index's own (the flat list of centroids) */
    int64_t np_max = 1, nq = als_matrix_rows(queries);
    for (int r = 0; r < o->n_nprobe; r++)
        if (o->nprobe[r] > np_max) np_max = o->nprobe[r];
    if (np_max > nlist) np_max = nlist;
    int64_t *probe = malloc((size_t)(nq * np_max) * sizeof(int64_t) + 8);
    if ((rc = vecidx_search(fl, queries, np_max, NULL, probe))) fail("vecidx_search (probes)", rc);
    int64_t *off_h, *mem_h, *off_e, *mem_e;
    lists_csr(held, n, nlist, &off_h, &mem_h);
    lists_csr(best, n, nlist, &off_e, &mem_e);
    size_t lh = 0, le = 0;
    for (int r = 0; r < o->n_nprobe; r++) {
        int64_t np = o->nprobe[r] < np_max ? o->nprobe[r] : np_max;
        double rh = sim_recall(base, queries, metric, probe, np_max, np, off_h, mem_h, o->k, truth, tcols);
        double re = sim_recall(base, queries, metric, probe, np_max, np, off_e, mem_e, o->k, truth, tcols);
        lh += (size_t)snprintf(rec_held + lh, rec_len - lh, "%s%.4f", r ? "," : "", rh);
        le += (size_t)snprintf(rec_exact + le, rec_len - le, "%s%.4f", r ? "," : "", re);
    }
    free(off_h);
    free(mem_h);
    free(off_e);
    free(mem_e);
    free(probe);
    free(best);
    free(held);
    free(buf);
    vecidx_destroy(fl);
    als_matrix_destroy(cm);
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);
    als_matrix *base = load(o.base), *queries = load(o.queries);
    int64_t n = als_matrix_rows(base), d = als_matrix_cols(base), nq = als_matrix_rows(queries);
    int64_t trows, tcols, *truth = truth_read(o.truth, &trows, &tcols);
    if (als_matrix_cols(queries) != d || trows != nq || tcols < o.k) {
        fprintf(stderr, "bench_ivf_build: shapes disagree (base d %lld, queries %lld x %lld, truth %lld x %lld)\n",
                (long long)d, (long long)nq, (long long)als_matrix_cols(queries), (long long)trows,
                (long long)tcols);
        return 1;
    }
    int rc;
    vecidx *idx = NULL;
    int64_t seed = 0, iters = 0, tpl = 0, threads = o.threads;
    double train_s = INFINITY, add_s = INFINITY;
    for (int64_t rep = 0; rep < o.repeat; rep++) { /* the same build each time: the best times */
        vecidx_destroy(idx);
        idx = NULL;
        if ((rc = vecidx_ivf_create(&idx, d, o.metric, o.nlist))) fail("vecidx_ivf_create", rc);
        if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, o.threads))) fail("vecidx_set_int(NUM_THREADS)", rc);
        if (o.seed >= 0 && (rc = vecidx_set_int(idx, VECIDX_PARAM_SEED, o.seed))) fail("vecidx_set_int(SEED)", rc);
        if (o.kmeans_iters && (rc = vecidx_set_int(idx, VECIDX_PARAM_KMEANS_ITERS, o.kmeans_iters)))
            fail("vecidx_set_int(KMEANS_ITERS)", rc);
        if (o.train_per_list && (rc = vecidx_set_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, o.train_per_list)))
            fail("vecidx_set_int(TRAIN_PER_LIST)", rc);
        vecidx_get_int(idx, VECIDX_PARAM_SEED, &seed);
        vecidx_get_int(idx, VECIDX_PARAM_KMEANS_ITERS, &iters);
        vecidx_get_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, &tpl);
        double t0 = now_s();
        if ((rc = vecidx_train(idx, base))) fail("vecidx_train", rc);
        double t = now_s() - t0;
        if (t < train_s) train_s = t;
        t0 = now_s();
        if ((rc = vecidx_add(idx, base, NULL))) fail("vecidx_add", rc);
        t = now_s() - t0;
        if (t < add_s) add_s = t;
    }
    if (threads == 0) threads = sysconf(_SC_NPROCESSORS_ONLN);

    int64_t *ids = malloc((size_t)(nq * o.k) * sizeof *ids + 8);
    char rec[512] = "", probes[256] = "";
    size_t rl = 0, pl = 0;
    for (int r = 0; r < o.n_nprobe; r++) {
        if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NPROBE, o.nprobe[r]))) fail("vecidx_set_int(NPROBE)", rc);
        if ((rc = vecidx_search(idx, queries, o.k, NULL, ids))) fail("vecidx_search", rc);
        double re = recall_at_k(ids, truth, nq, o.k, tcols);
        rl += (size_t)snprintf(rec + rl, sizeof rec - rl, "%s%.4f", r ? "," : "", re);
        pl += (size_t)snprintf(probes + pl, sizeof probes - pl, "%s%lld", r ? "," : "", (long long)o.nprobe[r]);
    }
    if (o.save && (rc = vecidx_save(idx, o.save))) fail("vecidx_save", rc);
    char st[512] = "mismatch=- loss=- sim_recall_held=- sim_recall_exact=-";
    if (o.stats) {
        double mm, loss;
        char rh[160], re[160];
        assign_stats(idx, base, queries, &o, truth, tcols, &mm, &loss, rh, re, sizeof rh);
        snprintf(st, sizeof st, "mismatch=%.5f loss=%.5f sim_recall_held=%s sim_recall_exact=%s",
                 mm, loss, rh, re);
    }
    printf("RESULT impl=%s metric=%s d=%lld n=%lld nq=%lld k=%lld nlist=%lld seed=%lld iters=%lld "
           "train_per_list=%lld threads=%lld reps=%lld train_s=%.3f add_s=%.3f build_s=%.3f nprobe=%s "
           "recall=%s %s rss_mb=%.1f\n",
           o.label, o.metric == VECIDX_METRIC_IP ? "ip" : "l2", (long long)d, (long long)n,
           (long long)nq, (long long)o.k, (long long)o.nlist, (long long)seed, (long long)iters,
           (long long)tpl, (long long)threads, (long long)o.repeat, train_s, add_s, train_s + add_s, probes, rec, st,
           peak_rss_mb());
    free(ids);
    free(truth);
    vecidx_destroy(idx);
    als_matrix_destroy(base);
    als_matrix_destroy(queries);
    return 0;
}
