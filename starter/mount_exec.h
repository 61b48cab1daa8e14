/* Execute a mount plan in one loop, then make its root the process root.
 * Runs in the new mount namespace; dies on the first failure. */
#ifndef STARTER_MOUNT_EXEC_H
#define STARTER_MOUNT_EXEC_H

#include <stdbool.h>
#include <sys/types.h>

#include "build_config.h"
#include "mount_plan.h"
#include "privileges.h"

struct exec_context {
        const struct user_info *user;
        int image_fd;      /* opened and checked image (file or directory) */
        bool userns;       /* unprivileged mode */
        pid_t fuse_server; /* out: the squashfs-serve process, our child, or -1 */
};

void mount_plan_execute(const struct mount_plan *plan, struct exec_context *ctx);

/* pivot_root into plan->root and detach the old root. */
void enter_container_root(const struct mount_plan *plan);

/* The FUSE server (fuse/squashfs_serve.c) installed beside the starter. */
#ifndef FUSE_SERVER_PATH
#define FUSE_SERVER_PATH SING_FUSE_SERVER_PATH
#endif

#endif
