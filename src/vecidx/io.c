/* vecidx_save / vecidx_load / vecidx_load_mmap: the vecidx binary format (docs/formats.md).
 *
 * header (version 2: 128 bytes, little-endian):
 *   0  magic "\x89VECIDX\n"      8  u32 format version (2)   12 u32 endian marker 0x01020304
 *   16 u32 kind                  20 u32 metric               24 i64 dim
 *   32 i64 n                     40 i64 nlist                48 i64 nprobe
 *   56 i64 seed                  64 i64 kmeans_iters         72 i64 train_per_list
 *   80 u32 flags (bit 0: explicit ids, bit 1: IVF trained)   84 u32 zero
 *   88 u64 payload bytes         96 u64 run identity (vecidx_run_id)
 *   104 u32 header CRC-32 of bytes 0..103   108..127 zero
 * payload (from byte 128; every section starts on a 64-byte boundary, zero-padded):
 *   flat: [ids n x i64 if flag bit 0] panels, [bias if L2]
 *   ivf:  centroids nlist x dim f32, list sizes nlist x i64,
 *         then per list: ids size x i64, panels, [bias if L2]
 *   panels: ceil(size / 16) panels of dim x 16 f32, the search layout itself (scan.h),
 *   so a file can be searched where it lies (vecidx_load_mmap); bias: ceil(size / 16) x 16
 *   f32, -|y|^2 / 2 per vector (L2 only). Lanes past the last vector are zero.
 * trailer: u32 CRC-32 of the payload.
 * Version 1 (still read by vecidx_load, not mappable): a 96-byte header with the CRC of
 * bytes 0..83 at 84 and the payload size at 88, no run identity, and row-major vectors
 * (flat: [ids] vectors; ivf: centroids, sizes, per list ids then vectors), unpadded.
 * Every size is checked against the file size before anything is allocated. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vecidx/vecidx_internal.h"

#define HDR 128 /* version 2 */
#define HDR_V1 96
#define FORMAT_VERSION 2u
static const unsigned char MAGIC[8] = {0x89, 'V', 'E', 'C', 'I', 'D', 'X', '\n'};
static const unsigned char ZERO[64];

static uint64_t pad64(uint64_t n) { return (n + 63) & ~(uint64_t)63; }
static uint64_t npanels(uint64_t n) { return n / ALS_PANEL + (n % ALS_PANEL != 0); }

/* Bytes of one store in the version-2 payload; -1 on overflow. */
static int store_bytes(uint64_t n, uint64_t d, int l2, int with_ids, uint64_t *out) {
    uint64_t ids = 0, pan, bias = l2 ? npanels(n) * ALS_PANEL * 4 : 0;
    if (with_ids && (__builtin_mul_overflow(n, 8u, &ids) || ids > UINT64_MAX - 64)) return -1;
    ids = with_ids ? pad64(ids) : 0;
    if (__builtin_mul_overflow(npanels(n), d * ALS_PANEL * 4, &pan) ||
        __builtin_add_overflow(ids, pan, out) || __builtin_add_overflow(*out, bias, out))
        return -1;
    return 0;
}

/* IVF sections before the lists: centroids and list sizes, each padded. */
static uint64_t ivf_head_bytes(uint64_t nlist, uint64_t d) {
    return pad64(nlist * d * 4) + pad64(nlist * 8); /* nlist < 2^31, d <= 2^16: no overflow */
}

static void put_padded(als__wfile *w, const void *p, uint64_t n) {
    als__wfile_write(w, p, (size_t)n);
    als__wfile_write(w, ZERO, (size_t)(pad64(n) - n));
}

static void write_store(als__wfile *w, const vecidx__store *s, int64_t d, int l2, int with_ids) {
    if (with_ids) {
        if (s->ids) {
            put_padded(w, s->ids, (uint64_t)s->n * 8);
        } else { /* positions as ids */
            for (int64_t i = 0; i < s->n; i++) als__wfile_write(w, &i, sizeof i);
            als__wfile_write(w, ZERO, (size_t)(pad64((uint64_t)s->n * 8) - (uint64_t)s->n * 8));
        }
    }
    uint64_t np = npanels((uint64_t)s->n);
    if (np == 0) return;
    als__wfile_write(w, s->panels, (size_t)(np * (uint64_t)d * ALS_PANEL * 4));
    if (l2) als__wfile_write(w, s->bias, (size_t)(np * ALS_PANEL * 4));
}

VECIDX_API int vecidx_save(const vecidx *idx, const char *path) {
    if (!idx || !path) return als__errf(ALS_EINVAL, "vecidx_save: NULL argument");
    int ivf = idx->kind == VECIDX_KIND_IVF, l2 = idx->metric == VECIDX_METRIC_L2;
    int flat_ids = !ivf && idx->flat.ids != NULL;
    uint64_t d = (uint64_t)idx->d, payload = 0, t;
    if (ivf) {
        payload = ivf_head_bytes((uint64_t)idx->nlist, d);
        for (int64_t l = 0; l < idx->nlist; l++) {
            if (store_bytes((uint64_t)idx->lists[l].n, d, l2, 1, &t)) return als__errf(ALS_ENOMEM, "vecidx_save: size overflow");
            payload += t;
        }
    } else if (store_bytes((uint64_t)idx->n, d, l2, flat_ids, &payload)) {
        return als__errf(ALS_ENOMEM, "vecidx_save: size overflow");
    }
    unsigned char h[HDR] = {0};
    memcpy(h, MAGIC, 8);
    als__st32(h + 8, FORMAT_VERSION);
    als__st32(h + 12, 0x01020304u);
    als__st32(h + 16, (uint32_t)idx->kind);
    als__st32(h + 20, (uint32_t)idx->metric);
    als__st64(h + 24, d);
    als__st64(h + 32, (uint64_t)idx->n);
    als__st64(h + 40, (uint64_t)idx->nlist);
    als__st64(h + 48, (uint64_t)idx->nprobe);
    als__st64(h + 56, (uint64_t)idx->seed);
    als__st64(h + 64, (uint64_t)idx->kmeans_iters);
    als__st64(h + 72, (uint64_t)idx->train_per_list);
    als__st32(h + 80, (uint32_t)(flat_ids | (ivf && idx->trained ? 2 : 0)));
    als__st64(h + 88, payload);
    als__st64(h + 96, idx->run_id);
    als__st32(h + 104, als__crc32(0, h, 104));

    als__wfile w;
    int rc = als__wfile_open(&w, path);
    if (rc) return rc;
    als__wfile_write(&w, h, HDR);
    w.crc = 0;
    if (ivf) {
        uint64_t cb = (uint64_t)idx->nlist * d * 4;
        if (idx->trained) {
            put_padded(&w, idx->centroids, cb);
        } else {
            for (uint64_t i = 0; i < pad64(cb); i += 64) als__wfile_write(&w, ZERO, 64);
        }
        for (int64_t l = 0; l < idx->nlist; l++) als__wfile_write(&w, &idx->lists[l].n, 8);
        als__wfile_write(&w, ZERO, (size_t)(pad64((uint64_t)idx->nlist * 8) - (uint64_t)idx->nlist * 8));
        for (int64_t l = 0; l < idx->nlist; l++) write_store(&w, &idx->lists[l], idx->d, l2, 1);
    } else {
        write_store(&w, &idx->flat, idx->d, l2, flat_ids);
    }
    unsigned char tr[4];
    als__st32(tr, w.crc);
    als__wfile_write(&w, tr, 4);
    return als__wfile_commit(&w);
}

/* ------------------------------------------------------------------ header */

typedef struct {
    uint32_t ver, kind, metric, flags;
    int64_t d, n, nlist;
    uint64_t payload, run_id, hdr;
    int64_t params[4]; /* nprobe, seed, kmeans_iters, train_per_list */
} header;

/* Check a header (h holds at least HDR_V1 bytes, HDR for version 2) against the file size.
 * Leaves only the payload's own consistency (IVF list sizes) to the caller. */
static int parse_header(const unsigned char *h, uint64_t have, uint64_t size, const char *path,
                        header *o) {
    if (have < HDR_V1 || memcmp(h, MAGIC, 8) != 0)
        return als__errf(ALS_EFORMAT, "%s is not a vecidx file", path);
    o->ver = als__ld32(h + 8);
    if (o->ver != 1 && o->ver != FORMAT_VERSION)
        return als__errf(ALS_EFORMAT, "%s: format version %u, this library reads 1 and %u", path,
                         o->ver, FORMAT_VERSION);
    o->hdr = o->ver == 1 ? HDR_V1 : HDR;
    if (have < o->hdr) return als__errf(ALS_EFORMAT, "%s: truncated header", path);
    int ok = als__ld32(h + 12) == 0x01020304u;
    if (o->ver == 1) {
        ok = ok && als__ld32(h + 84) == als__crc32(0, h, 84);
    } else {
        ok = ok && als__ld32(h + 104) == als__crc32(0, h, 104) && als__ld32(h + 84) == 0;
        for (int i = 108; i < HDR; i++) ok = ok && h[i] == 0;
    }
    if (!ok) return als__errf(ALS_EFORMAT, "%s: corrupt header (checksum)", path);
    o->run_id = o->ver == 1 ? 0 : als__ld64(h + 96);
    o->kind = als__ld32(h + 16);
    o->metric = als__ld32(h + 20);
    o->flags = als__ld32(h + 80);
    o->d = (int64_t)als__ld64(h + 24);
    o->n = (int64_t)als__ld64(h + 32);
    o->nlist = (int64_t)als__ld64(h + 40);
    o->payload = als__ld64(h + 88);
    for (int i = 0; i < 4; i++) o->params[i] = (int64_t)als__ld64(h + 48 + 8 * i);
    int ivf = o->kind == VECIDX_KIND_IVF;
    if ((o->kind != VECIDX_KIND_FLAT && !ivf) ||
        (o->metric != VECIDX_METRIC_IP && o->metric != VECIDX_METRIC_L2) || o->d < 1 ||
        o->d > VECIDX_MAX_DIM || o->n < 0 || (ivf && (o->nlist < 1 || o->nlist > VECIDX_MAX_NLIST)) ||
        (!ivf && o->nlist != 0) || o->flags > 3 || (ivf && (o->flags & 1)) ||
        (!ivf && (o->flags & 2)) || (ivf && !(o->flags & 2) && o->n > 0))
        return als__errf(ALS_EFORMAT, "%s: inconsistent header", path);
    if (o->payload > size || size - o->payload < o->hdr || size - o->payload - o->hdr != 4)
        return als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the file (truncated "
                         "or corrupt)", path);
    /* What the header alone fixes must fit the payload: n vectors need at least n x d x 4
     * bytes, IVF's centroids and sizes come first. */
    uint64_t t;
    uint64_t head = o->ver == 1 ? (uint64_t)o->nlist * ((uint64_t)o->d * 4 + 8) /* unpadded */
                                : ivf_head_bytes((uint64_t)o->nlist, (uint64_t)o->d);
    if (__builtin_mul_overflow((uint64_t)o->n, (uint64_t)o->d * 4, &t) || t > o->payload ||
        (ivf && head > o->payload))
        return als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the file (truncated "
                         "or corrupt)", path);
    if (!ivf) {
        int bad = o->ver == 1 ? __builtin_mul_overflow((uint64_t)o->n, (uint64_t)o->d * 4 + ((o->flags & 1) ? 8 : 0), &t)
                              : store_bytes((uint64_t)o->n, (uint64_t)o->d, o->metric == VECIDX_METRIC_L2, o->flags & 1, &t);
        if (bad || t != o->payload)
            return als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the file "
                             "(truncated or corrupt)", path);
    }
    return ALS_OK;
}

static int new_index(const header *hi, vecidx **out, const char *path) {
    vecidx *idx;
    int rc = hi->kind == VECIDX_KIND_IVF ? vecidx_ivf_create(&idx, hi->d, (int)hi->metric, hi->nlist)
                                          : vecidx_flat_create(&idx, hi->d, (int)hi->metric);
    if (rc) return rc == ALS_ENOMEM ? rc : als__errf(ALS_EFORMAT, "%s: bad header", path);
    static const int keys[4] = {VECIDX_PARAM_NPROBE, VECIDX_PARAM_SEED, VECIDX_PARAM_KMEANS_ITERS,
                                VECIDX_PARAM_TRAIN_PER_LIST};
    for (int i = 0; i < 4; i++)
        if (vecidx_set_int(idx, keys[i], hi->params[i])) {
            vecidx_destroy(idx);
            return als__errf(ALS_EFORMAT, "%s: parameter out of range", path);
        }
    idx->run_id = hi->run_id;
    *out = idx;
    return ALS_OK;
}

/* List sizes (read already) against n and the payload: every size in range, their sum n,
 * and for version 2 the payload exactly what they need. */
static int check_sizes(const header *hi, const int64_t *sizes, const char *path) {
    int64_t total = 0;
    uint64_t need = ivf_head_bytes((uint64_t)hi->nlist, (uint64_t)hi->d), t;
    int l2 = hi->metric == VECIDX_METRIC_L2;
    for (int64_t l = 0; l < hi->nlist; l++) {
        if (sizes[l] < 0 || sizes[l] > hi->n - total)
            return als__errf(ALS_EFORMAT, "%s: list sizes do not add up to %lld", path, (long long)hi->n);
        total += sizes[l];
        if (hi->ver != 1) {
            if (store_bytes((uint64_t)sizes[l], (uint64_t)hi->d, l2, 1, &t) ||
                __builtin_add_overflow(need, t, &need))
                return als__errf(ALS_EFORMAT, "%s: list sizes overflow", path);
        }
    }
    if (total != hi->n)
        return als__errf(ALS_EFORMAT, "%s: list sizes do not add up to %lld", path, (long long)hi->n);
    if (hi->ver == 1) {
        uint64_t c = (uint64_t)hi->nlist * ((uint64_t)hi->d * 4 + 8), v;
        if (__builtin_mul_overflow((uint64_t)hi->n, 8 + (uint64_t)hi->d * 4, &v) || c + v != hi->payload)
            return als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the file "
                             "(truncated or corrupt)", path);
    } else if (need != hi->payload) {
        return als__errf(ALS_EFORMAT, "%s: the list sizes do not match the payload size", path);
    }
    return ALS_OK;
}

/* Install trained centroids (c, owned from here on) and their quantizer store. */
static int install_centroids(vecidx *idx, float *c) {
    vecidx__store q = {0};
    int l2 = idx->metric == VECIDX_METRIC_L2;
    if (vecidx__store_reserve(&q, idx->d, l2, idx->nlist, 0)) {
        als__afree(c);
        return als__errf(ALS_ENOMEM, "vecidx_load: out of memory");
    }
    vecidx__store_fill(&q, idx->d, l2, c, idx->nlist, idx->d, NULL, 0);
    idx->quant = q;
    idx->centroids = c;
    idx->trained = 1;
    return ALS_OK;
}

/* ------------------------------------------------------------------ copying load */

/* Version 1: `rows` row-major vectors (and ids) into a store, checking finiteness. */
static int read_store_v1(als__rfile *r, vecidx__store *s, int64_t d, int l2, int64_t rows,
                         int with_ids, float *tmp, int64_t tmp_rows) {
    if (rows == 0) return ALS_OK;
    if (vecidx__store_reserve(s, d, l2, rows, with_ids))
        return als__errf(ALS_ENOMEM, "vecidx_load: out of memory for %lld vectors", (long long)rows);
    int rc;
    if (with_ids && (rc = als__rfile_read(r, s->ids + s->n, (size_t)rows * 8))) return rc;
    if (with_ids)
        for (int64_t i = 0; i < rows; i++)
            if (s->ids[s->n + i] == -1)
                return als__errf(ALS_EFORMAT, "%s: id -1 stored in the index", r->path);
    for (int64_t r0 = 0; r0 < rows; r0 += tmp_rows) {
        int64_t rn = rows - r0 < tmp_rows ? rows - r0 : tmp_rows;
        if ((rc = als__rfile_read(r, tmp, (size_t)(rn * d) * sizeof(float)))) return rc;
        if (als__first_nonfinite_row(tmp, rn, d, d) >= 0)
            return als__errf(ALS_EFORMAT, "%s: stored vectors hold NaN or Inf", r->path);
        als__panels_fill(s->panels, l2 ? s->bias : NULL, s->n, tmp, rn, d, d);
        s->n += rn;
    }
    return ALS_OK;
}

static int skip_pad(als__rfile *r, uint64_t n) {
    unsigned char b[64];
    uint64_t p = pad64(n) - n;
    return p ? als__rfile_read(r, b, (size_t)p) : ALS_OK;
}

/* Panels of `rows` vectors: finite, zero past the last vector; for L2 the stored bias must
 * be exactly what the vectors give (the kernels' own arithmetic, bit for bit). */
static int check_panels(const float *panels, const float *bias, int64_t rows, int64_t d,
                        const char *path) {
    uint64_t np = npanels((uint64_t)rows);
    for (uint64_t p = 0; p < np; p++) {
        const float *pp = panels + p * (uint64_t)d * ALS_PANEL;
        for (int64_t t = 0; t < d * ALS_PANEL; t++) {
            int64_t v = (int64_t)p * ALS_PANEL + t % ALS_PANEL;
            if (!isfinite(pp[t]) || (v >= rows && pp[t] != 0.0f))
                return als__errf(ALS_EFORMAT, "%s: stored vectors hold NaN or Inf (or padding "
                                 "that is not zero)", path);
        }
        if (!bias) continue;
        for (int l = 0; l < ALS_PANEL; l++) {
            int64_t v = (int64_t)p * ALS_PANEL + l;
            float ss = 0.0f;
            if (v < rows)
                for (int64_t j = 0; j < d; j++) ss = als__fmaf(pp[j * ALS_PANEL + l], pp[j * ALS_PANEL + l], ss);
            float want = v < rows ? -0.5f * ss : 0.0f;
            if (memcmp(&want, &bias[p * ALS_PANEL + (uint64_t)l], sizeof want) != 0)
                return als__errf(ALS_EFORMAT, "%s: stored norms do not match the vectors", path);
        }
    }
    return ALS_OK;
}

static int read_store_v2(als__rfile *r, vecidx__store *s, int64_t d, int l2, int64_t rows,
                         int with_ids) {
    if (rows == 0) return ALS_OK;
    if (vecidx__store_reserve(s, d, l2, rows, with_ids))
        return als__errf(ALS_ENOMEM, "vecidx_load: out of memory for %lld vectors", (long long)rows);
    int rc;
    if (with_ids) {
        if ((rc = als__rfile_read(r, s->ids, (size_t)rows * 8)) || (rc = skip_pad(r, (uint64_t)rows * 8)))
            return rc;
        for (int64_t i = 0; i < rows; i++)
            if (s->ids[i] == -1) return als__errf(ALS_EFORMAT, "%s: id -1 stored in the index", r->path);
    }
    uint64_t np = npanels((uint64_t)rows);
    if ((rc = als__rfile_read(r, s->panels, (size_t)(np * (uint64_t)d * ALS_PANEL * 4))) ||
        (l2 && (rc = als__rfile_read(r, s->bias, (size_t)(np * ALS_PANEL * 4)))))
        return rc;
    if ((rc = check_panels(s->panels, l2 ? s->bias : NULL, rows, d, r->path))) return rc;
    s->n = rows;
    return ALS_OK;
}

static int load_fail(als__rfile *r, vecidx *idx, int rc) {
    als__rfile_close(r);
    vecidx_destroy(idx);
    return rc;
}

VECIDX_API int vecidx_load(vecidx **out, const char *path) {
    if (!out) return als__errf(ALS_EINVAL, "vecidx_load: out is NULL");
    *out = NULL;
    if (!path) return als__errf(ALS_EINVAL, "vecidx_load: path is NULL");
    als__rfile r;
    int rc = als__rfile_open(&r, path);
    if (rc) return rc;
    unsigned char h[HDR];
    header hi;
    uint64_t have = r.size < HDR_V1 ? 0 : HDR_V1;
    if (have && als__rfile_read(&r, h, HDR_V1)) have = 0;
    if (have && als__ld32(h + 8) == FORMAT_VERSION && r.size >= HDR && !als__rfile_read(&r, h + HDR_V1, HDR - HDR_V1))
        have = HDR;
    if ((rc = parse_header(h, have, r.size, path, &hi))) return load_fail(&r, NULL, rc);
    vecidx *idx;
    if ((rc = new_index(&hi, &idx, path))) return load_fail(&r, NULL, rc);
    int64_t d = hi.d, n = hi.n, nlist = hi.nlist;
    int l2 = hi.metric == VECIDX_METRIC_L2, v1 = hi.ver == 1;
    /* version 1 stages row-major vectors: at most 4096 rows, never more than the file holds */
    const int64_t tmp_rows = n < 4096 ? (n > 0 ? n : 1) : 4096;
    float *tmp = v1 ? malloc((size_t)tmp_rows * (size_t)d * sizeof(float)) : NULL;
    if (v1 && !tmp) return load_fail(&r, idx, als__errf(ALS_ENOMEM, "vecidx_load: out of memory"));
    r.crc = 0;
    if (hi.kind == VECIDX_KIND_IVF) {
        uint64_t cb = (uint64_t)nlist * (uint64_t)d * 4;
        float *c = als__aalloc((size_t)nlist, (size_t)d * sizeof(float));
        int64_t *sizes = malloc((size_t)nlist * sizeof(int64_t));
        rc = (!c || !sizes) ? als__errf(ALS_ENOMEM, "vecidx_load: out of memory") : ALS_OK;
        if (!rc) rc = als__rfile_read(&r, c, (size_t)cb);
        if (!rc && !v1) rc = skip_pad(&r, cb);
        if (!rc && als__first_nonfinite_row(c, nlist, d, d) >= 0)
            rc = als__errf(ALS_EFORMAT, "%s: centroids hold NaN or Inf", path);
        if (!rc) rc = als__rfile_read(&r, sizes, (size_t)nlist * 8);
        if (!rc && !v1) rc = skip_pad(&r, (uint64_t)nlist * 8);
        if (!rc) rc = check_sizes(&hi, sizes, path);
        if (!rc && (hi.flags & 2)) {
            rc = install_centroids(idx, c);
            c = NULL;
        }
        for (int64_t l = 0; l < nlist && !rc; l++)
            rc = v1 ? read_store_v1(&r, &idx->lists[l], d, l2, sizes[l], 1, tmp, tmp_rows)
                    : read_store_v2(&r, &idx->lists[l], d, l2, sizes[l], 1);
        als__afree(c);
        free(sizes);
    } else {
        rc = v1 ? read_store_v1(&r, &idx->flat, d, l2, n, (hi.flags & 1) != 0, tmp, tmp_rows)
                : read_store_v2(&r, &idx->flat, d, l2, n, (hi.flags & 1) != 0);
    }
    free(tmp);
    if (rc) return load_fail(&r, idx, rc);
    uint32_t payload_crc = r.crc;
    unsigned char tr[4];
    if ((rc = als__rfile_read(&r, tr, 4))) return load_fail(&r, idx, rc);
    if (als__ld32(tr) != payload_crc)
        return load_fail(&r, idx, als__errf(ALS_EFORMAT, "%s: payload checksum mismatch (corrupt file)", path));
    idx->n = n;
    als__rfile_close(&r);
    *out = idx;
    return ALS_OK;
}

/* ------------------------------------------------------------------ memory-mapped load */

static void map_store(vecidx__store *s, const unsigned char *p, int64_t rows, int64_t d, int l2,
                      int with_ids) {
    memset(s, 0, sizeof *s);
    s->borrowed = 1;
    if (rows == 0) return;
    if (with_ids) {
        s->ids = (int64_t *)(uintptr_t)p; /* never written: a mapped index is read-only */
        s->cap_ids = rows;
        p += pad64((uint64_t)rows * 8);
    }
    uint64_t np = npanels((uint64_t)rows);
    s->panels = (float *)(uintptr_t)p;
    s->bias = l2 ? (float *)(uintptr_t)(p + np * (uint64_t)d * ALS_PANEL * 4) : NULL;
    s->cap_panels = (int64_t)np;
    s->n = rows;
}

VECIDX_API int vecidx_load_mmap(vecidx **out, const char *path) {
    if (!out) return als__errf(ALS_EINVAL, "vecidx_load_mmap: out is NULL");
    *out = NULL;
    if (!path) return als__errf(ALS_EINVAL, "vecidx_load_mmap: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return als__errf(e == ENOENT ? ALS_ENOTFOUND : ALS_EIO, "cannot open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return als__errf(ALS_EIO, "%s: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < HDR_V1) {
        close(fd);
        return als__errf(ALS_EFORMAT, "%s is not a vecidx file", path);
    }
    const unsigned char *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return als__errf(e == ENOMEM ? ALS_ENOMEM : ALS_EIO, "cannot map %s: %s", path, strerror(e));
    header hi;
    vecidx *idx = NULL;
    int rc = parse_header(m, size < HDR ? size : HDR, size, path, &hi);
    if (!rc && hi.ver == 1)
        rc = als__errf(ALS_EUNSUPPORTED, "%s: a version-1 index file cannot be mapped: load it "
                       "with vecidx_load and save it again", path);
    if (!rc) rc = new_index(&hi, &idx, path);
    if (rc) {
        munmap((void *)(uintptr_t)m, (size_t)size);
        return rc;
    }
    idx->map = (void *)(uintptr_t)m;
    idx->map_len = (size_t)size;
    int l2 = hi.metric == VECIDX_METRIC_L2;
    const unsigned char *p = m + HDR;
    if (hi.kind == VECIDX_KIND_IVF) {
        uint64_t cb = (uint64_t)hi.nlist * (uint64_t)hi.d * 4;
        const int64_t *sizes = (const int64_t *)(uintptr_t)(p + pad64(cb));
        rc = check_sizes(&hi, sizes, path);
        float *c = NULL;
        /* the centroid section is checked even when untrained, as vecidx_load does */
        for (uint64_t t = 0; !rc && t < (uint64_t)hi.nlist * (uint64_t)hi.d; t++) {
            float v;
            memcpy(&v, p + 4 * t, 4);
            if (!isfinite(v)) rc = als__errf(ALS_EFORMAT, "%s: centroids hold NaN or Inf", path);
        }
        if (!rc && (hi.flags & 2)) { /* the quantizer is small: a copy, validated */
            c = als__aalloc((size_t)hi.nlist, (size_t)hi.d * sizeof(float));
            if (!c) rc = als__errf(ALS_ENOMEM, "vecidx_load_mmap: out of memory");
            else memcpy(c, p, (size_t)cb);
            if (!rc && als__first_nonfinite_row(c, hi.nlist, hi.d, hi.d) >= 0) {
                als__afree(c);
                rc = als__errf(ALS_EFORMAT, "%s: centroids hold NaN or Inf", path);
            }
            if (!rc) rc = install_centroids(idx, c);
        }
        p += ivf_head_bytes((uint64_t)hi.nlist, (uint64_t)hi.d);
        for (int64_t l = 0; l < hi.nlist && !rc; l++) {
            uint64_t t;
            store_bytes((uint64_t)sizes[l], (uint64_t)hi.d, l2, 1, &t); /* checked above */
            map_store(&idx->lists[l], p, sizes[l], hi.d, l2, 1);
            p += t;
        }
    } else {
        map_store(&idx->flat, p, hi.n, hi.d, l2, (hi.flags & 1) != 0);
    }
    if (rc) {
        vecidx_destroy(idx);
        return rc;
    }
    idx->n = hi.n;
    idx->map_payload = hi.payload;
    *out = idx;
    return ALS_OK;
}

VECIDX_API int vecidx_verify(const vecidx *idx) {
    if (!idx) return als__errf(ALS_EINVAL, "vecidx_verify: idx is NULL");
    if (!idx->map) return ALS_OK; /* built here or read by vecidx_load: checked already */
    const unsigned char *m = idx->map;
    uint32_t crc = als__crc32(0, m + HDR, (size_t)idx->map_payload);
    if (als__ld32(m + HDR + idx->map_payload) != crc)
        return als__errf(ALS_EFORMAT, "vecidx_verify: the mapped file's payload checksum does not "
                         "match (corrupt file)");
    int l2 = idx->metric == VECIDX_METRIC_L2;
    const vecidx__store *s = idx->kind == VECIDX_KIND_IVF ? idx->lists : &idx->flat;
    int64_t ns = idx->kind == VECIDX_KIND_IVF ? idx->nlist : 1;
    for (int64_t i = 0; i < ns; i++) {
        int rc = check_panels(s[i].panels, l2 ? s[i].bias : NULL, s[i].n, idx->d, "vecidx_verify");
        if (rc) return rc;
        for (int64_t j = 0; s[i].ids && j < s[i].n; j++)
            if (s[i].ids[j] == -1) return als__errf(ALS_EFORMAT, "vecidx_verify: id -1 stored in the index");
    }
    return ALS_OK;
}
