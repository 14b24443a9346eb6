/* libFuzzer harness: als_model_load on arbitrary bytes (model files), then the read-only
 * calls on what loaded: predict, recommend (with and without an exclude set), fold-in,
 * explain_params, save + load, export_npy + the .npy readers.
 *
 * Input: byte 0 = repair bits, byte 1 = knobs, then the file.
 *   bit 0: set the item count (offset 32) to what the file length implies for the stated
 *          rank and users, when it divides evenly
 *   bit 1: recompute the header CRC (version 1: bytes 0..127 at 128; else 0..135 at 136)
 *   bit 2: recompute the payload CRC (the last 4 bytes; in version 3 the payload's CRC
 *          after the factors and the interactions section's CRC, the last 4 bytes) */
#include <math.h>

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[1200], out_path[1200], prefix[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(in_path, sizeof in_path, "in.als");
    fz_path(out_path, sizeof out_path, "out.als");
    fz_path(prefix, sizeof prefix, "exp");
    return 0;
}

static void repair(unsigned char *f, size_t n, unsigned mode) {
    if (n < 136) return;
    uint32_t ver = fz_ld32(f + 8);
    size_t hdr = ver == 1 ? 136 : 144;
    if (n < hdr + 4) return;
    if (mode & 1) {
        uint64_t r = fz_ld64(f + 16), nu = fz_ld64(f + 24), row = 8 + 4 * r, body = n - hdr - 4;
        if (r >= 1 && r <= 1024 && nu <= body / row && (body - nu * row) % row == 0)
            fz_st64(f + 32, (body - nu * row) / row);
    }
    if (mode & 2) {
        if (ver == 1) fz_st32(f + 128, fz_crc32(f, 128));
        else fz_st32(f + 136, fz_crc32(f, 136));
    }
    if (mode & 4) {
        uint64_t r = fz_ld64(f + 16), nu = fz_ld64(f + 24), ni = fz_ld64(f + 32), body;
        if (ver == 3 && r >= 1 && r <= 1024 && nu < (1u << 30) && ni < (1u << 30) &&
            (body = (nu + ni) * (8 + 4 * r)) + hdr + 4 <= n) {
            fz_st32(f + hdr + body, fz_crc32(f + hdr, body));
            size_t sec = hdr + body + 4;
            if (n >= sec + 4) fz_st32(f + n - 4, fz_crc32(f + sec, n - sec - 4));
        } else {
            fz_st32(f + n - 4, fz_crc32(f + hdr, n - hdr - 4));
        }
    }
}

/* The kept interactions (format version 3): counts agree between the calls, every item row
 * is a real row, buyers are distinct known users, recommend_unseen leaves the seen out. */
static void check_interactions(const als_model *m, int64_t k) {
    int64_t nu = als_matrix_rows(als_model_user_factors(m)), ni = als_matrix_rows(als_model_item_factors(m));
    int64_t total = als_model_num_interactions(m), sum = 0;
    const int64_t *uid = als_model_user_ids(m), *iid = als_model_item_ids(m);
    int32_t rows[64];
    float vals[64];
    int64_t items[64];
    if (total == 0) {
        if (nu) FZ_CHECK(als_model_items_of_user(m, uid[0], items, vals, 64) == ALS_ESTATE, "no rows");
        return;
    }
    for (int64_t u = 0; u < nu; u++) {
        int64_t c = als_model_interaction_rows(m, u, rows, vals, 64);
        FZ_CHECK(c >= 0, "interaction_rows rc %lld", (long long)c);
        sum += c;
        for (int64_t j = 0; j < c && j < 64; j++) {
            FZ_CHECK(rows[j] >= 0 && rows[j] < ni, "item row %d", rows[j]);
            FZ_CHECK(isfinite(vals[j]), "value %g", vals[j]);
        }
        if (u < 3) {
            int64_t c2 = als_model_items_of_user(m, uid[u], items, NULL, 64);
            FZ_CHECK(c2 == c, "items_of_user %lld vs %lld", (long long)c2, (long long)c);
            for (int64_t j = 0; j < c && j < 64; j++) FZ_CHECK(items[j] == iid[rows[j]], "item id");
            if (ni) {
                int64_t out[8];
                float sc[8];
                int64_t kk = k < 8 ? k : 8;
                FZ_CHECK(als_model_recommend_unseen(m, uid[u], kk, out, sc) == ALS_OK, "unseen");
                for (int64_t t = 0; t < kk; t++)
                    for (int64_t j = 0; j < c && j < 64 && out[t] != -1; j++)
                        FZ_CHECK(out[t] != items[j] || als_model_item_row(m, -1) >= 0, "seen item recommended");
            }
        }
    }
    FZ_CHECK(sum == total, "rows %lld vs %lld", (long long)sum, (long long)total);
    if (ni) {
        int64_t buyers[16], b = als_model_users_of_items(m, 1, &iid[0], buyers, 16);
        FZ_CHECK(b >= 0 && b <= nu, "buyers %lld", (long long)b);
        for (int64_t j = 0; j < b && j < 16; j++) FZ_CHECK(als_model_user_row(m, buyers[j]) >= 0, "buyer");
    }
}

static void check_recommend(const als_model *m, int64_t user, int64_t k, const als_ratings *ex,
                            int64_t excluded_item) {
    int64_t *items = malloc((size_t)k * sizeof *items);
    float *scores = malloc((size_t)k * sizeof *scores);
    int rc = als_model_recommend(m, user, k, ex, items, scores);
    FZ_CHECK(rc == ALS_OK, "recommend rc %d", rc);
    int64_t ni = als_matrix_rows(als_model_item_factors(m)), valid = 0;
    /* Item id -1 is a valid id in a model (ratings take any int64), and then it cannot be
     * told from the padding (id -1, score -inf): the count is only checked without it. */
    int minus1 = als_model_item_row(m, -1) >= 0;
    if (minus1) valid = k < ni ? k : ni;
    else while (valid < k && items[valid] != -1) valid++;
    FZ_CHECK(valid == (k < ni ? k : ni) || ex, "%lld results of %lld for %lld items", (long long)valid,
             (long long)k, (long long)ni);
    for (int64_t j = valid; j < k; j++)
        FZ_CHECK(items[j] == -1 && scores[j] == -INFINITY, "padding at %lld", (long long)j);
    if (minus1 && ex) valid = 0; /* with an exclude set the count is unknown: check no item */
    for (int64_t j = 0; j < valid; j++) {
        FZ_CHECK(als_model_item_row(m, items[j]) >= 0, "unknown item %lld", (long long)items[j]);
        FZ_CHECK(items[j] != excluded_item || !ex, "excluded item %lld recommended", (long long)items[j]);
        if (j + 1 < valid)
            FZ_CHECK(scores[j] > scores[j + 1] || (scores[j] == scores[j + 1] && items[j] < items[j + 1]),
                     "order at %lld: (%g, %lld) (%g, %lld)", (long long)j, scores[j],
                     (long long)items[j], scores[j + 1], (long long)items[j + 1]);
        float p;
        FZ_CHECK(als_model_predict(m, 1, &user, &items[j], &p) == ALS_OK, "predict");
        /* known bug "simd-inf": predict's emulated FMA gives NaN where the kernels give -Inf */
        FZ_CHECK(memcmp(&p, &scores[j], 4) == 0 || (isnan(p) && isnan(scores[j])) ||
                     (fz_known("simd-inf") && (!isfinite(p) || !isfinite(scores[j]))),
                 "recommend score %a != predict %a for item %lld", scores[j], p, (long long)items[j]);
    }
    free(items);
    free(scores);
}

/* An id the model does not have (ids are unique, so one of the first n + 1 candidates). */
static int64_t unused_id(const als_model *m, int64_t (*row)(const als_model *, int64_t)) {
    static const int64_t first[2] = {INT64_MAX, INT64_MIN};
    for (int t = 0; t < 2; t++)
        if (row(m, first[t]) < 0) return first[t];
    for (int64_t c = 0;; c++)
        if (row(m, c) < 0) return c;
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
    als_model *m = NULL;
    int rc = als_model_load(&m, in_path);
    unlink(in_path);
    if (rc) {
        FZ_CHECK(m == NULL, "out set on failure");
        FZ_CHECK(rc == ALS_EFORMAT || rc == ALS_ENOMEM || rc == ALS_EIO, "rc %d", rc);
        return 0;
    }
    FZ_CHECK(als_model_is_fitted(m), "loaded but not fitted");
    const als_matrix *U = als_model_user_factors(m), *V = als_model_item_factors(m);
    int64_t nu = als_matrix_rows(U), ni = als_matrix_rows(V), r = als_matrix_cols(U);
    FZ_CHECK(r >= 1 && r <= 1024 && als_matrix_cols(V) == r, "rank");
    const int64_t *uid = als_model_user_ids(m), *iid = als_model_item_ids(m);
    for (int64_t i = 0; i < nu; i++) FZ_CHECK(als_model_user_row(m, uid[i]) == i, "user row");
    for (int64_t i = 0; i < ni; i++) FZ_CHECK(als_model_item_row(m, iid[i]) == i, "item row");

    /* predict: known pairs give x_u . y_i, unknown ids NaN */
    int64_t pu[4], pi[4];
    float po[4];
    for (int t = 0; t < 4; t++) {
        pu[t] = nu ? uid[(t * 7919) % nu] : 1;
        pi[t] = ni ? iid[(t * 104729) % ni] : 1;
    }
    pi[3] = unused_id(m, als_model_item_row);
    FZ_CHECK(als_model_predict(m, 4, pu, pi, po) == ALS_OK, "predict");
    FZ_CHECK(isnan(po[3]), "unknown item scored %g", po[3]);
    if (!nu || !ni) FZ_CHECK(isnan(po[0]), "empty model scored %g", po[0]);

    /* recommend for a few users, without and with an exclude set */
    int64_t k = 1 + (knobs & 7);
    for (int64_t t = 0; t < nu && t < 2; t++) check_recommend(m, uid[t], k, NULL, 0);
    if (nu && ni) {
        als_ratings *ex = NULL;
        FZ_CHECK(als_ratings_create(&ex) == ALS_OK, "ratings");
        FZ_CHECK(als_ratings_add(ex, 1, &uid[0], &iid[0], NULL) == ALS_OK, "add");
        check_recommend(m, uid[0], k, ex, iid[0]);
        als_ratings_destroy(ex);
    }
    check_interactions(m, k);
    int64_t tmp_i[8];
    FZ_CHECK(als_model_recommend(m, unused_id(m, als_model_user_row), k, NULL, tmp_i, NULL) == ALS_ENOTFOUND,
             "unknown user");

    /* fold-in of a user with a few known and one unknown item */
    if (knobs & 8) {
        float *fac = malloc((size_t)r * sizeof *fac);
        int64_t items[3] = {ni ? iid[0] : 0, ni ? iid[ni - 1] : 0, pi[3]};
        float vals[3] = {1.0f, (float)(knobs >> 4), 2.5f};
        int64_t got = als_model_fold_in(m, 3, items, vals, fac);
        int64_t unknown = 0;
        for (int t = 0; t < 3; t++) unknown += als_model_item_row(m, items[t]) < 0;
        FZ_CHECK(got == unknown || got == ALS_EINTERNAL, "fold-in returned %lld, %lld unknown",
                 (long long)got, (long long)unknown);
        if (got >= 0)
            for (int64_t j = 0; j < r; j++) FZ_CHECK(isfinite(fac[j]), "fold-in factor not finite");
        free(fac);
    }

    char buf[64];
    int64_t need = als_model_explain_params(m, buf, sizeof buf);
    FZ_CHECK(need > 0 && strlen(buf) == (size_t)(need < 63 ? need : 63), "explain_params");

    /* save + load: the same model */
    FZ_CHECK(als_model_save(m, out_path) == ALS_OK, "save");
    als_model *m2 = NULL;
    rc = als_model_load(&m2, out_path);
    unlink(out_path);
    FZ_CHECK(rc == ALS_OK, "reload of our own save: %d (%s)", rc, als_last_error());
    FZ_CHECK(als_model_run_id(m2) == als_model_run_id(m), "run id");
    const als_matrix *U2 = als_model_user_factors(m2), *V2 = als_model_item_factors(m2);
    FZ_CHECK(als_matrix_rows(U2) == nu && als_matrix_rows(V2) == ni && als_matrix_cols(U2) == r, "shape");
    FZ_CHECK(!nu || memcmp(als_matrix_data_const(U), als_matrix_data_const(U2), (size_t)(nu * r) * 4) == 0, "U");
    FZ_CHECK(!ni || memcmp(als_matrix_data_const(V), als_matrix_data_const(V2), (size_t)(ni * r) * 4) == 0, "V");
    FZ_CHECK(!nu || memcmp(uid, als_model_user_ids(m2), (size_t)nu * 8) == 0, "user ids");
    FZ_CHECK(!ni || memcmp(iid, als_model_item_ids(m2), (size_t)ni * 8) == 0, "item ids");
    als_model_destroy(m2);

    /* export for NumPy, read back with the library's own readers */
    if (knobs & 0x80) {
        char p[1300];
        FZ_CHECK(als_model_export_npy(m, prefix) == ALS_OK, "export");
        als_matrix *x = NULL;
        snprintf(p, sizeof p, "%s_users.npy", prefix);
        FZ_CHECK(als_matrix_read_npy(&x, p) == ALS_OK && als_matrix_rows(x) == nu && als_matrix_cols(x) == r,
                 "users.npy");
        FZ_CHECK(!nu || memcmp(als_matrix_data(x), als_matrix_data_const(U), (size_t)(nu * r) * 4) == 0, "users.npy data");
        als_matrix_destroy(x);
        unlink(p);
        snprintf(p, sizeof p, "%s_items.npy", prefix);
        FZ_CHECK(als_matrix_read_npy(&x, p) == ALS_OK && als_matrix_rows(x) == ni, "items.npy");
        als_matrix_destroy(x);
        unlink(p);
        int64_t *ids = malloc((size_t)(nu + ni + 1) * 8);
        snprintf(p, sizeof p, "%s_user_ids.npy", prefix);
        FZ_CHECK(als_ids_read_npy(p, ids, nu + ni + 1) == nu && (!nu || !memcmp(ids, uid, (size_t)nu * 8)),
                 "user_ids.npy");
        unlink(p);
        snprintf(p, sizeof p, "%s_item_ids.npy", prefix);
        FZ_CHECK(als_ids_read_npy(p, ids, nu + ni + 1) == ni && (!ni || !memcmp(ids, iid, (size_t)ni * 8)),
                 "item_ids.npy");
        unlink(p);
        free(ids);
    }
    als_model_destroy(m);
    return 0;
}
