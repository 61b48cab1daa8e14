/* A path inside a squashfs image resolved the way the kernel would resolve
 * it in the container, whose root the image is: symlinks followed (absolute
 * ones from the image's root), "." and "..", no step out of the root. The
 * image is untrusted: symlink count, path length and depth are bounded, and
 * nothing recurses, so a loop or a huge target just fails. Those bounds
 * still let one path cost ~30000 directory lookups (4 KiB of "d/../" behind
 * each of 40 links), and a caller resolves hundreds of paths an image names:
 * so the work is bounded too, by a budget of steps the caller passes, and
 * a directory whose listing is larger than any real one is not searched
 * (the library's search of a listing is linear past its index). */
#ifndef SING_IMAGE_PATH_H
#define SING_IMAGE_PATH_H

#include <squashfuse/squashfuse.h>

/* A budget for all the resolutions of one prefetch: a real image's shell
 * and libraries take a few hundred steps. */
#define IMAGE_PATH_STEPS 4096
/* The largest directory listing searched (Debian's /usr/lib/x86_64-linux-gnu
 * with 2000 entries has ~80 KiB). */
#define IMAGE_PATH_DIR_BYTES (1u << 20)

/* Resolves path on fs into *inode. Each directory lookup and each symlink
 * spends one of *steps; none left is a failure, and so is every later call
 * with the same budget. Returns 0, or -1 (not found, a loop, too long, out
 * of steps, an unreadable image). */
int image_path_resolve(sqfs *fs, const char *path, sqfs_inode *inode, unsigned *steps);

#endif
