#include "proc_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"

#define PROC_FILE_MAX 8192

static char *read_proc_file(int procfd, const char *name)
{
        _cleanup_close_ int fd = openat(procfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        char *text = NULL;
        size_t len = 0;
        if (fd < 0 || read_all_bounded(fd, PROC_FILE_MAX, &text, &len) < 0)
                return NULL;
        return text;
}

unsigned long long proc_start_time(int procfd)
{
        _cleanup_free_ char *stat = read_proc_file(procfd, "stat");
        /* "PID (COMM) STATE ...": COMM may hold ')' and spaces, so count
         * from the last ')'. STATE is field 3, the start time field 22. */
        char *p = stat ? strrchr(stat, ')') : NULL;
        unsigned long long v = 0;
        if (!p)
                return 0;
        p++;
        for (int field = 3; field < 22 && p; field++) /* p: the space before field+1 */
                p = strchr(p + 1, ' ');
        char *end;
        if (!p)
                return 0;
        errno = 0;
        v = strtoull(p, &end, 10);
        return errno || end == p || (*end != ' ' && *end != '\n') ? 0 : v;
}

/* "Uid:\tR\tE\tS\tF" all equal to uid. */
static int check_uids(int procfd, uid_t uid, sing_err_t *e)
{
        _cleanup_free_ char *status = read_proc_file(procfd, "status");
        char *line = status ? strstr(status, "\nUid:") : NULL;
        unsigned long ids[4];
        char *p = line ? line + 5 : NULL, *end;
        for (int i = 0; i < 4; i++, p = end) {
                errno = 0;
                ids[i] = p ? strtoul(p, &end, 10) : 0;
                if (!p || errno || end == p)
                        return err_set(e, "cannot read its owner");
        }
        for (int i = 0; i < 4; i++)
                if (ids[i] != (unsigned long)uid)
                        return err_set(e, "it belongs to uid %lu, not to you (uid %lu)", ids[i],
                                       (unsigned long)uid);
        return 0;
}

bool proc_identity_alive(const struct proc_identity *p)
{
        /* A pidfd polls readable once its process has exited. (Not signal 0:
         * that needs permission to signal, which another user's process
         * refuses, and would make it look gone.) */
        struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};
        return poll(&pfd, 1, 0) == 0;
}

int proc_identity_open(pid_t pid, unsigned long long start_time, uid_t uid, struct proc_identity *p,
                       sing_err_t *e)
{
        char path[32];
        *p = (struct proc_identity){.pid = pid, .pidfd = -1, .procfd = -1};
        if (pid <= 1)
                return err_set(e, "process %d: not a valid instance process", (int)pid);
        p->pidfd = pidfd_open(pid, 0);
        if (p->pidfd < 0)
                return err_errno(e, "process %d", (int)pid);
        snprintf(path, sizeof(path), "/proc/%d", (int)pid);
        p->procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        /* The pidfd was opened first: if that process is still alive now, the
         * pid cannot have been reused in between, so both name one process. */
        if (p->procfd < 0 || !proc_identity_alive(p)) {
                int saved = p->procfd < 0 ? errno : ESRCH;
                proc_identity_close(p);
                errno = saved;
                return err_errno(e, "process %d", (int)pid);
        }
        p->start_time = proc_start_time(p->procfd);
        if (!p->start_time || (start_time && p->start_time != start_time)) {
                proc_identity_close(p);
                err_set(e,
                        "process %d is not the recorded one (it started at %llu, not %llu): "
                        "the recorded process has exited",
                        (int)pid, p->start_time, start_time);
                e->code = ESRCH;
                return -1;
        }
        if (check_uids(p->procfd, uid, e) < 0) {
                proc_identity_close(p);
                return err_prefix(e, "process %d", (int)pid);
        }
        return 0;
}

void proc_identity_close(struct proc_identity *p)
{
        if (p->pidfd >= 0)
                close(p->pidfd);
        if (p->procfd >= 0)
                close(p->procfd);
        p->pidfd = p->procfd = -1;
}
