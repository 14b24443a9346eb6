/* File helpers: atomic writes (temp + fsync + rename) and bounded whole-file reads. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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
    w->path = w->tmp = NULL;
    w->tab = NULL;
    w->f = NULL;
}

int als__wfile_open(als__wfile *w, const char *path) {
    memset(w, 0, sizeof *w);
    size_t n = strlen(path);
    w->path = dup_str(path);
    w->tmp = malloc(n + 16);
    w->tab = malloc(sizeof *w->tab);
    if (!w->path || !w->tmp || !w->tab) {
        free(w->path);
        free(w->tmp);
        free(w->tab);
        w->path = w->tmp = NULL;
        w->tab = NULL;
        return als__errf(ALS_ENOMEM, "out of memory opening %s", path);
    }
    als__crc_init(w->tab);
    memcpy(w->tmp, path, n);
    memcpy(w->tmp + n, ".tmp.XXXXXX", 12);
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
        close(fd);
        unlink(w->tmp);
        wfile_free(w);
        return als__errf(ALS_EIO, "cannot open %s for writing", path);
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
    /* Make the rename itself durable. */
    char *dir = dup_str(w->path);
    if (dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
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
