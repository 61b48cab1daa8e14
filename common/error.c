#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int err_set(sing_err_t *e, const char *fmt, ...)
{
        va_list ap;
        if (!e)
                return -1;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        e->code = 0;
        return -1;
}

int err_errno(sing_err_t *e, const char *fmt, ...)
{
        int saved = errno;
        va_list ap;
        size_t n;
        if (!e)
                return -1;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        n = strlen(e->msg);
        snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
        e->code = saved;
        errno = saved;
        return -1;
}

int err_prefix(sing_err_t *e, const char *fmt, ...)
{
        char old[sizeof(e->msg)];
        size_t n;
        va_list ap;
        if (!e)
                return -1;
        memcpy(old, e->msg, sizeof(old));
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        n = strlen(e->msg);
        if (n + 2 < sizeof(e->msg)) {
                memcpy(e->msg + n, ": ", 2);
                n += 2;
                /* Truncation of a long chain of context is fine. */
                size_t room = sizeof(e->msg) - n - 1, olen = strlen(old);
                memcpy(e->msg + n, old, olen < room ? olen : room);
                e->msg[n + (olen < room ? olen : room)] = '\0';
        }
        return -1;
}
