/* Core suite: versions, errors, the shared matrix and .npy I/O, through the public API.
 * Numerical results are checked against a double-precision reference computed here;
 * .npy fixtures come from NumPy (/usr/bin/python3) when it is installed, otherwise from
 * byte-exact files built by this test. Every test that touches files works in its own
 * mkdtemp() folder, removed by the teardown. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>

#define TP 1024 /* path buffer size */
#ifndef TU_PYTHON /* -DTU_PYTHON='"/nonexistent"' exercises the hand-built fallback */
#define TU_PYTHON "/usr/bin/python3"
#endif

/* ---------------------------------------------------------------- helpers */

static char g_sentinel; /* out-parameters start here so "set to NULL on failure" is seen */
#define SENTINEL_MATRIX ((als_matrix *)(void *)&g_sentinel)

typedef struct {
    char dir[TP];
} tmpdir;

static int dir_setup(void **state) {
    tmpdir *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");
    if (!t) return -1;
    if (!base || !*base) base = "/tmp";
    snprintf(t->dir, sizeof t->dir, "%s/alstest-XXXXXX", base);
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static void rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                char sub[TP];
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_tree(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int dir_teardown(void **state) {
    tmpdir *t = *state;
    if (t) rm_tree(t->dir);
    free(t);
    return 0;
}

static void path_in(char *buf, const void *state, const char *name) {
    const tmpdir *t = state;
    int n = snprintf(buf, TP, "%s/%s", t->dir, name);
    assert_true(n > 0 && n < TP);
}

/* Names in a folder (without "." and ".."), joined by '|' in readdir order; returns count. */
static int list_dir(const char *dir, char *names, size_t cap) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    names[0] = '\0';
    if (!d) return -1;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n) strncat(names, "|", cap - strlen(names) - 1);
        strncat(names, e->d_name, cap - strlen(names) - 1);
        n++;
    }
    closedir(d);
    return n;
}

static void write_bytes(const char *path, const void *buf, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(buf, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Whole file into a malloc'd buffer; *n receives its size. */
static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static void put_le(unsigned char *p, uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Little-endian float32 / float64 payloads, independent of the host byte order. */
static void le_f32(unsigned char *p, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_le(p + 4 * i, u, 4);
    }
}
static void le_f64(unsigned char *p, const double *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        memcpy(&u, &v[i], 8);
        put_le(p + 8 * i, u, 8);
    }
}

/* A .npy file by hand: magic, version major.0, header length (2 bytes for 1.0, 4 for
 * 2.0/3.0), the dict padded with spaces and '\n' to a 64-byte boundary, then payload. */
static void write_npy_bytes(const char *path, int major, const char *dict, const void *payload,
                            size_t nbytes) {
    size_t prefix = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t hlen = dlen + 1, total;
    unsigned char *buf;
    hlen += (64 - (prefix + hlen) % 64) % 64;
    total = prefix + hlen + nbytes;
    buf = malloc(total);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    put_le(buf + 8, hlen, major == 1 ? 2 : 4);
    memcpy(buf + prefix, dict, dlen);
    memset(buf + prefix + dlen, ' ', hlen - dlen - 1);
    buf[prefix + hlen - 1] = '\n';
    if (nbytes) memcpy(buf + prefix + hlen, payload, nbytes);
    write_bytes(path, buf, total);
    free(buf);
}

static int numpy_available(void) {
    static int state = -1;
    if (state < 0) {
        state = system(TU_PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
        if (!state)
            print_message("NOTE: " TU_PYTHON " with numpy is not available: the .npy "
                          "fixtures are hand-built byte files instead of NumPy output\n");
    }
    return state;
}

/* Run a one-line Python program (double quotes only); returns its exit status. */
static int run_python(const char *code) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, TU_PYTHON " -c '%s'", code);
    return system(cmd);
}

/* Fixture from np.save(path, py_value) when NumPy exists, else the equivalent bytes. */
static void make_fixture(const char *path, const char *py_value, const char *dict,
                         const void *payload, size_t nbytes) {
    if (numpy_available()) {
        char code[2048];
        snprintf(code, sizeof code, "import numpy as np; np.save(\"%s\", %s)", path, py_value);
        if (run_python(code) != 0) {
            print_error("python fixture failed: %s\n", code);
            fail();
        }
    } else {
        write_npy_bytes(path, 1, dict, payload, nbytes);
    }
}

/* The deterministic content of the float fixtures: element k is k * 0.25 - 1.5. */
static float formula(int64_t k) { return (float)((double)k * 0.25 - 1.5); }
#define PY_FORMULA(r, c) "(np.arange(" #r "*" #c ")*0.25-1.5).astype(\"<f4\").reshape(" #r "," #c ")"

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               (hay[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

static als_matrix *read_ok(const char *path) {
    als_matrix *m = NULL;
    assert_ok(als_matrix_read_npy(&m, path));
    assert_non_null(m);
    return m;
}

static void expect_read_fails(const char *path, int code) {
    als_matrix *m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_read_npy(&m, path), code);
    assert_null(m);
}

/* Matrix m holds formula(i * cols + j) in every cell. */
static void check_formula(als_matrix *m, int64_t rows, int64_t cols) {
    assert_int_equal(als_matrix_rows(m), rows);
    assert_int_equal(als_matrix_cols(m), cols);
    assert_true(als_matrix_stride(m) >= cols);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            assert_true(als_matrix_data(m)[i * als_matrix_stride(m) + j] == formula(i * cols + j));
}

/* ---------------------------------------------------------------- version */

static void test_version(void **state) {
    char expect[32];
    (void)state;
    assert_int_equal(als_version_number(), ALS_VERSION_NUMBER);
    assert_int_equal(ALS_VERSION_NUMBER,
                     ALS_VERSION_MAJOR * 10000 + ALS_VERSION_MINOR * 100 + ALS_VERSION_PATCH);
    assert_non_null(als_version_string());
    assert_string_equal(als_version_string(), ALS_VERSION_STRING);
    snprintf(expect, sizeof expect, "%d.%d.%d", ALS_VERSION_MAJOR, ALS_VERSION_MINOR,
             ALS_VERSION_PATCH);
    assert_string_equal(als_version_string(), expect);
    assert_int_equal(vecidx_version_number(), VECIDX_VERSION_NUMBER);
    assert_int_equal(vecidx_version_number(), als_version_number());
}

/* ---------------------------------------------------------------- errors */

static void test_strerror(void **state) {
    static const int codes[] = {ALS_OK,     ALS_EINVAL,    ALS_ENOMEM,  ALS_ERANGE,
                                ALS_EDIM,   ALS_ESTATE,    ALS_EIO,     ALS_EFORMAT,
                                ALS_ECANCELED, ALS_ENOTFOUND, ALS_EUNSUPPORTED, ALS_EINTERNAL};
    static const int unknown[] = {1, 12, -12, -100, INT_MIN, INT_MAX};
    const size_t n = sizeof codes / sizeof codes[0];
    (void)state;
    for (size_t i = 0; i < n; i++) {
        const char *s = als_strerror(codes[i]);
        assert_non_null(s);
        assert_true(s[0] != '\0');
        for (size_t j = 0; j < i; j++) assert_string_not_equal(s, als_strerror(codes[j]));
    }
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = als_strerror(unknown[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown error");
    }
}

/* Checks the text inside the thread: its thread-local buffer dies with it. */
static void *fresh_thread(void *p) {
    int *ok = p;
    const char *s = als_last_error();
    *ok = s != NULL && s[0] == '\0' && als_last_error_code() == ALS_OK;
    return NULL;
}

static void test_last_error_fresh_thread(void **state) {
    pthread_t t;
    int ok = 0;
    (void)state;
    assert_non_null(als_last_error());
    assert_int_equal(als_error_set(ALS_EDIM, "main thread failure"), ALS_EDIM);
    assert_int_equal(pthread_create(&t, NULL, fresh_thread, &ok), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(ok);
    assert_string_equal(als_last_error(), "main thread failure");
    assert_int_equal(als_last_error_code(), ALS_EDIM);
}

static void test_error_set(void **state) {
    char buf[64], big[1200];
    (void)state;
    assert_int_equal(als_error_set(ALS_EDIM, "rows differ: 3 vs 4"), ALS_EDIM);
    assert_int_equal(als_last_error_code(), ALS_EDIM);
    assert_string_equal(als_last_error(), "rows differ: 3 vs 4");

    /* the text is copied */
    snprintf(buf, sizeof buf, "volatile text");
    als_error_set(ALS_ESTATE, buf);
    memset(buf, 'X', sizeof buf - 1);
    assert_string_equal(als_last_error(), "volatile text");
    assert_int_equal(als_last_error_code(), ALS_ESTATE);

    /* NULL message: the strerror text */
    assert_int_equal(als_error_set(ALS_EIO, NULL), ALS_EIO);
    assert_int_equal(als_last_error_code(), ALS_EIO);
    assert_string_equal(als_last_error(), als_strerror(ALS_EIO));

    /* truncation to 511 bytes, for 511, 512 and 1199 byte messages */
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + i % 26);
    big[sizeof big - 1] = '\0';
    assert_int_equal(als_error_set(ALS_ERANGE, big), ALS_ERANGE);
    assert_int_equal(strlen(als_last_error()), 511);
    assert_memory_equal(als_last_error(), big, 511);
    assert_int_equal(als_last_error_code(), ALS_ERANGE);
    big[512] = '\0';
    als_error_set(ALS_ERANGE, big);
    assert_int_equal(strlen(als_last_error()), 511);
    assert_memory_equal(als_last_error(), big, 511);
    big[511] = '\0';
    als_error_set(ALS_ERANGE, big);
    assert_string_equal(als_last_error(), big);

    /* a shorter message afterwards leaves no remnant of the long one */
    als_error_set(ALS_EINVAL, "short");
    assert_string_equal(als_last_error(), "short");

    /* library failures record their code too */
    assert_fails_with(als_matrix_create(NULL, 1, 1), ALS_EINVAL);
    assert_int_equal(als_last_error_code(), ALS_EINVAL);
}

typedef struct {
    int id;
    pthread_barrier_t *bar;
    int fresh_ok;
    int failures;
} tl_arg;

static void *tl_thread(void *p) {
    tl_arg *a = p;
    char mine[64];
    const char *s = als_last_error();
    int code = a->id == 0 ? ALS_EDIM : ALS_ENOTFOUND;
    a->fresh_ok = s && s[0] == '\0' && als_last_error_code() == ALS_OK;
    for (int it = 0; it < 200; it++) {
        snprintf(mine, sizeof mine, "thread %d iteration %d", a->id, it);
        als_error_set(code, mine);
        pthread_barrier_wait(a->bar); /* both threads have set their own message */
        if (strcmp(als_last_error(), mine) != 0 || als_last_error_code() != code) a->failures++;
        pthread_barrier_wait(a->bar); /* both have checked before anyone sets again */
    }
    return NULL;
}

static void test_error_thread_local(void **state) {
    pthread_barrier_t bar;
    pthread_t t[2];
    tl_arg a[2];
    (void)state;
    als_error_set(ALS_EINVAL, "main thread message");
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    for (int i = 0; i < 2; i++) {
        a[i].id = i;
        a[i].bar = &bar;
        a[i].fresh_ok = 0;
        a[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, tl_thread, &a[i]), 0);
    }
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    pthread_barrier_destroy(&bar);
    for (int i = 0; i < 2; i++) {
        assert_true(a[i].fresh_ok);
        assert_int_equal(a[i].failures, 0);
    }
    assert_string_equal(als_last_error(), "main thread message");
    assert_int_equal(als_last_error_code(), ALS_EINVAL);
}

/* ---------------------------------------------------------------- create */

static void test_create(void **state) {
    static const int64_t sizes[][2] = {{1, 1}, {3, 5}, {37, 61}, {64, 3}, {1, 1000}};
    (void)state;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        als_matrix *m = SENTINEL_MATRIX;
        int64_t r = sizes[s][0], c = sizes[s][1];
        float *d;
        assert_ok(als_matrix_create(&m, r, c));
        assert_non_null(m);
        assert_int_equal(als_matrix_rows(m), r);
        assert_int_equal(als_matrix_cols(m), c);
        assert_int_equal(als_matrix_stride(m), c);
        d = als_matrix_data(m);
        assert_non_null(d);
        assert_ptr_equal(als_matrix_data_const(m), d);
        assert_int_equal((uintptr_t)d % 64, 0);
        for (int64_t k = 0; k < r * c; k++) {
            uint32_t bits;
            memcpy(&bits, &d[k], 4);
            assert_int_equal(bits, 0); /* +0.0f, not just == 0 */
            d[k] = (float)k;           /* the whole buffer is writable */
        }
        als_matrix_destroy(m);
    }
}

static void test_create_empty(void **state) {
    static const int64_t sizes[][2] = {{0, 0}, {0, 5}, {5, 0}};
    (void)state;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        als_matrix *m = SENTINEL_MATRIX;
        assert_ok(als_matrix_create(&m, sizes[s][0], sizes[s][1]));
        assert_non_null(m);
        assert_true(m != SENTINEL_MATRIX);
        assert_int_equal(als_matrix_rows(m), sizes[s][0]);
        assert_int_equal(als_matrix_cols(m), sizes[s][1]);
        assert_int_equal(als_matrix_stride(m), sizes[s][1]);
        assert_ok(als_matrix_normalize_rows(m));
        als_matrix_destroy(m);
    }
}

static void test_create_errors(void **state) {
    static const int64_t bad_range[][2] = {{-1, 2}, {2, -1}, {-1, -1}, {INT64_MIN, 1}, {1, INT64_MIN}};
    /* each product overflows int64 elements or size_t bytes: must fail before allocating */
    static const int64_t huge[][2] = {{1LL << 40, 1LL << 30}, {INT64_MAX, 2}, {2, INT64_MAX},
                                      {INT64_MAX, INT64_MAX}, {1LL << 62, 1}, {1LL << 32, 1LL << 30}};
    als_matrix *m;
    (void)state;
    assert_fails_with(als_matrix_create(NULL, 2, 2), ALS_EINVAL);
    for (size_t s = 0; s < sizeof bad_range / sizeof bad_range[0]; s++) {
        m = SENTINEL_MATRIX;
        assert_fails_with(als_matrix_create(&m, bad_range[s][0], bad_range[s][1]), ALS_ERANGE);
        assert_null(m);
    }
    for (size_t s = 0; s < sizeof huge / sizeof huge[0]; s++) {
        m = SENTINEL_MATRIX;
        assert_fails_with(als_matrix_create(&m, huge[s][0], huge[s][1]), ALS_ENOMEM);
        assert_null(m);
    }
    /* rows count with 0 columns too (issue 11 F4: INT64_MAX x 0 used to succeed, and a
     * normalize then walked 2^63 empty rows) */
    static const int64_t empty_huge[] = {INT64_MAX, 1LL << 62, 1LL << 61};
    for (size_t s = 0; s < sizeof empty_huge / sizeof empty_huge[0]; s++) {
        m = SENTINEL_MATRIX;
        assert_fails_with(als_matrix_create(&m, empty_huge[s], 0), ALS_ENOMEM);
        assert_null(m);
    }
    /* a large but addressable empty matrix is fine, and normalizing it costs nothing */
    assert_ok(als_matrix_create(&m, 1LL << 40, 0));
    assert_ok(als_matrix_normalize_rows(m)); /* returns at once: no element to scale */
    als_matrix_destroy(m);
}

static void test_null_handles(void **state) {
    (void)state;
    als_matrix_destroy(NULL);
    assert_int_equal(als_matrix_rows(NULL), 0);
    assert_int_equal(als_matrix_cols(NULL), 0);
    assert_int_equal(als_matrix_stride(NULL), 0);
    assert_null(als_matrix_data(NULL));
    assert_null(als_matrix_data_const(NULL));
    assert_fails_with(als_matrix_normalize_rows(NULL), ALS_EINVAL);
}

/* ---------------------------------------------------------------- wrap */

static void test_wrap(void **state) {
    float buf[3 * 6];
    als_matrix *m = SENTINEL_MATRIX;
    (void)state;
    for (int k = 0; k < 18; k++) buf[k] = (float)k;
    assert_ok(als_matrix_wrap(&m, buf, 3, 4, 6));
    assert_non_null(m);
    assert_ptr_equal(als_matrix_data(m), buf);
    assert_ptr_equal(als_matrix_data_const(m), buf);
    assert_int_equal(als_matrix_rows(m), 3);
    assert_int_equal(als_matrix_cols(m), 4);
    assert_int_equal(als_matrix_stride(m), 6);
    buf[2 * 6 + 3] = -9.0f; /* no copy: caller writes are visible */
    assert_true(als_matrix_data(m)[2 * als_matrix_stride(m) + 3] == -9.0f);
    als_matrix_destroy(m); /* must not free the stack buffer */
    for (int k = 0; k < 18; k++) buf[k] += 1.0f;
    assert_true(buf[0] == 1.0f && buf[17] == 18.0f && buf[15] == -8.0f);

    /* dense wrap and a heap buffer the caller frees itself afterwards */
    {
        float *h = malloc(5 * 7 * sizeof *h);
        assert_non_null(h);
        assert_ok(als_matrix_wrap(&m, h, 5, 7, 7));
        assert_ptr_equal(als_matrix_data(m), h);
        assert_int_equal(als_matrix_stride(m), 7);
        als_matrix_destroy(m);
        h[34] = 1.0f;
        free(h);
    }
    /* empty matrices may have NULL data */
    assert_ok(als_matrix_wrap(&m, NULL, 0, 4, 4));
    assert_int_equal(als_matrix_rows(m), 0);
    assert_int_equal(als_matrix_cols(m), 4);
    als_matrix_destroy(m);
    assert_ok(als_matrix_wrap(&m, NULL, 3, 0, 0));
    assert_int_equal(als_matrix_rows(m), 3);
    assert_int_equal(als_matrix_cols(m), 0);
    als_matrix_destroy(m);
}

/* Floats are read in place, so a buffer that does not start on a float boundary (a byte
 * offset into a pickle or network buffer) must be refused, not read with UB. */
static void test_wrap_misaligned(void **state) {
    (void)state;
    _Alignas(16) unsigned char raw[64] = {0};
    als_matrix *m = (als_matrix *)&raw; /* not NULL, to check that it is reset */
    for (int off = 1; off < 4; off++) {
        assert_fails_with(als_matrix_wrap(&m, (float *)(void *)(raw + off), 2, 3, 3), ALS_EINVAL);
        assert_null(m);
        assert_non_null(strstr(als_last_error(), "aligned"));
    }
    assert_ok(als_matrix_wrap(&m, (float *)(void *)(raw + 4), 2, 3, 3));
    als_matrix_destroy(m);
}

static void test_wrap_errors(void **state) {
    float buf[16] = {0};
    als_matrix *m;
    (void)state;
    assert_fails_with(als_matrix_wrap(NULL, buf, 2, 2, 2), ALS_EINVAL);
    m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_wrap(&m, NULL, 2, 2, 2), ALS_EINVAL);
    assert_null(m);
    m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_wrap(&m, buf, 2, 4, 3), ALS_ERANGE); /* stride < cols */
    assert_null(m);
    m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_wrap(&m, buf, -1, 2, 2), ALS_ERANGE);
    assert_null(m);
    m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_wrap(&m, buf, 2, -2, 2), ALS_ERANGE);
    assert_null(m);
    m = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_wrap(&m, buf, 2, 2, -1), ALS_ERANGE);
    assert_null(m);
    /* shapes whose byte size overflows (issue 11 F5) */
    static const int64_t ovf[][3] = {{1LL << 62, 2, 4}, {2, 2, INT64_MAX}, {INT64_MAX, 1, 1},
                                     {1LL << 61, 0, 0}, {3, INT64_MAX / 2, INT64_MAX / 2}};
    for (size_t s = 0; s < sizeof ovf / sizeof ovf[0]; s++) {
        m = SENTINEL_MATRIX;
        assert_fails_with(als_matrix_wrap(&m, buf, ovf[s][0], ovf[s][1], ovf[s][2]), ALS_ERANGE);
        assert_null(m);
    }
    /* one row of a huge stride is fine: only its cols floats are described */
    assert_ok(als_matrix_wrap(&m, buf, 1, 4, INT64_MAX / 8));
    als_matrix_destroy(m);
}

/* ---------------------------------------------------------------- view_rows */

static void test_view_rows(void **state) {
    als_matrix *src = NULL, *v = SENTINEL_MATRIX, *vv = NULL;
    float pad[6 * 5];
    (void)state;
    assert_ok(als_matrix_create(&src, 10, 4));
    for (int k = 0; k < 40; k++) als_matrix_data(src)[k] = (float)k;
    assert_ok(als_matrix_view_rows(&v, src, 2, 3));
    assert_non_null(v);
    assert_int_equal(als_matrix_rows(v), 3);
    assert_int_equal(als_matrix_cols(v), 4);
    assert_int_equal(als_matrix_stride(v), 4);
    assert_ptr_equal(als_matrix_data(v), als_matrix_data(src) + 2 * 4);
    assert_ptr_equal(als_matrix_data_const(v), als_matrix_data(src) + 2 * 4);
    als_matrix_data(v)[1 * 4 + 2] = -1.0f; /* shared buffer: visible in src row 3 */
    assert_true(als_matrix_data(src)[3 * 4 + 2] == -1.0f);

    /* a view of a view */
    assert_ok(als_matrix_view_rows(&vv, v, 1, 2));
    assert_ptr_equal(als_matrix_data(vv), als_matrix_data(src) + 3 * 4);
    assert_int_equal(als_matrix_rows(vv), 2);
    als_matrix_destroy(vv);
    als_matrix_destroy(v);

    /* whole range, and an empty range at either end */
    assert_ok(als_matrix_view_rows(&v, src, 0, 10));
    assert_int_equal(als_matrix_rows(v), 10);
    als_matrix_destroy(v);
    assert_ok(als_matrix_view_rows(&v, src, 10, 0));
    assert_int_equal(als_matrix_rows(v), 0);
    assert_int_equal(als_matrix_cols(v), 4);
    als_matrix_destroy(v);
    assert_ok(als_matrix_view_rows(&v, src, 0, 0));
    assert_int_equal(als_matrix_rows(v), 0);
    als_matrix_destroy(v);

    /* destroying views left src intact */
    for (int k = 0; k < 40; k++) als_matrix_data(src)[k] += 1.0f;
    assert_true(als_matrix_data(src)[39] == 40.0f);
    als_matrix_destroy(src);

    /* a view keeps a wrapped matrix's stride */
    for (int k = 0; k < 30; k++) pad[k] = (float)k;
    assert_ok(als_matrix_wrap(&src, pad, 6, 3, 5));
    assert_ok(als_matrix_view_rows(&v, src, 4, 2));
    assert_int_equal(als_matrix_stride(v), 5);
    assert_int_equal(als_matrix_cols(v), 3);
    assert_ptr_equal(als_matrix_data(v), pad + 20);
    als_matrix_destroy(v);
    als_matrix_destroy(src);
}

static void test_view_rows_errors(void **state) {
    static const int64_t bad[][2] = {{-1, 2}, {0, -1}, {8, 3}, {11, 0}, {0, 11},
                                     {1, INT64_MAX}, {INT64_MAX, 1}, {INT64_MIN, 5}};
    als_matrix *src = NULL, *v;
    (void)state;
    assert_ok(als_matrix_create(&src, 10, 4));
    assert_fails_with(als_matrix_view_rows(NULL, src, 0, 1), ALS_EINVAL);
    v = SENTINEL_MATRIX;
    assert_fails_with(als_matrix_view_rows(&v, NULL, 0, 1), ALS_EINVAL);
    assert_null(v);
    for (size_t s = 0; s < sizeof bad / sizeof bad[0]; s++) {
        v = SENTINEL_MATRIX;
        assert_fails_with(als_matrix_view_rows(&v, src, bad[s][0], bad[s][1]), ALS_ERANGE);
        assert_null(v);
    }
    als_matrix_destroy(src);
}

/* ---------------------------------------------------------------- normalize_rows */

/* Compare rows of m (after normalizing) with the double reference built from orig. */
static void check_normalized(const float *got, const float *orig, int64_t rows, int64_t cols,
                             int64_t stride) {
    for (int64_t i = 0; i < rows; i++) {
        const float *o = orig + i * stride, *g = got + i * stride;
        double ss = 0.0, out = 0.0;
        for (int64_t j = 0; j < cols; j++) ss += (double)o[j] * (double)o[j];
        if (ss == 0.0) {
            for (int64_t j = 0; j < cols; j++) assert_true(g[j] == 0.0f);
            continue;
        }
        for (int64_t j = 0; j < cols; j++) {
            assert_close(g[j], (double)o[j] / sqrt(ss), 1e-6);
            out += (double)g[j] * (double)g[j];
        }
        assert_close(sqrt(out), 1.0, 1e-6);
    }
}

static void test_normalize(void **state) {
    const int64_t rows = 1003, cols = 37;
    uint64_t seed = 42;
    als_matrix *m = NULL;
    float *orig = malloc((size_t)(rows * cols) * sizeof *orig);
    (void)state;
    assert_non_null(orig);
    assert_ok(als_matrix_create(&m, rows, cols));
    for (int64_t i = 0; i < rows; i++) {
        double scale = pow(10.0, (double)(i % 9) - 4.0);
        for (int64_t j = 0; j < cols; j++)
            als_matrix_data(m)[i * cols + j] = (float)(tu_normal(&seed) * scale);
    }
    for (int64_t j = 0; j < cols; j++) {
        als_matrix_data(m)[0 * cols + j] = 0.0f; /* zero rows: first, middle, last */
        als_matrix_data(m)[500 * cols + j] = 0.0f;
        als_matrix_data(m)[(rows - 1) * cols + j] = 0.0f;
        als_matrix_data(m)[7 * cols + j] = j == 5 ? -3.0f : 0.0f; /* a single non-zero */
    }
    memcpy(orig, als_matrix_data(m), (size_t)(rows * cols) * sizeof *orig);
    assert_ok(als_matrix_normalize_rows(m));
    check_normalized(als_matrix_data(m), orig, rows, cols, cols);
    assert_true(als_matrix_data(m)[7 * cols + 5] == -1.0f);
    /* idempotent within tolerance */
    memcpy(orig, als_matrix_data(m), (size_t)(rows * cols) * sizeof *orig);
    assert_ok(als_matrix_normalize_rows(m));
    for (int64_t k = 0; k < rows * cols; k++) assert_close(als_matrix_data(m)[k], orig[k], 1e-6);
    als_matrix_destroy(m);
    free(orig);
}

static void test_normalize_extremes(void **state) {
    /* finite rows whose squares overflow or underflow float32 still have a norm */
    float d[3 * 2] = {3e30f, 4e30f, 3e-30f, -4e-30f, FLT_MAX, FLT_MAX};
    /* a row of subnormals: its norm is below 1 / FLT_MAX, the result is still finite */
    float sub[1 * 3] = {1e-40f, 0.0f, -2e-40f};
    float orig[6];
    als_matrix *m = NULL;
    (void)state;
    memcpy(orig, d, sizeof d);
    assert_ok(als_matrix_wrap(&m, d, 3, 2, 2));
    assert_ok(als_matrix_normalize_rows(m));
    check_normalized(d, orig, 3, 2, 2);
    als_matrix_destroy(m);
    memcpy(orig, sub, sizeof sub);
    assert_ok(als_matrix_wrap(&m, sub, 1, 3, 3));
    assert_ok(als_matrix_normalize_rows(m));
    als_matrix_destroy(m); /* sub is the caller's buffer: check it after the handle is gone */
    for (int j = 0; j < 3; j++) assert_true(isfinite(sub[j]));
    check_normalized(sub, orig, 1, 3, 3);
}

static void test_normalize_stride(void **state) {
    const int64_t rows = 31, cols = 13, stride = 20;
    const uint32_t sentinel_bits = 0x7fc01234u; /* a NaN: padding must be neither read nor written */
    const size_t n = (size_t)((rows - 1) * stride + cols); /* the last row needs only cols */
    float *buf = malloc(n * sizeof *buf), *orig = malloc(n * sizeof *orig);
    uint64_t seed = 7;
    als_matrix *m = NULL;
    (void)state;
    assert_non_null(buf);
    assert_non_null(orig);
    for (size_t k = 0; k < n; k++) {
        if ((int64_t)(k % (size_t)stride) < cols)
            buf[k] = (float)tu_normal(&seed);
        else
            memcpy(&buf[k], &sentinel_bits, 4);
    }
    for (int64_t j = 0; j < cols; j++) buf[4 * stride + j] = 0.0f;
    memcpy(orig, buf, n * sizeof *buf);
    assert_ok(als_matrix_wrap(&m, buf, rows, cols, stride));
    assert_ok(als_matrix_normalize_rows(m));
    assert_ptr_equal(als_matrix_data(m), buf);
    check_normalized(buf, orig, rows, cols, stride);
    for (size_t k = 0; k < n; k++)
        if ((int64_t)(k % (size_t)stride) >= cols) assert_memory_equal(&buf[k], &sentinel_bits, 4);
    als_matrix_destroy(m);
    free(buf);
    free(orig);
}

static void test_normalize_nonfinite(void **state) {
    const int64_t rows = 20, cols = 8;
    /* (row, col, kind): NaN in the middle, +Inf in the last cell, -Inf in the first */
    static const int where[][3] = {{13, 4, 0}, {19, 7, 1}, {0, 0, 2}, {19, 0, 0}};
    (void)state;
    for (size_t w = 0; w < sizeof where / sizeof where[0]; w++) {
        uint64_t seed = 99 + w;
        als_matrix *m = NULL;
        float before[20 * 8];
        float bad = where[w][2] == 0 ? NAN : where[w][2] == 1 ? INFINITY : -INFINITY;
        assert_ok(als_matrix_create(&m, rows, cols));
        for (int64_t k = 0; k < rows * cols; k++) als_matrix_data(m)[k] = (float)tu_normal(&seed);
        als_matrix_data(m)[where[w][0] * cols + where[w][1]] = bad;
        memcpy(before, als_matrix_data(m), sizeof before);
        assert_fails_with(als_matrix_normalize_rows(m), ALS_EINVAL);
        assert_memory_equal(als_matrix_data(m), before, sizeof before); /* left unchanged */
        als_matrix_destroy(m);
    }
}

/* ---------------------------------------------------------------- npy write / read */

/* Checks the framing of a file written by als_matrix_write_npy; returns the header size. */
static size_t check_written_header(const char *path, int64_t rows, int64_t cols) {
    size_t n, hlen;
    unsigned char *b = slurp(path, &n);
    char *hdr;
    assert_true(n >= 10);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    hlen = (size_t)b[8] | ((size_t)b[9] << 8);
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(n, 10 + hlen + (size_t)(rows * cols) * 4); /* dense payload */
    assert_int_equal(b[10 + hlen - 1], '\n');
    hdr = (char *)b + 10;
    hdr[hlen] = '\0';
    assert_non_null(strstr(hdr, "'<f4'"));
    assert_non_null(strstr(hdr, "False"));
    assert_null(strstr(hdr, "True"));
    free(b);
    return 10 + hlen;
}

/* NumPy's view of a file we wrote: shape, dtype, C order and the formula values. */
static void check_with_numpy(const char *path, int64_t rows, int64_t cols) {
    char code[1024];
    if (!numpy_available()) return;
    snprintf(code, sizeof code,
             "import numpy as np; a=np.load(\"%s\"); "
             "assert a.dtype==np.dtype(\"<f4\") and a.shape==(%lld,%lld); "
             "assert ((np.arange(%lld*%lld)*0.25-1.5).astype(\"<f4\").reshape(%lld,%lld)==a).all()",
             path, (long long)rows, (long long)cols, (long long)rows, (long long)cols,
             (long long)rows, (long long)cols);
    assert_int_equal(run_python(code), 0);
}

static void test_npy_roundtrip(void **state) {
    char path[TP];
    const int64_t rows = 301, cols = 257;
    uint64_t seed = 2024;
    als_matrix *m = NULL, *r;
    static const uint32_t specials[] = {0x80000000u /* -0 */, 0x00000001u /* denormal */,
                                        0x7f7fffffu /* FLT_MAX */, 0xff800000u /* -Inf */,
                                        0x7fc00abcu /* NaN with payload */};
    path_in(path, *state, "round.npy");
    assert_ok(als_matrix_create(&m, rows, cols));
    for (int64_t k = 0; k < rows * cols; k++) als_matrix_data(m)[k] = (float)tu_normal(&seed);
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++)
        memcpy(&als_matrix_data(m)[s * 1000 + 3], &specials[s], 4);
    assert_ok(als_matrix_write_npy(m, path));
    check_written_header(path, rows, cols);
    r = read_ok(path);
    assert_int_equal(als_matrix_rows(r), rows);
    assert_int_equal(als_matrix_cols(r), cols);
    for (int64_t i = 0; i < rows; i++)
        assert_memory_equal(als_matrix_data(r) + i * als_matrix_stride(r),
                            als_matrix_data(m) + i * cols, (size_t)cols * 4);
    als_matrix_destroy(r);

    /* formula content: NumPy must read what we wrote */
    for (int64_t k = 0; k < rows * cols; k++) als_matrix_data(m)[k] = formula(k);
    assert_ok(als_matrix_write_npy(m, path));
    check_with_numpy(path, rows, cols);
    als_matrix_destroy(m);
}

static void test_npy_roundtrip_stride(void **state) {
    char path[TP];
    float buf[6 * 8];
    als_matrix *m = NULL, *r;
    size_t hdr;
    path_in(path, *state, "strided.npy");
    for (int k = 0; k < 48; k++) buf[k] = (k % 8) < 5 ? formula((k / 8) * 5 + k % 8) : 1e9f;
    assert_ok(als_matrix_wrap(&m, buf, 6, 5, 8));
    assert_ok(als_matrix_write_npy(m, path));
    hdr = check_written_header(path, 6, 5);
    assert_true(hdr >= 64);
    r = read_ok(path);
    check_formula(r, 6, 5);
    als_matrix_destroy(r);
    check_with_numpy(path, 6, 5);
    als_matrix_destroy(m);
}

static void test_npy_roundtrip_empty(void **state) {
    static const int64_t shapes[][2] = {{0, 7}, {4, 0}, {0, 0}};
    char path[TP];
    path_in(path, *state, "empty.npy");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        als_matrix *m = NULL, *r;
        assert_ok(als_matrix_create(&m, shapes[s][0], shapes[s][1]));
        assert_ok(als_matrix_write_npy(m, path));
        check_written_header(path, shapes[s][0], shapes[s][1]);
        r = read_ok(path);
        assert_int_equal(als_matrix_rows(r), shapes[s][0]);
        assert_int_equal(als_matrix_cols(r), shapes[s][1]);
        als_matrix_destroy(r);
        check_with_numpy(path, shapes[s][0], shapes[s][1]);
        als_matrix_destroy(m);
    }
}

static void test_npy_read_f4(void **state) {
    char path[TP];
    float v[3 * 4];
    unsigned char payload[48];
    als_matrix *m;
    for (int k = 0; k < 12; k++) v[k] = formula(k);
    le_f32(payload, v, 12);
    path_in(path, *state, "f4.npy");
    make_fixture(path, PY_FORMULA(3, 4),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", payload, 48);
    m = read_ok(path);
    check_formula(m, 3, 4);
    als_matrix_destroy(m);

    /* a single row, and a 0-row file */
    path_in(path, *state, "f4row.npy");
    make_fixture(path, PY_FORMULA(1, 12),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 12), }", payload, 48);
    m = read_ok(path);
    check_formula(m, 1, 12);
    als_matrix_destroy(m);
    path_in(path, *state, "f4zero.npy");
    make_fixture(path, "np.zeros((0,3),dtype=\"<f4\")",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0);
    m = read_ok(path);
    assert_int_equal(als_matrix_rows(m), 0);
    assert_int_equal(als_matrix_cols(m), 3);
    als_matrix_destroy(m);
}

static void test_npy_read_f8(void **state) {
    char path[TP];
    double v[3 * 4];
    unsigned char payload[96];
    als_matrix *m;
    for (int k = 0; k < 12; k++) v[k] = (double)k * 0.1 - 0.35;
    le_f64(payload, v, 12);
    path_in(path, *state, "f8.npy");
    make_fixture(path, "(np.arange(12)*0.1-0.35).reshape(3,4)",
                 "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }", payload, 96);
    m = read_ok(path);
    assert_int_equal(als_matrix_rows(m), 3);
    assert_int_equal(als_matrix_cols(m), 4);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            assert_close(als_matrix_data(m)[i * als_matrix_stride(m) + j], (float)v[i * 4 + j], 1e-7);
    als_matrix_destroy(m);
}

static void test_npy_read_versions(void **state) {
    char path[TP];
    float v[3 * 4];
    unsigned char payload[48];
    static const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
    als_matrix *m;
    for (int k = 0; k < 12; k++) v[k] = formula(k);
    le_f32(payload, v, 12);
    for (int major = 1; major <= 3; major++) {
        path_in(path, *state, "ver.npy");
        write_npy_bytes(path, major, dict, payload, 48);
        m = read_ok(path);
        check_formula(m, 3, 4);
        als_matrix_destroy(m);
    }
    /* a header that is a valid Python dict literal in another key order and spacing */
    write_npy_bytes(path, 1, "{'shape':(3,4),'fortran_order':False,'descr':'<f4'}", payload, 48);
    m = read_ok(path);
    check_formula(m, 3, 4);
    als_matrix_destroy(m);
    /* an unknown format version */
    write_npy_bytes(path, 4, dict, payload, 48);
    expect_read_fails(path, ALS_EFORMAT);
}

static void test_npy_reject_dtype_order_shape(void **state) {
    char path[TP];
    unsigned char zeros[64] = {0};
    path_in(path, *state, "bad.npy");

    make_fixture(path, "np.ones((2,3),dtype=\">f4\")",
                 "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", zeros, 24);
    expect_read_fails(path, ALS_EFORMAT);
    assert_non_null(strstr(als_last_error(), "f4"));

    make_fixture(path, "np.ones((2,3),dtype=\"<i4\")",
                 "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", zeros, 24);
    expect_read_fails(path, ALS_EFORMAT);
    assert_non_null(strstr(als_last_error(), "i4"));

    make_fixture(path, "np.asfortranarray(np.ones((2,3),dtype=\"<f4\"))",
                 "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", zeros, 24);
    expect_read_fails(path, ALS_EFORMAT);
    assert_true(contains_ci(als_last_error(), "fortran"));

    make_fixture(path, "np.zeros(5,dtype=\"<f4\")",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", zeros, 20);
    expect_read_fails(path, ALS_EFORMAT);

    make_fixture(path, "np.zeros((2,2,2),dtype=\"<f4\")",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", zeros, 32);
    expect_read_fails(path, ALS_EFORMAT);

    make_fixture(path, "np.float32(1.5)",
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", zeros, 4);
    expect_read_fails(path, ALS_EFORMAT);
}

static void test_npy_reject_header_garbage(void **state) {
    static const char *garbage[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, four), }",
        "{'descr': '<f4', 'fortran_order': False, }",
        "{'fortran_order': False, 'shape': (3, 4), }",
        "{'descr': '<f4', 'fortran_order': maybe, 'shape': (3, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)",
        "this is not a python dict at all",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }",
    };
    char path[TP];
    float v[12];
    unsigned char payload[48];
    int bad = 0;
    path_in(path, *state, "mal.npy");
    for (int k = 0; k < 12; k++) v[k] = formula(k);
    le_f32(payload, v, 12);

    for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
        als_matrix *m = SENTINEL_MATRIX;
        int rc;
        write_npy_bytes(path, 1, garbage[g], payload, 48);
        rc = als_matrix_read_npy(&m, path);
        if (rc != ALS_EFORMAT || m != NULL || als_last_error()[0] == '\0') {
            print_error("header %s: got %d (%s), expected ALS_EFORMAT\n", garbage[g], rc,
                        als_strerror(rc));
            if (rc == ALS_OK) als_matrix_destroy(m);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_npy_reject_truncated(void **state) {
    char path[TP];
    float v[12];
    unsigned char good[256], payload[48];
    size_t n;
    unsigned char *b;
    path_in(path, *state, "trunc.npy");
    for (int k = 0; k < 12; k++) v[k] = formula(k);
    le_f32(payload, v, 12);

    /* a valid file as bytes, then broken copies of it */
    write_npy_bytes(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
                    payload, 48);
    b = slurp(path, &n);
    assert_int_equal(n, 128 + 48); /* NumPy pads this header to 128 bytes */
    memcpy(good, b, n);
    free(b);
    als_matrix_destroy(read_ok(path)); /* the intact file reads */

    good[0] = 'X'; /* bad magic */
    write_bytes(path, good, n);
    expect_read_fails(path, ALS_EFORMAT);
    good[0] = 0x93;
    good[5] = 'Z'; /* "\x93NUMPZ" */
    write_bytes(path, good, n);
    expect_read_fails(path, ALS_EFORMAT);
    good[5] = 'Y';
    {
        static const char npz[] = "PK\003\004 this is a zip (.npz), not .npy";
        write_bytes(path, npz, sizeof npz - 1);
    }
    expect_read_fails(path, ALS_EFORMAT);

    write_bytes(path, good, 0); /* empty file */
    expect_read_fails(path, ALS_EFORMAT);
    write_bytes(path, good, 8); /* magic and version only */
    expect_read_fails(path, ALS_EFORMAT);
    write_bytes(path, good, 30); /* header cut in the middle of the dict */
    expect_read_fails(path, ALS_EFORMAT);
    put_le(good + 8, 60000, 2); /* header length beyond the end of the file */
    write_bytes(path, good, n);
    expect_read_fails(path, ALS_EFORMAT);
    put_le(good + 8, 118, 2);

    write_bytes(path, good, n - 4); /* data one float short */
    expect_read_fails(path, ALS_EFORMAT);
    write_bytes(path, good, 128); /* header only, no data */
    expect_read_fails(path, ALS_EFORMAT);
    write_bytes(path, good, n); /* and the repaired copy reads again */
    als_matrix_destroy(read_ok(path));

    /* absurd shapes with a tiny payload: rejected without crashing */
    {
        static const char *absurd[] = {
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1073741824), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 4), }",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }",
        };
        for (size_t a = 0; a < sizeof absurd / sizeof absurd[0]; a++) {
            als_matrix *m = SENTINEL_MATRIX;
            int rc;
            write_npy_bytes(path, 1, absurd[a], payload, 48);
            rc = als_matrix_read_npy(&m, path);
            if (rc != ALS_EFORMAT && rc != ALS_ENOMEM) {
                print_error("absurd shape %s: got %d (%s)\n", absurd[a], rc, als_strerror(rc));
                fail();
            }
            assert_null(m);
            assert_true(als_last_error()[0] != '\0');
        }
    }
}

static void test_npy_read_errors(void **state) {
    char path[TP];
    als_matrix *m = SENTINEL_MATRIX;
    path_in(path, *state, "missing.npy");
    assert_fails_with(als_matrix_read_npy(NULL, path), ALS_EINVAL);
    assert_fails_with(als_matrix_read_npy(&m, NULL), ALS_EINVAL);
    assert_null(m);
    expect_read_fails(path, ALS_ENOTFOUND);
    path_in(path, *state, "no/such/dir/x.npy");
    expect_read_fails(path, ALS_ENOTFOUND);
    /* a folder exists but cannot be read as a file */
    path_in(path, *state, "adir");
    assert_int_equal(mkdir(path, 0700), 0);
    expect_read_fails(path, ALS_EIO);
}

static void test_npy_write_errors(void **state) {
    const tmpdir *t = *state;
    char path[TP], names[512];
    als_matrix *m = NULL;
    assert_ok(als_matrix_create(&m, 2, 3));
    path_in(path, *state, "x.npy");
    assert_fails_with(als_matrix_write_npy(NULL, path), ALS_EINVAL);
    assert_fails_with(als_matrix_write_npy(m, NULL), ALS_EINVAL);
    assert_int_equal(access(path, F_OK), -1);

    path_in(path, *state, "no/such/dir/x.npy");
    assert_fails_with(als_matrix_write_npy(m, path), ALS_EIO);
    assert_int_equal(list_dir(t->dir, names, sizeof names), 0);

    /* the target is a folder: the rename fails, the folder stays, no temporary remains */
    path_in(path, *state, "sub");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_fails_with(als_matrix_write_npy(m, path), ALS_EIO);
    assert_int_equal(list_dir(t->dir, names, sizeof names), 1);
    assert_string_equal(names, "sub");
    assert_int_equal(list_dir(path, names, sizeof names), 0);
    als_matrix_destroy(m);
}

static void test_npy_overwrite_atomic(void **state) {
    const tmpdir *t = *state;
    char path[TP], names[512];
    als_matrix *a = NULL, *b = NULL, *r;
    path_in(path, *state, "target.npy");
    assert_ok(als_matrix_create(&a, 3, 4));
    for (int k = 0; k < 12; k++) als_matrix_data(a)[k] = 100.0f + (float)k;
    assert_ok(als_matrix_write_npy(a, path));
    assert_int_equal(list_dir(t->dir, names, sizeof names), 1);
    assert_string_equal(names, "target.npy");

    assert_ok(als_matrix_create(&b, 5, 2));
    for (int k = 0; k < 10; k++) als_matrix_data(b)[k] = formula(k);
    assert_ok(als_matrix_write_npy(b, path));
    r = read_ok(path);
    check_formula(r, 5, 2);
    als_matrix_destroy(r);
    check_written_header(path, 5, 2);
    assert_int_equal(list_dir(t->dir, names, sizeof names), 1);
    assert_string_equal(names, "target.npy");

    /* a failed call leaves the existing file as it was */
    assert_fails_with(als_matrix_write_npy(NULL, path), ALS_EINVAL);
    r = read_ok(path);
    check_formula(r, 5, 2);
    als_matrix_destroy(r);
    assert_int_equal(list_dir(t->dir, names, sizeof names), 1);
    als_matrix_destroy(a);
    als_matrix_destroy(b);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, dir_setup, dir_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_last_error_fresh_thread),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_error_thread_local),
        cmocka_unit_test(test_create),
        cmocka_unit_test(test_create_empty),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_null_handles),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_wrap_errors),
        cmocka_unit_test(test_wrap_misaligned),
        cmocka_unit_test(test_view_rows),
        cmocka_unit_test(test_view_rows_errors),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_normalize_extremes),
        cmocka_unit_test(test_normalize_stride),
        cmocka_unit_test(test_normalize_nonfinite),
        DIR_TEST(test_npy_roundtrip),
        DIR_TEST(test_npy_roundtrip_stride),
        DIR_TEST(test_npy_roundtrip_empty),
        DIR_TEST(test_npy_read_f4),
        DIR_TEST(test_npy_read_f8),
        DIR_TEST(test_npy_read_versions),
        DIR_TEST(test_npy_reject_dtype_order_shape),
        DIR_TEST(test_npy_reject_header_garbage),
        DIR_TEST(test_npy_reject_truncated),
        DIR_TEST(test_npy_read_errors),
        DIR_TEST(test_npy_write_errors),
        DIR_TEST(test_npy_overwrite_atomic),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
