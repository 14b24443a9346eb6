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
/* A PNG by gnuplot from a script body (terminal and output are prepended), written to a
 * temporary name and renamed; without gnuplot, a line saying so and 0. */
int lk_plot(const char *who, const char *png, int width, int height, const char *body);

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
    /* i2s2u's segments of the users, computed on first use (segments.c) */
    int32_t *seg;        /* seg_runs blocks of nu: each run's segment of every user row */
    int64_t seg_c;       /* segments asked for (after auto) */
    int seg_runs;
    char user_col[256];  /* the ratings' user column name: the audience file's first column */
    int64_t bad_rows;    /* rows skipped by --skip-bad when training, and where */
    int64_t bad_lines[16];
    int n_bad_lines;
} lk_data;
/* From an in-memory ratings set and a fitted model; both stay the caller's and must
 * outlive d (the ratings give the names). Rows whose user or item is not in the model
 * are skipped. */
int lk_data_from_ratings(lk_data *d, als_model *m, const als_ratings *r);
/* The same from the interactions the model keeps (libals 1.2): no pass over ratings. With
 * buyers 0 only the model's facts (train, which writes the side files and stops). */
int lk_data_from_model(lk_data *d, als_model *m, int buyers);
/* Write MODEL.info (run, user column, skipped rows) and MODEL.ids beside the model. */
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
#define LK_ROUTE_I2C2U 5   /* i2u2u from k-means centroids of the seeds (cluster.c) */
#define LK_ROUTE_I2S2U 6   /* activity x the target's rate in the user's taste segments (segments.c) */
#define LK_NROUTES 7
#define LK_MAX_BLEND 5     /* a blend fuses 2 to 5 distinct routes */
#define LK_MAX_SEEDS 5000 /* i2u2u / i2c2u search with at most this many seeds (a sample) */
typedef struct {
    int64_t k;     /* neighbours per seed (i2u2u) / per centroid (i2c2u) / similar items
                      (i2i2u); 0 = auto */
    int64_t nprobe; /* 0 = leave the index's */
    int agg;       /* VECIDX_AGG_* for i2u2u */
    int blend[LK_MAX_BLEND]; /* LK_ROUTE_BLEND: the routes fused (distinct, none a blend) */
    int nblend;
    int64_t clusters; /* i2c2u: k-means clusters of the seeds; 0 = auto */
    double activity;  /* seedclf: exponent of the user's activity in the score; 0 = none */
    int64_t segments; /* i2s2u: k-means segments of the users; 0 = auto */
} lk_route_opts;
#define LK_ROUTE_OPTS_INIT {0, 0, -1, {0, 0, 0, 0, 0}, 0, 0, 0.0, 0}
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
/* Helpers the routes share: the factor rows as a new dense matrix (normalized when
 * cosine; zero vectors dropped, *kept remain), an exclusion filter of user rows, and
 * search results' external ids back to factor rows (a failure: the index is not d's). */
int lk_gather(const als_matrix *f, const int64_t *rows, int64_t n, int cosine,
              als_matrix **out, int64_t *kept);
int lk_make_filter(const lk_data *d, const int64_t *rows, int64_t n, vecidx_filter **f);
int lk_ids_to_rows(const lk_data *d, int64_t *ids, int64_t n);
/* At most LK_MAX_SEEDS of the seeds, evenly spaced, as vectors in the index's space (a
 * view of kept rows in *view, its owner in *owner; the caller destroys both). */
int lk_seed_vectors(const lk_data *d, const lk_index_meta *meta, const int64_t *seeds,
                    int64_t ns, als_matrix **owner, als_matrix **view, int64_t *kept);

/* i2u2u's automatic k for an audience of n from kept seed vectors, and the number of seed
 * vectors it keeps (the sample's non-zero ones). */
int64_t lk_i2u2u_auto_k(int64_t n, int64_t kept);
int64_t lk_seed_kept(const lk_data *d, const int64_t *seeds, int64_t ns);

/* blend's reciprocal-rank fusion of nl ranked lists (user rows, best first): the best n. */
int lk_blend_fuse(const lk_data *d, const int64_t *const *lists, const int64_t *lens, int nl,
                  int64_t n, int64_t *rows_out, float *scores_out, int64_t *found);

/* ---- cluster.c: route i2c2u ---- */
/* k-means of the n x r rows of x (spherical when cosine: unit rows and centroids) into at
 * most c clusters, deterministic: k-means++ from `seed` (i2c2u: 42), then Lloyd's iterations
 * until no row moves (at most 50). assign[i] gets row i's cluster; centroids c x r; the
 * number of non-empty clusters (they come first, renumbered) is returned, or -1. */
int64_t lk_kmeans(const float *x, int64_t n, int64_t r, int64_t c, int cosine, uint64_t seed,
                  float *centroids, int32_t *assign);
int lk_route_i2c2u(const lk_data *d, const vecidx *idx, const lk_index_meta *meta,
                   const int64_t *seeds, int64_t ns, const lk_route_opts *o, int64_t n,
                   int64_t *rows_out, float *scores_out, int64_t *found);

/* ---- segments.c: route i2s2u ---- */
/* Audience from the seeds (the target's buyers, or --seeds): each user's expected
 * purchases of the target, activity x the target's rate in the user's taste segments. */
int lk_route_i2s2u(const lk_data *d, const int64_t *seeds, int64_t ns, const lk_route_opts *o,
                   int64_t n, int64_t *rows_out, float *scores_out, int64_t *found);
/* The segments (auto when 0) i2s2u uses for d. */
int64_t lk_segments_auto(const lk_data *d, int64_t segments);

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

/* ---- split.c: the splits of backtest and tune ---- */
typedef struct {
    int64_t n;
    int64_t *u, *it, *tm; /* user and item ids (the ratings' ids), times (0 if none) */
    float *v;
} lk_rows;
#define LK_SPLIT_TIME 0   /* earlier than the cut time (t_cut, else frac of the rows) */
#define LK_SPLIT_ORDER 1  /* the first frac of the rows in file order */
#define LK_SPLIT_RANDOM 2 /* each row with probability frac, by a hash of (seed, position) */
void lk_rows_free(lk_rows *r);
int lk_rows_of(const als_ratings *all, lk_rows *out);
int lk_rows_split(const lk_rows *in, int mode, const int64_t *t_cut, double frac, uint64_t seed,
                  lk_rows *early, lk_rows *late);
int lk_rows_ratings(const lk_rows *r, als_ratings **out); /* the rows as a ratings set */
int lk_parse_time(const char *s, int64_t *t); /* YYYY-MM-DD, DD-MM-YYYY or an integer */
/* backtest's split of one file: by time before --time-split (or the time below which frac
 * of the rows lie) when timed, else by file order. */
int lk_split_file(const char *cmd, const als_ratings *all, int timed, const char *when,
                  double frac, lk_rows *train, lk_rows *test);
/* --train FILE --test FILE: test ids mapped to the training file's (by name or value);
 * rows the training file cannot know are counted and left out. */
int lk_read_split_files(const char *cmd, const lk_args *a, const char *trainf, const char *testf,
                        int want_time, als_ratings **train, lk_rows *test);

/* ---- eval.c: counting an audience's hits among the new buyers (backtest, tune) ---- */
#define LK_MAX_SIZES 32
typedef struct { /* one route's sums over the target items */
    double hits[LK_MAX_SIZES], aud[LK_MAX_SIZES], rnd[LK_MAX_SIZES];
    double auc_num, auc_den, dec_hits[10], dec_new;
    double secs; /* time spent in the route (tune) */
} lk_score;
typedef struct { /* one target item */
    int64_t item, stamp;   /* factor row; its marks in the caller's mark array */
    int64_t *buyers, nb;   /* buyers in the training part: the seeds */
    int64_t nnew;          /* new buyers: marked stamp; earlier buyers -2 - stamp */
    double base;           /* new buyers' share of the eligible users */
} lk_target;
/* mark[nu] starts at -1 everywhere; each target of one data set takes a distinct stamp. */
int lk_target_init(lk_target *g, const lk_data *d, int64_t item, int64_t stamp,
                   const lk_rows *test, int64_t *mark);
void lk_target_free(lk_target *g);
int lk_route_needs_seeds(int route);
/* rows holds max(largest size, users), sc the largest size; *secs (may be NULL) adds the
 * time spent in the route. */
int lk_score_route(lk_score *S, int route, const lk_route_opts *o, const lk_data *d,
                   const vecidx *idx, const lk_index_meta *meta, const lk_target *g,
                   const int64_t *mark, const int64_t *sizes, int ns, int64_t *rows, float *sc,
                   double *secs);
void lk_score_popular(lk_score *S, const lk_data *d, const int64_t *pop, const lk_target *g,
                      const int64_t *mark, const int64_t *sizes, int ns, int64_t *rows);
int lk_popularity_order(const lk_data *d, int64_t **pop); /* most active first */
int lk_top_items(const lk_data *d, int64_t top, int64_t *items); /* most buyers; count or -1 */
int lk_parse_sizes(const char *s, int64_t *v, int cap, int *n); /* "100,500": sorted; 0 or -1 */

/* ---- tune.c, tune_report.c: the grid, the choice on validation, the test ---- */
typedef struct { /* one ALS setting of the grid */
    int64_t rank, iter;
    double alpha, reg;
    int run;       /* measured (not skipped by --budget) */
    double fit_s;  /* its fit on the validation's training part */
} lk_tune_als;
typedef struct { /* one route setting of the grid */
    int route;
    lk_route_opts o;
    int has_activity; /* seedclf, or a blend that fuses it: o.activity is a knob */
    char spec[64]; /* the route's name, or the blend's spelling */
} lk_tune_route;
typedef struct {
    const lk_args *a;
    int64_t sizes[LK_MAX_SIZES];
    int ns, nsel;          /* audience sizes; the score averages the nsel smallest */
    const char *kind, *metric;
    int64_t nlist;
    const als_ratings *names;
    const char *items_s[256];
    int nitems;
    int64_t top;
    int quiet;
} lk_tune_ctx;
typedef struct {
    int best;                 /* grid index (als * nroutes + route) of the choice, -1 none */
    int fam[LK_NROUTES];      /* the best of each route family on validation, -1 none */
} lk_tune_choice;
double lk_tune_lift(const lk_score *S, int s);   /* lift over random at size s */
double lk_tune_score(const lk_tune_ctx *x, const lk_score *S);
void lk_tune_settings(const lk_tune_route *r, const lk_tune_als *c, char *buf, size_t cap);
void lk_tune_options(const lk_tune_route *r, const lk_tune_als *c, char *buf, size_t cap);
/* Fit c on r and measure the route settings which[0..nwhich) against rows: out[w] each,
 * and the popularity baseline in *pop (may be NULL); *nb: the new buyers. */
int lk_tune_measure_als(const lk_tune_ctx *x, const lk_tune_als *c, const als_ratings *r,
                        const lk_rows *rows, const lk_tune_route *rc, const int *which,
                        int nwhich, lk_score *out, lk_score *pop, double *nb);
void lk_tune_choose(const lk_tune_ctx *x, const lk_tune_als *ac, int nac, const lk_tune_route *rc,
                    int nrc, const lk_score *grid, lk_tune_choice *ch);
int lk_tune_report_grid(const lk_tune_ctx *x, const char *dir, const lk_tune_als *ac, int nac,
                        const lk_tune_route *rc, int nrc, const lk_score *grid,
                        const lk_tune_choice *ch, double val_new_buyers, const lk_score *val_pop);
int lk_tune_report_test(const lk_tune_ctx *x, const char *dir, const lk_tune_als *ac,
                        const lk_tune_route *rc, int nrc, const lk_score *grid,
                        const lk_tune_choice *ch, const als_ratings *train, const lk_rows *test);

/* ---- commands ---- */
int lk_cmd_train(int argc, char **argv);
int lk_cmd_index(int argc, char **argv);
int lk_cmd_expand(int argc, char **argv);
int lk_cmd_backtest(int argc, char **argv);
int lk_cmd_gen(int argc, char **argv);
int lk_cmd_run(int argc, char **argv);
int lk_cmd_info(int argc, char **argv);
int lk_cmd_tune(int argc, char **argv);

#endif
