#include "squash.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_status.h"
#include "cleanup.h"
#include "log.h"
#include "program_path.h"
#include "squashfs.h"

extern char **environ;

#define MAX_ARGS 40
/* mksquashfs's queues and caches (-mem). The 1.5 GB bench image (bench/,
 * `--only rss`, one machine, in turn): 64M 6.59 s and a tree peak of 100
 * MiB by its processes' own VmHWM, 56M 6.63 s and 96 MiB, 48M 6.72 s and
 * 89 MiB. */
#define SQUASH_MEM "56M"

struct args {
        char *v[MAX_ARGS];
        int n;
        char nums[4][32];
};

static void add(struct args *a, const char *s)
{
        if (a->n < MAX_ARGS - 1)
                a->v[a->n++] = (char *)s;
        a->v[a->n] = NULL;
}

/* Flags shared by both modes. Checked against `mksquashfs -help` (4.5.1).
 * Times are kept (no -all-time); -no-strip is tar's behaviour and makes no
 * difference for our already normalised names. */
static void add_common(struct args *a, uint64_t offset, const char *compressor, int level,
                       int processors)
{
        snprintf(a->nums[0], sizeof(a->nums[0]), "%" PRIu64, offset);
        add(a, "-offset");
        add(a, a->nums[0]);
        add(a, "-noappend");
        add(a, "-no-progress");
        add(a, "-quiet");
        /* mksquashfs sizes its caches from physical memory (GBs on a login
         * node); SQUASH_MEM is as fast here and keeps a pull's peak RSS small
         * on a shared machine. */
        add(a, "-mem");
        add(a, SQUASH_MEM);
        add(a, "-comp");
        add(a, compressor && *compressor ? compressor : "zstd");
        if (level > 0) {
                snprintf(a->nums[1], sizeof(a->nums[1]), "%d", level);
                add(a, "-Xcompression-level");
                add(a, a->nums[1]);
        }
        if (processors > 0) {
                snprintf(a->nums[2], sizeof(a->nums[2]), "%d", processors);
                add(a, "-processors");
                add(a, a->nums[2]);
        }
}

static void release(struct squash_proc *p)
{
        if (p->fd >= 0)
                close(p->fd);
        if (p->logfd >= 0)
                close(p->logfd);
        free(p->out_path);
        p->fd = p->logfd = -1;
        p->pid = -1;
        p->out_path = NULL;
}

static void kill_and_reap(struct squash_proc *p)
{
        if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                p->pid = -1;
        }
}

static int spawn(struct args *a, int stdin_fd, struct squash_proc *p, sing_err_t *e)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, dfl;
        int r;

        p->logfd = memfd_create("mksquashfs-output", MFD_CLOEXEC);
        if (p->logfd < 0)
                return err_errno(e, "memfd_create");
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
        posix_spawn_file_actions_adddup2(&fa, p->logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, p->logfd, 2);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigemptyset(&dfl);
        sigaddset(&dfl, SIGPIPE);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &dfl);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        r = posix_spawnp(&p->pid, "mksquashfs", &fa, &attr, a->v, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (r != 0) {
                p->pid = -1;
                errno = r;
                if (r == ENOENT)
                        return err_set(e, "mksquashfs not found on PATH (install squashfs-tools)");
                return err_errno(e, "starting mksquashfs");
        }
        if (log_get_level() >= LOG_LVL_DEBUG) {
                char line[1024] = "";
                for (int i = 0; i < a->n; i++)
                        snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", a->v[i]);
                log_debug("running%s", line);
        }
        return 0;
}

static bool write_proc_file(const char *path, const char *text)
{
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        bool ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
        if (fd >= 0)
                close(fd);
        return ok;
}

/* mksquashfs -tar makes the root directory owned by whoever runs it and
 * ignores -root-uid/-root-gid in tar mode (squashfs-tools 4.5.1; "./"
 * entries and pseudo definitions do not help either). An unprivileged
 * puller runs it in a new user namespace where it is uid/gid 0, so "/" is
 * 0:0 in the image; the owners it writes come from the tar headers, and
 * the output file stays the puller's. Without user namespaces, "/" is the
 * puller's, with a warning. Only async-signal-safe calls after fork(): the
 * download thread may hold locks. */
static int spawn_in_userns(struct args *a, int stdin_fd, struct squash_proc *p, sing_err_t *e)
{
        char exe[4096], uid_map[64], gid_map[64];
        sigset_t none;
        pid_t pid;

        if (program_path("mksquashfs", exe, sizeof(exe)) < 0)
                return err_set(e, "mksquashfs not found on PATH (install squashfs-tools)");
        snprintf(uid_map, sizeof(uid_map), "0 %u 1\n", (unsigned)geteuid());
        snprintf(gid_map, sizeof(gid_map), "0 %u 1\n", (unsigned)getegid());
        p->logfd = memfd_create("mksquashfs-output", MFD_CLOEXEC);
        if (p->logfd < 0)
                return err_errno(e, "memfd_create");
        sigemptyset(&none);
        pid = fork();
        if (pid < 0)
                return err_errno(e, "starting mksquashfs");
        if (pid == 0) {
                static const char warn[] = "cannot create a user namespace: / of the image is "
                                           "owned by the puller\n";
                if (dup2(stdin_fd, 0) < 0 || dup2(p->logfd, 1) < 0 || dup2(p->logfd, 2) < 0)
                        _exit(127);
                signal(SIGPIPE, SIG_DFL);
                sigprocmask(SIG_SETMASK, &none, NULL);
                if (unshare(CLONE_NEWUSER) == 0) {
                        if (!write_proc_file("/proc/self/setgroups", "deny") ||
                            !write_proc_file("/proc/self/uid_map", uid_map) ||
                            !write_proc_file("/proc/self/gid_map", gid_map))
                                _exit(126);
                } else if (write(2, warn, sizeof(warn) - 1) < 0) {
                        _exit(127);
                }
                execve(exe, a->v, environ);
                _exit(127);
        }
        p->pid = pid;
        log_debug("running mksquashfs -tar as root of a user namespace");
        return 0;
}

static int init_proc(struct squash_proc *p, const char *out_path, uint64_t offset, sing_err_t *e)
{
        memset(p, 0, sizeof(*p));
        p->fd = p->logfd = -1;
        p->pid = -1;
        p->offset = offset;
        p->out_path = strdup(out_path);
        if (!p->out_path)
                return err_set(e, "out of memory");
        return 0;
}

int squash_start(const char *out_path, uint64_t offset, const char *compressor, int level,
                 int processors, struct squash_proc *p, sing_err_t *e)
{
        struct args a = {.n = 0};
        int pipefd[2];

        if (init_proc(p, out_path, offset, e) < 0)
                return -1;
        add(&a, "mksquashfs");
        add(&a, "-");
        add(&a, out_path);
        add(&a, "-tar");
        add_common(&a, offset, compressor, level, processors);
        add(&a, "-root-mode");
        add(&a, "0755");
        add(&a, "-no-strip");

        if (pipe2(pipefd, O_CLOEXEC) < 0) {
                err_errno(e, "pipe");
                release(p);
                return -1;
        }
        /* A dead reader must not kill us: writes then fail with EPIPE. */
        signal(SIGPIPE, SIG_IGN);
        if ((geteuid() == 0 ? spawn(&a, pipefd[0], p, e) : spawn_in_userns(&a, pipefd[0], p, e)) <
            0) {
                close(pipefd[0]);
                close(pipefd[1]);
                release(p);
                return -1;
        }
        close(pipefd[0]);
        p->fd = pipefd[1];
        return 0;
}

/* -1 with the message when mksquashfs did not exit 0, with the end of its
 * output. */
static int describe_failure(struct squash_proc *p, int status, sing_err_t *e)
{
        char tail[600];
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        output_tail(p->logfd, tail, sizeof(tail));
        return child_status_check(status, "mksquashfs (building the squashfs image)", tail, e);
}

static int measure(struct squash_proc *p, uint64_t *fs_size, sing_err_t *e)
{
        _cleanup_close_ int fd = open(p->out_path, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return err_errno(e, "opening %s", p->out_path);
        uint64_t avail = (uint64_t)st.st_size > p->offset ? (uint64_t)st.st_size - p->offset : 0;
        if (squashfs_check(fd, p->offset, avail, NULL, e) < 0)
                return err_prefix(e, "%s", p->out_path);
        /* bytes written, including mksquashfs's padding to 4 KiB */
        *fs_size = (uint64_t)st.st_size - p->offset;
        return 0;
}

int squash_finish(struct squash_proc *p, uint64_t *fs_size, sing_err_t *e)
{
        int status = 0, ret = -1;

        if (p->fd >= 0) {
                close(p->fd);
                p->fd = -1;
        }
        if (p->pid <= 0) {
                err_set(e, "mksquashfs is not running");
                goto out;
        }
        while (waitpid(p->pid, &status, 0) < 0) {
                if (errno != EINTR) {
                        err_errno(e, "waiting for mksquashfs");
                        kill_and_reap(p);
                        goto out;
                }
        }
        p->pid = -1;
        if (describe_failure(p, status, e) < 0)
                goto out;
        if (measure(p, fs_size, e) < 0)
                goto out;
        ret = 0;
out:
        release(p);
        return ret;
}

void squash_abort_explained(struct squash_proc *p, sing_err_t *e)
{
        struct pollfd pf = {.fd = p->fd, .events = POLLOUT};
        int status;
        /* No reader left on the pipe: mksquashfs has ended or is ending, and
         * its end, not our write error, is what the user needs to know. */
        if (p->pid > 0 && p->fd >= 0 && poll(&pf, 1, 0) == 1 && (pf.revents & POLLERR)) {
                close(p->fd);
                p->fd = -1;
                while (waitpid(p->pid, &status, 0) < 0)
                        if (errno != EINTR)
                                goto kill;
                p->pid = -1;
                describe_failure(p, status, e);
        }
kill:
        squash_abort(p);
}

void squash_abort(struct squash_proc *p)
{
        kill_and_reap(p);
        release(p);
}

int squash_dir(const char *dir, const char *out_path, uint64_t offset, const char *compressor,
               int level, int processors, uint64_t *fs_size, sing_err_t *e)
{
        struct squash_proc p;
        struct args a = {.n = 0};
        _cleanup_close_ int devnull = -1;

        if (init_proc(&p, out_path, offset, e) < 0)
                return -1;
        devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull < 0) {
                err_errno(e, "/dev/null");
                release(&p);
                return -1;
        }
        add(&a, "mksquashfs");
        add(&a, dir);
        add(&a, out_path);
        add_common(&a, offset, compressor, level, processors);
        if (spawn(&a, devnull, &p, e) < 0) {
                release(&p);
                return -1;
        }
        return squash_finish(&p, fs_size, e);
}
