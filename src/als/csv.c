/* als_ratings_read_csv: a streaming CSV/TSV reader (options, header, quoted fields,
 * string ids, dates). It reads the file in blocks of whole lines; threads parse the
 * lines of a block in place (in pieces) while the calling thread commits the block before
 * in file order (ids=auto, dictionaries, bad rows, progress) and hands the rows to
 * als_ratings_add_timed in fixed-size chunks, so memory is the ratings set itself plus two
 * blocks, their parsed lines and one chunk.
 *
 * Choices the header leaves open: dates become seconds since 1970-01-01 UTC (midnight),
 * the unit of integer Unix times, so both kinds of time column compare alike; string ids
 * are the field's text verbatim (after unquoting; surrounding blanks kept), while numbers
 * may carry blanks around them; an empty field is a bad row; ids=auto decides each id
 * column on the whole column: it stays integer while every field is the canonical text of
 * an int64, and the first other field turns it (rows already read included) into names,
 * so "00123" and "123" stay two users; line numbers count every
 * physical line, blank ones and the header included. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "als/als_internal.h"
#include "core/scan.h" /* als__threads */

#define FN "als_ratings_read_csv"
#define CHUNK 16384
#define MAX_COLUMN 1000000 /* a column index beyond this is a typo, not a file */
#define WHY 160            /* room for what is wrong with a row */

enum { IDS_AUTO, IDS_INT, IDS_STRING };
enum { C_USER, C_ITEM, C_VALUE, C_TIME, NCOL };
static const char *const col_key[NCOL] = {"user", "item", "value", "time"};

typedef struct {
    char sep;
    int header, skip_bad, ids, threads;
    int64_t col[NCOL];      /* column index, -1 = not read */
    const char *name[NCOL]; /* column name to find in the header (points into text) */
    char *text;             /* our copy of the options string */
} csv_opts;

/* ------------------------------------------------------------------ options */

static int set_sep(csv_opts *o, const char *v) {
    static const struct { const char *name; char c; } names[] = {
        {"\\t", '\t'}, {"tab", '\t'}, {"comma", ','}, {"semicolon", ';'},
        {"space", ' '}, {"pipe", '|'}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(v, names[i].name) == 0) return o->sep = names[i].c, ALS_OK;
    /* A quote or a line end cannot separate fields: quotes delimit them, lines end rows. */
    if (v[0] && !v[1] && v[0] != '"' && v[0] != '\n' && v[0] != '\r')
        return o->sep = v[0], ALS_OK;
    return als__errf(ALS_EINVAL, FN ": sep='%s': use one character or \\t, tab, comma, "
                     "semicolon, space, pipe", v);
}

static int set_flag(int *flag, const char *key, const char *v) {
    if (strcmp(v, "0") && strcmp(v, "1"))
        return als__errf(ALS_EINVAL, FN ": %s='%s': use 0 or 1", key, v);
    *flag = v[0] == '1';
    return ALS_OK;
}

static char *trim_spaces(char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    return s;
}

static int set_option(csv_opts *o, const char *key, char *v) {
    /* "sep= " and a real tab stay as they are: the blank is the separator. */
    if (strcmp(key, "sep") != 0 || strspn(v, " \t") != strlen(v)) v = trim_spaces(v);
    if (strcmp(key, "sep") == 0) return set_sep(o, v);
    if (strcmp(key, "header") == 0) return set_flag(&o->header, key, v);
    if (strcmp(key, "skip_bad") == 0) return set_flag(&o->skip_bad, key, v);
    if (strcmp(key, "threads") == 0) {
        if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 4)
            return als__errf(ALS_EINVAL, FN ": threads='%s': use 0 (all cores) to 9999", v);
        o->threads = atoi(v);
        return ALS_OK;
    }
    if (strcmp(key, "ids") == 0) {
        if (strcmp(v, "auto") == 0) o->ids = IDS_AUTO;
        else if (strcmp(v, "int") == 0) o->ids = IDS_INT;
        else if (strcmp(v, "string") == 0) o->ids = IDS_STRING;
        else return als__errf(ALS_EINVAL, FN ": ids='%s': use auto, int or string", v);
        return ALS_OK;
    }
    for (int c = 0; c < NCOL; c++) {
        if (strcmp(key, col_key[c]) != 0) continue;
        if (!*v) return als__errf(ALS_EINVAL, FN ": %s= needs a column index or name", key);
        /* All digits: an index, even with a header (a column named "2" needs no support). */
        if (strspn(v, "0123456789") == strlen(v)) {
            if (strlen(v) > 7 || atol(v) > MAX_COLUMN)
                return als__errf(ALS_EINVAL, FN ": %s=%s: column index too large", key, v);
            o->col[c] = atol(v);
            o->name[c] = NULL;
        } else {
            o->name[c] = v;
        }
        return ALS_OK;
    }
    return als__errf(ALS_EINVAL, FN ": unknown option '%s' (known: sep, header, user, item, "
                     "value, time, ids, skip_bad, threads)", key);
}

/* "key=value,key=value". A comma cannot be written as a value, except by sep: "sep=," is
 * read as the separator ',' (then an optional ',' ends the option), so "sep=,,header=1",
 * "sep=,header=1" and "header=1,sep=," all mean a comma-separated file. Empty options
 * (",,", a trailing comma) are ignored; a repeated key takes its last value. */
static int parse_options(csv_opts *o, const char *path, const char *options) {
    size_t pl = strlen(path);
    memset(o, 0, sizeof *o);
    o->sep = pl >= 4 && strcasecmp(path + pl - 4, ".csv") == 0 ? ',' : '\t';
    o->col[C_USER] = 0;
    o->col[C_ITEM] = 1;
    o->col[C_VALUE] = o->col[C_TIME] = -1;
    if (!options) return ALS_OK;
    size_t n = strlen(options) + 1;
    if (!(o->text = malloc(n))) return als__errf(ALS_ENOMEM, FN ": out of memory");
    memcpy(o->text, options, n);
    for (char *p = o->text; *p;) {
        while (*p == ' ' || *p == '\t') p++;
        if (*p == ',') {
            p++;
            continue;
        }
        if (!*p) break;
        char *key = p, *eq = p + strcspn(p, "=,");
        if (*eq != '=')
            return als__errf(ALS_EINVAL, FN ": option '%.*s' is not key=value", (int)(eq - p), p);
        *eq = '\0';
        key = trim_spaces(key);
        char *v = eq + 1;
        if (strcmp(key, "sep") == 0 && *v == ',') {
            o->sep = ',';
            p = v + 1 + (v[1] == ',');
            continue;
        }
        char *end = v + strcspn(v, ",");
        p = *end ? end + 1 : end;
        *end = '\0';
        int rc = set_option(o, key, v);
        if (rc) return rc;
    }
    for (int c = 0; c < NCOL; c++)
        if (o->name[c] && !o->header)
            return als__errf(ALS_EINVAL, FN ": %s=%s names a column, which needs header=1",
                             col_key[c], o->name[c]);
    return ALS_OK;
}

/* ------------------------------------------------------------------ fields */

/* Cut the next field off *pp: a field in double quotes loses them ("" is one quote);
 * the field is NUL-terminated in place and *pp moves past its separator, or becomes NULL
 * after the last field. Returns the field, or NULL with *why for a broken quote. */
static char *next_field(char **pp, char sep, const char **why) {
    char *p = *pp;
    if (*p != '"') {
        char *q = p;
        while (*q && *q != sep) q++;
        *pp = *q ? q + 1 : NULL;
        *q = '\0';
        return p;
    }
    char *w = p, *q = p + 1;
    for (;;) {
        if (!*q) return *why = "unterminated quoted field", NULL;
        if (*q == '"' && q[1] != '"') break;
        *w++ = *q;
        q += *q == '"' ? 2 : 1;
    }
    q++;
    while (*q != sep && (*q == ' ' || *q == '\t')) q++;
    if (*q && *q != sep) return *why = "text after the closing quote of a field", NULL;
    *pp = *q ? q + 1 : NULL;
    *w = '\0'; /* w <= q: the unquoted text moved left */
    return p;
}

/* Integer syntax check and conversion: 0 ok, 1 not an integer, 2 out of int64 range. */
static int parse_i64(const char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    if (i == n) return 1;
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int over = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return 1;
        if (v > (lim - d) / 10) over = 1; /* keep scanning: "12x" is no integer at all */
        else v = v * 10 + d;
    }
    if (over) return 2;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* 1 and *out set if s is the canonical decimal text of an int64: "0", or an optional '-'
 * then digits without a leading zero ("-0" is not canonical), within range. */
static int canonical_i64(const char *s, size_t n, int64_t *out) {
    size_t i = s[0] == '-';
    if (i == n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && (n > i + 1 || i))) return 0;
    return parse_i64(s, n, out) == 0;
}

static void span_trim_n(const char *s, size_t len, const char **b, size_t *n) {
    const char *e = s + len;
    while (*s == ' ' || *s == '\t') s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *b = s;
    *n = (size_t)(e - s);
}

static void span_trim(const char *s, const char **b, size_t *n) { span_trim_n(s, strlen(s), b, n); }

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* YYYY-MM-DD or DD-MM-YYYY (1- or 2-digit day and month): 1 and *days set, 0 if s does
 * not have a date's shape, -1 for a date's shape with an impossible month or day. */
static int parse_date(const char *s, size_t n, int64_t *days) {
    int64_t g[3] = {0, 0, 0};
    size_t len[3] = {0, 0, 0}, i = 0;
    for (int k = 0; k < 3; k++) {
        if (k && (i >= n || s[i++] != '-')) return 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9' && len[k] < 5; i++, len[k]++)
            g[k] = g[k] * 10 + (s[i] - '0');
    }
    if (i != n) return 0;
    int64_t y, m, d;
    if (len[0] == 4 && len[1] >= 1 && len[1] <= 2 && len[2] >= 1 && len[2] <= 2)
        y = g[0], m = g[1], d = g[2];
    else if (len[0] >= 1 && len[0] <= 2 && len[1] >= 1 && len[1] <= 2 && len[2] == 4)
        d = g[0], m = g[1], y = g[2];
    else
        return 0;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap)) return -1;
    *days = days_from_civil(y, m, d);
    return 1;
}

/* ------------------------------------------------------------------ rows */

typedef struct {
    const char *path;
    csv_opts o;
    int64_t last;           /* largest column index read */
    int mode[2];            /* user, item: IDS_AUTO until the first field decides */
    als__strdict *dict[2];
    als_ratings *r;
    int64_t cnt;            /* rows waiting in the chunk */
    int64_t *u, *it, *t;
    float *v;
    als_read_progress_fn progress; /* als_ratings_read_csv_progress, or NULL */
    void *progress_user;
    int64_t bytes, total;   /* bytes read so far, the file's size (0 if unknown) */
    char *lastname[2];      /* the last name put in each dictionary, and its id: files */
    size_t last_n[2], last_cap[2]; /* grouped by user repeat it row after row */
    int64_t last_id[2];
} csv_reader;

static int flush(csv_reader *R) {
    int rc = als_ratings_add_timed(R->r, R->cnt, R->u, R->it,
                                   R->o.col[C_VALUE] >= 0 ? R->v : NULL,
                                   R->o.col[C_TIME] >= 0 ? R->t : NULL);
    R->cnt = 0;
    return rc;
}

/* One line, as the parse (parallel) leaves it for the commit (in file order). */
enum { L_BLANK, L_ROW, L_BAD };
typedef struct {
    int64_t id[2], time;
    float value;
    uint32_t len;              /* the line's bytes, its end of line included */
    uint32_t soff[2], slen[2]; /* the id fields' text (NUL-terminated), from the block start */
    unsigned char kind, num[2];
} line_rec;

static int why_is(char *why, const char *fmt, ...) ALS_PRINTF(2, 3);
static int why_is(char *why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY, fmt, ap);
    va_end(ap);
    return 1;
}

/* The time field of a line whose other fields passed: 0 or 1 (bad, why set). */
static int parse_time(const csv_reader *R, char *const *f, line_rec *q, char *why) {
    if (R->o.col[C_TIME] >= 0) {
        const char *b;
        size_t n;
        span_trim(f[C_TIME], &b, &n);
        int d = parse_date(b, n, &q->time);
        if (d < 0) return why_is(why, "time '%.40s' is not a valid date", f[C_TIME]);
        if (d > 0) {
            q->time *= 86400; /* dates count seconds since the epoch, like integer times */
        } else {
            int e = parse_i64(b, n, &q->time);
            if (e == 1) return why_is(why, "cannot parse time '%.40s' (an integer, YYYY-MM-DD "
                                      "or DD-MM-YYYY)", f[C_TIME]);
            if (e == 2) return why_is(why, "time '%.40s' overflows int64", f[C_TIME]);
        }
    }
    return 0;
}

/* The fields of one data line, checked: 0 (q filled) or 1 bad row (why says why). Reads
 * only the options, so lines parse on any thread; the dictionaries are the commit's. */
static int parse_fields(const csv_reader *R, char *line, const char *base, line_rec *q, char *why) {
    char *f[NCOL] = {NULL, NULL, NULL, NULL}, *p = line;
    const char *bad_quote = NULL;
    int64_t j = 0;
    for (; p && j <= R->last; j++) {
        char *fld = next_field(&p, R->o.sep, &bad_quote);
        if (!fld) return why_is(why, "%s", bad_quote);
        for (int c = 0; c < NCOL; c++)
            if (R->o.col[c] == j) f[c] = fld;
    }
    for (int c = 0; c < NCOL; c++) {
        if (R->o.col[c] >= 0 && !f[c]) {
            return why_is(why, "missing %s field (column %lld)", col_key[c],
                          (long long)R->o.col[c]);
        }
    }
    q->id[0] = q->id[1] = q->time = 0;
    q->value = 1.0f;
    for (int c = 0; c < 2; c++) {
        const char *b;
        size_t n, len = strlen(f[c]);
        span_trim_n(f[c], len, &b, &n);
        if (n == 0) return why_is(why, "empty %s field", col_key[c]);
        q->soff[c] = (uint32_t)(f[c] - base);
        q->slen[c] = (uint32_t)len;
        q->num[c] = 0;
        if (R->o.ids == IDS_AUTO) {
            /* only the canonical text of an int64 is a number: "007", "+7", " 7" and
             * "99999999999999999999" stay strings, byte for byte */
            q->num[c] = canonical_i64(f[c], len, &q->id[c]) && q->id[c] != -1;
            /* (-1 is reserved for missing results: a column holding it is names) */
        } else if (R->o.ids == IDS_INT) {
            int e = parse_i64(b, n, &q->id[c]);
            if (e == 1) return why_is(why, "%s id '%.40s' is not an integer (ids=int)", col_key[c],
                                      f[c]);
            if (e == 2) return why_is(why, "%s id '%.40s' overflows int64", col_key[c], f[c]);
            if (q->id[c] == -1)
                return why_is(why, "%s id -1 is reserved (it marks missing results); read the "
                              "column with ids=auto or ids=string to keep it as a name", col_key[c]);
        }
    }
    if (R->o.col[C_VALUE] >= 0) {
        char *v = trim_spaces(f[C_VALUE]), *end;
        if (!*v) return why_is(why, "empty value field");
        size_t d = 0; /* up to 7 digits: an integer below 2^24, which strtof gives exactly */
        uint32_t iv = 0;
        while (d < 8 && v[d] >= '0' && v[d] <= '9') iv = iv * 10 + (uint32_t)(v[d++] - '0');
        if (d && d <= 7 && !v[d]) {
            q->value = (float)iv;
            return parse_time(R, f, q, why);
        }
        q->value = strtof(v, &end);
        if (end == v || *end) return why_is(why, "cannot parse value '%.40s'", v);
        if (!isfinite(q->value))
            return why_is(why, "value '%.40s' is NaN, infinite or beyond float range", v);
    }
    return parse_time(R, f, q, why);
}

/* A parsed line (kind L_BLANK or L_ROW after its checks) without the end of line: blank,
 * a NUL byte (bad), or its fields. */
static void parse_line(const csv_reader *R, char *s, size_t len, const char *base, line_rec *q,
                       char *why) {
    if (len && s[len - 1] == '\r') s[--len] = '\0';
    if (strspn(s, " \t") == len) q->kind = L_BLANK;
    else if (memchr(s, '\0', len)) q->kind = L_BAD, why_is(why, "the line holds a NUL byte");
    else q->kind = parse_fields(R, s, base, q, why) ? L_BAD : L_ROW;
}

/* The row into the ratings (in file order): ids=auto's switch to names, the names into
 * the dictionaries, the chunk. 0 or a negative ALS error. */
static int commit_row(csv_reader *R, const char *base, const line_rec *q) {
    int64_t id[2] = {q->id[0], q->id[1]};
    for (int c = 0; c < 2; c++) {
        if (R->mode[c] == IDS_AUTO && !q->num[c]) {
            /* The column holds a non-integer after all: the rows read so far become names
             * (their text was canonical, so printing them back gives the bytes read). */
            int rc = flush(R);
            if (!rc) rc = als__ratings_ints_to_names(R->r, c);
            if (rc) return als__errf(ALS_ENOMEM, FN ": out of memory reading %s", R->path);
            als__strdict **owned = c ? &R->r->inames : &R->r->unames;
            R->dict[c] = *owned;
            *owned = NULL;
            R->mode[c] = IDS_STRING;
        }
        if (R->mode[c] != IDS_STRING) continue;
        if (!R->dict[c] && !(R->dict[c] = als__strdict_new()))
            return als__errf(ALS_ENOMEM, FN ": out of memory reading %s", R->path);
        const char *name = base + q->soff[c];
        size_t n = q->slen[c];
        if (R->last_id[c] >= 0 && n == R->last_n[c] && memcmp(name, R->lastname[c], n) == 0) {
            id[c] = R->last_id[c];
            continue;
        }
        if ((id[c] = als__strdict_intern(R->dict[c], name, n)) < 0)
            return als__errf(ALS_ENOMEM, FN ": out of memory reading %s", R->path);
        R->last_id[c] = -1; /* (kept only when its copy fits: a failed growth is no error) */
        if (n > R->last_cap[c]) {
            char *nb = realloc(R->lastname[c], n);
            if (!nb) continue;
            R->lastname[c] = nb;
            R->last_cap[c] = n;
        }
        if (n) memcpy(R->lastname[c], name, n);
        R->last_n[c] = n;
        R->last_id[c] = id[c];
    }
    R->u[R->cnt] = id[0];
    R->it[R->cnt] = id[1];
    R->v[R->cnt] = q->value;
    R->t[R->cnt] = q->time;
    return ++R->cnt == CHUNK ? flush(R) : 0;
}

/* Resolve column names (and check indices) against the header line. */
static int read_header(csv_reader *R, char *line, int64_t lineno) {
    int64_t nf = 0;
    const char *why = NULL;
    for (char *p = line; p; nf++) {
        char *fld = next_field(&p, R->o.sep, &why);
        if (!fld) return als__errf(ALS_EFORMAT, "%s:%lld: header: %s", R->path, (long long)lineno,
                                     why);
        fld = trim_spaces(fld);
        for (int c = 0; c < NCOL; c++) {
            if (R->o.name[c] && strcmp(fld, R->o.name[c]) == 0) {
                R->o.col[c] = nf;
                R->o.name[c] = NULL; /* first match wins */
            }
        }
    }
    for (int c = 0; c < NCOL; c++) {
        if (R->o.name[c])
            return als__errf(ALS_ENOTFOUND, "%s: column '%s' (option %s=) is not in the header",
                             R->path, R->o.name[c], col_key[c]);
        if (R->o.col[c] >= nf)
            return als__errf(ALS_ENOTFOUND, "%s: column %lld (option %s=) is past the "
                             "header's %lld columns", R->path, (long long)R->o.col[c],
                             col_key[c], (long long)nf);
    }
    return ALS_OK;
}

static int64_t last_column(const csv_opts *o) {
    int64_t m = 0;
    for (int c = 0; c < NCOL; c++)
        if (o->col[c] > m) m = o->col[c];
    return m;
}

/* ------------------------------------------------------------------ blocks */

/* The file is read in blocks of whole lines. The lines of a block are cut into pieces
 * that the threads parse (parse_line) while the calling thread commits the block before
 * (commit_block: progress, bad rows, dictionaries, the ratings, all in file order), so
 * the results are those of reading line after line, whatever the thread count. */
#define BLOCK ((size_t)2 << 20)
#define MAX_LINE ((size_t)1 << 31) /* a line longer than this is not a ratings file */
#define PIECE_MIN ((size_t)64 << 10)

typedef struct {
    size_t beg, end; /* whole lines, offsets in the block */
    line_rec *rec;
    int64_t n, cap;
    int64_t first_bad; /* its first bad line (the only one whose reason the commit needs) */
    char why[WHY];
    int oom;
} piece;

typedef struct {
    char *buf;
    size_t cap, have, lines_end; /* bytes held; bytes of whole lines (all of them at the end) */
    size_t start;                /* lines before it were read already (header) */
    int last;                    /* the file ends with this block */
    piece *pc;
    int np;
} block;

/* Double b's buffer for a line longer than it holds; ALS_OK or an ALS error. */
static int grow_block(const csv_reader *R, block *b) {
    if (b->cap >= MAX_LINE)
        return als__errf(ALS_EFORMAT, "%s: a line longer than %zu bytes: not a ratings file",
                         R->path, MAX_LINE);
    char *nb = realloc(b->buf, 2 * b->cap + 1);
    if (!nb) return als__errf(ALS_ENOMEM, FN ": out of memory for a line of over %zu bytes", b->cap);
    b->buf = nb;
    b->cap *= 2;
    return ALS_OK;
}

/* Block b: the partial line `carry` (n bytes) and then the file, until b holds at least
 * one whole line or the file ends. ALS_OK or an ALS error. */
static int load_block(csv_reader *R, FILE *f, block *b, const char *carry, size_t n) {
    if (!b->buf) {
        b->cap = BLOCK;
        if (!(b->buf = malloc(b->cap + 1))) return als__errf(ALS_ENOMEM, FN ": out of memory");
    }
    int rc = ALS_OK;
    while (!rc && n >= b->cap) rc = grow_block(R, b); /* a long line carried over */
    if (rc) return rc;
    if (n) memmove(b->buf, carry, n);
    b->have = n;
    b->start = 0;
    b->last = 0;
    size_t scanned = 0;
    for (;;) {
        size_t got = fread(b->buf + b->have, 1, b->cap - b->have, f);
        b->have += got;
        if (got == 0 && ferror(f)) {
            int e = errno ? errno : EIO;
            return als__errf(e == ENOMEM ? ALS_ENOMEM : ALS_EIO, "cannot read %s: %s", R->path,
                             strerror(e));
        }
        char *nl = NULL; /* the last end of line */
        for (size_t k = b->have; k > scanned && !nl; k--)
            if (b->buf[k - 1] == '\n') nl = b->buf + k - 1;
        if (nl) {
            b->lines_end = (size_t)(nl - b->buf) + 1;
            /* (a block ends its lines where the file may go on; at the end it has all) */
            if (b->have < b->cap && feof(f)) b->lines_end = b->have, b->last = 1;
            return ALS_OK;
        }
        scanned = b->have;
        if (feof(f) || (got == 0 && b->have < b->cap)) { /* the end: the last line has no '\n' */
            b->lines_end = b->have;
            b->last = 1;
            return ALS_OK;
        }
        /* no end of line in the whole block: a longer one */
        if (b->have == b->cap && (rc = grow_block(R, b))) return rc;
    }
}

/* Cut b's lines from b->start into up to `want` pieces of whole lines. */
static int split_block(block *b, int want) {
    size_t len = b->lines_end - b->start;
    int np = (int)(len / PIECE_MIN);
    if (np > want) np = want;
    if (np < 1) np = 1;
    if (!b->pc) {
        if (!(b->pc = calloc((size_t)want, sizeof *b->pc))) return als__errf(ALS_ENOMEM, FN ": out of memory");
    }
    size_t at = b->start;
    for (int k = 0; k < np; k++) {
        size_t end = k == np - 1 ? b->lines_end : b->start + len / (size_t)np * (size_t)(k + 1);
        if (end < at) end = at;
        while (end < b->lines_end && end > at && b->buf[end - 1] != '\n') end++;
        b->pc[k].beg = at;
        b->pc[k].end = end;
        at = end;
    }
    b->np = np;
    return ALS_OK;
}

/* Parse piece p of block b (any thread; writes only the piece and its lines' bytes). */
static void parse_piece(const csv_reader *R, block *b, piece *p) {
    p->n = 0;
    p->first_bad = -1;
    p->oom = 0;
    char *base = b->buf, scratch[WHY];
    for (size_t s = p->beg; s < p->end;) {
        char *ln = base + s, *nl = memchr(ln, '\n', p->end - s);
        size_t len = nl ? (size_t)(nl - ln) : p->end - s;
        if (p->n == p->cap) {
            int64_t c = p->cap ? 2 * p->cap : 4096;
            line_rec *nr = realloc(p->rec, (size_t)c * sizeof *nr);
            if (!nr) {
                p->oom = 1;
                return;
            }
            p->rec = nr;
            p->cap = c;
        }
        line_rec *q = &p->rec[p->n];
        q->len = (uint32_t)(len + (nl != NULL));
        ln[len] = '\0'; /* (the buffer has a byte past its capacity for the last line) */
        parse_line(R, ln, len, base, q, p->first_bad < 0 ? p->why : scratch);
        if (q->kind == L_BAD && p->first_bad < 0) p->first_bad = p->n;
        p->n++;
        s += len + (nl != NULL);
    }
}

/* One line's outcome, in file order: a bad row is skipped (skip_bad) or the error. */
static int line_done(csv_reader *R, int rc, int64_t lineno, const char *why) {
    if (rc != 1) return rc;
    if (R->o.skip_bad) {
        if (R->r->bad_rows < ALS_BAD_LINES) R->r->bad_lines[R->r->bad_rows] = lineno;
        R->r->bad_rows++;
        return ALS_OK;
    }
    return als__errf(ALS_EFORMAT, "%s:%lld: %s", R->path, (long long)lineno, why);
}

/* Count a line and report progress every 2^20 lines (the calling thread). */
static int count_line(csv_reader *R, int64_t *lineno, size_t bytes) {
    ++*lineno;
    R->bytes += (int64_t)bytes;
    if (R->progress && (*lineno & ((1 << 20) - 1)) == 0 &&
        R->progress(R->progress_user, R->bytes, R->total, R->r->n + R->cnt) != 0)
        return als__errf(ALS_ECANCELED, "%s: reading canceled by the progress callback at line "
                         "%lld", R->path, (long long)*lineno);
    return ALS_OK;
}

static int commit_block(csv_reader *R, block *b, int64_t *lineno) {
    for (int k = 0; k < b->np; k++) {
        piece *p = &b->pc[k];
        if (p->oom) return als__errf(ALS_ENOMEM, FN ": out of memory reading %s", R->path);
        for (int64_t i = 0; i < p->n; i++) {
            const line_rec *q = &p->rec[i];
            int rc = count_line(R, lineno, q->len);
            if (!rc && q->kind != L_BLANK)
                rc = line_done(R, q->kind == L_BAD ? 1 : commit_row(R, b->buf, q), *lineno, p->why);
            if (rc) return rc;
        }
    }
    return ALS_OK;
}

/* The first lines, one at a time: the byte order mark of line 1, blank lines and the
 * header (the parse of the data lines needs its columns). Moves b->start past them;
 * *done once line 1 and the header are behind. */
static int read_preamble(csv_reader *R, block *b, int64_t *lineno, int *need_header, int *done) {
    while (!*done && b->start < b->lines_end) {
        char *s = b->buf + b->start, *nl = memchr(s, '\n', b->lines_end - b->start);
        size_t len = nl ? (size_t)(nl - s) : b->lines_end - b->start, raw = len + (nl != NULL);
        b->start += raw;
        int rc = count_line(R, lineno, raw);
        if (rc) return rc;
        s[len] = '\0';
        if (len && s[len - 1] == '\r') s[--len] = '\0';
        if (*lineno == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3, len -= 3;
        *done = !*need_header;
        if (strspn(s, " \t") == len) continue; /* blank line */
        char why[WHY];
        if (memchr(s, '\0', len)) {
            rc = why_is(why, "the line holds a NUL byte");
        } else if (*need_header) {
            *need_header = 0;
            *done = 1;
            if ((rc = read_header(R, s, *lineno))) return rc;
            R->last = last_column(&R->o);
            continue;
        } else {
            line_rec q;
            rc = parse_fields(R, s, b->buf, &q, why);
            if (!rc) rc = commit_row(R, b->buf, &q);
        }
        if ((rc = line_done(R, rc, *lineno, why))) return rc;
    }
    return ALS_OK;
}

static int read_lines(csv_reader *R, FILE *f, int nt) {
    block B[2];
    memset(B, 0, sizeof B);
    int64_t lineno = 0;
    int need_header = R->o.header, pre_done = 0, cur = 0, want = 4 * nt;
    int rc = load_block(R, f, &B[0], NULL, 0);
    while (!rc) { /* the preamble, possibly over several blocks */
        if ((rc = read_preamble(R, &B[cur], &lineno, &need_header, &pre_done)) || pre_done ||
            B[cur].last)
            break;
        block *o = &B[cur];
        cur ^= 1;
        rc = load_block(R, f, &B[cur], o->buf + o->lines_end, o->have - o->lines_end);
    }
    if (!rc && pre_done && (rc = split_block(&B[cur], want)) == ALS_OK) {
        block *b = &B[cur];
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
        for (int k = 0; k < b->np; k++) parse_piece(R, b, &b->pc[k]);
    }
    while (!rc && pre_done) {
        block *b = &B[cur], *nx = &B[cur ^ 1];
        int more = !b->last;
        if (more && !(rc = load_block(R, f, nx, b->buf + b->lines_end, b->have - b->lines_end)))
            rc = split_block(nx, want);
        if (rc) break;
        int crc = ALS_OK;
        /* the calling thread commits block b while the others (then it too) parse nx */
#pragma omp parallel num_threads(nt)
        {
#pragma omp master
            crc = commit_block(R, b, &lineno);
            if (more) {
#pragma omp for schedule(dynamic, 1) nowait
                for (int k = 0; k < nx->np; k++) parse_piece(R, nx, &nx->pc[k]);
            }
        }
        rc = crc;
        if (!more) break;
        cur ^= 1;
    }
    for (int k = 0; k < 2; k++) {
        free(B[k].buf);
        for (int p = 0; B[k].pc && p < want; p++) free(B[k].pc[p].rec);
        free(B[k].pc);
    }
    if (!rc && need_header) { /* no header line: the names cannot be found */
        for (int c = 0; c < NCOL && !rc; c++)
            if (R->o.name[c])
                rc = als__errf(ALS_ENOTFOUND, "%s: no header line, so column '%s' (option "
                               "%s=) is not in it", R->path, R->o.name[c], col_key[c]);
    }
    return rc;
}

static int read_csv(als_ratings **out, const char *path, const char *options,
                    als_read_progress_fn progress, void *user) {
    if (!out) return als__errf(ALS_EINVAL, FN ": out is NULL");
    *out = NULL;
    if (!path) return als__errf(ALS_EINVAL, FN ": path is NULL");
    csv_reader R;
    memset(&R, 0, sizeof R);
    R.path = path;
    R.progress = progress;
    R.progress_user = user;
    R.last_id[0] = R.last_id[1] = -1;
    FILE *f = NULL;
    int rc = parse_options(&R.o, path, options);
    if (!rc) {
        R.mode[0] = R.mode[1] = R.o.ids;
        R.last = last_column(&R.o);
        if (!(f = fopen(path, "r"))) {
            int e = errno;
            rc = als__errf(e == ENOENT ? ALS_ENOTFOUND : e == ENOMEM ? ALS_ENOMEM : ALS_EIO,
                           "cannot open %s: %s", path, strerror(e));
        }
    }
    if (!rc) {
        R.u = malloc(CHUNK * sizeof *R.u);
        R.it = malloc(CHUNK * sizeof *R.it);
        R.t = malloc(CHUNK * sizeof *R.t);
        R.v = malloc(CHUNK * sizeof *R.v);
        if (!R.u || !R.it || !R.t || !R.v) rc = als__errf(ALS_ENOMEM, FN ": out of memory");
    }
    if (!rc) rc = als_ratings_create(&R.r);
    if (!rc) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) R.total = (int64_t)st.st_size;
        rc = read_lines(&R, f, als__threads(R.o.threads));
    }
    if (!rc) rc = flush(&R);
    if (!rc && progress && progress(user, R.bytes, R.total, R.r->n) != 0)
        rc = als__errf(ALS_ECANCELED, "%s: reading canceled by the progress callback at its end", path);
    if (f) fclose(f);
    free(R.u);
    free(R.it);
    free(R.t);
    free(R.v);
    free(R.o.text);
    free(R.lastname[0]);
    free(R.lastname[1]);
    if (rc) {
        als_ratings_destroy(R.r);
        als__strdict_free(R.dict[0]);
        als__strdict_free(R.dict[1]);
        return rc;
    }
    /* The dictionaries exist only for columns that turned out to hold strings. */
    R.r->unames = R.dict[0];
    R.r->inames = R.dict[1];
    *out = R.r;
    return ALS_OK;
}

ALS_API int als_ratings_read_csv(als_ratings **out, const char *path, const char *options) {
    return read_csv(out, path, options, NULL, NULL);
}

ALS_API int als_ratings_read_csv_progress(als_ratings **out, const char *path,
                                          const char *options, als_read_progress_fn progress,
                                          void *user) {
    return read_csv(out, path, options, progress, user);
}
