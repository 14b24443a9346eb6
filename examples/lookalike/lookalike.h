/* lookalike: audience expansion from a purchase log, on libals + libvecidx.
 * Shared declarations of the program's files (one command per file). */
#ifndef LOOKALIKE_H
#define LOOKALIKE_H

#include <stdint.h>
#include <stdio.h>

#include "vecidx.h"

/* Exit codes: 0 ok, 1 runtime failure (file, data, library), 2 usage error. */
#define LK_EXIT_FAIL 1
#define LK_EXIT_USAGE 2

/* ---- util.c: errors, options, files, time ---- */
int lk_fail(const char *fmt, ...);                /* "lookalike: ..." on stderr, returns 1 */
int lk_usage_error(const char *fmt, ...);         /* same, returns 2 */
int lk_lib_fail(const char *what, int rc);        /* library failure with als_last_error() */
double lk_now(void);
int lk_mkdir_p(const char *dir); /* mkdir -p; 0 or lk_fail's 1 */
int lk_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
int lk_parse_double(const char *s, double *out);

/* Atomic text output: write to PATH.tmp.PID, then rename over PATH on commit. */
typedef struct {
    FILE *f;
    char path[4096];
    char tmp[4200];
} lk_out;
int lk_out_open(lk_out *o, const char *path);
int lk_out_commit(lk_out *o);  /* fflush + fsync + rename; returns 0 or lk_fail's 1 */
void lk_out_abort(lk_out *o);  /* remove the temporary file */

/* Command-line options: "--name" followed by its values (every word up to the next
 * "--name"). The known lists (NULL-terminated, in a NULL-terminated array) name each accepted option: "name" takes one value, "name*"
 * one or more, "name!" none (a flag). */
typedef struct {
    const char *name;  /* without the leading "--" */
    const char *value; /* NULL for flags */
} lk_opt;
typedef struct {
    lk_opt *v;
    int n;
} lk_args;
/* Returns 0, or 2 after a one-line message for an unknown or malformed option. */
int lk_args_parse(lk_args *a, int argc, char **argv, const char *cmd,
                  const char *const *const *lists);
void lk_args_free(lk_args *a);
const char *lk_arg(const lk_args *a, const char *name);        /* last value or NULL */
int lk_arg_flag(const lk_args *a, const char *name);           /* 1 if present */
int lk_arg_all(const lk_args *a, const char *name, const char **out, int cap); /* all values */

/* ---- ratings reading options shared by train / backtest / run ---- */
/* Build an als_ratings_read_csv option string from --sep --header --user-col --item-col
 * --value-col --time-col (time only when want_time). */
int lk_csv_options(const lk_args *a, int want_time, char *buf, size_t cap);
extern const char *const LK_CSV_OPTS[];    /* names of those options */
extern const char *const LK_ALS_PARAMS[];  /* Spark/libals parameter names accepted */
/* Set defaults for purchase logs (implicit) and then every Spark-named option given. */
int lk_model_configure(als_model *m, const lk_args *a);
/* Fit with a progress bar (terminal) or plain lines on stderr. */
int lk_model_fit(als_model *m, const als_ratings *r, int quiet);

/* ---- data.c: the model with its interactions, ids and names ---- */
typedef struct {
    als_model *model;
    const als_ratings *names; /* dictionaries (string ids); may hold no names */
    als_ratings *names_owned; /* set when loaded from MODEL.ids */
    int own;             /* the model was loaded here and is freed with the data */
    int64_t nu, ni, rank;
    uint64_t run_id;     /* the model's training-run identity, carried by every side file */
    const int64_t *user_ids, *item_ids; /* borrowed from model */
    int64_t *item_ptr;   /* CSR by item row: item_ptr[ni + 1] */
    int32_t *item_users; /* distinct user rows of each item */
    int64_t *user_count; /* interactions per user row (popularity baseline) */
    char user_col[256];  /* the ratings' user column name: the audience file's first column */
    int64_t bad_rows;    /* rows skipped by --skip-bad when training, and where */
    int64_t bad_lines[16];
    int n_bad_lines;
} lk_data;
/* From an in-memory ratings set and a fitted model; both stay the caller's and must
 * outlive d (the ratings give the names). Rows whose user or item is not in the model
 * are skipped. */
int lk_data_from_ratings(lk_data *d, als_model *m, const als_ratings *r);
/* Write MODEL.inter (interactions as factor rows) and MODEL.ids beside the model. */
int lk_data_save_sidecars(const lk_data *d, const als_ratings *r, const char *model_path);
/* Load a model and its sidecars written by train. */
int lk_data_load(lk_data *d, const char *model_path);
void lk_data_free(lk_data *d);
/* Item row of a command-line item (name or integer id), -1 with a message if unknown. */
int64_t lk_item_row(const lk_data *d, const char *s);
int64_t lk_user_row(const lk_data *d, const char *s);
/* Print an external user id (name when known). */
void lk_print_user(FILE *f, const lk_data *d, int64_t user_row);
/* One CSV field, quoted when it holds a comma, quote or line end. */
void lk_print_csv_field(FILE *f, const char *s);
const char *lk_item_label(const lk_data *d, int64_t item_row, char *buf, size_t cap);

/* ---- index.c ---- */
/* Index metadata written beside the index as INDEX.meta. */
typedef struct {
    int cosine; /* user vectors were normalized before indexing */
    int metric; /* VECIDX_METRIC_* */
    uint64_t run_id; /* the model's training run */
} lk_index_meta;
int lk_index_build(vecidx **out, const lk_data *d, const char *kind, int64_t nlist,
                   const char *metric, lk_index_meta *meta, int quiet);
int lk_index_save(const vecidx *idx, const lk_index_meta *meta, const char *path);
/* Load an index and check that it was built from d's model (same run identity, users
 * and rank); one line and LK_EXIT_FAIL otherwise. */
int lk_index_load(vecidx **out, lk_index_meta *meta, const char *path, const lk_data *d);

/* ---- route.c: the expansion routes ---- */
#define LK_ROUTE_I2U2U 0
#define LK_ROUTE_I2I2U 1
#define LK_ROUTE_I2U 2
#define LK_ROUTE_SEEDCLF 3 /* a seed classifier on the user vectors (vecidx_seed_scorer) */
#define LK_ROUTE_BLEND 4   /* reciprocal-rank fusion of other routes: "blend:i2u,i2u2u,..." */
#define LK_NROUTES 5
#define LK_MAX_SEEDS 5000 /* i2u2u searches with at most this many seeds (a sample) */
typedef struct {
    int64_t k;     /* neighbours per seed (i2u2u) / similar items (i2i2u); 0 = auto */
    int64_t nprobe; /* 0 = leave the index's */
    int agg;       /* VECIDX_AGG_* for i2u2u */
    int blend[4];  /* LK_ROUTE_BLEND: the routes fused (distinct, none a blend) */
    int nblend;
} lk_route_opts;
/* Route of a name, -1 if unknown; for "blend:A,B,..." also fills o->blend (o may be NULL
 * to validate only). */
int lk_route_parse_opts(const char *s, lk_route_opts *o);
int lk_route_parse(const char *s);        /* -1 if unknown */
const char *lk_route_name(int route);
/* Audience of up to n users (factor rows) for target items (rows) or explicit seed users
 * (rows, i2u2u only). rows_out / scores_out hold n; *found is set. */
int lk_route_run(int route, const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                 const int64_t *items, int64_t n_items, const int64_t *seed_users,
                 int64_t n_seeds, const lk_route_opts *o, int64_t n, int64_t *rows_out,
                 float *scores_out, int64_t *found);
/* Distinct buyers (user rows) of the items: malloc'd array, count in *n. */
int lk_buyers(const lk_data *d, const int64_t *items, int64_t n_items, int64_t **out,
              int64_t *n);

/* ---- expand.c, shared with run ---- */
extern const char *const LK_EXPAND_OPTS[];
int lk_expand_parse(const lk_args *a, lk_route_opts *o, int64_t *audience);
int lk_expand_with(const lk_data *d, vecidx *idx, const lk_index_meta *meta, const lk_args *a,
                   const char *out);
int lk_write_audience(const lk_data *d, const char *path, const int64_t *rows,
                      const float *scores, int64_t n, const char *via);
/* ---- train.c, shared with run and backtest ---- */
extern const char *const LK_TRAIN_OPTS[];
int lk_read_ratings(const lk_args *a, const char *path, int want_time, als_ratings **out);
/* Name of the audience file's id column: --out-user-col, else the header's user column
 * (--user-col with --header), else "user_id". */
int lk_user_col_name(const lk_args *a, const char *path, char *buf, size_t cap);
int lk_train_with(const lk_args *a, als_ratings *r, const char *out, lk_data *d);

/* ---- commands ---- */
int lk_cmd_train(int argc, char **argv);
int lk_cmd_index(int argc, char **argv);
int lk_cmd_expand(int argc, char **argv);
int lk_cmd_backtest(int argc, char **argv);
int lk_cmd_gen(int argc, char **argv);
int lk_cmd_run(int argc, char **argv);
int lk_cmd_info(int argc, char **argv);

#endif
