/* A merge sink that writes one pax tar stream to a file descriptor (the pipe
 * into `mksquashfs -tar`). Numeric owners only, mode, mtime with
 * nanoseconds, symlink targets, hardlinks and xattrs are kept. */
#ifndef SING_TAR_SINK_H
#define SING_TAR_SINK_H

#include "error.h"
#include "layers.h"

/* Start a stream on `fd` (not closed by the sink). Returns 0 or -1. */
int tar_sink_open(int fd, struct merge_sink *out, sing_err_t *e);
/* Finish the stream (end-of-archive blocks) and free the sink; frees it on
 * failure too. Returns 0 or -1. */
int tar_sink_close(struct merge_sink *s, sing_err_t *e);

#endif
