/* Allocation-failure sweep (issue 11 item 3). Linked against the fault-injection copy of
 * libals/libvecidx that `make faults` builds (every allocation the library makes goes
 * through libfaultinj, see inject.h), it runs each scenario once to warm up, once for
 * reference, recording every allocation attempt's call site, then again with attempt N
 * failing, for N = 1, 2, ... until a run completes with no injected failure; in "once"
 * mode only attempt N fails, in "persistent" mode every attempt from N on fails until the
 * failing call returns.
 *
 * Each run must hold, for every library call ("step"):
 *  - it returns ALS_OK, or ALS_ENOMEM caused by the injected failure (never another code,
 *    never a failure without an injected fault), with als_last_error_code() == the code
 *    and a non-empty als_last_error();
 *  - a failed call has no effect: out-parameters are NULL, vecidx_add / als_ratings_add
 *    added nothing, a refit keeps the previous model, a failed save leaves the old file
 *    (or no file) and no temporary file; the call is then retried with injection off and
 *    must succeed;
 * and for the whole run: every result (search ids and scores, factors, files written,
 * ratings read, ...) is byte-identical to the reference run, no library allocation is
 * left live (the plain build's own leak check; ASan's LeakSanitizer checks the same in
 * `make sanitize`), no file descriptor stays open, no temporary file is left behind, and
 * nothing crashes (a signal prints the scenario and N before the process dies).
 *
 * Library bugs this sweep found are listed in KNOWN below. All are fixed, so a hit fails
 * the run (FAULTS_STRICT=0 only counts them, to study an older library).
 *
 * Environment: FAULTS_STRICT=0 (known bugs only counted), FAULTS_FULL=1 (every N even in big
 * scenarios), FAULTS_ONLY=name (one scenario), FAULTS_VERBOSE=1 (print every distinct
 * allocation site as file offsets for addr2line), FAULTS_TMPDIR (scratch folder; default
 * /dev/shm when writable, else TMPDIR or /tmp), FAULTS_N=n (only failure point n: with
 * FAULTS_ONLY, one finding's reproducer). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"
#include "faultinj.h"

/* ------------------------------------------------------------------ known bugs */

typedef struct {
    const char *id, *what;
    long count;
    char example[300];
} known_bug;

enum { K_STDIO_EIO, K_GETLINE_EOF, K_SAVE_WIDE_EIO, K_REFIT_STATE, NKNOWN };
static known_bug KNOWN[NKNOWN] = {
    {"K1", "fopen/fdopen out of memory is reported as ALS_EIO, not ALS_ENOMEM "
           "(fileio.c als__wfile_open, csv.c and strdict.c fopen)", 0, ""},
    {"K2", "getline out of memory (glibc 2.36 sets no error flag) is taken for end of file: "
           "read_csv / read_ids return ALS_OK with rows or names missing", 0, ""},
    {"K3", "vecidx_save of an index with dim > 1024: the row buffer's malloc failure is "
           "reported as ALS_EIO (io.c write_store; gone since write_store allocates nothing)", 0, ""},
    {"K4", "als_model_fit out of memory in als__model_finish leaves a previously fitted "
           "model unfitted (documented: the model keeps its previous state)", 0, ""},
};

/* ------------------------------------------------------------------ run context */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    int threads;
    long violations;  /* of this run */
    int fired_cls;    /* class of the injected failure of this run, -1 if none yet */
    int known_hit[NKNOWN];
    int n_fail_steps;
} ctx;

static char g_dir[256];   /* scratch folder, emptied before every run */
static char g_fix[256];   /* fixture files (inputs), kept */
static int g_strict, g_verbose;
static char g_where[256]; /* scenario, mode and N of the run in progress */
static int g_printed;     /* violation lines printed for this scenario */
static int g_warmup;      /* the run in progress is a scenario's warm-up run */

static void dg(ctx *c, const void *p, size_t n) {
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap < c->len + n) cap *= 2;
        c->buf = realloc(c->buf, cap);
        assert_non_null(c->buf);
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}
static void dg_i64(ctx *c, int64_t v) { dg(c, &v, sizeof v); }

static void path_in(char *out, size_t n, const char *dir, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}
#define P(name) (path_in(pbuf_, sizeof pbuf_, g_dir, name), pbuf_)
static char pbuf_[512];

static void site_text(fi_site s, char *buf, size_t n) {
    char t[400];
    snprintf(buf, n, "%s %s", fi_class_name(s.cls), fi_site_str(s, t, sizeof t));
}

static void violation(ctx *c, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void violation(ctx *c, const char *step, const char *fmt, ...) {
    char msg[600], site[500] = "no injected failure";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (fi_fired()) site_text(fi_fired_site(), site, sizeof site);
    if (c->violations < 2 && g_printed++ < 12)
        fprintf(stderr, "VIOLATION [%s] step %s: %s (injected at attempt %ld: %s)\n", g_where,
                step, msg, fi_fired_at(), site);
    c->violations++;
}

static void known(ctx *c, int k, const char *step) {
    c->known_hit[k] = 1;
    if (!KNOWN[k].example[0]) {
        char site[500] = "";
        if (fi_fired()) site_text(fi_fired_site(), site, sizeof site);
        snprintf(KNOWN[k].example, sizeof KNOWN[k].example, "%s, step %s, %s", g_where, step, site);
    }
}

/* A failed step: is it a clean ENOMEM from the injected fault? */
static void step_failed(ctx *c, const char *step, int64_t rc, long fired_before) {
    c->n_fail_steps++;
    if (fi_fired() <= fired_before) {
        violation(c, step, "returned %lld (%s) with no injected failure: %s", (long long)rc,
                  als_strerror((int)rc), als_last_error());
        return;
    }
    int cls = fi_fired_site().cls;
    c->fired_cls = cls;
    if (als_last_error_code() != rc || als_last_error()[0] == '\0')
        violation(c, step, "returned %lld but als_last_error_code() = %d, message '%s'",
                  (long long)rc, als_last_error_code(), als_last_error());
    if (rc == ALS_ENOMEM) return;
    if (cls == FI_LINE) known(c, K_GETLINE_EOF, step); /* e.g. "no header line": ENOTFOUND */
    else if (rc == ALS_EIO && cls == FI_FILE) known(c, K_STDIO_EIO, step);
    else if (rc == ALS_EIO && strstr(step, "(wide)")) known(c, K_SAVE_WIDE_EIO, step);
    else violation(c, step, "returned %lld (%s) for an allocation failure: %s", (long long)rc,
              als_strerror((int)rc), als_last_error());
}

/* Run CALL; on failure check it (step_failed), run ONFAIL (postconditions of a failed
 * call), then retry with injection off: it must succeed now. */
#define STEP_X(C, NAME, CALL, ONFAIL)                                                      \
    do {                                                                                   \
        long f0_ = fi_fired();                                                             \
        als_error_set(ALS_OK, "");                                                         \
        int64_t rc_ = (CALL);                                                              \
        if (rc_ < 0) {                                                                     \
            step_failed((C), (NAME), rc_, f0_);                                            \
            ONFAIL;                                                                        \
            fi_disarm();                                                                   \
            rc_ = (CALL);                                                                  \
            if (rc_ < 0) {                                                                 \
                violation((C), (NAME), "retry without injection failed: %lld %s",          \
                          (long long)rc_, als_last_error());                               \
                return -1;                                                                 \
            }                                                                              \
        }                                                                                  \
    } while (0)
#define STEP(C, NAME, CALL) STEP_X(C, NAME, CALL, (void)0)
/* A call with an out-parameter that must be NULL after a failure. */
#define STEP_OUT(C, NAME, CALL, OUT)                                                       \
    STEP_X(C, NAME, CALL, if ((OUT) != NULL) violation((C), (NAME), "*out is not NULL after a failure"))

/* ---- save postconditions: the old file (or its absence) stays, no temporary is left */

typedef struct {
    unsigned char *data;
    long size; /* -1: no file */
} snap;

static snap snap_file(const char *path) {
    snap s = {NULL, -1};
    FILE *f = fopen(path, "rb");
    if (!f) return s;
    fseek(f, 0, SEEK_END);
    s.size = ftell(f);
    fseek(f, 0, SEEK_SET);
    s.data = malloc((size_t)s.size + 1);
    if (s.data && fread(s.data, 1, (size_t)s.size, f) != (size_t)s.size) s.size = -2;
    fclose(f);
    return s;
}

static int tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void check_save_failed(ctx *c, const char *step, const char *path, snap *before) {
    snap after = snap_file(path);
    if (after.size != before->size ||
        (after.size > 0 && memcmp(after.data, before->data, (size_t)after.size) != 0))
        violation(c, step, "a failed save changed %s (%ld -> %ld bytes)", path, before->size,
                  after.size);
    if (tmp_files(g_dir)) violation(c, step, "a failed save left a temporary file");
    free(after.data);
}

#define STEP_SAVE(C, NAME, CALL, PATH)                                                     \
    do {                                                                                   \
        char sp_[512];                                                                     \
        snprintf(sp_, sizeof sp_, "%s", (PATH));                                           \
        snap sb_ = snap_file(sp_);                                                         \
        STEP_X(C, NAME, CALL, check_save_failed((C), (NAME), sp_, &sb_));                 \
        free(sb_.data);                                                                    \
    } while (0)

/* The file's bytes join the digest (every file the library writes is deterministic). */
static void dg_file(ctx *c, const char *path) {
    snap s = snap_file(path);
    dg_i64(c, s.size);
    if (s.size > 0) dg(c, s.data, (size_t)s.size);
    free(s.data);
}

/* A model file, less its run identity (random per fit) and the header CRC over it. */
static void dg_model_file(ctx *c, const char *path) {
    snap s = snap_file(path);
    dg_i64(c, s.size);
    if (s.size > 140) {
        memset(s.data + 128, 0, 12);
        dg(c, s.data, (size_t)s.size);
    }
    free(s.data);
}

/* ------------------------------------------------------------------ fixtures */

#define D 16
#define NX 600
#define NQ 20
#define K 10
static float *X, *Q, *XW; /* NX x D, NQ x D, 3 x 1100 */
static int64_t IDS[NX], EXC[8];

static void gen(float *x, int64_t n, uint64_t seed) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)tu_normal(&seed);
}

static void fixtures_vectors(void) {
    if (X) return;
    X = malloc(NX * D * sizeof *X);
    Q = malloc(NQ * D * sizeof *Q);
    XW = malloc(3 * 1100 * sizeof *XW);
    gen(X, NX * D, 11);
    gen(Q, NQ * D, 12);
    gen(XW, 3 * 1100, 13);
    for (int i = 0; i < NX; i++) IDS[i] = 1000 + 7 * i;
    for (int i = 0; i < 8; i++) EXC[i] = IDS[i * 13];
}

static void search_into(ctx *c, float *sc, int64_t *id, int64_t n) {
    dg(c, sc, (size_t)n * sizeof *sc);
    dg(c, id, (size_t)n * sizeof *id);
}

/* ------------------------------------------------------------------ scenario: flat */

static int run_flat(ctx *c) {
    als_matrix *x1 = NULL, *x2 = NULL, *q = NULL;
    vecidx *ip = NULL, *l2 = NULL;
    vecidx_filter *fx = NULL, *fin = NULL;
    float sc[NQ * K], esc[50];
    int64_t id[NQ * K], eid[50], nf;
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&x1, X, 250, D, D), x1);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&x2, X + 250 * D, NX - 250, D, D), x2);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&q, Q, NQ, D, D), q);
    STEP_OUT(c, "vecidx_flat_create", vecidx_flat_create(&ip, D, VECIDX_METRIC_IP), ip);
    vecidx_set_int(ip, VECIDX_PARAM_NUM_THREADS, c->threads);
    STEP_X(c, "vecidx_add", vecidx_add(ip, x1, IDS),
           if (vecidx_size(ip) != 0) violation(c, "vecidx_add", "a failed add added vectors"));
    STEP_X(c, "vecidx_add", vecidx_add(ip, x2, IDS + 250),
           if (vecidx_size(ip) != 250) violation(c, "vecidx_add", "a failed add added vectors"));
    STEP(c, "vecidx_search", vecidx_search(ip, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP_OUT(c, "vecidx_filter_create", vecidx_filter_create(&fx, EXC, 8, VECIDX_FILTER_EXCLUDE), fx);
    STEP(c, "vecidx_search_filtered", vecidx_search_filtered(ip, q, K, fx, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_expand", vecidx_expand(ip, q, 5, VECIDX_AGG_MAX, fx, 50, eid, esc, &nf));
    search_into(c, esc, eid, 50);
    dg_i64(c, nf);
    STEP(c, "vecidx_expand", vecidx_expand(ip, q, 5, VECIDX_AGG_SUM, NULL, 50, eid, esc, &nf));
    search_into(c, esc, eid, 50);
    /* L2 (bias vectors), implicit ids */
    STEP_OUT(c, "vecidx_flat_create", vecidx_flat_create(&l2, D, VECIDX_METRIC_L2), l2);
    vecidx_set_int(l2, VECIDX_PARAM_NUM_THREADS, c->threads);
    STEP(c, "vecidx_add", vecidx_add(l2, x1, NULL));
    STEP(c, "vecidx_add", vecidx_add(l2, x2, NULL));
    int64_t inc[40];
    for (int i = 0; i < 40; i++) inc[i] = i * 11;
    STEP_OUT(c, "vecidx_filter_create", vecidx_filter_create(&fin, inc, 40, VECIDX_FILTER_INCLUDE), fin);
    STEP(c, "vecidx_search_filtered", vecidx_search_filtered(l2, q, K, fin, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_expand", vecidx_expand(l2, q, 4, VECIDX_AGG_MEAN, NULL, 50, eid, esc, &nf));
    search_into(c, esc, eid, 50);
    vecidx_filter_destroy(fx);
    vecidx_filter_destroy(fin);
    vecidx_destroy(ip);
    vecidx_destroy(l2);
    als_matrix_destroy(x1);
    als_matrix_destroy(x2);
    als_matrix_destroy(q);
    return 0;
}

/* ------------------------------------------------------------------ scenario: ivf */

static int run_ivf(ctx *c) {
    als_matrix *x = NULL, *x1 = NULL, *x2 = NULL, *q = NULL;
    vecidx *a = NULL, *b = NULL;
    vecidx_filter *f = NULL;
    vecidx_params *pa = NULL;
    float sc[NQ * K], esc[40];
    int64_t id[NQ * K], eid[40], nf;
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&x, X, NX, D, D), x);
    STEP_OUT(c, "als_matrix_view_rows", als_matrix_view_rows(&x1, x, 0, 300), x1);
    STEP_OUT(c, "als_matrix_view_rows", als_matrix_view_rows(&x2, x, 300, NX - 300), x2);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&q, Q, NQ, D, D), q);
    /* L2, sampled training (8 lists x 32 points < 600 rows) */
    STEP_OUT(c, "vecidx_ivf_create", vecidx_ivf_create(&a, D, VECIDX_METRIC_L2, 8), a);
    vecidx_set_int(a, VECIDX_PARAM_NUM_THREADS, c->threads);
    vecidx_set_int(a, VECIDX_PARAM_TRAIN_PER_LIST, 32);
    vecidx_set_int(a, VECIDX_PARAM_KMEANS_ITERS, 4);
    vecidx_set_int(a, VECIDX_PARAM_NPROBE, 3);
    STEP_X(c, "vecidx_train", vecidx_train(a, x),
           if (vecidx_is_trained(a)) violation(c, "vecidx_train", "trained after a failure"));
    STEP_X(c, "vecidx_add", vecidx_add(a, x1, IDS),
           if (vecidx_size(a) != 0) violation(c, "vecidx_add", "a failed add added vectors"));
    STEP_X(c, "vecidx_add", vecidx_add(a, x2, IDS + 300),
           if (vecidx_size(a) != 300) violation(c, "vecidx_add", "a failed add added vectors"));
    STEP(c, "vecidx_search", vecidx_search(a, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP_OUT(c, "vecidx_filter_create", vecidx_filter_create(&f, EXC, 8, VECIDX_FILTER_EXCLUDE), f);
    STEP(c, "vecidx_search_filtered", vecidx_search_filtered(a, q, K, f, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_expand", vecidx_expand(a, q, 6, VECIDX_AGG_MEAN, f, 40, eid, esc, &nf));
    search_into(c, esc, eid, 40);
    /* per-call settings: exact scan of an IVF index, another nprobe, the params' filter */
    STEP_OUT(c, "vecidx_params_create", vecidx_params_create(&pa), pa);
    assert_ok(vecidx_params_set_int(pa, VECIDX_PARAM_EXACT, 1));
    assert_ok(vecidx_params_set_int(pa, VECIDX_PARAM_NUM_THREADS, c->threads));
    STEP(c, "vecidx_search_with", vecidx_search_with(a, q, K, pa, sc, id));
    search_into(c, sc, id, NQ * K);
    assert_ok(vecidx_params_unset(pa, VECIDX_PARAM_EXACT));
    assert_ok(vecidx_params_set_int(pa, VECIDX_PARAM_NPROBE, 5));
    assert_ok(vecidx_params_set_filter(pa, f));
    STEP(c, "vecidx_search_with", vecidx_search_with(a, q, K, pa, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_expand_with", vecidx_expand_with(a, q, 6, VECIDX_AGG_MAX, pa, 40, eid, esc, &nf));
    search_into(c, esc, eid, 40);
    vecidx_params_destroy(pa);
    /* IP (spherical k-means), whole set as training sample, implicit ids */
    STEP_OUT(c, "vecidx_ivf_create", vecidx_ivf_create(&b, D, VECIDX_METRIC_IP, 5), b);
    vecidx_set_int(b, VECIDX_PARAM_NUM_THREADS, c->threads);
    vecidx_set_int(b, VECIDX_PARAM_KMEANS_ITERS, 3);
    vecidx_set_int(b, VECIDX_PARAM_NPROBE, 2);
    STEP(c, "vecidx_train", vecidx_train(b, x1));
    STEP(c, "vecidx_add", vecidx_add(b, x, NULL));
    STEP(c, "vecidx_expand", vecidx_expand(b, q, 6, VECIDX_AGG_SUM, NULL, 40, eid, esc, &nf));
    search_into(c, esc, eid, 40);
    vecidx_filter_destroy(f);
    vecidx_destroy(a);
    vecidx_destroy(b);
    als_matrix_destroy(x1);
    als_matrix_destroy(x2);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    return 0;
}

/* ------------------------------------------------------------------ scenario: index-io */

static vecidx *FX_FLAT, *FX_FLAT2, *FX_IVF, *FX_WIDE;
static als_matrix *FX_XM;

/* Version-1 index files (libals 1.0's format, still read by vecidx_load): a 96-byte
 * header, the CRC of bytes 0..83 at 84, the payload size at 88; flat: [ids] vectors;
 * IVF: centroids, list sizes, then each list's ids and vectors; trailer: payload CRC. */
static uint32_t crc32_z(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

static char V1_FLAT[512], V1_IVF[512];

static void write_v1(const char *path, int ivf, const unsigned char *pay, size_t plen, int64_t n,
                     int64_t nlist, uint32_t flags) {
    unsigned char h[96] = {0x89, 'V', 'E', 'C', 'I', 'D', 'X', '\n'};
    put32(h + 8, 1);
    put32(h + 12, 0x01020304u);
    put32(h + 16, (uint32_t)ivf);
    put32(h + 20, VECIDX_METRIC_L2);
    put64(h + 24, D);
    put64(h + 32, (uint64_t)n);
    put64(h + 40, (uint64_t)nlist);
    put64(h + 48, 2);    /* nprobe */
    put64(h + 56, 1234); /* seed */
    put64(h + 64, 10);
    put64(h + 72, 256);
    put32(h + 80, flags);
    put32(h + 84, crc32_z(0, h, 84));
    put64(h + 88, plen);
    unsigned char tr[4];
    put32(tr, crc32_z(0, pay, plen));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_true(fwrite(h, 1, 96, f) == 96 && fwrite(pay, 1, plen, f) == plen && fwrite(tr, 1, 4, f) == 4);
    fclose(f);
}

static void fixtures_v1(void) {
    enum { FN = 40, NL = 3 };
    path_in(V1_FLAT, sizeof V1_FLAT, g_fix, "v1-flat.vx");
    path_in(V1_IVF, sizeof V1_IVF, g_fix, "v1-ivf.vx");
    size_t cap = (size_t)FN * (8 + D * 4) + NL * (D * 4 + 8);
    unsigned char *pay = malloc(cap), *w = pay;
    for (int i = 0; i < FN; i++, w += 8) put64(w, (uint64_t)IDS[i]);
    memcpy(w, X, (size_t)FN * D * 4);
    w += (size_t)FN * D * 4;
    write_v1(V1_FLAT, 0, pay, (size_t)(w - pay), FN, 0, 1);
    /* IVF: centroids = the first 3 vectors, lists of 10, 20, 10 vectors */
    static const int64_t sizes[NL] = {10, 20, 10};
    w = pay;
    memcpy(w, X, (size_t)NL * D * 4);
    w += (size_t)NL * D * 4;
    for (int l = 0; l < NL; l++, w += 8) put64(w, (uint64_t)sizes[l]);
    for (int l = 0, r = 0; l < NL; r += (int)sizes[l], l++) {
        for (int i = 0; i < sizes[l]; i++, w += 8) put64(w, (uint64_t)IDS[r + i]);
        memcpy(w, X + (size_t)r * D, (size_t)sizes[l] * D * 4);
        w += (size_t)sizes[l] * D * 4;
    }
    write_v1(V1_IVF, 1, pay, (size_t)(w - pay), FN, NL, 2);
    free(pay);
}

static void fixtures_indexes(void) {
    fixtures_vectors();
    if (FX_FLAT) return;
    als_matrix *x, *xw;
    assert_ok(als_matrix_wrap(&x, X, NX, D, D));
    assert_ok(vecidx_flat_create(&FX_FLAT, D, VECIDX_METRIC_IP));
    assert_ok(vecidx_add(FX_FLAT, x, IDS));
    assert_ok(vecidx_set_run_id(FX_FLAT, 0x1234));
    assert_ok(vecidx_flat_create(&FX_FLAT2, D, VECIDX_METRIC_L2));
    assert_ok(vecidx_add(FX_FLAT2, x, NULL));
    assert_ok(vecidx_ivf_create(&FX_IVF, D, VECIDX_METRIC_L2, 6));
    assert_ok(vecidx_set_int(FX_IVF, VECIDX_PARAM_NUM_THREADS, 1));
    assert_ok(vecidx_train(FX_IVF, x));
    assert_ok(vecidx_add(FX_IVF, x, IDS));
    assert_ok(als_matrix_wrap(&xw, XW, 3, 1100, 1100));
    assert_ok(vecidx_flat_create(&FX_WIDE, 1100, VECIDX_METRIC_IP));
    assert_ok(vecidx_add(FX_WIDE, xw, NULL));
    als_matrix_destroy(xw);
    FX_XM = x;
    fixtures_v1();
}

static int run_index_io(ctx *c) {
    vecidx *a = NULL, *b = NULL, *w = NULL, *mm = NULL, *o1 = NULL, *o2 = NULL;
    als_matrix *q = NULL, *m = NULL;
    float sc[NQ * K];
    int64_t id[NQ * K];
    char pa[512], pb[512], pw[512], pn[512];
    snprintf(pa, sizeof pa, "%s", P("a.vx"));
    snprintf(pb, sizeof pb, "%s", P("b.vx"));
    snprintf(pw, sizeof pw, "%s", P("w.vx"));
    snprintf(pn, sizeof pn, "%s", P("x.npy"));
    STEP_SAVE(c, "vecidx_save", vecidx_save(FX_FLAT2, pa), pa);  /* a new file */
    STEP_SAVE(c, "vecidx_save", vecidx_save(FX_FLAT, pa), pa);   /* over an existing one */
    STEP_SAVE(c, "vecidx_save", vecidx_save(FX_IVF, pb), pb);
    STEP_SAVE(c, "vecidx_save(wide)", vecidx_save(FX_WIDE, pw), pw);
    dg_file(c, pa);
    dg_file(c, pb);
    dg_file(c, pw);
    STEP_OUT(c, "vecidx_load", vecidx_load(&a, pa), a);
    STEP_OUT(c, "vecidx_load", vecidx_load(&b, pb), b);
    STEP_OUT(c, "vecidx_load", vecidx_load(&w, pw), w);
    vecidx_set_int(a, VECIDX_PARAM_NUM_THREADS, c->threads);
    vecidx_set_int(b, VECIDX_PARAM_NUM_THREADS, c->threads);
    dg_i64(c, (int64_t)vecidx_run_id(a));
    dg_i64(c, vecidx_size(w));
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&q, Q, NQ, D, D), q);
    STEP(c, "vecidx_search", vecidx_search(a, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_search", vecidx_search(b, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    /* mapped: the search reads the file where it lies; then the full check */
    STEP_OUT(c, "vecidx_load_mmap", vecidx_load_mmap(&mm, pb), mm);
    vecidx_set_int(mm, VECIDX_PARAM_NUM_THREADS, c->threads);
    STEP(c, "vecidx_search(mapped)", vecidx_search(mm, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_verify", vecidx_verify(mm));
    /* version-1 files, as libals 1.0 wrote them */
    STEP_OUT(c, "vecidx_load(v1)", vecidx_load(&o1, V1_FLAT), o1);
    STEP_OUT(c, "vecidx_load(v1)", vecidx_load(&o2, V1_IVF), o2);
    vecidx_set_int(o1, VECIDX_PARAM_NUM_THREADS, c->threads);
    vecidx_set_int(o2, VECIDX_PARAM_NUM_THREADS, c->threads);
    STEP(c, "vecidx_search(v1)", vecidx_search(o1, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    STEP(c, "vecidx_search(v1)", vecidx_search(o2, q, K, sc, id));
    search_into(c, sc, id, NQ * K);
    vecidx_destroy(mm);
    vecidx_destroy(o1);
    vecidx_destroy(o2);
    STEP_SAVE(c, "als_matrix_write_npy", als_matrix_write_npy(FX_XM, pn), pn);
    STEP_OUT(c, "als_matrix_read_npy", als_matrix_read_npy(&m, pn), m);
    dg(c, als_matrix_data(m), (size_t)(NX * D) * sizeof(float));
    vecidx_destroy(a);
    vecidx_destroy(b);
    vecidx_destroy(w);
    als_matrix_destroy(q);
    als_matrix_destroy(m);
    return 0;
}

/* ------------------------------------------------------------------ scenario: ALS */

#define NR 420
static int64_t RU[NR], RI[NR], RT[NR], SU[NR], SI[NR];
static float RV[NR];
static char *RUN[NR], *RIN[NR]; /* names for add_named */
static char name_buf[NR * 2][16];

static void fixtures_ratings(void) {
    static int done;
    if (done) return;
    done = 1;
    uint64_t s = 99;
    for (int t = 0; t < NR; t++) {
        RU[t] = 100 + (int64_t)(tu_next(&s) % 40);
        RI[t] = 5000 + (int64_t)(tu_next(&s) % 30);
        RV[t] = 1.0f + (float)(tu_next(&s) % 5);
        RT[t] = 1000000 + (int64_t)(tu_next(&s) % 10000);
        snprintf(name_buf[2 * t], 16, "user-%lld", (long long)RU[t]);
        snprintf(name_buf[2 * t + 1], 16, "sku%lld", (long long)RI[t]);
        RUN[t] = name_buf[2 * t];
        RIN[t] = name_buf[2 * t + 1];
        SU[t] = t / 10; /* sorted by user, and by item (item = user / 2) */
        SI[t] = t / 20;
    }
}

static void dg_model(ctx *c, const als_model *m) {
    const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
    dg(c, als_matrix_data_const(U), (size_t)(als_matrix_rows(U) * als_matrix_cols(U)) * sizeof(float));
    dg(c, als_matrix_data_const(V), (size_t)(als_matrix_rows(V) * als_matrix_cols(V)) * sizeof(float));
    dg(c, als_model_user_ids(m), (size_t)als_matrix_rows(U) * sizeof(int64_t));
    dg(c, als_model_item_ids(m), (size_t)als_matrix_rows(V) * sizeof(int64_t));
}

/* A refit that fails must keep the previous factors. */
static void check_model_kept(ctx *c, const char *step, const als_model *m, const float *u0, size_t n) {
    if (!als_model_is_fitted(m)) {
        known(c, K_REFIT_STATE, step);
        return;
    }
    const als_matrix *U = als_model_user_factors(m);
    if ((size_t)(als_matrix_rows(U) * als_matrix_cols(U)) != n ||
        memcmp(als_matrix_data_const(U), u0, n * sizeof(float)) != 0)
        violation(c, step, "a failed refit changed the factors");
}

static int run_als(ctx *c) {
    als_ratings *r = NULL, *tr = NULL, *te = NULL;
    als_model *m = NULL, *l = NULL;
    als_matrix *e = NULL;
    int64_t items[8], users[64];
    float scores[8], pred[4], fold[6];
    double met[ALS_METRIC_COUNT];
    char pm[512], pe[512], pu[512], pi[512];
    snprintf(pm, sizeof pm, "%s", P("m.als"));
    snprintf(pe, sizeof pe, "%s", P("exp"));
    snprintf(pu, sizeof pu, "%s", P("exp_users.npy"));
    snprintf(pi, sizeof pi, "%s", P("exp_user_ids.npy"));
    char nt[8];
    snprintf(nt, sizeof nt, "%d", c->threads);

    STEP_OUT(c, "als_ratings_create", als_ratings_create(&r), r);
    STEP_X(c, "als_ratings_add", als_ratings_add(r, 200, RU, RI, RV),
           if (als_ratings_rows(r) != 0) violation(c, "als_ratings_add", "a failed add added rows"));
    STEP_X(c, "als_ratings_add", als_ratings_add(r, NR - 200, RU + 200, RI + 200, RV + 200),
           if (als_ratings_rows(r) != 200 || als_ratings_num_users(r) > 40)
               violation(c, "als_ratings_add", "a failed add added rows"));
    STEP_OUT(c, "als_model_create", als_model_create(&m), m);
    assert_ok(als_set_param(m, "implicitPrefs", "true"));
    assert_ok(als_set_param(m, "rank", "6"));
    assert_ok(als_set_param(m, "maxIter", "3"));
    assert_ok(als_set_param(m, "seed", "7"));
    assert_ok(als_set_param(m, "regParam", "0.05"));
    assert_ok(als_set_param(m, "computeLoss", "true"));
    assert_ok(als_set_param(m, "numThreads", nt));
    STEP_X(c, "als_model_fit", als_model_fit(m, r),
           if (als_model_is_fitted(m)) violation(c, "als_model_fit", "fitted after a failure"));
    dg_model(c, m);
    STEP(c, "als_model_recommend", als_model_recommend(m, RU[0], 8, r, items, scores));
    search_into(c, scores, items, 8);
    int64_t pu_[4] = {RU[0], RU[1], 1, RU[2]}, pi_[4] = {RI[0], RI[5], RI[1], -5};
    STEP(c, "als_model_predict", als_model_predict(m, 4, pu_, pi_, pred));
    dg(c, pred, sizeof pred);
    int64_t fi_items[5] = {RI[0], RI[1], RI[2], 77, RI[3]};
    STEP(c, "als_model_fold_in", als_model_fold_in(m, 5, fi_items, NULL, fold));
    dg(c, fold, sizeof fold);
    STEP_X(c, "als_ratings_split", als_ratings_split(r, 0.8, 3, &tr, &te),
           if (tr || te) violation(c, "als_ratings_split", "outputs not NULL after a failure"));
    STEP(c, "als_eval_ranking", als_eval_ranking(m, tr, te, 5, met, ALS_METRIC_COUNT));
    dg(c, met, sizeof met);
    int64_t want[2] = {RI[0], RI[1]};
    int64_t nfound = 0;
    STEP(c, "als_ratings_users_of_items", (nfound = als_ratings_users_of_items(r, 2, want, users, 64)));
    dg(c, users, (size_t)(nfound < 64 ? nfound : 64) * sizeof(int64_t));
    /* refit with another seed: a failure must keep the first model */
    assert_ok(als_set_param(m, "seed", "8"));
    {
        const als_matrix *U = als_model_user_factors(m);
        size_t n = (size_t)(als_matrix_rows(U) * als_matrix_cols(U));
        float *u0 = malloc(n * sizeof *u0);
        memcpy(u0, als_matrix_data_const(U), n * sizeof *u0);
        STEP_X(c, "als_model_fit(refit)", als_model_fit(m, r), check_model_kept(c, "als_model_fit(refit)", m, u0, n));
        free(u0);
    }
    dg_model(c, m);
    STEP_SAVE(c, "als_model_save", als_model_save(m, pm), pm);
    STEP_SAVE(c, "als_model_save", als_model_save(m, pm), pm); /* over the existing file */
    dg_model_file(c, pm);
    STEP_OUT(c, "als_model_load", als_model_load(&l, pm), l);
    dg_model(c, l);
    STEP(c, "als_model_recommend", als_model_recommend(l, RU[3], 8, NULL, items, scores));
    search_into(c, scores, items, 8);
    STEP_X(c, "als_model_export_npy", als_model_export_npy(m, pe),
           if (tmp_files(g_dir)) violation(c, "als_model_export_npy", "left a temporary file"));
    STEP_OUT(c, "als_matrix_read_npy", als_matrix_read_npy(&e, pu), e);
    dg(c, als_matrix_data(e), (size_t)(als_matrix_rows(e) * als_matrix_cols(e)) * sizeof(float));
    int64_t ids[64];
    int64_t nid = 0;
    STEP(c, "als_ids_read_npy", (nid = als_ids_read_npy(pi, ids, 64)));
    dg(c, ids, (size_t)(nid < 64 ? nid : 64) * sizeof(int64_t));
    als_matrix_destroy(e);
    als_model_destroy(l);
    als_model_destroy(m);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(r);
    return 0;
}

/* CG solver (the gather buffer), NNLS, named ids, timed rows and the other splits. */
/* Whether r holds exactly the rows (u, i, v, t) in this order. */
static int rows_are(const als_ratings *r, int64_t n, const int64_t *u, const int64_t *i,
                    const float *v, const int64_t *t) {
    if (als_ratings_rows(r) != n) return 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t gu, gi, gt;
        float gv;
        if (als_ratings_get(r, k, &gu, &gi, &gv, &gt) || gu != u[k] || gi != i[k] || gv != v[k] ||
            gt != t[k])
            return 0;
    }
    return 1;
}

static void dg_ratings(ctx *c, const als_ratings *r);

static int run_als_cg(ctx *c) {
    als_ratings *r = NULL, *n = NULL, *rt = NULL, *tr = NULL, *te = NULL, *tr2 = NULL, *te2 = NULL;
    als_ratings *tn = NULL, *ten = NULL, *so = NULL;
    als_model *m = NULL, *nn = NULL, *ms = NULL;
    char nt[8];
    snprintf(nt, sizeof nt, "%d", c->threads);
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&r), r);
    STEP(c, "als_ratings_add_timed", als_ratings_add_timed(r, 150, RU, RI, RV, NULL));
    STEP_X(c, "als_ratings_add_timed", als_ratings_add_timed(r, NR - 150, RU + 150, RI + 150, RV + 150, RT + 150),
           if (als_ratings_rows(r) != 150) violation(c, "als_ratings_add_timed", "a failed add added rows"));
    STEP_OUT(c, "als_model_create", als_model_create(&m), m);
    assert_ok(als_set_param(m, "implicitPrefs", "true"));
    assert_ok(als_set_param(m, "solver", "cg"));
    assert_ok(als_set_param(m, "rank", "12"));
    assert_ok(als_set_param(m, "maxIter", "2"));
    assert_ok(als_set_param(m, "numThreads", nt));
    STEP(c, "als_model_fit", als_model_fit(m, r));
    dg_model(c, m);
    assert_ok(als_set_param(m, "rank", "20")); /* auto: the item half-step by CG sweeps */
    STEP(c, "als_model_fit(sweep)", als_model_fit(m, r));
    dg_model(c, m);
    assert_ok(als_set_param(m, "rank", "12"));
    STEP_X(c, "als_ratings_split_last", als_ratings_split_last(r, 2, &tr, &te),
           if (tr || te) violation(c, "als_ratings_split_last", "outputs not NULL after a failure"));
    dg_i64(c, als_ratings_rows(tr));
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&rt), rt);
    STEP(c, "als_ratings_add_timed", als_ratings_add_timed(rt, NR, RU, RI, RV, RT));
    STEP_X(c, "als_ratings_split_time", als_ratings_split_time(rt, 1004000, &tr2, &te2),
           if (tr2 || te2) violation(c, "als_ratings_split_time", "outputs not NULL after a failure"));
    dg_i64(c, als_ratings_rows(tr2));
    STEP_X(c, "als_ratings_group_by_user", als_ratings_group_by_user(rt),
           if (!rows_are(rt, NR, RU, RI, RV, RT))
               violation(c, "als_ratings_group_by_user", "a failed grouping moved rows"));
    dg_ratings(c, rt);
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&n), n);
    STEP_X(c, "als_ratings_add_named", als_ratings_add_named(n, NR, (const char *const *)RUN, (const char *const *)RIN, RV),
           if (als_ratings_rows(n) != 0 || als_ratings_user_id(n, RUN[0]) != -1)
               violation(c, "als_ratings_add_named", "a failed add left rows or names"));
    dg_i64(c, als_ratings_user_id(n, RUN[7]));
    STEP_X(c, "als_ratings_split(named)", als_ratings_split(n, 0.7, 5, &tn, &ten),
           if (tn || ten) violation(c, "als_ratings_split", "outputs not NULL after a failure"));
    dg_i64(c, als_ratings_rows(tn));
    dg_i64(c, als_ratings_user_id(ten, RUN[9]));
    /* ratings sorted by user and by item both ways: the fit borrows them as its CSR */
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&so), so);
    STEP(c, "als_ratings_add", als_ratings_add(so, NR, SU, SI, NULL));
    STEP_OUT(c, "als_model_create", als_model_create(&ms), ms);
    assert_ok(als_set_param(ms, "rank", "3"));
    assert_ok(als_set_param(ms, "maxIter", "2"));
    assert_ok(als_set_param(ms, "numThreads", nt));
    STEP(c, "als_model_fit(sorted)", als_model_fit(ms, so));
    dg_model(c, ms);
    STEP_OUT(c, "als_model_create", als_model_create(&nn), nn);
    assert_ok(als_set_param(nn, "nonnegative", "true"));
    assert_ok(als_set_param(nn, "rank", "4"));
    assert_ok(als_set_param(nn, "maxIter", "2"));
    assert_ok(als_set_param(nn, "numThreads", nt));
    STEP(c, "als_model_fit", als_model_fit(nn, n));
    dg_model(c, nn);
    als_model_destroy(m);
    als_model_destroy(nn);
    als_model_destroy(ms);
    als_ratings_destroy(tn);
    als_ratings_destroy(ten);
    als_ratings_destroy(so);
    als_ratings_destroy(r);
    als_ratings_destroy(n);
    als_ratings_destroy(rt);
    als_ratings_destroy(tr);
    als_ratings_destroy(te);
    als_ratings_destroy(tr2);
    als_ratings_destroy(te2);
    return 0;
}

/* ------------------------------------------------------------------ scenario: CSV */

static char CSV_A[512], CSV_B[512], CSV_C[512];

static void fixtures_csv(void) {
    if (CSV_A[0]) return;
    path_in(CSV_A, sizeof CSV_A, g_fix, "a.csv");
    path_in(CSV_B, sizeof CSV_B, g_fix, "b.tsv");
    path_in(CSV_C, sizeof CSV_C, g_fix, "c.txt");
    FILE *f = fopen(CSV_A, "w");
    assert_non_null(f);
    fprintf(f, "\xEF\xBB\xBFuser,item,rating,day\r\n");
    for (int t = 0; t < 90; t++) {
        if (t == 30 || t == 60) { /* lines longer than getline's first 120 and 240 bytes */
            fprintf(f, "\"");
            for (int j = 0; j < (t == 30 ? 150 : 400); j++) fputc('a' + j % 26, f);
            fprintf(f, "\",%d,%d.5,2024-03-%02d\r\n", t % 13, t % 5, 1 + t % 28);
        } else {
            fprintf(f, "\"u,%d\",%d,%d.5,%02d-04-2023\r\n", t % 17, t % 13, t % 5, 1 + t % 28);
        }
    }
    fclose(f);
    f = fopen(CSV_B, "w"); /* integers first, then a name: the column turns into names */
    assert_non_null(f);
    for (int t = 0; t < 60; t++) {
        if (t == 40) fprintf(f, "u7\t3\n");
        else if (t % 19 == 5) fprintf(f, "bad line without a tab\n");
        fprintf(f, "%d\t%d\n", t % 11, t % 7);
    }
    fclose(f);
    f = fopen(CSV_C, "w");
    assert_non_null(f);
    for (int t = 0; t < 50; t++) fprintf(f, " %03d ; %d ; %d ; %d\n", t % 9, t % 6, t, 1700000000 + t);
    fclose(f);
}

static void dg_ratings(ctx *c, const als_ratings *r) {
    int64_t n = als_ratings_rows(r);
    dg_i64(c, n);
    dg_i64(c, als_ratings_bad_rows(r));
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it, t;
        float v;
        assert_ok(als_ratings_get(r, i, &u, &it, &v, &t));
        dg_i64(c, u);
        dg_i64(c, it);
        dg_i64(c, t);
        dg(c, &v, sizeof v);
        const char *un = als_ratings_user_name(r, u), *in = als_ratings_item_name(r, it);
        if (un) dg(c, un, strlen(un) + 1);
        if (in) dg(c, in, strlen(in) + 1);
    }
}

static int run_csv(ctx *c) {
    als_ratings *a = NULL, *b = NULL, *cc = NULL, *r2 = NULL;
    char pids[512];
    uint64_t run = 0;
    snprintf(pids, sizeof pids, "%s", P("ids.txt"));
    STEP_OUT(c, "als_ratings_read_csv", als_ratings_read_csv(&a, CSV_A, "header=1,user=user,item=item,value=rating,time=day,ids=string"), a);
    dg_ratings(c, a);
    STEP_OUT(c, "als_ratings_read_csv", als_ratings_read_csv(&b, CSV_B, "skip_bad=1"), b);
    dg_ratings(c, b);
    STEP_OUT(c, "als_ratings_read_csv", als_ratings_read_csv(&cc, CSV_C, "sep=semicolon,ids=int,value=2,time=3"), cc);
    dg_ratings(c, cc);
    STEP_SAVE(c, "als_ratings_write_ids_run", als_ratings_write_ids_run(a, pids, 0xabcdefull), pids);
    dg_file(c, pids);
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&r2), r2);
    STEP_X(c, "als_ratings_read_ids_run", als_ratings_read_ids_run(r2, pids, &run),
           if (als_ratings_user_name(r2, 0) != NULL) violation(c, "als_ratings_read_ids_run", "names installed after a failure"));
    dg_i64(c, (int64_t)run);
    for (int64_t i = 0; i < 20; i++) {
        const char *s = als_ratings_user_name(r2, i);
        dg(c, s ? s : "-", s ? strlen(s) + 1 : 2);
    }
    als_ratings_destroy(a);
    als_ratings_destroy(b);
    als_ratings_destroy(cc);
    als_ratings_destroy(r2);
    return 0;
}

/* ------------------------------------------------------------------ scenario: threads */

/* Two threads in every parallel region (per-thread buffers allocated concurrently): the
 * allocation order is not deterministic, so the sweep runs N = 1, 2, ... until a run
 * completes with no injected failure. */
#define TN 16000
#define TQ 600
static float *TX, *TQX;
static vecidx *T_FLAT;

static void fixtures_threads(void) {
    fixtures_vectors();
    fixtures_ratings();
    if (TX) return;
    TX = malloc((size_t)TN * D * sizeof *TX);
    TQX = malloc((size_t)TQ * D * sizeof *TQX);
    gen(TX, (int64_t)TN * D, 21);
    gen(TQX, (int64_t)TQ * D, 22);
    als_matrix *x;
    assert_ok(als_matrix_wrap(&x, TX, TN, D, D));
    assert_ok(vecidx_flat_create(&T_FLAT, D, VECIDX_METRIC_IP));
    assert_ok(vecidx_add(T_FLAT, x, NULL));
    als_matrix_destroy(x);
}

static int run_threads(ctx *c) {
    als_matrix *q = NULL, *few = NULL, *x = NULL;
    vecidx *ivf = NULL;
    als_ratings *r = NULL;
    als_model *m = NULL;
    static float sc[TQ * K];
    static int64_t id[TQ * K];
    double met[ALS_METRIC_COUNT];
    vecidx_set_int(T_FLAT, VECIDX_PARAM_NUM_THREADS, 2);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&q, TQX, TQ, D, D), q);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&few, TQX, 4, D, D), few);
    STEP(c, "vecidx_search(by query)", vecidx_search(T_FLAT, q, K, sc, id));
    search_into(c, sc, id, TQ * K);
    STEP(c, "vecidx_search(by tile)", vecidx_search(T_FLAT, few, K, sc, id));
    search_into(c, sc, id, 4 * K);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&x, TX, 3000, D, D), x);
    STEP_OUT(c, "vecidx_ivf_create", vecidx_ivf_create(&ivf, D, VECIDX_METRIC_IP, 8), ivf);
    vecidx_set_int(ivf, VECIDX_PARAM_NUM_THREADS, 2);
    vecidx_set_int(ivf, VECIDX_PARAM_KMEANS_ITERS, 3);
    vecidx_set_int(ivf, VECIDX_PARAM_NPROBE, 3);
    STEP(c, "vecidx_train", vecidx_train(ivf, x));
    STEP(c, "vecidx_add", vecidx_add(ivf, x, NULL));
    STEP(c, "vecidx_search", vecidx_search(ivf, q, K, sc, id));
    search_into(c, sc, id, TQ * K);
    STEP_OUT(c, "als_ratings_create", als_ratings_create(&r), r);
    STEP(c, "als_ratings_add", als_ratings_add(r, NR, RU, RI, RV));
    STEP_OUT(c, "als_model_create", als_model_create(&m), m);
    assert_ok(als_set_param(m, "implicitPrefs", "true"));
    assert_ok(als_set_param(m, "rank", "5"));
    assert_ok(als_set_param(m, "maxIter", "2"));
    assert_ok(als_set_param(m, "numThreads", "2"));
    STEP(c, "als_model_fit", als_model_fit(m, r));
    dg_model(c, m);
    STEP(c, "als_eval_ranking", als_eval_ranking(m, r, r, 5, met, ALS_METRIC_COUNT));
    dg(c, met, sizeof met);
    als_model_destroy(m);
    als_ratings_destroy(r);
    vecidx_destroy(ivf);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    als_matrix_destroy(few);
    return 0;
}

/* ------------------------------------------------------------------ the sweep */

typedef struct {
    const char *name;
    void (*setup)(void);
    int (*run)(ctx *c);
    int deterministic;
} scenario;

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d) return -1;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

static void empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char p[600];
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static void on_signal(int sig) {
    char msg[400];
    int n = snprintf(msg, sizeof msg, "\nfault_sweep: signal %d during [%s]\n", sig, g_where);
    if (n > 0 && write(2, msg, (size_t)n) < 0) n = 0;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_signals(void) {
    int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], on_signal);
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    void *f1, *f2;
} path2;

static int path_seen(path2 *ps, long n, path2 p) {
    for (long i = 0; i < n; i++)
        if (ps[i].f1 == p.f1 && ps[i].f2 == p.f2) return 1;
    return 0;
}

/* One run: returns the number of violations (known bugs excepted). */
static long one_run(const scenario *s, ctx *c, long *live0, int *fd0, const ctx *ref) {
    c->len = 0;
    c->violations = 0;
    c->fired_cls = -1;
    c->n_fail_steps = 0;
    memset(c->known_hit, 0, sizeof c->known_hit);
    empty_dir(g_dir);
    int rc = s->run(c);
    fi_disarm();
    if (rc != 0 && !c->violations) violation(c, "run", "the scenario stopped");
    if (ref && rc == 0 && (c->len != ref->len || memcmp(c->buf, ref->buf, c->len) != 0)) {
        if (fi_fired() && fi_fired_site().cls == FI_LINE) known(c, K_GETLINE_EOF, "results");
        else violation(c, "results", "results differ from the run without failures (%zu vs %zu bytes of digest)",
                       c->len, ref->len);
    }
    long live = fi_live();
    int fds = count_fds();
    if (live != *live0 && !g_warmup)
        violation(c, "leak", "%ld library allocations still live after the scenario", live - *live0);
    if (fds != *fd0 && !g_warmup) violation(c, "leak", "%d file descriptors leaked", fds - *fd0);
    *live0 = live; /* each run is judged on its own */
    *fd0 = fds;
    if (tmp_files(g_dir)) violation(c, "tmp", "a temporary file was left behind");
    for (int k = 0; k < NKNOWN; k++) {
        KNOWN[k].count += c->known_hit[k];
        if (c->known_hit[k] && g_strict) violation(c, KNOWN[k].id, "known bug: %s", KNOWN[k].what);
    }
    return c->violations;
}

static long g_total_violations;

static long sweep(const scenario *s, int persistent) {
    const char *mode = persistent ? "persistent" : "once";
    const char *only = getenv("FAULTS_ONLY");
    if (only && *only && strcmp(only, s->name) != 0) {
        printf("faults: %s (%s): skipped (FAULTS_ONLY=%s)\n", s->name, mode, only);
        return 0;
    }
    catch_signals();
    s->setup();
    ctx ref = {0}, c = {0};
    ref.threads = c.threads = s->deterministic ? 1 : 2;
    long known0[NKNOWN];
    for (int k = 0; k < NKNOWN; k++) known0[k] = KNOWN[k].count;
    double t0 = now_s();
    long viol0 = g_total_violations;
    g_printed = 0;

    /* A warm-up run first: once-per-process state (the SIMD level measured on the first
     * search, see test_first_use) is then in place, and every later run of the scenario
     * makes the same allocations. Then the reference run, recording every attempt's site. */
    empty_dir(g_dir);
    int fd0 = count_fds();
    long live0 = fi_live();
    snprintf(g_where, sizeof g_where, "%s, %s, warm-up run", s->name, mode);
    fi_reset();
    g_warmup = 1; /* state kept for the process's life is not a leak */
    long wv = one_run(s, &ref, &live0, &fd0, NULL);
    g_warmup = 0;
    if (wv) {
        g_total_violations++;
        fail_msg("%s: the warm-up run failed", s->name);
    }
    snprintf(g_where, sizeof g_where, "%s, %s, reference run", s->name, mode);
    fi_reset();
    fi_record(1);
    long v = one_run(s, &ref, &live0, &fd0, NULL);
    fi_record(0);
    long total = fi_count();
    if (v) {
        g_total_violations += v;
        fail_msg("%s: the reference run failed", s->name);
    }
    assert_true(total > 0); /* the library was built with inject.h */
    long cls_n[3] = {0, 0, 0}, nsites = 0, npaths = 0;
    void **sites = calloc((size_t)total, sizeof *sites);
    path2 *paths = calloc((size_t)total, sizeof *paths);
    unsigned char *pick = calloc((size_t)total + 2, 1);
    for (long i = 1; i <= total; i++) {
        fi_site st = fi_recorded_site(i);
        cls_n[st.cls]++;
        int seen = 0;
        for (long j = 0; j < nsites && !seen; j++) seen = sites[j] == st.f1;
        if (!seen) sites[nsites++] = st.f1;
        path2 p = {st.f1, st.f2};
        if (!path_seen(paths, npaths, p)) {
            paths[npaths++] = p;
            pick[i] = 1; /* every call path fails at least once */
            if (g_verbose) {
                char t[400];
                printf("    site %3ld: attempt %5ld %s %s\n", npaths, i, fi_class_name(st.cls),
                       fi_site_str(st, t, sizeof t));
            }
        }
    }
    /* Every N when the scenario is small (it is: see docs/testing.md); beyond 3000
     * attempts a stride, plus the first attempt of each call path. */
    const char *full = getenv("FAULTS_FULL");
    long stride = (total > 3000 && !(full && *full == '1')) ? (total + 2999) / 3000 : 1;
    long runs = 0, not_fired = 0;
    long limit = s->deterministic ? total + 1 : 4 * total + 64;
    const char *one = getenv("FAULTS_N"); /* a single failure point, to reproduce one finding */
    long only_n = one && *one ? atol(one) : 0;
    for (long n = only_n ? only_n : 1; n <= limit; n++) {
        if (s->deterministic && n <= total && !pick[n] && (n - 1) % stride != 0) continue;
        snprintf(g_where, sizeof g_where, "%s, %s, N=%ld of %ld", s->name, mode, n, total);
        fi_reset();
        fi_arm(n, persistent);
        long vr = one_run(s, &c, &live0, &fd0, &ref);
        runs++;
        g_total_violations += vr;
        if (only_n) {
            not_fired = 1;
            break;
        }
        if (fi_fired() == 0) {
            not_fired++;
            if (s->deterministic && n <= total)
                fprintf(stderr, "VIOLATION [%s]: no failure injected, the allocation sequence "
                                "differs from the reference run\n", g_where), g_total_violations++;
            break; /* a run with no injected failure ends the sweep */
        }
    }
    if (!not_fired) {
        fprintf(stderr, "VIOLATION [%s %s]: every run had an injected failure\n", s->name, mode);
        g_total_violations++;
    }
    double secs = now_s() - t0;
    char kn[200] = "";
    for (int k = 0; k < NKNOWN; k++)
        if (KNOWN[k].count > known0[k])
            snprintf(kn + strlen(kn), sizeof kn - strlen(kn), " %s x%ld", KNOWN[k].id,
                     KNOWN[k].count - known0[k]);
    printf("faults: %-9s %-10s %5ld failure points (heap %ld, fopen/fdopen %ld, getline %ld), "
           "%3ld sites, %3ld call paths, %5ld runs, %6.2f s%s%s\n",
           s->name, mode, total, cls_n[FI_HEAP], cls_n[FI_FILE], cls_n[FI_LINE], nsites, npaths,
           runs, secs, kn[0] ? ", known bugs:" : "", kn);
    fflush(stdout);
    free(sites);
    free(paths);
    free(pick);
    free(ref.buf);
    free(c.buf);
    snprintf(g_where, sizeof g_where, "%s, %s, done", s->name, mode);
    return g_total_violations - viol0;
}

/* ------------------------------------------------------------------ first use */

/* The first search of a process measures the SIMD levels once (core/scan.c,
 * als__simd_auto): those allocations happen only then, so each of their failure points is
 * tried in a fresh child process (this test runs first, before the parent searches). A
 * failed measurement falls back to the best level, and every level gives the same bits:
 * the AUTO search must equal the portable one. */
static int run_first_use(ctx *c) {
    als_matrix *x = NULL, *q = NULL;
    vecidx *idx = NULL;
    float sc[NQ * K], sc2[NQ * K];
    int64_t id[NQ * K], id2[NQ * K];
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&x, X, NX, D, D), x);
    STEP_OUT(c, "als_matrix_wrap", als_matrix_wrap(&q, Q, NQ, D, D), q);
    STEP_OUT(c, "vecidx_flat_create", vecidx_flat_create(&idx, D, VECIDX_METRIC_L2), idx);
    vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 1);
    STEP(c, "vecidx_add", vecidx_add(idx, x, IDS));
    STEP(c, "vecidx_search(first)", vecidx_search(idx, q, K, sc, id));
    fi_disarm();
    assert_ok(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_PORTABLE));
    assert_ok(vecidx_search(idx, q, K, sc2, id2));
    if (memcmp(sc, sc2, sizeof sc) || memcmp(id, id2, sizeof id))
        violation(c, "vecidx_search(first)", "results differ from the portable kernel's");
    vecidx_destroy(idx);
    als_matrix_destroy(x);
    als_matrix_destroy(q);
    return 0;
}

static void test_first_use(void **st) {
    (void)st;
    const char *only = getenv("FAULTS_ONLY");
    if (only && *only && strcmp(only, "first-use") != 0) {
        printf("faults: first-use (once): skipped (FAULTS_ONLY=%s)\n", only);
        return;
    }
    fixtures_vectors();
    double t0 = now_s();
    long n, bad = 0;
    for (n = 1; n < 1000; n++) {
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            ctx c = {0};
            c.threads = 1;
            c.fired_cls = -1;
            snprintf(g_where, sizeof g_where, "first-use, once, N=%ld (child)", n);
            empty_dir(g_dir);
            long live0 = fi_live();
            int fd0 = count_fds();
            fi_reset();
            fi_arm(n, 0);
            int rc = run_first_use(&c);
            long fired = fi_fired();
            if (rc) violation(&c, "run", "the scenario stopped");
            if (fi_live() != live0) violation(&c, "leak", "%ld library allocations still live", fi_live() - live0);
            if (count_fds() != fd0) violation(&c, "leak", "file descriptors leaked");
            free(c.buf);
            exit(c.violations ? 1 : fired ? 0 : 2); /* exit, not _exit: LeakSanitizer runs */
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 2) break; /* no failure injected: done */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "VIOLATION [first-use, once, N=%ld]: the child %s %d\n", n,
                    WIFEXITED(status) ? "exited with" : "died of signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            bad++;
        }
    }
    printf("faults: %-9s %-10s %5ld failure points (one child process each), %5ld runs, %6.2f s\n",
           "first-use", "once", n - 1, n, now_s() - t0);
    g_total_violations += bad;
    assert_int_equal(bad, 0);
}

static void setup_none(void) { fixtures_vectors(); }
static void setup_als(void) { fixtures_ratings(); }

static const scenario SCEN[] = {
    {"flat", setup_none, run_flat, 1},
    {"ivf", setup_none, run_ivf, 1},
    {"index-io", fixtures_indexes, run_index_io, 1},
    {"als", setup_als, run_als, 1},
    {"als-cg", setup_als, run_als_cg, 1},
    {"csv", fixtures_csv, run_csv, 1},
    {"threads", fixtures_threads, run_threads, 0},
};

#define SWEEP_TESTS(i)                                                                     \
    static void test_once_##i(void **st) { (void)st; assert_int_equal(sweep(&SCEN[i], 0), 0); } \
    static void test_persistent_##i(void **st) { (void)st; assert_int_equal(sweep(&SCEN[i], 1), 0); }
SWEEP_TESTS(0)
SWEEP_TESTS(1)
SWEEP_TESTS(2)
SWEEP_TESTS(3)
SWEEP_TESTS(4)
SWEEP_TESTS(5)
SWEEP_TESTS(6)

static void test_summary(void **st) {
    (void)st;
    for (int k = 0; k < NKNOWN; k++) {
        if (!KNOWN[k].count) continue;
        printf("faults: KNOWN BUG %s (%ld runs%s): %s\n    first seen: %s\n", KNOWN[k].id,
               KNOWN[k].count, g_strict ? ", FAULTS_STRICT=1: counted as failures" : ", allowed",
               KNOWN[k].what, KNOWN[k].example);
    }
    printf("faults: %ld violations in all\n", g_total_violations);
}

static void rm_dir(const char *dir) {
    empty_dir(dir);
    rmdir(dir);
}

int main(void) {
    const char *t = getenv("FAULTS_STRICT");
    g_strict = !(t && *t == '0'); /* the KNOWN bugs are fixed: any hit is a regression */
    t = getenv("FAULTS_VERBOSE");
    g_verbose = t && *t == '1';
    /* scratch files on tmpfs when there is one: thousands of saves, each with two fsyncs,
     * cost nothing there and seconds on a busy disk */
    const char *tmp = getenv("FAULTS_TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/alsfaults-XXXXXX", tmp);
    snprintf(g_fix, sizeof g_fix, "%s/alsfaults-fix-XXXXXX", tmp);
    if (!mkdtemp(g_dir) || !mkdtemp(g_fix)) {
        perror("mkdtemp");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_use), /* first: before anything searches in this process */
        cmocka_unit_test(test_once_0),       cmocka_unit_test(test_persistent_0),
        cmocka_unit_test(test_once_1),       cmocka_unit_test(test_persistent_1),
        cmocka_unit_test(test_once_2),       cmocka_unit_test(test_persistent_2),
        cmocka_unit_test(test_once_3),       cmocka_unit_test(test_persistent_3),
        cmocka_unit_test(test_once_4),       cmocka_unit_test(test_persistent_4),
        cmocka_unit_test(test_once_5),       cmocka_unit_test(test_persistent_5),
        cmocka_unit_test(test_once_6),       cmocka_unit_test(test_persistent_6),
        cmocka_unit_test(test_summary),
    };
    int rc = cmocka_run_group_tests_name("fault injection", tests, NULL, NULL);
    vecidx_destroy(FX_FLAT);
    vecidx_destroy(FX_FLAT2);
    vecidx_destroy(FX_IVF);
    vecidx_destroy(FX_WIDE);
    vecidx_destroy(T_FLAT);
    als_matrix_destroy(FX_XM);
    free(X);
    free(Q);
    free(XW);
    free(TX);
    free(TQX);
    rm_dir(g_dir);
    rm_dir(g_fix);
    return rc;
}
