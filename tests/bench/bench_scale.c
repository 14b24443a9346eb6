/* bench_scale: the IVF benchmark at scale (run_scale.sh, docs/performance.md "IVF at 50 M"):
 * one step per process, so that each RESULT line's peak RSS (getrusage ru_maxrss) belongs to
 * that step alone.
 *
 * Usage:
 *   bench_scale build  --base B.npy --nlist L --save IDX [--chunk R] [--whole] [--threads T]
 *                      [--seed S] [--kmeans-iters I] [--train-per-list P]
 *   bench_scale truth  --base B.npy --queries Q.npy --k K --out T.npy [--threads T]
 *   bench_scale search --index IDX --queries Q.npy --truth T.npy [--k 5] [--nprobe 8,12,..]
 *                      [--target 0.99] [--repeat R] [--threads T]
 *   bench_scale exact  --base B.npy --index IDX --queries Q.npy --nq M [--k 5] [--repeat R]
 *                      [--threads T]
 *
 * build (streamed, the default): the base file is never held in memory. Training gets the
 *   systematic sample rows floor(j N / S), j = 0..S-1, S = min(N, nlist x train-per-list) (the
 *   library then trains on all S rows; faiss_scale.py takes the same rows), read through the
 *   file; the add reads R rows at a time (default 1,000,000) into one buffer and calls
 *   vecidx_add per chunk (ids = row numbers). train_s / add_s are the library calls alone;
 *   the reads are io_s. rss_train_mb is the peak after training, rss_mb the build's peak (read
 *   before the save). --whole instead reads the whole file (als_matrix_read_npy), trains on it
 *   (the library draws its own sample) and adds it in one call: the peak then holds the input.
 * truth: an exact flat search of every query (the file format of bench_search --write-truth:
 *   .npy '<i8' (nq, K), best first); flat_s is that search's time.
 * search: loads IDX (vecidx_load), searches every query at each nprobe in turn, recall@k
 *   against the truth, and stops at the first nprobe reaching --target; that one is timed R
 *   times (the best kept; the first run was the one measured for recall).
 * exact: our flat index over the base against VECIDX_PARAM_EXACT on the loaded IVF index, on
 *   the first M queries, best of R alternating runs after one warm-up of the exact mode (its
 *   first search computes the list bounds: exact_first_s), results compared bit for bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "als.h"
#include "vecidx.h"

#define BENCH_NAME "bench_scale"
#include "bench_util.h"

#define MAX_NPROBE 32

typedef struct {
    const char *step, *base, *queries, *truth, *index, *save, *out;
    int64_t nlist, chunk, threads, seed, kmeans_iters, train_per_list, k, repeat, nq;
    int whole;
    double target;
    int64_t nprobe[MAX_NPROBE];
    int n_nprobe;
} options;

static void usage_exit(const char *msg) {
    if (msg) fprintf(stderr, "bench_scale: %s\n", msg);
    fprintf(stderr,
            "usage: bench_scale build  --base B.npy --nlist L --save IDX [--chunk R] [--whole]\n"
            "                          [--threads T] [--seed S] [--kmeans-iters I] [--train-per-list P]\n"
            "       bench_scale truth  --base B.npy --queries Q.npy --k K --out T.npy [--threads T]\n"
            "       bench_scale search --index IDX --queries Q.npy --truth T.npy [--k 5]\n"
            "                          [--nprobe 8,12,...] [--target 0.99] [--repeat R] [--threads T]\n"
            "       bench_scale exact  --base B.npy --index IDX --queries Q.npy --nq M [--k 5]\n"
            "                          [--repeat R] [--threads T]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    if (argc < 2) usage_exit(NULL);
    o->step = argv[1];
    o->chunk = 1000000;
    o->seed = -1;
    o->k = 5;
    o->repeat = 3;
    o->target = 0.99;
    const int64_t defp[] = {4, 6, 8, 10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 96, 128};
    o->n_nprobe = (int)(sizeof defp / sizeof defp[0]);
    for (int i = 0; i < o->n_nprobe; i++) o->nprobe[i] = defp[i];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--whole") == 0) {
            o->whole = 1;
            continue;
        }
        if (i + 1 >= argc) usage_exit("missing value after the last option");
        const char *v = argv[++i];
        if (strcmp(a, "--base") == 0) o->base = v;
        else if (strcmp(a, "--queries") == 0) o->queries = v;
        else if (strcmp(a, "--truth") == 0) o->truth = v;
        else if (strcmp(a, "--index") == 0) o->index = v;
        else if (strcmp(a, "--save") == 0) o->save = v;
        else if (strcmp(a, "--out") == 0) o->out = v;
        else if (strcmp(a, "--nlist") == 0) o->nlist = parse_int(a, v, 1);
        else if (strcmp(a, "--chunk") == 0) o->chunk = parse_int(a, v, 1);
        else if (strcmp(a, "--threads") == 0) o->threads = parse_int(a, v, 0);
        else if (strcmp(a, "--seed") == 0) o->seed = parse_int(a, v, 0);
        else if (strcmp(a, "--kmeans-iters") == 0) o->kmeans_iters = parse_int(a, v, 1);
        else if (strcmp(a, "--train-per-list") == 0) o->train_per_list = parse_int(a, v, 1);
        else if (strcmp(a, "--k") == 0) o->k = parse_int(a, v, 1);
        else if (strcmp(a, "--repeat") == 0) o->repeat = parse_int(a, v, 1);
        else if (strcmp(a, "--nq") == 0) o->nq = parse_int(a, v, 1);
        else if (strcmp(a, "--target") == 0) {
            char *end = NULL;
            o->target = strtod(v, &end);
            if (end == v || *end != '\0' || !(o->target >= 0.0 && o->target <= 1.0)) usage_exit("bad --target");
        } else if (strcmp(a, "--nprobe") == 0) {
            o->n_nprobe = parse_int_list(a, v, o->nprobe, MAX_NPROBE, 512, usage_exit);
        } else {
            fprintf(stderr, "bench_scale: unknown option %s\n", a);
            usage_exit(NULL);
        }
    }
}

/* ---- .npy files ---- */

/* A 2-D '<f4' C-order .npy file opened for reading rows: fd, shape, offset of the data. */
typedef struct {
    int fd;
    int64_t rows, cols, off;
} npy_file;

static void npy_open(npy_file *f, const char *path) {
    f->fd = open(path, O_RDONLY);
    if (f->fd < 0) {
        fprintf(stderr, "bench_scale: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    unsigned char pre[12];
    char hdr[4096];
    if (pread(f->fd, pre, 12, 0) != 12 || memcmp(pre, "\x93NUMPY", 6) != 0) goto bad;
    size_t hl, start;
    if (pre[6] == 1) {
        hl = (size_t)pre[8] | (size_t)pre[9] << 8;
        start = 10;
    } else {
        hl = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        start = 12;
    }
    if (hl >= sizeof hdr || pread(f->fd, hdr, hl, (off_t)start) != (ssize_t)hl) goto bad;
    hdr[hl] = '\0';
    const char *sh = strstr(hdr, "'shape': (");
    long long r = -1, c = -1;
    if (!strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False") || !sh ||
        sscanf(sh + 10, "%lld, %lld)", &r, &c) != 2 || r < 0 || c < 1)
        goto bad;
    f->rows = r;
    f->cols = c;
    f->off = (int64_t)(start + hl);
    struct stat st;
    if (fstat(f->fd, &st) != 0 || st.st_size < f->off + r * c * 4) goto bad;
    return;
bad:
    fprintf(stderr, "bench_scale: %s is not a 2-D '<f4' C-order .npy file\n", path);
    exit(1);
}

/* Rows [r0, r0 + n) into dst (dense). */
static void npy_rows(const npy_file *f, int64_t r0, int64_t n, float *dst) {
    size_t want = (size_t)(n * f->cols) * sizeof(float), got = 0;
    off_t at = (off_t)(f->off + r0 * f->cols * 4);
    while (got < want) {
        ssize_t r = pread(f->fd, (char *)dst + got, want - got, at + (off_t)got);
        if (r <= 0) {
            fprintf(stderr, "bench_scale: read failed at row %lld: %s\n", (long long)r0,
                    r < 0 ? strerror(errno) : "end of file");
            exit(1);
        }
        got += (size_t)r;
    }
}

static void truth_write(const char *path, const int64_t *ids, int64_t rows, int64_t cols) {
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<i8', 'fortran_order': False, 'shape': (%lld, %lld), }",
                       (long long)rows, (long long)cols);
    int pad = (64 - (10 + len + 1) % 64) % 64;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "bench_scale: cannot write %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
    unsigned hl = (unsigned)(len + pad + 1);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF; /* the host is little-endian (x86-64) */
    ok = ok && fwrite(ids, 8, (size_t)(rows * cols), f) == (size_t)(rows * cols);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "bench_scale: writing %s failed\n", path);
        remove(tmp);
        exit(1);
    }
}

static int64_t *truth_read(const char *path, int64_t *rows, int64_t *cols) {
    FILE *f = fopen(path, "rb");
    unsigned char pre[10];
    char hdr[1024];
    long long r = -1, c = -1;
    int ok = f && fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1;
    size_t hl = ok ? ((size_t)pre[8] | (size_t)pre[9] << 8) : 0;
    ok = ok && hl < sizeof hdr && fread(hdr, 1, hl, f) == hl;
    if (ok) {
        hdr[hl] = '\0';
        const char *sh = strstr(hdr, "'shape': (");
        ok = strstr(hdr, "'descr': '<i8'") && sh && sscanf(sh + 10, "%lld, %lld)", &r, &c) == 2 && r >= 0 && c >= 1;
    }
    int64_t *ids = ok ? malloc((size_t)(r * c) * 8 + 8) : NULL;
    ok = ids && fread(ids, 8, (size_t)(r * c), f) == (size_t)(r * c);
    if (f) fclose(f);
    if (!ok) {
        fprintf(stderr, "bench_scale: %s is not a truth file (bench_scale truth makes it)\n", path);
        exit(1);
    }
    *rows = r;
    *cols = c;
    return ids;
}

static int64_t threads_used(int64_t t) { return t ? t : (int64_t)sysconf(_SC_NPROCESSORS_ONLN); }

static vecidx *load_index(const char *path, int64_t threads, double *load_s) {
    vecidx *idx = NULL;
    double t0 = now_s();
    int rc = vecidx_load(&idx, path);
    if (rc) fail("vecidx_load", rc);
    *load_s = now_s() - t0;
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, threads))) fail("vecidx_set_int(NUM_THREADS)", rc);
    return idx;
}

/* The peak RSS since the last hwm_reset (VmHWM; -1 if unreadable). Writing 5 to clear_refs
 * resets it to the current RSS (Linux 4.0+), so a phase's own peak can be read. */
static double hwm_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1.0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb < 0 ? -1.0 : kb / 1024.0;
}

static int hwm_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok = f && fputs("5", f) >= 0;
    if (f) ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

/* ---- steps ---- */

static int step_build(const options *o) {
    if (!o->base || !o->nlist) usage_exit("build needs --base and --nlist");
    int rc;
    vecidx *idx = NULL;
    npy_file f;
    npy_open(&f, o->base);
    int64_t n = f.rows, d = f.cols;
    if ((rc = vecidx_ivf_create(&idx, d, VECIDX_METRIC_IP, o->nlist))) fail("vecidx_ivf_create", rc);
    if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, o->threads))) fail("vecidx_set_int(NUM_THREADS)", rc);
    if (o->seed >= 0 && (rc = vecidx_set_int(idx, VECIDX_PARAM_SEED, o->seed))) fail("vecidx_set_int(SEED)", rc);
    if (o->kmeans_iters && (rc = vecidx_set_int(idx, VECIDX_PARAM_KMEANS_ITERS, o->kmeans_iters)))
        fail("vecidx_set_int(KMEANS_ITERS)", rc);
    if (o->train_per_list && (rc = vecidx_set_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, o->train_per_list)))
        fail("vecidx_set_int(TRAIN_PER_LIST)", rc);
    int64_t seed = 0, iters = 0, tpl = 0;
    vecidx_get_int(idx, VECIDX_PARAM_SEED, &seed);
    vecidx_get_int(idx, VECIDX_PARAM_KMEANS_ITERS, &iters);
    vecidx_get_int(idx, VECIDX_PARAM_TRAIN_PER_LIST, &tpl);
    double rss0 = peak_rss_mb(), io_s = 0.0, train_s, add_s = 0.0, rss_train, t0;
    int reset_ok = 0;
    int64_t s = o->nlist * tpl < n ? o->nlist * tpl : n;
    if (o->whole) {
        close(f.fd);
        t0 = now_s();
        als_matrix *x = load(o->base);
        io_s = now_s() - t0;
        t0 = now_s();
        if ((rc = vecidx_train(idx, x))) fail("vecidx_train", rc);
        train_s = now_s() - t0;
        rss_train = peak_rss_mb();
        reset_ok = hwm_reset() == 0;
        t0 = now_s();
        if ((rc = vecidx_add(idx, x, NULL))) fail("vecidx_add", rc);
        add_s = now_s() - t0;
        als_matrix_destroy(x);
    } else {
        /* the training sample: rows floor(j n / s), read chunk by chunk */
        als_matrix *smp = NULL, *buf = NULL;
        int64_t cr = o->chunk < n ? o->chunk : n;
        if ((rc = als_matrix_create(&smp, s, d)) || (rc = als_matrix_create(&buf, cr > 0 ? cr : 1, d)))
            fail("als_matrix_create", rc);
        float *sd = als_matrix_data(smp), *bd = als_matrix_data(buf);
        t0 = now_s();
        int64_t j = 0;
        for (int64_t r0 = 0; r0 < n && j < s; r0 += cr) {
            int64_t rn = n - r0 < cr ? n - r0 : cr;
            npy_rows(&f, r0, rn, bd);
            for (; j < s; j++) {
                int64_t r = (int64_t)((uint64_t)j * (uint64_t)n / (uint64_t)s); /* j < s <= n */
                if (r >= r0 + rn) break;
                memcpy(sd + j * d, bd + (r - r0) * d, (size_t)d * sizeof(float));
            }
        }
        io_s += now_s() - t0;
        t0 = now_s();
        if ((rc = vecidx_train(idx, smp))) fail("vecidx_train", rc);
        train_s = now_s() - t0;
        rss_train = peak_rss_mb();
        als_matrix_destroy(smp);
        reset_ok = hwm_reset() == 0;
        for (int64_t r0 = 0; r0 < n; r0 += cr) {
            int64_t rn = n - r0 < cr ? n - r0 : cr;
            t0 = now_s();
            npy_rows(&f, r0, rn, bd);
            io_s += now_s() - t0;
            als_matrix *v = NULL;
            if ((rc = als_matrix_view_rows(&v, buf, 0, rn))) fail("als_matrix_view_rows", rc);
            t0 = now_s();
            if ((rc = vecidx_add(idx, v, NULL))) fail("vecidx_add", rc);
            add_s += now_s() - t0;
            als_matrix_destroy(v);
        }
        als_matrix_destroy(buf);
        close(f.fd);
    }
    double rss = peak_rss_mb(), rss_add = reset_ok ? hwm_mb() : -1.0;
    if (rss_train > rss) rss = rss_train; /* ru_maxrss follows the reset: the build's peak is the larger */
    if (vecidx_size(idx) != n) {
        fprintf(stderr, "bench_scale: vecidx_size is %lld after adding %lld rows\n", (long long)vecidx_size(idx),
                (long long)n);
        return 1;
    }
    double save_s = 0.0;
    if (o->save) {
        t0 = now_s();
        if ((rc = vecidx_save(idx, o->save))) fail("vecidx_save", rc);
        save_s = now_s() - t0;
    }
    double vec_ids_mb = (double)n * (double)(d * 4 + 8) / (1024.0 * 1024.0);
    printf("RESULT step=build impl=ours mode=%s n=%lld d=%lld nlist=%lld seed=%lld iters=%lld "
           "train_per_list=%lld train_rows=%lld chunk=%lld threads=%lld train_s=%.3f add_s=%.3f build_s=%.3f "
           "io_s=%.3f save_s=%.3f rss_start_mb=%.1f rss_train_mb=%.1f rss_add_mb=%.1f rss_mb=%.1f "
           "vec_ids_mb=%.1f rss_ratio=%.3f\n",
           o->whole ? "whole" : "stream", (long long)n, (long long)d, (long long)o->nlist, (long long)seed,
           (long long)iters, (long long)tpl, (long long)(o->whole ? (s < n ? s : n) : s),
           (long long)(o->whole ? n : o->chunk), (long long)threads_used(o->threads), train_s, add_s,
           train_s + add_s, io_s, save_s, rss0, rss_train, rss_add, rss, vec_ids_mb, rss / vec_ids_mb);
    vecidx_destroy(idx);
    return 0;
}

static vecidx *flat_of(const char *base, int64_t threads, double *add_s, int64_t *n) {
    als_matrix *x = load(base);
    vecidx *fl = NULL;
    int rc;
    if ((rc = vecidx_flat_create(&fl, als_matrix_cols(x), VECIDX_METRIC_IP))) fail("vecidx_flat_create", rc);
    if ((rc = vecidx_set_int(fl, VECIDX_PARAM_NUM_THREADS, threads))) fail("vecidx_set_int", rc);
    double t0 = now_s();
    if ((rc = vecidx_add(fl, x, NULL))) fail("vecidx_add (flat)", rc);
    *add_s = now_s() - t0;
    *n = als_matrix_rows(x);
    als_matrix_destroy(x); /* the flat index holds its own copy */
    return fl;
}

static int step_truth(const options *o) {
    if (!o->base || !o->queries || !o->out) usage_exit("truth needs --base, --queries and --out");
    double add_s;
    int64_t n;
    vecidx *fl = flat_of(o->base, o->threads, &add_s, &n);
    als_matrix *q = load(o->queries);
    int64_t nq = als_matrix_rows(q);
    int64_t *ids = malloc((size_t)(nq * o->k) * sizeof *ids + 8);
    if (!ids) fail("malloc", ALS_ENOMEM);
    double t0 = now_s();
    int rc = vecidx_search(fl, q, o->k, NULL, ids);
    if (rc) fail("vecidx_search (flat)", rc);
    double flat_s = now_s() - t0;
    truth_write(o->out, ids, nq, o->k);
    printf("RESULT step=truth impl=ours kind=flat n=%lld nq=%lld k=%lld threads=%lld add_s=%.3f flat_s=%.3f "
           "ns_per_pair=%.5g rss_mb=%.1f\n",
           (long long)n, (long long)nq, (long long)o->k, (long long)threads_used(o->threads), add_s, flat_s,
           flat_s * 1e9 / ((double)nq * (double)n), peak_rss_mb());
    free(ids);
    als_matrix_destroy(q);
    vecidx_destroy(fl);
    return 0;
}

static int step_search(const options *o) {
    if (!o->index || !o->queries || !o->truth) usage_exit("search needs --index, --queries and --truth");
    double load_s;
    vecidx *idx = load_index(o->index, o->threads, &load_s);
    als_matrix *q = load(o->queries);
    int64_t nq = als_matrix_rows(q), trows, tcols, *truth = truth_read(o->truth, &trows, &tcols);
    if (trows != nq || tcols < o->k) {
        fprintf(stderr, "bench_scale: the truth holds %lld x %lld ids, the queries %lld (k %lld)\n",
                (long long)trows, (long long)tcols, (long long)nq, (long long)o->k);
        return 1;
    }
    int64_t *ids = malloc((size_t)(nq * o->k) * sizeof *ids + 8);
    float *sc = malloc((size_t)(nq * o->k) * sizeof *sc + 8);
    if (!ids || !sc) fail("malloc", ALS_ENOMEM);
    int rc, reached = 0;
    for (int r = 0; r < o->n_nprobe && !reached; r++) {
        if ((rc = vecidx_set_int(idx, VECIDX_PARAM_NPROBE, o->nprobe[r]))) fail("vecidx_set_int(NPROBE)", rc);
        double t0 = now_s();
        if ((rc = vecidx_search(idx, q, o->k, sc, ids))) fail("vecidx_search", rc);
        double best = now_s() - t0, first = best;
        double rec = recall_at_k(ids, truth, nq, o->k, tcols);
        int reps = 1;
        reached = rec >= o->target;
        for (; reached && reps < o->repeat; reps++) {
            t0 = now_s();
            if ((rc = vecidx_search(idx, q, o->k, sc, ids))) fail("vecidx_search", rc);
            double t = now_s() - t0;
            if (t < best) best = t;
        }
        printf("RESULT step=search impl=ours n=%lld nq=%lld k=%lld nlist=%lld nprobe=%lld threads=%lld "
               "search_s=%.4f first_s=%.4f reps=%d qps=%.1f recall=%.4f target=%.4f reached=%d load_s=%.3f "
               "rss_mb=%.1f\n",
               (long long)vecidx_size(idx), (long long)nq, (long long)o->k, (long long)vecidx_nlist(idx),
               (long long)o->nprobe[r], (long long)threads_used(o->threads), best, first, reps, (double)nq / best,
               rec, o->target, reached, load_s, peak_rss_mb());
        fflush(stdout);
    }
    free(ids);
    free(sc);
    free(truth);
    als_matrix_destroy(q);
    vecidx_destroy(idx);
    return reached ? 0 : 3;
}

static int step_exact(const options *o) {
    if (!o->base || !o->index || !o->queries || !o->nq) usage_exit("exact needs --base, --index, --queries and --nq");
    double fadd_s, load_s;
    int64_t n;
    vecidx *fl = flat_of(o->base, o->threads, &fadd_s, &n);
    vecidx *ivf = load_index(o->index, o->threads, &load_s);
    als_matrix *qa = load(o->queries), *q = NULL;
    int64_t nq = o->nq < als_matrix_rows(qa) ? o->nq : als_matrix_rows(qa), k = o->k;
    int rc;
    if ((rc = als_matrix_view_rows(&q, qa, 0, nq))) fail("als_matrix_view_rows", rc);
    float *s1 = malloc((size_t)(nq * k) * sizeof(float)), *s2 = malloc((size_t)(nq * k) * sizeof(float));
    int64_t *i1 = malloc((size_t)(nq * k) * sizeof(int64_t)), *i2 = malloc((size_t)(nq * k) * sizeof(int64_t));
    vecidx_params *p = NULL;
    if (!s1 || !s2 || !i1 || !i2 || vecidx_params_create(&p) || vecidx_params_set_int(p, VECIDX_PARAM_EXACT, 1))
        fail("buffers", ALS_ENOMEM);
    double t0 = now_s();
    if ((rc = vecidx_search_with(ivf, q, k, p, s2, i2))) fail("exact search (first)", rc);
    double first = now_s() - t0, tf, te; /* then alternating, the best of each */
    int same = flat_vs_exact(fl, ivf, q, k, p, o->repeat, s1, i1, s2, i2, &tf, &te);
    printf("RESULT step=exact impl=ours n=%lld nq=%lld k=%lld nlist=%lld threads=%lld reps=%lld flat_s=%.4f "
           "exact_s=%.4f exact_first_s=%.4f speedup=%.3f identical=%d flat_ns_per_pair=%.5g rss_mb=%.1f\n",
           (long long)n, (long long)nq, (long long)k, (long long)vecidx_nlist(ivf),
           (long long)threads_used(o->threads), (long long)o->repeat, tf, te, first, tf / te, same,
           tf * 1e9 / ((double)nq * (double)n), peak_rss_mb());
    vecidx_params_destroy(p);
    free(s1), free(s2), free(i1), free(i2);
    als_matrix_destroy(q);
    als_matrix_destroy(qa);
    vecidx_destroy(ivf);
    vecidx_destroy(fl);
    return same ? 0 : 1;
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);
    if (strcmp(o.step, "build") == 0) return step_build(&o);
    if (strcmp(o.step, "truth") == 0) return step_truth(&o);
    if (strcmp(o.step, "search") == 0) return step_search(&o);
    if (strcmp(o.step, "exact") == 0) return step_exact(&o);
    usage_exit("the step is build, truth, search or exact");
    return 2;
}
