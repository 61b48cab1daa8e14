/* What libsquashfuse takes from an untrusted image as given, checked as the
 * kernel's squashfs driver checks it.
 *
 * The superblock's block size: the library divides by it and allocates it
 * for every block it decompresses (0 crashed the server, 1 GiB let one
 * small block take 1 GiB of memory).
 *
 * The table indexes an inode holds, checked against the
 * superblock before the inode is used: libsquashfuse's table lookup
 * (sqfs_table_get) does not bound its index, so a uid, gid, fragment or
 * xattr index past its table read past the library's heap array of block
 * positions (the server crashed on `ls` of such a file). And a symlink's
 * size, which the library allocates as given. */
#ifndef SING_IMAGE_CHECK_H
#define SING_IMAGE_CHECK_H

#include <squashfuse/squashfuse.h>

/* The longest symlink target the kernel's squashfs driver takes (PAGE_SIZE
 * on x86-64 and most arm64 kernels). */
#define IMAGE_CHECK_SYMLINK_MAX 4096

/* 0 when the block size is a power of two from 4 KiB to 1 MiB and the
 * superblock's log of it agrees (squashfs_fill_super), else -1. */
int image_check_superblock(const sqfs *fs);

/* 0 when every index of inode is inside its table, else the errno the
 * kernel's squashfs driver gives for that inode: EINVAL for a uid, gid or
 * xattr index (squashfs_get_id, squashfs_xattr_lookup) and a symlink longer
 * than a page, EIO for a fragment index (squashfs_frag_lookup). */
int image_check_inode(const sqfs *fs, const sqfs_inode *inode);

#endif
