/* SIF, the Singularity Image Format: the on-disk layout (shared by the reader
 * here and the writer in frontend/sif_write.c) and a reader that treats the
 * file as hostile, because it runs inside the setuid starter.
 * The layout is SIF version 01 as Sylabs' Go library (sylabs/sif) writes it: a
 * global header, a table of fixed-size descriptors, then the data objects
 * they point at; the offsets and sizes are below. */
#ifndef SING_SIF_H
#define SING_SIF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Data object types (descriptor field "data type"). */
enum {
        SIF_DATA_DEFFILE = 0x4001,
        SIF_DATA_ENVVAR = 0x4002,
        SIF_DATA_LABELS = 0x4003,
        SIF_DATA_PARTITION = 0x4004,
        SIF_DATA_SIGNATURE = 0x4005,
        SIF_DATA_GENERICJSON = 0x4006,
        SIF_DATA_GENERIC = 0x4007,
        SIF_DATA_CRYPTOMESSAGE = 0x4008,
        SIF_DATA_SBOM = 0x4009,
};

/* Partition filesystem types. */
enum {
        SIF_FS_SQUASH = 1,
        SIF_FS_EXT3 = 2,
        SIF_FS_IMMUOBJECTS = 3,
        SIF_FS_RAW = 4,
};

/* Partition types. */
enum {
        SIF_PART_SYSTEM = 1,
        SIF_PART_PRIMSYS = 2,
        SIF_PART_DATA = 3,
        SIF_PART_OVERLAY = 4,
};

/* Layout. All integers little-endian, structures packed. */
#define SIF_MAGIC "SIF_MAGIC" /* stored with its NUL: 10 bytes */
#define SIF_VERSION "01"      /* stored with its NUL: 3 bytes */
#define SIF_LAUNCH_SCRIPT "#!/usr/bin/env run-singularity\n"
#define SIF_GROUP_MASK 0xF0000000u /* OR-ed into group ids; alone = no group */
#define SIF_HEADER_SIZE 128
#define SIF_DESCRIPTOR_SIZE 585
#define SIF_NAME_SIZE 128
#define SIF_MAX_DESCRIPTORS 1024 /* reader's cap; writers use 48 */
#define SIF_PART_ALIGN 4096

enum sif_header_offsets {
        SIF_HDR_LAUNCH = 0,   /* 32 bytes */
        SIF_HDR_MAGIC = 32,   /* 10 */
        SIF_HDR_VERSION = 42, /* 3 */
        SIF_HDR_ARCH = 45,    /* 3 */
        SIF_HDR_UUID = 48,    /* 16 */
        SIF_HDR_CTIME = 64,
        SIF_HDR_MTIME = 72,
        SIF_HDR_DFREE = 80,
        SIF_HDR_DTOTAL = 88,
        SIF_HDR_DESCOFF = 96,
        SIF_HDR_DESCSIZE = 104,
        SIF_HDR_DATAOFF = 112,
        SIF_HDR_DATASIZE = 120,
};

enum sif_descriptor_offsets {
        SIF_DESC_DATATYPE = 0, /* int32 */
        SIF_DESC_USED = 4,     /* uint8 */
        SIF_DESC_ID = 5,       /* uint32 */
        SIF_DESC_GROUPID = 9,
        SIF_DESC_LINK = 13,
        SIF_DESC_OFFSET = 17, /* int64 */
        SIF_DESC_SIZE = 25,
        SIF_DESC_SIZE_PADDED = 33,
        SIF_DESC_CTIME = 41,
        SIF_DESC_MTIME = 49,
        SIF_DESC_UID = 57,    /* deprecated */
        SIF_DESC_GID = 65,    /* deprecated */
        SIF_DESC_NAME = 73,   /* 128 bytes */
        SIF_DESC_EXTRA = 201, /* 384 bytes, by data type */
        /* Partition extra. */
        SIF_DESC_FSTYPE = 201,   /* int32 */
        SIF_DESC_PARTTYPE = 205, /* int32 */
        SIF_DESC_ARCH = 209,     /* 3 bytes */
};

struct sif_descriptor {
        int32_t datatype;
        uint8_t used;
        uint32_t id, groupid, link;
        int64_t offset, size, size_with_padding, ctime, mtime;
        char name[129];
        int32_t fstype, parttype; /* partitions only, else 0 */
        char arch[4];             /* partitions only: "02" etc., else "" */
};

struct sif_file {
        char launch[33];
        char arch[4]; /* "02" etc., or "" */
        uint8_t uuid[16];
        int64_t ctime, mtime, dfree, dtotal, descoff, descsize, dataoff, datasize;
        /* Only the used descriptors, in table order (so ndesc <= dtotal). */
        uint32_t ndesc;
        struct sif_descriptor *desc;
        int primary; /* index in desc of the one primary system partition, or -1 */
};

/* Does this buffer (the start of a file) carry the SIF magic and so claim
 * to be a SIF file? Lets callers tell "not SIF" from "broken SIF". */
int sif_has_magic(const void *buf, size_t len);

/* Read and validate the SIF file open on fd (pread only; the offset of fd is
 * not used). On success fills *out (free with sif_free) and returns 0; on
 * any inconsistency returns -1 with a one-line message in *e and *out left
 * empty. A success guarantees: every used object lies inside the file, names
 * are NUL-terminated, and there is exactly one primary system partition,
 * of type squashfs, whose data starts with the squashfs magic. */
int sif_read_fd(int fd, struct sif_file *out, sing_err_t *e);
void sif_free(struct sif_file *f);

/* First used descriptor of the given data type, or NULL. */
const struct sif_descriptor *sif_find_first(const struct sif_file *f, int32_t datatype);

/* Architecture codes ("02") <-> Go architecture names ("amd64"). NULL when
 * unknown. sif_host_arch_code() is the code for the machine this was built
 * for (host_arch.h; "00" when it has none). */
const char *sif_arch_code(const char *goarch);
const char *sif_arch_name(const char *code);
const char *sif_host_arch_code(void);

/* Little-endian field access, shared with the writer. */
static inline uint32_t sif_get_le32(const unsigned char *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t sif_get_le64(const unsigned char *p)
{
        return (uint64_t)sif_get_le32(p) | (uint64_t)sif_get_le32(p + 4) << 32;
}

static inline void sif_put_le32(unsigned char *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

static inline void sif_put_le64(unsigned char *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (unsigned char)(v >> (8 * i));
}

#endif
