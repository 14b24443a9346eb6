/* File helpers: atomic writes (temp + fsync + rename) and bounded whole-file reads. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static void wfile_free(als__wfile *w) {
    free(w->path);
    free(w->tmp);
    free(w->tab);
    free(w->dir);
    w->dir = NULL;
    w->path = w->tmp = NULL;
    w->tab = NULL;
    w->f = NULL;
}

/* Temporary files are named PATH.tmp.PID.XXXXXX. A save killed half-way (SIGKILL, power
 * loss) leaves one behind; the next save of PATH removes those whose process is gone
 * (kill(pid, 0) says ESRCH), and those of 1.0's naming (PATH.tmp.XXXXXX) older than an
 * hour. A temporary file of a live process is never touched. */
static int tmp_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void remove_stale_temps(const char *dirpath, const char *base) {
    DIR *d = opendir(dirpath);
    if (!d) return;
    size_t bl = strlen(base);
    struct dirent *e;
    time_t now = time(NULL);
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, bl) != 0 || strncmp(nm + bl, ".tmp.", 5) != 0) continue;
        const char *p = nm + bl + 5, *q = p;
        long pid = 0;
        while (*q >= '0' && *q <= '9' && pid < 1000000000L) pid = pid * 10 + (*q++ - '0');
        int stale = 0;
        if (q > p && *q == '.' && strlen(q + 1) == 6) { /* PATH.tmp.PID.XXXXXX */
            for (int i = 1; i <= 6; i++) if (!tmp_char(q[i])) goto next;
            stale = pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
        } else if (strlen(p) == 6) { /* 1.0's PATH.tmp.XXXXXX: no owner to ask, so by age */
            for (int i = 0; i < 6; i++) if (!tmp_char(p[i])) goto next;
            struct stat st;
            stale = fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                    now - st.st_mtime > 3600;
        }
        if (stale) unlinkat(dirfd(d), nm, 0);
    next:;
    }
    closedir(d);
}

int als__wfile_open(als__wfile *w, const char *path) {
    memset(w, 0, sizeof *w);
    size_t n = strlen(path);
    w->path = dup_str(path);
    w->tmp = malloc(n + 40);
    w->tab = malloc(sizeof *w->tab);
    char *dcopy = dup_str(path), *bcopy = dup_str(path);
    /* the folder, for the fsync after the rename: found now, so commit needs no memory */
    w->dir = dcopy ? dup_str(dirname(dcopy)) : NULL;
    if (!w->path || !w->tmp || !w->tab || !w->dir || !bcopy) {
        free(dcopy);
        free(bcopy);
        wfile_free(w);
        return als__errf(ALS_ENOMEM, "out of memory opening %s", path);
    }
    remove_stale_temps(w->dir, basename(bcopy));
    free(dcopy);
    free(bcopy);
    als__crc_init(w->tab);
    snprintf(w->tmp, n + 40, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int fd = mkstemp(w->tmp);
    if (fd < 0) {
        int e = errno;
        wfile_free(w);
        return als__errf(ALS_EIO, "cannot create a temporary file beside %s: %s", path,
                         strerror(e));
    }
    fchmod(fd, 0644);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        int e = errno;
        close(fd);
        unlink(w->tmp);
        wfile_free(w);
        return als__errf(e == ENOMEM ? ALS_ENOMEM : ALS_EIO, "cannot open %s for writing: %s",
                         path, strerror(e));
    }
    return ALS_OK;
}

void als__wfile_write(als__wfile *w, const void *p, size_t n) {
    if (w->failed || n == 0) return;
    w->crc = als__crc32_tab(w->tab, w->crc, p, n);
    if (fwrite(p, 1, n, w->f) != n) w->failed = errno ? errno : EIO;
}

void als__wfile_abort(als__wfile *w) {
    if (w->f) fclose(w->f);
    if (w->tmp) unlink(w->tmp);
    wfile_free(w);
}

int als__wfile_commit(als__wfile *w) {
    int e = w->failed;
    if (!e && fflush(w->f) != 0) e = errno;
    if (!e && fsync(fileno(w->f)) != 0) e = errno;
    if (fclose(w->f) != 0 && !e) e = errno;
    w->f = NULL;
    if (!e && rename(w->tmp, w->path) != 0) e = errno;
    if (e) {
        unlink(w->tmp);
        int rc = als__errf(ALS_EIO, "cannot write %s: %s", w->path, strerror(e));
        wfile_free(w);
        return rc;
    }
    /* Make the rename itself durable: a failure here is an error (the new file is in place
     * but might not survive a crash). File systems that cannot sync a folder say EINVAL. */
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL && errno != ENOTSUP)) {
        e = errno;
        if (dfd >= 0) close(dfd);
        int rc = als__errf(ALS_EIO, "wrote %s, but could not sync its folder %s (%s): the "
                           "file may not survive a crash", w->path, w->dir, strerror(e));
        wfile_free(w);
        return rc;
    }
    close(dfd);
    wfile_free(w);
    return ALS_OK;
}

int als__rfile_open(als__rfile *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        int e = errno;
        return als__errf(e == ENOENT ? ALS_ENOTFOUND : ALS_EIO, "cannot open %s: %s", path,
                         strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return als__errf(ALS_EIO, "%s is not a regular file", path);
    }
    r->tab = malloc(sizeof *r->tab);
    r->f = r->tab ? fdopen(fd, "rb") : NULL;
    if (!r->f) {
        close(fd);
        free(r->tab);
        r->tab = NULL;
        return als__errf(ALS_ENOMEM, "cannot open %s: out of memory", path);
    }
    als__crc_init(r->tab);
    r->size = (uint64_t)st.st_size;
    return ALS_OK;
}

int als__rfile_read(als__rfile *r, void *p, size_t n) {
    if (n == 0) return ALS_OK;
    if (n > r->size - r->pos)
        return als__errf(ALS_EFORMAT, "%s is truncated: %zu bytes wanted at offset %llu of %llu",
                         r->path, n, (unsigned long long)r->pos, (unsigned long long)r->size);
    if (fread(p, 1, n, r->f) != n)
        return als__errf(ALS_EIO, "read error on %s at offset %llu", r->path,
                         (unsigned long long)r->pos);
    r->pos += n;
    r->crc = als__crc32_tab(r->tab, r->crc, p, n);
    return ALS_OK;
}

void als__rfile_close(als__rfile *r) {
    if (r->f) fclose(r->f);
    free(r->tab);
    r->tab = NULL;
    r->f = NULL;
}
