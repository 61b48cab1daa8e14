/* The user's cache: content-addressed blobs and converted SIFs, in a 0700
 * directory the user owns. Entries are written under a temp name and renamed,
 * so a reader never sees a partial entry; per-entry locks make concurrent
 * pulls of one image download each blob once.
 *
 * A cache directory we may only read (an admin's shared cache, filled by
 * root) is used read-only: what it holds is looked up there first (and only
 * if its identity record matches; nothing there is ever written, locked or
 * chmod-ed), and what it lacks goes to a private temporary cache, as with
 * --disable-cache. */
#ifndef SING_CACHE_H
#define SING_CACHE_H

#include <stdbool.h>

#include "digest.h"
#include "error.h"

/* Where the cache is; filled from the environment by the command
 * (envopts.h: cache_opts_from_env), then its flags (--disable-cache). */
struct cache_opts {
        const char *dir;    /* SINGULARITY_CACHEDIR; NULL: <home>/.singularity/cache */
        const char *home;   /* $HOME; NULL: the password database's */
        const char *tmpdir; /* where a temporary cache goes; NULL: /tmp */
        bool disable;       /* --disable-cache: a private temporary cache */
        /* An existing private empty directory the caller made (and removes)
         * for what a read-only cache lacks; NULL: one is made here and
         * removed by cache_close. */
        const char *temp_dir;
        /* Only looking up (the light binary): a read-only cache gets no
         * private part (fd -1, root NULL). */
        bool lookup_only;
};

struct cache {
        char *root;     /* canonical path; every component is ours or root's */
        int fd;         /* root, opened with O_NOFOLLOW component by component */
        bool temporary; /* --disable-cache: removed by cache_close */
        int use_fd;     /* cache_hold: a shared lock on locks/in-use, or -1 */
        /* The read-only cache in front of the private one, or NULL / -1. */
        char *shared_root;
        int shared_fd;
};

/* Open (creating) the cache. A cache whose path another user could swap is
 * refused (trusted_dir.h). */
int cache_open(struct cache *c, const struct cache_opts *o, sing_err_t *e);
/* Remove the temp files of pulls killed with SIGKILL (temp_sweep), from
 * the directories temp files are made in. Pulls do it; the light binary's
 * cache lookup does not (its start-up time matters). */
void cache_sweep(const struct cache *c);
void cache_close(struct cache *c);

/* A pull holds the cache while it runs (a shared flock on locks/in-use,
 * released by cache_close): `cache clean` keeps every blob while any pull
 * holds it, as a pull may be about to read any cached blob. */
void cache_hold(struct cache *c);
/* For cache clean: true when no pull holds the cache (and none can start
 * to until *fd is closed: an exclusive lock, taken without waiting). */
bool cache_try_exclusive(const struct cache *c, int *fd);

/* Identity records: "this file is the one we verified". A record keeps the
 * file's dev, inode, size, mtime and ctime in root/verified/<name>, a
 * directory only we can write; any later write, replacement or chmod of
 * the file changes one of them. Names are "blob-<hex>", "sif-<hex>-<arch>". */
int cache_record_write(const struct cache *c, const char *name, int fd, sing_err_t *e);
bool cache_record_matches(const struct cache *c, const char *name, int fd);
/* The same against the read-only cache's records (false without one). */
bool cache_shared_record_matches(const struct cache *c, const char *name, int fd);

/* The cached SIF for digest/arch, if it is there and its record says it is
 * the file we converted; NULL otherwise (malloc'd path). The read-only
 * cache is looked in first; a SIF there without a matching record is not
 * used (nothing proves what it is: the image is converted again). */
char *cache_sif_usable(const struct cache *c, const char *digest, const char *arch);
/* Record the SIF just written at cache_sif_path(digest, arch); sha: its
 * content's sha256 ("sha256:<hex>") to keep in the record, or NULL. */
int cache_sif_verified(const struct cache *c, const char *digest, const char *arch, const char *sha,
                       sing_err_t *e);
/* A cached SIF of the private cache whose record keeps a content hash and
 * differs from the file at most in the ctime (exact: not even there). Not
 * exact: one linked as a pull's output whose other name was since removed,
 * renamed or linked again (each changes the ctime); cache_sif_usable_rehashed
 * (cache_sif_out.h) then decides with the content. An fd of it, with the
 * recorded hash in sha; else -1. */
int cache_sif_hashed_record(const struct cache *c, const char *digest, const char *arch, bool exact,
                            char sha[DIGEST_STR_LEN + 1]);

/* Where the blob is or will be: in the read-only cache when it is there
 * with a matching record, else root/blobs/sha256/<hex>; digest must be
 * valid (digest_is_valid). */
char *cache_blob_path(const struct cache *c, const char *digest);
/* The read-only cache holds this blob, as its record says. */
bool cache_shared_blob_recorded(const struct cache *c, const char *digest);
/* root/sif/<hex>-<arch>.sif: the image converted, keyed by what the
 * reference named (tag's document digest or pinned digest) and the arch. */
char *cache_sif_path(const struct cache *c, const char *digest, const char *arch);
/* A temp path in the same directory as `final`, for write-then-rename:
 * ".<name>.tmp-<pid>-XXXXXX". Whoever creates it holds an flock on it
 * (temp_lock) while it lives, so that temp_sweep can tell a dead writer's
 * leftovers (SIGKILL) from a live one's. */
char *cache_temp_path(const char *final);
/* flock the temp file fd for its lifetime (never blocks). */
void temp_lock(int fd);
/* Remove ".*.tmp-<pid>-*" files of dirfd whose pid is not running here
 * and whose lock nobody holds (a writer on another host sharing the
 * directory holds its lock). Only names starting with `prefix` when it is
 * not NULL. Directories are left alone. Returns how many were removed. */
unsigned temp_sweep(int dirfd, const char *prefix);
/* The same for the temps of one output file (".<name>.tmp-*" beside it). */
unsigned temp_sweep_beside(const char *final);

/* Lock `name` (a digest hex) exclusively. wait=false: returns 0 if another
 * process holds it. Returns 1 and *fd when locked; closing fd unlocks. */
int cache_lock(const struct cache *c, const char *name, bool wait, int *fd, sing_err_t *e);

/* Copy src to dst atomically (temp file beside dst, then rename; without
 * force an existing dst is an error). A reflink where the file system can,
 * else an in-kernel copy. The copy gets mode 0777 & ~umask, like a SIF. */
int copy_file_atomic(const char *src, const char *dst, bool force, sing_err_t *e);

#endif
