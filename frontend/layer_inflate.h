/* A layer's decompression on a thread of its own: the thread reads the
 * decompressed stream of ISA-L's gzip decoder (gzip_inflate.h), or of a
 * libarchive "raw" reader (zstd, xz, ...), into a small ring of blocks
 * while the caller's thread parses the tar and writes the files, so that a
 * merge runs at the speed of the slower of the two, not of their sum. At
 * most LAYER_INFLATE_SLOTS blocks of about 256 KiB are held: 4 keep the
 * decoder busy (as fast as 8 in a merge on tmpfs) and leave the MiB to the
 * mksquashfs of a pull, whose queues fill fuller from a faster decoder. */
#ifndef SING_LAYER_INFLATE_H
#define SING_LAYER_INFLATE_H

#include <stddef.h>

#include "error.h"

struct archive;
struct gzip_inflate;
struct layer_inflate;

#define LAYER_INFLATE_SLOTS 4

/* Start reading `raw` (its header already read; it belongs to the thread
 * until layer_inflate_stop). NULL with e set when no thread can start. */
struct layer_inflate *layer_inflate_start(struct archive *raw, sing_err_t *e);

/* The same for a gzip stream, read from its start: gz belongs to the thread
 * until layer_inflate_stop. */
struct layer_inflate *layer_inflate_start_gzip(struct gzip_inflate *gz, sing_err_t *e);

/* The next decompressed block, valid until the next call: 1 with *buf and
 * *len, 0 at the end of the stream, -1 with e set to the decoder's message
 * for damaged or truncated data. */
int layer_inflate_next(struct layer_inflate *f, const void **buf, size_t *len, sing_err_t *e);

/* Stop the thread (wherever it is), join it and free f. NULL is a no-op. */
void layer_inflate_stop(struct layer_inflate *f);

#endif
