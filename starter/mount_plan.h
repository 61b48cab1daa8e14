/* The mount plan: every mount the starter makes, decided up front from the
 * root-owned config and the validated request, as a flat list that can be
 * printed (--debug), unit-tested without privileges, and executed in one
 * loop (mount_exec.c). Modelled on bubblewrap's setup operations. */
#ifndef STARTER_MOUNT_PLAN_H
#define STARTER_MOUNT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "args.h"
#include "config.h"
#include "error.h"
#include "privileges.h"

enum mount_op {
        OP_MKDIR,         /* dest: directory created (0755) */
        OP_TMPFS,         /* data: tmpfs options */
        OP_SQUASHFS_LOOP, /* source: /dev/loopN */
        OP_SQUASHFS_FUSE, /* source: image fd path, data: "offset=N" (squashfs-serve) */
        OP_OVERLAY,       /* data: lowerdir/upperdir/workdir */
        OP_BIND,          /* recursive bind, nosuid,nodev (+ro with MP_RO) */
        OP_DEV_BIND,      /* like OP_BIND without nodev: /dev and device nodes */
        OP_PROC,          /* new procfs (needs a new pid namespace) */
        OP_SYSFS,         /* new sysfs */
        OP_DEVPTS,        /* new devpts instance, data: options */
        OP_SYMLINK,       /* source: link target */
        OP_FILE,          /* generate dest from the container's source + user entry */
        OP_REMOUNT_RO,    /* make dest's mount read-only */
};

/* Entry flags. */
enum {
        MP_IN_ROOT = 1 << 0,    /* dest is a container path, resolved inside its root */
        MP_RO = 1 << 1,         /* read-only */
        MP_AS_USER = 1 << 2,    /* open the source with the user's file-system ids */
        MP_OPTIONAL = 1 << 3,   /* skip (with a message) if source or mount point is missing */
        MP_IMAGE_FD = 1 << 4,   /* source is the opened image fd (sandbox directory) */
        MP_UNBINDABLE = 1 << 5, /* the staging tmpfs: pruned from every recursive bind of a
                                   host directory above it (/tmp, home...) */
        MP_ROOT_OWNED = 1 << 6, /* source must be a regular file owned by root (GPU driver
                                   files: --nv binds nothing the admin did not install) */
};

struct mount_entry {
        enum mount_op op;
        char *source, *dest, *data; /* data: fs options or generated-file kind */
        unsigned flags;
};

struct mount_plan {
        struct mount_entry *entries;
        size_t n, cap;
        char *session;       /* the session directory: no user bind source in it */
        char *root;          /* host path of the assembled container root */
        char *image_root;    /* host path where the image itself is mounted */
        bool root_creatable; /* missing mount points may be made in the root */
        char *home_dst;      /* the user's home inside the container */
        char *upper;         /* host path of the overlay's upper dir, NULL without overlay */
};

/* How the image reaches the staging directory. */
enum image_source {
        IMGSRC_LOOP,      /* squashfs via a loop device (privileged) */
        IMGSRC_FUSE,      /* squashfs via squashfs-serve (FUSE) */
        IMGSRC_DIR,       /* sandbox directory (the opened image fd) */
        IMGSRC_EXTRACTED, /* directory that unsquashfs extracted the image to */
};

struct plan_input {
        const struct sing_config *cfg;
        const struct request *req;
        const struct user_info *user;
        const char *session; /* the session tmpfs mount point */
        const char *cwd;     /* host working directory, NULL if unknown */
        enum image_source image_src;
        const char *image_path; /* loop device, image fd path or directory */
        uint64_t image_offset;  /* IMGSRC_FUSE */
        bool userns;            /* unprivileged mode */
        char **host_mounts;     /* `mount hostfs`: the host's mount points, or NULL */
        char **gpu_devices;     /* --nv/--rocm: the host's GPU device paths, or NULL */
};

int mount_plan_build(const struct plan_input *in, struct mount_plan *plan, sing_err_t *err);
void mount_plan_print(const struct mount_plan *plan); /* log_debug */
void mount_plan_free(struct mount_plan *plan);
const char *mount_op_name(enum mount_op op);

#endif
