/* Internal layout of the libals handles, shared by the files in src/als/. */
#ifndef ALS_INTERNAL_H
#define ALS_INTERNAL_H

#include "core/idmap.h"
#include "core/internal.h"

#define ALS_NO_TIME INT64_MIN
#define ALS_BAD_LINES 16 /* skipped rows whose line numbers are kept */

/* String <-> id dictionary for one id column read from text: names[id] for ids
 * 0..n-1, and a hash from string to id. */
typedef struct als__strdict als__strdict;

/* Value columns: every value 1 (no array), small non-negative integers (uint16), or floats. */
#define ALS__V_ONE 0
#define ALS__V_U16 1
#define ALS__V_F32 2

/* 4 to 12 bytes per row (8 more with times): rows hold dense indexes, and the external ids
 * live once per distinct user / item in the maps. The item column is 16 bits wide while
 * the distinct items fit (the seed's 20 K items), the value column is absent while every
 * value is 1 and 16 bits wide while every value is an integer in [0, 65535] (counts); both
 * widen, once, when a row needs it. At a billion interactions this is what keeps the
 * ratings (8 bytes a row for counts) plus the fit's user-major copy within 12 bytes. */
struct als_ratings {
    int64_t n, cap;
    /* The dense user index of each row (from umap): runs of consecutive rows of one user
     * (rows grouped by user, the usual export, cost a few bytes per user instead of 4 per
     * row): run k holds rows rstart[k] .. rstart[k + 1] - 1 (the last one up to n - 1) of
     * user ruser[k]; once the runs would pass a quarter of the rows, one index per row in
     * urow instead (urow NULL: runs). */
    int32_t *urow;
    int64_t *rstart;
    int32_t *ruser;
    int64_t nruns, rcap;
    void *irow;             /* dense item index per row (from imap): uint16_t or int32_t */
    void *vals;             /* per vk: NULL (all 1), uint16_t or float */
    int iw, vk;             /* bytes per item index (2 or 4; 0 before the first row), ALS__V_* */
    int64_t *times;         /* NULL until a timed row is added; ALS_NO_TIME where absent */
    als__idmap umap, imap;  /* external id -> dense index; .ids = dense -> external id */
    als__strdict *unames, *inames; /* NULL when ids did not come from strings */
    int64_t bad_rows;
    int64_t bad_lines[ALS_BAD_LINES]; /* line numbers of the first bad rows skipped */
};

/* Dense item index and value of row t. */
static inline int32_t als__r_irow(const als_ratings *r, int64_t t) {
    return r->iw == 2 ? (int32_t)((const uint16_t *)r->irow)[t] : ((const int32_t *)r->irow)[t];
}
static inline float als__r_value(const als_ratings *r, int64_t t) {
    return r->vk == ALS__V_ONE ? 1.0f
           : r->vk == ALS__V_U16 ? (float)((const uint16_t *)r->vals)[t]
                                 : ((const float *)r->vals)[t];
}
/* Dense user index of row t (a binary search over the runs). */
static inline int32_t als__r_urow(const als_ratings *r, int64_t t) {
    if (r->urow) return r->urow[t];
    int64_t a = 0, b = r->nruns - 1; /* the last run starting at or before t */
    while (a < b) {
        int64_t m = a + (b - a + 1) / 2;
        if (r->rstart[m] <= t) a = m;
        else b = m - 1;
    }
    return r->ruser[a];
}
/* The same for rows read in order: c from als__ucur_start, t never decreasing. */
typedef struct {
    int64_t k, end;
} als__ucur;
static inline als__ucur als__ucur_start(const als_ratings *r) {
    als__ucur c = {0, r->nruns > 1 ? r->rstart[1] : INT64_MAX};
    return c;
}
static inline int32_t als__ucur_user(const als_ratings *r, als__ucur *c, int64_t t) {
    if (r->urow) return r->urow[t];
    while (t >= c->end) {
        c->k++;
        c->end = c->k + 1 < r->nruns ? r->rstart[c->k + 1] : INT64_MAX;
    }
    return r->ruser[c->k];
}
/* External user / item id of row t. */
static inline int64_t als__r_user(const als_ratings *r, int64_t t) { return r->umap.ids[als__r_urow(r, t)]; }
static inline int64_t als__r_item(const als_ratings *r, int64_t t) { return r->imap.ids[als__r_irow(r, t)]; }

/* ratings.c: whether the rows are grouped by user in the order of the users' dense indexes
 * (runs whose users come one after another, or a non-decreasing user column), the order
 * als_ratings_group_by_user makes and the fit reads in place. */
int als__ratings_grouped(const als_ratings *r);
/* ratings.c: the rows grouped by user (by_item 0) or by item (1), a stable counting sort
 * (input order within a group), in wide form: ptr[groups + 1], the other side's dense
 * index, the value. ALS_OK or ALS_ENOMEM (outputs NULL). Free ptr with free(), col and val
 * with als__afree(). */
int als__ratings_group(const als_ratings *r, int by_item, int64_t **ptr, int32_t **col,
                       float **val);

/* runid.c: a fresh, non-zero run identity (random). */
uint64_t als__new_run_id(void);

/* strdict.c: string dictionaries (ids 0..n-1 in order of first appearance). */
void als__strdict_free(als__strdict *d);
als__strdict *als__strdict_new(void);
/* Id of the string (len bytes), adding it if new; -1 on allocation failure. */
int64_t als__strdict_intern(als__strdict *d, const char *s, size_t len);
/* Deep copy (NULL src gives NULL); ALS_OK or ALS_ENOMEM. */
int als__strdict_copy(als__strdict **out, const als__strdict *src);
/* Drop the names with ids >= n (undo of a failed append); never allocates. */
void als__strdict_truncate(als__strdict *d, int64_t n);
/* Number of names (0 for NULL). */
int64_t als__strdict_count(const als__strdict *d);
/* ratings.c: turn column c (0 user, 1 item) of integer ids into names: every id becomes
 * its decimal text, interned in order of first appearance, so the ids are 0, 1, 2, ...
 * like a column read as strings from the start. ALS_OK or ALS_ENOMEM (r unchanged). */
int als__ratings_ints_to_names(als_ratings *r, int c);

#endif
