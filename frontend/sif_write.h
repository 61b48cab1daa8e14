/* SIF writer, built so the (large) squashfs is never copied:
 *   1. off = sif_partition_offset(objs, n);
 *   2. mksquashfs ROOT OUT -offset off ...   (writes the squashfs at off and
 *      zero-fills the bytes before it);
 *   3. sif_finalize(fd, objs, n, off, size_of_squashfs, arch, &e);
 * which fills the first off bytes: header, descriptor table, small objects.
 * Layout: descriptor table at 4096 with 48 slots, the small objects packed
 * right after it, the partition aligned to 4096 after them. */
#ifndef SING_SIF_WRITE_H
#define SING_SIF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sif.h"

#define SIF_WRITE_DESCOFF 4096
#define SIF_WRITE_NDESC 48

/* A small object stored before the partition: definition file, generic JSON
 * (the OCI config), labels... name may be NULL (stored empty). */
struct sif_object {
        int32_t datatype;
        const char *name;
        const void *data;
        size_t len;
};

/* Where the squashfs partition must start for these objects. */
uint64_t sif_partition_offset(const struct sif_object *objs, size_t n);

/* Write the header, descriptor table and objects into the first part_offset
 * bytes of fd, whose squashfs of part_size bytes already sits at
 * part_offset. Objects go in group 1, in order, then the primary system
 * partition (squashfs, arch_code e.g. "02"). The file is cut to end exactly
 * at part_offset + part_size. Returns 0, or -1 with a message. */
int sif_finalize(int fd, const struct sif_object *objs, size_t n, uint64_t part_offset,
                 uint64_t part_size, const char *arch_code, sing_err_t *e);

/* sif_arch_code(), sif_arch_name() and sif_host_arch_code() live in sif.h,
 * shared with the reader. */

#endif
