#include "squashfs.h"

#include <string.h>
#include <sys/types.h>

#include "fileio.h"
#include "sif.h"

#define SQUASHFS_MAGIC "hsqs"
#define SQUASHFS_OFF_VERSION_MAJOR 28 /* le16 */
#define SQUASHFS_OFF_BYTES_USED 40    /* le64 */

bool squashfs_has_magic(const void *buf)
{
        return memcmp(buf, SQUASHFS_MAGIC, 4) == 0;
}

int squashfs_check(int fd, uint64_t off, uint64_t avail, uint64_t *bytes_used, sing_err_t *e)
{
        unsigned char sb[SQUASHFS_SUPER_SIZE];
        ssize_t n;
        uint64_t used;
        unsigned major;

        if (avail < sizeof(sb))
                return err_set(e, "squashfs at offset %llu is truncated (%llu bytes)",
                               (unsigned long long)off, (unsigned long long)avail);
        n = pread_full(fd, sb, sizeof(sb), off);
        if (n < 0)
                return err_errno(e, "reading the squashfs superblock");
        if ((size_t)n < sizeof(sb))
                return err_set(e, "squashfs at offset %llu is truncated", (unsigned long long)off);
        if (!squashfs_has_magic(sb))
                return err_set(e, "no squashfs magic at offset %llu", (unsigned long long)off);
        major = (unsigned)sb[SQUASHFS_OFF_VERSION_MAJOR] |
                (unsigned)sb[SQUASHFS_OFF_VERSION_MAJOR + 1] << 8;
        if (major != 4)
                return err_set(e, "unsupported squashfs version %u (need 4)", major);
        used = sif_get_le64(sb + SQUASHFS_OFF_BYTES_USED);
        if (used < sizeof(sb) || used > avail)
                return err_set(e, "squashfs superblock claims %llu bytes but the image holds %llu",
                               (unsigned long long)used, (unsigned long long)avail);
        if (bytes_used)
                *bytes_used = used;
        return 0;
}
