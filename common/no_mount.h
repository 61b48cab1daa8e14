/* The --no-mount vocabulary (Apptainer's): one table for the frontend,
 * which checks what the user typed, and the starter, which applies it. */
#ifndef SING_NO_MOUNT_H
#define SING_NO_MOUNT_H

#include "error.h"

enum no_mount {
        NO_MOUNT_PROC = 1 << 0,
        NO_MOUNT_SYS = 1 << 1,
        NO_MOUNT_DEV = 1 << 2,
        NO_MOUNT_HOME = 1 << 3,
        NO_MOUNT_TMP = 1 << 4,
        NO_MOUNT_CWD = 1 << 5,
        NO_MOUNT_DEVPTS = 1 << 6,
        NO_MOUNT_HOSTFS = 1 << 7,
        NO_MOUNT_BIND_PATHS = 1 << 8, /* every `bind path` entry of the config */
};

/* One item: a name above (its bit is added to *bits and 0 returned), or an
 * absolute path, the destination of one `bind path` entry to skip (1 is
 * returned, the caller keeps the path). -1 with a message otherwise. */
int no_mount_item(const char *item, unsigned *bits, sing_err_t *err);

#endif
