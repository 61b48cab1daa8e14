/* SIF writer: fills in the head of a file whose squashfs mksquashfs already
 * wrote at the partition offset (see sif_write.h for the sequence). The
 * whole head (header, table, objects, zero gap) is built in memory and
 * written with one pwrite, so no stale bytes can survive in it. */
#include "sif_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build_epoch.h"
#include "cleanup.h"
#include "squashfs.h"

#define TABLE_END ((uint64_t)SIF_WRITE_DESCOFF + (uint64_t)SIF_WRITE_NDESC * SIF_DESCRIPTOR_SIZE)
#define GROUP_ONE (1u | SIF_GROUP_MASK)

static uint64_t align_up(uint64_t v, uint64_t a)
{
        return (v + a - 1) / a * a;
}

/* End of the packed small objects, or UINT64_MAX if the sizes overflow. */
static uint64_t objects_end(const struct sif_object *objs, size_t n)
{
        uint64_t end = TABLE_END;
        for (size_t i = 0; i < n; i++) {
                if (objs[i].len > INT64_MAX - end)
                        return UINT64_MAX;
                end += objs[i].len;
        }
        return end;
}

uint64_t sif_partition_offset(const struct sif_object *objs, size_t n)
{
        uint64_t end = objects_end(objs, n);
        if (end > INT64_MAX - SIF_PART_ALIGN)
                return UINT64_MAX;
        return align_up(end, SIF_PART_ALIGN);
}

/* A reproducible build's UUID: from what the file holds (the objects, the
 * squashfs superblock and size), shaped as a version 5 (name-based) UUID. */
static int content_uuid(int fd, const struct sif_object *objs, size_t n, uint64_t part_offset,
                        uint64_t part_size, uint8_t u[16], sing_err_t *e)
{
        unsigned char md[32], super[4096];
        unsigned int mdlen = 0;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        ssize_t got = pread(fd, super, sizeof(super), (off_t)part_offset);
        if (!c || got < 0 || !EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
                EVP_MD_CTX_free(c);
                return err_errno(e, "SIF: computing the image's UUID");
        }
        for (size_t i = 0; i < n; i++) {
                EVP_DigestUpdate(c, &objs[i].datatype, sizeof(objs[i].datatype));
                EVP_DigestUpdate(c, objs[i].data, objs[i].len);
        }
        EVP_DigestUpdate(c, &part_size, sizeof(part_size));
        EVP_DigestUpdate(c, super, (size_t)got);
        EVP_DigestFinal_ex(c, md, &mdlen);
        EVP_MD_CTX_free(c);
        memcpy(u, md, 16);
        u[6] = (uint8_t)((u[6] & 0x0f) | 0x50);
        u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
        return 0;
}

static int random_uuid(uint8_t u[16], sing_err_t *e)
{
        size_t got = 0;
        while (got < 16) {
                ssize_t n = getrandom(u + got, 16 - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return err_errno(e, "SIF: getrandom");
                got += (size_t)n;
        }
        u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
        u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        return 0;
}

static int write_all(int fd, const void *buf, size_t len, uint64_t off, sing_err_t *e)
{
        const unsigned char *p = buf;
        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, (off_t)off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return err_errno(e, "SIF: writing the header");
                p += n;
                off += (uint64_t)n;
                len -= (size_t)n;
        }
        return 0;
}

/* Fill the common part of descriptor slot `slot` (id = slot + 1, group 1). */
static unsigned char *put_descriptor(unsigned char *head, size_t slot, int32_t datatype,
                                     const char *name, uint64_t off, uint64_t size, uint64_t padded,
                                     int64_t now)
{
        unsigned char *d = head + SIF_WRITE_DESCOFF + slot * SIF_DESCRIPTOR_SIZE;
        sif_put_le32(d + SIF_DESC_DATATYPE, (uint32_t)datatype);
        d[SIF_DESC_USED] = 1;
        sif_put_le32(d + SIF_DESC_ID, (uint32_t)slot + 1);
        sif_put_le32(d + SIF_DESC_GROUPID, GROUP_ONE);
        sif_put_le32(d + SIF_DESC_LINK, 0);
        sif_put_le64(d + SIF_DESC_OFFSET, off);
        sif_put_le64(d + SIF_DESC_SIZE, size);
        sif_put_le64(d + SIF_DESC_SIZE_PADDED, padded);
        sif_put_le64(d + SIF_DESC_CTIME, (uint64_t)now);
        sif_put_le64(d + SIF_DESC_MTIME, (uint64_t)now);
        if (name) /* length checked by the caller: stays NUL-terminated */
                memcpy(d + SIF_DESC_NAME, name, strlen(name));
        return d;
}

static int check_args(const struct sif_object *objs, size_t n, uint64_t part_offset,
                      uint64_t part_size, const char *arch_code, sing_err_t *e)
{
        uint64_t want = sif_partition_offset(objs, n);

        if (n > SIF_WRITE_NDESC - 1)
                return err_set(e, "SIF: too many objects (%zu, at most %d)", n,
                               SIF_WRITE_NDESC - 1);
        for (size_t i = 0; i < n; i++) {
                if (objs[i].datatype == SIF_DATA_PARTITION)
                        return err_set(e, "SIF: object %zu: partitions cannot be small objects",
                                       i + 1);
                if (objs[i].name && strlen(objs[i].name) >= SIF_NAME_SIZE)
                        return err_set(e, "SIF: object name \"%.40s...\" is too long (max %d)",
                                       objs[i].name, SIF_NAME_SIZE - 1);
                if (objs[i].len && !objs[i].data)
                        return err_set(e, "SIF: object %zu has no data", i + 1);
        }
        if (!arch_code || strlen(arch_code) != 2 || arch_code[0] < '0' || arch_code[0] > '9' ||
            arch_code[1] < '0' || arch_code[1] > '9')
                return err_set(e, "SIF: bad architecture code \"%s\"",
                               arch_code ? arch_code : "(null)");
        if (want == UINT64_MAX)
                return err_set(e, "SIF: objects too large");
        if (part_offset != want)
                return err_set(e, "SIF: partition offset %llu does not match the layout (%llu)",
                               (unsigned long long)part_offset, (unsigned long long)want);
        if (part_size < 4 || part_size > INT64_MAX - part_offset)
                return err_set(e, "SIF: bad partition size %llu", (unsigned long long)part_size);
        return 0;
}

/* The squashfs must already be in place: the file reaches its end and the
 * squashfs at its start fits in it. */
static int check_partition(int fd, uint64_t part_offset, uint64_t part_size, sing_err_t *e)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return err_errno(e, "SIF: fstat");
        if ((uint64_t)st.st_size < part_offset + part_size)
                return err_set(e, "SIF: file is %lld bytes, the partition should end at %llu",
                               (long long)st.st_size,
                               (unsigned long long)(part_offset + part_size));
        if (squashfs_check(fd, part_offset, part_size, NULL, e) < 0)
                return err_prefix(e, "SIF");
        if ((uint64_t)st.st_size > part_offset + part_size &&
            ftruncate(fd, (off_t)(part_offset + part_size)) < 0)
                return err_errno(e, "SIF: truncating the file");
        return 0;
}

int sif_finalize(int fd, const struct sif_object *objs, size_t n, uint64_t part_offset,
                 uint64_t part_size, const char *arch_code, sing_err_t *e)
{
        int64_t now = build_now();
        uint64_t off = TABLE_END, data_end;
        uint8_t uuid[16];
        unsigned char *h, *d;
        _cleanup_free_ unsigned char *head = NULL;

        if (check_args(objs, n, part_offset, part_size, arch_code, e) < 0 ||
            check_partition(fd, part_offset, part_size, e) < 0 ||
            (build_epoch(NULL) ? content_uuid(fd, objs, n, part_offset, part_size, uuid, e)
                               : random_uuid(uuid, e)) < 0)
                return -1;
        /* part_offset is the table plus the small objects: a modest buffer. */
        head = calloc(1, (size_t)part_offset);
        if (!head)
                return err_errno(e, "SIF: allocating the header");

        for (size_t i = 0; i < n; i++) {
                put_descriptor(head, i, objs[i].datatype, objs[i].name, off, objs[i].len,
                               objs[i].len, now);
                if (objs[i].len)
                        memcpy(head + off, objs[i].data, objs[i].len);
                off += objs[i].len;
        }
        /* The partition's padding counts the alignment gap in front of it. */
        d = put_descriptor(head, n, SIF_DATA_PARTITION, NULL, part_offset, part_size,
                           part_size + (part_offset - off), now);
        sif_put_le32(d + SIF_DESC_FSTYPE, SIF_FS_SQUASH);
        sif_put_le32(d + SIF_DESC_PARTTYPE, SIF_PART_PRIMSYS);
        memcpy(d + SIF_DESC_ARCH, arch_code, 2);

        data_end = part_offset + part_size;
        h = head;
        memcpy(h + SIF_HDR_LAUNCH, SIF_LAUNCH_SCRIPT, strlen(SIF_LAUNCH_SCRIPT));
        memcpy(h + SIF_HDR_MAGIC, SIF_MAGIC, sizeof(SIF_MAGIC));
        memcpy(h + SIF_HDR_VERSION, SIF_VERSION, sizeof(SIF_VERSION));
        memcpy(h + SIF_HDR_ARCH, arch_code, 2);
        memcpy(h + SIF_HDR_UUID, uuid, sizeof(uuid));
        sif_put_le64(h + SIF_HDR_CTIME, (uint64_t)now);
        sif_put_le64(h + SIF_HDR_MTIME, (uint64_t)now);
        sif_put_le64(h + SIF_HDR_DFREE, SIF_WRITE_NDESC - (n + 1));
        sif_put_le64(h + SIF_HDR_DTOTAL, SIF_WRITE_NDESC);
        sif_put_le64(h + SIF_HDR_DESCOFF, SIF_WRITE_DESCOFF);
        sif_put_le64(h + SIF_HDR_DESCSIZE, (uint64_t)SIF_WRITE_NDESC * SIF_DESCRIPTOR_SIZE);
        sif_put_le64(h + SIF_HDR_DATAOFF, TABLE_END);
        sif_put_le64(h + SIF_HDR_DATASIZE, data_end - TABLE_END);

        return write_all(fd, head, (size_t)part_offset, 0, e);
}
