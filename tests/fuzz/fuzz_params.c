/* libFuzzer harness: parameter strings. als_set_param (Spark names, from command lines and
 * bindings), als_set_int / als_set_double, vecidx_set_int / vecidx_get_int (vecidx.h has
 * no string setter: its keys are integers) and als_model_explain_params.
 *
 * Input: lines. "NAME=VALUE" calls als_set_param(NAME, VALUE); "%KEY=VALUE" als_set_int
 * (or als_set_double when VALUE holds '.', 'e', 'n' or 'i'); "!KEY=VALUE" vecidx_set_int on
 * a flat and an IVF index; "?CAP" explain_params into CAP bytes.
 * Checks (include/als.h, include/vecidx.h): a successful set is read back by the getter as
 * the value given, within the documented bounds; a failed set changes no parameter and
 * returns ALS_EINVAL / ALS_ERANGE (/ ALS_EUNSUPPORTED for an unavailable SIMD path); the
 * explanation is NUL-terminated, truncated to CAP and its length is the full length. */
#include <errno.h>
#include <math.h>
#include <strings.h>

#include "fuzz_util.h"
#include "vecidx.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    return 0;
}

/* The parameters as include/als.h documents them. */
enum { T_INT, T_DOUBLE, T_BOOL, T_SOLVER, T_SCALING, T_ITEMEQ };
static const struct {
    const char *name;
    int key, type;
    double lo, hi;
} P[] = {
    {"rank", ALS_PARAM_RANK, T_INT, 1, 1024},
    {"maxIter", ALS_PARAM_MAX_ITER, T_INT, 0, 100000},
    {"implicitPrefs", ALS_PARAM_IMPLICIT, T_BOOL, 0, 1},
    {"nonnegative", ALS_PARAM_NONNEGATIVE, T_BOOL, 0, 1},
    {"regParam", ALS_PARAM_REG, T_DOUBLE, 0, 1e9},
    {"alpha", ALS_PARAM_ALPHA, T_DOUBLE, 0, 1e9},
    {"regScaling", ALS_PARAM_REG_SCALING, T_SCALING, 0, 1},
    {"seed", ALS_PARAM_SEED, T_INT, 0, 9223372036854775807.0},
    {"solver", ALS_PARAM_SOLVER, T_SOLVER, 0, 1},
    {"cgSteps", ALS_PARAM_CG_STEPS, T_INT, 1, 1000},
    {"computeLoss", ALS_PARAM_COMPUTE_LOSS, T_BOOL, 0, 1},
    {"numThreads", ALS_PARAM_NUM_THREADS, T_INT, 0, 4096},
    {"itemEquations", ALS_PARAM_ITEM_EQUATIONS, T_ITEMEQ, 0, 3},
    {"keepInteractions", ALS_PARAM_KEEP_INTERACTIONS, T_BOOL, 0, 1},
};
#define NP ((int)(sizeof P / sizeof P[0]))

typedef struct {
    int64_t i[NP];
    double d[NP];
} snapshot;

static void snap(const als_model *m, snapshot *s) {
    for (int p = 0; p < NP; p++) {
        s->i[p] = 0;
        s->d[p] = 0;
        if (P[p].type == T_DOUBLE) FZ_CHECK(als_get_double(m, P[p].key, &s->d[p]) == ALS_OK, "get %s", P[p].name);
        else FZ_CHECK(als_get_int(m, P[p].key, &s->i[p]) == ALS_OK, "get %s", P[p].name);
        double v = P[p].type == T_DOUBLE ? s->d[p] : (double)s->i[p];
        FZ_CHECK(v >= P[p].lo && v <= P[p].hi, "%s = %g outside its bounds", P[p].name, v);
    }
}

static int find(const char *name) {
    for (int p = 0; p < NP; p++)
        if (!strcmp(P[p].name, name)) return p;
    return -1;
}

static void do_set_param(als_model *m, const char *name, const char *value) {
    snapshot a, b;
    snap(m, &a);
    int rc = als_set_param(m, name, value);
    snap(m, &b);
    int p = find(name);
    if (rc) {
        FZ_CHECK(rc == ALS_EINVAL || rc == ALS_ERANGE, "set_param rc %d", rc);
        FZ_CHECK(p >= 0 || rc == ALS_EINVAL, "unknown name, rc %d", rc);
        FZ_CHECK(!memcmp(&a, &b, sizeof a), "failed set_param(%s, %s) changed a parameter", name, value);
        return;
    }
    FZ_CHECK(p >= 0, "set_param accepted unknown name '%s'", name);
    for (int q = 0; q < NP; q++)
        if (q != p) FZ_CHECK(a.i[q] == b.i[q] && !memcmp(&a.d[q], &b.d[q], 8), "set_param(%s) changed %s", name, P[q].name);
    char *end;
    errno = 0;
    switch (P[p].type) {
    case T_DOUBLE: {
        double want = strtod(value, &end);
        FZ_CHECK(*end == 0 && b.d[p] == want, "%s = '%s' read back as %g", name, value, b.d[p]);
        break;
    }
    case T_BOOL:
        FZ_CHECK(b.i[p] == (!strcasecmp(value, "true") || !strcmp(value, "1")) &&
                     (!strcasecmp(value, "true") || !strcasecmp(value, "false") || !strcmp(value, "1") || !strcmp(value, "0")),
                 "%s = '%s' read back as %lld", name, value, (long long)b.i[p]);
        break;
    case T_SOLVER:
    case T_SCALING: {
        const char *w1 = P[p].type == T_SOLVER ? "cg" : "none";
        const char *w0 = P[p].type == T_SOLVER ? "cholesky" : "count";
        if (!strcasecmp(value, w0)) FZ_CHECK(b.i[p] == 0, "%s", name);
        else if (!strcasecmp(value, w1)) FZ_CHECK(b.i[p] == 1, "%s", name);
        else FZ_CHECK(b.i[p] == strtoll(value, &end, 10) && *end == 0, "%s = '%s' read back as %lld", name, value, (long long)b.i[p]);
        break;
    }
    case T_ITEMEQ: {
        static const char *const w[4] = {"auto", "user-major", "item-major", "sweep"};
        int named = -1;
        for (int t = 0; t < 4; t++)
            if (!strcasecmp(value, w[t])) named = t;
        if (named >= 0) FZ_CHECK(b.i[p] == named, "%s = '%s' read back as %lld", name, value, (long long)b.i[p]);
        else FZ_CHECK(b.i[p] == strtoll(value, &end, 10) && *end == 0, "%s = '%s' read back as %lld", name, value, (long long)b.i[p]);
        break;
    }
    default: {
        long long want = strtoll(value, &end, 10);
        FZ_CHECK(*end == 0 && errno == 0 && b.i[p] == want, "%s = '%s' read back as %lld", name, value, (long long)b.i[p]);
    }
    }
}

static void do_set_key(als_model *m, const char *key_s, const char *value) {
    int key = (int)strtol(key_s, NULL, 10);
    int as_double = strpbrk(value, ".eEnNiI") != NULL;
    snapshot a, b;
    snap(m, &a);
    int rc;
    double dv = 0;
    int64_t iv = 0;
    if (as_double) rc = als_set_double(m, key, dv = strtod(value, NULL));
    else rc = als_set_int(m, key, iv = strtoll(value, NULL, 10));
    snap(m, &b);
    int p = -1;
    for (int q = 0; q < NP; q++)
        if (P[q].key == key) p = q;
    if (rc) {
        FZ_CHECK(rc == ALS_EINVAL || rc == ALS_ERANGE, "set rc %d", rc);
        FZ_CHECK(!memcmp(&a, &b, sizeof a), "failed set of key %d changed a parameter", key);
        return;
    }
    FZ_CHECK(p >= 0 && (P[p].type == T_DOUBLE) == as_double, "set of key %d accepted", key);
    if (as_double) FZ_CHECK(b.d[p] == dv, "key %d: %g read back as %g", key, dv, b.d[p]);
    else FZ_CHECK(b.i[p] == iv, "key %d: %lld read back as %lld", key, (long long)iv, (long long)b.i[p]);
}

static void do_vecidx(vecidx *idx, const char *key_s, const char *value) {
    int key = (int)strtol(key_s, NULL, 10);
    int64_t v = strtoll(value, NULL, 10), lo, hi, def, before = 0, after = 0;
    int known = vecidx_param_bounds(key, &lo, &hi, &def) == ALS_OK;
    if (known) FZ_CHECK(vecidx_get_int(idx, key, &before) == ALS_OK, "get %d", key);
    int rc = vecidx_set_int(idx, key, v);
    if (!known) {
        FZ_CHECK(rc == ALS_EINVAL && vecidx_get_int(idx, key, &after) == ALS_EINVAL, "unknown key %d: rc %d", key, rc);
        return;
    }
    FZ_CHECK(vecidx_get_int(idx, key, &after) == ALS_OK, "get %d", key);
    if (rc) {
        FZ_CHECK(rc == ALS_ERANGE || (rc == ALS_EUNSUPPORTED && key == VECIDX_PARAM_SIMD), "set %d rc %d", key, rc);
        FZ_CHECK(rc != ALS_ERANGE || v < lo || v > hi, "key %d = %lld refused inside [%lld, %lld]", key,
                 (long long)v, (long long)lo, (long long)hi);
        FZ_CHECK(after == before, "failed set of key %d changed it", key);
        return;
    }
    FZ_CHECK(v >= lo && v <= hi, "key %d = %lld accepted outside [%lld, %lld]", key, (long long)v, (long long)lo, (long long)hi);
    if (key == VECIDX_PARAM_SIMD && v == VECIDX_SIMD_AUTO)
        FZ_CHECK(after >= VECIDX_SIMD_PORTABLE && after <= VECIDX_SIMD_AVX512, "simd auto reads %lld", (long long)after);
    else
        FZ_CHECK(after == v, "key %d: %lld read back as %lld", key, (long long)v, (long long)after);
}

static void do_explain(const als_model *m, size_t cap) {
    int64_t full = als_model_explain_params(m, NULL, 0);
    FZ_CHECK(full > 0, "explain length %lld", (long long)full);
    char *all = malloc((size_t)full + 1), *part = malloc(cap + 1);
    FZ_CHECK(als_model_explain_params(m, all, (size_t)full + 1) == full && strlen(all) == (size_t)full, "full text");
    memset(part, 'X', cap + 1);
    FZ_CHECK(als_model_explain_params(m, part, cap) == full, "length with cap %zu", cap);
    if (cap > 0) {
        size_t want = (size_t)full < cap - 1 ? (size_t)full : cap - 1;
        FZ_CHECK(strlen(part) == want && !memcmp(part, all, want), "truncated text with cap %zu", cap);
    }
    FZ_CHECK(part[cap] == 'X', "written past cap %zu", cap);
    free(all);
    free(part);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    als_model *m = NULL;
    vecidx *flat = NULL, *ivf = NULL;
    FZ_CHECK(als_model_create(&m) == ALS_OK, "model");
    FZ_CHECK(vecidx_flat_create(&flat, 4, VECIDX_METRIC_IP) == ALS_OK, "flat");
    FZ_CHECK(vecidx_ivf_create(&ivf, 4, VECIDX_METRIC_L2, 3) == ALS_OK, "ivf");
    int lines = 0;
    for (char *line = text, *next; line && lines < 64; line = next, lines++) {
        next = memchr(line, '\n', (size_t)(text + size - line));
        if (next) *next++ = 0;
        if ((size_t)(line - text) > size) break;
        char *eq = strchr(line, '=');
        if (line[0] == '?') {
            do_explain(m, (size_t)strtoul(line + 1, NULL, 10) % 4096);
        } else if (!eq) {
            continue;
        } else {
            *eq = 0;
            if (line[0] == '%') do_set_key(m, line + 1, eq + 1);
            else if (line[0] == '!') {
                do_vecidx(flat, line + 1, eq + 1);
                do_vecidx(ivf, line + 1, eq + 1);
            } else do_set_param(m, line, eq + 1);
        }
    }
    do_explain(m, size % 512);
    vecidx_destroy(ivf);
    vecidx_destroy(flat);
    als_model_destroy(m);
    free(text);
    return 0;
}
