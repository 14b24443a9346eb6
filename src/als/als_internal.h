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

/* 12 bytes per row (16 with times): rows hold dense indexes, and the external ids live
 * once per distinct user / item in the maps. At a billion interactions this is what keeps
 * the ratings smaller than the CSR + CSC that training builds from them. */
struct als_ratings {
    int64_t n, cap;
    int32_t *urow, *irow;   /* dense user / item index per row (from umap / imap) */
    float *values;
    int64_t *times;         /* NULL until a timed row is added; ALS_NO_TIME where absent */
    als__idmap umap, imap;  /* external id -> dense index; .ids = dense -> external id */
    als__strdict *unames, *inames; /* NULL when ids did not come from strings */
    int64_t bad_rows;
    int64_t bad_lines[ALS_BAD_LINES]; /* line numbers of the first bad rows skipped */
};

/* External user / item id of row t. */
static inline int64_t als__r_user(const als_ratings *r, int64_t t) { return r->umap.ids[r->urow[t]]; }
static inline int64_t als__r_item(const als_ratings *r, int64_t t) { return r->imap.ids[r->irow[t]]; }

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
