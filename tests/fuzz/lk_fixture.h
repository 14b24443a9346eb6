/* The tiny training set of the lookalike harness, shared with make_corpus.c so that the
 * seed corpus's MODEL.info / MODEL.ids / INDEX.meta files have the sizes of the harness's
 * own model (training is deterministic for a seed; only the run identity differs, and the
 * harness can patch that in). 30 users, 8 items; `named`: string ids with a header
 * (customer,sku), one name with a comma and one with quotes; else integer ids. */
#ifndef LK_FIXTURE_H
#define LK_FIXTURE_H

#include <stdio.h>

static int lk_fixture_write(const char *path, int named) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    if (named) fputs("customer,sku\n", f);
    for (int u = 0; u < 30; u++)
        for (int j = 0; j < 8; j++) {
            if ((u * 7 + j * 3) % 5 > 1 && (u % 3) != (j % 3)) continue;
            if (named) {
                const char *fancy = u == 3 ? "\"o'brien, pat\"" : u == 4 ? "\"a \"\"quoted\"\" one\"" : NULL;
                if (fancy) fprintf(f, "%s,sku-%d\n", fancy, j);
                else fprintf(f, "cust%02d,sku-%d\n", u, j);
            } else {
                fprintf(f, "%d,%d\n", 1000 + u * 3, 70 + j);
            }
        }
    return fclose(f) == 0 ? 0 : -1;
}

int lookalike_main(int argc, char **argv);

/* `lookalike ARGV...` (argv without the program name, NULL-terminated, at most 31). */
static int lk_fixture_run(int argc, const char *const *argv) {
    char *v[33];
    v[0] = (char *)"lookalike";
    for (int i = 0; i < argc && i < 31; i++) v[i + 1] = (char *)argv[i];
    v[argc + 1] = NULL;
    return lookalike_main(argc + 1, v);
}

/* `lookalike train` / `index` arguments for the fixture (argc in *n). */
#define LK_FIXTURE_TRAIN(csv, model, named) \
    {"train", "--ratings", (csv), "--out", (model), "--rank", "4", "--maxIter", "3", \
     "--numThreads", "1", "--quiet", (named) ? "--header" : "--quiet", NULL}
#define LK_FIXTURE_TRAIN_ARGC 13

#endif
