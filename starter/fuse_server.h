/* The FUSE server (squashfs-serve, fuse/squashfs_serve.c) for an image the
 * kernel squashfs driver may not mount. It is started before the starter
 * makes its namespaces and mounts anything, so that its start-up (exec,
 * libraries, opening the image and its caches) runs beside the starter's
 * own work; the mount plan (mount_exec.c) then mounts the connection and
 * hands the /dev/fuse fd over on a socket. */
#ifndef STARTER_FUSE_SERVER_H
#define STARTER_FUSE_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "build_config.h"
#include "mount_plan.h"
#include "privileges.h"

/* The FUSE server installed beside the starter. */
#ifndef FUSE_SERVER_PATH
#define FUSE_SERVER_PATH SING_FUSE_SERVER_PATH
#endif

struct fuse_server {
        int sock; /* our end of the socket the connection is sent on, or -1 */
};

/* Start (clone, exec) the server for the plan's OP_SQUASHFS_FUSE entry `e`, as
 * `u` with every privilege dropped (`userns`: in our user namespace, where
 * it can drop the bounding set too) and the default seccomp filter, in a
 * session of its own, as our grandchild (never the container program's
 * child: the starter execs the program in place). It ends with our
 * process (a pidfd of it: after the exec, the program's), with the socket
 * (we died before the hand-over) or with the connection. It gets the image
 * as fd 4, the socket as fd 3, the pidfd as fd 5, /dev/null as 0 and 1, and
 * nothing else.
 * prefetch: the program the container will run first when it is not
 * /bin/sh (an absolute path in the image, a hint for its prefetch), or NULL. */
void fuse_server_start(struct fuse_server *srv, const struct mount_entry *e,
                       const struct user_info *u, int image_fd, bool userns, const char *prefetch);

/* Send the mounted connection's /dev/fuse fd (exactly one) and close the
 * socket. Dies when the server is gone: it can never get the connection. */
void fuse_server_hand_over(struct fuse_server *srv, int fuse_fd, const char *what);

#endif
