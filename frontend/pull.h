/* Pulling docker:// images: the pipeline from a reference to a SIF file.
 * cmd_pull (the command) and cmd_run (docker:// images run from the cache)
 * both go through here. */
#ifndef SING_PULL_H
#define SING_PULL_H

#include <stdbool.h>
#include <stddef.h>

#include "cache.h"
#include "credentials.h"
#include "error.h"

/* Filled by the command: pull_opts_from_env (envopts.h), then its flags. */
struct pull_opts {
        const char *arch; /* --arch, or NULL for the host's */
        bool nohttps;     /* --nohttps / SINGULARITY_NOHTTPS: plain HTTP to the registry */
        /* Where the cache is; .disable: --disable-cache / SINGULARITY_DISABLE_CACHE. */
        struct cache_opts cache;
        const char *ca_file, *ca_dir; /* SSL_CERT_FILE, SSL_CERT_DIR */
        struct cred_sources creds;    /* environment pair, Docker config path */
        /* Credentials from a recipe (build issue); NULL: creds, below. */
        const char *username, *password;
        bool no_token; /* recipe "Token: no": never ask a token server */
};

/* Pull `uri` (docker://...) and write a SIF at `out_path` atomically
 * (temp file in the same directory, renamed at the end). `force` allows
 * replacing an existing file. */
int pull_to_file(const char *uri, const struct pull_opts *o, const char *out_path, bool force,
                 sing_err_t *e);

/* Make sure the cache holds a SIF for `uri` (keyed by manifest digest) and
 * return its path (malloc'd). A pinned @sha256: reference already converted
 * makes no network request; a tag already converted makes one HEAD request
 * and no GET, and when the registry cannot be reached runs what the tag
 * named last time (tag_record.h), with a warning. */
int pull_to_cache(const char *uri, const struct pull_opts *o, char **sif_path, sing_err_t *e);
/* The same, with the digest the reference resolved to in *digest (malloc'd). */
int pull_to_cache_digest(const char *uri, const struct pull_opts *o, char **sif_path, char **digest,
                         sing_err_t *e);

/* The blobs of an image, in the cache (or, with `pending`, still to be
 * downloaded), for stages that want the layers themselves (build:
 * sandboxes, recipes). */
struct pull_pending;
struct pulled_image {
        char *config_json; /* the image config, NUL-terminated */
        size_t config_len;
        char **layers; /* blob paths in the cache, bottom to top */
        size_t nlayers;
        char *digest; /* what the reference resolved to (index or manifest) */
        char *cache_root;
        bool cache_temporary; /* remove cache_root when freed */
        /* Non-NULL: the layers are not downloaded yet (pull_cached_or_blobs);
         * pulled_image_feed_start downloads them beside the merge. */
        struct pull_pending *pending;
};

int pull_fetch(const char *uri, const struct pull_opts *o, struct pulled_image *img, sing_err_t *e);

/* A recipe's Bootstrap docker base: the cached SIF when the cache already
 * holds it (*sif_path, found as pull_to_cache_digest finds it), else
 * nothing converted: *sif_path NULL and the blobs of the manifest that
 * lookup resolved in the cache (*img, which the caller frees). With
 * `defer`, only the config is fetched now and the layers are left to
 * download (img->pending, pulled_image_feed_start), so that the build's
 * merge takes each layer as it arrives, as a pull does. *digest (malloc'd):
 * what the reference resolved to. */
int pull_cached_or_blobs(const char *uri, const struct pull_opts *o, bool defer, char **sif_path,
                         char **digest, struct pulled_image *img, sing_err_t *e);

/* The layers of an image with img->pending: start downloading them in a
 * thread of this process (the forked build child that merges them) and
 * return the feed (layer_feed.h: its waiter for layers_merge_waiting, then
 * layer_feed_finish). *feed NULL: the layers are all in the cache already.
 * Once per image: it marks img->pending started (a const img, as the
 * merge's callers hold it, with state of its own behind that pointer). */
struct layer_feed;
int pulled_image_feed_start(const struct pulled_image *img, struct layer_feed **feed,
                            sing_err_t *e);
void pulled_image_free(struct pulled_image *img);

#endif
