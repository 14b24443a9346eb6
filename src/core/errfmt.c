/* printf-style error recording, shared (hidden) by both libraries. It formats locally and
 * hands the text to libals's thread-local slot, so one message slot serves both. */
#include <stdarg.h>
#include <stdio.h>

#include "core/internal.h"

int als__errf(int code, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return als_error_set(code, buf);
}
