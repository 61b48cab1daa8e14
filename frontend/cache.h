/* The user's cache: content-addressed blobs and converted SIFs, in a 0700
 * directory the user owns. Entries are written under a temp name and renamed,
 * so a reader never sees a partial entry; per-entry locks make concurrent
 * pulls of one image download each blob once. */
#ifndef SING_CACHE_H
#define SING_CACHE_H

#include <stdbool.h>

#include "error.h"

struct cache {
        char *root;
        bool temporary; /* --disable-cache: removed by cache_close */
};

int cache_open(struct cache *c, bool disable, sing_err_t *e);
void cache_close(struct cache *c);

/* root/blobs/sha256/<hex>; digest must be valid (digest_is_valid). */
char *cache_blob_path(const struct cache *c, const char *digest);
/* root/sif/<hex>-<arch>.sif: the image converted, keyed by what the
 * reference named (tag's document digest or pinned digest) and the arch. */
char *cache_sif_path(const struct cache *c, const char *digest, const char *arch);
/* A temp path in the same directory as `final`, for write-then-rename. */
char *cache_temp_path(const char *final);

/* Lock `name` (a digest hex) exclusively. wait=false: returns 0 if another
 * process holds it. Returns 1 and *fd when locked; closing fd unlocks. */
int cache_lock(const struct cache *c, const char *name, bool wait, int *fd, sing_err_t *e);

/* Copy src to dst atomically (temp file beside dst, then rename; without
 * force an existing dst is an error). A reflink where the file system can,
 * else an in-kernel copy. The copy gets mode 0777 & ~umask, like a SIF. */
int copy_file_atomic(const char *src, const char *dst, bool force, sing_err_t *e);

/* Remove a directory tree without following symlinks. */
int remove_tree(const char *path);

#endif
