/* Read-ahead on the kernel squashfs path. Each container mounts the image
 * afresh, so the first exec decompresses the program and its libraries
 * again, page fault by page fault: for a 2 MB static busybox on this
 * project's bench VM, ~4 ms of the ~10 ms an exec takes. Right after the
 * squashfs mount, a process on the other core reads ahead what that exec
 * will load (the program, or /bin/sh for the action script; its ELF
 * interpreter; the libraries it names, in ld.so's default directories),
 * while the starter builds the rest of the container.
 *
 * Not on the FUSE path: there it once read what the starter reads from
 * the image (/etc/passwd, /etc/group, /bin/sh, the env files) and opened
 * the program's files: `exec /bin/true` 0.2 to 0.5 ms faster on a VM
 * where a process without libc starts in 0.25 ms, 4 to 5 ms slower on
 * one where it takes 1.4 ms and a fork of a small process 0.55 ms (two
 * forks, and its reads beside the server's on two cores); squashfs-serve
 * prefetches there itself.
 *
 * It is an optimisation only, and holds nothing the container lacks: it is
 * forked, clones the image's mount alone (not the container's other
 * mounts), goes back to the caller's mount namespace, closes every fd but
 * that clone, drops privileges for good (privileges.c) and then opens
 * files only as the user, relative to the clone (openat2 RESOLVE_IN_ROOT,
 * no magic links, no other mount), non-blocking, regular files only. As
 * root it does not touch the image at all (no chdir or chroot into it:
 * the image is the user's input). Bounded in files and bytes, it reports
 * nothing and fails silently; SIGALRM ends it after 2 s (without a
 * linger). It is a grandchild (the child between exits at once): the
 * container's process never sees it as its own child. Like any daemon it
 * is reparented to init, or to the caller's nearest PR_SET_CHILD_SUBREAPER,
 * which reaps it (before or after the container: a subreaper must tell its
 * own child's exit from an orphan's).
 *
 * With `squashfs mount linger` (config.h) it then waits for the end of the
 * container's process (a pidfd) and keeps the mount that many seconds more,
 * one such holder per mount: the superblock, its page cache and the shared
 * loop device outlive the container, and the image's next container finds
 * the files already read. */
#ifndef STARTER_KERNEL_PREFETCH_H
#define STARTER_KERNEL_PREFETCH_H

#include "privileges.h"

struct kernel_prefetch {
        int mnt;        /* the squashfs mount (its root: the image's root) */
        int host_mntns; /* the mount namespace to hold it in; < 0: no read-ahead */
        const struct user_info *user;
        const char *program; /* what exec runs without the shell (an absolute path in
                                the image, or a name the default PATH finds), or NULL
                                (/bin/sh) */
        int linger;          /* seconds to hold the mount after the container ends */
};

void kernel_prefetch_start(const struct kernel_prefetch *kp);

#endif
