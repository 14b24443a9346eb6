/* libFuzzer harness: als_matrix_read_npy on arbitrary bytes (the .npy matrices that
 * npy_search, the Python binding and scale-out jobs read).
 * Input: the file itself. On success the matrix must be dense (stride = cols), and
 * writing it back with als_matrix_write_npy and reading it again must give the same
 * shape and the same bits. */
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[1200], out_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(in_path, sizeof in_path, "in.npy");
    fz_path(out_path, sizeof out_path, "out.npy");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(in_path, data, size);
    als_matrix *m = NULL;
    int rc = als_matrix_read_npy(&m, in_path);
    unlink(in_path);
    if (rc) {
        FZ_CHECK(m == NULL, "out set on failure");
        FZ_CHECK(rc < 0 && rc >= ALS_EINTERNAL && rc != ALS_EINTERNAL, "rc %d", rc);
        FZ_CHECK(als_last_error()[0] != '\0', "no message for rc %d", rc);
        return 0;
    }
    int64_t r = als_matrix_rows(m), c = als_matrix_cols(m);
    FZ_CHECK(r >= 0 && c >= 0 && als_matrix_stride(m) == c, "shape %lld x %lld stride %lld",
             (long long)r, (long long)c, (long long)als_matrix_stride(m));
    FZ_CHECK(als_matrix_write_npy(m, out_path) == ALS_OK, "write back");
    als_matrix *m2 = NULL;
    rc = als_matrix_read_npy(&m2, out_path);
    unlink(out_path);
    FZ_CHECK(rc == ALS_OK, "re-read of our own file: %d", rc);
    FZ_CHECK(als_matrix_rows(m2) == r && als_matrix_cols(m2) == c, "re-read shape");
    if (r > 0 && c > 0)
        FZ_CHECK(memcmp(als_matrix_data(m), als_matrix_data(m2), (size_t)(r * c) * 4) == 0,
                 "re-read data differs");
    /* normalize_rows either refuses a non-finite row or leaves unit/zero rows */
    if (als_matrix_normalize_rows(m2) == ALS_OK && c > 0) {
        for (int64_t i = 0; i < r; i++) {
            const float *v = als_matrix_data(m2) + i * c;
            double s = 0;
            for (int64_t j = 0; j < c; j++) s += (double)v[j] * v[j];
            FZ_CHECK(s == 0 || (s > 0.999 && s < 1.001), "row %lld norm^2 %g", (long long)i, s);
        }
    }
    als_matrix_destroy(m2);
    als_matrix_destroy(m);
    return 0;
}
