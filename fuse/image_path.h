/* A path inside a squashfs image resolved the way the kernel would resolve
 * it in the container, whose root the image is: symlinks followed (absolute
 * ones from the image's root), "." and "..", no step out of the root. The
 * image is untrusted: symlink count, path length and depth are bounded, and
 * nothing recurses, so a loop or a huge target just fails. */
#ifndef SING_IMAGE_PATH_H
#define SING_IMAGE_PATH_H

#include <squashfuse/squashfuse.h>

/* Resolves path on fs into *inode. Returns 0, or -1 (not found, a loop,
 * too long, an unreadable image). */
int image_path_resolve(sqfs *fs, const char *path, sqfs_inode *inode);

#endif
