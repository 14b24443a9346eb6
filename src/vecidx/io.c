/* vecidx_save / vecidx_load: the vecidx binary format (docs/formats.md).
 *
 * header (version 2: 112 bytes, little-endian):
 *   0  magic "\x89VECIDX\n"      8  u32 format version (2)   12 u32 endian marker 0x01020304
 *   16 u32 kind                  20 u32 metric               24 i64 dim
 *   32 i64 n                     40 i64 nlist                48 i64 nprobe
 *   56 i64 seed                  64 i64 kmeans_iters         72 i64 train_per_list
 *   80 u32 flags (bit 0: explicit ids)   84 u32 zero
 *   88 u64 payload bytes         96 u64 run identity (vecidx_run_id)
 *   104 u32 header CRC-32 of bytes 0..103   108 u32 zero
 * Version 1 (still read, run identity 0): 96 bytes, the CRC of bytes 0..83 at 84, no run
 * identity.
 * payload: flat: [ids n x i64 if flag] vectors n x dim f32 (row-major)
 *          ivf:  centroids nlist x dim f32, list sizes nlist x i64,
 *                then per list: ids size x i64, vectors size x dim f32
 * trailer: u32 CRC-32 of the payload.
 * Every size is checked against the file size before anything is allocated. */
#include <stdlib.h>
#include <string.h>

#include "vecidx/vecidx_internal.h"

#define HDR 112 /* version 2 */
#define HDR_V1 96
#define FORMAT_VERSION 2u
static const unsigned char MAGIC[8] = {0x89, 'V', 'E', 'C', 'I', 'D', 'X', '\n'};

/* Write store vectors (row-major) and optionally their ids (position ids if implicit). */
static void write_store(als__wfile *w, const vecidx__store *s, int64_t d, int with_ids) {
    if (with_ids) {
        for (int64_t i = 0; i < s->n; i++) {
            int64_t id = s->ids ? s->ids[i] : i;
            als__wfile_write(w, &id, sizeof id);
        }
    }
    float row[1024];
    float *buf = d <= 1024 ? row : malloc((size_t)d * sizeof(float));
    if (!buf) {
        w->failed = 12; /* ENOMEM: reported as an I/O failure of this save */
        return;
    }
    for (int64_t i = 0; i < s->n; i++) {
        als__panels_get(s->panels, d, i, buf);
        als__wfile_write(w, buf, (size_t)d * sizeof(float));
    }
    if (buf != row) free(buf);
}

VECIDX_API int vecidx_save(const vecidx *idx, const char *path) {
    if (!idx || !path) return als__errf(ALS_EINVAL, "vecidx_save: NULL argument");
    int ivf = idx->kind == VECIDX_KIND_IVF;
    int flat_ids = !ivf && idx->flat.ids != NULL;
    uint64_t d = (uint64_t)idx->d, n = (uint64_t)idx->n;
    uint64_t payload = ivf ? (uint64_t)idx->nlist * (d * 4 + 8) + n * (8 + d * 4)
                           : n * d * 4 + (flat_ids ? n * 8 : 0);
    unsigned char h[HDR] = {0};
    memcpy(h, MAGIC, 8);
    als__st32(h + 8, FORMAT_VERSION);
    als__st32(h + 12, 0x01020304u);
    als__st32(h + 16, (uint32_t)idx->kind);
    als__st32(h + 20, (uint32_t)idx->metric);
    als__st64(h + 24, d);
    als__st64(h + 32, n);
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
        if (idx->trained) {
            als__wfile_write(&w, idx->centroids, (size_t)(idx->nlist * idx->d) * sizeof(float));
        } else {
            float z = 0.0f;
            for (int64_t i = 0; i < idx->nlist * idx->d; i++) als__wfile_write(&w, &z, sizeof z);
        }
        for (int64_t l = 0; l < idx->nlist; l++) als__wfile_write(&w, &idx->lists[l].n, 8);
        for (int64_t l = 0; l < idx->nlist; l++) write_store(&w, &idx->lists[l], idx->d, 1);
    } else {
        write_store(&w, &idx->flat, idx->d, flat_ids);
    }
    unsigned char tr[4];
    als__st32(tr, w.crc);
    als__wfile_write(&w, tr, 4);
    return als__wfile_commit(&w);
}

/* Read `rows` vectors (and ids) into a store, checking finiteness. */
static int read_store(als__rfile *r, vecidx__store *s, int64_t d, int l2, int64_t rows,
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
        /* fill writes ids only for implicit-id stores with ids present; ours are read above */
        als__panels_fill(s->panels, l2 ? s->bias : NULL, s->n, tmp, rn, d, d);
        s->n += rn;
    }
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
    if (r.size < HDR_V1 || als__rfile_read(&r, h, HDR_V1) || memcmp(h, MAGIC, 8) != 0)
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s is not a vecidx file", path));
    uint32_t ver = als__ld32(h + 8);
    if (ver != 1 && ver != FORMAT_VERSION)
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s: format version %u, this library reads 1 and %u",
                                             path, ver, FORMAT_VERSION));
    uint64_t hdr = ver == 1 ? HDR_V1 : HDR;
    if (hdr > HDR_V1 && (r.size < hdr || als__rfile_read(&r, h + HDR_V1, hdr - HDR_V1)))
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s: truncated header", path));
    int hdr_ok = ver == 1 ? als__ld32(h + 84) == als__crc32(0, h, 84)
                          : als__ld32(h + 104) == als__crc32(0, h, 104) && als__ld32(h + 84) == 0 &&
                                als__ld32(h + 108) == 0;
    if (als__ld32(h + 12) != 0x01020304u || !hdr_ok)
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s: corrupt header (checksum)", path));
    uint64_t run_id = ver == 1 ? 0 : als__ld64(h + 96);
    uint32_t kind = als__ld32(h + 16), metric = als__ld32(h + 20), flags = als__ld32(h + 80);
    int64_t d = (int64_t)als__ld64(h + 24), n = (int64_t)als__ld64(h + 32);
    int64_t nlist = (int64_t)als__ld64(h + 40);
    uint64_t payload = als__ld64(h + 88);
    int ivf = kind == VECIDX_KIND_IVF;
    if ((kind != VECIDX_KIND_FLAT && !ivf) || d < 1 || d > VECIDX_MAX_DIM || n < 0 ||
        (ivf && (nlist < 1 || nlist > VECIDX_MAX_NLIST)) || (!ivf && nlist != 0) || flags > 3 ||
        (ivf && (flags & 1)) || (!ivf && (flags & 2)) || (ivf && !(flags & 2) && n > 0))
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s: inconsistent header", path));
    /* The payload size must follow from the header and match the file exactly. */
    uint64_t ud = (uint64_t)d, un = (uint64_t)n, want, t1, t2;
    int ovf;
    if (ivf)
        ovf = __builtin_mul_overflow((uint64_t)nlist, ud * 4 + 8, &t1) ||
              __builtin_mul_overflow(un, 8 + ud * 4, &t2) || __builtin_add_overflow(t1, t2, &want);
    else
        ovf = __builtin_mul_overflow(un, ud * 4 + ((flags & 1) ? 8 : 0), &want);
    if (ovf || want != payload || payload > r.size - hdr || r.size - hdr - payload != 4)
        return load_fail(&r, NULL, als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the "
                                             "file (truncated or corrupt)", path));
    vecidx *idx;
    rc = ivf ? vecidx_ivf_create(&idx, d, (int)metric, nlist) : vecidx_flat_create(&idx, d, (int)metric);
    if (rc) return load_fail(&r, NULL, rc == ALS_ENOMEM ? rc : als__errf(ALS_EFORMAT, "%s: bad header", path));
    static const int keys[4] = {VECIDX_PARAM_NPROBE, VECIDX_PARAM_SEED, VECIDX_PARAM_KMEANS_ITERS,
                                VECIDX_PARAM_TRAIN_PER_LIST};
    for (int i = 0; i < 4; i++)
        if (vecidx_set_int(idx, keys[i], (int64_t)als__ld64(h + 48 + 8 * i)))
            return load_fail(&r, idx, als__errf(ALS_EFORMAT, "%s: parameter out of range", path));

    int l2 = metric == VECIDX_METRIC_L2;
    /* staging for at most 4096 rows, and never more rows than the file holds */
    const int64_t tmp_rows = n < 4096 ? (n > 0 ? n : 1) : 4096;
    float *tmp = malloc((size_t)tmp_rows * (size_t)d * sizeof(float));
    if (!tmp) return load_fail(&r, idx, als__errf(ALS_ENOMEM, "vecidx_load: out of memory"));
    r.crc = 0;
    if (ivf) {
        float *c = als__aalloc((size_t)nlist, (size_t)d * sizeof(float));
        int64_t *sizes = malloc((size_t)nlist * sizeof(int64_t));
        rc = (!c || !sizes) ? als__errf(ALS_ENOMEM, "vecidx_load: out of memory") : ALS_OK;
        if (!rc) rc = als__rfile_read(&r, c, (size_t)(nlist * d) * sizeof(float));
        if (!rc && als__first_nonfinite_row(c, nlist, d, d) >= 0)
            rc = als__errf(ALS_EFORMAT, "%s: centroids hold NaN or Inf", path);
        if (!rc) rc = als__rfile_read(&r, sizes, (size_t)nlist * 8);
        int64_t total = 0;
        for (int64_t l = 0; l < nlist && !rc; l++) {
            if (sizes[l] < 0 || sizes[l] > n - total)
                rc = als__errf(ALS_EFORMAT, "%s: list sizes do not add up to %lld", path, (long long)n);
            else
                total += sizes[l];
        }
        if (!rc && total != n)
            rc = als__errf(ALS_EFORMAT, "%s: list sizes do not add up to %lld", path, (long long)n);
        if (!rc && (flags & 2)) {
            /* set_centroids owns c from here */
            vecidx__store q = {0};
            if (vecidx__store_reserve(&q, d, l2, nlist, 0)) {
                rc = als__errf(ALS_ENOMEM, "vecidx_load: out of memory");
            } else {
                vecidx__store_fill(&q, d, l2, c, nlist, d, NULL, 0);
                idx->quant = q;
                idx->centroids = c;
                idx->trained = 1;
                c = NULL;
            }
        }
        for (int64_t l = 0; l < nlist && !rc; l++)
            rc = read_store(&r, &idx->lists[l], d, l2, sizes[l], 1, tmp, tmp_rows);
        als__afree(c);
        free(sizes);
    } else {
        rc = read_store(&r, &idx->flat, d, l2, n, (flags & 1) != 0, tmp, tmp_rows);
    }
    free(tmp);
    if (rc) return load_fail(&r, idx, rc);
    uint32_t payload_crc = r.crc;
    unsigned char tr[4];
    if ((rc = als__rfile_read(&r, tr, 4))) return load_fail(&r, idx, rc);
    if (als__ld32(tr) != payload_crc)
        return load_fail(&r, idx, als__errf(ALS_EFORMAT, "%s: payload checksum mismatch (corrupt file)", path));
    idx->n = n;
    idx->run_id = run_id;
    als__rfile_close(&r);
    *out = idx;
    return ALS_OK;
}
