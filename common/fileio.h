/* Whole-buffer I/O on file descriptors, retrying short reads and writes and
 * EINTR. Used by both sides (libc only). */
#ifndef SING_FILEIO_H
#define SING_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write all n bytes. Returns 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t n);

/* pread up to n bytes at off, retrying short reads and EINTR; returns the
 * count (short only at end of file), or -1 with errno set. */
ssize_t pread_full(int fd, void *buf, size_t n, uint64_t off);

/* Read fd to its end into a NUL-terminated malloc'd buffer of at most max
 * bytes. Returns 0, or -1 with errno set (EFBIG when larger than max). */
int read_all_bounded(int fd, size_t max, char **data, size_t *len);

#endif
