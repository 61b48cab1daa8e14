/* The user's --overlay directories as overlayfs layers. Every layer outside
 * the session is opened with the user's file-system ids and handed to the
 * kernel as /proc/self/fd/N, never as a path the user could swap between
 * our check and the mount. */
#ifndef STARTER_OVERLAY_LAYERS_H
#define STARTER_OVERLAY_LAYERS_H

#include <stddef.h>

#include "privileges.h"

#define MAX_OVERLAY_LAYER_FDS 24

struct overlay_layers {
        char *data; /* the overlay options with /proc/self/fd/N for the user's layers */
        int fds[MAX_OVERLAY_LAYER_FDS];
        size_t nfds;
        int upper; /* fd of the upper layer, -1 when it is the session's */
};

/* Rewrite `data` (lowerdir=A:B,upperdir=U,workdir=W[,...]): each layer not
 * under `session` is opened as user u: its last component must not be a
 * symlink; the upper and work directories are made if missing (as the
 * user), and they and their parent must be directories the user owns,
 * since overlayfs writes there with the mounter's credentials. Dies with
 * the layer's name on any failure. */
void overlay_layers_open(const char *data, const char *session, const struct user_info *u,
                         struct overlay_layers *out);
void overlay_layers_close(struct overlay_layers *l);

#endif
