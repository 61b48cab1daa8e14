/* Proving who a process is before acting on it (joining or signalling an
 * instance). An instance record names a pid and a start time, but records
 * are the user's files and so are input: a pid may have been reused, point
 * at another user's process or at a root one. proc_identity_open() ties one
 * process to a pidfd and a /proc/PID directory fd, and checks its owner and
 * start time through them; whatever the caller then reads or opens through
 * procfd is that process's, or fails (ESRCH) once it is gone. */
#ifndef SING_PROC_IDENTITY_H
#define SING_PROC_IDENTITY_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct proc_identity {
        pid_t pid;
        int pidfd;                     /* pidfd_open(pid): signals go here, never to a bare pid */
        int procfd;                    /* /proc/PID, O_DIRECTORY: stays bound to this process */
        unsigned long long start_time; /* field 22 of /proc/PID/stat, in ticks */
};

/* Open pid and check that it is alive, that its real, effective, saved and
 * file-system uids all equal `uid`, and (when start_time is not 0) that it
 * started at start_time (checked first: a mismatch means the recorded
 * process is gone, and e->code is ESRCH then, as for a dead pid). -1 with a
 * message naming what did not match. */
int proc_identity_open(pid_t pid, unsigned long long start_time, uid_t uid, struct proc_identity *p,
                       sing_err_t *e);
void proc_identity_close(struct proc_identity *p);

/* Start time (ticks after boot) of the process behind procfd; 0 on error. */
unsigned long long proc_start_time(int procfd);

/* Whether the process is still running (not exited, not a zombie reaped). */
bool proc_identity_alive(const struct proc_identity *p);

#endif
