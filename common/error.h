/* Error object for code that returns 0 / -1 (the frontend and shared code):
 * the callee fills in one message, the caller decides how to report it and
 * what to clean up. The starter uses die() from log.h instead. */
#ifndef SING_ERROR_H
#define SING_ERROR_H

#include <stdarg.h>

typedef struct sing_err {
        int code; /* errno, or 0 when not from a system call */
        char msg[1024];
} sing_err_t;

/* Set the message; returns -1 so callers can `return err_set(...)`. */
int err_set(sing_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, appending ": strerror(errno)" and recording errno. */
int err_errno(sing_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message with more context ("pulling x: <old>"). */
int err_prefix(sing_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
