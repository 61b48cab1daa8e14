/* Read-ahead on the kernel squashfs path. Each container mounts the image
 * afresh, so the first exec decompresses the program and its libraries
 * again, page fault by page fault: for a 2 MB static busybox on this
 * project's bench VM, ~4 ms of the ~10 ms an exec takes. Right after the
 * squashfs mount, a process on the other core reads ahead what that exec
 * will load (the program, or /bin/sh for the action script; its ELF
 * interpreter; the libraries it names, in ld.so's default directories),
 * while the starter builds the rest of the container.
 *
 * It is an optimisation only, and holds nothing the container lacks: it is
 * forked, chroots into the image's mount, closes every fd, drops privileges
 * for good (privileges.c) and then opens files only as the user, relative
 * to that root (openat2 RESOLVE_IN_ROOT, no magic links, no other mount),
 * non-blocking, regular files only. Bounded in files and bytes, it reports
 * nothing and fails silently; SIGALRM ends it after 2 s in any case. It is
 * a grandchild (the child between exits at once): the container's process
 * never sees it as its own child. Like any daemon it is reparented to init,
 * or to the caller's nearest PR_SET_CHILD_SUBREAPER, which reaps it (before
 * or after the container: a subreaper must tell its own child's exit from an
 * orphan's). */
#ifndef STARTER_KERNEL_PREFETCH_H
#define STARTER_KERNEL_PREFETCH_H

#include "privileges.h"

/* mnt: the squashfs mount (its root is the image's root); program: what
 * exec runs without the shell (an absolute path in the image, or a name the
 * default PATH finds), or NULL (/bin/sh). */
void kernel_prefetch_start(int mnt, const struct user_info *u, const char *program);

#endif
