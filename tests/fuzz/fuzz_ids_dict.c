/* libFuzzer harness: als_ratings_read_ids_run on arbitrary bytes (the MODEL.ids id
 * dictionaries written by als_ratings_write_ids_run, read by lookalike and bindings).
 * Input: the file itself. Checks: a failed read leaves the ratings' own dictionaries in
 * place; a successful one gives dense ids whose names map back to them; writing the
 * dictionaries and reading them again gives the same names and run identity. */
#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char in_path[1200], out_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(in_path, sizeof in_path, "in.ids");
    fz_path(out_path, sizeof out_path, "out.ids");
    return 0;
}

typedef const char *(*name_fn)(const als_ratings *, int64_t);
typedef int64_t (*id_fn)(const als_ratings *, const char *);

/* Number of names (ids 0..n-1 all named), each mapping back to its id. */
static int64_t count_names(const als_ratings *r, name_fn name, id_fn id) {
    int64_t n = 0;
    const char *s;
    while ((s = name(r, n)) != NULL) {
        FZ_CHECK(id(r, s) == n, "name of id %lld maps to %lld", (long long)n, (long long)id(r, s));
        n++;
    }
    FZ_CHECK(name(r, -1) == NULL && name(r, n + 1) == NULL, "names past the end");
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(in_path, data, size);
    als_ratings *r = NULL;
    FZ_CHECK(als_ratings_create(&r) == ALS_OK, "create");
    /* the ratings' own dictionaries before the read: one user name, one item name */
    const char *u0 = "previous-user", *i0 = "previous-item";
    FZ_CHECK(als_ratings_add_named(r, 1, &u0, &i0, NULL) == ALS_OK, "add_named");
    uint64_t run = 12345;
    int rc = als_ratings_read_ids_run(r, in_path, &run);
    unlink(in_path);
    if (rc) {
        FZ_CHECK(rc == ALS_EFORMAT || rc == ALS_ENOMEM || rc == ALS_EIO, "rc %d", rc);
        FZ_CHECK(run == 0, "run id %llx on failure", (unsigned long long)run);
        FZ_CHECK(als_ratings_user_id(r, u0) == 0 && als_ratings_item_id(r, i0) == 0 &&
                     als_ratings_user_name(r, 1) == NULL,
                 "a failed read changed the dictionaries");
        als_ratings_destroy(r);
        return 0;
    }
    int64_t nu = count_names(r, als_ratings_user_name, als_ratings_user_id);
    int64_t ni = count_names(r, als_ratings_item_name, als_ratings_item_id);
    FZ_CHECK(als_ratings_write_ids_run(r, out_path, run) == ALS_OK, "write");
    als_ratings *r2 = NULL;
    FZ_CHECK(als_ratings_create(&r2) == ALS_OK, "create");
    uint64_t run2 = 0;
    rc = als_ratings_read_ids_run(r2, out_path, &run2);
    unlink(out_path);
    FZ_CHECK(rc == ALS_OK, "re-read of our own file: %d", rc);
    FZ_CHECK(run2 == run, "run id %llx then %llx", (unsigned long long)run, (unsigned long long)run2);
    FZ_CHECK(count_names(r2, als_ratings_user_name, als_ratings_user_id) == nu, "user count");
    FZ_CHECK(count_names(r2, als_ratings_item_name, als_ratings_item_id) == ni, "item count");
    for (int64_t i = 0; i < nu; i++)
        FZ_CHECK(strcmp(als_ratings_user_name(r, i), als_ratings_user_name(r2, i)) == 0, "user %lld", (long long)i);
    for (int64_t i = 0; i < ni; i++)
        FZ_CHECK(strcmp(als_ratings_item_name(r, i), als_ratings_item_name(r2, i)) == 0, "item %lld", (long long)i);
    als_ratings_destroy(r2);
    als_ratings_destroy(r);
    return 0;
}
