/* sha256 of local files, for image sources read from disk (OCI layouts,
 * docker-save tarballs): the same "sha256:<hex>" form the registry uses. */
#ifndef SING_FILE_DIGEST_H
#define SING_FILE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct evp_md_ctx_st;

/* A running sha256: begin, update with every byte, end into out. */
struct sha256_run {
        struct evp_md_ctx_st *md;
};
int sha256_begin(struct sha256_run *r, sing_err_t *e);
void sha256_update(struct sha256_run *r, const void *buf, size_t len);
/* Fills out ("sha256:" + 64 hex + NUL) and frees the context. */
void sha256_end(struct sha256_run *r, char out[DIGEST_STR_LEN + 1]);
void sha256_abandon(struct sha256_run *r);

/* Digest and size (NULL: not wanted) of what fd reads from where it is to
 * its end; each byte is also written to copy_to unless that is -1. */
int fd_sha256(int fd, int copy_to, char out[DIGEST_STR_LEN + 1], int64_t *size, sing_err_t *e);
/* Digest and size of the file at path. */
int file_sha256(const char *path, char out[DIGEST_STR_LEN + 1], int64_t *size, sing_err_t *e);
/* Digest of the file's content after gzip/zstd/xz decompression (the file
 * as it is when it is not compressed): a layer's diff_id. */
int file_sha256_uncompressed(const char *path, char out[DIGEST_STR_LEN + 1], sing_err_t *e);

#endif
