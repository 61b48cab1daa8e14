/* Image type detection: a sandbox directory, a SIF file, a plain squashfs,
 * or a Singularity 2.x .simg (a "#!" launch line in front of a squashfs).
 * Whatever the kind, the squashfs superblock is checked against the space
 * the file gives it, because the kernel will be asked to mount it. */
#include "image.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sif.h"

#define SQUASHFS_MAGIC "hsqs"
#define SQUASHFS_SUPER_SIZE 96        /* squashfs 4 superblock */
#define SQUASHFS_OFF_VERSION_MAJOR 28 /* le16 */
#define SQUASHFS_OFF_BYTES_USED 40    /* le64 */
#define SIMG_MAX_LAUNCH 1024          /* bound on the .simg "#!" line */

#define NOT_AN_IMAGE "not a Singularity image (SIF, squashfs or sandbox directory)"

/* pread up to len bytes at off; returns the count (short only at EOF). */
static ssize_t read_at(int fd, void *buf, size_t len, uint64_t off)
{
        size_t got = 0;
        while (got < len) {
                ssize_t n = pread(fd, (unsigned char *)buf + got, len - got, (off_t)(off + got));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -1;
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        return (ssize_t)got;
}

/* The squashfs at off, with avail bytes of file behind it, is a version 4
 * superblock whose image fits in those bytes. */
static int check_squashfs(int fd, uint64_t off, uint64_t avail, sing_err_t *e)
{
        unsigned char sb[SQUASHFS_SUPER_SIZE];
        ssize_t n;
        uint64_t used;
        unsigned major;

        if (avail < sizeof(sb))
                return err_set(e, "squashfs at offset %llu is truncated (%llu bytes)",
                               (unsigned long long)off, (unsigned long long)avail);
        n = read_at(fd, sb, sizeof(sb), off);
        if (n < 0)
                return err_errno(e, "reading the squashfs superblock");
        if ((size_t)n < sizeof(sb))
                return err_set(e, "squashfs at offset %llu is truncated", (unsigned long long)off);
        if (memcmp(sb, SQUASHFS_MAGIC, 4) != 0)
                return err_set(e, "no squashfs magic at offset %llu", (unsigned long long)off);
        major = (unsigned)sb[SQUASHFS_OFF_VERSION_MAJOR] |
                (unsigned)sb[SQUASHFS_OFF_VERSION_MAJOR + 1] << 8;
        if (major != 4)
                return err_set(e, "unsupported squashfs version %u (need 4)", major);
        used = sif_get_le64(sb + SQUASHFS_OFF_BYTES_USED);
        if (used < sizeof(sb) || used > avail)
                return err_set(e, "squashfs superblock claims %llu bytes but the image holds %llu",
                               (unsigned long long)used, (unsigned long long)avail);
        return 0;
}

static int probe_sif(int fd, struct image_info *out, sing_err_t *e)
{
        struct sif_file sif;
        const struct sif_descriptor *p;

        if (sif_read_fd(fd, &sif, e) < 0)
                return -1;
        p = &sif.desc[sif.primary];
        out->kind = IMAGE_SIF;
        out->offset = (uint64_t)p->offset;
        out->size = (uint64_t)p->size;
        /* The partition says what its binaries are; the header is a fallback. */
        memcpy(out->arch, p->arch[0] ? p->arch : sif.arch, sizeof(out->arch));
        sif_free(&sif);
        if (check_squashfs(fd, out->offset, out->size, e) < 0)
                return err_prefix(e, "SIF primary partition");
        return 0;
}

int image_probe_fd(int fd, struct image_info *out, sing_err_t *e)
{
        struct stat st;
        unsigned char head[SIMG_MAX_LAUNCH + 4];
        ssize_t n;
        const unsigned char *nl;
        uint64_t fsize;

        memset(out, 0, sizeof(*out));
        if (fstat(fd, &st) < 0)
                return err_errno(e, "fstat on the image");
        if (S_ISDIR(st.st_mode)) {
                out->kind = IMAGE_DIR;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return err_set(e, NOT_AN_IMAGE);
        fsize = (uint64_t)st.st_size;

        n = read_at(fd, head, sizeof(head), 0);
        if (n < 0)
                return err_errno(e, "reading the image");

        /* A file with the SIF magic is a SIF: if broken, say how, never fall
         * through to guessing another format. */
        if (sif_has_magic(head, (size_t)n))
                return probe_sif(fd, out, e);

        if (n >= 4 && memcmp(head, SQUASHFS_MAGIC, 4) == 0) {
                out->kind = IMAGE_SQUASHFS;
                out->offset = 0;
                out->size = fsize;
                return check_squashfs(fd, 0, fsize, e);
        }

        if (n >= 2 && head[0] == '#' && head[1] == '!') {
                size_t line = (size_t)n < SIMG_MAX_LAUNCH ? (size_t)n : SIMG_MAX_LAUNCH;
                nl = memchr(head, '\n', line);
                if (nl) {
                        size_t off = (size_t)(nl - head) + 1;
                        if (off + 4 <= (size_t)n && memcmp(head + off, SQUASHFS_MAGIC, 4) == 0) {
                                out->kind = IMAGE_SIMG;
                                out->offset = off;
                                out->size = fsize - off;
                                return check_squashfs(fd, off, fsize - off, e);
                        }
                }
        }
        return err_set(e, NOT_AN_IMAGE);
}

const char *image_kind_name(enum image_kind k)
{
        switch (k) {
        case IMAGE_SIF:
                return "SIF";
        case IMAGE_SQUASHFS:
                return "squashfs";
        case IMAGE_SIMG:
                return "simg";
        case IMAGE_DIR:
                return "sandbox";
        }
        return "unknown";
}
