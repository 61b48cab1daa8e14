/* Blob downloads into the cache: several at once, sha256 and size verified
 * while streaming, resumed with a Range request when a connection drops. */
#ifndef SING_FETCH_H
#define SING_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "cache.h"

struct blob_job {
        const char *digest; /* validated sha256:<hex> */
        int64_t size;       /* from the manifest */
        const char *what;   /* "layer", "config": for messages */
        char *path;         /* out: the blob in the cache (malloc'd) */
        bool was_cached;    /* out */
};

/* Make every job's blob present in the cache. At most `parallel` transfers
 * run at once. */
int fetch_blobs(struct registry *r, const struct cache *c, struct blob_job *jobs, size_t n,
                int parallel, sing_err_t *e);

/* For a caller that uses blobs while others still download (from another
 * thread): ready(ctx, i) once jobs[i].path is complete; cancelled(ctx)
 * polled between transfers, true to stop early (an error). */
struct fetch_hooks {
        void (*ready)(void *ctx, size_t index);
        bool (*cancelled)(void *ctx);
        void *ctx;
        /* Start the transfers from jobs[n-1] down: a top-down merge needs
         * the top layer first, and with more layers than parallel
         * transfers it would otherwise start last. */
        bool last_first;
};

int fetch_blobs_hooked(struct registry *r, const struct cache *c, struct blob_job *jobs, size_t n,
                       int parallel, const struct fetch_hooks *h, sing_err_t *e);

#endif
