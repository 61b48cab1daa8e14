#include "registry.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "digest.h"
#include "log.h"
#include "registry_status.h"

#define MANIFEST_MAX_BYTES (4 << 20)

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

static const char ACCEPT_ALL[] =
    "Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", " MT_DOCKER_MANIFEST;

/* Layer media types we can unpack (tar, gzip or zstd; libarchive detects). */
static const char *const layer_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
    NULL,
};

/* One request, answering a 401 by authenticating (twice at most). */
static int request_authenticated(struct registry *r, bool head, const char *url, const char *accept,
                                 size_t max_body, struct http_response *resp, sing_err_t *e)
{
        const char *headers[] = {accept, NULL};
        for (int attempt = 0; attempt < 3; attempt++) {
                _cleanup_free_ char *auth = NULL;
                if (registry_auth_line(r, &auth, e) < 0)
                        return -1;
                r->requests++;
                log_debug("%s %s%s", head ? "HEAD" : "GET", url, auth ? " (authenticated)" : "");
                if ((head ? http_head(url, accept ? headers : NULL, auth, r->host, resp, e)
                          : http_get(url, accept ? headers : NULL, auth, r->host, max_body, resp,
                                     e)) < 0)
                        return -1;
                if (resp->status != 401)
                        return 0;
                if (registry_authenticate(r, resp->www_authenticate, attempt > 0, e) < 0) {
                        http_response_free(resp);
                        return -1;
                }
                http_response_free(resp);
        }
        return err_set(e, "authentication failed for %s", r->display);
}

/* 429 (rate limited) and 503 (busy) are asked again, after the
 * Retry-After the registry gave or a short backoff, within a bounded
 * total wait; the last answer is left to the caller to report. */
static int registry_request(struct registry *r, bool head, const char *kind, const char *name,
                            const char *accept, size_t max_body, struct http_response *resp,
                            sing_err_t *e)
{
        _cleanup_free_ char *url = registry_url(r, kind, name);
        long waited = 0;
        if (!url)
                return err_set(e, "out of memory");
        for (int try = 1;; try++) {
                if (request_authenticated(r, head, url, accept, max_body, resp, e) < 0)
                        return -1;
                if ((resp->status != 429 && resp->status != 503) || try == REGISTRY_TRIES)
                        return 0;
                long wait = registry_retry_delay(resp->retry_after, try + 1,
                                                 REGISTRY_MAX_WAIT_S - waited, time(NULL));
                if (wait < 0)
                        return 0;
                log_warn("%s answered HTTP %ld for %s %s; asking again in %ld s", r->display,
                         resp->status, kind, name, wait);
                http_response_free(resp);
                sleep((unsigned)wait);
                waited += wait;
        }
}

int registry_get(struct registry *r, const char *kind, const char *name, const char *accept,
                 size_t max_body, struct http_response *resp, sing_err_t *e)
{
        return registry_request(r, false, kind, name, accept, max_body, resp, e);
}

int registry_status_error(const struct registry *r, const struct http_response *resp,
                          const char *what, sing_err_t *e)
{
        char said[512], quoted[540] = "";
        registry_error_text(resp->body, resp->len, said, sizeof(said));
        if (*said)
                snprintf(quoted, sizeof(quoted), " (the registry said: %s)", said);
        if (resp->status == 429)
                return err_set(e,
                               "rate limited by %s: authenticate to raise the limit (set "
                               "SINGULARITY_DOCKER_USERNAME and SINGULARITY_DOCKER_PASSWORD, or "
                               "docker login), or try again later%s",
                               r->display, quoted);
        return err_set(e, "%s answered HTTP %ld for %s of %s%s", r->display, resp->status, what,
                       r->repository, quoted);
}

static int sha256_digest_of(const char *data, size_t len, char out[72])
{
        unsigned char md[32];
        unsigned int mdlen = 0;
        if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
                return -1;
        memcpy(out, "sha256:", 7);
        for (int i = 0; i < 32; i++)
                snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
        return 0;
}

static const char *jstr(json_object *o, const char *key)
{
        json_object *v;
        if (!o || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int blob_desc_from(json_object *o, struct blob_desc *d, const char *what, sing_err_t *e)
{
        json_object *sz;
        const char *dg = jstr(o, "digest"), *mt = jstr(o, "mediaType");
        if (!dg || !digest_is_valid(dg))
                return err_set(e, "malformed manifest: %s has no valid sha256 digest", what);
        if (!json_object_object_get_ex(o, "size", &sz) || !json_object_is_type(sz, json_type_int) ||
            json_object_get_int64(sz) < 0)
                return err_set(e, "malformed manifest: %s has no valid size", what);
        d->digest = strdup(dg);
        d->size = json_object_get_int64(sz);
        d->media_type = strdup(mt ? mt : "");
        if (!d->digest || !d->media_type)
                return err_set(e, "out of memory");
        return 0;
}

/* Fetch a manifest or index by tag or digest, checking what came back. On
 * success resp holds the body (NUL-terminated, as http_get leaves it). */
static int fetch_document(struct registry *r, const char *name, struct http_response *resp,
                          char digest[72], sing_err_t *e)
{
        if (registry_get(r, "manifests", name, ACCEPT_ALL, MANIFEST_MAX_BYTES, resp, e) < 0)
                return -1;
        if (resp->status == 404) {
                http_response_free(resp);
                if (strncmp(name, "sha256:", 7) == 0)
                        return err_set(e, "manifest %s not found in %s/%s", name, r->display,
                                       r->repository);
                return err_set(e, "%s/%s:%s not found (unknown repository or tag)", r->display,
                               r->repository, name);
        }
        if (resp->status != 200) {
                char what[160];
                snprintf(what, sizeof(what), "manifest %s", name);
                registry_status_error(r, resp, what, e);
                http_response_free(resp);
                return -1;
        }
        if (sha256_digest_of(resp->body ? resp->body : "", resp->len, digest) < 0) {
                http_response_free(resp);
                return err_set(e, "cannot hash the manifest");
        }
        if (strncmp(name, "sha256:", 7) == 0 && strcmp(name, digest) != 0) {
                http_response_free(resp);
                return err_set(e, "manifest digest mismatch: asked for %s, got %s", name, digest);
        }
        if (resp->docker_digest && strncmp(resp->docker_digest, "sha256:", 7) == 0 &&
            strcmp(resp->docker_digest, digest) != 0) {
                /* The message first: the header dies with the response. */
                err_set(e, "manifest digest mismatch: registry says %s, content is %s",
                        resp->docker_digest, digest);
                http_response_free(resp);
                return -1;
        }
        return 0;
}

/* The document's media type: its own mediaType wins over the Content-Type
 * header; without either, guess from its keys. malloc'd; NULL when out of
 * memory. */
static char *document_media_type(json_object *doc, const char *content_type)
{
        const char *mt = jstr(doc, "mediaType");
        if (!mt && content_type)
                return strndup(content_type, strcspn(content_type, ";"));
        if (!mt && json_object_object_get_ex(doc, "manifests", NULL))
                mt = MT_OCI_INDEX;
        if (!mt && json_object_object_get_ex(doc, "layers", NULL))
                mt = MT_OCI_MANIFEST;
        return strdup(mt ? mt : "");
}

static void split_platform(const char *platform, char *arch, size_t an, char *variant, size_t vn)
{
        const char *slash;
        if (!platform)
                platform = host_goarch();
        /* Accept "linux/amd64" as well as "amd64" and "arm/v7". */
        if (strncmp(platform, "linux/", 6) == 0)
                platform += 6;
        slash = strchr(platform, '/');
        snprintf(arch, an, "%.*s", slash ? (int)(slash - platform) : (int)strlen(platform),
                 platform);
        snprintf(variant, vn, "%s", slash ? slash + 1 : "");
}

static int pick_platform(const char *where, json_object *index, const char *platform,
                         const char **digest, sing_err_t *e)
{
        json_object *list, *best = NULL;
        char arch[32], variant[32], offered[1024] = "";
        size_t n, off = 0;
        split_platform(platform, arch, sizeof(arch), variant, sizeof(variant));
        if (!json_object_object_get_ex(index, "manifests", &list) ||
            !json_object_is_type(list, json_type_array))
                return err_set(e, "malformed image index: no manifests array");
        n = json_object_array_length(list);
        for (size_t i = 0; i < n; i++) {
                json_object *m = json_object_array_get_idx(list, i), *p;
                const char *os, *a, *v;
                if (!json_object_object_get_ex(m, "platform", &p))
                        continue;
                os = jstr(p, "os");
                a = jstr(p, "architecture");
                v = jstr(p, "variant");
                if (!os || !a)
                        continue;
                if (strcmp(os, "unknown") != 0 && off < sizeof(offered) - 1)
                        off += (size_t)snprintf(offered + off, sizeof(offered) - off, "%s%s/%s%s%s",
                                                off ? ", " : "", os, a, v ? "/" : "", v ? v : "");
                if (strcmp(os, "linux") != 0 || strcmp(a, arch) != 0)
                        continue;
                if (*variant && (!v || strcmp(v, variant) != 0))
                        continue;
                if (!best)
                        best = m;
        }
        if (!best)
                return err_set(e, "no image for linux/%s%s%s in %s; the image offers: %s", arch,
                               *variant ? "/" : "", variant, where, *offered ? offered : "nothing");
        *digest = jstr(best, "digest");
        if (!*digest || !digest_is_valid(*digest))
                return err_set(e, "malformed image index: entry without a valid digest");
        return 0;
}

static bool layer_type_ok(const char *mt)
{
        for (size_t i = 0; layer_types[i]; i++)
                if (strcmp(mt, layer_types[i]) == 0)
                        return true;
        return false;
}

static int parse_manifest(json_object *doc, struct image_manifest *m, sing_err_t *e)
{
        json_object *cfg, *layers;
        size_t n;
        if (!json_object_object_get_ex(doc, "config", &cfg) ||
            blob_desc_from(cfg, &m->config, "config", e) < 0)
                return err_prefix(e, "image manifest");
        if (!json_object_object_get_ex(doc, "layers", &layers) ||
            !json_object_is_type(layers, json_type_array))
                return err_set(e, "malformed manifest: no layers array");
        n = json_object_array_length(layers);
        if (n > 1000)
                return err_set(e, "manifest lists %zu layers; at most 1000 are supported", n);
        m->layers = calloc(n ? n : 1, sizeof(*m->layers));
        if (!m->layers)
                return err_set(e, "out of memory");
        for (size_t i = 0; i < n; i++) {
                char what[32];
                snprintf(what, sizeof(what), "layer %zu", i + 1);
                if (blob_desc_from(json_object_array_get_idx(layers, i), &m->layers[i], what, e) <
                    0) {
                        m->nlayers = i + 1;
                        return -1;
                }
                m->nlayers = i + 1;
                if (!layer_type_ok(m->layers[i].media_type))
                        return err_set(e, "unsupported layer media type \"%s\"",
                                       m->layers[i].media_type);
        }
        return 0;
}

static bool is_index_type(const char *mt)
{
        return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

int registry_parse_document(const char *body, const char *content_type, const char *platform,
                            const char *where, const char *name, struct image_manifest *m,
                            char **next_digest, sing_err_t *e)
{
        json_object *doc = json_tokener_parse(body);
        _cleanup_free_ char *mt = NULL;
        int ret = -1;

        if (!doc || !json_object_is_type(doc, json_type_object)) {
                err_set(e, "malformed manifest JSON for %s:%s", where, name);
                goto out;
        }
        mt = document_media_type(doc, content_type);
        if (!mt) {
                err_set(e, "out of memory");
                goto out;
        }
        if (is_index_type(mt)) {
                const char *chosen;
                if (!next_digest) {
                        err_set(e, "image index points to another index; not supported");
                        goto out;
                }
                if (pick_platform(where, doc, platform, &chosen, e) < 0)
                        goto out;
                *next_digest = strdup(chosen);
                if (!*next_digest)
                        err_set(e, "out of memory");
                else
                        ret = 1;
                goto out;
        }
        if (strcmp(mt, MT_OCI_MANIFEST) != 0 && strcmp(mt, MT_DOCKER_MANIFEST) != 0) {
                err_set(e, "unsupported manifest media type \"%s\"", mt);
                goto out;
        }
        ret = parse_manifest(doc, m, e);
out:
        json_object_put(doc);
        return ret;
}

/* A tag already converted costs one HEAD and no GET (Docker Hub counts
 * GETs against the pull limit): the registry's Docker-Content-Digest for
 * the tag is the digest the GET would hash. 1 with m->top_digest set when
 * `have` it; 0 to go on with a GET (not cached, or a registry that sent no
 * digest or an error, which the GET then reports in full); -1 when the
 * registry cannot be reached. */
static int tag_is_cached(struct registry *r, const char *tag,
                         bool (*have)(const char *top_digest, void *ctx), void *ctx,
                         struct image_manifest *m, sing_err_t *e)
{
        _cleanup_free_ char *url = registry_url(r, "manifests", tag);
        struct http_response resp;
        if (!url)
                return err_set(e, "out of memory");
        if (request_authenticated(r, true, url, ACCEPT_ALL, 0, &resp, e) < 0)
                return e->code == EHOSTUNREACH ? -1 : 0;
        int got = resp.status == 200 && resp.docker_digest && digest_is_valid(resp.docker_digest) &&
                  have(resp.docker_digest, ctx);
        if (got && !(m->top_digest = strdup(resp.docker_digest)))
                got = err_set(e, "out of memory");
        http_response_free(&resp);
        return got;
}

int registry_resolve(struct registry *r, const char *tag_or_digest, const char *platform,
                     struct image_manifest *m, sing_err_t *e)
{
        return registry_resolve_unless(r, tag_or_digest, platform, NULL, NULL, m, e);
}

int registry_resolve_unless(struct registry *r, const char *tag_or_digest, const char *platform,
                            bool (*have)(const char *top_digest, void *ctx), void *ctx,
                            struct image_manifest *m, sing_err_t *e)
{
        struct http_response resp;
        _cleanup_free_ char *where = NULL, *chosen = NULL;
        char digest[72];
        int r_doc;

        memset(m, 0, sizeof(*m));
        if (asprintf(&where, "%s/%s", r->display, r->repository) < 0) {
                where = NULL;
                return err_set(e, "out of memory");
        }
        if (have && strncmp(tag_or_digest, "sha256:", 7) != 0) {
                int cached = tag_is_cached(r, tag_or_digest, have, ctx, m, e);
                if (cached != 0)
                        return cached;
        }
        if (fetch_document(r, tag_or_digest, &resp, digest, e) < 0)
                return -1;
        m->top_digest = strdup(digest);
        if (!m->top_digest) {
                http_response_free(&resp);
                err_set(e, "out of memory");
                goto fail;
        }
        if (have && have(m->top_digest, ctx)) {
                http_response_free(&resp);
                return 1;
        }
        r_doc = registry_parse_document(resp.body ? resp.body : "", resp.content_type, platform,
                                        where, tag_or_digest, m, &chosen, e);
        http_response_free(&resp);
        if (r_doc < 0)
                goto fail;
        if (r_doc == 1) {
                log_verbose("platform manifest %s", chosen);
                if (fetch_document(r, chosen, &resp, digest, e) < 0)
                        goto fail;
                r_doc = registry_parse_document(resp.body ? resp.body : "", resp.content_type,
                                                platform, where, chosen, m, NULL, e);
                http_response_free(&resp);
                if (r_doc < 0)
                        goto fail;
        }
        m->manifest_digest = strdup(digest);
        return 0;
fail:
        image_manifest_free(m);
        return -1;
}

static void blob_desc_free(struct blob_desc *d)
{
        free(d->digest);
        free(d->media_type);
}

void image_manifest_free(struct image_manifest *m)
{
        free(m->top_digest);
        free(m->manifest_digest);
        blob_desc_free(&m->config);
        for (size_t i = 0; i < m->nlayers; i++)
                blob_desc_free(&m->layers[i]);
        free(m->layers);
        memset(m, 0, sizeof(*m));
}
