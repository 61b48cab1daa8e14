/* Running a helper program (mksquashfs, cp, newuidmap...) and waiting for
 * it, with one failure message (child_status.h). */
#ifndef SING_RUN_COMMAND_H
#define SING_RUN_COMMAND_H

#include "error.h"

/* Run argv (found on PATH) with stdin /dev/null and stdout to out_fd (-1:
 * captured with stderr); a failure reports the status and the last line of
 * its output. */
int run_command(char *const argv[], int out_fd, sing_err_t *e);

#endif
