/* Messages in Singularity's style ("INFO:    ...", "ERROR:   ...") on stderr. */
#ifndef SING_LOG_H
#define SING_LOG_H

#include <stdbool.h>

enum log_level {
        LOG_LVL_ERROR = 0, /* -q: errors only */
        LOG_LVL_WARN = 1,
        LOG_LVL_INFO = 2, /* default */
        LOG_LVL_VERBOSE = 3,
        LOG_LVL_DEBUG = 4,
};

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);

/* A transient line on the terminal (the frontend's download progress,
 * frontend/progress.c) registers a hook that every message calls with true
 * before it is written (clear the line, take a lock) and false after
 * (redraw, unlock); NULL removes it. The starter never sets one. */
void log_set_line_hook(void (*hook)(bool before));

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "ERROR:   <msg>" and exit 255. No recovery paths in the starter. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Same, appending ": strerror(errno)". */
void die_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
