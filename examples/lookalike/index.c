/* lookalike index: the user factors of a model in a flat or IVF index, cosine by default.
 * The index file cannot say whether its vectors were normalized, so INDEX.meta records the
 * metric the user asked for; expand normalizes its queries to match. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "lookalike.h"

int lk_index_build(vecidx **out, const lk_data *d, const char *kind, int64_t nlist,
                   const char *metric, lk_index_meta *meta, int quiet) {
    *out = NULL;
    if (!strcmp(metric, "cosine")) { meta->cosine = 1; meta->metric = VECIDX_METRIC_IP; }
    else if (!strcmp(metric, "ip")) { meta->cosine = 0; meta->metric = VECIDX_METRIC_IP; }
    else if (!strcmp(metric, "l2")) { meta->cosine = 0; meta->metric = VECIDX_METRIC_L2; }
    else return lk_usage_error("index: --metric is cosine, ip or l2, not '%s'", metric);
    int ivf = !strcmp(kind, "ivf");
    if (!ivf && strcmp(kind, "flat")) return lk_usage_error("index: --kind is flat or ivf, not '%s'", kind);
    const als_matrix *uf = als_model_user_factors(d->model);
    als_matrix *x = NULL;
    vecidx *idx = NULL;
    int rc = als_matrix_create(&x, d->nu, d->rank);
    if (rc) return lk_lib_fail("user vectors", rc);
    const float *src = als_matrix_data_const(uf);
    float *dst = als_matrix_data(x);
    int64_t ss = als_matrix_stride(uf);
    for (int64_t i = 0; i < d->nu; i++)
        memcpy(dst + i * d->rank, src + i * ss, (size_t)d->rank * sizeof(float));
    if (meta->cosine && (rc = als_matrix_normalize_rows(x))) goto lib;
    if (ivf) {
        /* sqrt(n) lists keeps k-means cheap and lists ~sqrt(n) long (see docs/lookalike.md) */
        if (nlist <= 0) nlist = (int64_t)sqrt((double)d->nu);
        if (nlist < 1) nlist = 1;
        if (nlist > d->nu) {
            als_matrix_destroy(x);
            return lk_fail("index: --nlist %lld is more than the %lld users", (long long)nlist,
                           (long long)d->nu);
        }
        rc = vecidx_ivf_create(&idx, d->rank, meta->metric, nlist);
    } else {
        rc = vecidx_flat_create(&idx, d->rank, meta->metric);
    }
    if (rc || (rc = vecidx_train(idx, x)) || (rc = vecidx_add(idx, x, d->user_ids)) ||
        (rc = vecidx_set_run_id(idx, d->run_id)))
        goto lib;
    meta->run_id = d->run_id;
    als_matrix_destroy(x);
    if (!quiet)
        fprintf(stderr, "index: %s %s, %lld users x %lld%s\n", kind, metric, (long long)d->nu,
                (long long)d->rank, ivf ? "" : "");
    *out = idx;
    return 0;
lib:
    als_matrix_destroy(x);
    vecidx_destroy(idx);
    return lk_lib_fail("building the index", rc);
}

int lk_index_save(const vecidx *idx, const lk_index_meta *meta, const char *path) {
    char mp[4200];
    lk_out o;
    int rc = vecidx_save(idx, path);
    if (rc) return lk_lib_fail(path, rc);
    snprintf(mp, sizeof mp, "%s.meta", path);
    if (lk_out_open(&o, mp)) return LK_EXIT_FAIL;
    fprintf(o.f, "lookalike-index 2\nmetric %s\nrun %016llx\n",
            meta->cosine ? "cosine" : meta->metric == VECIDX_METRIC_L2 ? "l2" : "ip",
            (unsigned long long)meta->run_id);
    return lk_out_commit(&o);
}

static int index_refuse(vecidx **out, const char *msg) {
    vecidx_destroy(*out);
    *out = NULL;
    return lk_fail("%s", msg);
}

int lk_index_load(vecidx **out, lk_index_meta *meta, const char *path, const lk_data *d) {
    int rc = vecidx_load(out, path);
    if (rc) return lk_lib_fail("loading the index", rc);
    meta->metric = vecidx_metric(*out);
    meta->cosine = 0;
    meta->run_id = vecidx_run_id(*out);
    char msg[9000], mp[4200], word[32] = "";
    /* The index maps its ids back through the model: one from another run would name the
     * wrong users (or none), so it must come from this very model. */
    if (meta->run_id == 0) {
        snprintf(msg, sizeof msg, "%s has no training-run identity (built before libals 1.1 or "
                 "by another program); rebuild it with 'lookalike index --model MODEL'", path);
        return index_refuse(out, msg);
    }
    if (meta->run_id != d->run_id) {
        snprintf(msg, sizeof msg, "%s was built from another training run's model (index run "
                 "%016llx, model run %016llx); rebuild it with 'lookalike index --model MODEL'",
                 path, (unsigned long long)meta->run_id, (unsigned long long)d->run_id);
        return index_refuse(out, msg);
    }
    if (vecidx_size(*out) != d->nu || vecidx_dim(*out) != d->rank) {
        snprintf(msg, sizeof msg, "%s holds %lld vectors of dimension %lld, not the model's %lld "
                 "users of rank %lld; rebuild it", path, (long long)vecidx_size(*out),
                 (long long)vecidx_dim(*out), (long long)d->nu, (long long)d->rank);
        return index_refuse(out, msg);
    }
    unsigned long long run = 0;
    snprintf(mp, sizeof mp, "%s.meta", path);
    FILE *f = fopen(mp, "r");
    if (!f) {
        snprintf(msg, sizeof msg, "%s is missing: 'lookalike index' writes it beside the index "
                 "(it says whether the vectors were normalized)", mp);
        return index_refuse(out, msg);
    }
    int ok = fscanf(f, "lookalike-index 2 metric %31s run %llx", word, &run) == 2;
    fclose(f);
    if (!ok || (strcmp(word, "cosine") && strcmp(word, "ip") && strcmp(word, "l2"))) {
        snprintf(msg, sizeof msg, "%s: malformed index metadata", mp);
        return index_refuse(out, msg);
    }
    if (run != meta->run_id) {
        snprintf(msg, sizeof msg, "%s belongs to another index (run %016llx, the index's is "
                 "%016llx)", mp, run, (unsigned long long)meta->run_id);
        return index_refuse(out, msg);
    }
    meta->cosine = !strcmp(word, "cosine");
    return 0;
}

int lk_cmd_index(int argc, char **argv) {
    static const char *const own[] = {"model", "kind", "nlist", "metric", "out", NULL};
    const char *const *lists[] = {own, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "index", lists);
    const char *model = lk_arg(&a, "model"), *out = lk_arg(&a, "out");
    const char *kind = lk_arg(&a, "kind"), *metric = lk_arg(&a, "metric");
    int64_t nlist = 0;
    if (!rc && (!model || !out)) rc = lk_usage_error("index: --model and --out are required");
    if (!rc && lk_arg(&a, "nlist") && lk_parse_i64(lk_arg(&a, "nlist"), 1, INT32_MAX, &nlist))
        rc = lk_usage_error("index: --nlist is a positive integer");
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    lk_data d;
    vecidx *idx = NULL;
    lk_index_meta meta;
    double t0 = lk_now();
    if (!(rc = lk_data_load(&d, model)) &&
        !(rc = lk_index_build(&idx, &d, kind ? kind : "flat", nlist, metric ? metric : "cosine",
                              &meta, 0)) &&
        !(rc = lk_index_save(idx, &meta, out)))
        printf("index: wrote %s (%s, %lld lists) in %.2f s\n", out, kind ? kind : "flat",
               (long long)vecidx_nlist(idx), lk_now() - t0);
    vecidx_destroy(idx);
    lk_data_free(&d);
    lk_args_free(&a);
    return rc;
}
