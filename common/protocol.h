/* The frontend-starter protocol: the starter's command line (documented at
 * the top of starter/main.c). One table of option names and actions, used
 * by the frontend, which writes the command line (cmd_run.c), and by the
 * starter, which reads it (args.c), so the two cannot drift apart. The
 * --no-mount and --bind values have their own shared parsers (no_mount.h,
 * bind_spec.h); --home is split here. */
#ifndef SING_PROTOCOL_H
#define SING_PROTOCOL_H

#include <stdbool.h>

#include "error.h"

/* Options without a value. */
enum proto_flag {
        PROTO_DEBUG,
        PROTO_CONTAIN,
        PROTO_PID,
        PROTO_IPC,
        PROTO_NET,    /* a network namespace with only lo */
        PROTO_USERNS, /* user-namespace mode even when setuid */
        PROTO_NO_HOME,
        PROTO_WRITABLE,
        PROTO_WRITABLE_TMPFS,
        PROTO_NV,       /* bind the host's NVIDIA libraries and devices */
        PROTO_ROCM,     /* the same for AMD ROCm */
        PROTO_FAKEROOT, /* root in a user namespace (user-namespace mode) */
        PROTO_N_FLAGS
};

/* Options that take the next argument as their value. */
enum proto_opt {
        PROTO_ACTION,
        PROTO_IMAGE,
        PROTO_INSTANCE,     /* PID:START of an instance to join */
        PROTO_BIND,         /* SRC[:DST[:ro|rw]], bind_spec.h */
        PROTO_HOME,         /* SRC[:DST], proto_home_split() */
        PROTO_PWD,          /* an absolute path */
        PROTO_NO_MOUNT,     /* no_mount.h */
        PROTO_SCRATCH,      /* a tmpfs directory in the container */
        PROTO_GPU_LIB,      /* a host GPU library to bind (--nv/--rocm) */
        PROTO_GPU_BIN,      /* a host GPU program to bind */
        PROTO_SCRIPT,       /* run as /bin/sh -c SCRIPT ACTION ARGS... */
        PROTO_FALLBACK_ENV, /* KEY=VALUE, when the container has no /bin/sh */
        PROTO_FALLBACK_ARG,
        PROTO_SECCOMP_BPF, /* a compiled seccomp filter, hex (seccomp_install.h) */
        PROTO_FAKEROOT_FD, /* --fakeroot: the socket of the frontend's id-mapping helper */
        PROTO_OVERLAY,     /* DIR[:ro|:rw], proto_overlay_split() */
        /* exec without a shell (starter/direct_env.h): the script's step 2
         * (overrides) and steps 3-4 (PATH, restored variables) as sh text */
        PROTO_ENV_INJECT,
        PROTO_ENV_FINISH,
        PROTO_N_OPTS
};

/* What ends the options: the container's arguments follow. */
#define PROTO_END "--"

extern const char *const proto_flag_names[PROTO_N_FLAGS];
extern const char *const proto_opt_names[PROTO_N_OPTS];

/* The index of arg in proto_flag_names / proto_opt_names, -1 if absent. */
int proto_flag_lookup(const char *arg);
int proto_opt_lookup(const char *arg);

/* The actions, in the order an image's /.singularity.d/actions lists
 * them: exec, run, shell, start, test. */
#define PROTO_N_ACTIONS 5
extern const char *const proto_actions[PROTO_N_ACTIONS];

/* One of proto_actions. */
bool proto_action_valid(const char *action);

/* Split a --home SRC[:DST] in place: *dst is DST, or SRC when there is no
 * DST. SRC must be non-empty and DST absolute; there is at most one ':'.
 * The message names the spec as given (spec is modified). */
int proto_home_split(char *spec, char **src, char **dst, sing_err_t *err);

/* Split an --overlay DIR[:ro|:rw] in place: *ro for a read-only layer.
 * DIR must be absolute; a ':' inside DIR is kept when the spec does not
 * end in :ro or :rw. */
int proto_overlay_split(char *spec, char **dir, bool *ro, sing_err_t *err);

#endif
