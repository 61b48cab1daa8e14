/* Superblock and inode fields libsquashfuse trusts (see image_check.h). */
#include "image_check.h"

#include <errno.h>
#include <sys/stat.h>

int image_check_superblock(const sqfs *fs)
{
        uint32_t bs = fs->sb.block_size;
        if (bs < 4096 || bs > (1u << 20) || (bs & (bs - 1)) != 0 || fs->sb.block_log >= 32 ||
            (1u << fs->sb.block_log) != bs)
                return -1;
        return 0;
}

int image_check_inode(const sqfs *fs, const sqfs_inode *inode)
{
        if (inode->base.uid >= fs->sb.no_ids || inode->base.guid >= fs->sb.no_ids)
                return EINVAL;
        /* No xattr table: the library never looks the index up. */
        if (inode->xattr != SQUASHFS_INVALID_XATTR &&
            fs->sb.xattr_id_table_start != (uint64_t)SQUASHFS_INVALID_BLK &&
            inode->xattr >= fs->xattr_info.xattr_ids)
                return EINVAL;
        if (S_ISREG(inode->base.mode) && inode->xtra.reg.frag_idx != SQUASHFS_INVALID_FRAG &&
            inode->xtra.reg.frag_idx >= fs->sb.fragments)
                return EIO;
        /* The library's readlink mallocs what the inode says (up to 4 GiB)
         * and reads that much metadata into it. */
        if (S_ISLNK(inode->base.mode) && inode->xtra.symlink_size > IMAGE_CHECK_SYMLINK_MAX)
                return EINVAL;
        return 0;
}
