/* Status-code text and the thread-local error message (libgit2 style: a message per
 * thread, written on every failure, never NULL). */
#include <string.h>

#include "core/internal.h"

#define MSG_CAP 512

static _Thread_local char tls_msg[MSG_CAP];
static _Thread_local int tls_code;

ALS_API const char *als_strerror(int code) {
    switch (code) {
    case ALS_OK: return "success";
    case ALS_EINVAL: return "invalid argument";
    case ALS_ENOMEM: return "out of memory";
    case ALS_ERANGE: return "value out of range";
    case ALS_EDIM: return "dimension mismatch";
    case ALS_ESTATE: return "invalid state for this call";
    case ALS_EIO: return "input/output error";
    case ALS_EFORMAT: return "malformed or corrupt data";
    case ALS_ECANCELED: return "canceled";
    case ALS_ENOTFOUND: return "not found";
    case ALS_EUNSUPPORTED: return "not supported";
    case ALS_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

ALS_API const char *als_last_error(void) { return tls_msg; }

ALS_API int als_last_error_code(void) { return tls_code; }

ALS_API int als_error_set(int code, const char *message) {
    const char *m = message ? message : als_strerror(code);
    size_t n = strlen(m);
    if (n >= MSG_CAP) n = MSG_CAP - 1;
    memcpy(tls_msg, m, n);
    tls_msg[n] = '\0';
    tls_code = code;
    return code;
}
