/* libFuzzer harness: als_ratings_read_csv on arbitrary text under many option strings.
 *
 * Input: byte 0 and byte 1 choose the options (below), the rest is the file. If byte 0 is
 * 0xFF the option string is instead the text up to the first newline after it (the option
 * parser itself is fuzzed) and the file is what follows.
 *   byte 0: bits 0-3 sep (none, "sep=,", tab, "\t", comma, semicolon, space, pipe, ";",
 *           "|", ":", a real tab, "sep= ", "x"), bit 4 header=1, bit 5 skip_bad=1,
 *           bit 6-7 ids (none, auto, int, string)
 *   byte 1: bits 0-1 value column (none, 2, "value" by name, 3), bits 2-3 time column
 *           (none, 3, "time" by name, 2), bit 4 user/item by name ("user", "item"),
 *           bit 5 user=1,item=0, bit 6 the file is .tsv instead of .csv (default separator),
 *           bit 7 user=item=0
 * Checks on success: every row readable, values finite (1.0 without a value column),
 * names map back to their ids, skipped rows only with skip_bad=1 and their line numbers
 * ascending, and the dictionaries survive write_ids + read_ids. */
#include <math.h>

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char csv_path[1200], tsv_path[1200], ids_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    fz_path(csv_path, sizeof csv_path, "in.csv");
    fz_path(tsv_path, sizeof tsv_path, "in.tsv");
    fz_path(ids_path, sizeof ids_path, "out.ids");
    return 0;
}

static void build_options(unsigned b0, unsigned b1, char *o, size_t cap) {
    static const char *const seps[16] = {"", "sep=,", "sep=tab", "sep=\\t", "sep=comma",
                                         "sep=semicolon", "sep=space", "sep=pipe", "sep=;",
                                         "sep=|", "sep=:", "sep=\t", "sep= ", "sep=x", "sep=,,",
                                         "sep=ab"};
    static const char *const ids[4] = {"", "ids=auto", "ids=int", "ids=string"};
    static const char *const vals[4] = {"", "value=2", "value=value", "value=3"};
    static const char *const times[4] = {"", "time=3", "time=time", "time=2"};
    const char *cols = (b1 & 0x80) ? "user=0,item=0"
                     : (b1 & 0x10) ? "user=user,item=item"
                     : (b1 & 0x20) ? "user=1,item=0" : "";
    snprintf(o, cap, "%s,%s%s%s,%s,%s,%s", seps[b0 & 15], (b0 & 0x10) ? "header=1" : "",
             (b0 & 0x20) ? ",skip_bad=1" : "", *ids[b0 >> 6] ? "," : "", ids[b0 >> 6],
             vals[b1 & 3], times[(b1 >> 2) & 3]);
    size_t l = strlen(o);
    snprintf(o + l, cap - l, ",%s", cols);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    char opts[512];
    const uint8_t *body;
    size_t blen;
    const char *path = csv_path;
    int skip_bad;
    if (data[0] == 0xFF) {
        const uint8_t *nl = memchr(data + 1, '\n', size - 1);
        size_t ol = nl ? (size_t)(nl - data - 1) : size - 1;
        if (ol >= sizeof opts || memchr(data + 1, 0, ol)) return 0;
        memcpy(opts, data + 1, ol);
        opts[ol] = 0;
        body = nl ? nl + 1 : data + size;
        blen = (size_t)(data + size - body);
        skip_bad = strstr(opts, "skip_bad") != NULL;
    } else {
        build_options(data[0], data[1], opts, sizeof opts);
        body = data + 2;
        blen = size - 2;
        if (data[1] & 0x40) path = tsv_path;
        skip_bad = (data[0] & 0x20) != 0;
    }
    fz_write(path, body, blen);
    als_ratings *r = NULL;
    int rc = als_ratings_read_csv(&r, path, opts);
    unlink(path);
    if (rc) {
        FZ_CHECK(r == NULL, "out set on failure");
        FZ_CHECK(rc == ALS_EINVAL || rc == ALS_EFORMAT || rc == ALS_ENOTFOUND || rc == ALS_ENOMEM || rc == ALS_EIO,
                 "rc %d for options '%s'", rc, opts);
        return 0;
    }
    int64_t n = als_ratings_rows(r);
    FZ_CHECK(n >= 0 && (size_t)n <= (blen + 1) / 2, "%lld rows from %zu bytes", (long long)n, blen);
    FZ_CHECK(als_ratings_num_users(r) <= n && als_ratings_num_items(r) <= n, "counts");
    int has_value = strstr(opts, "value") != NULL;
    int named_u = n > 0 && als_ratings_user_name(r, 0) != NULL;
    int named_i = n > 0 && als_ratings_item_name(r, 0) != NULL;
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it, t;
        float v;
        FZ_CHECK(als_ratings_get(r, i, &u, &it, &v, &t) == ALS_OK, "get %lld", (long long)i);
        FZ_CHECK(isfinite(v) && (has_value || v == 1.0f), "value %g", v);
        if (named_u) {
            const char *s = als_ratings_user_name(r, u);
            FZ_CHECK(s && als_ratings_user_id(r, s) == u, "user %lld name", (long long)u);
        }
        if (named_i) {
            const char *s = als_ratings_item_name(r, it);
            FZ_CHECK(s && als_ratings_item_id(r, s) == it, "item %lld name", (long long)it);
        }
    }
    FZ_CHECK(als_ratings_get(r, n, NULL, NULL, NULL, NULL) == ALS_ERANGE, "get past the end");
    int64_t bad = als_ratings_bad_rows(r), lines[16];
    FZ_CHECK(skip_bad || bad == 0, "%lld bad rows without skip_bad", (long long)bad);
    int64_t nl = als_ratings_bad_row_lines(r, lines, 16);
    FZ_CHECK(nl == (bad < 16 ? bad : 16), "bad_row_lines %lld for %lld", (long long)nl, (long long)bad);
    for (int64_t i = 0; i < nl; i++) FZ_CHECK(lines[i] >= 1 && (i == 0 || lines[i] > lines[i - 1]), "bad lines");
    if (n > 0) {
        int64_t item, users[4];
        FZ_CHECK(als_ratings_get(r, 0, NULL, &item, NULL, NULL) == ALS_OK, "get");
        int64_t nb = als_ratings_users_of_items(r, 1, &item, users, 4);
        FZ_CHECK(nb >= 1 && nb <= als_ratings_num_users(r), "users_of_items %lld", (long long)nb);
    }
    if (named_u || named_i) {
        FZ_CHECK(als_ratings_write_ids(r, ids_path) == ALS_OK, "write_ids");
        als_ratings *r2 = NULL;
        FZ_CHECK(als_ratings_create(&r2) == ALS_OK, "create");
        FZ_CHECK(als_ratings_read_ids(r2, ids_path) == ALS_OK, "read_ids of our own file");
        unlink(ids_path);
        for (int64_t i = 0; named_u && als_ratings_user_name(r, i); i++)
            FZ_CHECK(als_ratings_user_name(r2, i) && !strcmp(als_ratings_user_name(r, i), als_ratings_user_name(r2, i)),
                     "user name %lld after write_ids/read_ids", (long long)i);
        for (int64_t i = 0; named_i && als_ratings_item_name(r, i); i++)
            FZ_CHECK(als_ratings_item_name(r2, i) && !strcmp(als_ratings_item_name(r, i), als_ratings_item_name(r2, i)),
                     "item name %lld after write_ids/read_ids", (long long)i);
        als_ratings_destroy(r2);
    }
    als_ratings_destroy(r);
    return 0;
}
