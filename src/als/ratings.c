/* The ratings container: rows with incremental id maps, all-or-nothing appends, row
 * access, and the train/test splits (random, per-user last k, by time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als/als_internal.h"

ALS_API int als_ratings_create(als_ratings **out) {
    if (!out) return als__errf(ALS_EINVAL, "als_ratings_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return als__errf(ALS_ENOMEM, "als_ratings_create: out of memory");
    return ALS_OK;
}

ALS_API void als_ratings_destroy(als_ratings *r) {
    if (!r) return;
    free(r->vals);
    free(r->times);
    free(r->urow);
    free(r->rstart);
    free(r->ruser);
    free(r->irow);
    als__idmap_free(&r->umap);
    als__idmap_free(&r->imap);
    als__strdict_free(r->unames);
    als__strdict_free(r->inames);
    free(r);
}

/* realloc that keeps p when it fails, so each array can be grown on its own. */
static int grow_array(void *pp, int64_t count, size_t elem) {
    void **p = pp, *q = realloc(*p, (size_t)count * elem);
    if (!q) return ALS_ENOMEM;
    *p = q;
    return ALS_OK;
}

static size_t val_bytes(int vk) { return vk == ALS__V_F32 ? 4 : vk == ALS__V_U16 ? 2 : 0; }

/* Capacity for `need` rows in every per-row array. A failure leaves some arrays larger
 * than r->cap, which is harmless: r->cap only moves once all of them have grown. */
static int grow_rows(als_ratings *r, int64_t need, const char *fn) {
    if (need <= r->cap) return ALS_OK;
    int64_t c = r->cap + r->cap / 2;
    if (c < need) c = need;
    if (c < 64) c = 64;
    size_t bytes;
    if (!r->iw) r->iw = 2;
    if ((uint64_t)c > SIZE_MAX || als__mul((size_t)c, sizeof(int64_t), &bytes) ||
        bytes > (size_t)INT64_MAX)
        return als__errf(ALS_ENOMEM, "%s: %lld rows overflow the address space", fn,
                         (long long)need);
    if ((val_bytes(r->vk) && grow_array(&r->vals, c, val_bytes(r->vk))) ||
        (r->urow && grow_array(&r->urow, c, sizeof(int32_t))) ||
        grow_array(&r->irow, c, (size_t)r->iw) ||
        (r->times && grow_array(&r->times, c, sizeof(int64_t))))
        return als__errf(ALS_ENOMEM, "%s: cannot allocate %lld rows", fn, (long long)c);
    r->cap = c;
    return ALS_OK;
}

/* The narrowest value column that holds v exactly: 1 needs none, an integer in [0, 65535]
 * (not -0) 16 bits, anything else a float. */
static int value_kind(float v) {
    if (v == 1.0f) return ALS__V_ONE;
    if (v >= 0.0f && v <= 65535.0f && v == (float)(uint16_t)v && !signbit(v)) return ALS__V_U16;
    return ALS__V_F32;
}

/* Widen the value column to kind vk (> r->vk) for r->cap rows; ALS_OK or ALS_ENOMEM
 * (r unchanged). */
static int widen_values(als_ratings *r, int vk) {
    void *nv = malloc((size_t)(r->cap ? r->cap : 1) * val_bytes(vk));
    if (!nv) return ALS_ENOMEM;
    for (int64_t t = 0; t < r->n; t++) {
        float v = als__r_value(r, t);
        if (vk == ALS__V_U16) ((uint16_t *)nv)[t] = (uint16_t)v;
        else ((float *)nv)[t] = v;
    }
    free(r->vals);
    r->vals = nv;
    r->vk = vk;
    return ALS_OK;
}

/* Widen the item column to 32 bits for r->cap rows, converting its first `rows` (r->n and
 * the rows an add has written so far); ALS_OK or ALS_ENOMEM (r unchanged). */
static int widen_items(als_ratings *r, int64_t rows) {
    int32_t *ni = malloc((size_t)(r->cap ? r->cap : 1) * sizeof *ni);
    if (!ni) return ALS_ENOMEM;
    for (int64_t t = 0; t < rows; t++) ni[t] = ((const uint16_t *)r->irow)[t];
    free(r->irow);
    r->irow = ni;
    r->iw = 4;
    return ALS_OK;
}

/* Row k's user du, rows written in order (k is r->n or a row an add is writing): the last
 * run goes on, a new one starts, or, once the runs would pass a quarter of the rows, every
 * row gets its index in urow (for r->cap rows) and the runs go. ALS_OK or ALS_ENOMEM (r
 * still describes its first r->n rows; an add that fails puts nruns back, unless the rows
 * moved to urow, which holds them as well). */
static int put_user(als_ratings *r, int64_t k, int32_t du) {
    if (r->urow) {
        r->urow[k] = du;
        return ALS_OK;
    }
    if (r->nruns > 0 && r->ruser[r->nruns - 1] == du) return ALS_OK;
    if (r->nruns >= k / 4 + 64) {
        int32_t *u = malloc((size_t)(r->cap > k ? r->cap : k + 1) * sizeof *u);
        if (!u) return ALS_ENOMEM;
        for (int64_t q = 0; q < r->nruns; q++) {
            int64_t end = q + 1 < r->nruns ? r->rstart[q + 1] : k;
            for (int64_t j = r->rstart[q]; j < end; j++) u[j] = r->ruser[q];
        }
        u[k] = du;
        free(r->rstart);
        free(r->ruser);
        r->rstart = NULL;
        r->ruser = NULL;
        r->nruns = r->rcap = 0;
        r->urow = u;
        return ALS_OK;
    }
    if (r->nruns == r->rcap) {
        int64_t c = r->rcap ? 2 * r->rcap : 64;
        if (grow_array(&r->rstart, c, sizeof(int64_t)) || grow_array(&r->ruser, c, sizeof(int32_t)))
            return ALS_ENOMEM;
        r->rcap = c;
    }
    r->rstart[r->nruns] = k;
    r->ruser[r->nruns++] = du;
    return ALS_OK;
}

/* Shared by add and add_timed. Everything that can fail (validation, every allocation)
 * happens before the first row is written, so a failure appends nothing. */
static int add_rows(als_ratings *r, int64_t n, const int64_t *users, const int64_t *items,
                    const float *values, const int64_t *times, const char *fn) {
    if (!r) return als__errf(ALS_EINVAL, "%s: ratings handle is NULL", fn);
    if (n < 0) return als__errf(ALS_ERANGE, "%s: n = %lld is negative", fn, (long long)n);
    if (n == 0) return ALS_OK;
    if (!users || !items) return als__errf(ALS_EINVAL, "%s: users or items is NULL", fn);
    int vk = r->vk;
    for (int64_t i = 0; values && i < n; i++) {
        if (!isfinite(values[i]))
            return als__errf(ALS_EINVAL, "%s: the value of row %lld is %s; nothing was added",
                             fn, (long long)i, isnan(values[i]) ? "NaN" : "infinite");
        int k = value_kind(values[i]);
        if (k > vk) vk = k;
    }
    if (n > INT64_MAX - r->n)
        return als__errf(ALS_ENOMEM, "%s: %lld + %lld rows overflow", fn, (long long)r->n,
                         (long long)n);
    int rc = grow_rows(r, r->n + n, fn);
    if (rc) return rc;
    for (int64_t i = 0; i < n; i++) /* (after the size checks: huge n never reads the arrays) */
        if (users[i] == -1 || items[i] == -1)
            return als__errf(ALS_EINVAL, "%s: the %s id of row %lld is -1, which is reserved (it "
                             "marks a missing result in recommendations and searches); nothing "
                             "was added", fn, users[i] == -1 ? "user" : "item", (long long)i);
    /* The widenings allocate: timestamps first, then values; a later failure frees the
     * new timestamps, and a widened value column holds the same values, so r keeps its
     * meaning whatever fails. */
    int64_t *tnew = NULL;
    if (times && !r->times) { /* first timed add: earlier rows have no time */
        tnew = malloc((size_t)r->cap * sizeof *tnew);
        if (!tnew) return als__errf(ALS_ENOMEM, "%s: cannot allocate timestamps", fn);
        for (int64_t i = 0; i < r->n; i++) tnew[i] = ALS_NO_TIME;
    }
    if (vk > r->vk && widen_values(r, vk)) {
        free(tnew);
        return als__errf(ALS_ENOMEM, "%s: cannot widen the value column", fn);
    }
    /* The rows are written past r->n and only counted at the end. The id maps grow as new
     * ids come (not by n per call: repeated ids would over-reserve); when a put or the
     * widening of the item column fails, or the ids pass 2^31 - 1, the maps are cut back
     * to their old size (which never allocates) and nothing is appended. */
    int64_t base = r->n, nu0 = r->umap.n, ni0 = r->imap.n, lu = 0, li = 0, du = -1, di = -1;
    int64_t nruns0 = r->nruns;
    int64_t *times0 = r->times;
    if (tnew) r->times = tnew;
    rc = ALS_OK;
    for (int64_t i = 0; i < n && !rc; i++) {
        int64_t k = base + i;
        float v = values ? values[i] : 1.0f;
        if (r->vk == ALS__V_U16) ((uint16_t *)r->vals)[k] = (uint16_t)v;
        else if (r->vk == ALS__V_F32) ((float *)r->vals)[k] = v;
        if (r->times) r->times[k] = times ? times[i] : ALS_NO_TIME;
        /* files grouped by user repeat the user id row after row: look it up once */
        if (du < 0 || users[i] != lu) du = als__idmap_put(&r->umap, lu = users[i]);
        if (di < 0 || items[i] != li) di = als__idmap_put(&r->imap, li = items[i]);
        if (du < 0 || di < 0) {
            rc = als__errf(ALS_ENOMEM, "%s: cannot grow the id maps", fn);
            break;
        }
        if (du > INT32_MAX || di > INT32_MAX) {
            rc = als__errf(ALS_ERANGE, "%s: more than 2^31-1 distinct users or items", fn);
            break;
        }
        if (r->iw == 2 && di > 65535 && widen_items(r, k)) {
            rc = als__errf(ALS_ENOMEM, "%s: cannot widen the item column", fn);
            break;
        }
        if (put_user(r, k, (int32_t)du)) {
            rc = als__errf(ALS_ENOMEM, "%s: cannot grow the user column", fn);
            break;
        }
        if (r->iw == 2) ((uint16_t *)r->irow)[k] = (uint16_t)di;
        else ((int32_t *)r->irow)[k] = (int32_t)di;
    }
    if (rc) {
        if (!r->urow) r->nruns = nruns0; /* (rows moved to urow keep the old rows too) */
        als__idmap_truncate(&r->umap, nu0);
        als__idmap_truncate(&r->imap, ni0);
        r->times = times0;
        free(tnew);
        return rc;
    }
    r->n += n;
    return ALS_OK;
}

ALS_API int als_ratings_add(als_ratings *r, int64_t n, const int64_t *users,
                            const int64_t *items, const float *values) {
    return add_rows(r, n, users, items, values, NULL, "als_ratings_add");
}

ALS_API int als_ratings_add_timed(als_ratings *r, int64_t n, const int64_t *users,
                                  const int64_t *items, const float *values,
                                  const int64_t *times) {
    return add_rows(r, n, users, items, values, times, "als_ratings_add_timed");
}

/* ------------------------------------------------------------------ string ids */

int als__ratings_ints_to_names(als_ratings *r, int c) {
    als__idmap *map = c ? &r->imap : &r->umap, nm;
    als__strdict **names = c ? &r->inames : &r->unames, *d = als__strdict_new();
    memset(&nm, 0, sizeof nm);
    int rc = d && !als__idmap_reserve(&nm, map->n) ? ALS_OK : ALS_ENOMEM;
    for (int64_t k = 0; !rc && k < map->n; k++) {
        char t[24];
        int len = snprintf(t, sizeof t, "%lld", (long long)map->ids[k]);
        /* distinct integers have distinct decimal texts: the names come out as 0, 1, ... */
        if (als__strdict_intern(d, t, (size_t)len) != k) rc = ALS_ENOMEM;
        else als__idmap_put(&nm, k);
    }
    if (rc) {
        als__strdict_free(d);
        als__idmap_free(&nm);
        return ALS_ENOMEM;
    }
    als__idmap_free(map);
    *map = nm;
    als__strdict_free(*names);
    *names = d;
    return ALS_OK;
}

ALS_API int als_ratings_add_named(als_ratings *r, int64_t n, const char *const *users,
                                  const char *const *items, const float *values) {
    static const char *const fn = "als_ratings_add_named";
    if (!r) return als__errf(ALS_EINVAL, "%s: ratings handle is NULL", fn);
    if (n < 0) return als__errf(ALS_ERANGE, "%s: n = %lld is negative", fn, (long long)n);
    if (n == 0) return ALS_OK;
    if (!users || !items) return als__errf(ALS_EINVAL, "%s: users or items is NULL", fn);
    for (int64_t i = 0; i < n; i++) {
        if (!users[i] || !items[i])
            return als__errf(ALS_EINVAL, "%s: the %s name of row %lld is NULL; nothing was "
                             "added", fn, users[i] ? "item" : "user", (long long)i);
        if (values && !isfinite(values[i]))
            return als__errf(ALS_EINVAL, "%s: the value of row %lld is %s; nothing was added",
                             fn, (long long)i, isnan(values[i]) ? "NaN" : "infinite");
    }
    if ((!r->unames && r->umap.n > 0) || (!r->inames && r->imap.n > 0))
        return als__errf(ALS_ESTATE, "%s: the ratings already hold integer %s ids; names and "
                         "integer ids cannot share a column", fn,
                         !r->unames && r->umap.n > 0 ? "user" : "item");
    if ((uint64_t)n > SIZE_MAX / (2 * sizeof(int64_t)))
        return als__errf(ALS_ENOMEM, "%s: %lld rows overflow the address space", fn,
                         (long long)n);
    int64_t *ids = malloc((size_t)n * 2 * sizeof *ids);
    int made[2] = {!r->unames, !r->inames};
    if (made[0]) r->unames = als__strdict_new();
    if (made[1]) r->inames = als__strdict_new();
    int64_t n0[2] = {als__strdict_count(r->unames), als__strdict_count(r->inames)};
    int rc = ids && r->unames && r->inames ? ALS_OK : ALS_ENOMEM;
    for (int64_t i = 0; !rc && i < n; i++) {
        ids[i] = als__strdict_intern(r->unames, users[i], strlen(users[i]));
        ids[n + i] = als__strdict_intern(r->inames, items[i], strlen(items[i]));
        if (ids[i] < 0 || ids[n + i] < 0) rc = ALS_ENOMEM;
    }
    if (rc) rc = als__errf(ALS_ENOMEM, "%s: out of memory for %lld names", fn, (long long)n);
    else rc = add_rows(r, n, ids, ids + n, values, NULL, fn);
    free(ids);
    if (rc) { /* nothing appended: the dictionaries go back to what they were */
        als__strdict_truncate(r->unames, n0[0]);
        als__strdict_truncate(r->inames, n0[1]);
        for (int c = 0; c < 2; c++) {
            als__strdict **d = c ? &r->inames : &r->unames;
            if (made[c]) {
                als__strdict_free(*d);
                *d = NULL;
            }
        }
    }
    return rc;
}

ALS_API int64_t als_ratings_rows(const als_ratings *r) { return r ? r->n : 0; }
/* The id maps are kept up to date by every add, so the counts cost nothing. */
ALS_API int64_t als_ratings_num_users(const als_ratings *r) { return r ? r->umap.n : 0; }
ALS_API int64_t als_ratings_num_items(const als_ratings *r) { return r ? r->imap.n : 0; }
ALS_API int64_t als_ratings_bad_rows(const als_ratings *r) { return r ? r->bad_rows : 0; }
ALS_API int64_t als_ratings_bad_row_lines(const als_ratings *r, int64_t *lines, int64_t cap) {
    if (!r || (cap > 0 && !lines)) return als__errf(ALS_EINVAL, "als_ratings_bad_row_lines: NULL argument");
    if (cap < 0) return als__errf(ALS_ERANGE, "als_ratings_bad_row_lines: cap %lld is negative", (long long)cap);
    int64_t n = r->bad_rows < ALS_BAD_LINES ? r->bad_rows : ALS_BAD_LINES;
    for (int64_t i = 0; i < n && i < cap; i++) lines[i] = r->bad_lines[i];
    return n;
}

ALS_API int als_ratings_get(const als_ratings *r, int64_t i, int64_t *user, int64_t *item,
                            float *value, int64_t *time) {
    if (!r) return als__errf(ALS_EINVAL, "als_ratings_get: ratings handle is NULL");
    if (i < 0 || i >= r->n)
        return als__errf(ALS_ERANGE, "als_ratings_get: row %lld is outside [0, %lld)",
                         (long long)i, (long long)r->n);
    if (user) *user = als__r_user(r, i);
    if (item) *item = als__r_item(r, i);
    if (value) *value = als__r_value(r, i);
    if (time) *time = r->times ? r->times[i] : ALS_NO_TIME; /* INT64_MIN: no timestamp */
    return ALS_OK;
}

/* ------------------------------------------------------------------ grouping */

int als__ratings_grouped(const als_ratings *r) {
    int grouped = 1;
    for (int64_t k = 1; !r->urow && k < r->nruns && grouped; k++) grouped = r->ruser[k] > r->ruser[k - 1];
    for (int64_t t = 1; r->urow && t < r->n && grouped; t++) grouped = r->urow[t] >= r->urow[t - 1];
    return grouped;
}

/* A stable counting sort of the rows by dense user index (the order of first appearance),
 * every column moved: afterwards the user column is runs (one per user) unless the users
 * are too many for runs to pay, and the fit reads the store in place instead of copying
 * it. The columns move one at a time, widest first, through one spare buffer as wide as
 * the widest: each column's old buffer is the next one's destination, so the sort needs
 * one column more, not a copy of all. Every allocation comes first: a failure changes
 * nothing. */
ALS_API int als_ratings_group_by_user(als_ratings *r) {
    static const char *const fn = "als_ratings_group_by_user";
    if (!r) return als__errf(ALS_EINVAL, "%s: ratings handle is NULL", fn);
    int64_t n = r->n, nu = r->umap.n;
    if (n == 0) return ALS_OK;
    if (als__ratings_grouped(r)) return ALS_OK;
    /* the columns, widest first: times (8), then items and values (4 or 2 each) */
    void **col[3];
    size_t w[3];
    int nc = 0;
    if (r->times) col[nc] = (void **)&r->times, w[nc++] = sizeof(int64_t);
    size_t iw = (size_t)r->iw, vb = val_bytes(r->vk);
    if (iw >= vb) col[nc] = &r->irow, w[nc++] = iw;
    if (vb) col[nc] = &r->vals, w[nc++] = vb;
    if (iw < vb) col[nc] = &r->irow, w[nc++] = iw;
    int64_t *pos = calloc((size_t)nu + 1, sizeof *pos);
    void *spare = malloc((size_t)n * w[0]);
    if (!pos || !spare) {
        free(pos);
        free(spare);
        return als__errf(ALS_ENOMEM, "%s: cannot allocate a column of %lld rows", fn, (long long)n);
    }
    als__ucur c = als__ucur_start(r);
    for (int64_t t = 0; t < n; t++) pos[als__ucur_user(r, &c, t) + 1]++;
    int64_t users = 0; /* users with rows (a dictionary loaded by read_ids may hold more) */
    for (int64_t u = 0; u < nu; u++) {
        users += pos[u + 1] > 0;
        pos[u + 1] += pos[u];
    }
    /* Runs cost 12 bytes a user against urow's 4 a row: the same rule as put_user's (so
     * ratings held as runs stay runs: their users are fewer than their runs). */
    int runs = users < n / 4 + 64 || !r->urow;
    int64_t *rs = runs ? malloc((size_t)(users ? users : 1) * sizeof *rs) : NULL;
    int32_t *ru = runs ? malloc((size_t)(users ? users : 1) * sizeof *ru) : NULL;
    int64_t *at = malloc((size_t)(nu ? nu : 1) * sizeof *at);
    if ((runs && (!rs || !ru)) || !at) {
        free(rs);
        free(ru);
        free(at);
        free(pos);
        free(spare);
        return als__errf(ALS_ENOMEM, "%s: cannot allocate the user runs", fn);
    }
    for (int64_t u = 0, k = 0; runs && u < nu; u++)
        if (pos[u + 1] > pos[u]) {
            rs[k] = pos[u];
            ru[k++] = (int32_t)u;
        }
    for (int k = 0; k < nc; k++) { /* (the buffers hold at least n rows of each width) */
        memcpy(at, pos, (size_t)nu * sizeof *at);
        char *dst = spare;
        const char *src = *col[k];
        size_t cw = w[k];
        c = als__ucur_start(r);
        for (int64_t t = 0; t < n; t++)
            memcpy(dst + (size_t)at[als__ucur_user(r, &c, t)]++ * cw, src + (size_t)t * cw, cw);
        spare = *col[k];
        *col[k] = dst;
    }
    free(spare);
    free(at);
    if (runs) {
        free(r->urow);
        free(r->rstart);
        free(r->ruser);
        r->urow = NULL;
        r->rstart = rs;
        r->ruser = ru;
        r->nruns = r->rcap = users;
    } else { /* the user column itself, sorted: user u's rows are pos[u] .. pos[u + 1] - 1 */
        for (int64_t u = 0; u < nu; u++)
            for (int64_t t = pos[u]; t < pos[u + 1]; t++) r->urow[t] = (int32_t)u;
    }
    r->cap = n; /* every per-row array now holds at least n rows */
    free(pos);
    return ALS_OK;
}

/* ------------------------------------------------------------------ splits */

/* A new set of the rows i with pick[i] == want, in r's order, with copies of r's
 * dictionaries and a times array whenever r has one. */
static int subset(const als_ratings *r, const unsigned char *pick, unsigned char want,
                  als_ratings **out, const char *fn) {
    *out = NULL;
    int64_t m = 0;
    for (int64_t i = 0; i < r->n; i++) m += pick[i] == want;
    als_ratings *s = calloc(1, sizeof *s);
    if (!s) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    /* A subset's dense indexes are at most r's and its values r's: r's column widths fit. */
    s->iw = r->iw ? r->iw : 2;
    s->vk = r->vk;
    int rc = grow_rows(s, m, fn);
    if (!rc && r->times && m > 0 && !(s->times = malloc((size_t)s->cap * sizeof *s->times)))
        rc = als__errf(ALS_ENOMEM, "%s: cannot allocate timestamps", fn);
    /* A subset has at most as many distinct ids as r: reserve no more than that. */
    if (!rc && (als__idmap_reserve(&s->umap, m < r->umap.n ? m : r->umap.n) ||
                als__idmap_reserve(&s->imap, m < r->imap.n ? m : r->imap.n)))
        rc = als__errf(ALS_ENOMEM, "%s: cannot allocate the id maps", fn);
    if (!rc && (als__strdict_copy(&s->unames, r->unames) ||
                als__strdict_copy(&s->inames, r->inames)))
        rc = als__errf(ALS_ENOMEM, "%s: cannot copy the string dictionaries", fn);
    if (rc) {
        als_ratings_destroy(s);
        return rc;
    }
    als__ucur c = als__ucur_start(r);
    for (int64_t i = 0, k = 0; i < r->n; i++) {
        int32_t ru = als__ucur_user(r, &c, i);
        if (pick[i] != want) continue;
        if (s->vk == ALS__V_U16) ((uint16_t *)s->vals)[k] = ((const uint16_t *)r->vals)[i];
        else if (s->vk == ALS__V_F32) ((float *)s->vals)[k] = ((const float *)r->vals)[i];
        if (s->times) s->times[k] = r->times[i];
        if (put_user(s, k, (int32_t)als__idmap_put(&s->umap, r->umap.ids[ru]))) {
            als_ratings_destroy(s);
            return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
        }
        int32_t di = (int32_t)als__idmap_put(&s->imap, als__r_item(r, i));
        if (s->iw == 2) ((uint16_t *)s->irow)[k] = (uint16_t)di;
        else ((int32_t *)s->irow)[k] = di;
        k++;
    }
    s->n = m;
    *out = s;
    return ALS_OK;
}

/* pick[i] = 1: train, 0: test. Frees pick. */
static int split_by(const als_ratings *r, unsigned char *pick, als_ratings **train,
                    als_ratings **test, const char *fn) {
    int rc = subset(r, pick, 1, train, fn);
    if (!rc && (rc = subset(r, pick, 0, test, fn))) {
        als_ratings_destroy(*train);
        *train = NULL;
    }
    free(pick);
    return rc;
}

/* Checks shared by the splits; clears the outputs and allocates the train/test marks. */
static int split_args(const als_ratings *r, als_ratings **train, als_ratings **test,
                      unsigned char **pick, const char *fn) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (!r || !train || !test) return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    *pick = malloc(r->n > 0 ? (size_t)r->n : 1);
    if (!*pick) return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    return ALS_OK;
}

ALS_API int als_ratings_split(const als_ratings *r, double train_fraction, uint64_t seed,
                              als_ratings **train, als_ratings **test) {
    const char *fn = "als_ratings_split";
    unsigned char *pick;
    int rc = split_args(r, train, test, &pick, fn);
    if (rc) return rc;
    if (!(train_fraction >= 0.0 && train_fraction <= 1.0)) { /* NaN fails too */
        free(pick);
        return als__errf(ALS_ERANGE, "%s: train_fraction %g is outside [0, 1]", fn,
                         train_fraction);
    }
    /* One draw per row in row order: the split depends on the seed and the row order
     * only, and a fraction of 1 (draws are < 1) puts every row in train. */
    als__rng rng;
    als__rng_seed(&rng, seed);
    for (int64_t i = 0; i < r->n; i++) pick[i] = als__rng_unit(&rng) < train_fraction;
    return split_by(r, pick, train, test, fn);
}

typedef struct {
    int64_t t, row;
} trow;

static int cmp_trow(const void *a, const void *b) {
    const trow *x = a, *y = b;
    if (x->t != y->t) return x->t < y->t ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row); /* equal times: file order */
}

ALS_API int als_ratings_split_last(const als_ratings *r, int64_t k, als_ratings **train,
                                   als_ratings **test) {
    const char *fn = "als_ratings_split_last";
    unsigned char *pick;
    int rc = split_args(r, train, test, &pick, fn);
    if (rc) return rc;
    if (k < 1) {
        free(pick);
        return als__errf(ALS_ERANGE, "%s: k = %lld; it must be >= 1", fn, (long long)k);
    }
    int64_t n = r->n, nu = r->umap.n;
    int timed = r->times != NULL;
    for (int64_t i = 0; timed && i < n; i++) timed = r->times[i] != ALS_NO_TIME;
    /* Group the rows by user with a counting sort (stable: file order within a user). */
    int64_t *start = calloc((size_t)nu + 1, sizeof *start);
    trow *rows = malloc((size_t)(n > 0 ? n : 1) * sizeof *rows);
    if (!start || !rows) {
        free(start);
        free(rows);
        free(pick);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    als__ucur uc = als__ucur_start(r);
    for (int64_t i = 0; i < n; i++) start[als__ucur_user(r, &uc, i) + 1]++;
    for (int64_t u = 0; u < nu; u++) start[u + 1] += start[u];
    uc = als__ucur_start(r);
    for (int64_t i = 0; i < n; i++) {
        trow *t = &rows[start[als__ucur_user(r, &uc, i)]++];
        t->t = timed ? r->times[i] : 0;
        t->row = i;
    }
    for (int64_t u = nu; u > 0; u--) start[u] = start[u - 1]; /* undo the fill's advance */
    start[0] = 0;
    memset(pick, 1, (size_t)n);
    for (int64_t u = 0; u < nu; u++) {
        int64_t b = start[u], c = start[u + 1] - b;
        /* The user must keep a training row: with c <= k rows, all stay in train. */
        if (c <= k) continue;
        if (timed) qsort(rows + b, (size_t)c, sizeof *rows, cmp_trow);
        for (int64_t j = c - k; j < c; j++) pick[rows[b + j].row] = 0;
    }
    free(start);
    free(rows);
    return split_by(r, pick, train, test, fn);
}

ALS_API int als_ratings_split_time(const als_ratings *r, int64_t t_split, als_ratings **train,
                                   als_ratings **test) {
    const char *fn = "als_ratings_split_time";
    unsigned char *pick;
    int rc = split_args(r, train, test, &pick, fn);
    if (rc) return rc;
    for (int64_t i = 0; i < r->n; i++) {
        if (!r->times || r->times[i] == ALS_NO_TIME) {
            free(pick);
            return als__errf(ALS_ESTATE, "%s: row %lld has no timestamp", fn, (long long)i);
        }
        pick[i] = r->times[i] < t_split;
    }
    return split_by(r, pick, train, test, fn);
}

ALS_API int64_t als_ratings_users_of_items(const als_ratings *r, int64_t n_items,
                                           const int64_t *items, int64_t *users_out,
                                           int64_t cap) {
    const char *fn = "als_ratings_users_of_items";
    if (!r || (!items && n_items > 0) || (!users_out && cap > 0))
        return als__errf(ALS_EINVAL, "%s: NULL argument", fn);
    if (n_items < 0 || cap < 0)
        return als__errf(ALS_ERANGE, "%s: n_items = %lld and cap = %lld must be >= 0", fn,
                         (long long)n_items, (long long)cap);
    unsigned char *want = calloc((size_t)(r->imap.n ? r->imap.n : 1), 1);
    unsigned char *seen = calloc((size_t)(r->umap.n ? r->umap.n : 1), 1);
    if (!want || !seen) {
        free(want);
        free(seen);
        return als__errf(ALS_ENOMEM, "%s: out of memory", fn);
    }
    for (int64_t t = 0; t < n_items; t++) {
        int64_t i = als__idmap_get(&r->imap, items[t]);
        if (i >= 0) want[i] = 1;
    }
    int64_t found = 0;
    als__ucur c = als__ucur_start(r);
    for (int64_t t = 0; t < r->n; t++) {
        int32_t u = als__ucur_user(r, &c, t);
        if (!want[als__r_irow(r, t)] || seen[u]) continue;
        seen[u] = 1;
        if (found < cap) users_out[found] = r->umap.ids[u];
        found++;
    }
    free(want);
    free(seen);
    return found;
}

/* ------------------------------------------------------------------ grouping */

int als__ratings_group(const als_ratings *r, int by_item, int64_t **ptr_out, int32_t **col_out,
                       float **val_out) {
    int64_t n = r->n, groups = by_item ? r->imap.n : r->umap.n;
    *ptr_out = NULL;
    *col_out = NULL;
    *val_out = NULL;
    if ((uint64_t)groups >= SIZE_MAX / sizeof(int64_t) || (uint64_t)n >= SIZE_MAX / sizeof(int64_t))
        return ALS_ENOMEM;
    int64_t *ptr = calloc((size_t)groups + 1, sizeof *ptr);
    int32_t *col = als__aalloc((size_t)(n ? n : 1), sizeof *col);
    float *val = als__aalloc((size_t)(n ? n : 1), sizeof *val);
    int64_t *pos = malloc((size_t)(groups ? groups : 1) * sizeof *pos);
    if (!ptr || !col || !val || !pos) {
        free(ptr);
        als__afree(col);
        als__afree(val);
        free(pos);
        return ALS_ENOMEM;
    }
    als__ucur c = als__ucur_start(r);
    for (int64_t t = 0; t < n; t++) ptr[(by_item ? als__r_irow(r, t) : als__ucur_user(r, &c, t)) + 1]++;
    for (int64_t g = 0; g < groups; g++) ptr[g + 1] += ptr[g];
    memcpy(pos, ptr, (size_t)groups * sizeof *pos);
    c = als__ucur_start(r);
    for (int64_t t = 0; t < n; t++) {
        int32_t u = als__ucur_user(r, &c, t), i = als__r_irow(r, t);
        int64_t at = pos[by_item ? i : u]++;
        col[at] = by_item ? u : i;
        val[at] = als__r_value(r, t);
    }
    free(pos);
    *ptr_out = ptr;
    *col_out = col;
    *val_out = val;
    return ALS_OK;
}
