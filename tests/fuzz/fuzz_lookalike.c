/* libFuzzer harness: the lookalike program's input files, through its own commands.
 * examples/lookalike/ (every .c) is compiled into this binary with -Dmain=lookalike_main.
 *
 * At start-up a tiny model is trained twice (string ids and integer ids) with
 * `lookalike train`, and indexed flat and IVF with `lookalike index`, in the per-process
 * temporary folder. Each input then replaces one of the files the program reads and runs
 * a command on the set:
 *   byte 0: bits 0-1 the file: 0 the --seeds file of `expand`, 1 MODEL.info, 2 MODEL.ids,
 *           3 INDEX.meta; bit 2: patch the file's run identity to the model's (so the
 *           fuzzer gets past the run check); bit 3: the integer-id model; bit 4: the IVF
 *           index; bits 5-6 (files 1-3): expand --item with route i2u2u, i2i2u, i2u, or
 *           `info` (i2u2u for INDEX.meta)
 *   byte 1: bits 0-2 --k (0 = auto, else 2^(b-1)), bits 3-4 --agg (none, max, sum, mean),
 *           bits 5-6 --audience (none, 1, 7, 50), bit 7 --nprobe 2 (IVF only, else a
 *           usage error)
 *   the rest: the file's bytes.
 * Checks: the command returns 0, 1 or 2 (never crashes, leaks or hangs), a successful
 * expand leaves its audience file and a failed one leaves no output or temporary file.
 * The program's messages go to /dev/null (FUZZ_VERBOSE=1 keeps them). */
#include "fuzz_util.h"
#include "lk_fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char pristine[1200], work[2][1200];
static uint64_t run_ids[2];
static const char *const FILES[] = {"model.als", "model.als.info", "model.als.ids",
                                    "flat.vidx", "flat.vidx.meta", "ivf.vidx", "ivf.vidx.meta"};
#define NFILES (sizeof FILES / sizeof FILES[0])

static int run(int argc, const char **argv) { return lk_fixture_run(argc, argv); }

/* work[which]/NAME -> the pristine file of that model (every name when name is NULL). */
static void link_files(int which, const char *name) {
    char a[1400], b[1400];
    for (size_t i = 0; i < NFILES; i++) {
        if (name && strcmp(name, FILES[i])) continue;
        snprintf(a, sizeof a, "%s/%d.%s", pristine, which, FILES[i]);
        snprintf(b, sizeof b, "%s/%s", work[which], FILES[i]);
        unlink(b);
        FZ_CHECK(symlink(a, b) == 0, "symlink %s", b);
    }
}

static uint64_t model_run_id(const char *path) {
    als_model *m = NULL;
    FZ_CHECK(als_model_load(&m, path) == ALS_OK, "load %s", path);
    uint64_t r = als_model_run_id(m);
    als_model_destroy(m);
    return r;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fz_init_env();
    if (!getenv("FUZZ_VERBOSE")) { /* stdio only: sanitizer reports still reach fd 2 */
        FILE *null = fopen("/dev/null", "w");
        FZ_CHECK(null != NULL, "/dev/null");
        stdout = null;
        stderr = null;
    }
    fz_path(pristine, sizeof pristine, "pristine");
    FZ_CHECK(mkdir(pristine, 0700) == 0, "mkdir");
    for (int w = 0; w < 2; w++) {
        char csv[1400], model[1400], idx[1400];
        snprintf(csv, sizeof csv, "%s/%d.ratings.csv", pristine, w);
        snprintf(model, sizeof model, "%s/%d.model.als", pristine, w);
        FZ_CHECK(lk_fixture_write(csv, w == 0) == 0, "%s", csv);
        const char *train[] = LK_FIXTURE_TRAIN(csv, model, w == 0);
        FZ_CHECK(run(LK_FIXTURE_TRAIN_ARGC, train) == 0, "train %d", w);
        snprintf(idx, sizeof idx, "%s/%d.flat.vidx", pristine, w);
        const char *flat[] = {"index", "--model", model, "--out", idx, NULL};
        FZ_CHECK(run(5, flat) == 0, "index flat %d", w);
        snprintf(idx, sizeof idx, "%s/%d.ivf.vidx", pristine, w);
        const char *ivf[] = {"index", "--model", model, "--out", idx, "--kind", "ivf", "--nlist", "3", NULL};
        FZ_CHECK(run(9, ivf) == 0, "index ivf %d", w);
        run_ids[w] = model_run_id(model);
        snprintf(work[w], sizeof work[w], "%s/work%d", fz_dir(), w);
        FZ_CHECK(mkdir(work[w], 0700) == 0, "mkdir");
        link_files(w, NULL);
    }
    return 0;
}

/* Put the model's run identity into the file where its format keeps it. */
static void patch_run(unsigned char *f, size_t n, int target, uint64_t run) {
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)run);
    if (target == 2 && n >= 29 && !memcmp(f, "#als-ids run=", 13)) {
        memcpy(f + 13, hex, 16);
    } else if (target == 1 || target == 3) { /* MODEL.info, INDEX.meta: a "run HEX" line */
        for (size_t i = 0; i + 20 <= n; i++)
            if (!memcmp(f + i, "run ", 4)) {
                memcpy(f + i + 4, hex, 16);
                break;
            }
    }
}

/* No output file nor temporary file of it may be left after a failure. */
static void check_no_output(const char *dir) {
    DIR *d = opendir(dir);
    FZ_CHECK(d != NULL, "%s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        FZ_CHECK(strncmp(e->d_name, "out.csv", 7) != 0, "failed command left %s", e->d_name);
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    unsigned b0 = data[0], b1 = data[1];
    int target = b0 & 3, w = (b0 >> 3) & 1, ivf = (b0 >> 4) & 1, variant = (b0 >> 5) & 3;
    size_t n = size - 2;
    unsigned char *file = malloc(n ? n : 1);
    memcpy(file, data + 2, n);
    if (b0 & 4) patch_run(file, n, target, run_ids[w]);

    char seeds[1400], out[1400], model[1400], index[1400], replaced[1400], k[16], aud[16];
    const char *rname = target == 1 ? "model.als.info" : target == 2 ? "model.als.ids"
                      : ivf ? "ivf.vidx.meta" : "flat.vidx.meta";
    snprintf(seeds, sizeof seeds, "%s/seeds.txt", work[w]);
    snprintf(out, sizeof out, "%s/out.csv", work[w]);
    snprintf(model, sizeof model, "%s/model.als", work[w]);
    snprintf(index, sizeof index, "%s/%s.vidx", work[w], ivf ? "ivf" : "flat");
    replaced[0] = 0;
    if (target == 0) {
        fz_write(seeds, file, n);
    } else {
        snprintf(replaced, sizeof replaced, "%s/%s", work[w], rname);
        unlink(replaced);
        fz_write(replaced, file, n);
    }
    free(file);

    const char *argv[32];
    int argc = 0, is_info = target != 0 && target != 3 && variant == 3;
    if (is_info) {
        argv[argc++] = "info";
        argv[argc++] = "--model";
        argv[argc++] = model;
    } else {
        static const char *const routes[] = {"i2u2u", "i2i2u", "i2u", "i2u2u"};
        static const char *const aggs[] = {NULL, "max", "sum", "mean"};
        static const char *const auds[] = {NULL, "1", "7", "50"};
        argv[argc++] = "expand";
        argv[argc++] = "--model";
        argv[argc++] = model;
        argv[argc++] = "--index";
        argv[argc++] = index;
        argv[argc++] = "--out";
        argv[argc++] = out;
        if (target == 0) {
            argv[argc++] = "--seeds";
            argv[argc++] = seeds;
        } else {
            argv[argc++] = "--item";
            argv[argc++] = w == 0 ? "sku-1" : "71";
            argv[argc++] = "--route";
            argv[argc++] = routes[target == 3 ? 0 : variant];
        }
        if (b1 & 7) {
            snprintf(k, sizeof k, "%d", 1 << ((b1 & 7) - 1));
            argv[argc++] = "--k";
            argv[argc++] = k;
        }
        if (aggs[(b1 >> 3) & 3]) {
            argv[argc++] = "--agg";
            argv[argc++] = aggs[(b1 >> 3) & 3];
        }
        if (auds[(b1 >> 5) & 3]) {
            snprintf(aud, sizeof aud, "%s", auds[(b1 >> 5) & 3]);
            argv[argc++] = "--audience";
            argv[argc++] = aud;
        }
        if (b1 & 0x80) {
            argv[argc++] = "--nprobe";
            argv[argc++] = "2";
        }
    }
    argv[argc] = NULL;
    int rc = run(argc, argv);
    FZ_CHECK(rc == 0 || rc == 1 || rc == 2, "lookalike %s returned %d", argv[0], rc);
    if (!is_info) {
        if (rc == 0) {
            FZ_CHECK(access(out, R_OK) == 0, "expand succeeded without %s", out);
            unlink(out);
        }
        check_no_output(work[w]);
    }
    if (target == 0) unlink(seeds);
    else link_files(w, rname);
    return 0;
}
