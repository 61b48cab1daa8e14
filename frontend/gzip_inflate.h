/* A gzip stream decompressed with ISA-L's igzip (2-3 times zlib's speed,
 * which is what bounds a layer merge), giving zlib's bytes: members one
 * after the other (concatenated gzip is valid, and some tools write it),
 * each member's CRC32 and ISIZE checked. After the last member, bytes that
 * do not start another member (zero padding, say) end the stream, as they
 * do for libarchive's gzip filter, which the layer reader used before. The
 * memory is the decoder's state and one GZIP_INFLATE_IN input buffer. */
#ifndef SING_GZIP_INFLATE_H
#define SING_GZIP_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct gzip_inflate;

#define GZIP_INFLATE_IN (128u << 10)

/* Where the compressed bytes come from: up to len bytes into buf, 0 at the
 * end, -1 with errno set. */
typedef ssize_t (*gzip_read_fn)(void *ctx, void *buf, size_t len);

/* Whether the n bytes at p start a gzip member as libarchive's gzip filter
 * sees one: the magic, deflate, no reserved flag (4 bytes are needed). */
bool gzip_member_start(const void *p, size_t n);

/* A decoder reading from `read`; NULL with e set when out of memory. */
struct gzip_inflate *gzip_inflate_new(gzip_read_fn read, void *ctx, sing_err_t *e);

/* A decoder reading the file fd from its start (the fd stays the caller's). */
struct gzip_inflate *gzip_inflate_new_fd(int fd, sing_err_t *e);

/* Decompress up to cap bytes into out: 1 with *len > 0 (less than cap only
 * at the end of the stream), 0 at the end, -1 with e set (damaged,
 * truncated, failed checksum, read error): a one-line message. */
int gzip_inflate_read(struct gzip_inflate *g, void *out, size_t cap, size_t *len, sing_err_t *e);

void gzip_inflate_free(struct gzip_inflate *g);

#endif
