/* lookalike: audience expansion ("lookalike") from a purchase log, on libals + libvecidx.
 *
 *   lookalike gen      synthetic purchase log with planted communities
 *   lookalike train    ratings file -> ALS model
 *   lookalike index    model -> user index (flat or IVF; cosine, ip or l2)
 *   lookalike expand   target item(s) or seed users -> audience CSV
 *   lookalike backtest time split, then precision / recall / lift of each route
 *   lookalike run      train + index + expand in one command
 *
 * Every failure is one line on stderr and a non-zero exit (1: runtime, 2: usage); every
 * output file is written to a temporary name and renamed, so none is ever partial.
 * Walk-through: docs/lookalike.md. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    "             --seed 1 --zipf 1.0 --affinity 0.8 --start 2024-01-01 --days 365 --string-ids]\n"
    "  train     --ratings FILE --out MODEL [reading] [ALS] [--quiet]\n"
    "  index     --model MODEL --out INDEX [--kind flat|ivf] [--nlist N] [--metric cosine|ip|l2]\n"
    "  expand    --model MODEL --index INDEX (--item ID... | --seeds FILE) --out AUDIENCE.csv\n"
    "            [--route i2u2u|i2i2u|i2u] [--audience 100000] [--k auto|N] [--nprobe P]\n"
    "            [--agg sum|max|mean]\n"
    "  backtest  --ratings FILE (--item ID... | --top-items N) (--time-split DATE|--fraction 0.8)\n"
    "            [--route i2u2u,i2i2u,i2u] [--audience 1000,5000,...] [--out backtest.csv]\n"
    "            [--plot backtest.png] [--kind --nlist --metric --k --nprobe] [reading] [ALS]\n"
    "  run       --ratings FILE --item ID... [--dir DIR] [--out AUDIENCE.csv] [reading] [ALS]\n"
    "            [index and expand options]: train, index and expand in one command\n"
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

static int mkdir_p(const char *dir) {
    char p[4096];
    if (strlen(dir) >= sizeof p) return lk_fail("%s: path too long", dir);
    strcpy(p, dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0777);
            *s = '/';
        }
    struct stat st;
    if (mkdir(p, 0777) != 0 && (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)))
        return lk_fail("%s: cannot create the folder", dir);
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
        rc = lk_usage_error("run: --route is i2u2u, i2i2u or i2u, not '%s'", lk_arg(&a, "route"));
    if (!rc && lk_arg(&a, "nlist") && lk_parse_i64(lk_arg(&a, "nlist"), 1, INT32_MAX, &nlist))
        rc = lk_usage_error("run: --nlist is a positive integer");
    if (!rc && (lk_arg(&a, "model") || lk_arg(&a, "index")))
        rc = lk_usage_error("run: writes its own model and index under --dir");
    if (!rc) rc = mkdir_p(dir);
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
    if (!(rc = lk_read_ratings(&a, in, 0, &r)) && !(rc = lk_train_with(&a, r, model, &d))) {
        t1 = lk_now();
        rc = lk_index_build(&idx, &d, lk_arg(&a, "kind") ? lk_arg(&a, "kind") : "flat", nlist,
                            lk_arg(&a, "metric") ? lk_arg(&a, "metric") : "cosine", &meta,
                            lk_arg_flag(&a, "quiet"));
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

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"gen", lk_cmd_gen},       {"train", lk_cmd_train},       {"index", lk_cmd_index},
                {"expand", lk_cmd_expand}, {"backtest", lk_cmd_backtest}, {"run", lk_cmd_run}};
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
