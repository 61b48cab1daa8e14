/* The tar rules libarchive does not enforce, checked on the uncompressed
 * stream as it is read: Go's archive/tar (which umoci, Docker and
 * Apptainer use) refuses these archives, so an image that other runtimes
 * cannot unpack is not turned into a SIF that differs from theirs.
 *  - a pax extended header ('x' or 'g') must be a sequence of well-formed
 *    "LEN KEY=VALUE\n" records filling it exactly; no NUL in a path,
 *    linkpath, uname or gname value, nor in any other key; GNU.sparse
 *    offset/numbytes records alternate;
 *  - in a local header, non-empty uid, gid and size are decimal integers
 *    and atime, mtime, ctime are decimal seconds[.digits];
 *  - a pax header or GNU long name/link is at most 1 MiB.
 * The stream structure is followed as Go does (header-only types carry no
 * data whatever their size field; a pax "size" replaces the next header's).
 * Where the stream stops looking like tar (bad checksum, bad number, end
 * of archive) the checker stops and leaves the verdict to libarchive. */
#ifndef SING_TAR_CHECK_H
#define SING_TAR_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

struct tar_check;

struct tar_check *tar_check_new(void);
void tar_check_free(struct tar_check *c);

/* The next len bytes of the stream. Returns 0, or -1 with e set. */
int tar_check_feed(struct tar_check *c, const void *buf, size_t len, sing_err_t *e);

/* After the whole stream was fed: did it end, at a block boundary, right
 * after pax extended headers that no entry followed? Go and GNU tar read
 * that as a valid empty archive; libarchive calls it damaged. */
bool tar_check_ended_after_extension(const struct tar_check *c);

#endif
