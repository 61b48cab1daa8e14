/* User namespaces for unprivileged builds.
 *
 * --fakeroot: a child unshares CLONE_NEWUSER and waits; the parent maps
 * 0 -> the user and 1..N -> the user's /etc/subuid (/etc/subgid) range with
 * the setuid helpers newuidmap/newgidmap (userns_map.h), then lets the
 * child go. The child is root in there: it can chown to 1234, chroot, mount
 * /proc; files it makes are owned on the host by the user or the sub ids.
 *
 * userns_run_self maps only the user's own ids (allowed without helpers):
 * enough for mksquashfs to record the user's files as root's.
 *
 * The child's error message travels back through a pipe. */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>

#include "child_status.h"
#include "cleanup.h"
#include "log.h"
#include "tempfile.h"
#include "userns_map.h"

static int write_file(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
        size_t n = strlen(text);
        if (fd < 0 || write(fd, text, n) != (ssize_t)n)
                return -1;
        return 0;
}

/* In the child: send "what: strerror(errno)" to the parent and exit. */
static void __attribute__((noreturn)) child_die(int errfd, const char *what)
{
        sing_err_t ce;
        err_errno(&ce, "%s", what);
        ssize_t r = write(errfd, ce.msg, strlen(ce.msg));
        (void)r;
        _exit(255);
}

static void __attribute__((noreturn)) child_finish(userns_fn fn, void *arg, int errfd)
{
        sing_err_t e = {0};
        int rc = fn(arg, &e);
        if (rc < 0) {
                size_t n = strlen(e.msg);
                if (write(errfd, e.msg, n) != (ssize_t)n)
                        _exit(255);
        }
        fflush(NULL);
        _exit(rc < 0 ? 255 : 0);
}

/* Wait for the child; its error message (if any) into e. */
static int wait_child(pid_t pid, int errfd, sing_err_t *e)
{
        char msg[sizeof(e->msg)];
        size_t got = 0;
        ssize_t r;
        int status;
        while (got < sizeof(msg) - 1 && (r = read(errfd, msg + got, sizeof(msg) - 1 - got)) != 0) {
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        break;
                got += (size_t)r;
        }
        msg[got] = '\0';
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return err_errno(e, "waiting for the build process");
        tempfile_forget_child(pid);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (got)
                return err_set(e, "%s", msg);
        return child_status_check(status, "build process", NULL, e);
}

int userns_run_fakeroot(userns_fn fn, void *arg, sing_err_t *e)
{
        struct subid_ranges ranges;
        int ready[2], go[2], err[2];
        char byte = 0;
        pid_t pid;

        if (subid_ranges_get(&ranges, e) < 0) {
                char why[sizeof(e->msg)];
                snprintf(why, sizeof(why), "%s", e->msg);
                return err_set(e, "%s (ask your administrator for one; --fakeroot needs it)", why);
        }
        if (pipe2(ready, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return err_errno(e, "fork");
        if (pid == 0) {
                close(ready[0]);
                close(go[1]);
                close(err[0]);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (unshare(CLONE_NEWUSER) < 0)
                        child_die(err[1], "cannot create a user namespace for --fakeroot");
                if (write(ready[1], "r", 1) != 1 || read(go[0], &byte, 1) != 1 || byte != 'g')
                        _exit(255); /* the parent reports why */
                if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0)
                        child_die(err[1], "becoming root in the user namespace");
                child_finish(fn, arg, err[1]);
        }
        tempfile_register_cleaning_child(pid);
        close(ready[1]);
        close(go[0]);
        close(err[1]);
        int rc = 0;
        if (read(ready[0], &byte, 1) == 1) {
                if (subid_map_pid(pid, &ranges, e) < 0)
                        rc = -1;
                else if (write(go[1], "g", 1) != 1)
                        rc = err_errno(e, "starting the build process");
        }
        close(ready[0]);
        close(go[1]);
        if (rc < 0) {
                sing_err_t ignored;
                kill(pid, SIGKILL);
                wait_child(pid, err[0], &ignored);
                close(err[0]);
                return -1;
        }
        rc = wait_child(pid, err[0], e);
        close(err[0]);
        return rc;
}

int userns_run_self(userns_fn fn, void *arg, sing_err_t *e)
{
        uid_t uid = getuid();
        gid_t gid = getgid();
        int err[2];
        pid_t pid;

        if (pipe2(err, O_CLOEXEC) < 0)
                return err_errno(e, "pipe");
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return err_errno(e, "fork");
        if (pid == 0) {
                char map[64];
                close(err[0]);
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (unshare(CLONE_NEWUSER) < 0)
                        child_die(err[1], "cannot create a user namespace");
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
                if (write_file("/proc/self/uid_map", map) < 0 ||
                    write_file("/proc/self/setgroups", "deny") < 0)
                        child_die(err[1], "cannot map ids in the user namespace");
                snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
                if (write_file("/proc/self/gid_map", map) < 0)
                        child_die(err[1], "cannot map ids in the user namespace");
                child_finish(fn, arg, err[1]);
        }
        tempfile_register_cleaning_child(pid);
        close(err[1]);
        int rc = wait_child(pid, err[0], e);
        close(err[0]);
        return rc;
}
