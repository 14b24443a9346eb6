/* String <-> id dictionaries of ratings read from text (als__strdict), the public name
 * lookups, and their text file (als_ratings_write_ids / als_ratings_read_ids). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "als/als_internal.h"

/* Names live back to back, NUL-terminated, in one buffer: a dictionary of millions of
 * names costs one allocation per growth step, not one per name. off has n + 1 entries
 * (off[n] = len), so a name's length is off[id + 1] - off[id] - 1 with no strlen.
 * A slot repeats the full hash and the name's offset: a lookup in a big dictionary is
 * bound by cache misses, and this way a probe costs the slot and the name only, a probe
 * that meets another name only the slot, and rehashing never rereads the names.
 * Names hold no NUL byte (both readers reject them), so the terminator marks the end. */
typedef struct {
    uint64_t hash;
    size_t off;
    int64_t id1; /* id + 1, 0 = empty */
} slot;

struct als__strdict {
    char *buf;
    size_t len, cap;
    size_t *off;
    int64_t n, ncap;
    slot *slots;  /* open addressing, linear probing, load <= 1/2 */
    int64_t scap; /* power of two, or 0 */
};

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a finalizer: the probe uses low bits */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
    return h ^ (h >> 31);
}

als__strdict *als__strdict_new(void) { return calloc(1, sizeof(als__strdict)); }

void als__strdict_free(als__strdict *d) {
    if (!d) return;
    free(d->buf);
    free(d->off);
    free(d->slots);
    free(d);
}

static int64_t find(const als__strdict *d, const char *s, size_t len, uint64_t h) {
    if (d->scap == 0) return -1;
    uint64_t mask = (uint64_t)d->scap - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        const slot *e = &d->slots[i];
        if (e->id1 == 0) return -1;
        /* strncmp stops at the stored name's NUL, so a shorter name is never overread */
        if (e->hash == h && strncmp(d->buf + e->off, s, len) == 0 &&
            d->buf[e->off + len] == '\0')
            return e->id1 - 1;
    }
}

static int rehash(als__strdict *d, int64_t scap) {
    slot *slots = calloc((size_t)scap, sizeof *slots);
    if (!slots) return ALS_ENOMEM;
    uint64_t mask = (uint64_t)scap - 1;
    for (int64_t k = 0; k < d->scap; k++) {
        if (d->slots[k].id1 == 0) continue;
        uint64_t i = d->slots[k].hash & mask;
        while (slots[i].id1) i = (i + 1) & mask;
        slots[i] = d->slots[k];
    }
    free(d->slots);
    d->slots = slots;
    d->scap = scap;
    return ALS_OK;
}

/* Room for one more name of len bytes. Every step either fails with d unchanged or
 * leaves a bigger but equivalent dictionary, so a failure needs no undo. */
static int make_room(als__strdict *d, size_t len) {
    if (len >= SIZE_MAX / 2 - d->len) return ALS_ENOMEM;
    if (d->len + len + 1 > d->cap) {
        size_t c = d->cap ? d->cap * 2 : 256;
        while (c < d->len + len + 1) c *= 2;
        char *b = realloc(d->buf, c);
        if (!b) return ALS_ENOMEM;
        d->buf = b;
        d->cap = c;
    }
    if (d->n + 1 > d->ncap) {
        int64_t c = d->ncap ? d->ncap * 2 : 64;
        size_t *off = realloc(d->off, (size_t)(c + 1) * sizeof *off);
        if (!off) return ALS_ENOMEM;
        if (d->ncap == 0) off[0] = 0;
        d->off = off;
        d->ncap = c;
    }
    if ((d->n + 1) * 2 > d->scap) return rehash(d, d->scap ? d->scap * 2 : 128);
    return ALS_OK;
}

int64_t als__strdict_intern(als__strdict *d, const char *s, size_t len) {
    uint64_t h = hash_bytes(s, len);
    int64_t id = find(d, s, len, h);
    if (id >= 0) return id;
    if (make_room(d, len)) return -1;
    memcpy(d->buf + d->len, s, len);
    d->buf[d->len + len] = '\0';
    d->len += len + 1;
    id = d->n++;
    d->off[d->n] = d->len;
    uint64_t mask = (uint64_t)d->scap - 1, i = h & mask;
    while (d->slots[i].id1) i = (i + 1) & mask;
    d->slots[i].hash = h;
    d->slots[i].off = d->off[id];
    d->slots[i].id1 = id + 1;
    return id;
}

/* Forget the names with ids >= n (an append that failed half-way): the slots are rebuilt
 * from the names kept, which needs no allocation. */
void als__strdict_truncate(als__strdict *d, int64_t n) {
    if (!d || n >= d->n) return;
    d->n = n < 0 ? 0 : n;
    d->len = d->n ? d->off[d->n] : 0;
    if (!d->scap) return;
    memset(d->slots, 0, (size_t)d->scap * sizeof *d->slots);
    uint64_t mask = (uint64_t)d->scap - 1;
    for (int64_t id = 0; id < d->n; id++) {
        const char *s = d->buf + d->off[id];
        uint64_t h = hash_bytes(s, d->off[id + 1] - d->off[id] - 1), i = h & mask;
        while (d->slots[i].id1) i = (i + 1) & mask;
        d->slots[i].hash = h;
        d->slots[i].off = d->off[id];
        d->slots[i].id1 = id + 1;
    }
}

int64_t als__strdict_count(const als__strdict *d) { return d ? d->n : 0; }

/* Deep copy; a NULL source copies as NULL. */
int als__strdict_copy(als__strdict **out, const als__strdict *src) {
    *out = NULL;
    if (!src) return ALS_OK;
    als__strdict *d = calloc(1, sizeof *d);
    if (!d) return ALS_ENOMEM;
    d->buf = malloc(src->cap ? src->cap : 1);
    d->off = malloc((size_t)(src->ncap + 1) * sizeof *d->off);
    d->slots = malloc((size_t)(src->scap ? src->scap : 1) * sizeof *d->slots);
    if (!d->buf || !d->off || !d->slots) {
        als__strdict_free(d);
        return ALS_ENOMEM;
    }
    if (src->len) memcpy(d->buf, src->buf, src->len);
    d->off[0] = 0;
    if (src->n) memcpy(d->off, src->off, (size_t)(src->n + 1) * sizeof *d->off);
    if (src->scap) memcpy(d->slots, src->slots, (size_t)src->scap * sizeof *d->slots);
    d->len = src->len;
    d->cap = src->cap ? src->cap : 1;
    d->n = src->n;
    d->ncap = src->ncap;
    d->scap = src->scap;
    *out = d;
    return ALS_OK;
}

static const char *dict_name(const als__strdict *d, int64_t id) {
    if (!d || id < 0 || id >= d->n) return NULL;
    return d->buf + d->off[id];
}

static int64_t dict_id(const als__strdict *d, const char *name) {
    if (!d || !name) return -1;
    size_t len = strlen(name);
    return find(d, name, len, hash_bytes(name, len));
}

ALS_API const char *als_ratings_user_name(const als_ratings *r, int64_t user_id) {
    return r ? dict_name(r->unames, user_id) : NULL;
}
ALS_API const char *als_ratings_item_name(const als_ratings *r, int64_t item_id) {
    return r ? dict_name(r->inames, item_id) : NULL;
}
ALS_API int64_t als_ratings_user_id(const als_ratings *r, const char *name) {
    return r ? dict_id(r->unames, name) : -1;
}
ALS_API int64_t als_ratings_item_id(const als_ratings *r, const char *name) {
    return r ? dict_id(r->inames, name) : -1;
}

/* ------------------------------------------------------------------ ids file */

/* One line per name: KIND<TAB>id<TAB>name, with tab, newline, carriage return and
 * backslash escaped (\t \n \r \\) so that every name stays on one line and a CRLF editor
 * cannot eat a real trailing '\r'. */
static void write_dict(als__wfile *w, const char *kind, const als__strdict *d) {
    for (int64_t id = 0; d && id < d->n; id++) {
        char head[48];
        int hl = snprintf(head, sizeof head, "%s\t%lld\t", kind, (long long)id);
        als__wfile_write(w, head, (size_t)hl);
        const char *s = d->buf + d->off[id];
        size_t len = d->off[id + 1] - d->off[id] - 1, start = 0;
        for (size_t i = 0; i < len; i++) {
            const char *esc = s[i] == '\t' ? "\\t" : s[i] == '\n' ? "\\n"
                            : s[i] == '\r' ? "\\r" : s[i] == '\\' ? "\\\\" : NULL;
            if (!esc) continue;
            als__wfile_write(w, s + start, i - start);
            als__wfile_write(w, esc, 2);
            start = i + 1;
        }
        als__wfile_write(w, s + start, len - start);
        als__wfile_write(w, "\n", 1);
    }
}

#define RUN_TAG "#als-ids run="

ALS_API int als_ratings_write_ids_run(const als_ratings *r, const char *path, uint64_t run_id) {
    if (!r || !path) return als__errf(ALS_EINVAL, "als_ratings_write_ids: NULL argument");
    als__wfile w;
    int rc = als__wfile_open(&w, path);
    if (rc) return rc;
    if (run_id) {
        char head[48];
        int hl = snprintf(head, sizeof head, RUN_TAG "%016llx\n", (unsigned long long)run_id);
        als__wfile_write(&w, head, (size_t)hl);
    }
    write_dict(&w, "user", r->unames);
    write_dict(&w, "item", r->inames);
    return als__wfile_commit(&w);
}

ALS_API int als_ratings_write_ids(const als_ratings *r, const char *path) {
    return als_ratings_write_ids_run(r, path, 0);
}

/* The first line of a file with a run identity: "#als-ids run=" and 16 hex digits. */
static int run_line(const char *s, size_t len, uint64_t *run_id) {
    size_t tl = sizeof RUN_TAG - 1;
    if (len != tl + 16 || memcmp(s, RUN_TAG, tl) != 0) return -1;
    uint64_t v = 0;
    for (size_t i = tl; i < len; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *run_id = v;
    return 0;
}

/* Undo write_dict's escapes in place; NULL on success, else what is wrong. */
static const char *unescape(char *s, size_t *len) {
    size_t w = 0, n = *len;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\t') return "unescaped tab in the name (a fourth field?)";
        if (c == '\0') return "NUL byte in the line";
        if (c == '\\') {
            char e = ++i < n ? s[i] : '\0';
            c = e == 't' ? '\t' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == '\\' ? '\\' : '\0';
            if (!c) return "bad escape: only \\t, \\n, \\r and \\\\ are known";
        }
        s[w++] = c;
    }
    *len = w;
    return NULL;
}

typedef struct {
    const char *path;
    int64_t line;
    als__strdict *d[2]; /* user, item */
} ids_reader;

static int ids_fail(ids_reader *R, int code, const char *what) {
    return als__errf(code, "%s:%lld: %s", R->path, (long long)R->line, what);
}

/* One non-blank line. Ids must come as 0, 1, 2, ... per kind (user and item lines may
 * interleave), exactly as write_ids writes them: that keeps names[id] dense without a
 * second pass, and an id below the next expected one can only be a duplicate. */
static int ids_line(ids_reader *R, char *s, size_t len) {
    int k;
    if (len >= 5 && memcmp(s, "user\t", 5) == 0) k = 0;
    else if (len >= 5 && memcmp(s, "item\t", 5) == 0) k = 1;
    else return ids_fail(R, ALS_EFORMAT, "expected 'user' or 'item', then a tab");
    size_t i = 5;
    uint64_t id = 0;
    if (i >= len || s[i] < '0' || s[i] > '9') return ids_fail(R, ALS_EFORMAT, "expected an id");
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (id > ((uint64_t)INT64_MAX - 9) / 10) return ids_fail(R, ALS_EFORMAT, "id overflows");
        id = id * 10 + (uint64_t)(s[i] - '0');
    }
    if (i >= len || s[i] != '\t')
        return ids_fail(R, ALS_EFORMAT, "expected a tab after the id");
    size_t nlen = len - i - 1;
    const char *bad = unescape(s + i + 1, &nlen);
    if (bad) return ids_fail(R, ALS_EFORMAT, bad);
    if (!R->d[k] && !(R->d[k] = als__strdict_new()))
        return ids_fail(R, ALS_ENOMEM, "out of memory");
    int64_t expect = R->d[k]->n;
    char msg[96];
    if ((int64_t)id != expect) {
        snprintf(msg, sizeof msg, "%s id %llu: %s (next expected id is %lld)",
                 k ? "item" : "user", (unsigned long long)id,
                 (int64_t)id < expect ? "duplicate id" : "ids must be 0, 1, 2, ... in order",
                 (long long)expect);
        return ids_fail(R, ALS_EFORMAT, msg);
    }
    int64_t got = als__strdict_intern(R->d[k], s + i + 1, nlen);
    if (got < 0) return ids_fail(R, ALS_ENOMEM, "out of memory");
    if (got != expect) {
        snprintf(msg, sizeof msg, "duplicate %s name (already id %lld)", k ? "item" : "user",
                 (long long)got);
        return ids_fail(R, ALS_EFORMAT, msg);
    }
    return ALS_OK;
}

ALS_API int als_ratings_read_ids(als_ratings *r, const char *path) {
    return als_ratings_read_ids_run(r, path, NULL);
}

ALS_API int als_ratings_read_ids_run(als_ratings *r, const char *path, uint64_t *run_id) {
    if (run_id) *run_id = 0;
    if (!r || !path) return als__errf(ALS_EINVAL, "als_ratings_read_ids: NULL argument");
    uint64_t run = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return als__errf(e == ENOENT ? ALS_ENOTFOUND : e == ENOMEM ? ALS_ENOMEM : ALS_EIO,
                         "cannot open %s: %s", path, strerror(e));
    }
    ids_reader R = {path, 0, {NULL, NULL}};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    int rc = ALS_OK;
    errno = 0;
    while (!rc && (got = getline(&line, &lcap, f)) >= 0) {
        size_t len = (size_t)got;
        R.line++;
        if (len && line[len - 1] == '\n') len--;
        if (len && line[len - 1] == '\r') len--; /* a real '\r' in a name is escaped */
        if (R.line == 1 && len && line[0] == '#') {
            if (run_line(line, len, &run))
                rc = ids_fail(&R, ALS_EFORMAT, "expected '" RUN_TAG "' and 16 hex digits");
            continue;
        }
        if (len) rc = ids_line(&R, line, len);
    }
    /* getline's -1 is the end only if feof says so: glibc reports a failed allocation
     * (ENOMEM) with neither the error nor the end flag set */
    if (!rc && (ferror(f) || !feof(f))) {
        int e = errno ? errno : EIO;
        rc = als__errf(e == ENOMEM ? ALS_ENOMEM : ALS_EIO, "cannot read %s: %s", path,
                       strerror(e));
    }
    free(line);
    fclose(f);
    if (rc) {
        als__strdict_free(R.d[0]);
        als__strdict_free(R.d[1]);
        return rc;
    }
    /* Only now, so a bad file leaves r's own dictionaries in place. */
    als__strdict_free(r->unames);
    als__strdict_free(r->inames);
    r->unames = R.d[0];
    r->inames = R.d[1];
    if (run_id) *run_id = run;
    return ALS_OK;
}
