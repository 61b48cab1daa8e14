/* The starter's command line (see the protocol at the top of main.c),
 * parsed into a request that the mount plan validates against the config. */
#ifndef STARTER_ARGS_H
#define STARTER_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "bind_spec.h"
#include "error.h"
#include "no_mount.h"

#define MAX_USER_BINDS 64
#define MAX_NO_MOUNT_PATHS 16
#define MAX_GPU_FILES 128
#define MAX_SCRATCH 16
#define MAX_OVERLAYS 16

struct request {
        bool debug;
        const char *action; /* exec|run|shell|test|start */
        const char *image;
        struct bind_spec binds[MAX_USER_BINDS];
        size_t nbinds;
        bool contain, pid, ipc, net, userns, no_home, writable, writable_tmpfs;
        bool nv, rocm;   /* bind the GPU devices of the host */
        bool fakeroot;   /* root in a user namespace (implies user-namespace mode) */
        int fakeroot_fd; /* --fakeroot-fd: the id-mapping helper's socket, -1: none */
        /* --overlay DIR[:ro]: the user's directories layered on the image */
        struct {
                char *dir;
                bool ro;
        } overlays[MAX_OVERLAYS];
        size_t n_overlays;
        /* --gpu-lib / --gpu-bin: host driver files (the frontend found them) */
        const char *gpu_libs[MAX_GPU_FILES], *gpu_bins[MAX_GPU_FILES];
        size_t n_gpu_libs, n_gpu_bins;
        const char *scratch[MAX_SCRATCH]; /* --scratch DEST: a private tmpfs at DEST */
        size_t n_scratch;
        char *home_src, *home_dst; /* --home, NULL when absent */
        const char *pwd;
        const char *seccomp_bpf; /* --seccomp-bpf HEX (seccomp_install.h), NULL when absent */
        unsigned no_mount;       /* enum no_mount bits */
        /* --no-mount /DEST: `bind path` entries skipped by destination */
        const char *no_mount_paths[MAX_NO_MOUNT_PATHS];
        size_t n_no_mount_paths;
        const char *script; /* --script: run as /bin/sh -c SCRIPT ACTION ARGS... */
        /* --fallback-env / --fallback-arg, in order, NULL-terminated: what
         * runs when the container has no /bin/sh (none: the shell is needed). */
        char **fallback_env, **fallback_argv;
        /* --env-inject / --env-finish: exec may run without the shell
         * (direct_env.h); NULL when absent */
        const char *env_inject, *env_finish;
        /* --instance PID:START: join that instance (instance_join.h) */
        pid_t instance_pid;
        unsigned long long instance_start;
        char **args; /* after "--", NULL-terminated */
};

/* Parse argv into *req (pointers into argv or heap strings). */
int args_parse(int argc, char **argv, struct request *req, sing_err_t *err);

#endif
