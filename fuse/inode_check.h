/* The table indexes an untrusted image's inode holds, checked against the
 * superblock before the inode is used: libsquashfuse's table lookup
 * (sqfs_table_get) does not bound its index, so a uid, gid, fragment or
 * xattr index past its table read past the library's heap array of block
 * positions (the server crashed on `ls` of such a file). */
#ifndef SING_INODE_CHECK_H
#define SING_INODE_CHECK_H

#include <squashfuse/squashfuse.h>

/* 0 when every index of inode is inside its table, else the errno the
 * kernel's squashfs driver gives for that inode: EINVAL for a uid, gid or
 * xattr index (squashfs_get_id, squashfs_xattr_lookup), EIO for a fragment
 * index (squashfs_frag_lookup). */
int inode_check(const sqfs *fs, const sqfs_inode *inode);

#endif
