/* Open one layer blob (tar, tar+gzip, tar+zstd, ...) for reading entries:
 * ISA-L (gzip) or libarchive (the other compressions) decompresses it into
 * a raw stream, on a thread of its own (layer_inflate.h), that tar_check
 * watches (the pax rules libarchive does not enforce) on its way to
 * libarchive's tar reader on the caller's thread. Messages never say
 * "(null)": libarchive gives none for some damaged archives. */
#ifndef SING_LAYER_READER_H
#define SING_LAYER_READER_H

#include <stdbool.h>

#include "error.h"

struct archive;
struct archive_entry;
struct layer_reader;

/* Returns the reader, or NULL with e set ("opening layer PATH: ..."). */
struct layer_reader *layer_reader_open(const char *path, sing_err_t *e);
void layer_reader_free(struct layer_reader *r);

/* The tar archive to call archive_read_data_block() on for the entry
 * layer_reader_next() gave. */
struct archive *layer_reader_archive(struct layer_reader *r);

/* Next entry: 1 with *ae, 0 at the end of the layer, -1 with e set. */
int layer_reader_next(struct layer_reader *r, struct archive_entry **ae, sing_err_t *e);

/* libarchive's message for `a`, or `fallback` when it has none. */
const char *layer_error_string(struct archive *a, const char *fallback);

#endif
