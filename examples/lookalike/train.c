/* lookalike train: ratings file -> ALS model (+ MODEL.inter, MODEL.ids beside it). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lookalike.h"

const char *const LK_TRAIN_OPTS[] = {"ratings", "out", "quiet!", NULL};

int lk_read_ratings(const lk_args *a, const char *path, int want_time, als_ratings **out) {
    char opts[2048];
    int rc;
    *out = NULL;
    if (access(path, R_OK) != 0) return lk_fail("%s: cannot read the ratings file", path);
    if ((rc = lk_csv_options(a, want_time, opts, sizeof opts))) return rc;
    double t0 = lk_now();
    if ((rc = als_ratings_read_csv(out, path, opts))) return lk_lib_fail("reading the ratings", rc);
    if (als_ratings_rows(*out) == 0) {
        als_ratings_destroy(*out);
        *out = NULL;
        return lk_fail("%s: no ratings in the file", path);
    }
    if (!lk_arg_flag(a, "quiet"))
        fprintf(stderr, "read %s: %lld rows, %lld users, %lld items%s in %.2f s\n", path,
                (long long)als_ratings_rows(*out), (long long)als_ratings_num_users(*out),
                (long long)als_ratings_num_items(*out),
                als_ratings_bad_rows(*out) ? " (bad rows skipped)" : "", lk_now() - t0);
    return 0;
}

int lk_train_with(const lk_args *a, als_ratings *r, const char *out, lk_data *d) {
    als_model *m = NULL;
    int rc = als_model_create(&m);
    memset(d, 0, sizeof *d);
    if (rc) return lk_lib_fail("model", rc);
    if ((rc = lk_model_configure(m, a)) || (rc = lk_model_fit(m, r, lk_arg_flag(a, "quiet")))) {
        als_model_destroy(m);
        return rc;
    }
    if ((rc = als_model_save(m, out))) {
        als_model_destroy(m);
        return lk_lib_fail(out, rc);
    }
    if ((rc = lk_data_from_ratings(d, m, r))) {
        lk_data_free(d);
        als_model_destroy(m);
        return rc;
    }
    d->own = 1;
    return lk_data_save_sidecars(d, r, out);
}

int lk_cmd_train(int argc, char **argv) {
    const char *const *lists[] = {LK_TRAIN_OPTS, LK_CSV_OPTS, LK_ALS_PARAMS, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "train", lists);
    const char *in = lk_arg(&a, "ratings"), *out = lk_arg(&a, "out");
    if (!rc && (!in || !out)) rc = lk_usage_error("train: --ratings and --out are required");
    als_ratings *r = NULL;
    lk_data d;
    memset(&d, 0, sizeof d);
    double t0 = lk_now();
    if (!rc && !(rc = lk_read_ratings(&a, in, 0, &r)) && !(rc = lk_train_with(&a, r, out, &d)))
        printf("train: wrote %s (+ .inter, .ids): %lld users x %lld items, rank %lld, in %.2f s\n",
               out, (long long)d.nu, (long long)d.ni, (long long)d.rank, lk_now() - t0);
    lk_data_free(&d);
    als_ratings_destroy(r);
    lk_args_free(&a);
    return rc;
}
