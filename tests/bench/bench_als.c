/* bench_als: times libals implicit ALS training and prints one RESULT line (see
 * docs/performance.md, "ALS training", for the fields and the method).
 *
 * Usage:
 *   bench_als --data FILE [--rank R] [--solver cg|cholesky] [--iters N] [--threads T]
 *             [--cg-steps S] [--reg L] [--alpha A] [--chunk ROWS]
 *             [--item-eq auto|user-major|item-major|sweep] [--order file|shuffled] [--keep 0|1]
 *             [--group 0|1] [--test TEST.csv --k K] [--label NAME]
 *
 * FILE is a gen_implicit file: binary (int32 user, int32 item, float32 count after a 64-byte
 * header) or .csv with a header line `user,item,count`. The binary rows are read and added
 * with als_ratings_add in chunks of --chunk rows (default 1 M), so the input file is never
 * held in memory whole; a .csv is read with als_ratings_read_csv. The time of this step is
 * build_s. --order shuffled adds the chunks of a binary file in a seeded random order, each
 * chunk's rows shuffled, so that the ratings are not grouped by user (input in any order).
 * --group 1 (the default) then calls als_ratings_group_by_user after the read, as a host
 * with such input should, and the fit reads the ratings in place (the time is group_s, part
 * of build_s); --group 0 leaves them as read, and the fit builds its user-major copy.
 * --item-eq sets ALS_PARAM_ITEM_EQUATIONS, --keep
 * ALS_PARAM_KEEP_INTERACTIONS (default 1, the library's: the model keeps the interactions).
 *
 * Training: implicitPrefs=1, regScaling none, regParam L (0.01), alpha A (1), cgSteps S (3),
 * solver, rank R (10), maxIter N (3), numThreads T (0 = all cores). The progress callback
 * gives the end time of every iteration; iter_s is the median of the per-iteration times and
 * iters_s lists them all. setup_s is the time als_model_fit spends before its first
 * iteration (CSR/CSC build and factor init): fit_s = setup_s + the iterations + the final
 * model install.
 *
 * With --export PREFIX, the factors are written with als_model_export_npy (PREFIX_users.npy,
 * PREFIX_items.npy and their ids), e.g. to compare two builds' fits.
 *
 * With --test TEST.csv, the fitted model is also scored on TEST (als_eval_ranking at K,
 * default 10, training items excluded) and the RESULT line gets precision, recall, map,
 * ndcg and eval_users; TEST has the same CSV layout.
 *
 * rss_mb: peak RSS of the process (getrusage ru_maxrss); bytes_per_nnz: that peak over the
 * interactions. csr_csc_mb: the size of one
 * CSR plus one CSC copy of the ratings with int32 indices and float32 values,
 * nnz * (4 + 4) * 2 + (users + items + 2) * 8 bytes, in MiB.
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

#define BENCH_NAME "bench_als"
#include "bench_util.h"

#define MAX_ITERS 1000
#define HEADER_BYTES 64

typedef struct {
    const char *data, *test, *label, *export_prefix;
    int64_t rank, iters, threads, cg_steps, chunk, k;
    int solver, item_eq, shuffled, keep, group;
    double reg, alpha;
} options;

typedef struct {
    int n;
    double end[MAX_ITERS + 1]; /* seconds since the fit's t0, per iteration */
    double wall_first;         /* our clock at the first callback */
} progress;

static void usage_exit(const char *msg) {
    if (msg) fprintf(stderr, "bench_als: %s\n", msg);
    fprintf(stderr,
            "usage: bench_als --data FILE [--rank R] [--solver cg|cholesky] [--iters N]\n"
            "         [--threads T] [--cg-steps S] [--reg L] [--alpha A] [--chunk ROWS]\n"
            "         [--test TEST.csv --k K] [--label NAME] [--item-eq auto|user-major|item-major|sweep]\n"
            "         [--order file|shuffled] [--keep 0|1] [--group 0|1] [--export PREFIX]\n");
    exit(2);
}

static double parse_double(const char *opt, const char *s) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.0)) {
        fprintf(stderr, "bench_als: %s wants a number >= 0, got '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->rank = 10;
    o->iters = 3;
    o->cg_steps = 3;
    o->chunk = 1 << 20;
    o->k = 10;
    o->keep = 1;
    o->group = 1;
    o->solver = ALS_SOLVER_CG;
    o->reg = 0.01;
    o->alpha = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage_exit(NULL);
        if (i + 1 >= argc) usage_exit("missing value after the last option");
        const char *v = argv[++i];
        if (strcmp(a, "--data") == 0) o->data = v;
        else if (strcmp(a, "--test") == 0) o->test = v;
        else if (strcmp(a, "--label") == 0) o->label = v;
        else if (strcmp(a, "--export") == 0) o->export_prefix = v;
        else if (strcmp(a, "--rank") == 0) o->rank = parse_int_range(a, v, 1, 1024);
        else if (strcmp(a, "--iters") == 0) o->iters = parse_int_range(a, v, 1, MAX_ITERS);
        else if (strcmp(a, "--threads") == 0) o->threads = parse_int_range(a, v, 0, 4096);
        else if (strcmp(a, "--cg-steps") == 0) o->cg_steps = parse_int_range(a, v, 1, 1000);
        else if (strcmp(a, "--chunk") == 0) o->chunk = parse_int_range(a, v, 1, INT32_MAX);
        else if (strcmp(a, "--k") == 0) o->k = parse_int_range(a, v, 1, 1000000);
        else if (strcmp(a, "--reg") == 0) o->reg = parse_double(a, v);
        else if (strcmp(a, "--alpha") == 0) o->alpha = parse_double(a, v);
        else if (strcmp(a, "--keep") == 0) o->keep = (int)parse_int_range(a, v, 0, 1);
        else if (strcmp(a, "--group") == 0) o->group = (int)parse_int_range(a, v, 0, 1);
        else if (strcmp(a, "--item-eq") == 0) {
            if (strcmp(v, "auto") == 0) o->item_eq = ALS_ITEMEQ_AUTO;
            else if (strcmp(v, "user-major") == 0) o->item_eq = ALS_ITEMEQ_USER_MAJOR;
            else if (strcmp(v, "item-major") == 0) o->item_eq = ALS_ITEMEQ_ITEM_MAJOR;
            else if (strcmp(v, "sweep") == 0) o->item_eq = ALS_ITEMEQ_SWEEP;
            else usage_exit("--item-eq is auto, user-major, item-major or sweep");
        } else if (strcmp(a, "--order") == 0) {
            if (strcmp(v, "file") == 0) o->shuffled = 0;
            else if (strcmp(v, "shuffled") == 0) o->shuffled = 1;
            else usage_exit("--order is file or shuffled");
        } else if (strcmp(a, "--solver") == 0) {
            if (strcmp(v, "cg") == 0) o->solver = ALS_SOLVER_CG;
            else if (strcmp(v, "cholesky") == 0) o->solver = ALS_SOLVER_CHOLESKY;
            else usage_exit("--solver is cg or cholesky");
        } else {
            fprintf(stderr, "bench_als: unknown option %s\n", a);
            usage_exit(NULL);
        }
    }
    if (!o->data) usage_exit("--data is required");
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t get_le64(const unsigned char *p) {
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
    return (int64_t)u;
}

static als_ratings *read_csv(const char *path) {
    als_ratings *r = NULL;
    int rc = als_ratings_read_csv(&r, path, "sep=comma,header=1,user=user,item=item,value=count,ids=int");
    if (rc) {
        fprintf(stderr, "bench_als: als_ratings_read_csv(%s) failed: %s (%s)\n", path,
                als_last_error(), als_strerror(rc));
        exit(1);
    }
    return r;
}

static uint64_t mix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Binary gen_implicit file, added in chunks of `chunk` rows (in file order, or shuffled). */
static als_ratings *read_bin(const char *path, int64_t chunk, int shuffled) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_als: cannot open %s: %s\n", path, strerror(errno));
        exit(1);
    }
    unsigned char h[HEADER_BYTES];
    if (fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, "ALSIMPL1", 8) != 0) {
        fprintf(stderr, "bench_als: %s is not a gen_implicit file (no ALSIMPL1 header)\n", path);
        exit(1);
    }
    int64_t rows = get_le64(h + 32);
    unsigned char *raw = malloc((size_t)chunk * 12);
    int64_t *u = malloc((size_t)chunk * sizeof *u), *it = malloc((size_t)chunk * sizeof *it);
    float *val = malloc((size_t)chunk * sizeof *val);
    if (!raw || !u || !it || !val) {
        fprintf(stderr, "bench_als: out of memory for a chunk of %lld rows\n", (long long)chunk);
        exit(1);
    }
    als_ratings *r = NULL;
    int rc = als_ratings_create(&r);
    if (rc) fail("als_ratings_create", rc);
    int64_t done = 0, nchunks = (rows + chunk - 1) / chunk;
    int64_t *order = malloc((size_t)(nchunks ? nchunks : 1) * sizeof *order);
    uint64_t rng = 12345;
    if (!order) {
        fprintf(stderr, "bench_als: out of memory\n");
        exit(1);
    }
    for (int64_t c = 0; c < nchunks; c++) order[c] = c;
    for (int64_t c = nchunks - 1; shuffled && c > 0; c--) {
        int64_t j = (int64_t)(mix64(&rng) % (uint64_t)(c + 1)), t = order[c];
        order[c] = order[j];
        order[j] = t;
    }
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t at = order[c] * chunk, m = rows - at < chunk ? rows - at : chunk;
        if (shuffled && fseeko(f, (off_t)(HEADER_BYTES + 12 * at), SEEK_SET) != 0) {
            fprintf(stderr, "bench_als: cannot seek in %s\n", path);
            exit(1);
        }
        if (fread(raw, 12, (size_t)m, f) != (size_t)m) {
            fprintf(stderr, "bench_als: %s is truncated after %lld of %lld rows\n", path,
                    (long long)done, (long long)rows);
            exit(1);
        }
        for (int64_t i = 0; i < m; i++) {
            const unsigned char *p = raw + 12 * i;
            uint32_t bits = get_le32(p + 8);
            u[i] = (int32_t)get_le32(p);
            it[i] = (int32_t)get_le32(p + 4);
            memcpy(&val[i], &bits, 4);
        }
        for (int64_t i = m - 1; shuffled && i > 0; i--) {
            int64_t j = (int64_t)(mix64(&rng) % (uint64_t)(i + 1)), tu = u[i], ti = it[i];
            float tv = val[i];
            u[i] = u[j], it[i] = it[j], val[i] = val[j];
            u[j] = tu, it[j] = ti, val[j] = tv;
        }
        if ((rc = als_ratings_add(r, m, u, it, val))) fail("als_ratings_add", rc);
        done += m;
    }
    fclose(f);
    free(order);
    free(raw);
    free(u);
    free(it);
    free(val);
    return r;
}

static int on_progress(void *user, int iter, int max_iter, double seconds, double loss) {
    progress *p = user;
    (void)loss;
    if (iter == 1) p->wall_first = now_s();
    if (iter >= 1 && iter <= MAX_ITERS) {
        p->end[iter] = seconds;
        p->n = iter;
    }
    double prev = iter > 1 ? p->end[iter - 1] : 0.0;
    fprintf(stderr, "bench_als: iteration %d/%d: %.3f s (%.3f s since the first iteration began)\n",
            iter, max_iter, seconds - prev, seconds);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void set_int(als_model *m, int key, int64_t v, const char *name) {
    int rc = als_set_int(m, key, v);
    if (rc) fail(name, rc);
}

static void set_double(als_model *m, int key, double v, const char *name) {
    int rc = als_set_double(m, key, v);
    if (rc) fail(name, rc);
}

int main(int argc, char **argv) {
    options o;
    parse_args(argc, argv, &o);

    double t0 = now_s();
    als_ratings *R = ends_with(o.data, ".csv") ? read_csv(o.data) : read_bin(o.data, o.chunk, o.shuffled);
    double group_s = 0;
    if (o.group) {
        double g0 = now_s();
        int grc = als_ratings_group_by_user(R);
        if (grc) fail("als_ratings_group_by_user", grc);
        group_s = now_s() - g0;
    }
    double build_s = now_s() - t0;
    int64_t nnz = als_ratings_rows(R), users = als_ratings_num_users(R),
            items = als_ratings_num_items(R);
    double rss_build = peak_rss_mb();
    fprintf(stderr, "bench_als: %lld rows, %lld users, %lld items read and added in %.2f s "
                    "(peak RSS so far %.0f MB)\n",
            (long long)nnz, (long long)users, (long long)items, build_s, rss_build);

    als_model *m = NULL;
    int rc = als_model_create(&m);
    if (rc) fail("als_model_create", rc);
    set_int(m, ALS_PARAM_IMPLICIT, 1, "als_set_int(implicitPrefs)");
    set_int(m, ALS_PARAM_RANK, o.rank, "als_set_int(rank)");
    set_int(m, ALS_PARAM_MAX_ITER, o.iters, "als_set_int(maxIter)");
    set_int(m, ALS_PARAM_SOLVER, o.solver, "als_set_int(solver)");
    set_int(m, ALS_PARAM_CG_STEPS, o.cg_steps, "als_set_int(cgSteps)");
    set_int(m, ALS_PARAM_REG_SCALING, ALS_REG_NONE, "als_set_int(regScaling)");
    set_int(m, ALS_PARAM_NUM_THREADS, o.threads, "als_set_int(numThreads)");
    set_int(m, ALS_PARAM_ITEM_EQUATIONS, o.item_eq, "als_set_int(itemEquations)");
    set_int(m, ALS_PARAM_KEEP_INTERACTIONS, o.keep, "als_set_int(keepInteractions)");
    set_double(m, ALS_PARAM_REG, o.reg, "als_set_double(regParam)");
    set_double(m, ALS_PARAM_ALPHA, o.alpha, "als_set_double(alpha)");
    progress pr;
    memset(&pr, 0, sizeof pr);
    if ((rc = als_model_set_progress(m, on_progress, &pr))) fail("als_model_set_progress", rc);

    double f0 = now_s();
    if ((rc = als_model_fit(m, R))) fail("als_model_fit", rc);
    double fit_s = now_s() - f0;
    if (pr.n != o.iters) {
        fprintf(stderr, "bench_als: the progress callback ran %d times for maxIter %lld\n", pr.n,
                (long long)o.iters);
        return 1;
    }
    double per[MAX_ITERS], sorted[MAX_ITERS];
    char iters_s[16 * 64] = "";
    size_t off = 0;
    for (int i = 1; i <= pr.n; i++) {
        per[i - 1] = pr.end[i] - (i > 1 ? pr.end[i - 1] : 0.0);
        sorted[i - 1] = per[i - 1];
        if (i <= 64 && off < sizeof iters_s - 16)
            off += (size_t)snprintf(iters_s + off, sizeof iters_s - off, "%s%.3f", i > 1 ? "," : "",
                                    per[i - 1]);
    }
    qsort(sorted, (size_t)pr.n, sizeof *sorted, cmp_double);
    double median = pr.n % 2 ? sorted[pr.n / 2] : 0.5 * (sorted[pr.n / 2 - 1] + sorted[pr.n / 2]);
    /* Setup inside fit: from the call to the start of iteration 1. */
    double setup_s = (pr.wall_first - f0) - pr.end[1];
    int64_t threads_used = o.threads ? o.threads : sysconf(_SC_NPROCESSORS_ONLN);
    double csr_csc_mb =
        ((double)nnz * (4 + 4) * 2 + (double)(users + items + 2) * 8) / (1024.0 * 1024.0);

    char quality[256] = "";
    if (o.test) {
        als_ratings *T = read_csv(o.test);
        double met[ALS_METRIC_COUNT];
        if ((rc = als_eval_ranking(m, R, T, o.k, met, ALS_METRIC_COUNT))) fail("als_eval_ranking", rc);
        snprintf(quality, sizeof quality,
                 " k=%lld precision=%.4f recall=%.4f map=%.4f ndcg=%.4f eval_users=%.0f",
                 (long long)o.k, met[ALS_METRIC_PRECISION], met[ALS_METRIC_RECALL],
                 met[ALS_METRIC_MAP], met[ALS_METRIC_NDCG], met[ALS_METRIC_USERS]);
        als_ratings_destroy(T);
    }

    printf("RESULT impl=ours data=%s rank=%lld solver=%s cg_steps=%lld reg=%g alpha=%g "
           "threads=%lld users=%lld items=%lld nnz=%lld iters=%d iter_s=%.3f iters_s=%s "
           "build_s=%.2f setup_s=%.2f fit_s=%.2f rss_mb=%.0f rss_build_mb=%.0f csr_csc_mb=%.0f "
           "bytes_per_nnz=%.2f item_eq=%s order=%s keep=%d group=%d group_s=%.2f%s\n",
           o.label ? o.label : "-", (long long)o.rank, o.solver == ALS_SOLVER_CG ? "cg" : "cholesky",
           (long long)o.cg_steps, o.reg, o.alpha, (long long)threads_used, (long long)users,
           (long long)items, (long long)nnz, pr.n, median, iters_s, build_s, setup_s, fit_s,
           peak_rss_mb(), rss_build, csr_csc_mb, peak_rss_mb() * 1048576.0 / (double)(nnz ? nnz : 1),
           o.item_eq == ALS_ITEMEQ_USER_MAJOR ? "user-major" : o.item_eq == ALS_ITEMEQ_ITEM_MAJOR ? "item-major"
           : o.item_eq == ALS_ITEMEQ_SWEEP ? "sweep" : "auto",
           o.shuffled ? "shuffled" : "file", o.keep, o.group, group_s, quality);
    fflush(stdout);
    if (o.export_prefix && (rc = als_model_export_npy(m, o.export_prefix))) fail("als_model_export_npy", rc);
    als_model_destroy(m);
    als_ratings_destroy(R);
    return 0;
}
