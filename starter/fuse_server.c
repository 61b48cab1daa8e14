#include "fuse_server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "seccomp_install.h"

/* The server is our grandchild: a first child (the "mid") starts it and
 * exits, so that it is reparented away (to init, or to the caller's
 * nearest PR_SET_CHILD_SUBREAPER) and the starter can exec the program in
 * place, as on the kernel path, with no process of ours left to wait for
 * it. Both run in our memory (CLONE_VM) until the server's execve, each on
 * a stack of its own, while their parent waits (CLONE_VFORK): what fork()
 * would copy is not copied. Measured on a VM where a fork of a small
 * process takes 0.55 ms, `exec /bin/true` of a SIF 2 to 3 ms faster for
 * the server's fork alone (the copy, and the copy-on-write faults of our
 * own work after it). They parse nothing and run only the calls below;
 * they write our memory only where the starter itself would (errno, the
 * default filter's cache: seccomp_install.c) and the server's pid. */
#define CHILD_STACK ((size_t)256 << 10)
#define GUARD ((size_t)4096)

struct server_child {
        const struct user_info *u;
        bool userns;
        int sock, image_fd;
        char *const *argv;
        const sigset_t *mask; /* the caller's, for the exec */
        pid_t starter;        /* the container's process to be (or its monitor) */
        char *server_stack;   /* its top */
        pid_t pid;            /* the server's, set by the mid */
};

static int server_child(void *arg)
{
        const struct server_child *c = arg;
        /* Every signal is blocked: a handler of ours must not run here, in
         * our memory, once the user may signal this process; after the
         * exec none is left anyway. */
        for (int sig = 1; sig < NSIG; sig++) {
                struct sigaction sa;
                if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_DFL &&
                    sa.sa_handler != SIG_IGN)
                        signal(sig, SIG_DFL);
        }
        /* Move the fds above 5 first: any may already be 3, 4 or 5. */
        int devnull = open("/dev/null", O_RDWR), s = fcntl(c->sock, F_DUPFD, 10),
            img = fcntl(c->image_fd, F_DUPFD, 10);
        setsid(); /* terminal signals are for the container, not for us */
        drop_privileges(c->u, c->userns);
        seccomp_install_default();
        /* No PR_SET_PDEATHSIG: our parent, the mid, exits at once. The
         * server ends with the starter's process instead (fd 5, a pidfd:
         * after the exec it is the container's program, or the monitor),
         * as it did as the starter's child: a process the program left
         * behind in the container does not keep it running. Opened while
         * the starter waits for us, so the pid is still its. */
        int pidfd = (int)syscall(SYS_pidfd_open, c->starter, 0);
        int w = pidfd >= 0 ? fcntl(pidfd, F_DUPFD, 10) : -1;
        if (devnull < 0 || s < 0 || img < 0 || w < 0 || dup2(devnull, 0) < 0 ||
            dup2(devnull, 1) < 0 || dup2(s, 3) < 0 || dup2(img, 4) < 0 || dup2(w, 5) < 0)
                _exit(127);
        close_range(6, ~0U, 0);
        /* An environment of its own, not the user's: glibc's malloc asks
         * for transparent huge pages for its heaps (in squashfs_serve.c:
         * why). */
        char *const envp[] = {"GLIBC_TUNABLES=glibc.malloc.hugetlb=1", NULL};
        sigprocmask(SIG_SETMASK, c->mask, NULL);
        execve(FUSE_SERVER_PATH, c->argv, envp);
        _exit(127);
}

/* Every signal is blocked here too (inherited), and it only clones. */
static int server_mid(void *arg)
{
        struct server_child *c = arg;
        c->pid = clone(server_child, c->server_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, c);
        _exit(c->pid < 0 ? 127 : 0);
}

/* Two stacks, each above a guard page: [guard][mid][guard][server]. */
static char *child_stacks(void)
{
        char *m = mmap(NULL, 2 * (CHILD_STACK + GUARD), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || mprotect(m, GUARD, PROT_NONE) < 0 ||
            mprotect(m + CHILD_STACK + GUARD, GUARD, PROT_NONE) < 0)
                die_errno("stacks for the FUSE server's start");
        return m;
}

void fuse_server_start(struct fuse_server *srv, const struct mount_entry *e,
                       const struct user_info *u, int image_fd, bool userns, const char *prefetch)
{
        int sv[2];
        char *hint = NULL;
        if (prefetch && asprintf(&hint, "prefetch=%s", prefetch) < 0)
                hint = NULL; /* only a hint */
        /* SEQPACKET: the one message (a byte and the fd) arrives whole or not
         * at all, and a closed peer is EPIPE, not a short write. */
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                die_errno("socketpair for the FUSE server");
        char *const argv[] = {"squashfs-serve",
                              "/proc/self/fd/4",
                              e->data,
                              "fuse-socket=3",
                              "watch-pidfd=5",
                              hint, /* may be NULL: the end */
                              NULL};
        char *stacks = child_stacks();
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_SETMASK, &all, &old);
        struct server_child child = {.u = u,
                                     .userns = userns,
                                     .sock = sv[1],
                                     .image_fd = image_fd,
                                     .argv = argv,
                                     .mask = &old,
                                     .starter = getpid(),
                                     .server_stack = stacks + 2 * (CHILD_STACK + GUARD),
                                     .pid = -1};
        pid_t mid = clone(server_mid, stacks + CHILD_STACK + GUARD,
                          CLONE_VM | CLONE_VFORK | SIGCHLD, &child);
        int saved = errno;
        while (mid > 0 && waitpid(mid, NULL, 0) < 0 && errno == EINTR)
                ;
        sigprocmask(SIG_SETMASK, &old, NULL);
        munmap(stacks, 2 * (CHILD_STACK + GUARD));
        if (mid < 0 || child.pid < 0) {
                errno = mid < 0 ? saved : EAGAIN;
                die_errno("starting the FUSE server");
        }
        free(hint);
        /* Only the server holds its end: when it dies, a connection in flight
         * to it is released with it (the mount aborts) and a later send fails. */
        close(sv[1]);
        srv->sock = sv[0];
}

void fuse_server_hand_over(struct fuse_server *srv, int fuse_fd, const char *what)
{
        char byte = 0;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        memset(&ctl, 0, sizeof(ctl));
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl)};
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fuse_fd, sizeof(int));
        if (srv->sock < 0)
                die("no FUSE server was started for %s", what);
        /* MSG_NOSIGNAL: a dead server is an error message, not SIGPIPE. */
        if (sendmsg(srv->sock, &msg, MSG_NOSIGNAL) != 1)
                die_errno("squashfs-serve exited before it got the FUSE connection for %s", what);
        close(srv->sock);
        srv->sock = -1;
}
