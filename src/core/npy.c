/* NumPy .npy read/write (format versions 1.0, 2.0, 3.0; 2-D, C order; '<f4', '<f8' read;
 * 1-D '<i8' ids read). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy and file-format code assumes a little-endian host"
#endif

#define NPY_MAX_HEADER (1u << 20)

/* Find the value text after 'key': in a Python dict literal; NULL if absent. */
static const char *dict_value(const char *h, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = h; (p = strchr(p, '\'')) != NULL; p++) {
        if (strncmp(p + 1, key, kl) == 0 && p[1 + kl] == '\'') {
            const char *q = p + 2 + kl;
            while (isspace((unsigned char)*q)) q++;
            if (*q != ':') return NULL;
            q++;
            while (isspace((unsigned char)*q)) q++;
            return q;
        }
    }
    return NULL;
}

/* Parse "(a, b)" into dims; returns the number of dims or -1 on a syntax error. */
static int parse_shape(const char *s, int64_t dims[4]) {
    if (*s != '(') return -1;
    s++;
    int nd = 0;
    for (;;) {
        while (isspace((unsigned char)*s)) s++;
        if (*s == ')') return nd;
        if (!isdigit((unsigned char)*s)) return -1;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (v < 0 || end == s) return -1;
        if (nd < 4) dims[nd] = v;
        nd++;
        s = end;
        while (isspace((unsigned char)*s)) s++;
        if (*s == ',') s++;
        else if (*s != ')') return -1;
    }
}

static int npy_fail(als__rfile *r, als_matrix *m, int rc) {
    als__rfile_close(r);
    als_matrix_destroy(m);
    return rc;
}

/* Open path and read a .npy preamble and header: on success r is positioned at the data,
 * descr holds the dtype string and dims/nd the shape (C order checked). On failure r is
 * closed and the error recorded. */
static int npy_open(als__rfile *r, const char *path, char descr[32], int64_t dims[4], int *nd) {
    int rc = als__rfile_open(r, path);
    if (rc) return rc;
    unsigned char pre[12];
    if (r->size < 10 || als__rfile_read(r, pre, 10) || memcmp(pre, "\x93NUMPY", 6) != 0)
        return npy_fail(r, NULL, als__errf(ALS_EFORMAT, "%s is not a .npy file (bad magic)", path));
    unsigned major = pre[6];
    uint32_t hlen;
    if (major == 1) {
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    } else if (major == 2 || major == 3) {
        if (als__rfile_read(r, pre + 10, 2))
            return npy_fail(r, NULL, als__errf(ALS_EFORMAT, "%s: truncated .npy header", path));
        hlen = als__ld32(pre + 8);
    } else {
        return npy_fail(r, NULL, als__errf(ALS_EFORMAT, "%s: unsupported .npy version %u.%u",
                                           path, major, pre[7]));
    }
    if (hlen > NPY_MAX_HEADER || hlen > r->size - r->pos)
        return npy_fail(r, NULL, als__errf(ALS_EFORMAT, "%s: .npy header length %u is past the end",
                                           path, hlen));
    char *h = malloc((size_t)hlen + 1);
    if (!h) return npy_fail(r, NULL, als__errf(ALS_ENOMEM, "out of memory reading %s", path));
    if ((rc = als__rfile_read(r, h, hlen))) {
        free(h);
        return npy_fail(r, NULL, rc);
    }
    h[hlen] = '\0';
    descr[0] = '\0';
    const char *v = dict_value(h, "descr");
    if (v && (*v == '\'' || *v == '"')) {
        const char *e = strchr(v + 1, *v);
        size_t n = e ? (size_t)(e - v - 1) : 0;
        if (e && n < 32) memcpy(descr, v + 1, n), descr[n] = '\0';
    }
    const char *fo = dict_value(h, "fortran_order");
    const char *sh = dict_value(h, "shape");
    *nd = sh ? parse_shape(sh, dims) : -1;
    rc = ALS_OK;
    /* The dict must be whole: '{' first, '}' last (before the space/newline padding). */
    size_t hend = strlen(h);
    while (hend > 0 && isspace((unsigned char)h[hend - 1])) hend--;
    const char *hb = h;
    while (isspace((unsigned char)*hb)) hb++;
    int whole = *hb == '{' && hend > 0 && h[hend - 1] == '}';
    if (!whole || !descr[0] || !fo || *nd < 0)
        rc = als__errf(ALS_EFORMAT, "%s: malformed .npy header: %.120s", path, h);
    else if (strncmp(fo, "False", 5) != 0)
        rc = als__errf(ALS_EFORMAT, "%s: fortran_order=True found; expected C order", path);
    free(h);
    return rc ? npy_fail(r, NULL, rc) : ALS_OK;
}

ALS_API int als_matrix_read_npy(als_matrix **out, const char *path) {
    if (!out) return als__errf(ALS_EINVAL, "als_matrix_read_npy: out is NULL");
    *out = NULL;
    if (!path) return als__errf(ALS_EINVAL, "als_matrix_read_npy: path is NULL");
    als__rfile r;
    char descr[32];
    int64_t dims[4] = {0};
    int nd, esz = 0;
    int rc = npy_open(&r, path, descr, dims, &nd);
    if (rc) return rc;
    if (strcmp(descr, "<f4") == 0)
        esz = 4;
    else if (strcmp(descr, "<f8") == 0)
        esz = 8;
    else
        rc = als__errf(ALS_EFORMAT, "%s: dtype '%s' found; expected '<f4' (float32) or '<f8'",
                       path, descr);
    if (!rc && nd != 2)
        rc = als__errf(ALS_EFORMAT, "%s: %d-D array found; expected a 2-D matrix", path, nd);
    if (rc) return npy_fail(&r, NULL, rc);

    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)dims[0], (uint64_t)dims[1], &need) ||
        __builtin_mul_overflow(need, (uint64_t)esz, &need) || need != r.size - r.pos)
        return npy_fail(&r, NULL,
                        als__errf(ALS_EFORMAT, "%s: shape (%lld, %lld) of %s needs %s bytes than "
                                  "the file holds", path, (long long)dims[0], (long long)dims[1],
                                  descr, (need > r.size - r.pos) ? "more" : "other"));
    als_matrix *m;
    if ((rc = als_matrix_create(&m, dims[0], dims[1]))) return npy_fail(&r, NULL, rc);
    float *d = als_matrix_data(m);
    size_t n = (size_t)(dims[0] * dims[1]);
    if (esz == 4) {
        rc = als__rfile_read(&r, d, n * 4);
    } else {
        double buf[1024];
        for (size_t i = 0; i < n && !rc; i += 1024) {
            size_t c = n - i < 1024 ? n - i : 1024;
            rc = als__rfile_read(&r, buf, c * 8);
            for (size_t j = 0; j < c && !rc; j++) {
                d[i + j] = (float)buf[j];
                if (isinf(d[i + j]) && !isinf(buf[j]))
                    rc = als__errf(ALS_ERANGE, "%s: element %zu (%g) is outside the float32 range",
                                   path, i + j, buf[j]);
            }
        }
    }
    if (rc) return npy_fail(&r, m, rc);
    als__rfile_close(&r);
    *out = m;
    return ALS_OK;
}

ALS_API int64_t als_ids_read_npy(const char *path, int64_t *ids_out, int64_t cap) {
    if (!path) return als__errf(ALS_EINVAL, "als_ids_read_npy: path is NULL");
    if (cap < 0) return als__errf(ALS_ERANGE, "als_ids_read_npy: cap %lld is negative", (long long)cap);
    if (cap > 0 && !ids_out) return als__errf(ALS_EINVAL, "als_ids_read_npy: ids_out is NULL");
    als__rfile r;
    char descr[32];
    int64_t dims[4] = {0, 1, 1, 1};
    int nd;
    int rc = npy_open(&r, path, descr, dims, &nd);
    if (rc) return rc;
    if (strcmp(descr, "<i8") != 0)
        rc = als__errf(ALS_EFORMAT, "%s: dtype '%s' found; expected '<i8' (int64 ids)", path, descr);
    else if (nd != 1 && !(nd == 2 && dims[1] == 1))
        rc = als__errf(ALS_EFORMAT, "%s: %d-D array found; expected 1-D ids (or n x 1)", path, nd);
    uint64_t need;
    if (!rc && (__builtin_mul_overflow((uint64_t)dims[0], 8u, &need) || need != r.size - r.pos))
        rc = als__errf(ALS_EFORMAT, "%s: %lld ids need %s bytes than the file holds", path,
                       (long long)dims[0], need > r.size - r.pos ? "more" : "other");
    if (!rc && dims[0] <= cap) rc = als__rfile_read(&r, ids_out, (size_t)dims[0] * 8);
    als__rfile_close(&r);
    return rc ? rc : dims[0];
}

ALS_API int als_matrix_write_npy(const als_matrix *m, const char *path) {
    if (!m || !path) return als__errf(ALS_EINVAL, "als_matrix_write_npy: NULL argument");
    int64_t rows = als_matrix_rows(m), cols = als_matrix_cols(m), st = als_matrix_stride(m);
    const float *d = als_matrix_data_const(m);
    char h[256];
    int hl = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                      (long long)rows, (long long)cols);
    /* Pad with spaces and a newline so the data starts 64-byte aligned, as NumPy does. */
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    memset(h + hl, ' ', (size_t)pad);
    h[hl + pad] = '\n';
    hl += pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xFF),
                             (unsigned char)(hl >> 8)};
    als__wfile w;
    int rc = als__wfile_open(&w, path);
    if (rc) return rc;
    als__wfile_write(&w, pre, sizeof pre);
    als__wfile_write(&w, h, (size_t)hl);
    for (int64_t i = 0; i < rows && cols > 0; i++)
        als__wfile_write(&w, d + i * st, (size_t)cols * sizeof(float));
    return als__wfile_commit(&w);
}
