/* (Named image_open.h, not image.h: common/image.h is included from here.) */
/* Open the container image with the user's rights, check it against the
 * config (kind, owner, group, location) and identify it. The checked fd is
 * what gets mounted: the path is never opened again. */
#ifndef STARTER_IMAGE_OPEN_H
#define STARTER_IMAGE_OPEN_H

#include <stdbool.h>
#include <sys/stat.h>

#include "config.h"
#include "image.h" /* common/: struct image_info */
#include "privileges.h"

struct opened_image {
        int fd;
        char *path; /* resolved from the fd (/proc/self/fd/N) */
        struct stat st;
        struct image_info info;
};

void image_open_checked(const char *path, const struct sing_config *cfg, const struct user_info *u,
                        bool writable, struct opened_image *img);

/* Unprivileged fallback without FUSE: unsquashfs the image (as the user)
 * into a new private directory. Returns the directory to remove afterwards;
 * the root file system is its "root" subdirectory. */
char *image_extract(const struct opened_image *img);
/* rm -rf that also copes with read-only directories; errors are reported. */
void image_remove_extracted(const char *dir);

#define UNSQUASHFS_PATH "/usr/bin/unsquashfs"

#endif
