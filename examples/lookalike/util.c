/* lookalike: messages, option parsing, atomic output files, clocks, the ALS progress bar. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lookalike.h"

static void vmsg(const char *fmt, va_list ap) {
    fputs("lookalike: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int lk_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    return LK_EXIT_FAIL;
}

int lk_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmsg(fmt, ap);
    va_end(ap);
    fputs("lookalike: run 'lookalike help' for the commands and their options\n", stderr);
    return LK_EXIT_USAGE;
}

int lk_lib_fail(const char *what, int rc) {
    const char *m = als_last_error();
    return lk_fail("%s: %s", what, m && *m ? m : als_strerror(rc));
}

double lk_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int lk_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int lk_parse_double(const char *s, double *out) {
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* ---- atomic output ---- */

int lk_out_open(lk_out *o, const char *path) {
    memset(o, 0, sizeof *o);
    if (strlen(path) >= sizeof o->path) return lk_fail("%s: path too long", path);
    strcpy(o->path, path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
    o->f = fopen(o->tmp, "w");
    if (!o->f) return lk_fail("%s: cannot create its temporary file (%s)", path, strerror(errno));
    return 0;
}

int lk_out_commit(lk_out *o) {
    int bad = ferror(o->f) || fflush(o->f) != 0 || fsync(fileno(o->f)) != 0;
    int e = errno;
    if (fclose(o->f) != 0 && !bad) { bad = 1; e = errno; }
    o->f = NULL;
    if (!bad && rename(o->tmp, o->path) != 0) { bad = 1; e = errno; }
    if (bad) {
        unlink(o->tmp);
        return lk_fail("%s: write failed (%s)", o->path, strerror(e));
    }
    return 0;
}

void lk_out_abort(lk_out *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
}

/* ---- options ---- */

/* Kind of an option in the known lists: 1 one value, 2 several, 0 flag, -1 unknown. */
static int opt_kind(const char *const *const *lists, const char *name) {
    size_t n = strlen(name);
    for (int l = 0; lists[l]; l++)
        for (int i = 0; lists[l][i]; i++) {
            const char *k = lists[l][i];
            size_t m = strlen(k);
            if (m == n && !memcmp(k, name, n)) return 1;
            if (m == n + 1 && !memcmp(k, name, n)) return k[n] == '*' ? 2 : 0;
        }
    return -1;
}

int lk_args_parse(lk_args *a, int argc, char **argv, const char *cmd,
                  const char *const *const *lists) {
    a->n = 0;
    a->v = calloc((size_t)argc + 1, sizeof *a->v);
    if (!a->v) return lk_fail("out of memory");
    int i = 0;
    while (i < argc) {
        const char *w = argv[i];
        if (strncmp(w, "--", 2) != 0 || !w[2])
            return lk_usage_error("%s: unexpected '%s' (options start with --)", cmd, w);
        const char *name = w + 2;
        int kind = opt_kind(lists, name);
        if (kind < 0) return lk_usage_error("%s: unknown option --%s", cmd, name);
        int nv = 0;
        i++;
        while (i < argc && !(argv[i][0] == '-' && argv[i][1] == '-' && argv[i][2])) {
            if (kind == 0 || (kind == 1 && nv == 1))
                return lk_usage_error("%s: unexpected '%s' after --%s", cmd, argv[i], name);
            a->v[a->n].name = name;
            a->v[a->n++].value = argv[i++];
            nv++;
        }
        if (kind != 0 && nv == 0) return lk_usage_error("%s: --%s needs a value", cmd, name);
        if (kind == 0) {
            a->v[a->n].name = name;
            a->v[a->n++].value = NULL;
        }
    }
    return 0;
}

void lk_args_free(lk_args *a) {
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

const char *lk_arg(const lk_args *a, const char *name) {
    const char *r = NULL;
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name)) r = a->v[i].value;
    return r;
}

int lk_arg_flag(const lk_args *a, const char *name) {
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name)) return 1;
    return 0;
}

int lk_arg_all(const lk_args *a, const char *name, const char **out, int cap) {
    int n = 0;
    for (int i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name) && a->v[i].value) {
            if (n < cap) out[n] = a->v[i].value;
            n++;
        }
    return n;
}

/* ---- ratings input and ALS training ---- */

const char *const LK_CSV_OPTS[] = {"sep", "header!", "user-col", "item-col", "value-col",
                                   "time-col", "skip-bad!", "ids", NULL};
const char *const LK_ALS_PARAMS[] = {"rank", "maxIter", "regParam", "implicitPrefs", "alpha",
                                     "nonnegative", "seed", "solver", "cgSteps", "regScaling",
                                     "numThreads", NULL};

int lk_csv_options(const lk_args *a, int want_time, char *buf, size_t cap) {
    const char *sep = lk_arg(a, "sep"), *u = lk_arg(a, "user-col"), *it = lk_arg(a, "item-col");
    const char *v = lk_arg(a, "value-col"), *t = want_time ? lk_arg(a, "time-col") : NULL;
    static const char *const bad = ",=";
    const char *cols[4] = {u, it, v, t};
    for (int i = 0; i < 4; i++)
        if (cols[i] && strpbrk(cols[i], bad))
            return lk_usage_error("column names with ',' or '=' are not supported: '%s'", cols[i]);
    if (sep) { /* the option string is itself comma-separated: name the separator */
        if (!strcmp(sep, ",")) sep = "comma";
        else if (!strcmp(sep, "\t") || !strcmp(sep, "\\t")) sep = "tab";
        else if (!strcmp(sep, ";")) sep = "semicolon";
        else if (!strcmp(sep, " ")) sep = "space";
        else if (!strcmp(sep, "|")) sep = "pipe";
        else if (strpbrk(sep, bad)) return lk_usage_error("--sep: unsupported separator '%s'", sep);
    }
    const char *ids = lk_arg(a, "ids");
    if (ids && strcmp(ids, "auto") && strcmp(ids, "int") && strcmp(ids, "string"))
        return lk_usage_error("--ids is auto, int or string, not '%s'", ids);
    int n = snprintf(buf, cap, "header=%d,user=%s,item=%s%s%s%s%s%s%s%s,ids=%s",
                     lk_arg_flag(a, "header"), u ? u : "0", it ? it : "1", v ? ",value=" : "",
                     v ? v : "", t ? ",time=" : "", t ? t : "", sep ? ",sep=" : "",
                     sep ? sep : "", lk_arg_flag(a, "skip-bad") ? ",skip_bad=1" : "",
                     ids ? ids : "auto");
    if (n < 0 || (size_t)n >= cap) return lk_usage_error("reading options too long");
    /* --numThreads also bounds the threads that parse the file */
    const char *nt = lk_arg(a, "numThreads");
    if (nt && *nt && strspn(nt, "0123456789") == strlen(nt) && strlen(nt) <= 4) {
        int m = snprintf(buf + n, cap - (size_t)n, ",threads=%s", nt);
        if (m < 0 || (size_t)m >= cap - (size_t)n) return lk_usage_error("reading options too long");
    }
    return 0;
}

int lk_model_configure(als_model *m, const lk_args *a) {
    /* Purchase logs are implicit feedback; the rest are Spark's names and values. */
    static const char *const defaults[][2] = {{"implicitPrefs", "true"}, {"regParam", "0.01"},
                                              {"maxIter", "10"}, {"rank", "16"}, {"alpha", "1.0"},
                                              {"seed", "42"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (als_set_param(m, defaults[i][0], defaults[i][1])) return lk_lib_fail("defaults", -1);
    for (int i = 0; i < a->n; i++)
        for (int j = 0; LK_ALS_PARAMS[j]; j++)
            if (!strcmp(a->v[i].name, LK_ALS_PARAMS[j])) {
                int rc = als_set_param(m, a->v[i].name, a->v[i].value);
                if (rc) {
                    char what[128];
                    snprintf(what, sizeof what, "--%s %s", a->v[i].name, a->v[i].value);
                    return lk_lib_fail(what, rc);
                }
            }
    return 0;
}

typedef struct {
    int tty;
    int quiet;
} progress;

static int on_iteration(void *user, int iter, int max_iter, double sec, double loss) {
    const progress *p = user;
    (void)loss;
    if (p->quiet) return 0;
    double eta = iter > 0 ? sec / iter * (max_iter - iter) : 0.0;
    if (p->tty) {
        char bar[31];
        int fill = max_iter > 0 ? (int)(30.0 * iter / max_iter) : 30;
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\rtrain [%s] iteration %d/%d  elapsed %.1f s  ETA %.1f s ", bar, iter,
                max_iter, sec, eta);
        if (iter == max_iter) fputc('\n', stderr);
    } else {
        fprintf(stderr, "train: iteration %d/%d, elapsed %.1f s, ETA %.1f s\n", iter, max_iter,
                sec, eta);
    }
    fflush(stderr);
    return 0;
}

int lk_model_fit(als_model *m, const als_ratings *r, int quiet) {
    progress p = {isatty(2), quiet};
    als_model_set_progress(m, on_iteration, &p);
    int rc = als_model_fit(m, r);
    als_model_set_progress(m, NULL, NULL);
    if (rc) return lk_lib_fail("training", rc);
    return 0;
}

int lk_mkdir_p(const char *dir) {
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

/* ---- plots ---- */

int lk_plot(const char *who, const char *png, int width, int height, const char *body) {
    fflush(stdout);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("%s: gnuplot is not installed, no plot (apt-get install gnuplot-nox)\n", who);
        return 0;
    }
    char script[4300], cmd[4400], tmp[4300];
    snprintf(script, sizeof script, "%s.gp", png);
    snprintf(tmp, sizeof tmp, "%s.tmp.png", png);
    FILE *g = fopen(script, "w");
    if (!g) return lk_fail("%s: cannot write the plot script", script);
    fprintf(g, "set terminal pngcairo size %d,%d font 'sans,12'\nset output '%s'\n%s", width,
            height, tmp, body);
    fclose(g);
    snprintf(cmd, sizeof cmd, "gnuplot '%s' 2>&1", script);
    int ok = system(cmd) == 0 && rename(tmp, png) == 0;
    remove(script);
    if (!ok) {
        remove(tmp);
        return lk_fail("%s: gnuplot failed", png);
    }
    printf("%s: wrote %s\n", who, png);
    return 0;
}
