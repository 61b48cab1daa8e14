/* Registry API v2: manifests, image indexes and platform choice. */
#ifndef SING_REGISTRY_H
#define SING_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "http.h"

struct blob_desc {
        char *digest;
        int64_t size;
        char *media_type;
};

struct image_manifest {
        char *top_digest; /* digest of what the tag (or pinned digest) named: index or manifest */
        char *manifest_digest; /* the platform's image manifest */
        struct blob_desc config;
        struct blob_desc *layers;
        size_t nlayers;
};

/* GET /v2/<repo>/<kind>/<name>, answering a 401 by authenticating, and a
 * 429 or 503 by asking again (registry_status.h bounds the tries and waits). */
int registry_get(struct registry *r, const char *kind, const char *name, const char *accept,
                 size_t max_body, struct http_response *resp, sing_err_t *e);

/* Fill e for a registry answer that is neither success nor 401/404: a 429
 * says "rate limited by REGISTRY: authenticate to raise the limit", anything
 * else names the status; both quote the registry's own message. `what`:
 * "manifest latest", for the message. Returns -1. */
int registry_status_error(const struct registry *r, const struct http_response *resp,
                          const char *what, sing_err_t *e);

/* Resolve a tag or digest to one image manifest for `platform`
 * ("amd64", "arm64/v8", or NULL for the host's). */
int registry_resolve(struct registry *r, const char *tag_or_digest, const char *platform,
                     struct image_manifest *m, sing_err_t *e);
/* Same, but first ask `have(top_digest, ctx)`: when it answers true, stop
 * and return 1 with only m->top_digest set. For a tag that is one HEAD
 * request and no GET. A registry that cannot be reached leaves e->code
 * EHOSTUNREACH (http.h). */
int registry_resolve_unless(struct registry *r, const char *tag_or_digest, const char *platform,
                            bool (*have)(const char *top_digest, void *ctx), void *ctx,
                            struct image_manifest *m, sing_err_t *e);
void image_manifest_free(struct image_manifest *m);

/* One manifest or index document as a registry sent it, read the way
 * registry_resolve does (split out so unit tests and fuzzers reach the real
 * code). body is NUL-terminated; content_type is the Content-Type header or
 * NULL; where ("registry/repository") and name (tag or digest) are for
 * messages. Returns:
 *   0: an image manifest; m->config and m->layers are filled;
 *   1: an image index; *next_digest (malloc'd) names the manifest for
 *      `platform`. With next_digest NULL an index is an error instead;
 *  -1: an error; m may hold part of the layers (image_manifest_free). */
int registry_parse_document(const char *body, const char *content_type, const char *platform,
                            const char *where, const char *name, struct image_manifest *m,
                            char **next_digest, sing_err_t *e);

/* host_goarch() lives in common/host_arch.h (through platform.h). */
#include "platform.h"

#endif
