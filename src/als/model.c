/* The ALS model handle: parameters (keyed and by Spark's names), getters, prediction. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "als/model_internal.h"

typedef struct {
    int key;
    const char *name;
    int is_double;
    double lo, hi, def;
    const char *help;
} param_info;

static const param_info PARAMS[] = {
    {ALS_PARAM_RANK, "rank", 0, 1, 1024, 10, "number of latent factors"},
    {ALS_PARAM_MAX_ITER, "maxIter", 0, 0, 100000, 10, "iterations (each solves items, then users)"},
    {ALS_PARAM_IMPLICIT, "implicitPrefs", 0, 0, 1, 0, "1: implicit feedback (confidence 1 + alpha |r|)"},
    {ALS_PARAM_NONNEGATIVE, "nonnegative", 0, 0, 1, 0, "1: non-negative factors (NNLS solves)"},
    {ALS_PARAM_REG, "regParam", 1, 0, 1e9, 0.1, "regularization lambda"},
    {ALS_PARAM_ALPHA, "alpha", 1, 0, 1e9, 1.0, "implicit confidence slope"},
    {ALS_PARAM_REG_SCALING, "regScaling", 0, 0, 1, ALS_REG_COUNT,
     "0 count: lambda x ratings of the row (Spark); 1 none: plain lambda"},
    {ALS_PARAM_SEED, "seed", 0, 0, 9.2233720368547748e18, 0, "random seed of the initial factors"},
    {ALS_PARAM_SOLVER, "solver", 0, 0, 1, ALS_SOLVER_CHOLESKY, "0 cholesky (exact), 1 cg (conjugate gradient)"},
    {ALS_PARAM_CG_STEPS, "cgSteps", 0, 1, 1000, 3, "conjugate-gradient steps per solve"},
    {ALS_PARAM_COMPUTE_LOSS, "computeLoss", 0, 0, 1, 0, "1: compute the training loss each iteration"},
    {ALS_PARAM_ITEM_EQUATIONS, "itemEquations", 0, 0, 3, ALS_ITEMEQ_AUTO,
     "item half-step: 0 auto (by memory), 1 user-major (per-thread item systems, no copy), "
     "2 item-major (an item-major copy of the ratings), 3 sweep (CG: item blocks, passes over the users)"},
    {ALS_PARAM_KEEP_INTERACTIONS, "keepInteractions", 0, 0, 1, 1,
     "1: the model keeps (and saves) its training interactions for items_of_user, "
     "users_of_items and recommend_unseen"},
    {ALS_PARAM_NUM_THREADS, "numThreads", 0, 0, 4096, 0, "threads; 0 = all cores"},
};
#define NPARAMS (sizeof PARAMS / sizeof PARAMS[0])

static const param_info *find_key(int key) {
    for (size_t i = 0; i < NPARAMS; i++)
        if (PARAMS[i].key == key) return &PARAMS[i];
    return NULL;
}

static double *slot(als_model *m, int key) {
    switch (key) {
    case ALS_PARAM_RANK: return &m->p.rank;
    case ALS_PARAM_MAX_ITER: return &m->p.max_iter;
    case ALS_PARAM_IMPLICIT: return &m->p.implicit;
    case ALS_PARAM_NONNEGATIVE: return &m->p.nonnegative;
    case ALS_PARAM_REG: return &m->p.reg;
    case ALS_PARAM_ALPHA: return &m->p.alpha;
    case ALS_PARAM_REG_SCALING: return &m->p.reg_scaling;
    case ALS_PARAM_SEED: return &m->p.seed;
    case ALS_PARAM_SOLVER: return &m->p.solver;
    case ALS_PARAM_CG_STEPS: return &m->p.cg_steps;
    case ALS_PARAM_COMPUTE_LOSS: return &m->p.compute_loss;
    case ALS_PARAM_NUM_THREADS: return &m->p.num_threads;
    case ALS_PARAM_ITEM_EQUATIONS: return &m->p.item_eq;
    case ALS_PARAM_KEEP_INTERACTIONS: return &m->p.keep_inter;
    default: return NULL;
    }
}

void als__params_default(als__params *p) {
    memset(p, 0, sizeof *p);
    als_model tmp;
    memset(&tmp, 0, sizeof tmp);
    for (size_t i = 0; i < NPARAMS; i++) *slot(&tmp, PARAMS[i].key) = PARAMS[i].def;
    *p = tmp.p;
}

int als__params_check(const als__params *p) {
    als_model tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.p = *p;
    for (size_t i = 0; i < NPARAMS; i++) {
        double v = *slot(&tmp, PARAMS[i].key);
        if (!(v >= PARAMS[i].lo && v <= PARAMS[i].hi)) return -1;
        if (!PARAMS[i].is_double && v != floor(v)) return -1;
    }
    return p->seed_exact < 0 ? -1 : 0;
}

ALS_API int als_model_create(als_model **out) {
    if (!out) return als__errf(ALS_EINVAL, "als_model_create: out is NULL");
    als_model *m = calloc(1, sizeof *m);
    *out = NULL;
    if (!m) return als__errf(ALS_ENOMEM, "als_model_create: out of memory");
    als__params_default(&m->p);
    *out = m;
    return ALS_OK;
}

ALS_API void als_model_destroy(als_model *m) {
    if (!m) return;
    als__model_clear(m);
    free(m);
}

/* Seeds are int64: keep them exact instead of passing through double. */
ALS_API int als_set_int(als_model *m, int key, int64_t value) {
    if (!m) return als__errf(ALS_EINVAL, "als_set_int: model is NULL");
    const param_info *p = find_key(key);
    if (!p) return als__errf(ALS_EINVAL, "als_set_int: unknown parameter key %d", key);
    if (p->is_double) return als__errf(ALS_EINVAL, "als_set_int: %s is a double parameter", p->name);
    if (key == ALS_PARAM_SEED) {
        if (value < 0) return als__errf(ALS_ERANGE, "als_set_int: seed %lld < 0", (long long)value);
        m->p.seed_exact = value;
        m->p.seed = (double)value;
        return ALS_OK;
    }
    if ((double)value < p->lo || (double)value > p->hi)
        return als__errf(ALS_ERANGE, "als_set_int: %s = %lld outside [%.0f, %.0f]", p->name,
                         (long long)value, p->lo, p->hi);
    *slot(m, key) = (double)value;
    return ALS_OK;
}

ALS_API int als_set_double(als_model *m, int key, double value) {
    if (!m) return als__errf(ALS_EINVAL, "als_set_double: model is NULL");
    const param_info *p = find_key(key);
    if (!p) return als__errf(ALS_EINVAL, "als_set_double: unknown parameter key %d", key);
    if (!p->is_double) return als__errf(ALS_EINVAL, "als_set_double: %s is an integer parameter", p->name);
    if (!(value >= p->lo && value <= p->hi)) /* also rejects NaN */
        return als__errf(ALS_ERANGE, "als_set_double: %s = %g outside [%g, %g]", p->name, value, p->lo, p->hi);
    *slot(m, key) = value;
    return ALS_OK;
}

ALS_API int als_get_int(const als_model *m, int key, int64_t *value) {
    if (!m || !value) return als__errf(ALS_EINVAL, "als_get_int: NULL argument");
    const param_info *p = find_key(key);
    if (!p || p->is_double) return als__errf(ALS_EINVAL, "als_get_int: %d is not an integer key", key);
    *value = key == ALS_PARAM_SEED ? m->p.seed_exact : (int64_t)*slot((als_model *)m, key);
    return ALS_OK;
}

ALS_API int als_get_double(const als_model *m, int key, double *value) {
    if (!m || !value) return als__errf(ALS_EINVAL, "als_get_double: NULL argument");
    const param_info *p = find_key(key);
    if (!p || !p->is_double) return als__errf(ALS_EINVAL, "als_get_double: %d is not a double key", key);
    *value = *slot((als_model *)m, key);
    return ALS_OK;
}

static int parse_bool(const char *v, int64_t *out) {
    if (!strcasecmp(v, "true") || !strcmp(v, "1")) return *out = 1, 0;
    if (!strcasecmp(v, "false") || !strcmp(v, "0")) return *out = 0, 0;
    return -1;
}

ALS_API int als_set_param(als_model *m, const char *name, const char *value) {
    if (!m || !name || !value) return als__errf(ALS_EINVAL, "als_set_param: NULL argument");
    const param_info *p = NULL;
    for (size_t i = 0; i < NPARAMS; i++)
        if (!strcmp(PARAMS[i].name, name)) p = &PARAMS[i];
    if (!p) return als__errf(ALS_EINVAL, "als_set_param: unknown parameter '%s'", name);
    if (p->is_double) {
        char *end;
        errno = 0;
        double d = strtod(value, &end);
        if (end == value || *end || errno == ERANGE)
            return als__errf(ALS_EINVAL, "als_set_param: %s = '%s' is not a number", name, value);
        return als_set_double(m, p->key, d);
    }
    int64_t v;
    int bad = 0;
    if (p->key == ALS_PARAM_IMPLICIT || p->key == ALS_PARAM_NONNEGATIVE || p->key == ALS_PARAM_COMPUTE_LOSS ||
        p->key == ALS_PARAM_KEEP_INTERACTIONS) {
        bad = parse_bool(value, &v);
    } else if (p->key == ALS_PARAM_SOLVER && !strcasecmp(value, "cholesky")) {
        v = ALS_SOLVER_CHOLESKY;
    } else if (p->key == ALS_PARAM_SOLVER && !strcasecmp(value, "cg")) {
        v = ALS_SOLVER_CG;
    } else if (p->key == ALS_PARAM_ITEM_EQUATIONS && !strcasecmp(value, "auto")) {
        v = ALS_ITEMEQ_AUTO;
    } else if (p->key == ALS_PARAM_ITEM_EQUATIONS && !strcasecmp(value, "user-major")) {
        v = ALS_ITEMEQ_USER_MAJOR;
    } else if (p->key == ALS_PARAM_ITEM_EQUATIONS && !strcasecmp(value, "item-major")) {
        v = ALS_ITEMEQ_ITEM_MAJOR;
    } else if (p->key == ALS_PARAM_ITEM_EQUATIONS && !strcasecmp(value, "sweep")) {
        v = ALS_ITEMEQ_SWEEP;
    } else if (p->key == ALS_PARAM_REG_SCALING && !strcasecmp(value, "count")) {
        v = ALS_REG_COUNT;
    } else if (p->key == ALS_PARAM_REG_SCALING && !strcasecmp(value, "none")) {
        v = ALS_REG_NONE;
    } else {
        char *end;
        errno = 0;
        long long ll = strtoll(value, &end, 10);
        bad = end == value || *end || errno == ERANGE;
        v = ll;
    }
    if (bad) return als__errf(ALS_EINVAL, "als_set_param: %s = '%s' is not a valid value", name, value);
    return als_set_int(m, p->key, v);
}

ALS_API int64_t als_model_explain_params(const als_model *m, char *buf, size_t cap) {
    if (!m) return als__errf(ALS_EINVAL, "als_model_explain_params: model is NULL");
    if (!buf && cap > 0) return als__errf(ALS_EINVAL, "als_model_explain_params: buf is NULL");
    size_t len = 0;
    if (cap > 0) buf[0] = '\0';
    for (size_t i = 0; i < NPARAMS; i++) {
        const param_info *p = &PARAMS[i];
        char line[256];
        double v = *slot((als_model *)m, p->key);
        int n;
        if (p->is_double)
            n = snprintf(line, sizeof line, "%s (key %d): %s (default: %g, range: [%g, %g], current: %g)\n",
                         p->name, p->key, p->help, p->def, p->lo, p->hi, v);
        else if (p->key == ALS_PARAM_SEED)
            n = snprintf(line, sizeof line, "%s (key %d): %s (default: 0, range: [0, 2^63-1], current: %lld)\n",
                         p->name, p->key, p->help, (long long)m->p.seed_exact);
        else
            n = snprintf(line, sizeof line, "%s (key %d): %s (default: %.0f, range: [%.0f, %.0f], current: %.0f)\n",
                         p->name, p->key, p->help, p->def, p->lo, p->hi, v);
        if (n < 0) continue;
        if (len + 1 < cap) {
            size_t room = cap - 1 - len, c = (size_t)n < room ? (size_t)n : room;
            memcpy(buf + len, line, c);
            buf[len + c] = '\0';
        }
        len += (size_t)n;
    }
    return (int64_t)len;
}

ALS_API int als_model_set_progress(als_model *m, als_progress_fn fn, void *user) {
    if (!m) return als__errf(ALS_EINVAL, "als_model_set_progress: model is NULL");
    m->progress = fn;
    m->progress_user = user;
    return ALS_OK;
}

ALS_API int als_model_is_fitted(const als_model *m) { return m && m->fitted; }
ALS_API int als_model_cancel(als_model *m) {
    if (!m) return als__errf(ALS_EINVAL, "als_model_cancel: model is NULL");
    atomic_store(&m->cancel, 1);
    return ALS_OK;
}
ALS_API uint64_t als_model_run_id(const als_model *m) { return m && m->fitted ? m->run_id : 0; }
ALS_API const als_matrix *als_model_user_factors(const als_model *m) { return m && m->fitted ? m->U : NULL; }
ALS_API const als_matrix *als_model_item_factors(const als_model *m) { return m && m->fitted ? m->V : NULL; }
ALS_API const int64_t *als_model_user_ids(const als_model *m) { return m && m->fitted ? m->umap.ids : NULL; }
ALS_API const int64_t *als_model_item_ids(const als_model *m) { return m && m->fitted ? m->imap.ids : NULL; }
ALS_API int64_t als_model_user_row(const als_model *m, int64_t id) {
    return m && m->fitted ? als__idmap_get(&m->umap, id) : -1;
}
ALS_API int64_t als_model_item_row(const als_model *m, int64_t id) {
    return m && m->fitted ? als__idmap_get(&m->imap, id) : -1;
}

ALS_API int als_model_predict(const als_model *m, int64_t n, const int64_t *users,
                              const int64_t *items, float *out) {
    if (!m || ((!users || !items || !out) && n > 0)) return als__errf(ALS_EINVAL, "als_model_predict: NULL argument");
    if (!m->fitted) return als__errf(ALS_ESTATE, "als_model_predict: the model is not fitted");
    if (n < 0) return als__errf(ALS_ERANGE, "als_model_predict: n = %lld < 0", (long long)n);
    int64_t r = m->p_fit.rank;
    const float *U = als_matrix_data_const(m->U), *V = als_matrix_data_const(m->V);
    for (int64_t t = 0; t < n; t++) {
        int64_t u = als__idmap_get(&m->umap, users[t]), i = als__idmap_get(&m->imap, items[t]);
        if (u < 0 || i < 0) {
            out[t] = NAN;
            continue;
        }
        float s = 0.0f;
        for (int64_t j = 0; j < r; j++) s = als__fmaf(U[u * r + j], V[i * r + j], s);
        out[t] = s;
    }
    return ALS_OK;
}
