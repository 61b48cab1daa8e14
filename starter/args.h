/* The starter's command line (see the protocol at the top of main.c),
 * parsed into a request that the mount plan validates against the config. */
#ifndef STARTER_ARGS_H
#define STARTER_ARGS_H

#include <stdbool.h>
#include <stddef.h>

#include "bind_spec.h"
#include "error.h"

#define MAX_USER_BINDS 64

/* Bits of --no-mount. */
enum no_mount {
        NO_MOUNT_PROC = 1 << 0,
        NO_MOUNT_SYS = 1 << 1,
        NO_MOUNT_DEV = 1 << 2,
        NO_MOUNT_HOME = 1 << 3,
        NO_MOUNT_TMP = 1 << 4,
        NO_MOUNT_CWD = 1 << 5,
};

struct request {
        bool debug;
        const char *action; /* exec|run|shell|test|start */
        const char *image;
        struct bind_spec binds[MAX_USER_BINDS];
        size_t nbinds;
        bool contain, pid, ipc, net, userns, no_home, writable, writable_tmpfs;
        char *home_src, *home_dst; /* --home, NULL when absent */
        const char *pwd;
        unsigned no_mount; /* enum no_mount bits */
        char **args;       /* after "--", NULL-terminated */
};

/* Parse argv into *req (pointers into argv or heap strings). */
int args_parse(int argc, char **argv, struct request *req, sing_err_t *err);

#endif
