/* vecidx_save / vecidx_load: round trips (flat and IVF, IP and L2, with ids, empty
 * indexes) give identical search results and properties; missing, foreign, corrupt,
 * truncated and size-inflated files fail cleanly; saves are atomic and leave no temp
 * files; .npy queries written and read back search identically. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

static als_matrix *gauss(int64_t n, int64_t d, uint64_t seed) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, n, d));
    if (n > 0) {
        float *p = als_matrix_data(m);
        uint64_t s = seed;
        for (int64_t i = 0; i < n * d; i++) p[i] = (float)tu_normal(&s);
    }
    return m;
}

static int64_t *make_ids(int64_t n, uint64_t seed) {
    int64_t *ids = malloc((size_t)(n + 1) * sizeof(int64_t));
    assert_non_null(ids);
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i++) ids[i] = (int64_t)(tu_next(&s) >> 2) * ((i % 2) ? 1 : -1) - 2;
    if (n > 0) ids[0] = INT64_MIN;
    if (n > 1) ids[1] = INT64_MAX;
    return ids;
}

typedef struct {
    float *s;
    int64_t *i;
    int64_t n;
} result;

static result search_r(const vecidx *idx, const als_matrix *q, int64_t k, const vecidx_filter *f) {
    result r;
    r.n = als_matrix_rows(q) * k;
    r.s = malloc((size_t)(r.n + 1) * sizeof(float));
    r.i = malloc((size_t)(r.n + 1) * sizeof(int64_t));
    assert_non_null(r.s);
    assert_non_null(r.i);
    memset(r.s, 0x7f, (size_t)(r.n + 1) * sizeof(float));
    memset(r.i, 0x5a, (size_t)(r.n + 1) * sizeof(int64_t));
    assert_ok(vecidx_search_filtered(idx, q, k, f, r.s, r.i));
    return r;
}

static void result_free(result *r) {
    free(r->s);
    free(r->i);
}

static void assert_same_search(const vecidx *a, const vecidx *b, const als_matrix *q, int64_t k,
                               const vecidx_filter *f) {
    result ra = search_r(a, q, k, f), rb = search_r(b, q, k, f);
    assert_memory_equal(ra.i, rb.i, (size_t)ra.n * sizeof(int64_t));
    assert_memory_equal(ra.s, rb.s, (size_t)ra.n * sizeof(float));
    result_free(&ra);
    result_free(&rb);
}

static const int param_keys[] = {VECIDX_PARAM_NPROBE, VECIDX_PARAM_SEED, VECIDX_PARAM_KMEANS_ITERS,
                                 VECIDX_PARAM_TRAIN_PER_LIST};

static void assert_same_props(const vecidx *a, const vecidx *b) {
    assert_int_equal(vecidx_size(a), vecidx_size(b));
    assert_int_equal(vecidx_dim(a), vecidx_dim(b));
    assert_int_equal(vecidx_metric(a), vecidx_metric(b));
    assert_int_equal(vecidx_kind(a), vecidx_kind(b));
    assert_int_equal(vecidx_nlist(a), vecidx_nlist(b));
    assert_int_equal(vecidx_is_trained(a), vecidx_is_trained(b));
    for (size_t i = 0; i < sizeof param_keys / sizeof param_keys[0]; i++) {
        int64_t va = -1, vb = -2;
        assert_ok(vecidx_get_int(a, param_keys[i], &va));
        assert_ok(vecidx_get_int(b, param_keys[i], &vb));
        assert_int_equal(va, vb);
    }
}

/* Non-default parameters, so that a round trip that drops them shows. */
static void set_params(vecidx *v) {
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_NPROBE, 5));
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_SEED, 4321));
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_KMEANS_ITERS, 9));
    assert_ok(vecidx_set_int(v, VECIDX_PARAM_TRAIN_PER_LIST, 100));
}

/* kind 0: flat; 1: IVF with nlist lists. */
static vecidx *make_index(int kind, int metric, int64_t n, int64_t d, int64_t nlist, uint64_t seed,
                          int with_ids) {
    vecidx *v = NULL;
    if (kind == VECIDX_KIND_FLAT) assert_ok(vecidx_flat_create(&v, d, metric));
    else assert_ok(vecidx_ivf_create(&v, d, metric, nlist));
    set_params(v);
    als_matrix *x = gauss(n, d, seed);
    if (metric == VECIDX_METRIC_IP && n > 0) assert_ok(als_matrix_normalize_rows(x));
    if (kind == VECIDX_KIND_IVF) assert_ok(vecidx_train(v, x));
    int64_t *ids = with_ids ? make_ids(n, seed + 1) : NULL;
    assert_ok(vecidx_add(v, x, ids));
    free(ids);
    als_matrix_destroy(x);
    return v;
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_all(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void assert_load_fails(const char *path, int code, const char *what, long long where) {
    vecidx *v = NULL;
    int rc = vecidx_load(&v, path);
    if (rc != code) {
        print_error("%s at %lld: vecidx_load returned %d (%s), expected %d; %s\n", what, where, rc,
                    als_strerror(rc), code, als_last_error());
        if (rc == ALS_OK) vecidx_destroy(v);
        fail();
    }
    assert_true(als_last_error()[0] != '\0');
}

static long max_rss_kb(void) {
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* ---------------------------------------------------------------- tests */

static void test_io_roundtrip(void **state) {
    (void)state;
    als_matrix *q = gauss(100, 12, 900);
    als_matrix *more = gauss(37, 12, 901);
    int64_t exid[3] = {INT64_MIN, 5, INT64_MAX};
    vecidx_filter *f = NULL;
    assert_ok(vecidx_filter_create(&f, exid, 3, VECIDX_FILTER_EXCLUDE));
    char path[256];
    for (int kind = 0; kind < 2; kind++) {
        for (int metric = 0; metric < 2; metric++) {
            vecidx *a = make_index(kind, metric, 3001, 12, 16, 10 + (uint64_t)(kind * 2 + metric), 1);
            tu_tmpname(path, sizeof path, ".vidx");
            assert_ok(vecidx_save(a, path));
            vecidx *b = NULL;
            assert_ok(vecidx_load(&b, path));
            assert_non_null(b);
            assert_same_props(a, b);
            assert_int_equal(vecidx_kind(b), kind);
            assert_int_equal(vecidx_metric(b), metric);
            assert_int_equal(vecidx_size(b), 3001);
            assert_int_equal(vecidx_dim(b), 12);
            assert_int_equal(vecidx_nlist(b), kind == VECIDX_KIND_IVF ? 16 : 0);
            int64_t np = 0;
            assert_ok(vecidx_get_int(b, VECIDX_PARAM_NPROBE, &np));
            assert_int_equal(np, 5);
            assert_same_search(a, b, q, 10, NULL);
            assert_same_search(a, b, q, 3100, NULL);
            assert_same_search(a, b, q, 10, f);
            if (kind == VECIDX_KIND_IVF) {
                for (int64_t p = 1; p <= 16; p *= 4) {
                    assert_ok(vecidx_set_int(a, VECIDX_PARAM_NPROBE, p));
                    assert_ok(vecidx_set_int(b, VECIDX_PARAM_NPROBE, p));
                    assert_same_search(a, b, q, 10, NULL);
                }
            }
            /* the loaded index keeps working: consecutive ids continue at the size */
            assert_ok(vecidx_add(a, more, NULL));
            assert_ok(vecidx_add(b, more, NULL));
            assert_same_search(a, b, q, 20, NULL);
            /* a second save of the loaded index loads to the same thing again */
            assert_ok(vecidx_save(b, path));
            vecidx *c = NULL;
            assert_ok(vecidx_load(&c, path));
            assert_same_props(b, c);
            assert_same_search(b, c, q, 10, NULL);
            vecidx_destroy(a);
            vecidx_destroy(b);
            vecidx_destroy(c);
            assert_int_equal(unlink(path), 0);
        }
    }
    vecidx_filter_destroy(f);
    als_matrix_destroy(q);
    als_matrix_destroy(more);
}

static void test_io_empty(void **state) {
    (void)state;
    char path[256];
    als_matrix *q = gauss(3, 6, 1);
    als_matrix *x = gauss(200, 6, 2);
    float s[12];
    int64_t id[12];
    for (int metric = 0; metric < 2; metric++) {
        /* flat, empty */
        vecidx *a = NULL, *b = NULL;
        assert_ok(vecidx_flat_create(&a, 6, metric));
        tu_tmpname(path, sizeof path, ".vidx");
        assert_ok(vecidx_save(a, path));
        assert_ok(vecidx_load(&b, path));
        assert_same_props(a, b);
        assert_int_equal(vecidx_size(b), 0);
        assert_ok(vecidx_search(b, q, 4, s, id));
        for (int j = 0; j < 12; j++) {
            assert_int_equal(id[j], -1);
            assert_true(isinf(s[j]));
        }
        assert_ok(vecidx_add(b, x, NULL));
        assert_ok(vecidx_add(a, x, NULL));
        assert_same_search(a, b, q, 4, NULL);
        vecidx_destroy(a);
        vecidx_destroy(b);

        /* IVF, untrained */
        assert_ok(vecidx_ivf_create(&a, 6, metric, 8));
        set_params(a);
        assert_ok(vecidx_save(a, path));
        assert_ok(vecidx_load(&b, path));
        assert_same_props(a, b);
        assert_int_equal(vecidx_is_trained(b), 0);
        assert_int_equal(vecidx_nlist(b), 8);
        assert_fails_with(vecidx_search(b, q, 4, s, id), ALS_ESTATE);
        assert_fails_with(vecidx_add(b, x, NULL), ALS_ESTATE);
        /* training the loaded one gives the same index as training the original */
        assert_ok(vecidx_train(a, x));
        assert_ok(vecidx_train(b, x));
        assert_ok(vecidx_add(a, x, NULL));
        assert_ok(vecidx_add(b, x, NULL));
        assert_same_search(a, b, q, 4, NULL);
        vecidx_destroy(a);
        vecidx_destroy(b);

        /* IVF, trained but empty */
        assert_ok(vecidx_ivf_create(&a, 6, metric, 8));
        assert_ok(vecidx_train(a, x));
        assert_ok(vecidx_save(a, path));
        assert_ok(vecidx_load(&b, path));
        assert_same_props(a, b);
        assert_int_equal(vecidx_is_trained(b), 1);
        assert_int_equal(vecidx_size(b), 0);
        assert_ok(vecidx_search(b, q, 4, s, id));
        for (int j = 0; j < 12; j++) assert_int_equal(id[j], -1);
        assert_ok(vecidx_add(a, x, NULL));
        assert_ok(vecidx_add(b, x, NULL));
        assert_same_search(a, b, q, 4, NULL);
        vecidx_destroy(a);
        vecidx_destroy(b);
        assert_int_equal(unlink(path), 0);
    }
    als_matrix_destroy(q);
    als_matrix_destroy(x);
}

static void test_io_errors(void **state) {
    (void)state;
    char path[256];
    vecidx *v = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_IP, 10, 4, 0, 3, 0);
    vecidx *out = NULL;
    tu_tmpname(path, sizeof path, ".vidx");
    assert_fails_with(vecidx_save(NULL, path), ALS_EINVAL);
    assert_fails_with(vecidx_save(v, NULL), ALS_EINVAL);
    assert_fails_with(vecidx_load(NULL, path), ALS_EINVAL);
    assert_fails_with(vecidx_load(&out, NULL), ALS_EINVAL);
    /* missing file */
    assert_fails_with(vecidx_load(&out, path), ALS_ENOTFOUND);
    assert_fails_with(vecidx_load(&out, "/nonexistent-dir-for-vecidx-test/x.vidx"), ALS_ENOTFOUND);
    /* unwritable destinations */
    assert_fails_with(vecidx_save(v, "/nonexistent-dir-for-vecidx-test/x.vidx"), ALS_EIO);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/no/such/dir.vidx", path);
    assert_fails_with(vecidx_save(v, sub), ALS_EIO);
    char dir[] = "/tmp/vecidx-io-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_fails_with(vecidx_save(v, dir), ALS_EIO); /* the path is a directory */
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(rmdir(dir), 0);
    vecidx_destroy(v);
}

static void test_io_foreign_files(void **state) {
    (void)state;
    char path[256];
    tu_tmpname(path, sizeof path, ".bin");
    /* random bytes */
    unsigned char buf[4096];
    uint64_t s = 77;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)tu_next(&s);
    write_all(path, buf, sizeof buf);
    assert_load_fails(path, ALS_EFORMAT, "random bytes", 0);
    /* text */
    const char *text = "user,item,rating\n1,2,3.5\n4,5,1.0\nthis is not an index\n";
    write_all(path, text, strlen(text));
    assert_load_fails(path, ALS_EFORMAT, "text file", 0);
    /* empty file, one byte */
    write_all(path, "", 0);
    assert_load_fails(path, ALS_EFORMAT, "empty file", 0);
    write_all(path, "V", 1);
    assert_load_fails(path, ALS_EFORMAT, "one byte", 0);
    /* a valid .npy file */
    als_matrix *m = gauss(50, 8, 5);
    char npy[256];
    tu_tmpname(npy, sizeof npy, ".npy");
    assert_ok(als_matrix_write_npy(m, npy));
    assert_load_fails(npy, ALS_EFORMAT, ".npy file", 0);
    /* only the first 16 bytes of a real index file */
    vecidx *v = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_L2, 10, 4, 0, 6, 1);
    assert_ok(vecidx_save(v, path));
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    assert_true(len > 16);
    write_all(path, b, 16);
    assert_load_fails(path, ALS_EFORMAT, "first 16 bytes", 16);
    free(b);
    vecidx_destroy(v);
    als_matrix_destroy(m);
    unlink(npy);
    unlink(path);
}

/* Flip one byte (two different ways) at offsets across header and payload. */
static void corrupt_file(vecidx *v, const char *what) {
    char path[256], bad[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(bad, sizeof bad, ".vidx");
    assert_ok(vecidx_save(v, path));
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    assert_true(len > 64);
    /* the untouched copy loads */
    write_all(bad, b, len);
    vecidx *ok = NULL;
    assert_ok(vecidx_load(&ok, bad));
    vecidx_destroy(ok);
    int tried = 0;
    for (size_t off = 0; off < len; off++) {
        int pick = off < 128 || off + 16 >= len || off % (len / 41 + 1) == 0;
        if (!pick) continue;
        const unsigned char masks[2] = {0x01, 0xA5};
        for (int mi = 0; mi < 2; mi++) {
            b[off] ^= masks[mi];
            write_all(bad, b, len);
            assert_load_fails(bad, ALS_EFORMAT, what, (long long)off);
            b[off] ^= masks[mi];
            tried++;
        }
    }
    assert_true(tried > 200);
    free(b);
    unlink(bad);
    unlink(path);
}

static void test_io_corrupt(void **state) {
    (void)state;
    vecidx *f = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_IP, 40, 8, 0, 20, 1);
    vecidx *fl = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_L2, 2000, 16, 0, 21, 1);
    vecidx *iv = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_L2, 60, 8, 4, 22, 1);
    vecidx *ivb = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_IP, 3000, 8, 32, 23, 0);
    corrupt_file(f, "flat IP, flipped byte");
    corrupt_file(fl, "flat L2 2000 rows, flipped byte");
    corrupt_file(iv, "IVF L2, flipped byte");
    corrupt_file(ivb, "IVF IP 3000 rows, flipped byte");
    vecidx_destroy(f);
    vecidx_destroy(fl);
    vecidx_destroy(iv);
    vecidx_destroy(ivb);
}

/* Truncate a copy at every 7th offset (and at len - 1): every one is ALS_EFORMAT. */
static void truncate_file(vecidx *v, const char *what) {
    char path[256], bad[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(bad, sizeof bad, ".vidx");
    assert_ok(vecidx_save(v, path));
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    int tried = 0;
    for (size_t cut = 0; cut < len; cut = (cut + 7 < len || cut == len - 1) ? cut + 7 : len - 1) {
        write_all(bad, b, len);
        int fd = open(bad, O_WRONLY);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t)cut), 0);
        assert_int_equal(close(fd), 0);
        assert_load_fails(bad, ALS_EFORMAT, what, (long long)cut);
        tried++;
        if (cut == len - 1) break;
    }
    assert_true(tried >= (int)(len / 7));
    free(b);
    unlink(bad);
    unlink(path);
}

static void test_io_truncated(void **state) {
    (void)state;
    vecidx *f = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_L2, 50, 8, 0, 30, 1);
    vecidx *iv = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_IP, 80, 8, 4, 31, 1);
    vecidx *e = NULL;
    assert_ok(vecidx_flat_create(&e, 3, VECIDX_METRIC_IP));
    truncate_file(f, "flat, truncated");
    truncate_file(iv, "IVF, truncated");
    truncate_file(e, "empty flat, truncated");
    vecidx_destroy(f);
    vecidx_destroy(iv);
    vecidx_destroy(e);
}

/* Sizes in the header patched to 0xFF...: ALS_EFORMAT, and no huge allocation. */
static void test_io_huge_sizes(void **state) {
    (void)state;
    vecidx *v[2] = {make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_IP, 30, 8, 0, 40, 1),
                    make_index(VECIDX_KIND_IVF, VECIDX_METRIC_L2, 60, 8, 4, 41, 1)};
    char path[256], bad[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(bad, sizeof bad, ".vidx");
    long rss0 = max_rss_kb();
    for (int w = 0; w < 2; w++) {
        assert_ok(vecidx_save(v[w], path));
        size_t len = 0;
        unsigned char *b = read_all(path, &len);
        unsigned char *c = malloc(len);
        assert_non_null(c);
        for (size_t pos = 4; pos < 128 && pos < len; pos += 2) {
            for (int width = 4; width <= 8; width += 4) {
                memcpy(c, b, len);
                for (int j = 0; j < width && pos + (size_t)j < len; j++) c[pos + (size_t)j] = 0xFF;
                if (memcmp(c, b, len) == 0) continue;
                write_all(bad, c, len);
                assert_load_fails(bad, ALS_EFORMAT, "0xFF-patched header", (long long)pos);
                /* a large but not all-ones value */
                memcpy(c, b, len);
                for (int j = 0; j < width && pos + (size_t)j < len; j++) c[pos + (size_t)j] = (j == width - 1) ? 0x3F : 0xFF;
                if (memcmp(c, b, len) == 0) continue;
                write_all(bad, c, len);
                assert_load_fails(bad, ALS_EFORMAT, "0x3FFF..-patched header", (long long)pos);
            }
        }
        free(b);
        free(c);
    }
    long rss1 = max_rss_kb();
    if (rss1 - rss0 > 200 * 1024) {
        print_error("peak RSS grew by %ld kB while loading inflated headers\n", rss1 - rss0);
        fail();
    }
    unlink(bad);
    unlink(path);
    vecidx_destroy(v[0]);
    vecidx_destroy(v[1]);
}

/* ---- the documented layout (docs/formats.md): 128-byte header (version 2), payload of
 *      64-byte aligned sections (ids, panels of 16 vectors dimension-major, L2 bias),
 *      CRC-32 trailer */

static uint32_t crc32_ref(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Recompute both checksums, so that only the field checks can reject the file. */
static void resign(unsigned char *b, size_t len) {
    put_le(b + 104, crc32_ref(b, 104), 4);
    put_le(b + len - 4, crc32_ref(b + 128, len - 132), 4);
}

typedef struct {
    size_t off;
    int bytes;
    uint64_t value;
    const char *what;
} patch;

static void apply_patches(const unsigned char *orig, size_t len, const patch *p, size_t np,
                          const char *bad) {
    unsigned char *c = malloc(len);
    assert_non_null(c);
    for (size_t i = 0; i < np; i++) {
        memcpy(c, orig, len);
        assert_true(p[i].off + (size_t)p[i].bytes <= len - 4);
        put_le(c + p[i].off, p[i].value, p[i].bytes);
        if (memcmp(c, orig, len) == 0) {
            print_error("patch '%s' changes nothing\n", p[i].what);
            fail();
        }
        resign(c, len);
        write_all(bad, c, len);
        assert_load_fails(bad, ALS_EFORMAT, p[i].what, (long long)p[i].off);
        /* header fields: a mapped load refuses them too, except n moved within its last
         * panel (29..33 of 30), which only the vectors' padding shows (vecidx_verify) */
        if (p[i].off < 128 && !(p[i].off == 32 && p[i].value < 64)) {
            vecidx *m = NULL;
            int rc = vecidx_load_mmap(&m, bad);
            if (rc != ALS_EFORMAT) {
                print_error("%s at %zu: vecidx_load_mmap returned %d\n", p[i].what, p[i].off, rc);
                vecidx_destroy(m);
                fail();
            }
        }
    }
    free(c);
}

static size_t pad64(size_t n) { return (n + 63) / 64 * 64; }
static size_t npan(size_t n) { return (n + 15) / 16; }

/* Header fields out of range or inconsistent with the file, with valid checksums:
 * ALS_EFORMAT, and no allocation sized by the bogus fields. */
static void test_io_resigned_fields(void **state) {
    (void)state;
    char path[256], bad[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(bad, sizeof bad, ".vidx");
    long rss0 = max_rss_kb();

    /* flat, L2, explicit ids, n = 30, d = 8: ids (240 -> 256 bytes), 2 panels, 2 x 16 norms */
    vecidx *f = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_L2, 30, 8, 0, 70, 1);
    assert_ok(vecidx_save(f, path));
    size_t len = 0;
    unsigned char *b = read_all(path, &len);
    const size_t ids0 = 128, pan0 = ids0 + 256, bias0 = pan0 + 2 * 8 * 64;
    assert_true(len == bias0 + 2 * 64 + 4);
    assert_memory_equal(b, "\x89VECIDX\n", 8);
    assert_int_equal(get_le(b + 8, 4), 2);
    assert_int_equal(get_le(b + 32, 8), 30);
    assert_int_equal(get_le(b + 88, 8), len - 132);
    /* the panels are what the format says: vector i, dim j at panel i/16, (j*16 + i%16) */
    {
        als_matrix *x = gauss(30, 8, 70);
        const float *xd = als_matrix_data(x);
        for (size_t i = 0; i < 30; i++)
            for (size_t j = 0; j < 8; j++) {
                float v;
                memcpy(&v, b + pan0 + ((i / 16) * 8 * 16 + j * 16 + i % 16) * 4, 4);
                assert_true(v == xd[i * 8 + j]);
            }
        als_matrix_destroy(x);
    }
    /* re-signing the untouched file keeps it loadable: the checksums are what we think */
    {
        unsigned char *c = malloc(len);
        assert_non_null(c);
        memcpy(c, b, len);
        resign(c, len);
        assert_memory_equal(c, b, len);
        free(c);
    }
    const patch fp[] = {
        {8, 4, 3, "newer format version"},
        {8, 4, 0, "format version 0"},
        {12, 4, 0x04030201u, "byte-swapped endian marker"},
        {16, 4, 7, "unknown kind"},
        {20, 4, 5, "unknown metric"},
        {20, 4, 0, "inner product: no norms expected (sizes no longer match)"},
        {24, 8, 0, "dim 0"},
        {24, 8, 65537, "dim 65537"},
        {24, 8, (uint64_t)1 << 40, "dim 2^40"},
        {24, 8, UINT64_MAX, "dim -1"},
        {32, 8, 31, "n + 1"},
        {32, 8, 29, "n - 1"},
        {32, 8, 33, "n + 3 (same panel count)"},
        {32, 8, (uint64_t)1 << 40, "n 2^40"},
        {32, 8, (uint64_t)1 << 62, "n 2^62"},
        {32, 8, UINT64_MAX, "n -1"},
        {40, 8, 4, "nlist on a flat index"},
        {48, 8, 0, "nprobe 0"},
        {64, 8, 0, "kmeans iterations 0"},
        {72, 8, 0, "train per list 0"},
        {56, 8, UINT64_MAX, "seed -1"},
        {80, 4, 0, "flags without ids (sizes no longer match)"},
        {80, 4, 4, "unknown flag"},
        {84, 4, 1, "reserved word 84 not zero"},
        {108, 4, 1, "reserved byte 108 not zero"},
        {124, 4, 1, "reserved byte 124 not zero"},
        {88, 8, len - 132 + 8, "payload size + 8"},
        {88, 8, UINT64_MAX, "payload size 2^64-1"},
        {88, 8, (uint64_t)1 << 40, "payload size 2^40"},
        {ids0, 8, UINT64_MAX, "id -1 stored"},
        {pan0 + 4 * 5, 4, 0x7FC00000u, "NaN stored"},
        {pan0 + 4 * (16 * 3 + 9), 4, 0x7F800000u, "Inf stored"},
        {pan0 + 8 * 64 + 4 * 14, 4, 0x3F800000u, "padding lane (vector 30) not zero"},
        {bias0 + 4 * 3, 4, 0x3F000000u, "a norm that does not match its vector"},
        {bias0 + 4 * 17, 4, 0, "a zeroed norm"},
    };
    apply_patches(b, len, fp, sizeof fp / sizeof fp[0], bad);
    /* trailing garbage and a missing trailer byte */
    {
        unsigned char *c = malloc(len + 1);
        assert_non_null(c);
        memcpy(c, b, len);
        c[len] = 0;
        write_all(bad, c, len + 1);
        assert_load_fails(bad, ALS_EFORMAT, "one byte appended", (long long)len);
        write_all(bad, c, len - 1);
        assert_load_fails(bad, ALS_EFORMAT, "trailer cut", (long long)len - 1);
        free(c);
    }
    free(b);
    vecidx_destroy(f);

    /* IVF, nlist = 4, n = 60, d = 8, IP: centroids (128 bytes), sizes (32 -> 64), lists */
    vecidx *v = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_IP, 60, 8, 4, 71, 1);
    assert_ok(vecidx_save(v, path));
    b = read_all(path, &len);
    size_t sizes = 128 + 128, want = sizes + 64 + 4;
    uint64_t s0 = get_le(b + sizes, 8);
    for (int l = 0; l < 4; l++) {
        size_t nl = (size_t)get_le(b + sizes + 8 * (size_t)l, 8);
        want += pad64(nl * 8) + npan(nl) * 8 * 64;
    }
    assert_true(len == want);
    const patch vp[] = {
        {40, 8, 0, "nlist 0"},
        {40, 8, 5, "nlist + 1"},
        {40, 8, 2147483648ull, "nlist 2^31"},
        {40, 8, (uint64_t)1 << 40, "nlist 2^40"},
        {40, 8, UINT64_MAX, "nlist -1"},
        {32, 8, (uint64_t)1 << 40, "IVF n 2^40"},
        {32, 8, 61, "IVF n + 1"},
        {80, 4, 0, "IVF holding vectors but flagged untrained"},
        {88, 8, (uint64_t)1 << 50, "IVF payload 2^50"},
        {sizes, 8, s0 + 1, "list sizes add up to n + 1"},
        {sizes, 8, UINT64_MAX, "list size -1"},
        {sizes, 8, (uint64_t)1 << 40, "list size 2^40"},
        {128, 4, 0x7FC00000u, "NaN centroid"},
    };
    apply_patches(b, len, vp, sizeof vp / sizeof vp[0], bad);
    /* a list size moved from one list to the next keeps the sum: the payload no longer fits */
    if (s0 > 0) {
        unsigned char *c = malloc(len);
        assert_non_null(c);
        memcpy(c, b, len);
        put_le(c + sizes, s0 - 1, 8);
        put_le(c + sizes + 8, get_le(b + sizes + 8, 8) + 1, 8);
        resign(c, len);
        write_all(bad, c, len);
        assert_load_fails(bad, ALS_EFORMAT, "one vector moved to another list", 0);
        free(c);
    }
    free(b);
    vecidx_destroy(v);

    long rss1 = max_rss_kb();
    if (rss1 - rss0 > 200 * 1024) {
        print_error("peak RSS grew by %ld kB while loading bogus headers\n", rss1 - rss0);
        fail();
    }
    unlink(bad);
    unlink(path);
}

/* A version-2 file rewritten as version 1 (the 1.0 layout: 96-byte header, row-major
 * vectors, no padding), by this test's own reading of the documented layouts. */
static unsigned char *v2_to_v1(const unsigned char *b, size_t len, size_t *out_len) {
    (void)len;
    int ivf = get_le(b + 16, 4) == 1, l2 = get_le(b + 20, 4) == 1, with_ids = get_le(b + 80, 4) & 1;
    size_t d = (size_t)get_le(b + 24, 8), n = (size_t)get_le(b + 32, 8), nlist = (size_t)get_le(b + 40, 8);
    size_t cap = 96 + nlist * (d * 4 + 8) + n * (8 + d * 4) + 4;
    unsigned char *o = calloc(cap, 1);
    assert_non_null(o);
    memcpy(o, b, 84);
    put_le(o + 8, 1, 4);
    size_t w = 96;
    const unsigned char *p = b + 128;
    /* copy `rows` vectors (ids first when with) from a v2 store at p, return its end */
#define STORE_TO_V1(rows, ids)                                                                  \
    do {                                                                                        \
        size_t rr = (rows);                                                                     \
        if (ids) {                                                                              \
            memcpy(o + w, p, rr * 8);                                                           \
            w += rr * 8;                                                                        \
            p += pad64(rr * 8);                                                                 \
        }                                                                                       \
        for (size_t i = 0; i < rr; i++)                                                         \
            for (size_t j = 0; j < d; j++, w += 4)                                              \
                memcpy(o + w, p + ((i / 16) * d * 16 + j * 16 + i % 16) * 4, 4);               \
        p += npan(rr) * d * 64 + (l2 ? npan(rr) * 64 : 0);                                      \
    } while (0)
    if (ivf) {
        memcpy(o + w, p, nlist * d * 4);
        w += nlist * d * 4;
        p += pad64(nlist * d * 4);
        const unsigned char *sz = p;
        memcpy(o + w, p, nlist * 8);
        w += nlist * 8;
        p += pad64(nlist * 8);
        for (size_t l = 0; l < nlist; l++) STORE_TO_V1((size_t)get_le(sz + 8 * l, 8), 1);
    } else {
        STORE_TO_V1(n, with_ids);
    }
#undef STORE_TO_V1
    put_le(o + 88, w - 96, 8);
    put_le(o + 84, crc32_ref(o, 84), 4);
    put_le(o + w, crc32_ref(o + 96, w - 96), 4);
    *out_len = w + 4;
    return o;
}

/* The run identity is saved and loaded; a version-1 file loads with identity 0 and
 * searches alike, and cannot be mapped; an empty index of the largest dimension loads
 * without a staging buffer sized by dim alone. */
static void test_io_run_id_and_v1(void **state) {
    (void)state;
    char path[256], v1[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(v1, sizeof v1, ".vidx");
    als_matrix *q = gauss(15, 8, 90);
    for (int kind = 0; kind < 2; kind++)
        for (int metric = 0; metric < 2; metric++) {
            vecidx *a = make_index(kind ? VECIDX_KIND_IVF : VECIDX_KIND_FLAT, metric, 300, 8,
                                   kind ? 6 : 0, 91, 1), *b = NULL;
            assert_true(vecidx_run_id(a) == 0);
            assert_int_equal(vecidx_set_run_id(NULL, 5), ALS_EINVAL);
            assert_ok(vecidx_set_run_id(a, 0xFEDCBA9876543210ull));
            assert_true(vecidx_run_id(a) == 0xFEDCBA9876543210ull);
            assert_ok(vecidx_save(a, path));
            assert_ok(vecidx_load(&b, path));
            assert_true(vecidx_run_id(b) == 0xFEDCBA9876543210ull);
            assert_same_search(a, b, q, 7, NULL);
            vecidx_destroy(b);
            size_t len, l1;
            unsigned char *h = read_all(path, &len);
            assert_true(get_le(h + 96, 8) == 0xFEDCBA9876543210ull);
            unsigned char *c = v2_to_v1(h, len, &l1);
            write_all(v1, c, l1);
            b = NULL;
            assert_ok(vecidx_load(&b, v1));
            assert_true(vecidx_run_id(b) == 0);
            assert_same_search(a, b, q, 7, NULL);
            vecidx_destroy(b);
            b = NULL;
            assert_int_equal(vecidx_load_mmap(&b, v1), ALS_EUNSUPPORTED);
            assert_null(b);
            free(c);
            free(h);
            vecidx_destroy(a);
        }
    als_matrix_destroy(q);
    /* a version-1 IVF file smaller than version 2's padded head (nlist 1, dim 2, one
     * vector: a 32-byte payload) loads too */
    {
        vecidx *t = NULL, *tl = NULL;
        float one[2] = {1.0f, 2.0f};
        als_matrix *x1 = NULL;
        assert_ok(als_matrix_wrap(&x1, one, 1, 2, 2));
        assert_ok(vecidx_ivf_create(&t, 2, VECIDX_METRIC_IP, 1));
        assert_ok(vecidx_train(t, x1));
        assert_ok(vecidx_add(t, x1, NULL));
        assert_ok(vecidx_save(t, path));
        size_t len, l1;
        unsigned char *h = read_all(path, &len), *c = v2_to_v1(h, len, &l1);
        assert_int_equal(get_le(c + 88, 8), 32);
        write_all(v1, c, l1);
        assert_ok(vecidx_load(&tl, v1));
        assert_int_equal(vecidx_size(tl), 1);
        vecidx_destroy(tl);
        vecidx_destroy(t);
        als_matrix_destroy(x1);
        free(c);
        free(h);
    }
    /* an empty flat index of dim 65536: loading it must not stage 4096 x dim floats */
    vecidx *e = NULL, *le = NULL;
    assert_ok(vecidx_flat_create(&e, 65536, VECIDX_METRIC_IP));
    assert_ok(vecidx_save(e, path));
    assert_ok(vecidx_load(&le, path));
    assert_int_equal(vecidx_size(le), 0);
    assert_int_equal(vecidx_dim(le), 65536);
    vecidx_destroy(le);
#ifndef __SANITIZE_ADDRESS__ /* ASan reserves terabytes of address space up front */
    /* an untouched malloc does not show in the RSS, so the address space is what is capped:
     * a child may grow by 256 MiB, a quarter of what 4096 x 65536 floats would take */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        long pages = 0;
        FILE *sm = fopen("/proc/self/statm", "r");
        if (!sm || fscanf(sm, "%ld", &pages) != 1) _exit(3);
        fclose(sm);
        struct rlimit lim;
        lim.rlim_cur = lim.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (256u << 20);
        if (setrlimit(RLIMIT_AS, &lim)) _exit(4);
        vecidx *c = NULL;
        int rc = vecidx_load(&c, path);
        vecidx_destroy(c);
        _exit(rc == ALS_OK ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("loading an empty dim-65536 index needs more than 256 MiB of address space "
                    "(child status %d)\n", status);
        fail();
    }
#endif
    vecidx_destroy(e);
    unlink(v1);
    unlink(path);
}

/* vecidx_load_mmap: the same results as a loaded copy for every kind and metric (and
 * filters, k past the size), read-only, verify finds corruption, structural corruption is
 * refused at load, and a save over the path leaves the mapped reader's version intact. */
static void test_io_mmap(void **state) {
    (void)state;
    char path[256], bad[256];
    tu_tmpname(path, sizeof path, ".vidx");
    tu_tmpname(bad, sizeof bad, ".vidx");
    als_matrix *q = gauss(40, 12, 95);
    for (int kind = 0; kind < 2; kind++)
        for (int metric = 0; metric < 2; metric++)
            for (int with_ids = 0; with_ids < 2; with_ids++) {
                vecidx *a = make_index(kind ? VECIDX_KIND_IVF : VECIDX_KIND_FLAT, metric, 1000, 12,
                                       kind ? 9 : 0, 96, with_ids), *l = NULL, *m = NULL;
                if (kind) assert_ok(vecidx_set_int(a, VECIDX_PARAM_NPROBE, 3));
                assert_ok(vecidx_save(a, path));
                assert_ok(vecidx_load(&l, path));
                assert_ok(vecidx_load_mmap(&m, path));
                assert_true(vecidx_is_mapped(m));
                assert_false(vecidx_is_mapped(l));
                assert_int_equal(vecidx_size(m), 1000);
                assert_same_search(l, m, q, 10, NULL);
                assert_same_search(a, m, q, 1005, NULL);
                vecidx_filter *f = NULL;
                int64_t ex[3] = {0, 5, 17};
                assert_ok(vecidx_filter_create(&f, ex, 3, VECIDX_FILTER_EXCLUDE));
                assert_same_search(l, m, q, 10, f);
                vecidx_filter_destroy(f);
                assert_ok(vecidx_verify(m));
                assert_ok(vecidx_verify(l));
                /* read-only */
                als_matrix *x = gauss(5, 12, 97);
                assert_int_equal(vecidx_add(m, x, NULL), ALS_ESTATE);
                if (kind) assert_int_equal(vecidx_train(m, x), ALS_ESTATE);
                als_matrix_destroy(x);
                /* a mapped index saves as a normal file */
                assert_ok(vecidx_save(m, bad));
                vecidx *r = NULL;
                assert_ok(vecidx_load(&r, bad));
                assert_same_search(l, r, q, 10, NULL);
                vecidx_destroy(r);
                /* saving another index over the path: the mapped reader keeps its version */
                vecidx *other = make_index(VECIDX_KIND_FLAT, metric, 50, 12, 0, 98, 0);
                assert_ok(vecidx_save(other, path));
                assert_same_search(l, m, q, 10, NULL);
                vecidx_destroy(other);
                vecidx_destroy(m);
                vecidx_destroy(l);
                vecidx_destroy(a);
            }
    /* corruption: a payload byte is found by verify, not at load; structure is found at load */
    vecidx *a = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_L2, 500, 12, 5, 99, 1), *m = NULL;
    assert_ok(vecidx_save(a, path));
    size_t len;
    unsigned char *b = read_all(path, &len);
    unsigned char *c = malloc(len);
    assert_non_null(c);
    memcpy(c, b, len);
    c[len - 200] ^= 0x10; /* inside the last list's vectors or norms */
    write_all(bad, c, len);
    assert_ok(vecidx_load_mmap(&m, bad));
    assert_int_equal(vecidx_verify(m), ALS_EFORMAT);
    vecidx_destroy(m);
    m = NULL;
    assert_int_equal(vecidx_load(&m, bad), ALS_EFORMAT);
    size_t sizes = 128 + pad64(5 * 12 * 4);
    memcpy(c, b, len);
    put_le(c + sizes, get_le(b + sizes, 8) + 1, 8); /* list sizes no longer add up */
    resign(c, len);
    write_all(bad, c, len);
    m = (vecidx *)(void *)&m;
    assert_int_equal(vecidx_load_mmap(&m, bad), ALS_EFORMAT);
    assert_null(m);
    for (size_t cut = len - 1; cut > 0; cut = cut * 3 / 4) { /* truncated anywhere */
        write_all(bad, b, cut);
        m = (vecidx *)(void *)&m;
        int rc = vecidx_load_mmap(&m, bad);
        assert_true(rc == ALS_EFORMAT);
        assert_null(m);
    }
    write_all(bad, b, 0);
    assert_int_equal(vecidx_load_mmap(&m, bad), ALS_EFORMAT);
    /* an untrained IVF file with a NaN in its (unused) centroids: both loads refuse it */
    {
        vecidx *u = NULL;
        assert_ok(vecidx_ivf_create(&u, 4, VECIDX_METRIC_IP, 3));
        assert_ok(vecidx_save(u, bad));
        size_t ul;
        unsigned char *ub = read_all(bad, &ul);
        put_le(ub + 128 + 4 * 5, 0x7FC00000u, 4);
        resign(ub, ul);
        write_all(bad, ub, ul);
        assert_load_fails(bad, ALS_EFORMAT, "NaN centroid, untrained", 128);
        m = (vecidx *)(void *)&m;
        assert_int_equal(vecidx_load_mmap(&m, bad), ALS_EFORMAT);
        assert_null(m);
        free(ub);
        vecidx_destroy(u);
    }
    assert_int_equal(vecidx_load_mmap(&m, "/nonexistent/x.vidx"), ALS_ENOTFOUND);
    assert_int_equal(vecidx_load_mmap(NULL, path), ALS_EINVAL);
    assert_int_equal(vecidx_verify(NULL), ALS_EINVAL);
    free(c);
    free(b);
    vecidx_destroy(a);
    als_matrix_destroy(q);
    unlink(bad);
    unlink(path);
}

static int list_dir(const char *dir, char names[][256], int max) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n < max) snprintf(names[n], 256, "%s", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int in_dir(char names[][256], int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

static void touch(const char *dir, const char *name, time_t age) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs("partial", f);
    assert_int_equal(fclose(f), 0);
    struct timespec t[2];
    t[0].tv_sec = t[1].tv_sec = time(NULL) - age;
    t[0].tv_nsec = t[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
}

/* Temporary files left by saves that were killed (issue 11 F6) are removed by the next save
 * of the same path: those of processes that no longer exist, and 1.0-style ones older than
 * an hour. A live process's temporary file, a young 1.0-style one and other paths' files
 * are left alone. */
static void test_io_stale_temps(void **state) {
    (void)state;
    char dir[] = "/tmp/vecidx-stale-XXXXXX";
    assert_non_null(mkdtemp(dir));
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0) _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead); /* reaped: the pid is free now */
    char gone[64], live[64], other[64];
    snprintf(gone, sizeof gone, "index.vidx.tmp.%ld.Ab12Cd", (long)dead);
    snprintf(live, sizeof live, "index.vidx.tmp.%ld.Ab12Cd", (long)getppid());
    snprintf(other, sizeof other, "other.vidx.tmp.%ld.Ab12Cd", (long)dead);
    touch(dir, gone, 0);
    touch(dir, live, 0);
    touch(dir, other, 0);
    touch(dir, "index.vidx.tmp.Old123", 7200);
    touch(dir, "index.vidx.tmp.New123", 60);
    char path[300];
    snprintf(path, sizeof path, "%s/index.vidx", dir);
    vecidx *a = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_IP, 50, 8, 0, 61, 1);
    assert_ok(vecidx_save(a, path));
    char names[16][256];
    int n = list_dir(dir, names, 16);
    assert_true(in_dir(names, n, "index.vidx"));
    assert_false(in_dir(names, n, gone));
    assert_false(in_dir(names, n, "index.vidx.tmp.Old123"));
    assert_true(in_dir(names, n, live));
    assert_true(in_dir(names, n, other));
    assert_true(in_dir(names, n, "index.vidx.tmp.New123"));
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++) {
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    vecidx_destroy(a);
}

/* Saving over an existing file replaces it by rename: a hard link to the old file keeps
 * the old index, and no temporary file is left behind. */
static void test_io_atomic_overwrite(void **state) {
    (void)state;
    char dir[] = "/tmp/vecidx-io-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[300], old[300];
    snprintf(path, sizeof path, "%s/index.vidx", dir);
    snprintf(old, sizeof old, "%s/old.vidx", dir);
    vecidx *a = make_index(VECIDX_KIND_FLAT, VECIDX_METRIC_IP, 500, 8, 0, 50, 1);
    vecidx *b = make_index(VECIDX_KIND_IVF, VECIDX_METRIC_L2, 700, 8, 8, 51, 1);
    als_matrix *q = gauss(20, 8, 52);
    char names[8][256];

    assert_ok(vecidx_save(a, path));
    assert_int_equal(list_dir(dir, names, 8), 1);
    assert_string_equal(names[0], "index.vidx");
    struct stat st0, st1;
    assert_int_equal(stat(path, &st0), 0);
    assert_int_equal(link(path, old), 0);

    assert_ok(vecidx_save(b, path));
    assert_int_equal(stat(path, &st1), 0);
    assert_true(st0.st_ino != st1.st_ino); /* a new file was renamed into place */
    int n = list_dir(dir, names, 8);
    if (n != 2) {
        for (int i = 0; i < n && i < 8; i++) print_error("left in dir: %s\n", names[i]);
        fail();
    }
    vecidx *lb = NULL, *la = NULL;
    assert_ok(vecidx_load(&lb, path));
    assert_int_equal(vecidx_kind(lb), VECIDX_KIND_IVF);
    assert_same_props(b, lb);
    assert_same_search(b, lb, q, 10, NULL);
    assert_ok(vecidx_load(&la, old)); /* the old file was never written in place */
    assert_int_equal(vecidx_kind(la), VECIDX_KIND_FLAT);
    assert_same_props(a, la);
    assert_same_search(a, la, q, 10, NULL);

    /* a failing save leaves nothing behind either: a missing folder, and a path that is
     * a folder (the temporary file can be written beside it, the rename fails) */
    char nodir[300], sub[300];
    snprintf(nodir, sizeof nodir, "%s/missing/index.vidx", dir);
    assert_fails_with(vecidx_save(a, nodir), ALS_EIO);
    assert_int_equal(list_dir(dir, names, 8), 2);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_fails_with(vecidx_save(a, sub), ALS_EIO);
    n = list_dir(dir, names, 8);
    if (n != 3) {
        for (int i = 0; i < n && i < 8; i++) print_error("left in dir: %s\n", names[i]);
        fail();
    }
    assert_int_equal(list_dir(sub, names, 8), 0);
    assert_int_equal(rmdir(sub), 0);

    /* many saves in a row: still exactly two files */
    for (int i = 0; i < 5; i++) assert_ok(vecidx_save(i % 2 ? a : b, path));
    assert_int_equal(list_dir(dir, names, 8), 2);

    vecidx_destroy(la);
    vecidx_destroy(lb);
    vecidx_destroy(a);
    vecidx_destroy(b);
    als_matrix_destroy(q);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(old), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Queries and data through .npy files search exactly like the originals. */
static void test_io_npy_interplay(void **state) {
    (void)state;
    char qpath[256], xpath[256], ipath[256];
    tu_tmpname(qpath, sizeof qpath, ".npy");
    tu_tmpname(xpath, sizeof xpath, ".npy");
    tu_tmpname(ipath, sizeof ipath, ".vidx");
    als_matrix *q = gauss(64, 24, 60);
    als_matrix *x = gauss(2500, 24, 61);
    assert_ok(als_matrix_write_npy(q, qpath));
    assert_ok(als_matrix_write_npy(x, xpath));
    als_matrix *q2 = NULL, *x2 = NULL;
    assert_ok(als_matrix_read_npy(&q2, qpath));
    assert_ok(als_matrix_read_npy(&x2, xpath));
    assert_int_equal(als_matrix_rows(q2), 64);
    assert_int_equal(als_matrix_cols(q2), 24);
    assert_int_equal(als_matrix_rows(x2), 2500);
    assert_int_equal(als_matrix_cols(x2), 24);
    for (int64_t i = 0; i < 64; i++)
        assert_memory_equal(als_matrix_data(q) + i * als_matrix_stride(q),
                            als_matrix_data(q2) + i * als_matrix_stride(q2), 24 * sizeof(float));
    for (int metric = 0; metric < 2; metric++) {
        vecidx *a = NULL, *b = NULL, *c = NULL;
        assert_ok(vecidx_flat_create(&a, 24, metric));
        assert_ok(vecidx_flat_create(&b, 24, metric));
        assert_ok(vecidx_add(a, x, NULL));
        assert_ok(vecidx_add(b, x2, NULL));
        result r1 = search_r(a, q, 10, NULL), r2 = search_r(b, q2, 10, NULL);
        assert_memory_equal(r1.i, r2.i, (size_t)r1.n * sizeof(int64_t));
        assert_memory_equal(r1.s, r2.s, (size_t)r1.n * sizeof(float));
        /* and through a saved index */
        assert_ok(vecidx_save(b, ipath));
        assert_ok(vecidx_load(&c, ipath));
        result r3 = search_r(c, q2, 10, NULL);
        assert_memory_equal(r1.i, r3.i, (size_t)r1.n * sizeof(int64_t));
        assert_memory_equal(r1.s, r3.s, (size_t)r1.n * sizeof(float));
        result_free(&r1);
        result_free(&r2);
        result_free(&r3);
        vecidx_destroy(a);
        vecidx_destroy(b);
        vecidx_destroy(c);
    }
    als_matrix_destroy(q);
    als_matrix_destroy(x);
    als_matrix_destroy(q2);
    als_matrix_destroy(x2);
    unlink(qpath);
    unlink(xpath);
    unlink(ipath);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_io_roundtrip),
        cmocka_unit_test(test_io_empty),
        cmocka_unit_test(test_io_errors),
        cmocka_unit_test(test_io_foreign_files),
        cmocka_unit_test(test_io_corrupt),
        cmocka_unit_test(test_io_truncated),
        cmocka_unit_test(test_io_huge_sizes),
        cmocka_unit_test(test_io_resigned_fields),
        cmocka_unit_test(test_io_run_id_and_v1),
        cmocka_unit_test(test_io_mmap),
        cmocka_unit_test(test_io_atomic_overwrite),
        cmocka_unit_test(test_io_stale_temps),
        cmocka_unit_test(test_io_npy_interplay),
    };
    return cmocka_run_group_tests_name("vecidx_io", tests, NULL, NULL);
}
