/* als_model_save / als_model_load (the als model format, docs/formats.md) and the NumPy
 * export of factors and ids.
 *
 * header (version 2: 144 bytes, little-endian):
 *   0 magic "\x89ALSMDL\n"   8 u32 format version (2)   12 u32 endian marker 0x01020304
 *   16 i64 rank   24 i64 users   32 i64 items   40 i64 seed
 *   48 f64 x 10: max_iter implicit nonnegative reg alpha reg_scaling solver cg_steps
 *               num_threads compute_loss
 *   128 u64 run identity (als_model_run_id)
 *   136 u32 header CRC-32 of bytes 0..135   140 u32 zero
 * Version 1 (still read, run identity 0) is the same without the run identity: 136 bytes,
 * CRC of bytes 0..127 at 128, zero at 132.
 * payload: user ids (users x i64), item ids (items x i64), user factors (users x rank f32),
 *          item factors (items x rank f32); trailer: u32 CRC-32 of the payload.
 * Version 3 (since 1.2; written when the model keeps its training interactions, else
 * version 2) is version 2 followed by the interactions section:
 *   u32 tag 0x52544E49 ("INTR")   u32 item index bytes (2 or 4)   u32 value kind (0: all
 *   1, none stored; 1: u16; 2: f32)   u32 zero   i64 interactions n
 *   row pointers ((users + 1) x i64: 0, non-decreasing, n)   item rows (n x 2 or 4 bytes)
 *   values (n x 0, 2 or 4 bytes)   u32 CRC-32 of the section before it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als/model_internal.h"

#define HDR 144   /* versions 2 and 3 */
#define INTR_TAG 0x52544E49u
#define HDR_V1 136
#define NPF 10
static const unsigned char MAGIC[8] = {0x89, 'A', 'L', 'S', 'M', 'D', 'L', '\n'};

static double *pfield(als__params *p, int i) {
    double *f[NPF] = {&p->max_iter, &p->implicit, &p->nonnegative, &p->reg, &p->alpha,
                      &p->reg_scaling, &p->solver, &p->cg_steps, &p->num_threads, &p->compute_loss};
    return f[i];
}

ALS_API int als_model_save(const als_model *m, const char *path) {
    if (!m || !path) return als__errf(ALS_EINVAL, "als_model_save: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_model_save: the model is not fitted");
    als__params p = m->p_fit;
    int64_t r = (int64_t)p.rank, nu = als_matrix_rows(m->U), ni = als_matrix_rows(m->V);
    unsigned char h[HDR] = {0};
    memcpy(h, MAGIC, 8);
    const als__inter *x = &m->inter;
    als__st32(h + 8, x->ptr ? 3 : 2); /* version 2 readers still read models without them */
    als__st32(h + 12, 0x01020304u);
    als__st64(h + 16, (uint64_t)r);
    als__st64(h + 24, (uint64_t)nu);
    als__st64(h + 32, (uint64_t)ni);
    als__st64(h + 40, (uint64_t)p.seed_exact);
    for (int i = 0; i < NPF; i++) memcpy(h + 48 + 8 * i, pfield(&p, i), 8);
    als__st64(h + 128, m->run_id);
    als__st32(h + 136, als__crc32(0, h, 136));
    als__wfile w;
    int rc = als__wfile_open(&w, path);
    if (rc) return rc;
    als__wfile_write(&w, h, HDR);
    w.crc = 0;
    als__wfile_write(&w, m->umap.ids, (size_t)nu * 8);
    als__wfile_write(&w, m->imap.ids, (size_t)ni * 8);
    als__wfile_write(&w, als_matrix_data_const(m->U), (size_t)(nu * r) * sizeof(float));
    als__wfile_write(&w, als_matrix_data_const(m->V), (size_t)(ni * r) * sizeof(float));
    unsigned char tr[4];
    als__st32(tr, w.crc);
    als__wfile_write(&w, tr, 4);
    if (x->ptr) {
        int64_t n = x->ptr[nu];
        size_t vb = x->vk == ALS__V_F32 ? 4 : x->vk == ALS__V_U16 ? 2 : 0;
        unsigned char sh[24] = {0};
        als__st32(sh, INTR_TAG);
        als__st32(sh + 4, (uint32_t)x->iw);
        als__st32(sh + 8, (uint32_t)x->vk);
        als__st64(sh + 16, (uint64_t)n);
        w.crc = 0;
        als__wfile_write(&w, sh, sizeof sh);
        als__wfile_write(&w, x->ptr, (size_t)(nu + 1) * 8);
        als__wfile_write(&w, x->col, (size_t)n * (size_t)x->iw);
        if (vb) als__wfile_write(&w, x->val, (size_t)n * vb);
        als__st32(tr, w.crc);
        als__wfile_write(&w, tr, 4);
    }
    return als__wfile_commit(&w);
}

/* Version 3's interactions section, validated (row pointers, item rows in range, finite
 * values) before it becomes the model's. */
static int read_inter(als__rfile *f, als__inter *x, int64_t nu, int64_t ni) {
    const char *path = f->path;
    unsigned char sh[24];
    memset(x, 0, sizeof *x);
    f->crc = 0;
    int rc = als__rfile_read(f, sh, sizeof sh);
    if (rc) return rc;
    uint32_t iw = als__ld32(sh + 4), vk = als__ld32(sh + 8);
    int64_t n = (int64_t)als__ld64(sh + 16);
    size_t vb = vk == ALS__V_F32 ? 4 : vk == ALS__V_U16 ? 2 : 0;
    uint64_t want;
    if (als__ld32(sh) != INTR_TAG || (iw != 2 && iw != 4) || vk > ALS__V_F32 || als__ld32(sh + 12) != 0 ||
        n < 0 || (iw == 2 && ni > 65536) ||
        __builtin_mul_overflow((uint64_t)n, (uint64_t)iw + vb, &want) ||
        __builtin_add_overflow(want, (uint64_t)(nu + 1) * 8 + 4, &want) || want != f->size - f->pos)
        return als__errf(ALS_EFORMAT, "%s: corrupt or truncated interactions section", path);
    x->iw = (int)iw;
    x->vk = (int)vk;
    x->ptr = malloc((size_t)(nu + 1) * sizeof(int64_t));
    x->col = als__aalloc((size_t)(n ? n : 1), iw);
    x->val = vb ? als__aalloc((size_t)(n ? n : 1), vb) : NULL;
    if (!x->ptr || !x->col || (vb && !x->val)) {
        als__inter_free(x);
        return als__errf(ALS_ENOMEM, "als_model_load: out of memory for %lld interactions", (long long)n);
    }
    if ((rc = als__rfile_read(f, x->ptr, (size_t)(nu + 1) * 8)) ||
        (rc = als__rfile_read(f, x->col, (size_t)n * iw)) ||
        (vb && (rc = als__rfile_read(f, x->val, (size_t)n * vb)))) {
        als__inter_free(x);
        return rc;
    }
    uint32_t crc = f->crc;
    unsigned char tr[4];
    if ((rc = als__rfile_read(f, tr, 4)) || als__ld32(tr) != crc) {
        als__inter_free(x);
        return rc ? rc : als__errf(ALS_EFORMAT, "%s: interactions checksum mismatch (corrupt file)", path);
    }
    int ok = x->ptr[0] == 0 && x->ptr[nu] == n;
    for (int64_t u = 0; ok && u < nu; u++) ok = x->ptr[u] <= x->ptr[u + 1];
    for (int64_t e = 0; ok && e < n; e++) ok = als__inter_item(x, e) >= 0 && als__inter_item(x, e) < ni;
    for (int64_t e = 0; ok && vk == ALS__V_F32 && e < n; e++) ok = isfinite(((const float *)x->val)[e]);
    if (!ok) {
        als__inter_free(x);
        return als__errf(ALS_EFORMAT, "%s: the interactions section is inconsistent (row pointers, "
                         "item rows or values out of range)", path);
    }
    return ALS_OK;
}

static int read_ids(als__rfile *f, als__idmap *map, int64_t n) {
    int64_t buf[1024];
    if (als__idmap_reserve(map, n)) return als__errf(ALS_ENOMEM, "als_model_load: out of memory");
    for (int64_t i = 0; i < n; i += 1024) {
        int64_t c = n - i < 1024 ? n - i : 1024;
        int rc = als__rfile_read(f, buf, (size_t)c * 8);
        if (rc) return rc;
        for (int64_t j = 0; j < c; j++) {
            if (buf[j] == -1) /* reserved: it marks a missing result */
                return als__errf(ALS_EFORMAT, "%s: id -1 stored (reserved for missing results)", f->path);
            int64_t before = map->n;
            if (als__idmap_put(map, buf[j]) != before)
                return als__errf(ALS_EFORMAT, "%s: duplicate id %lld", f->path, (long long)buf[j]);
        }
    }
    return ALS_OK;
}

ALS_API int als_model_load(als_model **out, const char *path) {
    if (!out) return als__errf(ALS_EINVAL, "als_model_load: out is NULL");
    *out = NULL;
    if (!path) return als__errf(ALS_EINVAL, "als_model_load: path is NULL");
    als__rfile f;
    int rc = als__rfile_open(&f, path);
    if (rc) return rc;
    unsigned char h[HDR];
    als_model *m = NULL;
    if (f.size < HDR_V1 || als__rfile_read(&f, h, HDR_V1) || memcmp(h, MAGIC, 8) != 0) {
        rc = als__errf(ALS_EFORMAT, "%s is not an als model file", path);
        goto fail;
    }
    uint32_t version = als__ld32(h + 8);
    if (version < 1 || version > 3) {
        rc = als__errf(ALS_EFORMAT, "%s: format version %u, this library reads 1 to 3", path,
                       version);
        goto fail;
    }
    size_t hdr = version == 1 ? HDR_V1 : HDR;
    if (hdr > HDR_V1 && (f.size < hdr || als__rfile_read(&f, h + HDR_V1, hdr - HDR_V1))) {
        rc = als__errf(ALS_EFORMAT, "%s: truncated header", path);
        goto fail;
    }
    if (als__ld32(h + 12) != 0x01020304u || als__ld32(h + hdr - 8) != als__crc32(0, h, hdr - 8) ||
        als__ld32(h + hdr - 4) != 0) {
        rc = als__errf(ALS_EFORMAT, "%s: corrupt header (checksum)", path);
        goto fail;
    }
    uint64_t run_id = version >= 2 ? als__ld64(h + 128) : 0;
    int64_t r = (int64_t)als__ld64(h + 16), nu = (int64_t)als__ld64(h + 24), ni = (int64_t)als__ld64(h + 32);
    uint64_t want, t;
    if (r < 1 || r > 1024 || nu < 0 || ni < 0 || nu > INT32_MAX || ni > INT32_MAX ||
        __builtin_mul_overflow((uint64_t)(nu + ni), 8 + 4 * (uint64_t)r, &want) ||
        __builtin_add_overflow(want, (uint64_t)hdr + 4, &t) || (version < 3 ? t != f.size : t > f.size)) {
        rc = als__errf(ALS_EFORMAT, "%s: sizes in the header do not match the file (truncated or corrupt)", path);
        goto fail;
    }
    if ((rc = als_model_create(&m))) goto fail;
    als__params p = m->p;
    p.rank = (double)r;
    p.seed_exact = (int64_t)als__ld64(h + 40);
    p.seed = (double)p.seed_exact;
    for (int i = 0; i < NPF; i++) memcpy(pfield(&p, i), h + 48 + 8 * i, 8);
    m->p = p;
    if (als__params_check(&p)) {
        rc = als__errf(ALS_EFORMAT, "%s: a stored parameter is out of range", path);
        goto fail;
    }
    if (als_matrix_create(&m->U, nu, r) || als_matrix_create(&m->V, ni, r)) {
        rc = als__errf(ALS_ENOMEM, "als_model_load: out of memory");
        goto fail;
    }
    f.crc = 0;
    if ((rc = read_ids(&f, &m->umap, nu)) || (rc = read_ids(&f, &m->imap, ni)) ||
        (rc = als__rfile_read(&f, als_matrix_data(m->U), (size_t)(nu * r) * sizeof(float))) ||
        (rc = als__rfile_read(&f, als_matrix_data(m->V), (size_t)(ni * r) * sizeof(float))))
        goto fail;
    uint32_t crc = f.crc;
    unsigned char tr[4];
    if ((rc = als__rfile_read(&f, tr, 4))) goto fail;
    if (als__ld32(tr) != crc) {
        rc = als__errf(ALS_EFORMAT, "%s: payload checksum mismatch (corrupt file)", path);
        goto fail;
    }
    if (version >= 3 && (rc = read_inter(&f, &m->inter, nu, ni))) goto fail;
    m->p.keep_inter = m->inter.ptr != NULL; /* what the file holds; a refit keeps as much */
    if (als__first_nonfinite_row(als_matrix_data(m->U), nu, r, r) >= 0 ||
        als__first_nonfinite_row(als_matrix_data(m->V), ni, r, r) >= 0) {
        rc = als__errf(ALS_EFORMAT, "%s: stored factors hold NaN or Inf", path);
        goto fail;
    }
    m->p_fit = m->p;
    m->fitted = 1;
    m->run_id = run_id;
    if (als__model_finish(m)) {
        rc = als__errf(ALS_ENOMEM, "als_model_load: out of memory");
        goto fail;
    }
    als__rfile_close(&f);
    *out = m;
    return ALS_OK;
fail:
    als__rfile_close(&f);
    als_model_destroy(m);
    return rc;
}

/* A 1-D or 2-D .npy of int64 ids, written atomically. */
static int write_ids_npy(const int64_t *ids, int64_t n, const char *path) {
    char hd[128];
    int hl = snprintf(hd, sizeof hd, "{'descr': '<i8', 'fortran_order': False, 'shape': (%lld,), }", (long long)n);
    int pad = (64 - (10 + hl + 1) % 64) % 64;
    memset(hd + hl, ' ', (size_t)pad);
    hd[hl + pad] = '\n';
    hl += pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xFF), (unsigned char)(hl >> 8)};
    als__wfile w;
    int rc = als__wfile_open(&w, path);
    if (rc) return rc;
    als__wfile_write(&w, pre, 10);
    als__wfile_write(&w, hd, (size_t)hl);
    als__wfile_write(&w, ids, (size_t)n * 8);
    return als__wfile_commit(&w);
}

ALS_API int als_model_export_npy(const als_model *m, const char *prefix) {
    if (!m || !prefix) return als__errf(ALS_EINVAL, "als_model_export_npy: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_model_export_npy: the model is not fitted");
    size_t n = strlen(prefix) + 32;
    char *path = malloc(n);
    if (!path) return als__errf(ALS_ENOMEM, "als_model_export_npy: out of memory");
    int rc;
    snprintf(path, n, "%s_users.npy", prefix);
    rc = als_matrix_write_npy(m->U, path);
    if (!rc) snprintf(path, n, "%s_items.npy", prefix), rc = als_matrix_write_npy(m->V, path);
    if (!rc) snprintf(path, n, "%s_user_ids.npy", prefix), rc = write_ids_npy(m->umap.ids, m->umap.n, path);
    if (!rc) snprintf(path, n, "%s_item_ids.npy", prefix), rc = write_ids_npy(m->imap.ids, m->imap.n, path);
    free(path);
    return rc;
}
