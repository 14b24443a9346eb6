/* lookalike: a fitted model with what the routes need beside it: each item's distinct
 * buyers (as factor rows), each user's activity, and the string-id dictionaries.
 *
 * Since 1.2 the model file holds its training interactions (libals keepInteractions), and
 * the buyers are built from them on load. `train` writes two small files beside it:
 *   MODEL.info   text: the run identity, the ratings' user column name and the rows skipped
 *                when reading (docs/formats.md)
 *   MODEL.ids    the string-id dictionaries (als_ratings_write_ids; empty for integer ids)
 * A model written by lookalike 1.1 (no interactions inside) still loads with its
 * MODEL.inter (the interactions as CSR by item, LKINTER2). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lookalike.h"

/* Version 2 adds the model's run identity to the header; version 1 files are refused
 * (they cannot say which model they belong to). */
static const char INTER_MAGIC[8] = {'L', 'K', 'I', 'N', 'T', 'E', 'R', '2'};
static const char INTER_MAGIC_V1[8] = {'L', 'K', 'I', 'N', 'T', 'E', 'R', '1'};

static int data_init_model(lk_data *d, als_model *m) {
    const als_matrix *uf = als_model_user_factors(m), *itf = als_model_item_factors(m);
    if (!uf || !itf) return lk_fail("the model is not trained");
    d->model = m;
    d->nu = als_matrix_rows(uf);
    d->ni = als_matrix_rows(itf);
    d->rank = als_matrix_cols(uf);
    d->user_ids = als_model_user_ids(m);
    d->item_ids = als_model_item_ids(m);
    d->run_id = als_model_run_id(m);
    if (d->nu > INT32_MAX) return lk_fail("more than 2^31 users are not supported");
    return 0;
}

/* Keep each user once per item (duplicate rows add up in training, not in buyers). */
static int dedup_items(lk_data *d) {
    int64_t *mark = malloc((size_t)(d->nu ? d->nu : 1) * sizeof *mark);
    if (!mark) return lk_fail("out of memory");
    for (int64_t u = 0; u < d->nu; u++) mark[u] = -1;
    int64_t w = 0;
    for (int64_t j = 0; j < d->ni; j++) {
        int64_t b = d->item_ptr[j], e = d->item_ptr[j + 1];
        d->item_ptr[j] = w;
        for (int64_t p = b; p < e; p++) {
            int32_t u = d->item_users[p];
            if (mark[u] != j) {
                mark[u] = j;
                d->item_users[w++] = u;
            }
        }
    }
    d->item_ptr[d->ni] = w;
    free(mark);
    return 0;
}

/* The buyers of every item and each user's activity from the model's kept interactions:
 * one pass to count, one to fill (no id lookups: the library gives factor rows). */
static int from_model_interactions(lk_data *d) {
    const als_model *m = d->model;
    int64_t n = als_model_num_interactions(m), cap = 0;
    d->item_ptr = calloc((size_t)d->ni + 1, sizeof *d->item_ptr);
    d->item_users = malloc((size_t)(n ? n : 1) * sizeof *d->item_users);
    d->user_count = calloc((size_t)(d->nu ? d->nu : 1), sizeof *d->user_count);
    for (int64_t u = 0; u < d->nu; u++) {
        int64_t c = als_model_interaction_rows(m, u, NULL, NULL, 0);
        if (c < 0) return lk_lib_fail("the model's interactions", (int)c);
        if (c > cap) cap = c;
    }
    int32_t *rows = malloc((size_t)(cap ? cap : 1) * sizeof *rows);
    int64_t *pos = malloc(((size_t)d->ni + 1) * sizeof *pos);
    if (!d->item_ptr || !d->item_users || !d->user_count || !rows || !pos) {
        free(rows);
        free(pos);
        return lk_fail("out of memory for %lld interactions", (long long)n);
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            for (int64_t j = 0; j < d->ni; j++) d->item_ptr[j + 1] += d->item_ptr[j];
            memcpy(pos, d->item_ptr, ((size_t)d->ni + 1) * sizeof *pos);
        }
        for (int64_t u = 0; u < d->nu; u++) {
            int64_t c = als_model_interaction_rows(m, u, rows, NULL, cap);
            if (c < 0) {
                free(rows);
                free(pos);
                return lk_lib_fail("the model's interactions", (int)c);
            }
            if (!pass) d->user_count[u] = c;
            for (int64_t e = 0; e < c; e++) {
                if (pass) d->item_users[pos[rows[e]]++] = (int32_t)u;
                else d->item_ptr[rows[e] + 1]++;
            }
        }
    }
    free(rows);
    free(pos);
    return dedup_items(d);
}

int lk_data_from_model(lk_data *d, als_model *m, int buyers) {
    memset(d, 0, sizeof *d);
    if (data_init_model(d, m)) return LK_EXIT_FAIL;
    if (als_model_num_interactions(m) <= 0)
        return lk_fail("the model keeps no training interactions (trained with "
                       "keepInteractions false)");
    return buyers ? from_model_interactions(d) : 0;
}

int lk_data_from_ratings(lk_data *d, als_model *m, const als_ratings *r) {
    memset(d, 0, sizeof *d);
    if (data_init_model(d, m)) return LK_EXIT_FAIL;
    int64_t n = als_ratings_rows(r);
    int32_t *ur = malloc((size_t)(n ? n : 1) * sizeof *ur);
    int32_t *ir = malloc((size_t)(n ? n : 1) * sizeof *ir);
    d->item_ptr = calloc((size_t)d->ni + 1, sizeof *d->item_ptr);
    d->item_users = malloc((size_t)(n ? n : 1) * sizeof *d->item_users);
    d->user_count = calloc((size_t)(d->nu ? d->nu : 1), sizeof *d->user_count);
    if (!ur || !ir || !d->item_ptr || !d->item_users || !d->user_count) {
        free(ur);
        free(ir);
        return lk_fail("out of memory");
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t u, it;
        als_ratings_get(r, i, &u, &it, NULL, NULL);
        int64_t a = als_model_user_row(m, u), b = als_model_item_row(m, it);
        if (a < 0 || b < 0) continue; /* not in the model (e.g. a later period) */
        ur[kept] = (int32_t)a;
        ir[kept++] = (int32_t)b;
        d->item_ptr[b + 1]++;
        d->user_count[a]++;
    }
    for (int64_t j = 0; j < d->ni; j++) d->item_ptr[j + 1] += d->item_ptr[j];
    int64_t *pos = malloc((size_t)d->ni * sizeof *pos + 1);
    if (!pos) {
        free(ur);
        free(ir);
        return lk_fail("out of memory");
    }
    memcpy(pos, d->item_ptr, (size_t)d->ni * sizeof *pos);
    for (int64_t i = 0; i < kept; i++) d->item_users[pos[ir[i]]++] = ur[i];
    free(pos);
    free(ur);
    free(ir);
    d->names = r;
    return dedup_items(d);
}

void lk_data_free(lk_data *d) {
    free(d->item_ptr);
    free(d->item_users);
    free(d->user_count);
    free(d->seg);
    if (d->own) {
        als_model_destroy(d->model);
    }
    als_ratings_destroy(d->names_owned);
    memset(d, 0, sizeof *d);
}


int lk_data_save_sidecars(const lk_data *d, const als_ratings *r, const char *model_path) {
    char path[4200];
    lk_out o;
    snprintf(path, sizeof path, "%s.info", model_path);
    if (lk_out_open(&o, path)) return LK_EXIT_FAIL;
    const char *col = d->user_col[0] ? d->user_col : "user_id";
    /* the column name is written as its bytes in hex: any byte survives the round trip */
    fprintf(o.f, "lookalike-model 2\nrun %016llx\nuser_col_hex ", (unsigned long long)d->run_id);
    for (const unsigned char *c = (const unsigned char *)col; *c; c++) fprintf(o.f, "%02x", *c);
    fprintf(o.f, "\nbad_rows %lld\nbad_lines", (long long)d->bad_rows);
    for (int i = 0; i < d->n_bad_lines; i++) fprintf(o.f, " %lld", (long long)d->bad_lines[i]);
    fprintf(o.f, "\n");
    if (ferror(o.f)) {
        lk_out_abort(&o);
        return lk_fail("%s: write failed", path);
    }
    if (lk_out_commit(&o)) return LK_EXIT_FAIL;
    /* a MODEL.inter of an earlier training beside this model would only be confusing */
    snprintf(path, sizeof path, "%s.inter", model_path);
    if (unlink(path) != 0 && errno != ENOENT) return lk_fail("%s: cannot remove the old file (%s)", path, strerror(errno));
    snprintf(path, sizeof path, "%s.ids", model_path);
    int rc = als_ratings_write_ids_run(r, path, d->run_id);
    if (rc) return lk_lib_fail(path, rc);
    return 0;
}

/* MODEL.info: every line checked, the run identity against the model's. */
static int read_info(lk_data *d, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return lk_fail("%s: cannot open (%s); it is written by 'lookalike train' beside the model",
                       path, strerror(errno));
    char line[1024], hex[600];
    unsigned long long run = 0;
    long long bad = -1;
    int ok = fgets(line, sizeof line, f) && strcmp(line, "lookalike-model 2\n") == 0 &&
             fgets(line, sizeof line, f) && sscanf(line, "run %16llx\n", &run) == 1 &&
             fgets(line, sizeof line, f) && sscanf(line, "user_col_hex %599[0-9a-f]\n", hex) == 1 &&
             strlen(hex) % 2 == 0 && strlen(hex) / 2 < sizeof d->user_col &&
             fgets(line, sizeof line, f) && sscanf(line, "bad_rows %lld\n", &bad) == 1 && bad >= 0 &&
             fgets(line, sizeof line, f) && strncmp(line, "bad_lines", 9) == 0;
    if (ok) {
        size_t h = strlen(hex) / 2;
        for (size_t i = 0; i < h; i++) {
            unsigned v;
            sscanf(hex + 2 * i, "%2x", &v);
            d->user_col[i] = (char)v;
        }
        d->user_col[h] = 0;
        ok = memchr(d->user_col, 0, h) == NULL;
        char *p = line + 9;
        d->n_bad_lines = 0;
        while (ok && *p && *p != '\n') {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || d->n_bad_lines >= 16 || v < 1) ok = 0;
            else d->bad_lines[d->n_bad_lines++] = v, p = end;
        }
        d->bad_rows = bad;
        ok = ok && d->n_bad_lines <= bad && fgetc(f) == EOF;
    }
    fclose(f);
    if (!ok) return lk_fail("%s: not the info file of a lookalike model (corrupt or truncated)", path);
    if (run != d->run_id)
        return lk_fail("%s belongs to another training run than the model (run %016llx, the "
                       "model's is %016llx): use the files 'lookalike train' wrote together",
                       path, run, (unsigned long long)d->run_id);
    return 0;
}

static int read_inter(lk_data *d, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return lk_fail("%s: cannot open (%s); it is written by 'lookalike train' beside the model",
                       path, strerror(errno));
    struct stat st;
    char magic[8];
    int64_t hdr[8];
    int bad = fstat(fileno(f), &st) != 0 || fread(magic, 1, 8, f) != 8;
    if (!bad && memcmp(magic, INTER_MAGIC_V1, 8) == 0) {
        fclose(f);
        return lk_fail("%s: written by lookalike 1.0, without the model's run identity; run "
                       "'lookalike train' again", path);
    }
    bad = bad || memcmp(magic, INTER_MAGIC, 8) != 0 || fread(hdr, sizeof hdr[0], 8, f) != 8;
    if (!bad && (uint64_t)hdr[3] != d->run_id) {
        fclose(f);
        return lk_fail("%s belongs to another training run than the model (run %016llx, the "
                       "model's is %016llx): use the files 'lookalike train' wrote together",
                       path, (unsigned long long)hdr[3], (unsigned long long)d->run_id);
    }
    bad = bad || hdr[0] != d->nu || hdr[1] != d->ni || hdr[2] < 0 || hdr[4] < 0 ||
          hdr[5] < 0 || hdr[5] > 16 || hdr[5] > hdr[4] || hdr[6] < 0 ||
          hdr[6] >= (int64_t)sizeof d->user_col || hdr[7] != 0;
    /* Check the sizes against the file before allocating anything they name. */
    if (!bad) {
        double want = 72.0 + 128.0 + (double)hdr[6] + 8.0 * ((double)hdr[1] + 1) +
                      4.0 * (double)hdr[2] + 8.0 * (double)hdr[0];
        bad = want != (double)st.st_size;
    }
    if (!bad) {
        d->bad_rows = hdr[4];
        d->n_bad_lines = (int)hdr[5];
        bad = fread(d->bad_lines, sizeof d->bad_lines[0], 16, f) != 16 ||
              fread(d->user_col, 1, (size_t)hdr[6], f) != (size_t)hdr[6] ||
              memchr(d->user_col, 0, (size_t)hdr[6]) != NULL;
        d->user_col[hdr[6]] = 0;
    }
    if (bad) {
        fclose(f);
        return lk_fail("%s: not the interactions file of this model (corrupt or truncated)",
                       path);
    }
    d->item_ptr = malloc(((size_t)d->ni + 1) * sizeof *d->item_ptr);
    d->item_users = malloc((size_t)(hdr[2] ? hdr[2] : 1) * sizeof *d->item_users);
    d->user_count = malloc((size_t)(d->nu ? d->nu : 1) * sizeof *d->user_count);
    if (!d->item_ptr || !d->item_users || !d->user_count) {
        fclose(f);
        return lk_fail("out of memory");
    }
    bad = fread(d->item_ptr, sizeof *d->item_ptr, (size_t)d->ni + 1, f) != (size_t)d->ni + 1 ||
          fread(d->item_users, sizeof *d->item_users, (size_t)hdr[2], f) != (size_t)hdr[2] ||
          fread(d->user_count, sizeof *d->user_count, (size_t)d->nu, f) != (size_t)d->nu;
    fclose(f);
    bad = bad || d->item_ptr[0] != 0 || d->item_ptr[d->ni] != hdr[2];
    for (int64_t j = 0; !bad && j < d->ni; j++) bad = d->item_ptr[j + 1] < d->item_ptr[j];
    for (int64_t p = 0; !bad && p < hdr[2]; p++)
        bad = d->item_users[p] < 0 || d->item_users[p] >= d->nu;
    if (bad) return lk_fail("%s: corrupt interactions file", path);
    return 0;
}

int lk_data_load(lk_data *d, const char *model_path) {
    memset(d, 0, sizeof *d);
    als_model *m;
    int rc = als_model_load(&m, model_path);
    if (rc) return lk_lib_fail("loading the model", rc);
    d->own = 1;
    if (data_init_model(d, m)) {
        als_model_destroy(m);
        d->own = 0;
        return LK_EXIT_FAIL;
    }
    if (d->run_id == 0)
        return lk_fail("%s: written before libals 1.1, without a training-run identity, so its "
                       "side files cannot be checked; run 'lookalike train' again", model_path);
    char path[4200];
    if (als_model_num_interactions(m) > 0) { /* lookalike 1.2: the model holds them */
        snprintf(path, sizeof path, "%s.info", model_path);
        if (read_info(d, path) || from_model_interactions(d)) return LK_EXIT_FAIL;
    } else { /* a model of lookalike 1.1, with its interactions beside it */
        snprintf(path, sizeof path, "%s.inter", model_path);
        if (read_inter(d, path)) return LK_EXIT_FAIL;
    }
    if ((rc = als_ratings_create(&d->names_owned))) return lk_lib_fail("dictionaries", rc);
    d->names = d->names_owned;
    snprintf(path, sizeof path, "%s.ids", model_path);
    uint64_t run = 0;
    rc = als_ratings_read_ids_run(d->names_owned, path, &run);
    if (rc == ALS_ENOTFOUND)
        return lk_fail("%s is missing: 'lookalike train' writes it beside the model (it holds "
                       "the user and item names); keep the model's files together", path);
    if (rc) return lk_lib_fail(path, rc);
    if (run != d->run_id)
        return lk_fail("%s belongs to another training run than the model (run %016llx, the "
                       "model's is %016llx): its names would be mixed up",
                       path, (unsigned long long)run, (unsigned long long)d->run_id);
    return 0;
}

int64_t lk_item_row(const lk_data *d, const char *s) {
    int64_t id;
    int named = d->names && d->ni > 0 && als_ratings_item_name(d->names, d->item_ids[0]);
    if (named) {
        id = als_ratings_item_id(d->names, s);
        if (id < 0) {
            lk_fail("unknown item '%s' (not in the ratings' item names)", s);
            return -1;
        }
    } else if (lk_parse_i64(s, INT64_MIN, INT64_MAX, &id)) {
        lk_fail("unknown item '%s' (the ratings had integer item ids)", s);
        return -1;
    }
    int64_t row = als_model_item_row(d->model, id);
    if (row < 0) lk_fail("unknown item '%s' (no interactions in the training data)", s);
    return row;
}

int64_t lk_user_row(const lk_data *d, const char *s) {
    int64_t id;
    int named = d->names && d->nu > 0 && als_ratings_user_name(d->names, d->user_ids[0]);
    if (named) {
        if ((id = als_ratings_user_id(d->names, s)) < 0) return -1;
    } else if (lk_parse_i64(s, INT64_MIN, INT64_MAX, &id)) {
        return -1;
    }
    return als_model_user_row(d->model, id);
}

void lk_print_user(FILE *f, const lk_data *d, int64_t row) {
    int64_t id = d->user_ids[row];
    const char *name = d->names ? als_ratings_user_name(d->names, id) : NULL;
    if (!name) {
        fprintf(f, "%lld", (long long)id);
        return;
    }
    lk_print_csv_field(f, name);
}

void lk_print_csv_field(FILE *f, const char *name) {
    /* CSV quoting when the name needs it */
    if (!strpbrk(name, ",\"\n\r")) {
        fputs(name, f);
        return;
    }
    fputc('"', f);
    for (const char *p = name; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

const char *lk_item_label(const lk_data *d, int64_t row, char *buf, size_t cap) {
    int64_t id = d->item_ids[row];
    const char *name = d->names ? als_ratings_item_name(d->names, id) : NULL;
    if (name) return name;
    snprintf(buf, cap, "%lld", (long long)id);
    return buf;
}
