/* lookalike train: ratings file -> ALS model (with its interactions; + MODEL.info, MODEL.ids
 * beside it). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lookalike.h"

const char *const LK_TRAIN_OPTS[] = {"ratings", "out", "out-user-col", "quiet!", NULL};

/* The separator the reader will use: --sep, else ',' for .csv files, else tab. */
static char csv_sep(const lk_args *a, const char *path) {
    const char *s = lk_arg(a, "sep");
    size_t pl = strlen(path);
    if (!s) return pl >= 4 && !strcasecmp(path + pl - 4, ".csv") ? ',' : '\t';
    if (!strcmp(s, "\\t") || !strcmp(s, "tab")) return '\t';
    if (!strcmp(s, "comma")) return ',';
    if (!strcmp(s, "semicolon")) return ';';
    if (!strcmp(s, "space")) return ' ';
    if (!strcmp(s, "pipe")) return '|';
    return s[0];
}

/* The header's column names (first non-blank line, BOM and quotes removed, blanks
 * trimmed) into cols[max][LK_COL]; returns their number, 0 if the file has no line. */
#define LK_COL 256
static int header_columns(const char *path, char sep, char cols[][LK_COL], int max) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int n = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        char *p = line;
        if (!memcmp(p, "\xEF\xBB\xBF", 3)) p += 3;
        if (strspn(p, " \t") == strlen(p)) continue;
        for (;;) {
            char *e = p;
            int q = 0;
            while (*e && (q || *e != sep)) q ^= *e++ == '"';
            char c = *e;
            *e = 0;
            while (*p == ' ' || *p == '\t') p++;
            size_t l = strlen(p);
            while (l && (p[l - 1] == ' ' || p[l - 1] == '\t')) p[--l] = 0;
            if (l >= 2 && p[0] == '"' && p[l - 1] == '"') p[--l] = 0, p++;
            if (n < max) snprintf(cols[n], LK_COL, "%s", p);
            n++;
            if (!c) break;
            p = e + 1;
        }
        break;
    }
    free(line);
    fclose(f);
    return n < max ? n : max;
}

/* With --header, every column option must name a column of the header: say which option,
 * list the header, and suggest --sep when the header is one column holding separators. */
static int check_columns(const lk_args *a, const char *path, int want_time) {
    if (!lk_arg_flag(a, "header")) return 0;
    static const char *const opt[4] = {"user-col", "item-col", "value-col", "time-col"};
    char cols[64][LK_COL], list[2048] = "";
    char sep = csv_sep(a, path);
    int n = header_columns(path, sep, cols, 64);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", cols[i]);
    }
    for (int o = 0; o < 4; o++) {
        const char *v = lk_arg(a, opt[o]);
        if (!v || (o == 3 && !want_time)) continue;
        int64_t ix;
        int found = 0;
        if (!lk_parse_i64(v, 0, 1000000, &ix)) found = ix < n;
        for (int i = 0; i < n && !found; i++) found = !strcmp(cols[i], v);
        if (found) continue;
        if (n == 1 && strpbrk(cols[0], ",;\t|")) {
            const char *guess = strchr(cols[0], ';') ? ";" : strchr(cols[0], '\t') ? "tab"
                              : strchr(cols[0], '|') ? "|" : ",";
            return lk_usage_error("%s: the header is one column ('%.80s'): is the separator '%s'? "
                                  "try --sep '%s'", path, cols[0], guess, guess);
        }
        return lk_usage_error("%s: --%s %s: no such column; the header has %d: %s", path,
                              opt[o], v, n, list);
    }
    return 0;
}

int lk_user_col_name(const lk_args *a, const char *path, char *buf, size_t cap) {
    const char *v = lk_arg(a, "out-user-col");
    if (v) return snprintf(buf, cap, "%s", v), 0;
    snprintf(buf, cap, "user_id");
    v = lk_arg(a, "user-col");
    int64_t ix = 0;
    if (v && lk_parse_i64(v, 0, 1000000, &ix)) return snprintf(buf, cap, "%s", v), 0;
    if (!lk_arg_flag(a, "header") || !path) return 0;
    char cols[64][LK_COL];
    int n = header_columns(path, csv_sep(a, path), cols, 64);
    if (ix < n && cols[ix][0]) snprintf(buf, cap, "%s", cols[ix]);
    return 0;
}

/* Reading progress on stderr for long files: a line every 10 s or so (the library calls
 * back every 2^20 lines). */
typedef struct {
    const char *path;
    double t0, last;
} read_progress;

static int on_read(void *user, int64_t bytes, int64_t total, int64_t rows) {
    read_progress *p = user;
    double t = lk_now();
    if (t - p->last < 10.0 || bytes >= total) return 0;
    p->last = t;
    fprintf(stderr, "read %s: %lld rows so far, %.0f%% of %.0f MB, %.2f M rows/s\n", p->path,
            (long long)rows, total > 0 ? 100.0 * (double)bytes / (double)total : 0.0,
            (double)total / 1e6, (double)rows / (t - p->t0) / 1e6);
    return 0;
}

int lk_read_ratings(const lk_args *a, const char *path, int want_time, als_ratings **out) {
    char opts[2048];
    int rc;
    *out = NULL;
    if (access(path, R_OK) != 0) return lk_fail("%s: cannot read the ratings file", path);
    if ((rc = lk_csv_options(a, want_time, opts, sizeof opts))) return rc;
    if ((rc = check_columns(a, path, want_time))) return rc;
    double t0 = lk_now();
    read_progress pr = {path, t0, t0};
    rc = lk_arg_flag(a, "quiet") ? als_ratings_read_csv(out, path, opts)
                                 : als_ratings_read_csv_progress(out, path, opts, on_read, &pr);
    if (rc) return lk_lib_fail("reading the ratings", rc);
    if (als_ratings_rows(*out) == 0) {
        als_ratings_destroy(*out);
        *out = NULL;
        return lk_fail("%s: no ratings in the file", path);
    }
    if (!lk_arg_flag(a, "quiet"))
        fprintf(stderr, "read %s: %lld rows, %lld users, %lld items in %.2f s (%.2f M rows/s)\n",
                path, (long long)als_ratings_rows(*out), (long long)als_ratings_num_users(*out),
                (long long)als_ratings_num_items(*out), lk_now() - t0,
                (double)als_ratings_rows(*out) / (lk_now() - t0 + 1e-9) / 1e6);
    int64_t bad = als_ratings_bad_rows(*out);
    if (bad) { /* said even with --quiet: the data is not what the user thinks */
        int64_t lines[16];
        int64_t nl = als_ratings_bad_row_lines(*out, lines, 16);
        char at[256] = "";
        for (int64_t i = 0; i < nl && i < 5; i++) {
            size_t l = strlen(at);
            snprintf(at + l, sizeof at - l, "%s%lld", i ? ", " : "", (long long)lines[i]);
        }
        fprintf(stderr, "lookalike: %s: skipped %lld malformed row%s (--skip-bad), at line%s %s%s\n",
                path, (long long)bad, bad > 1 ? "s" : "", bad > 1 ? "s" : "", at,
                bad > 5 ? ", ..." : "");
    }
    return 0;
}

static int train_with(const lk_args *a, als_ratings *r, const char *out, lk_data *d, int buyers) {
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
    if ((rc = lk_data_from_model(d, m, buyers))) {
        lk_data_free(d);
        als_model_destroy(m);
        return rc;
    }
    d->own = 1;
    d->names = r; /* the string dictionaries (run goes on to expand with them) */
    lk_user_col_name(a, lk_arg(a, "ratings"), d->user_col, sizeof d->user_col);
    d->bad_rows = als_ratings_bad_rows(r);
    d->n_bad_lines = (int)als_ratings_bad_row_lines(r, d->bad_lines, 16);
    return lk_data_save_sidecars(d, r, out);
}

int lk_train_with(const lk_args *a, als_ratings *r, const char *out, lk_data *d) {
    return train_with(a, r, out, d, 1);
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
    /* Grouped by user, the ratings are the fit's user-major store themselves: no copy of
     * the item column beside them for the length of the fit (a no-op for grouped files). */
    if (!rc && !(rc = lk_read_ratings(&a, in, 0, &r)) && (rc = als_ratings_group_by_user(r)))
        rc = lk_lib_fail("grouping the ratings by user", rc);
    if (!rc && !(rc = train_with(&a, r, out, &d, 0)))
        printf("train: wrote %s (+ .info, .ids): %lld users x %lld items, rank %lld, in %.2f s\n",
               out, (long long)d.nu, (long long)d.ni, (long long)d.rank, lk_now() - t0);
    lk_data_free(&d);
    als_ratings_destroy(r);
    lk_args_free(&a);
    return rc;
}
