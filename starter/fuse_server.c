#include "fuse_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "seccomp_install.h"

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
        pid_t parent = getpid(), pid = fork();
        if (pid < 0)
                die_errno("fork");
        if (pid == 0) {
                /* Move both fds above 4 first: either may already be 3 or 4. */
                int devnull = open("/dev/null", O_RDWR), s = fcntl(sv[1], F_DUPFD, 10),
                    img = fcntl(image_fd, F_DUPFD, 10);
                setsid(); /* terminal signals are for the container, not for us */
                drop_privileges(u, userns);
                seccomp_install_default();
                /* After the drop, which clears it. */
                prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
                if (getppid() != parent || devnull < 0 || s < 0 || img < 0 ||
                    dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(s, 3) < 0 ||
                    dup2(img, 4) < 0)
                        _exit(127);
                close_range(5, ~0U, 0);
                /* An environment of its own, not the user's: glibc's malloc
                 * asks for transparent huge pages for its heaps (in
                 * squashfs_serve.c: why). */
                char *const envp[] = {"GLIBC_TUNABLES=glibc.malloc.hugetlb=1", NULL};
                char *const argv[] = {"squashfs-serve",
                                      "/proc/self/fd/4",
                                      e->data,
                                      "fuse-socket=3",
                                      hint, /* may be NULL: the end */
                                      NULL};
                execve(FUSE_SERVER_PATH, argv, envp);
                _exit(127);
        }
        free(hint);
        /* Only the server holds its end: when it dies, a connection in flight
         * to it is released with it (the mount aborts) and a later send fails. */
        close(sv[1]);
        srv->pid = pid;
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
