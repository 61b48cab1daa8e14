/* The squashfs superblock, the one place that knows its layout: every image
 * kind (SIF partition, plain squashfs, .simg) and every squashfs the
 * frontend writes is checked by it before anything is mounted or published. */
#ifndef SING_SQUASHFS_H
#define SING_SQUASHFS_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define SQUASHFS_SUPER_SIZE 96 /* squashfs 4 superblock */

/* buf (at least 4 bytes) starts with the squashfs magic. */
bool squashfs_has_magic(const void *buf);

/* The squashfs at offset off of fd, with avail bytes of file behind it: a
 * version 4 superblock whose image (bytes_used) fits in those bytes. The
 * size it claims is put in *bytes_used when that is not NULL. */
int squashfs_check(int fd, uint64_t off, uint64_t avail, uint64_t *bytes_used, sing_err_t *e);

#endif
