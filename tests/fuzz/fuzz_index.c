/* libFuzzer harness: vecidx_load and vecidx_load_mmap on arbitrary bytes (index files),
 * then searches on what loaded.
 *
 * Input: byte 0 = mode bits, byte 1 = search knobs, then the file.
 *   bit 0: set the payload-size field (offset 88) to what the file length implies
 *   bit 1: recompute the header CRC (version 1: bytes 0..83 at 84; else 0..103 at 104)
 *   bit 2: recompute the payload CRC (the last 4 bytes)
 *   bit 3: load with vecidx_load_mmap (which leaves the payload unchecked: a corrupt file
 *          must give wrong scores, never a crash), then vecidx_verify; when verify accepts
 *          it, a mapped index must answer exactly as vecidx_load's copy of the same file
 * Known bugs, relaxed only when $FUZZ_KNOWN_BUGS names them (fz_known): "simd-inf",
 * "ivf-neg-probe", "mmap-untrained" (docs/testing.md).
 * On a loaded index, every SIMD path this CPU has must give bit-identical results
 * (include/vecidx.h), results must be ordered best first with ties by smaller id and -1
 * padding last, an exclude filter must keep its ids out, vecidx_expand must return
 * distinct ids, and save + load must give the same search results. */
#include <math.h>

#include "fuzz_util.h"
#include "vecidx.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[1200], out_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(in_path, sizeof in_path, "in.vidx");
    fz_path(out_path, sizeof out_path, "out.vidx");
    return 0;
}

/* Repairs of the input file as asked by the mode bits. */
static void repair(unsigned char *f, size_t n, unsigned mode) {
    if (n < 96) return;
    uint32_t ver = fz_ld32(f + 8);
    size_t hdr = ver == 1 ? 96 : 128;
    if (n < hdr + 4) return;
    if (mode & 1) fz_st64(f + 88, (uint64_t)(n - hdr - 4));
    if (mode & 2) {
        if (ver == 1) fz_st32(f + 84, fz_crc32(f, 84));
        else fz_st32(f + 104, fz_crc32(f, 104));
    }
    if (mode & 4) fz_st32(f + n - 4, fz_crc32(f + hdr, n - hdr - 4));
}

/* Order and padding of one result row. */
static void check_row(const float *s, const int64_t *id, int64_t k, int l2) {
    int64_t valid = 0;
    while (valid < k && id[valid] != -1) valid++;
    for (int64_t j = valid; j < k; j++) {
        FZ_CHECK(id[j] == -1, "id %lld after padding", (long long)id[j]);
        FZ_CHECK(l2 ? s[j] == INFINITY : s[j] == -INFINITY, "padding score %g", s[j]);
    }
    for (int64_t j = 0; j + 1 < valid; j++) {
        int better = l2 ? s[j] < s[j + 1] : s[j] > s[j + 1];
        FZ_CHECK(better || (s[j] == s[j + 1] && id[j] <= id[j + 1]),
                 "not best first at %lld: (%g, %lld) then (%g, %lld)", (long long)j, s[j],
                 (long long)id[j], s[j + 1], (long long)id[j + 1]);
    }
}

/* Known bug "simd-inf" (docs/testing.md): the portable kernel's emulated FMA turns a -Inf
 * accumulator into NaN, so a vector whose score overflows is dropped by the portable path
 * and returned by the SIMD ones. True if the result row [r0, r0 + k) shows that case. */
static int infinite_hit(const float *s0, const int64_t *i0, const float *s1, const int64_t *i1,
                        int64_t r0, int64_t k) {
    for (int64_t t = r0; t < r0 + k; t++)
        if ((i0[t] != -1 && !isfinite(s0[t])) || (i1[t] != -1 && !isfinite(s1[t]))) return 1;
    return 0;
}

/* A mapped index whose payload vecidx_verify refuses: every call must return, nothing more
 * is promised about the results. */
static void unchecked_searches(vecidx *idx, unsigned knobs) {
    int64_t d = vecidx_dim(idx), k = 1 + (knobs & 7);
    als_matrix *q = NULL;
    FZ_CHECK(als_matrix_create(&q, 2, d) == ALS_OK, "queries");
    uint64_t seed = knobs;
    for (int64_t i = 0; i < 2 * d; i++) als_matrix_data(q)[i] = fz_unit(&seed);
    float s[16];
    int64_t id[16], found;
    vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 1);
    if (vecidx_kind(idx) == VECIDX_KIND_IVF) vecidx_set_int(idx, VECIDX_PARAM_NPROBE, 1 + (knobs >> 5));
    int skip_portable = vecidx_kind(idx) == VECIDX_KIND_IVF && fz_known("ivf-neg-probe");
    for (int simd = VECIDX_SIMD_PORTABLE + skip_portable; simd <= VECIDX_SIMD_AVX512; simd++) {
        if (vecidx_set_int(idx, VECIDX_PARAM_SIMD, simd) != ALS_OK) continue;
        int rc = vecidx_search(idx, q, k, s, id);
        FZ_CHECK(rc == ALS_OK || rc == ALS_ESTATE, "search rc %d", rc);
    }
    int agg = vecidx_metric(idx) == VECIDX_METRIC_L2 ? VECIDX_AGG_MAX : VECIDX_AGG_SUM;
    int rc = vecidx_expand(idx, q, k, agg, NULL, 8, id, s, &found);
    FZ_CHECK(rc == ALS_OK || rc == ALS_ESTATE, "expand rc %d", rc);
    als_matrix_destroy(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    unsigned mode = data[0], knobs = data[1];
    size_t n = size - 2;
    unsigned char *file = malloc(n ? n : 1);
    memcpy(file, data + 2, n);
    repair(file, n, mode);
    fz_write(in_path, file, n);
    free(file);
    vecidx *idx = NULL, *copy = NULL;
    int mapped = (mode & 8) != 0, rc;
    if (mapped) {
        rc = vecidx_load_mmap(&idx, in_path);
        FZ_CHECK(rc || vecidx_is_mapped(idx), "not mapped");
        /* Known bug "mmap-untrained": an untrained IVF file's centroid section (zeros by the
         * format) is checked by vecidx_load but by neither vecidx_load_mmap nor verify. */
        int untrained = rc == ALS_OK && vecidx_kind(idx) == VECIDX_KIND_IVF && !vecidx_is_trained(idx);
        FZ_CHECK(rc != ALS_OK || vecidx_verify(idx) != ALS_OK || vecidx_load(&copy, in_path) == ALS_OK ||
                     (untrained && fz_known("mmap-untrained")),
                 "vecidx_verify accepts what vecidx_load refuses: %s", als_last_error());
        if (rc == ALS_OK && !copy) mapped = 2; /* corrupt payload: only "never a crash" holds */
    } else {
        rc = vecidx_load(&idx, in_path);
    }
    unlink(in_path); /* a mapping stays valid */
    if (rc) {
        FZ_CHECK(idx == NULL, "out set on failure");
        FZ_CHECK(rc == ALS_EFORMAT || rc == ALS_ENOMEM || rc == ALS_EIO || (mapped && rc == ALS_EUNSUPPORTED),
                 "rc %d", rc);
        return 0;
    }
    if (mapped == 2) {
        unchecked_searches(idx, knobs);
        vecidx_destroy(idx);
        return 0;
    }
    int64_t d = vecidx_dim(idx), size_n = vecidx_size(idx);
    int l2 = vecidx_metric(idx) == VECIDX_METRIC_L2, ivf = vecidx_kind(idx) == VECIDX_KIND_IVF;
    FZ_CHECK(d >= 1 && d <= 65536 && size_n >= 0, "dim %lld size %lld", (long long)d, (long long)size_n);
    FZ_CHECK(vecidx_set_int(idx, VECIDX_PARAM_NUM_THREADS, 1) == ALS_OK, "threads");
    if (ivf) FZ_CHECK(vecidx_set_int(idx, VECIDX_PARAM_NPROBE, 1 + (knobs >> 5)) == ALS_OK, "nprobe");

    int64_t k = 1 + (knobs & 7), nq = 1 + ((knobs >> 3) & 3);
    uint64_t seed = fz_crc32(data, size);
    als_matrix *q = NULL;
    FZ_CHECK(als_matrix_create(&q, nq, d) == ALS_OK, "queries");
    for (int64_t i = 0; i < nq * d; i++) als_matrix_data(q)[i] = fz_unit(&seed);

    float *s0 = malloc((size_t)(nq * k) * sizeof *s0), *s1 = malloc((size_t)(nq * k) * sizeof *s1);
    int64_t *i0 = malloc((size_t)(nq * k) * sizeof *i0), *i1 = malloc((size_t)(nq * k) * sizeof *i1);
    FZ_CHECK(s0 && s1 && i0 && i1, "malloc");
    int trained = vecidx_is_trained(idx);
    /* The reference is the portable path; with the known bug "ivf-neg-probe" relaxed, an
     * IVF index is searched only by the SIMD paths (the portable one overruns a buffer). */
    int ref = ivf && fz_known("ivf-neg-probe") ? VECIDX_SIMD_AUTO : VECIDX_SIMD_PORTABLE;
    FZ_CHECK(vecidx_set_int(idx, VECIDX_PARAM_SIMD, ref) == ALS_OK, "reference path");
    rc = vecidx_search(idx, q, k, s0, i0);
    FZ_CHECK(trained ? rc == ALS_OK : rc == ALS_ESTATE, "search rc %d (trained %d)", rc, trained);
    if (rc == ALS_OK && copy) { /* the mapped index answers as the loaded copy */
        FZ_CHECK(vecidx_set_int(copy, VECIDX_PARAM_NUM_THREADS, 1) == ALS_OK, "threads");
        FZ_CHECK(vecidx_set_int(copy, VECIDX_PARAM_SIMD, ref) == ALS_OK, "reference path");
        if (ivf) FZ_CHECK(vecidx_set_int(copy, VECIDX_PARAM_NPROBE, 1 + (knobs >> 5)) == ALS_OK, "nprobe");
        FZ_CHECK(vecidx_search(copy, q, k, s1, i1) == ALS_OK, "search the loaded copy");
        for (int64_t t = 0; t < nq * k; t++)
            FZ_CHECK(i0[t] == i1[t] && memcmp(&s0[t], &s1[t], 4) == 0, "mapped and loaded differ at %lld",
                     (long long)t);
    }
    if (rc == ALS_OK) {
        for (int64_t r = 0; r < nq; r++) check_row(s0 + r * k, i0 + r * k, k, l2);
        int relax = fz_known("simd-inf");
        for (int simd = VECIDX_SIMD_AVX2; simd <= VECIDX_SIMD_AVX512 && ref == VECIDX_SIMD_PORTABLE; simd++) {
            if (vecidx_set_int(idx, VECIDX_PARAM_SIMD, simd) != ALS_OK) continue; /* CPU lacks it */
            FZ_CHECK(vecidx_search(idx, q, k, s1, i1) == ALS_OK, "search simd %d", simd);
            for (int64_t t = 0; t < nq * k; t++) {
                if (relax && infinite_hit(s0, i0, s1, i1, t / k * k, k)) continue;
                FZ_CHECK(i0[t] == i1[t] && memcmp(&s0[t], &s1[t], 4) == 0,
                         "SIMD %d differs from portable at %lld: (%a, %lld) vs (%a, %lld)", simd,
                         (long long)t, s1[t], (long long)i1[t], s0[t], (long long)i0[t]);
            }
        }
        FZ_CHECK(vecidx_set_int(idx, VECIDX_PARAM_SIMD, VECIDX_SIMD_AUTO) == ALS_OK, "auto");

        /* exclude what the first query found */
        vecidx_filter *f = NULL;
        FZ_CHECK(vecidx_filter_create(&f, i0, k, VECIDX_FILTER_EXCLUDE) == ALS_OK, "filter");
        FZ_CHECK(vecidx_search_filtered(idx, q, k, f, s1, i1) == ALS_OK, "filtered search");
        for (int64_t t = 0; t < nq * k; t++)
            FZ_CHECK(i1[t] == -1 || vecidx_filter_allows(f, i1[t]), "excluded id %lld returned",
                     (long long)i1[t]);
        for (int64_t r = 0; r < nq; r++) check_row(s1 + r * k, i1 + r * k, k, l2);

        /* audience expansion from the queries */
        int agg = l2 ? ((knobs >> 7) ? VECIDX_AGG_MEAN : VECIDX_AGG_MAX)
                     : (int)((knobs >> 6) % 3);
        int64_t n_out = 2 * k, found = -1;
        int64_t *ex = malloc((size_t)n_out * sizeof *ex);
        float *exs = malloc((size_t)n_out * sizeof *exs);
        rc = vecidx_expand(idx, q, k, agg, (knobs & 0x80) ? f : NULL, n_out, ex, exs, &found);
        FZ_CHECK(rc == ALS_OK, "expand rc %d", rc);
        FZ_CHECK(found >= 0 && found <= n_out, "found %lld", (long long)found);
        for (int64_t a = 0; a < found; a++) {
            FZ_CHECK(ex[a] != -1, "id -1 in the audience");
            for (int64_t b = 0; b < a; b++) FZ_CHECK(ex[a] != ex[b], "id %lld twice", (long long)ex[a]);
        }
        for (int64_t a = found; a < n_out; a++) FZ_CHECK(ex[a] == -1 && isnan(exs[a]), "audience padding");
        free(ex);
        free(exs);
        vecidx_filter_destroy(f);
    }

    /* save + load: same results */
    FZ_CHECK(vecidx_save(idx, out_path) == ALS_OK, "save");
    vecidx *idx2 = NULL;
    rc = vecidx_load(&idx2, out_path);
    unlink(out_path);
    FZ_CHECK(rc == ALS_OK, "reload of our own save: %d", rc);
    FZ_CHECK(vecidx_size(idx2) == size_n && vecidx_dim(idx2) == d && vecidx_kind(idx2) == vecidx_kind(idx) &&
                 vecidx_metric(idx2) == vecidx_metric(idx) && vecidx_nlist(idx2) == vecidx_nlist(idx) &&
                 vecidx_run_id(idx2) == vecidx_run_id(idx),
             "reloaded header differs");
    if (trained) {
        FZ_CHECK(vecidx_set_int(idx2, VECIDX_PARAM_NUM_THREADS, 1) == ALS_OK, "threads");
        FZ_CHECK(vecidx_set_int(idx2, VECIDX_PARAM_SIMD, ref) == ALS_OK, "reference path");
        FZ_CHECK(vecidx_search(idx2, q, k, s1, i1) == ALS_OK, "search reloaded");
        for (int64_t t = 0; t < nq * k; t++)
            FZ_CHECK(i0[t] == i1[t] && memcmp(&s0[t], &s1[t], 4) == 0, "reloaded results differ at %lld",
                     (long long)t);
    }
    vecidx_destroy(idx2);
    free(s0);
    free(s1);
    free(i0);
    free(i1);
    als_matrix_destroy(q);
    vecidx_destroy(idx);
    vecidx_destroy(copy);
    return 0;
}
