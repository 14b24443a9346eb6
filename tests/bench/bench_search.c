/* bench_search: times vecidx build and search on .npy data and prints one RESULT line per
 * configuration (see docs/performance.md for the columns and the method).
 *
 * Usage:
 *   bench_search --base B.npy --queries Q.npy --kind flat|ivf --metric ip|l2 --k K
 *                [--nlist L --nprobe P[,P2,...]] [--threads T] [--simd auto|portable|avx2|avx512]
 *                [--kmeans-iters I] [--train-per-list P]
 *                [--truth FILE] [--nq M] [--repeat R] [--budget S] [--warmup W]
 *   bench_search --base B.npy --queries Q.npy --metric ip|l2 --k K --write-truth FILE [--threads T]
 *
 * Ground truth is an exact flat vecidx search of the queries (ids 0..n-1 = base rows). It is
 * stored as a NumPy .npy file of dtype '<i8', shape (nq, kt), row i = the kt best base ids of
 * query i, best first (np.load reads it; tests/bench/faiss_bench.py uses it). --write-truth
 * computes it and exits. --truth FILE reuses FILE when it has nq rows and >= k columns, and
 * otherwise computes it in this process (which then inflates this run's peak RSS) and
 * writes it. --nq M times only the first M queries (the truth file still covers the whole
 * query file). Recall@k = |returned top-k ids ∩ truth top-k ids| / k, averaged over queries.
 *
 * Timing: CLOCK_MONOTONIC. train and add are timed separately. Search: a warm-up on the first
 * W queries (default 64), then the full query set R times (default 3), keeping the best;
 * repeats stop early once the timed runs exceed S seconds (default 30). The RESULT line says
 * how many ran (reps=). ns_per_pair = search_s * 1e9 / (nq * n) for both kinds: for IVF it is
 * the cost per database vector, not per vector actually scanned.
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

#define BENCH_NAME "bench_search"
#include "bench_util.h"

#define MAX_NPROBE 32
#define TRUTH_MIN_K 20

typedef struct {
    const char *base, *queries, *truth, *write_truth;
    int kind;   /* VECIDX_KIND_* or -1 */
    int metric; /* VECIDX_METRIC_* */
    int64_t k, nlist, threads, simd, repeat, warmup, kmeans_iters, train_per_list, nq;
    double budget;
    int64_t nprobe[MAX_NPROBE];
    int n_nprobe;
} options;

static void usage_exit(const char *msg) {
    if (msg) fprintf(stderr, "bench_search: %s\n", msg);
    fprintf(stderr,
            "usage: bench_search --base B.npy --queries Q.npy --kind flat|ivf --metric ip|l2 --k K\n"
            "         [--nlist L --nprobe P[,P2,...]] [--kmeans-iters I] [--train-per-list P]\n"
            "         [--threads T]\n"
            "         [--simd auto|portable|avx2|avx512] [--truth FILE] [--nq M] [--repeat R]\n"
            "         [--budget SECONDS] [--warmup W]\n"
            "       bench_search --base B.npy --queries Q.npy --metric ip|l2 --k K\n"
            "         --write-truth FILE [--threads T]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->kind = -1;
    o->metric = -1;
    o->simd = VECIDX_SIMD_AUTO;
    o->repeat = 3;
    o->warmup = 64;
    o->budget = 30.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage_exit(NULL);
        if (i + 1 >= argc) usage_exit("missing value after the last option");
        const char *v = argv[++i];
        if (strcmp(a, "--base") == 0) {
            o->base = v;
        } else if (strcmp(a, "--queries") == 0) {
            o->queries = v;
        } else if (strcmp(a, "--truth") == 0) {
            o->truth = v;
        } else if (strcmp(a, "--write-truth") == 0) {
            o->write_truth = v;
        } else if (strcmp(a, "--kind") == 0) {
            if (strcmp(v, "flat") == 0) o->kind = VECIDX_KIND_FLAT;
            else if (strcmp(v, "ivf") == 0) o->kind = VECIDX_KIND_IVF;
            else usage_exit("--kind is flat or ivf");
        } else if (strcmp(a, "--metric") == 0) {
            if (strcmp(v, "ip") == 0) o->metric = VECIDX_METRIC_IP;
            else if (strcmp(v, "l2") == 0) o->metric = VECIDX_METRIC_L2;
            else usage_exit("--metric is ip or l2");
        } else if (strcmp(a, "--k") == 0) {
            o->k = parse_int(a, v, 1);
        } else if (strcmp(a, "--nlist") == 0) {
            o->nlist = parse_int(a, v, 1);
        } else if (strcmp(a, "--nprobe") == 0) {
            o->n_nprobe = parse_int_list(a, v, o->nprobe, MAX_NPROBE, 512, usage_exit);
        } else if (strcmp(a, "--kmeans-iters") == 0) {
            o->kmeans_iters = parse_int(a, v, 1);
        } else if (strcmp(a, "--train-per-list") == 0) {
            o->train_per_list = parse_int(a, v, 1);
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = parse_int(a, v, 0);
        } else if (strcmp(a, "--simd") == 0) {
            if (strcmp(v, "auto") == 0) o->simd = VECIDX_SIMD_AUTO;
            else if (strcmp(v, "portable") == 0) o->simd = VECIDX_SIMD_PORTABLE;
            else if (strcmp(v, "avx2") == 0) o->simd = VECIDX_SIMD_AVX2;
            else if (strcmp(v, "avx512") == 0) o->simd = VECIDX_SIMD_AVX512;
            else usage_exit("--simd is auto, portable, avx2 or avx512");
        } else if (strcmp(a, "--repeat") == 0) {
            o->repeat = parse_int(a, v, 1);
        } else if (strcmp(a, "--nq") == 0) {
            o->nq = parse_int(a, v, 1);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = parse_int(a, v, 0);
        } else if (strcmp(a, "--budget") == 0) {
            char *end = NULL;
            o->budget = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->budget >= 0.0)) usage_exit("bad --budget");
        } else {
            fprintf(stderr, "bench_search: unknown option %s\n", a);
            usage_exit(NULL);
        }
    }
    if (!o->base || !o->queries) usage_exit("--base and --queries are required");
    if (o->metric < 0) usage_exit("--metric is required");
    if (o->k < 1) usage_exit("--k is required");
    if (o->write_truth) return;
    if (o->kind < 0) usage_exit("--kind is required");
    if (o->kind == VECIDX_KIND_IVF && (o->nlist < 1 || o->n_nprobe < 1))
        usage_exit("--kind ivf needs --nlist and --nprobe");
    if (o->kind == VECIDX_KIND_FLAT && (o->nlist || o->n_nprobe))
        usage_exit("--nlist/--nprobe apply to --kind ivf only");
}

/* ---- ground-truth file: .npy, '<i8', C order, shape (rows, cols) ---- */

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_le64(unsigned char *p, int64_t v) {
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_le64(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
    return (int64_t)u;
}

/* Writes atomically (temp file + rename). Returns 0 or -1 with a message printed. */
static int truth_write(const char *path, const int64_t *ids, int64_t rows, int64_t cols) {
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr,
                       "{'descr': '<i8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                       (long long)rows, (long long)cols);
    int total = 10 + len + 1; /* magic(6) + version(2) + hlen(2) + dict + '\n' */
    int pad = (64 - total % 64) % 64;
    size_t tlen = strlen(path) + 16;
    char *tmp = malloc(tlen);
    if (!tmp) return -1;
    snprintf(tmp, tlen, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "bench_search: cannot write %s: %s\n", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    unsigned hl = (unsigned)(len + pad + 1);
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    unsigned char buf[8 * 512];
    int64_t n = rows * cols, done = 0;
    while (ok && done < n) {
        int64_t m = n - done < 512 ? n - done : 512;
        for (int64_t i = 0; i < m; i++) put_le64(buf + 8 * i, ids[done + i]);
        ok = fwrite(buf, 8, (size_t)m, f) == (size_t)m;
        done += m;
    }
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "bench_search: writing %s failed: %s\n", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* Reads a truth file. Returns 0 (ids allocated), 1 if it does not exist, -1 if malformed. */
static int truth_read(const char *path, int64_t **ids_out, int64_t *rows, int64_t *cols) {
    FILE *f = fopen(path, "rb");
    if (!f) return errno == ENOENT ? 1 : -1;
    unsigned char pre[10];
    char hdr[1024];
    int rc = -1;
    int64_t *ids = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0 || pre[6] != 1) goto out;
    size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (hl >= sizeof hdr || fread(hdr, 1, hl, f) != hl) goto out;
    hdr[hl] = '\0';
    if (!strstr(hdr, "'descr': '<i8'") || !strstr(hdr, "'fortran_order': False")) goto out;
    const char *sh = strstr(hdr, "'shape': (");
    long long r = -1, c = -1;
    if (!sh || sscanf(sh + 10, "%lld, %lld)", &r, &c) != 2 || r < 0 || c < 1) goto out;
    if (r > 0 && (uint64_t)r > SIZE_MAX / 8 / (uint64_t)c) goto out;
    ids = malloc((size_t)(r * c) * 8 + 8);
    if (!ids) goto out;
    if (host_is_le()) {
        if (fread(ids, 8, (size_t)(r * c), f) != (size_t)(r * c)) goto out;
    } else {
        unsigned char b[8];
        for (long long i = 0; i < r * c; i++) {
            if (fread(b, 1, 8, f) != 8) goto out;
            ids[i] = get_le64(b);
        }
    }
    *ids_out = ids;
    *rows = r;
    *cols = c;
    ids = NULL;
    rc = 0;
out:
    free(ids);
    fclose(f);
    return rc;
}

/* Exact top-kt by a flat vecidx search. Returns malloc'd nq x kt ids. */
static int64_t *compute_truth(const als_matrix *base, const als_matrix *queries, int metric,
                              int64_t kt, int64_t threads) {
    vecidx *fl = NULL;
    int rc = vecidx_flat_create(&fl, als_matrix_cols(base), metric);
    if (rc) fail("vecidx_flat_create (ground truth)", rc);
    if ((rc = vecidx_set_int(fl, VECIDX_PARAM_NUM_THREADS, threads))) fail("vecidx_set_int", rc);
    if ((rc = vecidx_add(fl, base, NULL))) fail("vecidx_add (ground truth)", rc);
    int64_t nq = als_matrix_rows(queries);
    int64_t *ids = malloc((size_t)(nq * kt) * sizeof *ids + 8);
    if (!ids) {
        fprintf(stderr, "bench_search: out of memory for the ground truth\n");
        exit(1);
    }
    double t0 = now_s();
    if ((rc = vecidx_search(fl, queries, kt, NULL, ids))) fail("vecidx_search (ground truth)", rc);
    fprintf(stderr, "bench_search: ground truth (exact flat, k=%lld) took %.2f s\n",
            (long long)kt, now_s() - t0);
    vecidx_destroy(fl);
    return ids;
}

static const char *simd_name(int64_t s) {
    switch (s) {
    case VECIDX_SIMD_PORTABLE: return "portable";
    case VECIDX_SIMD_AVX2: return "avx2";
    case VECIDX_SIMD_AVX512: return "avx512";
    default: return "auto";
    }
}

/* Warm-up on the first queries, then up to o->repeat timed runs; the best time. */
static double timed_search(const vecidx *idx, const als_matrix *queries, const options *o,
                           float *scores, int64_t *ids, int *reps_out) {
    int64_t nq = als_matrix_rows(queries);
    int64_t w = o->warmup < nq ? o->warmup : nq;
    int rc;
    if (w > 0) {
        als_matrix *head = NULL;
        if ((rc = als_matrix_view_rows(&head, queries, 0, w))) fail("als_matrix_view_rows", rc);
        if ((rc = vecidx_search(idx, head, o->k, scores, ids))) fail("vecidx_search (warm-up)", rc);
        als_matrix_destroy(head);
    }
    double best = INFINITY, spent = 0.0;
    int reps = 0;
    while (reps < o->repeat) {
        double t0 = now_s();
        if ((rc = vecidx_search(idx, queries, o->k, scores, ids))) fail("vecidx_search", rc);
        double t = now_s() - t0;
        reps++;
        spent += t;
        if (t < best) best = t;
        if (spent + t > o->budget) break; /* another run would overrun the budget */
    }
    *reps_out = reps;
    return best;
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);
    als_matrix *base = load(o.base), *queries = load(o.queries);
    int64_t n = als_matrix_rows(base), d = als_matrix_cols(base), nq = als_matrix_rows(queries);
    if (als_matrix_cols(queries) != d) {
        fprintf(stderr, "bench_search: base has %lld columns, queries %lld\n", (long long)d,
                (long long)als_matrix_cols(queries));
        return 1;
    }
    int rc;

    if (o.write_truth) {
        int64_t *t = compute_truth(base, queries, o.metric, o.k, o.threads);
        if (truth_write(o.write_truth, t, nq, o.k)) return 1;
        printf("# truth %s: exact flat %s, nq=%lld k=%lld n=%lld d=%lld\n", o.write_truth,
               o.metric == VECIDX_METRIC_IP ? "ip" : "l2", (long long)nq, (long long)o.k,
               (long long)n, (long long)d);
        free(t);
        als_matrix_destroy(base);
        als_matrix_destroy(queries);
        return 0;
    }

    /* Ground truth: reuse the cached file when it fits, else compute (and cache) it. */
    int64_t *truth = NULL, trows = 0, tcols = 0;
    if (o.truth) {
        int tr = truth_read(o.truth, &truth, &trows, &tcols);
        if (tr < 0) fprintf(stderr, "bench_search: %s is not a truth file; recomputing\n", o.truth);
        if (tr == 0 && (trows != nq || tcols < o.k)) {
            fprintf(stderr, "bench_search: %s holds %lld x %lld ids, need %lld x >=%lld; recomputing\n",
                    o.truth, (long long)trows, (long long)tcols, (long long)nq, (long long)o.k);
            free(truth);
            truth = NULL;
        }
        if (tr != 0 || !truth) {
            fprintf(stderr, "bench_search: note: ground truth computed in this process, so its "
                            "peak RSS includes a second flat index\n");
        }
    }
    if (!truth) {
        tcols = o.k > TRUTH_MIN_K ? o.k : TRUTH_MIN_K;
        truth = compute_truth(base, queries, o.metric, tcols, o.threads);
        trows = nq;
        if (o.truth && truth_write(o.truth, truth, trows, tcols)) return 1;
    }

    /* --nq M: time only the first M queries (the truth rows line up, being a prefix too). */
    als_matrix *qview = NULL;
    const als_matrix *qrun = queries;
    if (o.nq > 0 && o.nq < nq) {
        if ((rc = als_matrix_view_rows(&qview, queries, 0, o.nq))) fail("als_matrix_view_rows", rc);
        qrun = qview;
        nq = o.nq;
    }

    /* Build. */
    vecidx *idx = NULL;
    if (o.kind == VECIDX_KIND_FLAT) rc = vecidx_flat_create(&idx, d, o.metric);
    else rc = vecidx_ivf_create(&idx, d, o.metric, o.nlist);
    if (rc) fail(o.kind == VECIDX_KIND_FLAT ? "vecidx_flat_create" : "vecidx_ivf_create", rc);
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, o.threads)))
        fail("vecidx_set_int(NUM_THREADS)", rc);
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_SIMD, o.simd))) fail("vecidx_set_int(SIMD)", rc);
    if (o.kind == VECIDX_KIND_IVF && o.kmeans_iters &&
        (rc = vecidx_set_int(idx, VECIDX_PARAM_KMEANS_ITERS, o.kmeans_iters)))
        fail("vecidx_set_int(KMEANS_ITERS)", rc);
    if (o.kind == VECIDX_KIND_IVF && o.train_per_list &&
        (rc = vecidx_set_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, o.train_per_list)))
        fail("vecidx_set_int(TRAIN_PER_LIST)", rc);
    int64_t simd_used = 0, threads_used = o.threads;
    if ((rc = vecidx_get_int(idx, VECIDX_PARAM_SIMD, &simd_used))) fail("vecidx_get_int(SIMD)", rc);
    if (threads_used == 0) threads_used = sysconf(_SC_NPROCESSORS_ONLN);

    double t0 = now_s();
    if ((rc = vecidx_train(idx, base))) fail("vecidx_train", rc);
    double train_s = now_s() - t0;
    t0 = now_s();
    if ((rc = vecidx_add(idx, base, NULL))) fail("vecidx_add", rc);
    double add_s = now_s() - t0;
    if (vecidx_size(idx) != n) {
        fprintf(stderr, "bench_search: vecidx_size is %lld after adding %lld rows\n",
                (long long)vecidx_size(idx), (long long)n);
        return 1;
    }

    float *scores = malloc((size_t)(nq * o.k) * sizeof *scores + 8);
    int64_t *ids = malloc((size_t)(nq * o.k) * sizeof *ids + 8);
    if (!scores || !ids) {
        fprintf(stderr, "bench_search: out of memory for %lld x %lld results\n", (long long)nq,
                (long long)o.k);
        return 1;
    }

    int runs = o.kind == VECIDX_KIND_IVF ? o.n_nprobe : 1;
    for (int r = 0; r < runs; r++) {
        char nlist_s[32] = "-", nprobe_s[32] = "-";
        if (o.kind == VECIDX_KIND_IVF) {
            if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NPROBE, o.nprobe[r])))
                fail("vecidx_set_int(NPROBE)", rc);
            snprintf(nlist_s, sizeof nlist_s, "%lld", (long long)o.nlist);
            snprintf(nprobe_s, sizeof nprobe_s, "%lld", (long long)o.nprobe[r]);
        }
        int reps = 0;
        double search_s = timed_search(idx, qrun, &o, scores, ids, &reps);
        double recall = recall_at_k(ids, truth, nq, o.k, tcols);
        double pairs = (double)nq * (double)n;
        printf("RESULT impl=ours kind=%s metric=%s d=%lld n=%lld nq=%lld k=%lld nlist=%s "
               "nprobe=%s threads=%lld train_s=%.3f add_s=%.3f search_s=%.4f ns_per_pair=%.5g "
               "qps=%.1f recall=%.4f rss_mb=%.1f simd=%s reps=%d\n",
               o.kind == VECIDX_KIND_FLAT ? "flat" : "ivf",
               o.metric == VECIDX_METRIC_IP ? "ip" : "l2", (long long)d, (long long)n,
               (long long)nq, (long long)o.k, nlist_s, nprobe_s, (long long)threads_used, train_s,
               add_s, search_s, pairs > 0 ? search_s * 1e9 / pairs : 0.0,
               search_s > 0 ? (double)nq / search_s : 0.0, recall, peak_rss_mb(),
               simd_name(simd_used), reps);
        fflush(stdout);
    }

    free(scores);
    free(ids);
    free(truth);
    vecidx_destroy(idx);
    als_matrix_destroy(qview);
    als_matrix_destroy(base);
    als_matrix_destroy(queries);
    return 0;
}
