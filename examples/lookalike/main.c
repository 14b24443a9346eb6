/* lookalike: audience expansion ("lookalike") from a purchase log, on libals + libvecidx.
 *
 *   lookalike gen      synthetic purchase log with planted communities
 *   lookalike train    ratings file -> ALS model
 *   lookalike index    model -> user index (flat or IVF; cosine, ip or l2)
 *   lookalike expand   target item(s) or seed users -> audience CSV
 *   lookalike backtest time split, then precision / recall / lift of each route
 *   lookalike tune     choose route, k, aggregate and ALS knobs on validation; test once
 *   lookalike run      train + index + expand in one command
 *
 * Every failure is one line on stderr and a non-zero exit (1: runtime, 2: usage); every
 * output file is written to a temporary name and renamed, so none is ever partial.
 * Walk-through: docs/lookalike.md. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lookalike.h"

/* Where the documentation lives: the source tree's docs/ for the build-tree program, the
 * installed share/doc folder for the installed one (both set by the Makefile). */
#ifndef LK_DOCDIR
#define LK_DOCDIR "docs"
#endif

static const char USAGE[] =
    "usage: lookalike COMMAND [--option value ...]\n"
    "\n"
    "  gen       --out FILE [--users 200000 --items 5000 --purchases 5000000 --communities 50\n"
    "             --seed 1 --zipf 1.0 --affinity 0.8 --start 2024-01-01 --days 365 --string-ids\n"
    "             --item-communities 1 --heavy-affinity A (harder logs)]\n"
    "  train     --ratings FILE --out MODEL [reading] [ALS] [--quiet]\n"
    "  index     --model MODEL --out INDEX [--kind flat|ivf] [--nlist N] [--metric cosine|ip|l2]\n"
    "  expand    --model MODEL --index INDEX (--item ID... | --seeds FILE) --out AUDIENCE.csv\n"
    "            [--route i2u2u|i2i2u|i2u|seedclf|i2c2u|i2s2u|blend:i2u,i2u2u,...] [--audience 100000]\n"
    "            [--k auto|N] [--nprobe P]\n"
    "            [--agg sum|max|mean] [--seed-clusters auto|C (i2c2u)] [--activity A (seedclf)] [--segments auto|S (i2s2u)]\n"
    "  backtest  (--ratings FILE (--time-split DATE|--fraction 0.8) | --train FILE --test FILE)\n"
    "            (--item ID... | --top-items N)\n"
    "            [--route i2u2u,i2i2u,i2u,seedclf,i2c2u,i2s2u,blend:...(last)] [--audience 1000,5000,...]\n"
    "            [--out backtest.csv]\n"
    "            [--dir DIR] [--plot backtest.png] [--kind --nlist --metric --k --nprobe --agg\n"
    "            --seed-clusters --activity --segments] [reading] [ALS]\n"
    "  tune      (--ratings FILE (--time-split DATE|--fraction 0.8) | --train FILE --test FILE)\n"
    "            (--item ID... | --top-items N) [--audience 1000,5000,...] [--select 2]\n"
    "            [--val-fraction 0.8] [--val-split time|random] [--val-seed 1] [--budget SECONDS]\n"
    "            grid, each a list of values: [--route R ...] [--k auto N ...] [--agg sum max]\n"
    "            [--seed-clusters auto 3 8] [--activity 0 0.5 1] [--rank 8 16 32] [--alpha 1 10]\n"
    "            [--regParam 0.01 0.1]\n"
    "            [--maxIter 10] [--segments auto|S] [--dir tune-out] [--kind --nlist --metric --nprobe]\n"
    "            [reading] [ALS]\n"
    "            chosen on validation carved from the training period; the test period is read\n"
    "            once, after the choice\n"
    "  run       --ratings FILE --item ID... [--dir DIR] [--out AUDIENCE.csv] [reading] [ALS]\n"
    "            [index and expand options]: train, index and expand in one command\n"
    "  info      --model MODEL: its run identity, sizes, id kinds, skipped rows, parameters\n"
    "\n"
    "  audience files start with the ratings' user column name (--out-user-col NAME to choose)\n"
    "\n"
    "  reading:  --sep C --header --user-col COL --item-col COL --value-col COL --time-col COL\n"
    "            --skip-bad --ids auto|int|string   (COL: 0-based index, or a name with --header;\n"
    "            auto: a column is integer only if every id is a plain integer, so zero-padded\n"
    "            ids like 00123 stay strings, byte for byte)\n"
    "  ALS:      Spark's names: --rank 16 --maxIter 10 --regParam 0.01 --implicitPrefs true\n"
    "            --alpha 1.0 --nonnegative false --seed 42, and --solver cholesky|cg --cgSteps\n"
    "            --regScaling count|none --numThreads N\n"
    "\n"
    "Walk-through: " LK_DOCDIR "/lookalike.md\n";


/* Every --item must be in the ratings (by name, or as an integer id), checked before the
 * model is trained. */
static int check_items(const lk_args *a, const als_ratings *r) {
    const char *items[256];
    int n = lk_arg_all(a, "item", items, 256);
    int named = als_ratings_num_items(r) > 0 && als_ratings_item_name(r, 0) != NULL;
    for (int i = 0; i < n && i < 256; i++) {
        int64_t id;
        if (named) {
            if (als_ratings_item_id(r, items[i]) >= 0) continue;
        } else if (!lk_parse_i64(items[i], INT64_MIN, INT64_MAX, &id) &&
                   als_ratings_users_of_items(r, 1, &id, NULL, 0) > 0) {
            continue;
        }
        return lk_fail("run: --item %s is not in the ratings (nothing was trained)", items[i]);
    }
    return 0;
}

int lk_cmd_run(int argc, char **argv) {
    static const char *const own[] = {"ratings", "dir", "kind", "nlist", "metric", "quiet!", NULL};
    const char *const *lists[] = {own, LK_EXPAND_OPTS, LK_CSV_OPTS, LK_ALS_PARAMS, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "run", lists);
    const char *in = lk_arg(&a, "ratings"), *dir = lk_arg(&a, "dir");
    char model[4200], index[4200], audience[4200];
    int64_t nlist = 0;
    if (!dir) dir = "lookalike-out";
    if (!rc && !in) rc = lk_usage_error("run: --ratings is required");
    if (!rc && !lk_arg(&a, "item") && !lk_arg(&a, "seeds"))
        rc = lk_usage_error("run: give --item ID... or --seeds FILE");
    if (!rc && lk_arg(&a, "route") && lk_route_parse(lk_arg(&a, "route")) < 0)
        rc = lk_usage_error("run: --route is i2u2u, i2i2u, i2u, seedclf, i2c2u, i2s2u or blend:R1,R2[,...], not '%s'",
                            lk_arg(&a, "route"));
    if (!rc && lk_arg(&a, "nlist") && lk_parse_i64(lk_arg(&a, "nlist"), 1, INT32_MAX, &nlist))
        rc = lk_usage_error("run: --nlist is a positive integer");
    if (!rc && (lk_arg(&a, "model") || lk_arg(&a, "index")))
        rc = lk_usage_error("run: writes its own model and index under --dir");
    /* Everything the later steps will read is checked now, before minutes of training. */
    lk_route_opts ro = LK_ROUTE_OPTS_INIT;
    int64_t n_audience;
    const char *kind = lk_arg(&a, "kind") ? lk_arg(&a, "kind") : "flat";
    const char *metric = lk_arg(&a, "metric") ? lk_arg(&a, "metric") : "cosine";
    if (!rc) rc = lk_expand_parse(&a, &ro, &n_audience);
    if (!rc && strcmp(kind, "flat") && strcmp(kind, "ivf"))
        rc = lk_usage_error("run: --kind is flat or ivf, not '%s'", kind);
    if (!rc && strcmp(metric, "cosine") && strcmp(metric, "ip") && strcmp(metric, "l2"))
        rc = lk_usage_error("run: --metric is cosine, ip or l2, not '%s'", metric);
    if (!rc && lk_arg(&a, "nprobe") && strcmp(kind, "ivf"))
        rc = lk_usage_error("run: --nprobe applies to --kind ivf only (a flat index is exact)");
    if (!rc && lk_arg(&a, "nlist") && strcmp(kind, "ivf"))
        rc = lk_usage_error("run: --nlist applies to --kind ivf only");
    if (!rc && lk_arg(&a, "seeds") && access(lk_arg(&a, "seeds"), R_OK) != 0)
        rc = lk_fail("run: --seeds %s: cannot read the file", lk_arg(&a, "seeds"));
    if (!rc) {
        als_model *probe = NULL; /* the ALS options, before reading anything */
        if (als_model_create(&probe)) rc = lk_fail("out of memory");
        else rc = lk_model_configure(probe, &a);
        als_model_destroy(probe);
    }
    if (!rc) rc = lk_mkdir_p(dir);
    if (rc) {
        lk_args_free(&a);
        return rc;
    }
    snprintf(model, sizeof model, "%s/model.als", dir);
    snprintf(index, sizeof index, "%s/users.vidx", dir);
    snprintf(audience, sizeof audience, "%s/audience.csv", dir);
    const char *out = lk_arg(&a, "out") ? lk_arg(&a, "out") : audience;
    als_ratings *r = NULL;
    lk_data d;
    vecidx *idx = NULL;
    lk_index_meta meta;
    memset(&d, 0, sizeof d);
    double t0 = lk_now(), t1 = 0, t2 = 0, t3 = 0;
    if (!(rc = lk_read_ratings(&a, in, 0, &r)) && !(rc = check_items(&a, r)) &&
        !(rc = lk_train_with(&a, r, model, &d))) {
        t1 = lk_now();
        rc = lk_index_build(&idx, &d, kind, nlist, metric, &meta, lk_arg_flag(&a, "quiet"));
        if (!rc) rc = lk_index_save(idx, &meta, index);
        t2 = lk_now();
        if (!rc) rc = lk_expand_with(&d, idx, &meta, &a, out);
        t3 = lk_now();
    }
    if (!rc)
        printf("run: train %.2f s, index %.2f s, expand %.2f s; wrote %s, %s, %s\n", t1 - t0,
               t2 - t1, t3 - t2, model, index, out);
    vecidx_destroy(idx);
    lk_data_free(&d);
    als_ratings_destroy(r);
    lk_args_free(&a);
    return rc;
}

/* lookalike info: what a model is, where it came from and what was skipped reading it. */
int lk_cmd_info(int argc, char **argv) {
    static const char *const own[] = {"model", NULL};
    const char *const *lists[] = {own, NULL};
    lk_args a;
    int rc = lk_args_parse(&a, argc, argv, "info", lists);
    const char *model = lk_arg(&a, "model");
    if (!rc && !model) rc = lk_usage_error("info: --model is required");
    lk_data d;
    memset(&d, 0, sizeof d);
    if (!rc && !(rc = lk_data_load(&d, model))) {
        int named_u = d.nu > 0 && als_ratings_user_name(d.names, d.user_ids[0]) != NULL;
        int named_i = d.ni > 0 && als_ratings_item_name(d.names, d.item_ids[0]) != NULL;
        printf("model:        %s\nrun identity: %016llx\nusers:        %lld (%s ids, column '%s')\n"
               "items:        %lld (%s ids)\nrank:         %lld\ninteractions: %lld distinct "
               "user-item pairs\n", model, (unsigned long long)d.run_id, (long long)d.nu,
               named_u ? "string" : "integer", d.user_col, (long long)d.ni,
               named_i ? "string" : "integer", (long long)d.rank, (long long)d.item_ptr[d.ni]);
        if (d.bad_rows) {
            printf("skipped:      %lld malformed rows when training (--skip-bad), at line%s",
                   (long long)d.bad_rows, d.bad_rows > 1 ? "s" : "");
            for (int i = 0; i < d.n_bad_lines; i++) printf("%s %lld", i ? "," : "", (long long)d.bad_lines[i]);
            printf("%s\n", d.bad_rows > d.n_bad_lines ? ", ..." : "");
        } else {
            printf("skipped:      none\n");
        }
        char buf[4096];
        if (als_model_explain_params(d.model, buf, sizeof buf) >= 0) printf("parameters:\n%s", buf);
    }
    lk_data_free(&d);
    lk_args_free(&a);
    return rc;
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"gen", lk_cmd_gen},       {"train", lk_cmd_train},       {"index", lk_cmd_index},
                {"expand", lk_cmd_expand}, {"backtest", lk_cmd_backtest}, {"run", lk_cmd_run},
                {"info", lk_cmd_info},     {"tune", lk_cmd_tune}};
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? LK_EXIT_USAGE : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("lookalike (libals %s)\n", als_version_string());
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name)) return cmds[i].fn(argc - 2, argv + 2);
    return lk_usage_error("unknown command '%s'", argv[1]);
}
