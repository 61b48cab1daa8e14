/* The output of a pull, made from the cached SIF so that the image's bytes
 * are kept once where the file system lets us:
 *  - a reflink (FICLONE) where blocks can be shared (btrfs, XFS, bcachefs):
 *    two files, nothing couples them;
 *  - else a hard link, when the SIF is in the user's own cache on the
 *    output's file system (ext4, the common case): one inode under two
 *    names. The link changes the inode's ctime, so the SIF's identity
 *    record (cache.h) is written again after it; from then on any change to
 *    the output (a write, chmod, rename or removal all change its ctime)
 *    makes the record mismatch, and the next run converts the image again
 *    instead of running the changed file. The record keeps the content's sha256
 *    too: when only the ctime differs (the output removed or renamed,
 *    another name added), cache_sif_usable_rehashed checks the bytes instead
 *    of converting again;
 *  - else a copy (another file system; or the read-only cache: a link to
 *    root's file is refused by protected_hardlinks, and would tie the
 *    user's output to root's entry).
 * The output appears whole under its name (a temp name, then rename). */
#ifndef SING_CACHE_SIF_OUT_H
#define SING_CACHE_SIF_OUT_H

#include <stdbool.h>

#include "cache.h"
#include "error.h"

enum sif_out_how { SIF_OUT_REFLINK, SIF_OUT_LINK, SIF_OUT_COPY };

/* cached: a path cache_sif_usable returned (or the one just converted and
 * recorded) for digest/arch. Says on one INFO line how out was made. */
int cache_sif_publish(const struct cache *c, const char *digest, const char *arch,
                      const char *cached, const char *out, bool force, sing_err_t *e);

/* cache_sif_usable, or else, for a SIF of the private cache whose record
 * differs only in the ctime and keeps a hash (cache_sif_hashed_record), the
 * SIF when its content still has that hash (the record is then written
 * again). For the image tool: the light binary links no hashing. */
char *cache_sif_usable_rehashed(const struct cache *c, const char *digest, const char *arch);

#endif
