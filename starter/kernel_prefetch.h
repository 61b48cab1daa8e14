/* Read-ahead on the kernel squashfs path. Each container mounts the image
 * afresh, so the first exec decompresses the program and its libraries
 * again, page fault by page fault: for a 2 MB static busybox on this
 * project's bench VM, ~4 ms of the ~10 ms an exec takes. Right after the
 * squashfs mount, a process on the other core reads ahead what that exec
 * will load (the program, or /bin/sh for the action script; its ELF
 * interpreter; the libraries it names, in ld.so's default directories),
 * while the starter builds the rest of the container.
 *
 * On the FUSE path (setuid mode) the same process runs after the server
 * answers: there every first access is a round trip to squashfs-serve, so
 * it first reads what the starter itself reads from the image before the
 * exec (/etc/passwd, /etc/group, the heads of /bin/sh and its loader, the
 * env files; read, not read ahead: the kernel drops a FUSE read-ahead when
 * the connection is busy), then only opens the program, its loader and
 * libraries (the server pushes a file the kernel opens into the page
 * cache, page_store.h). Measured on the bench VM, random order, 200-300
 * runs each: `exec /bin/true` of the Debian image 0.2 to 0.5 ms faster
 * (of 13 to 16), python3 -c pass 1.5 ms (of 49). Not on the kernel path:
 * its reads wait for the superblock's one decompressor, and reading these
 * first only moved the wait to the libraries (no change end to end).
 *
 * It is an optimisation only, and holds nothing the container lacks: it is
 * forked, clones the image's mount alone (not the container's other
 * mounts), goes back to the caller's mount namespace, closes every fd but
 * that clone, drops privileges for good (privileges.c) and then opens
 * files only as the user, relative to the clone (openat2 RESOLVE_IN_ROOT,
 * no magic links, no other mount), non-blocking, regular files only (and
 * the env files' directory, to list it). As root it does not touch the
 * image at all (no chdir or chroot into it): on FUSE the user's server
 * could hold a root process in a request it never answers. Bounded in
 * files and bytes, it reports nothing and fails silently; SIGALRM ends it
 * after 2 s (without a linger), except while the kernel waits for an
 * answer of the user's FUSE server (uninterruptible: then it lasts as long
 * as the user's server lets it, the user's own process holding the user's
 * own mount). It is a grandchild (the
 * child between exits at once): the container's process never sees it as
 * its own child. Like any daemon it is reparented to init, or to the
 * caller's nearest PR_SET_CHILD_SUBREAPER, which reaps it (before or after
 * the container: a subreaper must tell its own child's exit from an
 * orphan's).
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
        bool fuse;           /* a FUSE mount (squashfs-serve): open, do not read ahead */
        int linger;          /* seconds to hold the mount after the container ends */
};

void kernel_prefetch_start(const struct kernel_prefetch *kp);

#endif
