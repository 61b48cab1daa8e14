/* Execute a mount plan in one loop, then make its root the process root.
 * Runs in the new mount namespace; dies on the first failure. */
#ifndef STARTER_MOUNT_EXEC_H
#define STARTER_MOUNT_EXEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "fuse_server.h"
#include "mount_plan.h"
#include "privileges.h"

struct exec_context {
        const struct user_info *user;
        int image_fd;                    /* opened and checked image (file or directory) */
        bool userns;                     /* unprivileged mode */
        struct fuse_server *fuse_server; /* started for an OP_SQUASHFS_FUSE entry */
        bool prefetch;                   /* read ahead after a kernel squashfs mount */
        const char *prefetch_program;    /* what it reads first (NULL: /bin/sh) */
        int host_mntns;                  /* where the read-ahead holds the image (< 0: none) */
        int linger;                      /* seconds it holds it after (squashfs mount linger) */
};

void mount_plan_execute(const struct mount_plan *plan, struct exec_context *ctx);

/* pivot_root into plan->root and detach the old root. */
void enter_container_root(const struct mount_plan *plan);

#endif
