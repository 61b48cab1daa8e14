/* What a helper process (mksquashfs, cp, a %post script, the image tool)
 * that did not succeed tells the user: one wording for every caller.
 *   WHAT was killed by signal 9 (Killed)[: TAIL]
 *   WHAT failed with exit status 3[: TAIL]
 * A signal is named: the OOM killer, a job scheduler's limit and a user's
 * kill look alike otherwise. */
#ifndef SING_CHILD_STATUS_H
#define SING_CHILD_STATUS_H

#include <stddef.h>

#include "error.h"

/* 0 when status (from waitpid) is a clean exit, else -1 with the message.
 * tail: the end of the helper's output (output_tail), may be NULL or "". */
int child_status_check(int status, const char *what, const char *tail, sing_err_t *e);

/* The end of a helper's output captured in fd (a memfd or file), at most
 * sz - 1 bytes, on one line. */
void output_tail(int fd, char *buf, size_t sz);

#endif
