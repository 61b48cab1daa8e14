/* Which kind of container image a path holds, and where its root
 * filesystem (a squashfs) lives inside the file. Used by the starter before
 * it mounts anything, so the file is treated as hostile. */
#ifndef SING_IMAGE_H
#define SING_IMAGE_H

#include <stdint.h>

#include "error.h"

enum image_kind {
        IMAGE_SIF,      /* SIF file: squashfs in the primary system partition */
        IMAGE_SQUASHFS, /* plain squashfs file */
        IMAGE_SIMG,     /* Singularity 2.x: "#!..." launch line, then a squashfs */
        IMAGE_DIR,      /* sandbox directory */
};

struct image_info {
        enum image_kind kind;
        uint64_t offset, size; /* where the squashfs lives in the file (0, 0 for IMAGE_DIR) */
        char arch[4];          /* SIF architecture code ("02"), or "" when unknown */
};

/* Identify the image open on fd (a directory or a regular file). Returns 0
 * and fills *out, or -1 with a message: a broken SIF file reports what is
 * wrong with it, anything unrecognised reports "not a Singularity image". */
int image_probe_fd(int fd, struct image_info *out, sing_err_t *e);

const char *image_kind_name(enum image_kind k);

#endif
