/* Writes the binary seed corpora of the fuzz harnesses with the library itself (valid
 * files, plus hand-made variants: other .npy versions and dtypes, version-1 index and
 * model files). make_corpus.sh adds the text seeds. Nothing binary is committed.
 *
 * usage: make_corpus OUTDIR   (OUTDIR/<harness>/ must exist)
 *
 * Each seed starts with the harness's mode and knob bytes where it has them (see the
 * harness's comment): index and model seeds come with every repair bit set (0x07) and
 * clear (0x00), so mutations reach both the checks and the code behind them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "als.h"
#include "lk_fixture.h"
#include "vecidx.h"

/* examples/lookalike/ is compiled into this program with -Dmain=lookalike_main; this
 * file's own main keeps its name. */
#undef main

static const char *out_dir;
static char tmp_dir[1024];

static void die(const char *what) {
    fprintf(stderr, "make_corpus: %s failed: %s\n", what, als_last_error());
    exit(1);
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) die(path);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* OUTDIR/harness/name := prefix bytes + data */
static void seed(const char *harness, const char *name, const unsigned char *prefix, size_t np,
                 const void *data, size_t n) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, harness, name);
    FILE *f = fopen(p, "wb");
    if (!f || (np && fwrite(prefix, 1, np, f) != np) || (n && fwrite(data, 1, n, f) != n) || fclose(f))
        die(p);
}

static void seed_file(const char *harness, const char *name, const unsigned char *prefix,
                      size_t np, const char *path) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    seed(harness, name, prefix, np, b, n);
    free(b);
}

static void tmp(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmp_dir, name); }

/* A .npy file by hand: any version, dtype, shape text and data. */
static void npy(const char *harness, const char *name, int major, const char *dict,
                const void *data, size_t n) {
    unsigned char b[4096];
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict);
    size_t pad = (64 - (pre + hl + 1) % 64) % 64, h = hl + pad + 1;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    if (major == 1) {
        b[8] = (unsigned char)h;
        b[9] = (unsigned char)(h >> 8);
    } else {
        for (int i = 0; i < 4; i++) b[8 + i] = (unsigned char)(h >> (8 * i));
    }
    memcpy(b + pre, dict, hl);
    memset(b + pre + hl, ' ', pad);
    b[pre + hl + pad] = '\n';
    memcpy(b + pre + h, data, n);
    seed(harness, name, NULL, 0, b, pre + h + n);
}

static als_matrix *matrix(int64_t rows, int64_t cols, float scale) {
    als_matrix *m;
    if (als_matrix_create(&m, rows, cols)) die("matrix");
    for (int64_t i = 0; i < rows * cols; i++)
        als_matrix_data(m)[i] = scale * ((float)((i * 37 % 17) - 8) / 8.0f);
    return m;
}

static void npy_seeds(void) {
    char p[1200];
    als_matrix *m = matrix(3, 4, 1.0f);
    tmp(p, sizeof p, "m.npy");
    if (als_matrix_write_npy(m, p)) die("write_npy");
    seed_file("npy", "f4_3x4", NULL, 0, p);
    als_matrix_destroy(m);
    m = matrix(0, 5, 1.0f);
    if (als_matrix_write_npy(m, p)) die("write_npy");
    seed_file("npy", "f4_0x5", NULL, 0, p);
    als_matrix_destroy(m);
    unlink(p);
    double d[6] = {1.5, -2.25, 0, 1e30, -1e-40, 3};
    npy("npy", "f8_2x3", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, sizeof d);
    double big[1] = {1e300};
    npy("npy", "f8_out_of_range", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", big, 8);
    float f[4] = {1, 2, 3, 4};
    npy("npy", "v2_f4_2x2", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f, 16);
    npy("npy", "v3_f4_1x4", 3, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1, 4)}", f, 16);
    npy("npy", "fortran", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f, 16);
    npy("npy", "big_endian", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", f, 16);
    npy("npy", "1d", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", f, 16);
    npy("npy", "3d", 1, "{'shape': (1, 2, 2), 'fortran_order': False, 'descr': '<f4'}", f, 16);
    int64_t ids[5] = {0, 7, -3, 9223372036854775807LL, 42};
    npy("ids_npy", "i8_5", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", ids, sizeof ids);
    npy("ids_npy", "i8_3x1", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3, 1), }", ids, 24);
    npy("ids_npy", "i8_0", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", ids, 0);
    npy("ids_npy", "i8_v2", 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", ids, 16);
    npy("ids_npy", "i4", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", ids, 8);
    npy("ids_npy", "f4_as_ids", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", f, 16);
}

/* An index file as saved (version 2), with the repair bits set and clear, and mapped. */
static void index_seed(const char *name, vecidx *idx, unsigned char knobs) {
    char p[1200], nm[256];
    tmp(p, sizeof p, "i.vidx");
    if (vecidx_save(idx, p)) die("vecidx_save");
    size_t n;
    unsigned char *b = slurp(p, &n);
    unlink(p);
    unsigned char pre[2] = {0x07, knobs};
    seed("index", name, pre, 2, b, n);
    pre[0] = 0;
    snprintf(nm, sizeof nm, "%s_raw", name);
    seed("index", nm, pre, 2, b, n);
    pre[0] = 0x0f;
    snprintf(nm, sizeof nm, "%s_mmap", name);
    seed("index", nm, pre, 2, b, n);
    free(b);
}

/* A version-1 index file by hand (docs/formats.md): 96-byte header, row-major payload
 * (flat: [ids] vectors; IVF: centroids, list sizes, then per list ids and vectors). The
 * CRCs are left zero: the seed's repair bits (0x07) compute them. */
typedef struct { unsigned char *b; size_t n; } buf;
static void put(buf *o, const void *p, size_t n) {
    o->b = realloc(o->b, o->n + n);
    memcpy(o->b + o->n, p, n);
    o->n += n;
}
static void put64(buf *o, int64_t v) { put(o, &v, 8); }
static void put32(buf *o, uint32_t v) { put(o, &v, 4); }
static void index_v1(const char *name, unsigned char knobs, int kind, int metric, int64_t d,
                     int64_t n, int64_t nlist, uint32_t flags, const void *payload, size_t plen) {
    buf o = {NULL, 0};
    unsigned char pre[2] = {0x07, knobs};
    put(&o, pre, 2);
    put(&o, "\x89VECIDX\n", 8);
    put32(&o, 1);
    put32(&o, 0x01020304u);
    put32(&o, (uint32_t)kind);
    put32(&o, (uint32_t)metric);
    int64_t f[7] = {d, n, nlist, 2, 1234, 10, 256};
    for (int i = 0; i < 7; i++) put64(&o, f[i]);
    put32(&o, flags);
    put32(&o, 0); /* header CRC */
    put64(&o, (int64_t)plen);
    put(&o, payload, plen);
    put32(&o, 0); /* payload CRC */
    seed("index", name, NULL, 0, o.b, o.n);
    free(o.b);
}

static void index_seeds(void) {
    als_matrix *x = matrix(20, 6, 1.0f);
    int64_t ids[20];
    for (int i = 0; i < 20; i++) ids[i] = 1000 - 7 * i;
    vecidx *idx;
    if (vecidx_flat_create(&idx, 6, VECIDX_METRIC_IP) || vecidx_add(idx, x, NULL)) die("flat");
    index_seed("flat_ip", idx, 0x03);
    vecidx_destroy(idx);
    if (vecidx_flat_create(&idx, 6, VECIDX_METRIC_L2) || vecidx_add(idx, x, ids) ||
        vecidx_set_run_id(idx, 0x1234))
        die("flat l2");
    index_seed("flat_l2_ids", idx, 0x5c);
    vecidx_destroy(idx);
    if (vecidx_ivf_create(&idx, 6, VECIDX_METRIC_IP, 3) || vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 1) ||
        vecidx_train(idx, x) || vecidx_add(idx, x, ids))
        die("ivf");
    index_seed("ivf_ip", idx, 0xa4);
    vecidx_destroy(idx);
    if (vecidx_ivf_create(&idx, 6, VECIDX_METRIC_L2, 2) || vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 1) ||
        vecidx_train(idx, x) || vecidx_add(idx, x, NULL))
        die("ivf l2");
    index_seed("ivf_l2", idx, 0x47);
    vecidx_destroy(idx);
    if (vecidx_ivf_create(&idx, 3, VECIDX_METRIC_L2, 4)) die("ivf untrained");
    index_seed("ivf_untrained", idx, 0x01);
    vecidx_destroy(idx);
    /* version 1 */
    const float *v = als_matrix_data(x);
    index_v1("v1_flat_ip", 0x03, 0, 0, 6, 20, 0, 0, v, 20 * 6 * 4);
    buf p = {NULL, 0};
    put(&p, ids, sizeof ids);
    put(&p, v, 20 * 6 * 4);
    index_v1("v1_flat_l2_ids", 0x5c, 0, 1, 6, 20, 0, 1, p.b, p.n);
    free(p.b);
    p.b = NULL, p.n = 0;
    put(&p, v, 2 * 6 * 4); /* centroids: the first two vectors */
    put64(&p, 12);
    put64(&p, 8);
    for (int l = 0; l < 2; l++) {
        put(&p, ids + 12 * l, (size_t)(l ? 8 : 12) * 8);
        put(&p, v + 12 * l * 6, (size_t)(l ? 8 : 12) * 6 * 4);
    }
    index_v1("v1_ivf_l2", 0x27, 1, 1, 6, 20, 2, 2, p.b, p.n);
    free(p.b);
    als_matrix_destroy(x);
}

static als_model *fit(int implicit, int rank, int nonneg, const char *solver) {
    als_ratings *r;
    if (als_ratings_create(&r)) die("ratings");
    for (int64_t u = 0; u < 9; u++)
        for (int64_t i = 0; i < 6; i++)
            if ((u + 2 * i) % 3 != 0) {
                int64_t uu = u * 11 - 20, ii = 500 + i * i;
                float v = (float)((u * i) % 5) + 1.0f;
                if (als_ratings_add(r, 1, &uu, &ii, &v)) die("add");
            }
    als_model *m;
    if (als_model_create(&m) || als_set_param(m, "rank", rank == 3 ? "3" : "5") ||
        als_set_param(m, "maxIter", "3") || als_set_param(m, "numThreads", "1") ||
        als_set_param(m, "implicitPrefs", implicit ? "true" : "false") ||
        als_set_param(m, "nonnegative", nonneg ? "true" : "false") || als_set_param(m, "solver", solver) ||
        als_model_fit(m, r))
        die("fit");
    als_ratings_destroy(r);
    return m;
}

static void model_seed(const char *name, als_model *m, unsigned char knobs) {
    char p[1200], nm[256];
    tmp(p, sizeof p, "m.als");
    if (als_model_save(m, p)) die("als_model_save");
    size_t n;
    unsigned char *b = slurp(p, &n);
    unlink(p);
    unsigned char pre[2] = {0x07, knobs};
    seed("model", name, pre, 2, b, n);
    pre[0] = 0;
    snprintf(nm, sizeof nm, "%s_raw", name);
    seed("model", nm, pre, 2, b, n);
    /* version 1: no run identity, CRC of 0..127 at 128, zero at 132, payload at 136 */
    unsigned char *v1 = malloc(n);
    memcpy(v1, b, 128);
    v1[8] = 1;
    memset(v1 + 128, 0, 8);
    memcpy(v1 + 136, b + 144, n - 144);
    pre[0] = 0x07;
    snprintf(nm, sizeof nm, "%s_v1", name);
    seed("model", nm, pre, 2, v1, n - 8);
    free(v1);
    free(b);
    /* export_npy's id files are the ids harness's seeds */
    tmp(p, sizeof p, "exp");
    if (als_model_export_npy(m, p)) die("export_npy");
    static const char *const suffix[] = {"_user_ids.npy", "_item_ids.npy", "_users.npy", "_items.npy"};
    for (int s = 0; s < 4; s++) {
        char f[1300];
        snprintf(f, sizeof f, "%s%s", p, suffix[s]);
        snprintf(nm, sizeof nm, "%s%s", name, suffix[s]);
        seed_file(s < 2 ? "ids_npy" : "npy", nm, NULL, 0, f);
        unlink(f);
    }
}

static void model_seeds(void) {
    als_model *m = fit(1, 3, 0, "cholesky");
    model_seed("implicit_r3", m, 0x8f);
    als_model_destroy(m);
    m = fit(0, 5, 1, "cholesky");
    model_seed("explicit_nnls_r5", m, 0x0a);
    als_model_destroy(m);
    m = fit(1, 5, 0, "cg");
    model_seed("implicit_cg_r5", m, 0xfb);
    als_model_destroy(m);
}

static void ids_seeds(void) {
    char p[1200];
    als_ratings *r;
    const char *u[4] = {"alice", "bob\twith tab", "back\\slash", "new\nline\r"};
    const char *it[4] = {"sku-1", "sku-2", "sku-1", "\xc3\xa9t\xc3\xa9"};
    if (als_ratings_create(&r) || als_ratings_add_named(r, 4, u, it, NULL)) die("add_named");
    tmp(p, sizeof p, "d.ids");
    if (als_ratings_write_ids_run(r, p, 0x0123456789abcdefULL)) die("write_ids_run");
    seed_file("ids_dict", "run_names", NULL, 0, p);
    if (als_ratings_write_ids(r, p)) die("write_ids");
    seed_file("ids_dict", "names", NULL, 0, p);
    unlink(p);
    als_ratings_destroy(r);
}

/* The lookalike harness's files: MODEL.info, MODEL.ids and INDEX.meta of the fixture. */
static void lookalike_seeds(void) {
    for (int w = 0; w < 2; w++) {
        char csv[1200], model[1200], idx[1200], f[1300], nm[64];
        tmp(csv, sizeof csv, "r.csv");
        tmp(model, sizeof model, "lk.als");
        tmp(idx, sizeof idx, "lk.vidx");
        if (lk_fixture_write(csv, w == 0)) die(csv);
        const char *train[] = LK_FIXTURE_TRAIN(csv, model, w == 0);
        const char *index[] = {"index", "--model", model, "--out", idx, "--kind", "ivf", "--nlist", "3", NULL};
        if (lk_fixture_run(LK_FIXTURE_TRAIN_ARGC, train) || lk_fixture_run(9, index))
            die("lookalike train/index");
        /* byte 0: file | patch run (4) | model (8) | ivf (16) | variant << 5 */
        for (int variant = 0; variant < 4; variant++) {
            unsigned char pre[2] = {(unsigned char)(1 | 4 | w << 3 | 16 | variant << 5), (unsigned char)(variant * 0x29)};
            snprintf(f, sizeof f, "%s.info", model);
            snprintf(nm, sizeof nm, "info_m%d_v%d", w, variant);
            seed_file("lookalike", nm, pre, 2, f);
            pre[0] = (unsigned char)(2 | 4 | w << 3 | variant << 5);
            snprintf(f, sizeof f, "%s.ids", model);
            snprintf(nm, sizeof nm, "ids_m%d_v%d", w, variant);
            seed_file("lookalike", nm, pre, 2, f);
        }
        unsigned char pre[2] = {(unsigned char)(3 | 4 | w << 3 | 16), 0x80};
        snprintf(f, sizeof f, "%s.meta", idx);
        snprintf(nm, sizeof nm, "meta_m%d", w);
        seed_file("lookalike", nm, pre, 2, f);
        static const char *const sfx[] = {"", ".info", ".ids"};
        for (int s = 0; s < 3; s++) {
            snprintf(f, sizeof f, "%s%s", model, sfx[s]);
            unlink(f);
        }
        snprintf(f, sizeof f, "%s.meta", idx);
        unlink(f);
        unlink(idx);
        unlink(csv);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus OUTDIR\n");
        return 2;
    }
    out_dir = argv[1];
    setenv("OMP_NUM_THREADS", "1", 1);
    const char *base = getenv("TMPDIR");
    snprintf(tmp_dir, sizeof tmp_dir, "%s/alscorpus.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmp_dir)) die("mkdtemp");
    npy_seeds();
    index_seeds();
    model_seeds();
    ids_seeds();
    lookalike_seeds();
    rmdir(tmp_dir);
    return 0;
}
