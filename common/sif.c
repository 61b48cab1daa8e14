/* SIF reader. It runs in the setuid starter on a file the user chose, so
 * every field is checked before it is used: sizes against the file size
 * (with subtraction, never a sum that could overflow), counts against a
 * cap, strings for their NUL. Data is read with pread into buffers whose
 * size the file itself justifies; nothing is mapped. */
#include "sif.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "host_arch.h"
#include "squashfs.h"

/* Read exactly len bytes at off. A short read means the file shrank under
 * us (sizes were checked against fstat before). */
static int read_exact(int fd, void *buf, size_t len, int64_t off, const char *what, sing_err_t *e)
{
        unsigned char *p = buf;
        while (len > 0) {
                ssize_t n = pread(fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return err_errno(e, "SIF: reading %s", what);
                }
                if (n == 0)
                        return err_set(e, "SIF: %s is truncated", what);
                p += n;
                off += n;
                len -= (size_t)n;
        }
        return 0;
}

int sif_has_magic(const void *buf, size_t len)
{
        if (len < SIF_HDR_MAGIC + sizeof(SIF_MAGIC))
                return 0;
        return memcmp((const unsigned char *)buf + SIF_HDR_MAGIC, SIF_MAGIC, sizeof(SIF_MAGIC)) ==
               0;
}

static int is_digit(unsigned char c)
{
        return c >= '0' && c <= '9';
}

/* An architecture field is 3 bytes: two ASCII digits and a NUL, or empty. */
static int parse_arch(const unsigned char *p, char out[4])
{
        memset(out, 0, 4);
        if (p[0] == '\0')
                return 0;
        if (!is_digit(p[0]) || !is_digit(p[1]) || p[2] != '\0')
                return -1;
        out[0] = (char)p[0];
        out[1] = (char)p[1];
        return 0;
}

/* Does [off, off+size) meet [start, start+len)? All values are known to be
 * within the file, so the sums cannot overflow. */
static int overlaps(int64_t off, int64_t size, int64_t start, int64_t len)
{
        return size > 0 && len > 0 && off < start + len && start < off + size;
}

static int parse_header(const unsigned char *h, int64_t fsize, struct sif_file *f, sing_err_t *e)
{
        if (!sif_has_magic(h, SIF_HEADER_SIZE))
                return err_set(e, "not a SIF file: bad magic");
        if (memcmp(h + SIF_HDR_VERSION, SIF_VERSION, sizeof(SIF_VERSION)) != 0)
                return err_set(e, "SIF: unsupported format version (only " SIF_VERSION
                                  " is supported)");
        if (parse_arch(h + SIF_HDR_ARCH, f->arch) < 0)
                return err_set(e, "SIF: bad architecture field in the header");

        memcpy(f->launch, h + SIF_HDR_LAUNCH, 32);
        f->launch[32] = '\0';
        memcpy(f->uuid, h + SIF_HDR_UUID, sizeof(f->uuid));
        f->ctime = (int64_t)sif_get_le64(h + SIF_HDR_CTIME);
        f->mtime = (int64_t)sif_get_le64(h + SIF_HDR_MTIME);
        f->dfree = (int64_t)sif_get_le64(h + SIF_HDR_DFREE);
        f->dtotal = (int64_t)sif_get_le64(h + SIF_HDR_DTOTAL);
        f->descoff = (int64_t)sif_get_le64(h + SIF_HDR_DESCOFF);
        f->descsize = (int64_t)sif_get_le64(h + SIF_HDR_DESCSIZE);
        f->dataoff = (int64_t)sif_get_le64(h + SIF_HDR_DATAOFF);
        f->datasize = (int64_t)sif_get_le64(h + SIF_HDR_DATASIZE);

        if (f->dtotal < 1 || f->dtotal > SIF_MAX_DESCRIPTORS)
                return err_set(e, "SIF: descriptor count %lld out of range (1-%d)",
                               (long long)f->dtotal, SIF_MAX_DESCRIPTORS);
        if (f->dfree < 0 || f->dfree > f->dtotal)
                return err_set(e, "SIF: free descriptor count %lld out of range",
                               (long long)f->dfree);
        /* dtotal is capped, so the product cannot overflow. */
        if (f->descsize != f->dtotal * SIF_DESCRIPTOR_SIZE)
                return err_set(e, "SIF: descriptor table size %lld does not match %lld descriptors",
                               (long long)f->descsize, (long long)f->dtotal);
        if (f->descoff < SIF_HEADER_SIZE || f->descsize > fsize || f->descoff > fsize - f->descsize)
                return err_set(e, "SIF: descriptor table lies outside the file");
        if (f->dataoff < 0 || f->datasize < 0 || f->dataoff > fsize ||
            f->datasize > fsize - f->dataoff)
                return err_set(e, "SIF: data section extends past the end of the file");
        return 0;
}

/* Decode one used descriptor and check it against the file. */
static int parse_descriptor(const unsigned char *d, int64_t fsize, const struct sif_file *f,
                            struct sif_descriptor *out, sing_err_t *e)
{
        memset(out, 0, sizeof(*out));
        out->used = 1;
        out->datatype = (int32_t)sif_get_le32(d + SIF_DESC_DATATYPE);
        out->id = sif_get_le32(d + SIF_DESC_ID);
        out->groupid = sif_get_le32(d + SIF_DESC_GROUPID);
        out->link = sif_get_le32(d + SIF_DESC_LINK);
        out->offset = (int64_t)sif_get_le64(d + SIF_DESC_OFFSET);
        out->size = (int64_t)sif_get_le64(d + SIF_DESC_SIZE);
        out->size_with_padding = (int64_t)sif_get_le64(d + SIF_DESC_SIZE_PADDED);
        out->ctime = (int64_t)sif_get_le64(d + SIF_DESC_CTIME);
        out->mtime = (int64_t)sif_get_le64(d + SIF_DESC_MTIME);

        if (out->offset < 0 || out->size < 0)
                return err_set(e, "SIF: object %u has a negative offset or size", out->id);
        if (out->offset > fsize || out->size > fsize - out->offset)
                return err_set(e, "SIF: object %u extends past the end of the file", out->id);
        if (overlaps(out->offset, out->size, 0, SIF_HEADER_SIZE) ||
            overlaps(out->offset, out->size, f->descoff, f->descsize))
                return err_set(e, "SIF: object %u overlaps the header or descriptor table",
                               out->id);

        if (!memchr(d + SIF_DESC_NAME, '\0', SIF_NAME_SIZE))
                return err_set(e, "SIF: object %u has a name without a terminating NUL", out->id);
        strcpy(out->name, (const char *)d + SIF_DESC_NAME);

        if (out->datatype == SIF_DATA_PARTITION) {
                out->fstype = (int32_t)sif_get_le32(d + SIF_DESC_FSTYPE);
                out->parttype = (int32_t)sif_get_le32(d + SIF_DESC_PARTTYPE);
                if (parse_arch(d + SIF_DESC_ARCH, out->arch) < 0)
                        return err_set(e, "SIF: object %u has a bad architecture field", out->id);
        }
        return 0;
}

static int read_descriptors(int fd, int64_t fsize, struct sif_file *f, sing_err_t *e)
{
        size_t total = (size_t)f->dtotal, used = 0;
        /* descsize <= file size was checked: the file justifies this buffer. */
        _cleanup_free_ unsigned char *table = malloc((size_t)f->descsize);
        if (!table)
                return err_errno(e, "SIF: allocating the descriptor table");
        if (read_exact(fd, table, (size_t)f->descsize, f->descoff, "descriptor table", e) < 0)
                return -1;

        for (size_t i = 0; i < total; i++) {
                unsigned char flag = table[i * SIF_DESCRIPTOR_SIZE + SIF_DESC_USED];
                if (flag > 1)
                        return err_set(e, "SIF: descriptor %zu has a bad \"used\" flag", i + 1);
                used += flag;
        }
        f->desc = calloc(used ? used : 1, sizeof(*f->desc));
        if (!f->desc)
                return err_errno(e, "SIF: allocating descriptors");

        for (size_t i = 0; i < total; i++) {
                const unsigned char *d = table + i * SIF_DESCRIPTOR_SIZE;
                struct sif_descriptor *out = &f->desc[f->ndesc];
                if (!d[SIF_DESC_USED])
                        continue;
                if (parse_descriptor(d, fsize, f, out, e) < 0)
                        return -1;
                /* Links and signatures name objects by id: ids must be unique. */
                for (uint32_t j = 0; j < f->ndesc; j++)
                        if (f->desc[j].id == out->id)
                                return err_set(e, "SIF: duplicate object id %u", out->id);
                f->ndesc++;
        }
        return 0;
}

/* Exactly one primary system partition, a squashfs, with the magic in place. */
static int find_primary(int fd, struct sif_file *f, sing_err_t *e)
{
        int count = 0;
        unsigned char magic[4];
        const struct sif_descriptor *p;

        for (uint32_t i = 0; i < f->ndesc; i++) {
                if (f->desc[i].datatype == SIF_DATA_PARTITION &&
                    f->desc[i].parttype == SIF_PART_PRIMSYS) {
                        if (count++ == 0)
                                f->primary = (int)i;
                }
        }
        if (count == 0)
                return err_set(e, "SIF: no primary system partition");
        if (count > 1)
                return err_set(e, "SIF: %d primary system partitions", count);

        p = &f->desc[f->primary];
        if (p->fstype != SIF_FS_SQUASH)
                return err_set(e,
                               "SIF: primary system partition is not squashfs (filesystem type %d)",
                               p->fstype);
        if (p->size < (int64_t)sizeof(magic))
                return err_set(e, "SIF: primary system partition is too small to hold a squashfs");
        if (read_exact(fd, magic, sizeof(magic), p->offset, "primary system partition", e) < 0)
                return -1;
        if (!squashfs_has_magic(magic))
                return err_set(e, "SIF: primary system partition does not start with the "
                                  "squashfs magic");
        return 0;
}

int sif_read_fd(int fd, struct sif_file *out, sing_err_t *e)
{
        struct stat st;
        unsigned char hdr[SIF_HEADER_SIZE];

        memset(out, 0, sizeof(*out));
        out->primary = -1;
        if (fstat(fd, &st) < 0)
                return err_errno(e, "SIF: fstat");
        if (!S_ISREG(st.st_mode))
                return err_set(e, "not a SIF file: not a regular file");
        if (st.st_size < SIF_HEADER_SIZE)
                return err_set(e, "not a SIF file: truncated header (%lld bytes)",
                               (long long)st.st_size);
        if (read_exact(fd, hdr, sizeof(hdr), 0, "header", e) < 0 ||
            parse_header(hdr, st.st_size, out, e) < 0 ||
            read_descriptors(fd, st.st_size, out, e) < 0 || find_primary(fd, out, e) < 0) {
                sif_free(out);
                return -1;
        }
        return 0;
}

void sif_free(struct sif_file *f)
{
        if (!f)
                return;
        free(f->desc);
        f->desc = NULL;
        f->ndesc = 0;
        f->primary = -1;
}

const struct sif_descriptor *sif_find_first(const struct sif_file *f, int32_t datatype)
{
        for (uint32_t i = 0; i < f->ndesc; i++)
                if (f->desc[i].used && f->desc[i].datatype == datatype)
                        return &f->desc[i];
        return NULL;
}

/* Architecture codes, as the Go SIF library defines them. */
static const struct {
        const char *code, *name;
} arch_table[] = {
    {"01", "386"},    {"02", "amd64"},    {"03", "arm"},   {"04", "arm64"},
    {"05", "ppc64"},  {"06", "ppc64le"},  {"07", "mips"},  {"08", "mipsle"},
    {"09", "mips64"}, {"10", "mips64le"}, {"11", "s390x"}, {"12", "riscv64"},
};

const char *sif_arch_code(const char *goarch)
{
        for (size_t i = 0; goarch && i < sizeof(arch_table) / sizeof(arch_table[0]); i++)
                if (strcmp(arch_table[i].name, goarch) == 0)
                        return arch_table[i].code;
        return NULL;
}

const char *sif_arch_name(const char *code)
{
        for (size_t i = 0; code && i < sizeof(arch_table) / sizeof(arch_table[0]); i++)
                if (strcmp(arch_table[i].code, code) == 0)
                        return arch_table[i].name;
        return NULL;
}

const char *sif_host_arch_code(void)
{
        const char *code = sif_arch_code(host_goarch());
        return code ? code : "00";
}
