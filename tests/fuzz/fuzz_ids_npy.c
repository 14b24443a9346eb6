/* libFuzzer harness: als_ids_read_npy on arbitrary bytes (the PREFIX_*_ids.npy files of
 * als_model_export_npy, np.save of int64 arrays).
 * Input: the file itself. Checks the two-call protocol: cap 0 gives the count, cap = count
 * fills exactly that many, a smaller cap writes nothing and still returns the count. */
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(in_path, sizeof in_path, "ids.npy");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(in_path, data, size);
    int64_t n = als_ids_read_npy(in_path, NULL, 0);
    if (n < 0) {
        FZ_CHECK(n >= ALS_EUNSUPPORTED, "rc %lld", (long long)n);
        unlink(in_path);
        return 0;
    }
    /* the data section is exactly n x 8 bytes of the file */
    FZ_CHECK((uint64_t)n <= size / 8, "%lld ids from a %zu-byte file", (long long)n, size);
    int64_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
    FZ_CHECK(ids != NULL, "malloc");
    for (int64_t i = 0; i <= n; i++) ids[i] = 0x5A5A5A5A5A5A5A5All;
    if (n > 0) { /* too small: nothing written */
        int64_t got = als_ids_read_npy(in_path, ids, n - 1);
        FZ_CHECK(got == n, "count %lld then %lld", (long long)n, (long long)got);
        for (int64_t i = 0; i <= n; i++) FZ_CHECK(ids[i] == 0x5A5A5A5A5A5A5A5All, "written with a small cap");
    }
    int64_t got = als_ids_read_npy(in_path, ids, n + 1);
    FZ_CHECK(got == n, "count %lld then %lld", (long long)n, (long long)got);
    FZ_CHECK(ids[n] == 0x5A5A5A5A5A5A5A5All, "written past the count");
    /* the ids are the file's last n x 8 bytes */
    if (n > 0) FZ_CHECK(memcmp(ids, data + size - (size_t)n * 8, (size_t)n * 8) == 0, "ids differ from the file's data");
    free(ids);
    unlink(in_path);
    return 0;
}
