/* The outer tarball of an image file (docker save, oci-archive), unpacked
 * in one streaming pass into a private temporary directory: every member
 * becomes a numbered file (its name never becomes a path on disk), with the
 * sha256 and size of its bytes computed on the way, so that the readers of
 * the formats look members up by name and check them against the digests
 * their manifests name. Symlinks and hardlinks between members (skopeo
 * writes "<id>/layer.tar -> ../<diff_id>.tar") are followed inside the
 * archive only. The outer tar may be gzip/zstd/xz-compressed. */
#ifndef SING_ARCHIVE_STORE_H
#define SING_ARCHIVE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

#define ARCHIVE_STORE_MAX_MEMBERS 200000u

struct store_member {
        char *name; /* normalised ("a/b", no "./", no trailing "/") */
        char *file; /* its bytes, in the store's directory; NULL for a link */
        char *link; /* normalised target of a symlink or hardlink */
        char digest[DIGEST_STR_LEN + 1];
        int64_t size;
};

struct archive_store {
        char *dir; /* 0700, registered for removal on an interrupt */
        struct store_member *v;
        size_t n;
};

/* Unpack `archive` (named `what` in messages) into a new directory made
 * beside `near`. On failure nothing is left behind. */
int archive_store_unpack(const char *archive, const char *what, const char *near,
                         struct archive_store *st, sing_err_t *e);

/* The regular member called `name` (links followed). `name` is normalised
 * first; a ".." in it is an error, like a name that is not there. */
int archive_store_lookup(const struct archive_store *st, const char *name,
                         const struct store_member **m, sing_err_t *e);

/* Remove the directory and free everything (safe on a zeroed store). */
void archive_store_free(struct archive_store *st);

#endif
