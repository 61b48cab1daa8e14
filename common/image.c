/* Image type detection: a sandbox directory, a SIF file, a plain squashfs,
 * or a Singularity 2.x .simg (a "#!" launch line in front of a squashfs).
 * Whatever the kind, the squashfs superblock is checked against the space
 * the file gives it, because the kernel will be asked to mount it. */
#include "image.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "sif.h"
#include "squashfs.h"

#define SIMG_MAX_LAUNCH 1024 /* bound on the .simg "#!" line */

#define NOT_AN_IMAGE "not a Singularity image (SIF, squashfs or sandbox directory)"

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
        if (squashfs_check(fd, out->offset, out->size, NULL, e) < 0)
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

        n = pread_full(fd, head, sizeof(head), 0);
        if (n < 0)
                return err_errno(e, "reading the image");

        /* A file with the SIF magic is a SIF: if broken, say how, never fall
         * through to guessing another format. */
        if (sif_has_magic(head, (size_t)n))
                return probe_sif(fd, out, e);

        if (n >= 4 && squashfs_has_magic(head)) {
                out->kind = IMAGE_SQUASHFS;
                out->offset = 0;
                out->size = fsize;
                return squashfs_check(fd, 0, fsize, NULL, e);
        }

        if (n >= 2 && head[0] == '#' && head[1] == '!') {
                size_t line = (size_t)n < SIMG_MAX_LAUNCH ? (size_t)n : SIMG_MAX_LAUNCH;
                nl = memchr(head, '\n', line);
                if (nl) {
                        size_t off = (size_t)(nl - head) + 1;
                        if (off + 4 <= (size_t)n && squashfs_has_magic(head + off)) {
                                out->kind = IMAGE_SIMG;
                                out->offset = off;
                                out->size = fsize - off;
                                return squashfs_check(fd, off, fsize - off, NULL, e);
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
