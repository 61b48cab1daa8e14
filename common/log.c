#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum log_level current = LOG_LVL_INFO;
static void (*_Atomic line_hook)(bool before);

void log_set_line_hook(void (*hook)(bool before))
{
        line_hook = hook;
}

void log_set_level(enum log_level lvl)
{
        current = lvl;
}

enum log_level log_get_level(void)
{
        return current;
}

static void vlog(enum log_level lvl, const char *tag, const char *fmt, va_list ap)
{
        char buf[4096];
        void (*hook)(bool) = line_hook;
        if (lvl > current)
                return;
        vsnprintf(buf, sizeof(buf), fmt, ap);
        if (hook)
                hook(true);
        /* One write per message so lines from concurrent processes do not mix. */
        fprintf(stderr, "%-8s %s\n", tag, buf);
        if (hook)
                hook(false);
}

#define DEFINE_LOG(name, lvl, tag)                                                                 \
        void name(const char *fmt, ...)                                                            \
        {                                                                                          \
                va_list ap;                                                                        \
                va_start(ap, fmt);                                                                 \
                vlog(lvl, tag, fmt, ap);                                                           \
                va_end(ap);                                                                        \
        }

DEFINE_LOG(log_error, LOG_LVL_ERROR, "ERROR:")
DEFINE_LOG(log_warn, LOG_LVL_WARN, "WARNING:")
DEFINE_LOG(log_info, LOG_LVL_INFO, "INFO:")
DEFINE_LOG(log_verbose, LOG_LVL_VERBOSE, "VERBOSE:")
DEFINE_LOG(log_debug, LOG_LVL_DEBUG, "DEBUG:")

void die(const char *fmt, ...)
{
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "ERROR:   %s\n", buf);
        exit(255);
}

void die_errno(const char *fmt, ...)
{
        int saved = errno;
        char buf[2048];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        fprintf(stderr, "ERROR:   %s: %s\n", buf, strerror(saved));
        exit(255);
}
