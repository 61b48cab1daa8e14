#include "receive_fuse_fd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* /dev/fuse: misc character device 10, minor 229 (devices.txt). */
#define FUSE_MAJOR 10
#define FUSE_MINOR 229
#define MAX_FDS 4 /* room to see (and close) a few more than the one we accept */

int receive_fuse_fd(int sock)
{
        char byte;
        struct iovec iov = {.iov_base = &byte, .iov_len = 1};
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        } ctl;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl)};
        ssize_t n;
        do
                n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        close(sock);
        int fds[MAX_FDS], nfds = 0;
        for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k && nfds < MAX_FDS; i++)
                        memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
        struct stat st;
        if (n == 1 && nfds == 1 && !(msg.msg_flags & MSG_CTRUNC) && fstat(fds[0], &st) == 0 &&
            S_ISCHR(st.st_mode) && major(st.st_rdev) == FUSE_MAJOR &&
            minor(st.st_rdev) == FUSE_MINOR)
                return fds[0];
        for (int i = 0; i < nfds; i++)
                close(fds[i]);
        if (n < 0)
                fprintf(stderr, "squashfs-serve: waiting for the FUSE connection: %s\n",
                        strerror(saved));
        else if (n > 0) /* n == 0: the starter exited, and has said why */
                fprintf(stderr, "squashfs-serve: expected exactly one /dev/fuse descriptor\n");
        return -1;
}
