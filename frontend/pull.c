/* The pull pipeline: reference -> manifest -> blobs in the cache -> SIF. */
#include "pull.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cache_lookup.h"
#include "cache_sif_out.h"
#include "cleanup.h"
#include "pending_file.h"
#include "remove_tree.h"
#include "convert.h"
#include "digest.h"
#include "fetch.h"
#include "http.h"
#include "layer_feed.h"
#include "log.h"
#include "reference.h"
#include "registry.h"
#include "tag_record.h"

#define CONFIG_MAX_BYTES (16 << 20)
#define PARALLEL_DOWNLOADS 4

struct pull_ctx {
        struct image_ref ref;
        struct cache cache;
        struct registry reg;
        struct image_manifest man;
        bool have_ref, have_cache, have_reg, have_man;
        /* registry_resolve_unless stopped at the cache's answer: only
         * man.top_digest is known (whole_manifest fetches the rest). */
        bool man_partial;
        const char *platform;
};

static void pull_ctx_free(struct pull_ctx *p)
{
        if (p->have_man)
                image_manifest_free(&p->man);
        if (p->have_reg)
                registry_free(&p->reg);
        if (p->have_cache)
                cache_close(&p->cache);
        if (p->have_ref)
                ref_free(&p->ref);
}

static const char *want_platform(const struct pull_opts *o)
{
        return o->arch && *o->arch ? o->arch : host_goarch();
}

static int pull_begin(struct pull_ctx *p, const char *uri, const struct pull_opts *o, bool announce,
                      sing_err_t *e)
{
        memset(p, 0, sizeof(*p));
        p->platform = want_platform(o);
        http_global_init(o->ca_file, o->ca_dir);
        if (ref_parse(uri, &p->ref, e) < 0)
                return -1;
        p->have_ref = true;
        if (cache_open(&p->cache, &o->cache, e) < 0)
                return -1;
        p->have_cache = true;
        cache_lookup_announce(announce, &p->ref, uri, &p->cache);
        if (!p->cache.temporary) {
                cache_hold(&p->cache);
                cache_sweep(&p->cache);
        }
        if (registry_init(&p->reg, &p->ref, o, e) < 0)
                return -1;
        p->have_reg = true;
        return 0;
}

/* The whole manifest of what man.top_digest names, when only the digest is
 * known (the cached SIF was expected but is gone, or was not the one
 * recorded). By digest: the image the tag named, even if it moved since.
 * The top_digest string stays the same object (callers hold it). */
static int whole_manifest(struct pull_ctx *p, sing_err_t *e)
{
        struct image_manifest m;
        if (!p->man_partial)
                return 0;
        if (registry_resolve(&p->reg, p->man.top_digest, p->platform, &m, e) < 0)
                return -1;
        if (strcmp(m.top_digest, p->man.top_digest) != 0) {
                err_set(e, "the registry answered %s for %s", m.top_digest, p->man.top_digest);
                image_manifest_free(&m);
                return -1;
        }
        free(m.top_digest);
        m.top_digest = p->man.top_digest;
        p->man.top_digest = NULL;
        image_manifest_free(&p->man);
        p->man = m;
        p->man_partial = false;
        return 0;
}

/* Blobs of the resolved manifest into the cache: the config read into
 * memory, the layer paths (bottom to top) handed out. */
static int pull_blobs(struct pull_ctx *p, char **config, size_t *config_len, char ***layer_paths,
                      sing_err_t *e)
{
        if (whole_manifest(p, e) < 0)
                return -1;
        size_t n = p->man.nlayers + 1;
        _cleanup_free_ struct blob_job *jobs = calloc(n, sizeof(*jobs));
        char **paths = calloc(n, sizeof(*paths));
        int rc = -1;
        if (!jobs || !paths) {
                free(paths);
                return err_set(e, "out of memory");
        }
        jobs[0] = (struct blob_job){
            .digest = p->man.config.digest, .size = p->man.config.size, .what = "config"};
        for (size_t i = 0; i < p->man.nlayers; i++)
                jobs[i + 1] = (struct blob_job){.digest = p->man.layers[i].digest,
                                                .size = p->man.layers[i].size,
                                                .what = "layer"};
        if (p->man.config.size > CONFIG_MAX_BYTES) {
                err_set(e, "image config is larger than %d bytes", CONFIG_MAX_BYTES);
                goto out;
        }
        if (fetch_blobs(&p->reg, &p->cache, jobs, n, PARALLEL_DOWNLOADS, e) < 0)
                goto out;
        if (read_small_file(jobs[0].path, CONFIG_MAX_BYTES, config, config_len, e) < 0)
                goto out;
        for (size_t i = 1; i < n; i++)
                paths[i - 1] = steal_ptr(&jobs[i].path);
        *layer_paths = steal_ptr(&paths);
        rc = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(jobs[i].path);
        if (paths)
                for (size_t i = 0; i < n; i++)
                        free(paths[i]);
        free(paths);
        return rc;
}

static void free_paths(char **paths, size_t n)
{
        if (paths)
                for (size_t i = 0; i < n; i++)
                        free(paths[i]);
        free(paths);
}

/* The config into memory now (the metadata comes from it), and each
 * layer's job with the path its blob will have, known before it is there:
 * the layers download later, beside the merge (pull_convert, defer_layers).
 * jobs and paths hold man.nlayers entries; the paths are malloc'd. */
static int config_and_layer_plan(struct pull_ctx *p, char **config, size_t *config_len,
                                 struct blob_job *jobs, char **paths, sing_err_t *e)
{
        struct blob_job cfg = {
            .digest = p->man.config.digest, .size = p->man.config.size, .what = "config"};
        int rc = -1;
        if (p->man.config.size > CONFIG_MAX_BYTES)
                return err_set(e, "image config is larger than %d bytes", CONFIG_MAX_BYTES);
        if (fetch_blobs(&p->reg, &p->cache, &cfg, 1, 1, e) < 0 ||
            read_small_file(cfg.path, CONFIG_MAX_BYTES, config, config_len, e) < 0)
                goto out;
        for (size_t i = 0; i < p->man.nlayers; i++) {
                jobs[i] = (struct blob_job){.digest = p->man.layers[i].digest,
                                            .size = p->man.layers[i].size,
                                            .what = "layer"};
                if (!(paths[i] = cache_blob_path(&p->cache, jobs[i].digest))) {
                        err_set(e, "out of memory");
                        goto out;
                }
        }
        rc = 0;
out:
        free(cfg.path);
        return rc;
}

/* The config first, then the layers in a background thread while the merge
 * squashes them top-down, so that conversion overlaps the download. */
static int pull_convert(struct pull_ctx *p, const char *out, bool force, sing_err_t *e)
{
        if (whole_manifest(p, e) < 0)
                return -1;
        size_t n = p->man.nlayers;
        _cleanup_free_ struct blob_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
        _cleanup_free_ char **paths = calloc(n ? n : 1, sizeof(*paths));
        _cleanup_free_ char *config = NULL;
        struct layer_feed *feed = NULL;
        struct squash_settings sq;
        _cleanup_free_ char *display = ref_display(&p->ref), *name = NULL;
        struct metadata_opts mo = {.mtime = time(NULL), .source_digest = p->man.top_digest};
        struct layer_wait w;
        size_t config_len = 0;
        int rc = -1;
        sing_err_t fe;

        if (!jobs || !paths || !display || asprintf(&name, "docker://%s", display) < 0)
                return err_set(e, "out of memory");
        mo.source_name = name;
        if (config_and_layer_plan(p, &config, &config_len, jobs, paths, e) < 0)
                goto out;
        if (layer_feed_start(&feed, &p->reg, &p->cache, jobs, n, PARALLEL_DOWNLOADS, e) < 0)
                goto out;
        w = layer_feed_waiter(feed);
        squash_settings_default(&sq);
        rc = convert_layers_to_sif_waiting(config, config_len, (const char *const *)paths, n, &mo,
                                           &sq, &w, out, force, e);
        /* A failed conversion abandons the downloads; its error is the one
         * reported (it is the download's when a layer never came). */
        if (layer_feed_finish(feed, rc < 0, &fe) < 0 && rc == 0) {
                *e = fe;
                rc = -1;
        }
out:
        for (size_t i = 0; i < n; i++) {
                free(jobs[i].path);
                free(paths[i]);
        }
        return rc;
}

/* Session, cache and the platform's manifest for uri. */
/* The platform's whole manifest for the reference of a begun pull. */
static int pull_resolve_manifest(struct pull_ctx *p, sing_err_t *e)
{
        if (registry_resolve(&p->reg, p->ref.digest ? p->ref.digest : p->ref.tag, p->platform,
                             &p->man, e) < 0)
                return -1;
        p->have_man = true;
        return 0;
}

static int pull_resolve(struct pull_ctx *p, const char *uri, const struct pull_opts *o,
                        sing_err_t *e)
{
        return pull_begin(p, uri, o, true, e) < 0 ? -1 : pull_resolve_manifest(p, e);
}

struct have_ctx {
        const struct cache *cache;
        const char *key;
};

static bool have_sif(const char *top_digest, void *ctx)
{
        struct have_ctx *hc = ctx;
        _cleanup_free_ char *path = cache_sif_usable_rehashed(hc->cache, top_digest, hc->key);
        return path != NULL;
}

/* The cached SIF's key for this reference and platform (platform.h). */
static int sif_key(const struct pull_ctx *p, const struct pull_opts *o, char *key, size_t len,
                   sing_err_t *e)
{
        return cache_lookup_key(&p->ref, want_platform(o), key, len) < 0
                   ? err_set(e, "out of memory")
                   : 0;
}

/* One conversion of an image per cache at a time: concurrent pulls (and
 * runs) of one image wait for the first and take its SIF from the cache,
 * instead of each squashing the same layers. */
static int lock_image(struct pull_ctx *p, const char *key, int *fd, sing_err_t *e)
{
        char name[128];
        snprintf(name, sizeof(name), "sif-%s-%s", digest_hex(p->man.top_digest), key);
        return cache_lock(&p->cache, name, true, fd, e) < 0 ? -1 : 0;
}

/* The image's SIF in the cache, converted at most once per cache: under the
 * image's lock (*lockfd, held by the caller while it uses the result), a
 * usable cached SIF (a hit; maybe in a read-only shared cache), else the
 * layers converted into the cache now (a miss). *sif: its path (malloc'd);
 * NULL after a miss in a temporary cache (a read-only cache without the
 * image), which keeps nothing: the caller converts where it needs it. */
static int convert_once(struct pull_ctx *p, const char *key, int *lockfd, char **sif, sing_err_t *e)
{
        *sif = NULL;
        if (lock_image(p, key, lockfd, e) < 0)
                return -1;
        /* Another pull or run may have converted it while we waited. */
        if ((*sif = cache_sif_usable_rehashed(&p->cache, p->man.top_digest, key))) {
                cache_lookup_say_hit();
                return 0;
        }
        cache_lookup_say_miss(&p->cache);
        if (p->cache.temporary)
                return 0;
        _cleanup_free_ char *cached = cache_sif_path(&p->cache, p->man.top_digest, key);
        if (!cached)
                return err_set(e, "out of memory");
        if (pull_convert(p, cached, true, e) < 0 ||
            cache_sif_verified(&p->cache, p->man.top_digest, key, NULL, e) < 0)
                return -1;
        *sif = steal_ptr(&cached);
        return 0;
}

/* The SIF at out from the cached one (cache_sif_out.h: reflink, hard link
 * or copy); with a read-only cache that lacks it, converted straight to
 * out. */
static int pull_through_cache(struct pull_ctx *p, const char *key, const char *out, bool force,
                              sing_err_t *e)
{
        _cleanup_free_ char *sif = NULL;
        _cleanup_close_ int lockfd = -1;
        if (convert_once(p, key, &lockfd, &sif, e) < 0)
                return -1;
        if (!sif)
                return pull_convert(p, out, force, e);
        return cache_sif_publish(&p->cache, p->man.top_digest, key, sif, out, force, e);
}

int pull_to_file(const char *uri, const struct pull_opts *o, const char *out_path, bool force,
                 sing_err_t *e)
{
        char key[64];
        struct pull_ctx p;
        struct stat st;
        int rc = -1;
        /* Fail before any network work when the answer is already no. */
        if (!force && lstat(out_path, &st) == 0)
                return publish_exists_error(out_path, e);
        temp_sweep_beside(out_path);
        if (pull_begin(&p, uri, o, true, e) < 0 || sif_key(&p, o, key, sizeof(key), e) < 0)
                goto out;
        /* --disable-cache: nothing to look in, nothing kept. */
        if (p.cache.temporary && !p.cache.shared_root) {
                if (pull_resolve_manifest(&p, e) < 0 || pull_convert(&p, out_path, force, e) < 0)
                        goto out;
        } else {
                /* A tag whose image is converted already: one HEAD, no GET. */
                struct have_ctx hc = {.cache = &p.cache, .key = key};
                int got = registry_resolve_unless(&p.reg, p.ref.digest ? p.ref.digest : p.ref.tag,
                                                  p.platform, have_sif, &hc, &p.man, e);
                if (got < 0)
                        goto out;
                p.have_man = true;
                p.man_partial = got == 1;
                if (pull_through_cache(&p, key, out_path, force, e) < 0)
                        goto out;
        }
        log_info("Digest: %s", p.man.top_digest);
        if (!p.ref.digest)
                log_warn("a tag is not reproducible: the image behind %s/%s:%s can change. To "
                         "pull exactly this image again, use docker://%s/%s@%s",
                         p.ref.registry, p.ref.repository, p.ref.tag, p.ref.registry,
                         p.ref.repository, p.man.top_digest);
        log_debug("%u registry requests", p.reg.requests);
        rc = 0;
out:
        pull_ctx_free(&p);
        return rc;
}

static void say_age(char *out, size_t n, time_t then)
{
        double d = difftime(time(NULL), then);
        if (d < 120)
                snprintf(out, n, "%.0f seconds", d < 0 ? 0 : d);
        else if (d < 7200)
                snprintf(out, n, "%.0f minutes", d / 60);
        else if (d < 2 * 86400)
                snprintf(out, n, "%.0f hours", d / 3600);
        else
                snprintf(out, n, "%.0f days", d / 86400);
}

/* The registry cannot be reached (a compute node without a route out): the
 * SIF of what the tag named when last confirmed, if still in the cache. */
static char *cached_for_tag(struct pull_ctx *p, const char *key, const char *why, char **digest_out)
{
        time_t confirmed;
        char age[32];
        _cleanup_free_ char *digest = tag_record_read(&p->cache, p->ref.registry, p->ref.repository,
                                                      p->ref.tag, key, &confirmed);
        char *path = digest ? cache_sif_usable_rehashed(&p->cache, digest, key) : NULL;
        if (!path)
                return NULL;
        say_age(age, sizeof(age), confirmed);
        *digest_out = strdup(digest);
        log_warn("%s; running the cached image of %s/%s:%s, digest %s, which the registry last "
                 "confirmed %s ago",
                 why, p->ref.registry, p->ref.repository, p->ref.tag, digest, age);
        return path;
}

/* The session and cache of a lookup, kept past it for the layers it left
 * to download (pulled_image_feed_start). */
struct pull_pending {
        struct pull_ctx p;
        struct blob_job *jobs; /* the layers, bottom to top */
        size_t n;
        bool started;
};

static void pending_free(struct pull_pending *pp)
{
        if (!pp)
                return;
        for (size_t i = 0; i < pp->n; i++)
                free(pp->jobs[i].path);
        free(pp->jobs);
        pull_ctx_free(&pp->p);
        free(pp);
}

/* The config into img now (the build's metadata comes from it), and where
 * each layer will be in the cache; the layers themselves later. *p moves
 * into img->pending (what is left in *p frees nothing). */
static int defer_layers(struct pull_ctx *p, struct pulled_image *img, sing_err_t *e)
{
        if (whole_manifest(p, e) < 0)
                return -1;
        size_t n = p->man.nlayers, len = 0;
        struct pull_pending *pp = calloc(1, sizeof(*pp));
        int rc = -1;
        if (!pp || !(pp->jobs = calloc(n ? n : 1, sizeof(*pp->jobs))) ||
            !(img->layers = calloc(n ? n : 1, sizeof(*img->layers)))) {
                err_set(e, "out of memory");
                goto out;
        }
        img->nlayers = n; /* pulled_image_free frees the paths set, NULL or not */
        if (config_and_layer_plan(p, &img->config_json, &len, pp->jobs, img->layers, e) < 0)
                goto out;
        img->config_len = len;
        pp->n = n;
        /* The jobs point into p->man, which moves with the context. */
        pp->p = *p;
        memset(p, 0, sizeof(*p));
        img->pending = steal_ptr(&pp);
        rc = 0;
out:
        if (pp) {
                free(pp->jobs);
                free(pp);
        }
        return rc;
}

int pulled_image_feed_start(const struct pulled_image *img, struct layer_feed **feed, sing_err_t *e)
{
        struct pull_pending *pp = img->pending;
        *feed = NULL;
        if (!pp)
                return 0;
        if (pp->started)
                return err_set(e, "internal error: the layers' download started twice");
        pp->started = true;
        return layer_feed_start(feed, &pp->p.reg, &pp->p.cache, pp->jobs, pp->n, PARALLEL_DOWNLOADS,
                                e);
}

/* The resolved image's blobs into the cache and img (pull_fetch, and a
 * lookup's miss, which with `defer` leaves the layers to download to
 * pulled_image_feed_start). */
static int pulled_from_ctx(struct pull_ctx *p, struct pulled_image *img, bool defer, sing_err_t *e)
{
        size_t len = 0;
        if (!(img->digest = strdup(p->man.top_digest)))
                return err_set(e, "out of memory");
        /* A temporary cache goes when img does, so never with a context
         * that outlives it: its downloads happen now. */
        if (defer && !p->cache.temporary)
                return defer_layers(p, img, e);
        if (pull_blobs(p, &img->config_json, &len, &img->layers, e) < 0)
                return -1;
        img->config_len = len;
        img->nlayers = p->man.nlayers;
        /* A temporary cache must outlive the context: the caller removes it. */
        img->cache_root = steal_ptr(&p->cache.root);
        img->cache_temporary = p->cache.temporary;
        p->cache.temporary = false;
        return 0;
}

/* pull_to_cache_digest, and with miss_img pull_cached_or_blobs: a SIF not
 * in the cache is then not converted; its blobs go to *miss_img. */
static int to_cache(const char *uri, const struct pull_opts *o, char **sif_path, char **digest,
                    struct pulled_image *miss_img, bool defer, sing_err_t *e)
{
        struct pull_ctx p;
        char key[64];
        _cleanup_free_ char *path = NULL;
        const char *found_digest = NULL;
        _cleanup_free_ char *tag_digest = NULL;
        int rc = -1;
        *sif_path = NULL;
        if (digest)
                *digest = NULL;
        if (pull_begin(&p, uri, o, false, e) < 0 || sif_key(&p, o, key, sizeof(key), e) < 0)
                goto out;
        /* The SIF must outlive this process: the caller hands its path to
         * the starter. A temporary cache is the caller's to make and remove
         * (--temp-cache of cache-sif), never ours. */
        if (p.cache.temporary && !p.cache.shared_root) {
                err_set(e, "internal error: pull_to_cache with a temporary cache");
                goto out;
        }
        /* A pinned digest already converted: no request at all. */
        if ((path = cache_lookup_pinned(&p.cache, &p.ref, want_platform(o)))) {
                cache_lookup_say_hit();
                found_digest = p.ref.digest;
                goto found;
        }
        {
                struct have_ctx hc = {.cache = &p.cache, .key = key};
                int got = registry_resolve_unless(&p.reg, p.ref.digest ? p.ref.digest : p.ref.tag,
                                                  p.platform, have_sif, &hc, &p.man, e);
                if (got < 0) {
                        if (e->code == EHOSTUNREACH && !p.ref.digest &&
                            (path = cached_for_tag(&p, key, e->msg, &tag_digest))) {
                                found_digest = tag_digest;
                                goto found;
                        }
                        goto out;
                }
                p.have_man = true;
                p.man_partial = got == 1;
                found_digest = p.man.top_digest;
                free(path);
                /* Where it is (maybe the read-only cache) when it is there. */
                path = got == 1 ? cache_sif_usable_rehashed(&p.cache, p.man.top_digest, key) : NULL;
                if (path) {
                        cache_lookup_say_hit();
                } else if (miss_img) {
                        /* No conversion; no tag record either: it names
                         * a SIF for offline runs, and there is none. */
                        cache_lookup_say_miss(&p.cache);
                        if (pulled_from_ctx(&p, miss_img, defer, e) < 0)
                                goto out;
                        goto found;
                } else {
                        _cleanup_close_ int lockfd = -1;
                        if (convert_once(&p, key, &lockfd, &path, e) < 0)
                                goto out;
                        if (!path) {
                                err_set(e, "internal error: converting into a temporary "
                                           "cache that does not outlive us");
                                goto out;
                        }
                }
        }
        if (!p.ref.digest) {
                sing_err_t te;
                if (tag_record_write(&p.cache, p.ref.registry, p.ref.repository, p.ref.tag, key,
                                     p.man.top_digest, &te) < 0)
                        log_verbose("not recording what the tag names: %s", te.msg);
        }
found:
        if (digest && found_digest && !(*digest = strdup(found_digest))) {
                err_set(e, "out of memory");
                goto out;
        }
        *sif_path = steal_ptr(&path);
        rc = 0;
out:
        pull_ctx_free(&p);
        return rc;
}

int pull_to_cache_digest(const char *uri, const struct pull_opts *o, char **sif_path, char **digest,
                         sing_err_t *e)
{
        return to_cache(uri, o, sif_path, digest, NULL, false, e);
}

int pull_to_cache(const char *uri, const struct pull_opts *o, char **sif_path, sing_err_t *e)
{
        return to_cache(uri, o, sif_path, NULL, NULL, false, e);
}

int pull_cached_or_blobs(const char *uri, const struct pull_opts *o, bool defer, char **sif_path,
                         char **digest, struct pulled_image *img, sing_err_t *e)
{
        memset(img, 0, sizeof(*img));
        int rc = to_cache(uri, o, sif_path, digest, img, defer, e);
        if (rc < 0)
                pulled_image_free(img);
        return rc;
}

int pull_fetch(const char *uri, const struct pull_opts *o, struct pulled_image *img, sing_err_t *e)
{
        struct pull_ctx p;
        int rc = -1;
        memset(img, 0, sizeof(*img));
        if (pull_resolve(&p, uri, o, e) < 0 || pulled_from_ctx(&p, img, false, e) < 0)
                goto out;
        rc = 0;
out:
        pull_ctx_free(&p);
        if (rc < 0)
                pulled_image_free(img);
        return rc;
}

void pulled_image_free(struct pulled_image *img)
{
        pending_free(img->pending);
        free(img->config_json);
        free_paths(img->layers, img->nlayers);
        free(img->digest);
        if (img->cache_temporary && img->cache_root)
                remove_tree(img->cache_root);
        free(img->cache_root);
        memset(img, 0, sizeof(*img));
}
