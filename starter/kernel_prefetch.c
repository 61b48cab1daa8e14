/* The kernel path's read-ahead process (see kernel_prefetch.h). */
#include "kernel_prefetch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elf_deps.h"
#include "env_contract.h"
#include "lib_dirs.h"

#define START "/bin/sh" /* the action script's interpreter */
#define MAX_FILES 16    /* the program, its loader, libc and a few more */
#define MAX_DEPTH 3     /* program -> library -> library */
#define BUDGET (16u << 20)
#define LOOKUPS 256 /* openat2 calls in all: a crafted image's misses are cheap */
#define LIFETIME 2  /* seconds: then SIGALRM ends the read-ahead, done or not (slow storage) */
/* readahead(2) reads at most the device's read-ahead window per call: step
 * through the file in pieces no larger than it. */
#define STEP (128u << 10)
/* What exec reads first (headers, the entry's pages): before the loader and
 * libraries, the rest of the program after them. */
#define HEAD STEP

/* The read-ahead process's only fds (prefetch_as_user). */
#define TREE_FD 0  /* the clone of the image's mount: the root of every lookup */
#define PIDFD_FD 1 /* the container's process, with a linger */

struct file {
        char path[ELF_DEPS_PATH_MAX];
        int depth;
};

struct prefetch {
        int root;
        size_t budget;
        struct file queue[MAX_FILES];
        size_t n, next;
        dev_t dev[MAX_FILES];
        ino_t ino[MAX_FILES];
        size_t nseen;
        unsigned lookups;
        struct elf_deps deps;
};

/* Opens an absolute image path as the kernel would resolve it inside the
 * container (whose root the image is), if it is of that type (S_IFREG,
 * S_IFDIR). */
static int open_typed(struct prefetch *pf, const char *path, mode_t type, struct stat *st)
{
        if (pf->lookups >= LOOKUPS)
                return -1;
        pf->lookups++;
        struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                                        (type == S_IFDIR ? O_DIRECTORY : 0),
                               .resolve =
                                   RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
        int fd = (int)syscall(SYS_openat2, pf->root, path, &how, sizeof(how));
        if (fd >= 0 && (fstat(fd, st) != 0 || (st->st_mode & S_IFMT) != type)) {
                close(fd);
                return -1;
        }
        return fd;
}

static int open_in_image(struct prefetch *pf, const char *path, struct stat *st)
{
        return open_typed(pf, path, S_IFREG, st);
}

static void queue(struct prefetch *pf, const char *path, int depth)
{
        if (pf->n < MAX_FILES && depth <= MAX_DEPTH && strlen(path) < ELF_DEPS_PATH_MAX) {
                strcpy(pf->queue[pf->n].path, path);
                pf->queue[pf->n++].depth = depth;
        }
}

/* Reads [from, to) of fd into the page cache, within the budget. */
static void read_ahead(struct prefetch *pf, int fd, off_t from, off_t to)
{
        for (off_t off = from; off < to && pf->budget > 0;) {
                size_t len = (size_t)(to - off) < STEP ? (size_t)(to - off) : STEP;
                len = len < pf->budget ? len : pf->budget;
                if (readahead(fd, off, len) != 0)
                        return;
                pf->budget -= len;
                off += (off_t)len;
        }
}

/* Queues path if the image has a regular file there. */
static bool queue_if_there(struct prefetch *pf, const char *path, int depth)
{
        struct stat st;
        int fd = open_in_image(pf, path, &st);
        if (fd < 0)
                return false;
        close(fd);
        queue(pf, path, depth);
        return true;
}

/* The first library of that name in ld.so's default directories. */
static void queue_library(struct prefetch *pf, const char *name, int depth)
{
        char path[ELF_DEPS_PATH_MAX];
        if (!name[0] || strchr(name, '/') || pf->n >= MAX_FILES)
                return;
        for (unsigned i = 0;; i++) {
                int got = lib_default_path(pf->deps.machine, i, name, path, sizeof(path));
                if (got == 0 || (got > 0 && queue_if_there(pf, path, depth)))
                        return;
        }
}

static bool seen(struct prefetch *pf, const struct stat *st)
{
        for (size_t i = 0; i < pf->nseen; i++)
                if (pf->dev[i] == st->st_dev && pf->ino[i] == st->st_ino)
                        return true;
        if (pf->nseen < MAX_FILES) {
                pf->dev[pf->nseen] = st->st_dev;
                pf->ino[pf->nseen++] = st->st_ino;
        }
        return false;
}

/* A name without a "/" as the container's PATH would most likely find it:
 * the first regular file of that name in the default PATH. */
static void queue_program(struct prefetch *pf, const char *name)
{
        char path[ELF_DEPS_PATH_MAX];
        if (!name || (name[0] != '/' && strchr(name, '/'))) {
                queue(pf, START, 0); /* none, or relative to the working directory */
                return;
        }
        if (name[0] == '/') {
                queue(pf, name, 0);
                return;
        }
        for (const char *dir = SING_DEFAULT_PATH;;) {
                size_t len = strcspn(dir, ":");
                int n = snprintf(path, sizeof(path), "%.*s/%s", (int)len, dir, name);
                if (n > 0 && (size_t)n < sizeof(path) && queue_if_there(pf, path, 0))
                        return;
                if (!dir[len])
                        break;
                dir += len + 1;
        }
        queue(pf, START, 0); /* not there: its libc is still a good guess */
}

static void prefetch_all(struct prefetch *pf, const char *program)
{
        int first = -1;
        off_t first_size = 0;
        queue_program(pf, program);
        while (pf->next < pf->n && pf->budget > 0) {
                struct file *f = &pf->queue[pf->next++];
                struct stat st;
                int fd = open_in_image(pf, f->path, &st);
                if (fd < 0 || seen(pf, &st)) {
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
                bool program_file = first < 0;
                read_ahead(pf, fd, 0, program_file && st.st_size > HEAD ? HEAD : st.st_size);
                if (elf_deps_read_fd(fd, &pf->deps) == 0) {
                        if (pf->deps.interp[0])
                                queue(pf, pf->deps.interp, f->depth + 1);
                        for (size_t i = 0; i < pf->deps.n_needed; i++)
                                queue_library(pf, pf->deps.needed[i], f->depth + 1);
                }
                if (program_file) {
                        first = fd;
                        first_size = st.st_size;
                } else {
                        close(fd);
                }
        }
        if (first >= 0) {
                read_ahead(pf, first, HEAD, first_size);
                close(first);
        }
}

/* After the drop: its ~210 KiB of state are allocated only now, not in the
 * frame of the function that still runs as root (a small stack limit would
 * fault there). */
static void prefetch_files(const char *program)
{
        struct prefetch *pf = calloc(1, sizeof(*pf));
        if (!pf)
                return;
        pf->budget = BUDGET;
        pf->root = TREE_FD;
        prefetch_all(pf, program);
        free(pf);
}

/* One holder per mount is enough: the first whose container has ended
 * takes a lock on the image's root directory (an inode of this superblock
 * alone) and keeps it; the others leave. */
static bool first_holder(void)
{
        int fd = openat(TREE_FD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return false;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                close(fd);
                return false;
        }
        /* The locked fd holds the mount as well as TREE_FD (O_PATH: no
         * lock on it) did: one fd is left. */
        return dup2(fd, TREE_FD) == TREE_FD && close(fd) == 0;
}

/* The linger counts from the container's end: PIDFD_FD is a pidfd of the
 * starter, which becomes the container's process. */
static void linger(int seconds)
{
        struct pollfd ended = {.fd = PIDFD_FD, .events = POLLIN};
        while (poll(&ended, 1, -1) < 0 && errno == EINTR)
                ;
        close(PIDFD_FD);
        if (!first_holder())
                return;
        /* A sleep to a deadline, not a signal: see prefetch_as_user. */
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += seconds;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == EINTR)
                ;
}

/* Holds only a clone of the image's mount, outside the container's mount
 * namespace: keeping that namespace would keep every mount of the container
 * (a writable overlay image among them) alive after the container is gone. */
static _Noreturn void prefetch_as_user(const struct kernel_prefetch *kp, int tree, int pidfd)
{
        /* Nothing of the starter's from here on but the image's mount, as
         * TREE_FD, and the pidfd, as PIDFD_FD (moved above both first, so
         * neither dup2 overwrites the other). Nothing here touches the
         * tree: no chdir, no chroot into it. The image is the user's input,
         * so every walk of it is the user's, below, relative to TREE_FD
         * with RESOLVE_IN_ROOT. setns also moves our root and cwd to the
         * caller's namespace's root. */
        int t = fcntl(tree, F_DUPFD_CLOEXEC, PIDFD_FD + 1);
        int p = pidfd >= 0 ? fcntl(pidfd, F_DUPFD_CLOEXEC, PIDFD_FD + 1) : -1;
        if (t < 0 || (pidfd >= 0 && p < 0) || setns(kp->host_mntns, CLONE_NEWNS) < 0 ||
            dup2(t, TREE_FD) < 0 || (p >= 0 && dup2(p, PIDFD_FD) < 0) ||
            syscall(SYS_close_range, p >= 0 ? PIDFD_FD + 1 : TREE_FD + 1, ~0U, 0) < 0)
                _exit(0);
        prctl(PR_SET_NAME, "squashfs-hold");
        drop_privileges(kp->user, false);
        /* The caller's signal mask and ignored signals survive the setuid
         * exec: SIGALRM may be blocked or ignored here. */
        sigset_t none;
        sigemptyset(&none);
        signal(SIGALRM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        alarm(LIFETIME);
        prefetch_files(kp->program);
        alarm(0);
        /* The mount, and with it the superblock's page cache and the loop
         * device, lasts while we do: the image's next container on that
         * shared device finds the files already read. */
        if (pidfd >= 0)
                linger(kp->linger);
        _exit(0);
}

void kernel_prefetch_start(const struct kernel_prefetch *kp)
{
        if (kp->host_mntns < 0)
                return;
        /* Cloned here, not in the child: the container's pivot_root may
         * detach the mount from this namespace before a late child came to
         * it (open_tree then fails, EINVAL; seen when this also ran on the
         * FUSE path, whose container process is forked as soon as the plan
         * is done). */
        int tree = open_tree(kp->mnt, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (tree < 0)
                return; /* only an optimisation */
        int pidfd = kp->linger > 0 ? (int)syscall(SYS_pidfd_open, getpid(), 0) : -1;
        pid_t mid = fork();
        if (mid == 0) {
                if (fork() == 0)
                        prefetch_as_user(kp, tree, pidfd);
                _exit(0);
        }
        close(tree);
        if (pidfd >= 0)
                close(pidfd);
        if (mid < 0)
                return; /* only an optimisation */
        while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
                ;
}
